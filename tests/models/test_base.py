"""The contract every registered model keeps, checked on tiny configurations of each.

Shapes and dtypes, input validation messages, sensor-permutation equivariance (graph models),
independence of batch samples, and rebuilding from the registry name + ``init_kwargs`` with a
``state_dict`` round trip.
"""

from __future__ import annotations

import inspect
import io
import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from stgraph import SensorGraph
from stgraph.errors import ShapeError
from stgraph.models import TGCN, available, create, get, name_of

SENSORS = 7
FEATURES = 2
HORIZON = 4
SMALL = {
    "agcrn": {"embedding_dim": 3, "hidden": 8},
    "d2stgnn": {
        "hidden": 8,
        "embedding_dim": 3,
        "calendar_dim": 2,
        "layers": 2,
        "heads": 2,
        "gate_hidden": 4,
        "forecast_dim": 8,
        "output_hidden": 8,
        "steps_per_day": 24,
        "time_of_day_feature": 1,
    },
    "stgcn": {"channels": [[8, 4, 8], [8, 4, 8]]},
    "dcrnn": {"hidden": 8},
    "graph_wavenet": {"residual_channels": 8, "dilation_channels": 8, "skip_channels": 16, "end_channels": 16},
    "tgcn": {"hidden": 8},
    "fc_lstm": {"hidden": 8},
    "mtgnn": {
        "neighbors": 3,
        "embedding_dim": 4,
        "conv_channels": 8,
        "residual_channels": 8,
        "skip_channels": 8,
        "end_channels": 16,
    },
    "staeformer": {
        "input_embedding_dim": 4,
        "time_of_day_dim": 4,
        "adaptive_embedding_dim": 4,
        "feed_forward_dim": 8,
        "heads": 2,
        "temporal_layers": 1,
        "spatial_layers": 1,
        "time_of_day_feature": 1,
    },
    "gman": {"layers": 1, "heads": 2, "head_dim": 4, "spatial_dim": 4, "steps_per_day": 24, "time_of_day_feature": 1},
    "stid": {"embedding_dim": 8, "sensor_dim": 4, "time_of_day_dim": 4, "day_of_week_dim": 4, "time_of_day_feature": 1},
}
GRAPH_MODELS = ["stgcn", "dcrnn", "graph_wavenet", "tgcn"]


def _build(name: str, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    kwargs = {"num_sensors": SENSORS, "in_features": FEATURES, "out_channels": 1, "lookback": 12, "horizon": HORIZON}
    kwargs.update(SMALL[name])
    kwargs.update(overrides)
    return create(name, **kwargs)


@pytest.fixture(scope="module")
def graph() -> SensorGraph:
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.1, 1.0, (SENSORS, SENSORS)) * (rng.random((SENSORS, SENSORS)) < 0.4)
    np.fill_diagonal(weights, 1.0)
    return SensorGraph(weights, [f"s{i}" for i in range(SENSORS)])


def _x(batch: int = 3, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(batch, 12, SENSORS, FEATURES, generator=torch.Generator().manual_seed(1), dtype=dtype)


def test_registry_covers_the_zoo():
    assert available() == sorted(SMALL)
    assert type(create("gwnet", num_sensors=3, in_features=1)).__name__ == "GraphWaveNet"
    with pytest.raises(ValueError, match="unknown model 'wavenet'; available: agcrn, d2stgnn, dcrnn, fc_lstm, gman"):
        create("wavenet", num_sensors=3, in_features=1)


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_shape_and_dtype(name, dtype, graph):
    model = _build(name).to(dtype)
    out = model(_x(dtype=dtype), graph)
    assert out.shape == (3, HORIZON, SENSORS, 1)
    assert out.dtype == dtype
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_several_output_channels(name, graph):
    out = _build(name, out_channels=3)(_x(), graph)
    assert out.shape == (3, HORIZON, SENSORS, 3)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_input_shape_errors_name_the_model_and_the_shape(name, graph):
    model = _build(name)
    cls = type(model).__name__
    layout = r"\[batch, time, nodes, features\]"
    with pytest.raises(ShapeError, match=rf"{cls} expects x as {layout} with time == lookback \(12\); got \[3, 12, 7\]"):
        model(torch.randn(3, 12, SENSORS), graph)
    with pytest.raises(ShapeError, match=r"time == lookback \(12\); got \[3, 10, 7, 2\]"):
        model(torch.randn(3, 10, SENSORS, FEATURES), graph)
    with pytest.raises(ShapeError, match=r"nodes == num_sensors \(7\); got \[3, 12, 6, 2\]"):
        model(torch.randn(3, 12, SENSORS - 1, FEATURES), graph)
    with pytest.raises(ShapeError, match=r"features == in_features \(2\); got \[3, 12, 7, 3\]"):
        model(torch.randn(3, 12, SENSORS, 3), graph)
    with pytest.raises(ShapeError, match=f"{cls} was built for 7 sensors; the graph has 6"):
        model(_x(), SensorGraph(np.eye(SENSORS - 1)))


@pytest.mark.parametrize("name", ["dcrnn", "fc_lstm"])
def test_target_shape_is_checked(name, graph):
    with pytest.raises(ShapeError, match=r"target as \[batch, horizon, nodes, channels\] = \[3, 4, 7, 1\]; got \[3, 12, 7, 1\]"):
        _build(name)(_x(), graph, target=torch.zeros(3, 12, SENSORS, 1))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_constructor_rejects_bad_contract_values(name):
    with pytest.raises(ValueError, match="horizon must be a positive integer, got 0"):
        _build(name, horizon=0)


@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_graph_may_be_scipy_numpy_or_torch(name, graph):
    model = _build(name).eval()
    x = _x()
    expected = model(x, graph)
    for adjacency in (graph.adjacency, graph.adjacency.toarray(), torch.tensor(graph.adjacency.toarray())):
        torch.testing.assert_close(model(x, adjacency), expected, rtol=1e-5, atol=1e-6)


def _indexed_by_sensor(name: str, param: torch.Tensor) -> bool:
    """STGCN's per-sensor layer norms and output bias, Graph WaveNet's adaptive embeddings."""
    return ("norm" in name and param.ndim == 2) or name == "output_bias" or "embedding" in name


def _relabelled_state(model: torch.nn.Module, order: np.ndarray) -> dict[str, torch.Tensor]:
    """``model``'s state with its per-sensor parameters in the new sensor ``order``. They are
    randomised first, so the check cannot pass merely because they start out constant."""
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if _indexed_by_sensor(name, param):
                assert param.shape[0] == SENSORS, name
                param.copy_(torch.randn(param.shape, generator=generator))
    index = torch.as_tensor(order)
    return {
        name: value[index].clone() if _indexed_by_sensor(name, value) else value for name, value in model.state_dict().items()
    }


@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_relabelling_sensors_permutes_the_forecast(name, graph):
    model = _build(name).eval()
    order = np.array([3, 0, 6, 1, 5, 2, 4])
    relabelled = _build(name).eval()
    relabelled.load_state_dict(_relabelled_state(model, order))

    x = _x()
    out = model(x, graph)
    out_relabelled = relabelled(x[:, :, order], graph.permute(order))
    torch.testing.assert_close(out_relabelled, out[:, :, order], rtol=1e-4, atol=1e-5)
    # The graph matters: the same input over another graph gives another forecast.
    other = SensorGraph(sp.identity(SENSORS, format="csr"))
    assert not torch.allclose(model(x, other), out, atol=1e-4)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_batch_samples_do_not_influence_each_other(name, graph):
    model = _build(name).eval()
    x = _x(batch=4)
    out = model(x, graph)
    x_changed = x.clone()
    x_changed[1:] = torch.randn(3, 12, SENSORS, FEATURES)
    out_changed = model(x_changed, graph)
    torch.testing.assert_close(out_changed[0], out[0], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(out_changed[1:], out[1:])
    # A batch of one gives the same forecast as that sample inside a batch.
    torch.testing.assert_close(model(x[:1], graph), out[:1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_rebuild_from_registry_name_init_kwargs_and_state_dict(name, graph):
    model = _build(name, horizon=3)
    with torch.no_grad():  # move away from the initial values so a fresh model would differ
        for param in model.parameters():
            param.add_(0.01 * torch.randn_like(param))
    model.eval()
    checkpoint = {"name": name_of(model), "init_kwargs": model.init_kwargs, "state_dict": model.state_dict()}
    json.dumps(checkpoint["init_kwargs"])  # plain values only
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)

    rebuilt = create(loaded["name"], **loaded["init_kwargs"])
    rebuilt.load_state_dict(loaded["state_dict"])
    rebuilt.eval()
    x = _x()
    assert torch.equal(rebuilt(x, graph), model(x, graph))
    fresh = create(name, **loaded["init_kwargs"]).eval()
    assert not torch.equal(fresh(x, graph), model(x, graph))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_first_and_last_input_steps_reach_the_forecast(name, graph):
    model = _build(name).eval()
    x = _x()
    out = model(x, graph)
    for step in (0, 11):
        moved = x.clone()
        moved[:, step] += 1.0
        assert not torch.allclose(model(moved, graph), out), f"input step {step} is ignored"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_parameter_gets_a_gradient(name, graph):
    model = _build(name).train()
    model(_x(), graph).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"parameters without gradient: {missing}"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_init_kwargs_record_every_constructor_argument_with_its_default(name):
    model = _build(name)
    parameters = inspect.signature(type(model)).parameters
    assert list(model.init_kwargs) == list(parameters)
    given = {
        "num_sensors": SENSORS,
        "in_features": FEATURES,
        "out_channels": 1,
        "lookback": 12,
        "horizon": HORIZON,
        **SMALL[name],
    }
    for key, parameter in parameters.items():
        assert model.init_kwargs[key] == given.get(key, parameter.default), key
    record = model.init_kwargs
    record["horizon"] = 99  # a copy: the model's record is unchanged
    assert model.init_kwargs["horizon"] == HORIZON


def test_a_subclass_records_its_own_call_and_positional_arguments_are_refused():
    class ScaledTGCN(TGCN):
        def __init__(self, *, scale: float = 2.0, **kwargs) -> None:
            super().__init__(**kwargs)
            self.scale = scale

    model = ScaledTGCN(num_sensors=3, in_features=1, hidden=4)
    assert model.init_kwargs == {"scale": 2.0, "num_sensors": 3, "in_features": 1, "hidden": 4}
    assert type(model)(**model.init_kwargs).cell.hidden == 4
    with pytest.raises(TypeError, match="keyword-only arguments; \\['hidden'\\] are not"):

        class Positional(TGCN):
            def __init__(self, hidden: int, **kwargs) -> None:
                super().__init__(hidden=hidden, **kwargs)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_target_reaches_the_forecast_only_for_models_accepting_teacher_forcing(name, graph):
    model = _build(name).train()
    x = _x()
    target = torch.randn(3, HORIZON, SENSORS, 1, generator=torch.Generator().manual_seed(2))
    outputs = []
    for kwargs in ({}, {"target": target, "teacher_forcing": 1.0}):
        torch.manual_seed(3)  # the same dropout masks in both passes
        outputs.append(model(x, graph, **kwargs))
    assert torch.equal(*outputs) is not type(model).accepts_teacher_forcing
    assert {n for n in available() if get(n).accepts_teacher_forcing} == {"dcrnn", "fc_lstm"}
