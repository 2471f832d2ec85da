"""Calendar slots from the covariates: rounding at slot boundaries, wrapping, clamping, and the
position check every calendar model shares."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from stgraph.data.covariates import time_of_day
from stgraph.nn.calendar import check_calendar_features, day_of_week_index, extend_calendar, time_of_day_slot


def test_time_of_day_slots_of_the_pipelines_covariate_are_the_step_indices():
    fraction = torch.from_numpy(time_of_day(pd.date_range("2024-01-01", periods=288, freq="5min")))
    assert torch.equal(time_of_day_slot(fraction, 288), torch.arange(288))  # float32 k/288 stays in slot k
    assert time_of_day_slot(torch.tensor([0.9999]), 24).item() == 0  # rounds to 24, wraps to midnight


def test_day_of_week_is_rounded_and_clamped():
    assert day_of_week_index(torch.tensor([0.0, 2.9999, 6.0, 7.0, -1.0])).tolist() == [0, 3, 6, 6, 0]


def test_a_position_outside_the_features_names_the_model():
    check_calendar_features("STID", 3, 1, 2)
    with pytest.raises(ValueError, match=r"^GMAN: day_of_week_feature 3 is not a feature position \(0..2\)$"):
        check_calendar_features("GMAN", 3, None, 3)


def test_extend_calendar_rolls_past_midnight_and_the_week():
    # a window ending at the last slot of Sunday (day 6), 4 slots a day: Monday 0, 1, 2 follow
    slot, day = torch.tensor([[2, 3]]), torch.tensor([[6, 6]])
    slots, days = extend_calendar(slot, day, 3, 4)
    assert slots.tolist() == [[2, 3, 0, 1, 2]] and days.tolist() == [[6, 6, 0, 0, 0]]
    # more than a day ahead: slot 1 of day 2 + 9 steps -> slot 2 of day 4
    slots, days = extend_calendar(torch.tensor([[1]]), torch.tensor([[2]]), 9, 4)
    assert (slots[0, -1].item(), days[0, -1].item()) == (2, 4)
