"""Sensor-batched training: full-graph evaluation unchanged, the whole graph as one batch trains
as without the option, only the sampled sensors' parameters move, clear refusals."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from stgraph import models
from stgraph.data.windows import WindowDataset
from stgraph.errors import ConfigError, ShapeError
from stgraph.graph import SensorGraph
from stgraph.graph.sampling import SubgraphSampler
from stgraph.pipeline.config import DataConfig, ExperimentConfig, ModelConfig, TrainingConfig
from stgraph.pipeline.data import window_loader
from stgraph.train.module import ForecastModule

pytestmark = [
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
    pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`"),
]

SENSORS, LOOKBACK, HORIZON = 30, 12, 3
# small widths, no dropout (a permutation of the sensors draws other masks)
OPTIONS = {
    "stgcn": {"channels": ((4, 2, 4), (4, 2, 4))},
    "graph_wavenet": {"residual_channels": 4, "dilation_channels": 4, "skip_channels": 8, "end_channels": 8, "dropout": 0.0},
    "stid": {"embedding_dim": 4, "sensor_dim": 4, "layers": 1, "dropout": 0.0},
}


def ring_graph() -> SensorGraph:
    """30 sensors on a ring, each linked to the next two, weights varying."""
    adjacency = sp.lil_matrix((SENSORS, SENSORS))
    for i in range(SENSORS):
        adjacency[i, (i + 1) % SENSORS] = 1.0 + 0.03 * i
        adjacency[i, (i + 2) % SENSORS] = 0.5
    return SensorGraph(adjacency.tocsr())


def batch(seed: int = 0, size: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(size, LOOKBACK, SENSORS, 1, generator=g)
    y = 50 + 5 * torch.randn(size, HORIZON, SENSORS, 1, generator=g)
    mask = torch.rand(y.shape, generator=g) > 0.1
    return x, y, mask


def module(name: str, sensor_batch: dict | None, *, per_sensor: bool = False, seed: int = 0) -> ForecastModule:
    torch.manual_seed(seed)
    model = models.create(name, num_sensors=SENSORS, in_features=1, lookback=LOOKBACK, horizon=HORIZON, **OPTIONS[name])
    mean = torch.linspace(40, 60, SENSORS)[:, None] if per_sensor else torch.tensor([50.0])
    std = torch.linspace(2, 8, SENSORS)[:, None] if per_sensor else torch.tensor([5.0])
    return ForecastModule(model, ring_graph(), mean, std, TrainingConfig(sensor_batch=sensor_batch))


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_validation_on_the_full_graph_is_unchanged_by_the_option(name):
    plain = module(name, None)
    batched = module(name, {"sensors": 8, "hops": 1})
    batched.model.load_state_dict(plain.model.state_dict())
    values = np.random.default_rng(1).normal(50, 5, size=(40, SENSORS, 1)).astype(np.float32)
    loader = window_loader(
        WindowDataset((values, np.ones_like(values, bool)), lookback=LOOKBACK, horizon=HORIZON), batch_size=8, shuffle=False
    )
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    [plain_metrics] = trainer.validate(plain, loader, verbose=False)
    [batched_metrics] = trainer.validate(batched, loader, verbose=False)
    assert batched_metrics["val_mae"] == plain_metrics["val_mae"]
    x, _, _ = batch()
    torch.testing.assert_close(batched.eval()(x), plain.eval()(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_a_sensor_batch_of_the_whole_graph_trains_as_without_the_option(name):
    """All 30 sensors in one subgraph (in breadth-first order, all of them seeds): the same loss
    and gradients as the full graph, so the option changes what a step sees, nothing else.
    Per-sensor target statistics check that they follow the subgraph's order."""
    plain = module(name, None, per_sensor=True)
    whole = module(name, {"sensors": SENSORS, "hops": 0}, per_sensor=True)
    whole.model.load_state_dict(plain.model.state_dict())
    positions = whole.sampler.sample(0).positions
    assert sorted(positions.tolist()) == list(range(SENSORS)) and positions.tolist() != list(range(SENSORS))
    for part in (plain, whole):
        part.train()
        part.training_step(batch(), 0).backward()
    for (key, p), q in zip(plain.model.named_parameters(), whole.model.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=key)


@pytest.mark.parametrize(
    ("name", "embeddings"),
    [
        ("stid", ["sensor_embedding"]),
        ("graph_wavenet", ["adaptive.source_embedding", "adaptive.target_embedding"]),
        ("stgcn", ["output_bias", "blocks.0.norm.weight", "output_norm.bias"]),
    ],
)
def test_a_step_touches_only_the_sampled_sensors_rows(name, embeddings):
    batched = module(name, {"sensors": 8, "hops": 1})
    before = {key: p.detach().clone() for key, p in batched.model.named_parameters()}
    optimizer = torch.optim.Adam(batched.model.parameters(), lr=0.01)
    batched.train()
    batched.training_step(batch(), 0).backward()
    optimizer.step()
    sampled = np.zeros(SENSORS, dtype=bool)
    sampled[batched.sampler.sample(0).positions] = True
    parameters = dict(batched.model.named_parameters())
    for key in embeddings:
        grad = parameters[key].grad
        assert grad is not None and grad.shape[0] == SENSORS
        assert (grad[torch.from_numpy(~sampled)] == 0).all(), key
        assert (grad[torch.from_numpy(sampled)] != 0).any(dim=-1).sum() > 0, key
        moved = (parameters[key].detach() != before[key]).any(dim=-1).numpy()
        assert not moved[~sampled].any(), key  # a fresh Adam moves no row without a gradient
        assert moved[sampled].any(), key


def test_the_loss_is_taken_on_the_seeds_only():
    batched = module("stid", {"sensors": 10, "hops": 1})
    sub = batched.sampler.sample(0)
    x, y, mask = batch()
    scored = torch.zeros(SENSORS, dtype=torch.bool)
    scored[torch.from_numpy(sub.positions[sub.seeds])] = True
    y_far = y.clone()
    y_far[:, :, ~scored] = 1e6  # targets of non-seed sensors must not count
    batched.train()
    assert batched.training_step((x, y_far, mask), 0).item() == pytest.approx(batched.training_step((x, y, mask), 0).item())
    assert 0 < sub.seeds.size < sub.num_sensors


def test_models_that_cannot_run_on_a_subgraph_say_why():
    config = ExperimentConfig(
        data=DataConfig(dataset="sample"), model=ModelConfig(name="gman"), training=TrainingConfig(sensor_batch={"sensors": 50})
    )
    with pytest.raises(ConfigError, match=r"training.sensor_batch: gman cannot train on sensor subgraphs: its spatial attention"):
        config.validate()
    sub = SubgraphSampler(ring_graph(), sensors=8, hops=1).sample(0)
    agcrn = models.create("agcrn", num_sensors=SENSORS, in_features=1, lookback=LOOKBACK, horizon=HORIZON)
    with pytest.raises(ShapeError, match=r"AGCRN cannot train on a sensor subgraph: its learned graph"):
        agcrn(torch.zeros(1, LOOKBACK, 8, 1), sub)
    other = SubgraphSampler(SensorGraph(np.eye(8) + np.eye(8, k=1)), sensors=4, hops=0).sample(0)
    stid = models.create("stid", num_sensors=SENSORS, in_features=1, lookback=LOOKBACK, horizon=HORIZON)
    with pytest.raises(ShapeError, match=r"STID was built for 30 sensors; the subgraph was drawn from a graph of 8"):
        stid(torch.zeros(1, LOOKBACK, 4, 1), other)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2000, r"must be a mapping with sensors and hops"),
        ({"sensors": 0}, r"sensors must be a positive integer"),
        ({"sensors": 100, "hops": -1}, r"hops must be an integer >= 0"),
        ({"sensors": 100, "seeds": 3}, r"unknown key\(s\) seeds; keys: sensors, hops"),
    ],
)
def test_bad_sensor_batches_are_refused(value, message):
    with pytest.raises(ConfigError, match=message):
        TrainingConfig(sensor_batch=value).validate()


def test_hops_default_to_two():
    assert TrainingConfig(sensor_batch={"sensors": 100}).sensor_batch_size() == (100, 2)
    assert TrainingConfig().sensor_batch_size() is None


def test_the_module_draws_a_new_subgraph_each_step():
    batched = module("stid", {"sensors": 8, "hops": 1})
    draws = [batched.sampler.sample(step).positions for step in range(4)]
    assert len({tuple(d) for d in draws}) > 1


@pytest.mark.parametrize("name", ["dcrnn", "tgcn", "fc_lstm", "stid"])
def test_models_run_on_a_subgraph_and_sensor_independent_ones_match_the_full_graph(name):
    torch.manual_seed(0)
    small = {"dcrnn": {"hidden": 4, "num_layers": 1}, "tgcn": {"hidden": 4}, "fc_lstm": {"hidden": 4}, "stid": OPTIONS["stid"]}
    model = models.create(name, num_sensors=SENSORS, in_features=1, lookback=LOOKBACK, horizon=HORIZON, **small[name]).eval()
    graph = ring_graph()
    sub = SubgraphSampler(graph, sensors=9, hops=1).sample(0)
    x, _, _ = batch()
    positions = torch.from_numpy(sub.positions)
    with torch.no_grad():
        part = model(x[:, :, positions], sub)
        full = model(x, graph)
    assert part.shape == (4, HORIZON, 9, 1) and torch.isfinite(part).all()
    if name in ("fc_lstm", "stid"):  # no exchange between sensors: the subgraph's rows exactly
        torch.testing.assert_close(part, full[:, :, positions], rtol=1e-6, atol=1e-6)
