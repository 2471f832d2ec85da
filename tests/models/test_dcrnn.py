"""DCRNN: scheduled sampling, diffusion variants, the fused path against the per-cell
definition, weight names, parameter count."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stgraph import SensorGraph
from stgraph.models import DCRNN

SENSORS = 5


@pytest.fixture(scope="module")
def graph() -> SensorGraph:
    rng = np.random.default_rng(3)
    return SensorGraph(rng.uniform(0.1, 1.0, (SENSORS, SENSORS)) * (rng.random((SENSORS, SENSORS)) < 0.5))


def _model(**kwargs) -> DCRNN:
    torch.manual_seed(0)
    return DCRNN(num_sensors=SENSORS, in_features=2, lookback=6, horizon=4, hidden=6, **kwargs)


def test_teacher_forcing_feeds_the_true_previous_step(graph):
    model = _model().train()
    x = torch.randn(2, 6, SENSORS, 2)
    target = torch.randn(2, 4, SENSORS, 1)
    forced = model(x, graph, target=target, teacher_forcing=1.0)
    changed = target.clone()
    changed[:, 1] += 1.0
    forced_changed = model(x, graph, target=changed, teacher_forcing=1.0)
    # Steps 0 and 1 never see target[:, 1]; step 2 is fed it.
    assert torch.equal(forced_changed[:, :2], forced[:, :2])
    assert not torch.allclose(forced_changed[:, 2], forced[:, 2])

    free = model(x, graph)
    assert torch.equal(model(x, graph, target=target, teacher_forcing=0.0), free)
    assert not torch.allclose(forced[:, 1:], free[:, 1:])
    assert torch.equal(forced[:, 0], free[:, 0])  # the first step starts from the GO symbol either way


def test_evaluation_mode_never_uses_the_target(graph):
    model = _model().eval()
    x = torch.randn(2, 6, SENSORS, 2)
    target = torch.randn(2, 4, SENSORS, 1)
    assert torch.equal(model(x, graph, target=target, teacher_forcing=1.0), model(x, graph))


def test_partial_teacher_forcing_draws_per_step(graph):
    # With p = 0.5 some of 30 forward passes must differ from both extremes.
    model = _model().train()
    x = torch.randn(1, 6, SENSORS, 2)
    target = torch.randn(1, 4, SENSORS, 1)
    free = model(x, graph)
    forced = model(x, graph, target=target, teacher_forcing=1.0)
    torch.manual_seed(7)
    outcomes = {
        (torch.equal(out, free), torch.equal(out, forced))
        for out in (model(x, graph, target=target, teacher_forcing=0.5) for _ in range(30))
    }
    assert (False, False) in outcomes and (True, False) in outcomes and (False, True) in outcomes
    with pytest.raises(ValueError, match="teacher_forcing must be a probability"):
        model(x, graph, target=target, teacher_forcing=1.5)


def test_reference_and_power_variants_share_weights_but_differ(graph):
    reference = _model().eval()
    power = _model(variant="power").eval()
    power.load_state_dict(reference.state_dict())
    x = torch.randn(2, 6, SENSORS, 2)
    assert not torch.allclose(reference(x, graph), power(x, graph))
    with pytest.raises(ValueError, match="unknown diffusion variant 'chebyshev'"):
        _model(variant="chebyshev")


@pytest.mark.parametrize("teacher_forcing", [0.0, 1.0])
@pytest.mark.parametrize("per_cell", [{"fused": False}, {"checkpoint": True}])
def test_shared_diffusion_between_layers_changes_nothing(graph, per_cell, teacher_forcing):
    # The per-cell path (fused=False, and checkpoint=True, which recomputes it) steps every
    # cell on its own, as the paper writes it; the default (FusedGraphGRU) shares each state's
    # diffusion with the layer above and the next step. Same forecasts and gradients, through
    # three layers (a middle layer both receives and passes on shared terms), decoding from
    # its own forecasts or from the target.
    shared = _model(num_layers=3).double().train()
    separate = _model(num_layers=3, **per_cell).double().train()
    separate.load_state_dict(shared.state_dict())
    assert shared.fused and not separate.fused
    x = torch.randn(2, 6, SENSORS, 2, dtype=torch.float64)
    target = torch.randn(2, 4, SENSORS, 1, dtype=torch.float64)
    grads = []
    for model in (shared, separate):
        out = model(x, graph, target=target, teacher_forcing=teacher_forcing)
        grads.append([out.detach(), *torch.autograd.grad((out - target).abs().mean(), list(model.parameters()))])
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert all(cell.checkpoint == per_cell.get("checkpoint", False) for cell in separate.encoder)


def test_weight_names_are_those_of_earlier_model_files():
    # model.pt files of earlier runs load by these names: one GraphGRUCell per layer in the
    # encoder and the decoder, the decoder's projection.
    cell = ["gates.linear.weight", "candidate.linear.weight", "gate_bias", "candidate_bias"]
    names = [f"{stack}.{layer}.{name}" for stack in ("encoder", "decoder") for layer in (0, 1) for name in cell]
    assert sorted(DCRNN(num_sensors=3, in_features=2).state_dict()) == sorted([*names, "projection.weight"])


def _reference_parameter_count(in_features: int, hidden: int, layers: int, order: int, out_channels: int) -> int:
    """Variables of liyaguang/DCRNN (dual_random_walk): per DCGRU, gate weights
    [(input + hidden) * (2 order + 1), 2 hidden] + biases, candidate weights
    [(input + hidden) * (2 order + 1), hidden] + biases; decoder projection [hidden, out]."""
    matrices = 2 * order + 1

    def dcgru(inputs: int) -> int:
        size = (inputs + hidden) * matrices
        return size * 2 * hidden + 2 * hidden + size * hidden + hidden

    encoder = dcgru(in_features) + (layers - 1) * dcgru(hidden)
    decoder = dcgru(out_channels) + (layers - 1) * dcgru(hidden) + hidden * out_channels
    return encoder + decoder


def test_parameter_count_matches_the_reference_code():
    model = DCRNN(num_sensors=207, in_features=2)
    count = sum(p.numel() for p in model.parameters())
    assert count == _reference_parameter_count(2, 64, 2, 2, 1) == 372_352
    # Count reported for the reference code with 87 sensors and one input feature
    # (xlwang233/pytorch-DCRNN issue 3): 371,392.
    assert sum(p.numel() for p in DCRNN(num_sensors=87, in_features=1).parameters()) == 371_392
