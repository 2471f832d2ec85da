"""The peer comparison of the speed benchmark: tables on fake results, the paths taken without
the peers, and (when PyTorch Geometric Temporal / Torch Spatiotemporal / BasicTS import) each peer model's
forecast shape on a tiny graph."""

import importlib.util
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from benchmarks.speed.model_step import PAPER_CONFIGS, STEPS_PER_DAY, window_inputs
from benchmarks.speed.peer_models import PEER_MODELS, _calendar, _graph_model, build_peer
from benchmarks.speed.peers import (
    against_peers,
    against_quoted,
    measure_peer,
    measure_peer_isolated,
    probe_interpreter,
)
from stgraph import SensorGraph
from stgraph.errors import ShapeError


def _result(model, train, infer, peak, graph="metr-la", **peer):
    return {
        "model": model,
        "graph": graph,
        "train_samples_per_s": train,
        "infer_samples_per_s": infer,
        "peak_memory_mb": peak,
        **peer,
    }


def _ring(sensors=5):
    ring = sp.csr_matrix((np.ones(sensors), (np.arange(sensors), (np.arange(sensors) + 1) % sensors)), shape=(sensors, sensors))
    return SensorGraph(ring + 0.5 * ring.T, [f"s{i}" for i in range(sensors)], name="ring")


def test_against_peers_ranks_by_training_speed_and_judges_the_fastest():
    ours = [_result("stgcn", 100.0, 400.0, 300.0), _result("dcrnn", 10.0, 40.0, 600.0)]
    peers = [
        _result("stgcn", 5.0, 20.0, 1500.0, library="PGT", implementation="STConv"),
        _result("stgcn", 8.0, 10.0, 1200.0, library="tsl", implementation="STCNModel"),
        _result("stgcn", 50.0, 10.0, 100.0, graph="knn-2000", library="tsl", implementation="STCNModel"),  # other graph
        _result("dcrnn", 4.0, 8.0, 900.0, library="tsl", implementation="DCRNNModel"),
    ]
    lines = against_peers(ours, peers)
    rows = [line for line in lines if line.startswith("| stgcn")]
    # fastest first; ratios ours/peer for speed, peer/ours for memory, computed by hand
    assert rows == [
        "| stgcn | metr-la | tsl: STCNModel | 100.00 | 8.00 | 12.50x | 40.00x | 300 | 1200 | 4.00x |",
        "| stgcn | metr-la | PGT: STConv | 100.00 | 5.00 | 20.00x | 20.00x | 300 | 1500 | 5.00x |",
    ]
    verdicts = [line for line in lines if line.startswith("- ")]
    assert verdicts == [
        "- **stgcn** on metr-la: 12.50x the fastest peer (tsl: STCNModel), target 10x: met; "
        "its peak memory is 4.00x ours, target 3x: met",
        "- **dcrnn** on metr-la: 2.50x the fastest peer (tsl: DCRNNModel), target 5x: not met; "
        "its peak memory is 1.50x ours, target 3x: not met",
    ]


def test_against_peers_without_isolated_memory_prints_no_memory_ratio():
    lines = against_peers(
        [_result("graph_wavenet", 6.0, 12.0, 900.0)],
        [_result("graph_wavenet", 3.0, 4.0, 900.0, library="tsl", implementation="GraphWaveNetModel")],
        memory_comparable=False,
    )
    assert lines[2].endswith("| 900 | 900 | n/a |")
    assert lines[-1] == "- **graph_wavenet** on metr-la: 2.00x the fastest peer (tsl: GraphWaveNetModel), target 5x: not met"


def test_against_peers_skips_models_no_peer_ran():
    other_model = _result("dcrnn", 4.0, 8.0, 900.0, library="tsl", implementation="DCRNNModel")
    lines = against_peers([_result("stgcn", 100.0, 400.0, 300.0)], [other_model])
    assert len(lines) == 2 and lines[0].startswith("| model | graph | peer |")  # the header, no row, no verdict


def test_against_quoted_uses_the_fastest_quote_on_metr_la_only():
    lines = against_quoted([_result("stgcn", 53.0, 0, 0), _result("dcrnn", 6.0, 0, 0, graph="knn-2000")])
    assert lines[2:] == ["| stgcn | 53.00 | PyTorch Geometric Temporal: 5.3 | 10.00x | 10x |"]


