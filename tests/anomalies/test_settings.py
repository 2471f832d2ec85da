"""``AnomalySettings`` (stgraph/anomalies/settings.py): defaults, a YAML file, and the file's mistakes named."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from stgraph.anomalies import AnomalySettings
from stgraph.errors import ConfigError


def test_stuck_minutes_become_steps_rounded_up_and_at_least_two():
    assert AnomalySettings().stuck_steps(pd.Timedelta("5min")) == 12
    assert AnomalySettings(stuck_minutes=61).stuck_steps(pd.Timedelta("5min")) == 13
    assert AnomalySettings(stuck_minutes=10).stuck_steps(pd.Timedelta("1h")) == 2


def test_from_file_reads_every_key(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("stuck_minutes: 30\nzero_rate: 0.05\nminimum: null\nmaximum: 120\ncoverage: 0.99\n")
    assert AnomalySettings.from_file(path) == AnomalySettings(
        stuck_minutes=30, zero_rate=0.05, minimum=None, maximum=120, coverage=0.99
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stuck_hours: 2\n", "a.yaml: unknown setting stuck_hours"),
        ("coverage: 1.5\n", r"a.yaml: coverage must be in \(0, 1\), got 1.5"),
        ("minimum: 50\nmaximum: 10\n", r"a.yaml: minimum \(50\) must be below maximum \(10\)"),
        ("maximum: fast\n", "a.yaml: maximum must be a number, got 'fast'"),
        ("stuck_minutes: null\n", "a.yaml: stuck_minutes must be a number, got None"),
        ("- 1\n", "a.yaml: expected a mapping of settings, got list"),
        ("a: [\n", "a.yaml: not valid YAML"),
    ],
)
def test_from_file_names_the_file_and_the_setting(tmp_path, text, message):
    path = tmp_path / "a.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        AnomalySettings.from_file(path)


def test_anomalies_import_without_lightning():
    code = "import sys\nsys.modules['lightning'] = None\nimport stgraph.anomalies, stgraph.cli.anomalies_cmd\nprint('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr
