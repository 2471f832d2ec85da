"""DCRNN: scheduled sampling, its decay schedule, diffusion variants, parameter count."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stgraph import SensorGraph
from stgraph.models import DCRNN, inverse_sigmoid_decay

SENSORS = 5


@pytest.fixture(scope="module")
def graph() -> SensorGraph:
    rng = np.random.default_rng(3)
    return SensorGraph(rng.uniform(0.1, 1.0, (SENSORS, SENSORS)) * (rng.random((SENSORS, SENSORS)) < 0.5))


def _model(**kwargs) -> DCRNN:
    torch.manual_seed(0)
    return DCRNN(num_sensors=SENSORS, in_features=2, lookback=6, horizon=4, hidden=6, **kwargs)


def test_inverse_sigmoid_decay_values():
    # tau / (tau + exp(step / tau)): 2000/2001 at the start, exactly 1/2 at step tau * ln(tau).
    assert inverse_sigmoid_decay(0) == pytest.approx(2000 / 2001)
    assert inverse_sigmoid_decay(2000 * math.log(2000)) == pytest.approx(0.5)
    assert inverse_sigmoid_decay(3000, tau=1000) == pytest.approx(1000 / (1000 + math.exp(3)))
    values = [inverse_sigmoid_decay(step) for step in range(0, 40001, 1000)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert inverse_sigmoid_decay(10**9) == 0.0
    with pytest.raises(ValueError, match="tau must be positive"):
        inverse_sigmoid_decay(10, tau=0)


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


def test_shared_diffusion_between_layers_changes_nothing(graph):
    # checkpoint=True diffuses every state inside its own cell step; the default shares each
    # state's diffusion with the layer above and the next step. Same forecasts and gradients,
    # through three layers (a middle layer both receives and passes on shared terms).
    shared = _model(num_layers=3).double().train()
    separate = _model(num_layers=3, checkpoint=True).double().train()
    separate.load_state_dict(shared.state_dict())
    x = torch.randn(2, 6, SENSORS, 2, dtype=torch.float64)
    target = torch.randn(2, 4, SENSORS, 1, dtype=torch.float64)
    grads = []
    for model in (shared, separate):
        out = model(x, graph, target=target, teacher_forcing=1.0)
        grads.append([out.detach(), *torch.autograd.grad((out - target).abs().mean(), list(model.parameters()))])
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert separate.hparams["checkpoint"] is True and all(cell.checkpoint for cell in separate.encoder)


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
    print(f"DCRNN parameters, METR-LA configuration: {count:,}")
    assert count == _reference_parameter_count(2, 64, 2, 2, 1) == 372_352
    # Count reported for the reference code with 87 sensors and one input feature
    # (xlwang233/pytorch-DCRNN issue 3): 371,392.
    assert sum(p.numel() for p in DCRNN(num_sensors=87, in_features=1).parameters()) == 371_392
