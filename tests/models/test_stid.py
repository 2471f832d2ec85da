"""STID: the forecast is the regression of the residual MLP over the four embeddings; the calendar
comes from the window's last step; parameter count of the authors' METR-LA configuration."""

from __future__ import annotations

import pytest
import torch

from stgraph.models import STID, create, name_of


def _calendar_window(batch: int = 2, sensors: int = 4, lookback: int = 12) -> torch.Tensor:
    """``[batch, lookback, sensors, 3]``: a reading, the time of day (5-minute steps from 08:00) and the day (Tuesday)."""
    x = torch.zeros(batch, lookback, sensors, 3)
    x[..., 0] = torch.randn(batch, lookback, sensors)
    x[..., 1] = ((96 + torch.arange(lookback)) / 288.0)[None, :, None]
    x[..., 2] = 1.0
    return x


def test_forecast_is_the_mlp_over_window_sensor_and_calendar_embeddings():
    torch.manual_seed(0)
    model = STID(num_sensors=4, in_features=3, time_of_day_feature=1, day_of_week_feature=2, steps_per_day=288).eval()
    x = _calendar_window()
    window = x.permute(0, 2, 1, 3).reshape(2, 4, 36)
    last_slot = 96 + 11  # 08:55 is slot 107 of 288
    hidden = torch.cat(
        [
            model.window_embedding(window),
            model.sensor_embedding.expand(2, -1, -1),
            model.time_of_day_embedding[last_slot].expand(2, 4, -1),
            model.day_of_week_embedding[1].expand(2, 4, -1),
        ],
        dim=-1,
    )
    for block in model.encoder:
        hidden = hidden + block.outer(torch.relu(block.inner(hidden)))
    expected = model.regression(hidden).reshape(2, 4, 12, 1).transpose(1, 2)
    torch.testing.assert_close(model(x), expected)


def test_only_the_last_steps_calendar_selects_the_embeddings():
    torch.manual_seed(0)
    model = STID(num_sensors=4, in_features=3, time_of_day_feature=1, day_of_week_feature=2, layers=1).eval()
    x = _calendar_window()
    earlier = x.clone()
    earlier[:, :-1, :, 1:] = 0.0  # calendar of the earlier steps changes the window embedding only
    model.window_embedding.weight.data.zero_()
    torch.testing.assert_close(model(x), model(earlier))
    later_day = x.clone()
    later_day[:, -1, :, 2] = 2.0
    assert not torch.allclose(model(x), model(later_day))


def test_without_calendar_features_the_embeddings_are_off():
    model = STID(num_sensors=5, in_features=1, lookback=6, horizon=3, out_channels=2)
    assert model.time_of_day_embedding is None and model.day_of_week_embedding is None
    assert model.regression.in_features == 32 + 32
    assert model(torch.randn(3, 6, 5, 1)).shape == (3, 3, 5, 2)


def test_parameter_count_matches_the_authors_metr_la_configuration():
    # zezhishao/STID on METR-LA: input_len 12, input_dim 3, embeddings of 32, 288 time-of-day
    # slots, 3 residual blocks, output_len 12: Conv2d(36, 32) + 207 x 32 + 288 x 32 + 7 x 32
    # + 3 x 2 x Conv2d(128, 128) + Conv2d(128, 12)
    model = STID(num_sensors=207, in_features=3, time_of_day_feature=1, day_of_week_feature=2, steps_per_day=288)
    count = sum(p.numel() for p in model.parameters())
    assert count == (36 * 32 + 32) + 207 * 32 + 288 * 32 + 7 * 32 + 3 * 2 * (128 * 128 + 128) + (128 * 12 + 12) == 117_868


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"time_of_day_feature": 3}, "time_of_day_feature 3 is not a feature position"),
        ({"day_of_week_feature": -1}, "day_of_week_feature -1 is not a feature position"),
        ({"steps_per_day": 0}, "steps_per_day must be >= 1"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        STID(num_sensors=2, in_features=3, **options)


def test_registered_and_rebuilt_from_its_arguments():
    model = create("stid", num_sensors=3, in_features=2, time_of_day_feature=1, steps_per_day=24)
    assert name_of(model) == "stid"
    again = create("stid", **model.init_kwargs)
    assert again.time_of_day_embedding is not None and again.time_of_day_embedding.shape == (24, 32)
