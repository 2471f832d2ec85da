"""``stgraph.serve.requests``: JSON and CSV requests -> a series aligned to the run, and the
one-line errors for everything else (in process, on a stand-in for the served run)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from stgraph.serve.requests import RequestError, parse_csv, parse_json, parse_json_bytes
from stgraph.serve.run import ServedRun


def _run(features=("speed",), null_value=None) -> SimpleNamespace:
    return SimpleNamespace(
        sensor_ids=["a", "b", "c"],
        features=list(features),
        lookback=3,
        interval=pd.Timedelta("5min"),
        null_value=null_value,
    )


def _request(steps=3, **changes) -> dict:
    request = {
        "timestamps": [t.isoformat() for t in pd.date_range("2024-05-06 07:00", periods=steps, freq="5min")],
        "sensors": ["c", "a", "b"],
        "values": [[30.0 + t, 10.0 + t, 20.0 + t] for t in range(steps)],
    }
    request.update(changes)
    return request


def test_json_is_aligned_to_the_runs_sensor_order():
    series = parse_json(_request(), _run())
    assert series.sensor_ids == ["a", "b", "c"] and series.feature_names == ["speed"]
    np.testing.assert_array_equal(series.values[:, :, 0], [[10, 20, 30], [11, 21, 31], [12, 22, 32]])
    assert series.mask.all() and series.interval == pd.Timedelta("5min")


def test_integer_sensor_ids_are_ids():
    request = _request()
    run = _run()
    run.sensor_ids = ["1", "2", "3"]
    request["sensors"] = [3, 1, 2]
    assert parse_json(request, run).sensor_ids == ["1", "2", "3"]


def test_nulls_the_null_value_and_the_mask_are_missing():
    request = _request(mask=[[True, True, True], [True, False, True], [True, True, True]])
    request["values"][0][0] = None  # sensor c
    request["values"][2][1] = 0.0  # sensor a: the run's null value
    series = parse_json(request, _run(null_value=0.0))
    missing = ~series.mask[:, :, 0]
    assert missing.tolist() == [[False, False, True], [True, False, False], [True, False, False]]
    assert (series.values[missing] == 0).all()


def test_several_features_per_reading():
    values = [[[1.0, 60.0], [2.0, 61.0], [3.0, 62.0]] for _ in range(3)]
    series = parse_json(_request(values=values), _run(features=("flow", "speed")))
    assert series.feature_names == ["flow", "speed"]
    np.testing.assert_array_equal(series.values[0], [[2, 61], [3, 62], [1, 60]])  # a, b, c
    with pytest.raises(
        RequestError, match=r"values\[0\]\[1\]: expected a list of 2 numbers \(the run's features\); got the number 2"
    ):
        parse_json(_request(values=[[[1.0, 60.0], 2, [3.0, 62.0]]] * 3), _run(features=("flow", "speed")))
    bad = [[[1.0, 60.0], [2.0, "x"], [3.0, 62.0]]] * 3
    with pytest.raises(RequestError, match=r"values\[0\]\[1\]\[1\]: 'x' is not a number"):
        parse_json(_request(values=bad), _run(features=("flow", "speed")))


def test_time_zones_one_offset_is_kept_mixed_is_refused():
    stamps = ["2024-05-06T07:00:00+02:00", "2024-05-06T07:05:00+02:00", "2024-05-06T07:10:00+02:00"]
    series = parse_json(_request(timestamps=stamps), _run())
    assert str(series.timestamps.tz) == "UTC+02:00"
    stamps[1] = "2024-05-06T05:05:00Z"
    with pytest.raises(
        RequestError, match=r"timestamps\[1\]: '2024-05-06T05:05:00Z' has another UTC offset than timestamps\[0\]"
    ):
        parse_json(_request(timestamps=stamps), _run())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timestamps": "2024-05-06"}, r"timestamps: expected ISO 8601 strings .* got the string '2024-05-06'"),
        ({"timestamps": ["2024-05-06T07:00", 5, "x"]}, r"timestamps\[1\]: expected ISO 8601 strings .* got the number 5"),
        ({"timestamps": ["2024-05-06T07:00", "", "2024-05-06T07:10"]}, r"timestamps\[1\]: '' is not an ISO 8601 timestamp"),
        ({"sensors": []}, r"sensors: expected a list of sensor ids; got a list of 0"),
        ({"sensors": ["a", None, "c"]}, r"sensors\[1\]: expected a sensor id \(a string\); got null"),
        ({"sensors": ["a", "a", "c"]}, r"sensors\[1\]: sensor 'a' appears twice \(also sensors\[0\]\)"),
        ({"values": {"a": 1}}, r"values: expected \[3 steps\]\[3 sensors\] \(one row per timestamp\); got an object"),
        ({"values": [[1, 2, 3], [1, 2, 3]]}, r"values: expected \[3 steps\]\[3 sensors\] .* got 2 rows"),
        ({"values": [[1, 2, 3], 7, [1, 2, 3]]}, r"values\[1\]: expected 3 values, one per sensor; got the number 7"),
        ({"values": [[1, 2, 3], [1, float("inf"), 3], [1, 2, 3]]}, r"values\[1\]\[1\]: inf is not a finite reading"),
        ({"values": [[1, 2, 3], [1, 10**400, 3], [1, 2, 3]]}, r"values: a number too large"),
        ({"values": [[1, 2, 3], [1, [2], 3], [1, 2, 3]]}, r"values\[1\]\[1\]: \[2\] is not a number"),
        ({"mask": [[True] * 3]}, r"mask: expected \[3 steps\]\[3 sensors\] booleans \(true = observed\); got 1 rows"),
        ({"mask": [[True] * 3, [True] * 2, [True] * 3]}, r"mask\[1\]: expected 3 booleans, one per sensor; got 2 values"),
    ],
)
def test_bad_fields_are_request_errors(changes, message):
    with pytest.raises(RequestError, match=message):
        parse_json(_request(**changes), _run())


def test_long_lists_of_unknown_or_missing_sensors_are_shortened():
    run = _run()
    run.sensor_ids = [f"s{i}" for i in range(15)]
    with pytest.raises(RequestError, match=r"sensors: 12 run sensors missing \(s3, s4, .*, s12 and 2 more\)"):
        parse_json(_request(sensors=["s0", "s1", "s2"]), run)


def test_bytes_that_are_not_a_json_object():
    with pytest.raises(RequestError, match=r"body: JSON nested too deeply"):
        parse_json_bytes(b"[" * 100_000 + b"]" * 100_000, _run())
    with pytest.raises(RequestError, match=r"body: expected a JSON object .* got null"):
        parse_json_bytes(b"null", _run())
    with pytest.raises(RequestError, match=r"body: expected a JSON object .* got the string 'x'"):
        parse_json_bytes(b'"x"', _run())
    with pytest.raises(RequestError, match=r"timestamps: expected ISO 8601 strings .* got a boolean"):
        parse_json_bytes(b'{"timestamps": true, "sensors": [], "values": []}', _run())


def test_csv_in_memory_like_stgraph_predict(toy_run, toy_readings):
    served = ServedRun.load(toy_run)
    series = parse_csv(toy_readings.iloc[:6][["b", "a", "c"]].to_csv().encode(), served)
    assert series.sensor_ids == ["a", "b", "c"] and series.num_steps == 6 and series.source == "upload.csv"
    every_ten = toy_readings.iloc[:12:2].to_csv().encode()
    with pytest.raises(RequestError, match=r"upload\.csv, column timestamp: readings every 10min, but the run in this server"):
        parse_csv(every_ten, served)
