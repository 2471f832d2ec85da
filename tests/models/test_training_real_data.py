"""A short training run of each model on real traffic speeds drives the loss clearly down.

Data: the committed sample (Los-loop readings = first week of METR-LA, and DCRNN's METR-LA
adjacency), restricted to 16 sensors; speed z-scored with the first four days' statistics plus
time of day as a second feature; 12 steps in, 3 out. Each model is small and takes 40 Adam
steps over 4 fixed batches; the loss is the MAE in scaled units over those windows, in
evaluation mode, before and after.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from stgraph import SensorGraph
from stgraph.models import create
from stgraph.train.schedules import inverse_sigmoid_decay

SENSORS = 16
LOOKBACK, HORIZON = 12, 3
STEPS_PER_DAY = 288
SMALL = {
    "stgcn": {"channels": [[16, 8, 16], [16, 8, 16]]},
    "dcrnn": {"hidden": 16},
    "graph_wavenet": {"residual_channels": 16, "dilation_channels": 16, "skip_channels": 32, "end_channels": 64},
    "tgcn": {"hidden": 16},
    "fc_lstm": {"hidden": 16},
}


@pytest.fixture(scope="module")
def windows(sample_dir) -> tuple[torch.Tensor, torch.Tensor, SensorGraph]:
    readings = pd.read_csv(sample_dir / "readings.csv.gz", index_col="timestamp", parse_dates=True)
    speed = readings.iloc[:, :SENSORS].to_numpy(np.float32)  # [time, sensors]
    adjacency = sp.load_npz(sample_dir / "adjacency.npz").tocsr()[:SENSORS, :SENSORS]
    graph = SensorGraph(adjacency, list(readings.columns[:SENSORS]))

    train = speed[: 4 * STEPS_PER_DAY]
    scaled = (speed - train.mean()) / train.std()
    time_of_day = (np.arange(len(speed)) % STEPS_PER_DAY) / STEPS_PER_DAY
    features = np.stack([scaled, np.broadcast_to(time_of_day[:, None], scaled.shape)], axis=-1).astype(np.float32)

    # 64 windows spread over the first four days (daytime and night), 4 batches of 16.
    starts = np.linspace(0, 4 * STEPS_PER_DAY - LOOKBACK - HORIZON, 64).astype(int)
    x = np.stack([features[s : s + LOOKBACK] for s in starts])
    y = np.stack([scaled[s + LOOKBACK : s + LOOKBACK + HORIZON, :, None] for s in starts])
    return torch.from_numpy(x), torch.from_numpy(y), graph


def _loss(model, x, y, graph) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x, graph) - y).abs().mean())


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(SMALL))
def test_short_training_run_reduces_the_loss(name, windows):
    x, y, graph = windows
    torch.manual_seed(0)
    model = create(name, num_sensors=SENSORS, in_features=2, lookback=LOOKBACK, horizon=HORIZON, **SMALL[name])
    before = _loss(model, x, y, graph)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(40):
        batch = slice(16 * (step % 4), 16 * (step % 4 + 1))
        model.train()
        optimizer.zero_grad()
        forecast = model(x[batch], graph, target=y[batch], teacher_forcing=inverse_sigmoid_decay(step, tau=10.0))
        (forecast - y[batch]).abs().mean().backward()
        optimizer.step()
    after = _loss(model, x, y, graph)
    print(f"{name}: MAE (scaled) {before:.3f} -> {after:.3f}")
    assert after < 0.5 * before