def test_missing_peer_interpreter_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"peer interpreter .*nowhere/python not found"):
        probe_interpreter(str(tmp_path / "nowhere" / "python"))


def test_unknown_peer_configuration_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown peer configuration 'pgt-gwnet'; available: pgt-stgcn"):
        measure_peer("pgt-gwnet", "knn-40")


class _Echo(nn.Module):
    """A stand-in peer: returns its input's first feature, or the input itself."""

    def __init__(self, first_feature_only: bool) -> None:
        super().__init__()
        self.first_feature_only = first_feature_only
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x, edge_index, edge_weight):
        assert edge_index.shape == (2, edge_weight.numel())  # the wrapper passes PyG's edge tensors
        return self.scale * (x[..., :1] if self.first_feature_only else x)


def test_peer_wrapper_checks_input_and_forecast_shapes():
    graph = _ring()
    _, forecast = _graph_model(lambda g, features: _Echo(True), "echo")(graph, 2)
    x = torch.randn(3, 12, 5, 2)
    torch.testing.assert_close(forecast(x), x[..., :1])
    expected = r"echo expects x as \[batch, time, nodes, features\] = \[batch, 12, 5, 2\]; got \[3, 12, 4, 2\]"
    with pytest.raises(ShapeError, match=expected):
        forecast(x[:, :, :4])
    _, forecast = _graph_model(lambda g, features: _Echo(False), "echo")(graph, 2)
    with pytest.raises(ShapeError, match=r"echo returned \[3, 12, 5, 2\]; expected \[3, 12, 5, 1\]"):
        forecast(x)


@pytest.mark.skipif(importlib.util.find_spec("tsl") is not None, reason="Torch Spatiotemporal is installed here")
def test_peer_subprocess_reports_the_missing_library():
    with pytest.raises(RuntimeError, match="No module named 'tsl'"):
        measure_peer_isolated("tsl-dcrnn", "knn-40", batch=2, steps=1, warmup=0)


def test_peer_subprocess_measures_a_peer_like_ours():
    pytest.importorskip("tsl")
    result = measure_peer_isolated("tsl-dcrnn", "knn-40", batch=2, steps=1, warmup=0, threads=1)
    assert (result.model, result.peer, result.library, result.sensors, result.batch) == (
        "dcrnn",
        "tsl-dcrnn",
        "Torch Spatiotemporal",
        40,
        2,
    )
    assert result.python == sys.executable and result.parameters > 0
    assert result.train_gflop_per_sample > result.infer_gflop_per_sample > 0


def test_peer_calendar_reads_the_benchmark_windows_back():
    torch.manual_seed(3)
    x = window_inputs(4, 5, 3)
    slot, day = _calendar(x)
    # consecutive 5-minute steps of the week: the slot advances by one, past midnight the day too
    step = day * STEPS_PER_DAY + slot
    assert torch.equal((step - step[:, :1]) % (7 * STEPS_PER_DAY), torch.arange(12).expand(4, -1))
    assert torch.equal(x[:, :, 0, 1], x[:, :, 4, 1]) and torch.equal(x[..., 2], x[..., 2].round())  # one calendar
    assert slot.dtype == day.dtype == torch.int64 and int(slot.max()) < STEPS_PER_DAY and int(day.max()) <= 6


@pytest.mark.parametrize("key", list(PEER_MODELS))
def test_peer_models_forecast_every_horizon_step(key):
    spec = PEER_MODELS[key]
    pytest.importorskip(spec.package)
    graph = _ring()
    in_features = PAPER_CONFIGS[spec.model]["in_features"]
    torch.manual_seed(0)
    module, forecast = build_peer(key, graph, in_features)
    out = forecast(window_inputs(2, 5, in_features))
    assert out.shape == (2, 12, 5, 1)
    out.abs().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters() if p.grad is not None)
    assert sum(p.grad is not None for p in module.parameters()) > 0


def test_newer_models_get_the_3x_speed_target_and_no_memory_target():
    lines = against_peers(
        [_result("mtgnn", 70.0, 260.0, 1600.0)],
        [_result("mtgnn", 50.0, 200.0, 1700.0, library="PGT", implementation="MTGNN")],
    )
    assert (
        lines[-1]
        == "- **mtgnn** on metr-la: 1.40x the fastest peer (PGT: MTGNN), target 3x: not met; its peak memory is 1.06x ours"
    )
