"""The ranking rows of ``--model auto`` from hand-written ``metrics.json`` contents, their order,
and the CSV and Markdown they are written as."""

from __future__ import annotations

import csv

from stgraph.pipeline.ranking import (
    RANKING_COLUMNS,
    baseline_rows,
    candidate_row,
    failed_row,
    ranking_markdown,
    sort_rows,
    write_ranking,
)


def _metrics(val_mae: float, test_mae: float) -> dict:
    """A metrics.json as train writes it, horizon 12 at 5 minutes, two validated epochs."""
    steps = {
        f"step_{s}": {"lead_time": f"{5 * s} min", "mae": test_mae + s / 10, "rmse": 2 * test_mae, "mape": 0.1}
        for s in (3, 6, 12)
    }
    return {
        "interval": "5min",
        "units": "mph",
        "best_epoch": 2,
        "best_val_mae": val_mae,
        "train_seconds": 12.3,
        "history": [{"epoch": 1, "val_mae": val_mae + 1}, {"epoch": 2, "val_mae": val_mae}],
        "test": {**steps, "average": {"mae": test_mae, "rmse": 2 * test_mae, "mape": 0.1}},
    }


BASELINES = {
    "historical_average": {"average": {"mae": 5.0, "rmse": 9.0, "mape": 0.2}, "step_3": {"mae": 4.5, "rmse": 8.0}},
    "last_value": {"average": {"mae": 4.0, "rmse": 8.5, "mape": 0.15}},
}


def test_a_candidate_row_reads_its_metrics_json():
    row = candidate_row("stgcn", _metrics(3.25, 3.5), parameters=1234)
    assert list(row) == list(RANKING_COLUMNS)
    assert row == {
        "model": "stgcn",
        "status": "trained",
        "parameters": 1234,
        "epochs": 2,
        "best_epoch": 2,
        "train_seconds": 12.3,
        "val_mae": 3.25,
        "test_mae": 3.5,
        "test_rmse": 7.0,
        "test_mape": 0.1,
        "test_mae_step_3": 3.8,
        "test_rmse_step_3": 7.0,
        "test_mae_step_6": 4.1,
        "test_rmse_step_6": 7.0,
        "test_mae_step_12": 4.7,
        "test_rmse_step_12": 7.0,
        "reason": None,
    }


def test_baseline_rows_come_from_the_baselines_block_and_are_absent_without_it():
    rows = baseline_rows({**_metrics(3.0, 3.5), "baselines": BASELINES})
    assert [(r["model"], r["status"], r["test_mae"], r["test_rmse"], r["test_mae_step_3"]) for r in rows] == [
        ("historical_average", "baseline", 5.0, 9.0, 4.5),
        ("last_value", "baseline", 4.0, 8.5, None),
    ]
    assert all(r["val_mae"] is None and r["parameters"] is None for r in rows)
    assert baseline_rows(_metrics(3.0, 3.5)) == []
    assert baseline_rows({"baselines": {"last_value": BASELINES["last_value"]}})[0]["model"] == "last_value"


def test_rows_sort_by_validation_mae_then_failed_then_baselines():
    rows = [
        failed_row("dcrnn", "CUDA out of memory"),
        *baseline_rows({"baselines": BASELINES}),
        candidate_row("tgcn", _metrics(3.75, 3.0), parameters=10),
        candidate_row("stgcn", _metrics(3.25, 3.5), parameters=20),
    ]
    assert [r["model"] for r in sort_rows(rows)] == ["stgcn", "tgcn", "dcrnn", "historical_average", "last_value"]


def test_markdown_ranks_the_trained_and_labels_steps_by_lead_time():
    rows = sort_rows(
        [
            candidate_row("tgcn", _metrics(3.75, 3.0), parameters=12345),
            candidate_row("stgcn", _metrics(3.25, 3.5), parameters=20),
            failed_row("dcrnn", "CUDA out of memory"),
            *baseline_rows({"baselines": BASELINES}),
        ]
    )
    assert ranking_markdown(rows, interval="5min", units="mph").splitlines() == [
        "| rank | model | parameters | epochs | train s | val MAE (mph) | test MAE | test RMSE "
        "| MAE 15 min | MAE 30 min | MAE 60 min | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        "| 1 | stgcn | 20 | 2 | 12.3 | 3.250 | 3.500 | 7.000 | 3.800 | 4.100 | 4.700 |  |",
        "| 2 | tgcn | 12,345 | 2 | 12.3 | 3.750 | 3.000 | 6.000 | 3.300 | 3.600 | 4.200 |  |",
        "|  | dcrnn | – | – | – | – | – | – | – | – | – | failed: CUDA out of memory |",
        "|  | historical_average | – | – | – | – | 5.000 | 9.000 | 4.500 | – | – | baseline |",
        "|  | last_value | – | – | – | – | 4.000 | 8.500 | – | – | – | baseline |",
    ]


def test_csv_holds_every_column_with_empty_cells_for_missing_values(tmp_path):
    rows = [candidate_row("stgcn", _metrics(3.25, 3.5), parameters=20), failed_row("dcrnn", "CUDA out of memory")]
    write_ranking(tmp_path, rows, interval="5min", units="mph")
    with open(tmp_path / "ranking.csv", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert list(read[0]) == list(RANKING_COLUMNS)
    assert (read[0]["val_mae"], read[0]["test_mae_step_12"], read[0]["reason"]) == ("3.25", "4.7", "")
    assert {key: value for key, value in read[1].items() if value} == {
        "model": "dcrnn",
        "status": "failed",
        "reason": "CUDA out of memory",
    }
    assert (tmp_path / "ranking.md").read_text() == ranking_markdown(rows, interval="5min", units="mph") + "\n"
