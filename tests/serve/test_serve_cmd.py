"""``stgraph serve`` options in process: the loopback rule, the API key from the environment, a
missing ``serve`` extra, bad values; and :func:`stgraph.serve.server.serve` run in a thread."""

from __future__ import annotations

import importlib.util
import threading
import time

import httpx
import pytest
import torch

import stgraph.cli.serve_cmd as serve_cmd
import stgraph.serve.server as server_module
from stgraph.cli.main import main
from stgraph.errors import ConfigError
from stgraph.serve.server import check_host, is_loopback, serve


def test_a_non_loopback_host_without_a_key_is_refused(toy_run, capsys, monkeypatch):
    monkeypatch.delenv("STGRAPH_API_KEY", raising=False)
    assert main(["serve", str(toy_run), "--host", "0.0.0.0"]) == 1
    assert capsys.readouterr().err.strip() == (
        "stgraph serve: error: --host 0.0.0.0 is not a loopback address: serving on it needs an API key "
        "(--api-key KEY or the STGRAPH_API_KEY environment variable)"
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_check_host_accepts_any_host_with_a_key():
    check_host("0.0.0.0", "key")
    with pytest.raises(ConfigError, match="is not a loopback address"):
        check_host("10.0.0.1", None)


def test_options_and_the_key_from_the_environment_reach_serve(toy_run, monkeypatch):
    seen = {}
    monkeypatch.setattr(server_module, "serve", lambda run_dir, **options: seen.update(options, run_dir=run_dir))
    monkeypatch.setenv("STGRAPH_API_KEY", "from-env")
    argv = ["serve", str(toy_run), "--port", "0", "--batch-window-ms", "0", "--max-batch", "2", "--max-queue", "3"]
    assert main([*argv, "--max-body-mb", "0.5", "--threads", "1"]) == 0
    assert seen == {
        "run_dir": str(toy_run),
        "host": "127.0.0.1",
        "port": 0,
        "api_key": "from-env",
        "threads": 1,
        "batch_window_ms": 0.0,
        "max_batch": 2,
        "max_queue": 3,
        "max_body_mb": 0.5,
        "device": "cpu",
    }
    assert main([*argv, "--api-key", "given"]) == 0 and seen["api_key"] == "given"


def test_without_fastapi_the_command_says_what_to_install(toy_run, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(serve_cmd.importlib.util, "find_spec", lambda name: None if name == "fastapi" else real(name))
    assert main(["serve", str(toy_run)]) == 1
    assert capsys.readouterr().err.strip() == (
        "stgraph serve: error: the web service needs fastapi: pip install 'stgraph-traffic[serve]'"
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--batch-window-ms", "-1"], "expected milliseconds >= 0, got '-1'"),
        (["--batch-window-ms", "soon"], "expected milliseconds >= 0, got 'soon'"),
        (["--max-body-mb", "big"], "expected a positive number of MB, got 'big'"),
        (["--max-body-mb", "0"], "expected a positive number of MB, got '0'"),
        (["--port", "70000"], "expected a port 0-65535"),
        (["--max-queue", "0"], "expected a positive integer"),
    ],
)
def test_bad_values_fail_in_argparse(toy_run, capsys, option, message):
    with pytest.raises(SystemExit) as exit:
        main(["serve", str(toy_run), *option])
    assert exit.value.code == 2 and message in capsys.readouterr().err


def test_an_unknown_device_is_refused(toy_run, capsys):
    assert main(["serve", str(toy_run), "--device", "tpu"]) == 2
    assert capsys.readouterr().err.startswith("stgraph serve: error: --device tpu:")


def test_serve_in_a_thread_prints_the_ready_line_and_stops(toy_run, capsys, monkeypatch):
    servers = []
    startup = server_module._Server.startup

    async def remembered(self, sockets=None):
        servers.append(self)
        await startup(self, sockets)

    monkeypatch.setattr(server_module._Server, "startup", remembered)
    threads = torch.get_num_threads()
    thread = threading.Thread(target=serve, args=(toy_run,), kwargs={"port": 0, "threads": 1}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not (servers and servers[0].started) and time.monotonic() < deadline:
            time.sleep(0.05)
        line = capsys.readouterr().out.strip()
        assert line.startswith("stgraph serve: toy-tgcn (tgcn, 3 sensors) on http://127.0.0.1:")
        assert httpx.get(line.rsplit(" ", 1)[1] + "/health").json()["status"] == "ok"
    finally:
        if servers:
            servers[0].should_exit = True
        thread.join(timeout=30)
        torch.set_num_threads(threads)
    assert not thread.is_alive()


def _exits(self, sockets=None):
    raise SystemExit(1)  # what uvicorn does when the port is taken


@pytest.mark.parametrize("run", [lambda self, sockets=None: None, _exits], ids=["returns", "exits"])
def test_serve_says_when_the_server_did_not_start(toy_run, monkeypatch, run):
    monkeypatch.setattr(server_module._Server, "run", run)
    with pytest.raises(ConfigError, match=r"could not serve on 127\.0\.0\.1:8000 \(see the message above\)"):
        serve(toy_run)


def test_only_the_serve_command_itself_restarts_with_sleeping_threads():
    from stgraph.cli.serve_cmd import _launched_as_serve

    assert _launched_as_serve(["/venv/bin/stgraph", "serve", "runs/a"])
    assert _launched_as_serve(["/repo/stgraph/__main__.py", "-v", "serve", "runs/a", "--port", "0"])
    assert not _launched_as_serve(["/venv/bin/pytest", "-k", "serve"])  # a test run naming serve
    assert not _launched_as_serve(["/venv/bin/stgraph", "predict", "serve"])  # a run directory called serve
    assert not _launched_as_serve([])
