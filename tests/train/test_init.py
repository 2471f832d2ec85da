"""``stgraph.train`` loads its names on first use (so its schedules import without Lightning)."""

from __future__ import annotations

import pytest

import stgraph.train


def test_public_names_are_the_modules_own():
    from stgraph.train.auto import AutoResult, train_auto
    from stgraph.train.module import ForecastModule
    from stgraph.train.run import RunResult, train

    assert stgraph.train.train is train
    assert stgraph.train.RunResult is RunResult
    assert stgraph.train.ForecastModule is ForecastModule
    assert stgraph.train.train_auto is train_auto and stgraph.train.AutoResult is AutoResult
    assert sorted(stgraph.train.__all__) == ["AutoResult", "ForecastModule", "RunResult", "train", "train_auto"]


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match=r"^module 'stgraph\.train' has no attribute 'fit'$"):
        stgraph.train.fit  # noqa: B018
    assert not hasattr(stgraph.train, "BestModelExport")  # callbacks live in stgraph.train.callbacks
