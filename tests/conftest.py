"""Shared fixtures: where the real data and the committed sample live."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE_DIR = REPO / "datasets" / "sample"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The committed sample (``datasets/sample``), built by ``datasets/build_sample.py``."""
    if not SAMPLE_DIR.is_dir():
        pytest.fail(f"committed sample missing at {SAMPLE_DIR}: run python datasets/build_sample.py")
    return SAMPLE_DIR
