"""``stgraph.serve.app.create_app`` in process (Starlette's test client): the routes, the body
limit on a streamed body, the API key, and that no request ends in an unexplained 500."""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from stgraph.errors import RunError
from stgraph.serve.app import BodyLimit, create_app
from stgraph.serve.run import ServedRun, json_numbers


def _request(readings: pd.DataFrame) -> dict:
    return {
        "timestamps": [t.isoformat() for t in readings.index],
        "sensors": list(readings.columns),
        "values": readings.to_numpy().tolist(),
    }


@pytest.fixture(scope="module")
def client(toy_run):
    with TestClient(create_app(toy_run, batch_window_ms=0, max_body_mb=0.02), raise_server_exceptions=False) as client:
        yield client


def test_forecast_health_and_model(client, toy_readings):
    response = client.post("/forecast", json=_request(toy_readings.iloc[:5]))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert np.asarray(answer["forecast"]).shape == (2, 3) and answer["timestamps"] == [
        "2024-05-06T07:25:00",
        "2024-05-06T07:30:00",
    ]
    assert client.get("/health").json()["model_calls"] >= 1
    assert client.get("/model").json()["lookback"] == 4


def test_a_streamed_body_over_the_limit_is_422(client):
    def chunks():
        for _ in range(30):
            yield b"x" * 1000

    response = client.post("/forecast", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert re.fullmatch(
        r"body too large: at least [\d,]+ bytes, over the limit of 20,000 bytes \(0\.02 MB, --max-body-mb\)",
        response.json()["detail"],
    )


def test_an_upload_over_the_limit_is_422(client):
    response = client.post("/forecast", files={"file": ("r.csv", b"x" * 30_000)})
    assert response.status_code == 422 and response.json()["detail"].startswith("body too large")


def test_a_broken_multipart_body_is_422(client):
    response = client.post("/forecast", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("upload: not a valid multipart/form-data body")


def test_unknown_routes_and_methods_keep_their_codes(client):
    assert client.get("/nothing").status_code == 404
    assert client.get("/forecast").status_code == 405


def test_a_model_failure_is_a_500_with_one_line(toy_run, toy_readings, monkeypatch):
    app = create_app(toy_run)

    def broken(requests):
        raise RuntimeError("out of\nmemory")

    monkeypatch.setattr(app.state.batcher, "call", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/forecast", json=_request(toy_readings.iloc[:5]))
    assert response.status_code == 500 and response.json() == {"detail": "internal error (RuntimeError: out of memory)"}


def test_validation_errors_of_fastapi_are_one_line_422(toy_run):
    app = create_app(toy_run)

    @app.get("/steps")
    async def steps(count: int) -> int:
        return count

    with TestClient(app) as client:
        response = client.get("/steps", params={"count": "many"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("query.count: Input should be a valid integer")


def test_the_api_key_in_process(toy_run):
    with TestClient(create_app(toy_run, api_key="k")) as client:
        assert client.get("/health").status_code == 200
        response = client.get("/model")
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "X-API-Key"
        assert client.get("/model", headers={"X-API-Key": "K"}).status_code == 403
        assert client.get("/model", headers={"X-API-Key": "k"}).status_code == 200


def test_a_content_length_that_is_no_number_is_422():
    sent = []

    async def app(scope, receive, send):  # pragma: no cover (never reached)
        raise AssertionError

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "headers": [(b"content-length", b"lots")]}
    asyncio.run(BodyLimit(app, limit=10)(scope, None, send))
    assert sent[0]["status"] == 422 and b"Content-Length 'lots' is not a byte count" in sent[1]["body"]


def test_a_run_directory_without_a_model_or_with_bad_metrics(tmp_path, toy_run):
    with pytest.raises(RunError, match=r"no model\.pt; expected a finished run directory"):
        create_app(tmp_path)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "model.pt").write_bytes((toy_run / "model.pt").read_bytes())
    (copy / "metrics.json").write_text("{oops")
    with pytest.raises(RunError, match=r"metrics\.json: not valid JSON"):
        ServedRun.load(copy)
    (copy / "metrics.json").write_text("[1]")
    served = ServedRun.load(copy)
    assert served.metrics is None and served.calibration is None and served.describe()["intervals"] is None


def test_json_numbers_turn_infinities_into_null():
    assert json_numbers(np.array([1.0, np.inf, -np.inf, np.nan])) == [1.0, None, None, None]
    assert json_numbers(np.array([[1.5]])) == [[1.5]]


def test_json_numbers_round_to_four_decimals_the_precision_float32_holds_below_1000():
    # the float64 text of a float32 forecast has 16 digits, 9 of them noise
    assert json_numbers(np.array([np.float32(63.123455)], dtype=np.float64)) == [63.1235]
    assert json_numbers(np.array([[0.00004, 999.99996]])) == [[0.0, 1000.0]]


def test_csv_bodies_and_uploads_in_process(client, toy_readings):
    text = toy_readings.iloc[:5].to_csv()
    by_json = client.post("/forecast", json=_request(toy_readings.iloc[:5])).json()["forecast"]
    for response in (
        client.post("/forecast", content=text, headers={"Content-Type": "text/csv; charset=utf-8"}),
        client.post("/forecast", files={"file": ("r.csv", text, "text/csv")}),
        client.post("/forecast", data={"file": text}, files={"unused": ("u", b"")}),  # the CSV as a plain form field
    ):
        assert response.status_code == 200, response.text
        np.testing.assert_allclose(response.json()["forecast"], by_json, rtol=1e-6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(extra=1), r"body: unknown field 'extra'"),
        (lambda r: r.pop("sensors"), r"body: field 'sensors' is missing"),
        (lambda r: r["timestamps"].__setitem__(1, "2024-13-45T99:00"), r"timestamps\[1\]: '2024-13-45T99:00' is not an ISO 8601"),
        (lambda r: r["timestamps"].__setitem__(2, r["timestamps"][0]), r"timestamps\[2\]: .* does not come after"),
        (
            lambda r: r["timestamps"].__setitem__(4, "2024-05-06T07:25:00"),
            r"timestamps\[4\]: .* is 10min after .* interval is 5min",
        ),
        (lambda r: r["sensors"].__setitem__(0, "x"), r"sensors: 1 sensor the run does not know: x"),
        (lambda r: r["values"][0].__setitem__(0, -1), r"values\[0\]\[0\] \(sensor 'a', 'speed'\): -1 is below 0"),
        (lambda r: r.update(timestamps=r["timestamps"][:2], values=r["values"][:2]), r"timestamps: 2 steps, but the model needs"),
    ],
)
def test_bad_json_in_process(client, toy_readings, change, message):
    request = _request(toy_readings.iloc[:5])
    change(request)
    response = client.post("/forecast", json=request)
    assert response.status_code == 422 and re.search(message, response.json()["detail"]), response.text


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (b"\xff{}", "application/json", r"body: not UTF-8 text \(byte 0xff at offset 0\)"),
        (b"{", "application/vnd.api+json", r"body: not valid JSON"),
        (b"x", "image/png", r"Content-Type 'image/png': send application/json, text/csv, or multipart/form-data"),
    ],
)
def test_bad_bodies_in_process(client, content, content_type, message):
    response = client.post("/forecast", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 422 and re.search(message, response.json()["detail"]), response.text


def test_timestamps_with_an_offset_forecast_on_the_wall_clock(client, toy_readings):
    naive = client.post("/forecast", json=_request(toy_readings.iloc[:5])).json()
    request = _request(toy_readings.iloc[:5])
    request["timestamps"] = [t + "+02:00" for t in request["timestamps"]]
    answer = client.post("/forecast", json=request).json()
    assert answer["timestamps"] == ["2024-05-06T07:25:00+02:00", "2024-05-06T07:30:00+02:00"]
    np.testing.assert_allclose(answer["forecast"], naive["forecast"], rtol=1e-6)  # the same time of day
