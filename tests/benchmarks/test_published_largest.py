"""The LargeST published rows: one list per LargeST dataset, every row well-formed."""

from benchmarks.published import LARGEST_HORIZONS, LARGEST_PAPER, LARGEST_PROTOCOL, _largest, largest_protocol_rows
from stgraph.data.catalog import DATASETS


def test_one_list_per_largest_dataset_and_rows_well_formed():
    assert set(LARGEST_PROTOCOL) == {key for key in DATASETS if key.startswith("largest-")}
    assert "arXiv:2306.08259" in LARGEST_PAPER and "Table 3" in LARGEST_PAPER
    for key, rows in LARGEST_PROTOCOL.items():
        assert largest_protocol_rows(key) is rows
        for row in rows:
            assert row.dataset == key and row.source.startswith(LARGEST_PAPER[:20]) and row.verified
            assert set(row.metrics) <= set(LARGEST_HORIZONS)
            for values in row.metrics.values():
                assert set(values) == {"mae", "rmse", "mape"} and all(v > 0 for v in values.values())
    assert largest_protocol_rows("metr-la") == []


def test_the_row_helper_labels_horizons_3_6_12_and_the_average():
    metrics = _largest((1.0, 2.0, 3.0), (4.0, 5.0, 6.0), (7.0, 8.0, 9.0), (10.0, 11.0, 12.0))
    assert list(metrics) == list(LARGEST_HORIZONS) and metrics["average"] == {"mae": 10.0, "rmse": 11.0, "mape": 12.0}
