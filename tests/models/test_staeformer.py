"""STAEformer: the attention layer against torch's multi-head attention, attention along time
mixes only the steps of one sensor, every step's calendar selects its embeddings, parameter count
of the authors' METR-LA configuration."""

from __future__ import annotations

import pytest
import torch

from stgraph.models import STAEformer, create, name_of
from stgraph.models.staeformer import _SelfAttentionLayer


def _calendar_window(batch: int = 2, sensors: int = 4, lookback: int = 12) -> torch.Tensor:
    """``[batch, lookback, sensors, 3]``: a reading, the time of day (5-minute steps from 08:00) and the day (Tuesday)."""
    x = torch.zeros(batch, lookback, sensors, 3)
    x[..., 0] = torch.randn(batch, lookback, sensors)
    x[..., 1] = ((96 + torch.arange(lookback)) / 288.0)[None, :, None]
    x[..., 2] = 1.0
    return x


def _small(**options) -> STAEformer:
    torch.manual_seed(0)
    kwargs = {
        "num_sensors": 4,
        "in_features": 3,
        "time_of_day_feature": 1,
        "day_of_week_feature": 2,
        "input_embedding_dim": 4,
        "time_of_day_dim": 4,
        "day_of_week_dim": 4,
        "adaptive_embedding_dim": 4,
        "feed_forward_dim": 8,
        "heads": 2,
        "temporal_layers": 1,
        "spatial_layers": 1,
    }
    kwargs.update(options)
    return STAEformer(**kwargs).eval()


def test_attention_layer_is_post_norm_multi_head_attention_and_feed_forward():
    torch.manual_seed(0)
    layer = _SelfAttentionLayer(width=8, feed_forward_dim=16, heads=2, dropout=0.0)
    reference = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():
        reference.in_proj_weight.copy_(torch.cat([layer.query.weight, layer.key.weight, layer.value.weight]))
        reference.in_proj_bias.copy_(torch.cat([layer.query.bias, layer.key.bias, layer.value.bias]))
        reference.out_proj.weight.copy_(layer.out.weight)
        reference.out_proj.bias.copy_(layer.out.bias)
    h = torch.randn(5, 6, 8)  # [batch x nodes, steps, width]
    attended, _ = reference(h, h, h, need_weights=False)
    hidden = torch.nn.functional.layer_norm(h + attended, (8,), layer.norm1.weight, layer.norm1.bias)
    inner, outer = layer.feed_forward[0], layer.feed_forward[2]
    expected = torch.nn.functional.layer_norm(
        hidden + outer(torch.relu(inner(hidden))), (8,), layer.norm2.weight, layer.norm2.bias
    )
    torch.testing.assert_close(layer(h), expected)
    # Any leading axes: [batch, nodes, steps, width] is the same as flattened.
    torch.testing.assert_close(layer(h.reshape(5, 1, 6, 8)), expected.reshape(5, 1, 6, 8))


def test_attention_along_time_mixes_only_the_steps_of_one_sensor():
    model = _small(spatial_layers=0, temporal_layers=2)
    x = _calendar_window()
    out = model(x)
    changed = x.clone()
    changed[:, 3, 1, 0] += 1.0  # step 3 of sensor 1
    out_changed = model(changed)
    others = [0, 2, 3]
    torch.testing.assert_close(out_changed[:, :, others], out[:, :, others])
    assert not torch.allclose(out_changed[:, :, 1], out[:, :, 1])
    # With attention along sensors, the change reaches every sensor.
    model = _small(spatial_layers=1)
    assert not torch.allclose(model(changed)[:, :, others], model(x)[:, :, others])


def test_every_steps_calendar_selects_its_embeddings():
    model = _small()
    x = _calendar_window()
    embedded = model.embed(x)  # [batch, lookback, nodes, 4 + 4 + 4 + 4]
    assert embedded.shape == (2, 12, 4, 16)
    assert model.time_of_day_embedding is not None and model.day_of_week_embedding is not None
    slots = 96 + torch.arange(12)  # 08:00 is slot 96 of 288; float32 fractions round to their slot
    torch.testing.assert_close(embedded[0, :, 0, 4:8], model.time_of_day_embedding.weight[slots])
    torch.testing.assert_close(embedded[1, :, 3, 8:12], model.day_of_week_embedding.weight[1].expand(12, -1))
    torch.testing.assert_close(embedded[0, :, :, :4], model.input_embedding(x[0]))
    torch.testing.assert_close(embedded[1, ..., 12:], model.adaptive_embedding)
    # An earlier step's day of week reaches the forecast (the calendar of every step is embedded).
    earlier = x.clone()
    earlier[:, 0, :, 2] = 5.0
    assert not torch.allclose(model(earlier), model(x))


def test_without_calendar_features_the_embeddings_are_off_and_the_width_shrinks():
    model = STAEformer(num_sensors=5, in_features=1, lookback=6, horizon=3, out_channels=2)
    assert model.time_of_day_embedding is None and model.day_of_week_embedding is None
    assert model.output.in_features == 6 * (24 + 80)
    assert model(torch.randn(3, 6, 5, 1)).shape == (3, 3, 5, 2)


def test_parameter_count_matches_the_authors_metr_la_configuration():
    # XDZhelheim/STAEformer on METR-LA (model/STAEformer.yaml): input_dim 3, embeddings 24 + 24
    # + 24 + adaptive 80 = width 152, 288 slots, feed-forward 256, 3 + 3 layers, 12 -> 12:
    #   input projection Linear(3, 24)                 3 x 24 + 24        =        96
    #   time of day 288 x 24, day of week 7 x 24                          =     7,080
    #   adaptive embedding 12 x 207 x 80                                  =   198,720
    #   per layer: 4 x Linear(152, 152) = 93,024; Linear(152, 256) + Linear(256, 152) = 78,232;
    #              2 LayerNorm(152) = 608; together 171,864, times 6      = 1,031,184
    #   output Linear(12 x 152, 12)                    1824 x 12 + 12     =    21,900
    model = STAEformer(num_sensors=207, in_features=3, time_of_day_feature=1, day_of_week_feature=2, steps_per_day=288)
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    layer = 4 * (152 * 152 + 152) + (152 * 256 + 256) + (256 * 152 + 152) + 2 * 2 * 152
    assert count == (3 * 24 + 24) + 288 * 24 + 7 * 24 + 12 * 207 * 80 + 6 * layer + (12 * 152 * 12 + 12) == 1_258_980


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"time_of_day_feature": 3}, "time_of_day_feature 3 is not a feature position"),
        ({"day_of_week_feature": -1}, "day_of_week_feature -1 is not a feature position"),
        ({"steps_per_day": 0}, "steps_per_day must be >= 1"),
        ({"spatial_layers": -1}, "temporal_layers, spatial_layers >= 0"),
        ({"heads": 5}, r"heads \(5\) must divide the width 104"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        STAEformer(num_sensors=2, in_features=3, **options)


def test_registered_and_rebuilt_from_its_arguments():
    model = create("staeformer", num_sensors=3, in_features=2, time_of_day_feature=1, steps_per_day=24)
    assert name_of(model) == "staeformer"
    again = create("staeformer", **model.init_kwargs)
    assert again.time_of_day_embedding is not None and again.time_of_day_embedding.weight.shape == (24, 24)
