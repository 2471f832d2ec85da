"""``data.missing_inputs``: where the observed channels go, what the model is told, what ``model.pt``
records, and the defaults (``zero`` for the paper protocols)."""

from __future__ import annotations

import pytest

from stgraph.errors import ConfigError
from stgraph.pipeline.config import resolve_config
from stgraph.pipeline.data import prepare_data
from stgraph.pipeline.run_dir import build_model, run_metadata


def test_mask_adds_one_observed_channel_after_the_calendar(sample_dir):
    zero = resolve_config(model="stid", dataset="sample", overrides=["data.missing_inputs=zero"])
    mask = resolve_config(model="stid", dataset="sample", overrides=["data.missing_inputs=mask"])
    data_zero, data_mask = prepare_data(zero.data), prepare_data(mask.data)
    assert data_zero.in_features == 1 + 2  # speed, time of day, day of week
    assert data_mask.in_features == 1 + 2 + 1  # ... and speed observed
    assert data_mask.covariate_positions() == data_zero.covariate_positions() == {"time_of_day": 1, "day_of_week": 2}
    windows = data_mask.windows("test")
    assert windows.in_features == data_mask.in_features
    x, _, _ = windows[0]
    assert x.shape[-1] == 4 and set(x[..., 3].unique().tolist()) <= {0.0, 1.0}
    _, kwargs = build_model(mask, data_mask)
    assert (kwargs["in_features"], kwargs["time_of_day_feature"], kwargs["day_of_week_feature"]) == (4, 1, 2)
    assert run_metadata(mask, data_mask, kwargs)["data"]["missing_inputs"] == "mask"
    assert run_metadata(zero, data_zero, kwargs)["data"]["missing_inputs"] == "zero"


def test_paper_protocols_keep_zero_and_the_own_data_recipe_masks(sample_dir, tmp_path):
    assert resolve_config(model="dcrnn", dataset="sample").data.missing_inputs == "zero"
    assert resolve_config(model="stid", dataset="sample").data.missing_inputs == "zero"
    assert resolve_config(dataset="sample").data.missing_inputs == "mask"  # the default recipe
    own = {"data": {"readings": str(tmp_path / "r.csv"), "distances": str(tmp_path / "d.csv")}}
    assert resolve_config(model="stgcn", overrides=own).data.missing_inputs == "mask"


def test_an_unknown_setting_is_one_line_naming_it():
    with pytest.raises(ConfigError, match=r"^data\.missing_inputs must be one of zero, mask, got 'locf'$"):
        resolve_config(model="stid", dataset="sample", overrides=["data.missing_inputs=locf"])
