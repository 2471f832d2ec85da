"""``stgraph anomalies RUN_DIR --readings FILE``: a tiny run on the committed sample, faults put by
hand into the sample's last two days, and the rows the command must write for them; the
readings and outputs it refuses."""

from __future__ import annotations

import pandas as pd
import pytest

from stgraph.cli.main import main

TINY = [
    "--model", "stgcn",
    "--set", "model.channels=[[4,2,4],[4,2,4]]", "data.batch_size=16", "training.threads=1",
    "--accelerator", "cpu", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(sample_dir, tmp_path_factory):
    """A finished run of one optimiser step on the committed sample."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STGRAPH_DATA", str(sample_dir.parent))
        assert main(["train", "--dataset", "sample", *TINY, "--max-steps", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def recent(sample_dir) -> pd.DataFrame:
    """The sample's last two days (its test part), as a user would export them."""
    return pd.read_csv(sample_dir / "readings.csv.gz", index_col="timestamp").iloc[-576:]


@pytest.fixture
def faulty(recent, tmp_path):
    """``recent`` with four faults: sensor 0 stuck for two hours (steps 100-123), sensor 1 at zero for
    30 minutes (200-205), sensor 2 negative at step 300, sensor 3 at 200 mph at step 310."""
    frame = recent.copy()
    columns = frame.columns
    frame.iloc[100:124, 0] = 33.333  # a value the sample never holds: the run is exactly 24 steps long
    frame.iloc[200:206, 1] = 0.0
    frame.iloc[300, 2] = -5.0
    frame.iloc[310, 3] = 200.0
    path = tmp_path / "faulty.csv"
    frame.to_csv(path)
    return path, frame.index, columns


def test_anomalies_writes_a_row_for_each_injected_fault(tiny_run, faulty, tmp_path, capsys):
    path, index, columns = faulty
    config = tmp_path / "limits.yaml"
    config.write_text("maximum: 120\n")
    out = tmp_path / "anomalies.csv"
    command = ["anomalies", str(tiny_run), "--readings", str(path), "--config", str(config), "--out", str(out)]
    assert main([*command, "--no-progress"]) == 0
    assert str(out) in capsys.readouterr().out
    table = pd.read_csv(out, dtype={"sensor": str})
    assert list(table.columns) == ["sensor", "timestamp", "kind", "score"]
    assert set(table["kind"]) <= {"out_of_range", "zero", "stuck", "spike"}
    rows = table.set_index(["sensor", "timestamp"])

    def at(sensor: int, step: int) -> tuple[str, float]:
        row = rows.loc[(columns[sensor], index[step])]
        return row["kind"], row["score"]

    # stuck: 24 steps at 60 minutes (12 steps) -> 24 / 12 = 2, every step of the run, none beside it
    assert [at(0, step) for step in range(100, 124)] == [("stuck", 2.0)] * 24
    assert (columns[0], index[99]) not in rows.index or rows.loc[(columns[0], index[99])]["kind"] != "stuck"
    # zero: the sample (Los-loop, gaps filled) is never zero: share 0 -> 1 + log10(0.01 / 1e-6) = 5
    assert [at(1, step) for step in range(200, 206)] == [("zero", 5.0)] * 6
    # out of range: 1 + 5 / 1 below minimum 0; 1 + 80 / 120 above maximum 120
    assert at(2, 300) == ("out_of_range", 6.0)
    assert at(3, 310)[0] == "out_of_range"
    assert at(3, 310)[1] == pytest.approx(1 + 80 / 120)


def test_anomalies_refuses_an_existing_out_without_force(tiny_run, faulty, tmp_path, capsys):
    out = tmp_path / "anomalies.csv"
    out.write_text("keep me\n")
    assert main(["anomalies", str(tiny_run), "--readings", str(faulty[0]), "--out", str(out)]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "keep me\n"


def test_anomalies_names_a_sensor_the_run_does_not_have(tiny_run, recent, tmp_path, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the readings are checked before the run is calibrated")

    monkeypatch.setattr("stgraph.anomalies.run.load_reference", never)
    path = tmp_path / "renamed.csv"
    recent.rename(columns={recent.columns[5]: "999999"}).to_csv(path)
    assert main(["anomalies", str(tiny_run), "--readings", str(path), "--out", str(tmp_path / "a.csv")]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "999999" in err and recent.columns[5] in err and "renamed.csv" in err
    assert not (tmp_path / "a.csv").exists()


def test_anomalies_names_an_interval_other_than_the_runs(tiny_run, recent, tmp_path, capsys):
    path = tmp_path / "ten_minutes.csv"
    recent.iloc[::2].to_csv(path)
    assert main(["anomalies", str(tiny_run), "--readings", str(path), "--out", str(tmp_path / "a.csv")]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "ten_minutes.csv" in err and "every 10min" in err and "every 5min" in err


def test_anomalies_names_a_bad_setting_and_its_file(tiny_run, recent, tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("stuck_hours: 2\n")
    path = tmp_path / "r.csv"
    recent.to_csv(path)
    assert (
        main(["anomalies", str(tiny_run), "--readings", str(path), "--config", str(config), "--out", str(tmp_path / "a.csv")])
        == 1
    )
    assert "bad.yaml: unknown setting stuck_hours" in capsys.readouterr().err


def test_anomalies_is_listed_by_stgraph_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "anomalies" in capsys.readouterr().out
