import numpy as np
import pytest
import scipy.sparse as sp
import torch

from stgraph.impute import impute, linear_in_time, point_missing
from stgraph.impute.learned import ImputerSettings, learned_impute


@pytest.fixture
def walk():
    """Four sensors following one random walk, 5 mph apart; a quarter of the readings hidden."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    values = 50 + np.cumsum(rng.normal(0, 1, 200))[:, None] + 5.0 * np.arange(4)
    observed = np.ones(values.shape, dtype=bool)
    hidden = point_missing(observed, seed=1)
    adjacency = sp.csr_matrix(np.ones((4, 4)) - np.eye(4))
    return values, observed & ~hidden, hidden, adjacency


def test_untrained_imputer_is_linear_interpolation(walk):
    values, inputs, _, adjacency = walk
    filled = learned_impute(values, inputs, adjacency, "5min", settings=ImputerSettings(steps=0))
    np.testing.assert_allclose(filled, linear_in_time(values, inputs), atol=1e-9)


def test_training_on_masked_readings_beats_linear_on_the_hidden_ones(walk):
    values, inputs, hidden, adjacency = walk
    settings = ImputerSettings(steps=600, crop=200, hidden=16, lr=1e-2)
    filled = learned_impute(values, inputs, adjacency, "5min", settings=settings)
    linear_mae = np.abs(linear_in_time(values, inputs) - values)[hidden].mean()
    learned_mae = np.abs(filled - values)[hidden].mean()
    assert learned_mae < 0.97 * linear_mae
    np.testing.assert_array_equal(filled[inputs], values[inputs])  # observed readings untouched


def test_learned_needs_the_interval_and_the_graph(walk):
    values, inputs, _, adjacency = walk
    with pytest.raises(ValueError, match="needs the readings' interval"):
        impute("learned", values[..., None], inputs[..., None], adjacency=adjacency)
    with pytest.raises(ValueError, match="learned needs a sensor graph"):
        impute("learned", values[..., None], inputs[..., None], interval="5min")
