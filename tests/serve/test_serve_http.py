"""``stgraph serve`` as users meet it: a real uvicorn server in a subprocess on 127.0.0.1, a real
HTTP client. Forecasts equal :func:`~stgraph.pipeline.forecast.forecast_next` on the same
readings; every bad request is a 422 naming the problem; the API key; batching; the queue bound;
the README's request on a sample run."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from stgraph.data.series import SensorSeries
from stgraph.pipeline.forecast import forecast_next
from stgraph.pipeline.model_file import load_model_file

REPO = Path(__file__).resolve().parents[2]
READY = re.compile(r"^stgraph serve: .* on (http://\S+)$")
KEY = "s3cret-key"


@pytest.fixture(scope="module")
def toy_server(start_server, toy_run):
    return start_server(toy_run, "--batch-window-ms", "100", "--max-body-mb", "0.05")


@pytest.fixture(scope="module")
def sample_server(start_server, sample_run):
    return start_server(sample_run, "--api-key", KEY)


def _request(readings: pd.DataFrame, sensors=None) -> dict:
    sensors = list(readings.columns) if sensors is None else sensors
    return {
        "timestamps": [t.isoformat() for t in readings.index],
        "sensors": sensors,
        "values": readings[sensors].to_numpy().tolist(),
    }


def _expected(run_dir, readings: pd.DataFrame, mask: np.ndarray | None = None) -> np.ndarray:
    run = load_model_file(run_dir / "model.pt")
    values = readings.to_numpy(dtype=np.float32)[:, :, None]
    observed = None if mask is None else mask[:, :, None]
    series = SensorSeries(
        np.where(observed, values, 0) if mask is not None else values, observed, readings.index, list(readings.columns), ["speed"]
    )
    return forecast_next(run, series)[..., 0]


def test_the_ready_line_names_run_model_sensors_and_address(toy_server):
    line = toy_server.lines[0].strip()
    assert re.fullmatch(r"stgraph serve: toy-tgcn \(tgcn, 3 sensors\) on http://127\.0\.0\.1:\d+", line)
    assert READY.match(line)


def test_health_and_model(toy_server):
    health = httpx.get(f"{toy_server.url}/health").json()
    assert health["status"] == "ok" and health["run"] == "toy-tgcn" and "model_calls" in health
    # started as `python -m stgraph serve`: restarted once with sleeping OpenMP threads (serve_cmd._sleeping_threads)
    if "OMP_WAIT_POLICY" not in os.environ and os.name == "posix":
        assert health["omp_wait_policy"] == "PASSIVE"
    assert health["torch_threads"] == 1  # the fixture's OMP_NUM_THREADS
    described = httpx.get(f"{toy_server.url}/model").json()
    assert described["sensors"] == ["a", "b", "c"] and described["model"] == "tgcn"
    assert (described["lookback"], described["horizon"], described["interval"]) == (4, 2, "5min")
    assert described["features"] == ["speed"] and described["channels"] == ["speed"]
    assert described["metrics"]["test"] == {"average": {"mae": 1.5}}
    assert described["intervals"] == {"coverage": 0.9, "method": "split"}
    assert httpx.get(f"{toy_server.url}/openapi.json").json()["paths"]["/forecast"]["post"]["requestBody"]


def test_json_forecast_is_forecast_next_in_the_runs_sensor_order(toy_server, toy_run, toy_readings):
    recent = toy_readings.iloc[:10]
    response = httpx.post(f"{toy_server.url}/forecast", json=_request(recent, ["c", "a", "b"]))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["run"] == "toy-tgcn" and answer["model"] == "tgcn" and answer["sensors"] == ["a", "b", "c"]
    assert answer["timestamps"] == ["2024-05-06T07:50:00", "2024-05-06T07:55:00"]
    assert answer["channels"] == ["speed"]
    expected = _expected(toy_run, recent)
    np.testing.assert_allclose(answer["forecast"], expected, rtol=1e-5)
    # the calibration: a margin of 2 at step 1; step 2's is infinite, so its bounds are null
    np.testing.assert_allclose(answer["lower"][0], expected[0] - 2, rtol=1e-5)
    np.testing.assert_allclose(answer["upper"][0], expected[0] + 2, rtol=1e-5)
    assert answer["lower"][1] == [None] * 3 and answer["upper"][1] == [None] * 3 and answer["coverage"] == 0.9


def test_csv_upload_and_csv_body_answer_like_json(toy_server, toy_readings):
    recent = toy_readings.iloc[:10]
    by_json = httpx.post(f"{toy_server.url}/forecast", json=_request(recent)).json()
    text = recent[["b", "c", "a"]].to_csv()
    uploaded = httpx.post(f"{toy_server.url}/forecast", files={"file": ("recent.csv", text, "text/csv")})
    assert uploaded.status_code == 200, uploaded.text
    posted = httpx.post(f"{toy_server.url}/forecast", content=text, headers={"Content-Type": "text/csv"})
    assert posted.status_code == 200, posted.text
    for answer in (uploaded.json(), posted.json()):
        assert answer["sensors"] == by_json["sensors"] and answer["timestamps"] == by_json["timestamps"]
        np.testing.assert_allclose(answer["forecast"], by_json["forecast"], rtol=1e-6)


def test_null_nan_and_mask_are_missing_readings(toy_server, toy_run, toy_readings):
    recent = toy_readings.iloc[:8]
    mask = np.ones(recent.shape, dtype=bool)
    mask[-1, 0] = mask[-2, 2] = mask[-3, 1] = False
    request = _request(recent)
    request["values"][-1][0] = None
    request["values"][-2][2] = float("nan")  # Python's json writes NaN, which the server reads
    request["mask"] = mask.tolist()  # step -3, sensor b: a value, but masked
    response = httpx.post(f"{toy_server.url}/forecast", content=json.dumps(request), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["forecast"], _expected(toy_run, recent, mask), rtol=1e-5)


def _changed(readings: pd.DataFrame, change) -> dict:
    request = _request(readings)
    change(request)
    return request


BAD_JSON = {
    "unknown sensor": (
        lambda r: (r["sensors"].append("zz9"), [row.append(50.0) for row in r["values"]]),
        r"sensors: 1 sensor the run does not know: zz9",
    ),
    "missing sensor": (
        lambda r: (r["sensors"].pop(1), [row.pop(1) for row in r["values"]]),
        r"sensors: 1 run sensor missing \(b\); send every sensor of the run",
    ),
    "too few steps": (
        lambda r: r.update(timestamps=r["timestamps"][:3], values=r["values"][:3]),
        r"timestamps: 3 steps, but the model needs at least the last 4 \(20min at 5min\)",
    ),
    "wrong interval": (
        lambda r: r.update(timestamps=[t.isoformat() for t in pd.date_range("2024-05-06 07:00", periods=6, freq="10min")]),
        r"timestamps\[1\]: '2024-05-06T07:10:00' is 10min after timestamps\[0\]; the run's interval is 5min",
    ),
    "timestamps not increasing": (
        lambda r: r["timestamps"].__setitem__(3, r["timestamps"][1]),
        r"timestamps\[3\]: '2024-05-06T07:05:00' does not come after timestamps\[2\] .*timestamps must increase",
    ),
    "not a timestamp": (
        lambda r: r["timestamps"].__setitem__(2, "yesterday"),
        r"timestamps\[2\]: 'yesterday' is not an ISO 8601",
    ),
    "non-numeric value": (
        lambda r: r["values"][2].__setitem__(1, "fast"),
        r"values\[2\]\[1\]: 'fast' is not a number; expected a number or null",
    ),
    "boolean value": (lambda r: r["values"][0].__setitem__(0, True), r"values\[0\]\[0\]: True is not a number"),
    "ragged row": (lambda r: r["values"][4].pop(), r"values\[4\]: expected 3 values, one per sensor; got 2 values"),
    "negative reading": (lambda r: r["values"][1].__setitem__(2, -5), r"values\[1\]\[2\] \(sensor 'c', 'speed'\): -5 is below 0"),
    "missing field": (lambda r: r.pop("values"), r"body: field 'values' is missing"),
    "a path instead of readings": (lambda r: r.update(file="/etc/passwd"), r"body: unknown field 'file'"),
    "mask not booleans": (
        lambda r: r.update(mask=[[1, 1, 1]] * 6),
        r"mask\[0\]\[0\]: expected true or false; got 1",
    ),
}


@pytest.mark.parametrize("case", list(BAD_JSON), ids=lambda c: c.replace(" ", "-"))
def test_bad_json_requests_are_422_naming_the_problem(toy_server, toy_readings, case):
    change, message = BAD_JSON[case]
    response = httpx.post(f"{toy_server.url}/forecast", json=_changed(toy_readings.iloc[:6], change))
    assert response.status_code == 422, response.text
    assert re.search(message, response.json()["detail"]), response.json()["detail"]
    assert "\n" not in response.json()["detail"]


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (b"{not json", "application/json", r"body: not valid JSON \(Expecting property name"),
        (b"[1, 2]", "application/json", r"body: expected a JSON object .* got a list of 2"),
        (b"\x80\x04\x95pickle", "application/json", r"body: not UTF-8 text"),
        (b"timestamp,a,b,c\n2024-05-06 07:00,1,n/a,3\n", "text/csv", r"upload\.csv, column 'b': .*'n/a'"),
        (b"\x80\x04\x95\x00pickle", "text/csv", r"upload\.csv, line 1: not UTF-8 text"),
        (b"a=1", "application/x-www-form-urlencoded", r"Content-Type 'application/x-www-form-urlencoded': send application/json"),
        (b"x" * 60_000, "application/json", r"body too large: 60,000 bytes, over the limit of 50,000 bytes \(0\.05 MB"),
    ],
    ids=["invalid-json", "json-array", "pickle-bytes", "csv-non-numeric", "csv-pickle", "form", "too-large"],
)
def test_bad_bodies_are_422(toy_server, content, content_type, message):
    response = httpx.post(f"{toy_server.url}/forecast", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 422, response.text
    assert re.search(message, response.json()["detail"]), response.json()["detail"]


def test_an_upload_without_field_file_is_422(toy_server, toy_readings):
    text = toy_readings.iloc[:6].to_csv()
    response = httpx.post(f"{toy_server.url}/forecast", files={"readings": ("r.csv", text)})
    assert response.status_code == 422
    assert response.json()["detail"] == "upload: no field 'file' (fields: 'readings'); send the readings CSV as field 'file'"


def test_an_uploaded_csv_with_too_few_steps_or_unknown_sensors_is_422(toy_server, toy_readings):
    few = httpx.post(f"{toy_server.url}/forecast", files={"file": ("r.csv", toy_readings.iloc[:3].to_csv())})
    assert few.status_code == 422 and few.json()["detail"].startswith("upload.csv: 3 steps, but the model needs at least")
    other = toy_readings.iloc[:6].rename(columns={"c": "d"})
    unknown = httpx.post(f"{toy_server.url}/forecast", files={"file": ("r.csv", other.to_csv())})
    assert unknown.status_code == 422 and "sensors do not match" in unknown.json()["detail"], unknown.text


def test_concurrent_requests_share_model_calls_and_get_their_own_answers(toy_server, toy_readings):
    requests = [_request(toy_readings.iloc[i : i + 6]) for i in range(8)]
    single = [httpx.post(f"{toy_server.url}/forecast", json=r).json()["forecast"] for r in requests]
    before = httpx.get(f"{toy_server.url}/health").json()

    async def together() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=toy_server.url, timeout=30) as client:
            return await asyncio.gather(*(client.post("/forecast", json=r) for r in requests))

    responses = asyncio.run(together())
    after = httpx.get(f"{toy_server.url}/health").json()
    assert [r.status_code for r in responses] == [200] * 8
    for response, alone in zip(responses, single):
        np.testing.assert_allclose(response.json()["forecast"], alone, rtol=1e-5)
    assert after["requests"] - before["requests"] == 8
    assert after["model_calls"] - before["model_calls"] < 8 and after["largest_batch"] > 1, after


def test_the_readme_request_on_a_sample_run(sample_server):
    body = (REPO / "datasets" / "sample" / "request.json").read_bytes()
    response = httpx.post(
        f"{sample_server.url}/forecast", content=body, headers={"Content-Type": "application/json", "X-API-Key": KEY}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert np.asarray(answer["forecast"]).shape == (12, 207) and np.isfinite(answer["forecast"]).all()
    assert len(answer["sensors"]) == 207 and answer["timestamps"][0] == "2012-03-08T00:00:00"
    assert answer["timestamps"][-1] == "2012-03-08T00:55:00" and "lower" not in answer  # no calibration.npz


def test_the_api_key_guards_every_route_but_health(sample_server):
    url = sample_server.url
    assert httpx.get(f"{url}/health").status_code == 200
    for path in ("/model", "/docs", "/openapi.json"):
        missing = httpx.get(f"{url}{path}")
        assert missing.status_code == 401 and missing.json()["detail"] == "missing API key: send it in header X-API-Key"
        wrong = httpx.get(f"{url}{path}", headers={"X-API-Key": "guess"})
        assert wrong.status_code == 403 and wrong.json()["detail"] == "wrong API key in header X-API-Key"
        assert httpx.get(f"{url}{path}", headers={"X-API-Key": KEY}).status_code == 200
    assert httpx.post(f"{url}/forecast", json={}).status_code == 401


def test_a_full_queue_answers_503_with_retry_after_and_sigint_stops_cleanly(start_server, toy_run, toy_readings):
    server = start_server(toy_run, "--max-queue", "1", "--batch-window-ms", "1000")
    request = _request(toy_readings.iloc[:6])

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            return await asyncio.gather(*(client.post("/forecast", json=request) for _ in range(6)))

    responses = asyncio.run(burst())
    codes = sorted(r.status_code for r in responses)
    assert 200 in codes and 503 in codes and set(codes) <= {200, 503}, codes
    refused = next(r for r in responses if r.status_code == 503)
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["detail"].startswith("the forecast queue is full (1 requests waiting)")
    assert httpx.get(f"{server.url}/health").json()["rejected"] == codes.count(503)

    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=20) == 0
    assert "Traceback" not in server.output(), server.output()
