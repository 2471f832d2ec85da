"""Activation checkpointing of a model's blocks: the same values, gradients and running statistics."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from stgraph import models
from stgraph.graph import SensorGraph
from stgraph.nn import block_lists, checkpointed_blocks


@pytest.fixture
def graph() -> SensorGraph:
    rng = np.random.default_rng(0)
    adjacency = (rng.random((12, 12)) < 0.3) * rng.random((12, 12))
    return SensorGraph(adjacency)


def _gradients(model: nn.Module, x: torch.Tensor, graph: SensorGraph, checkpointing: bool) -> tuple[torch.Tensor, dict]:
    model.zero_grad()
    torch.manual_seed(5)  # dropout draws
    if checkpointing:
        with checkpointed_blocks(model):
            out = model(x, graph)
    else:
        out = model(x, graph)
    (out**2).mean().backward()
    return out.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("stgcn", {"channels": ((8, 4, 8), (8, 4, 8)), "dropout": 0.2}),
        ("graph_wavenet", {"residual_channels": 8, "dilation_channels": 8, "skip_channels": 16, "end_channels": 16}),
    ],
)
def test_gradients_equal_without_checkpointing(graph, name, options):
    torch.manual_seed(0)
    model = models.create(name, num_sensors=12, in_features=2, **options).train()
    twin = copy.deepcopy(model)
    x = torch.randn(3, 12, 12, 2)
    out, plain = _gradients(model, x, graph, checkpointing=False)
    out_checkpointed, checkpointed = _gradients(twin, x, graph, checkpointing=True)
    torch.testing.assert_close(out_checkpointed, out, rtol=0, atol=0)
    assert plain.keys() == checkpointed.keys() and len(plain) == len(list(model.parameters()))
    for key in plain:
        torch.testing.assert_close(checkpointed[key], plain[key], rtol=1e-6, atol=1e-7, msg=key)
    # batch norm's running statistics are updated once, not again by the recomputation
    for (key, buffer), (_, twin_buffer) in zip(model.named_buffers(), twin.named_buffers()):
        torch.testing.assert_close(twin_buffer, buffer, rtol=0, atol=0, msg=key)


def test_the_model_stays_a_plain_module(graph):
    model = models.create("stgcn", num_sensors=12, in_features=2)
    keys = list(model.state_dict())
    with checkpointed_blocks(model):
        assert all("forward" in vars(block) for block in model.blocks)
        assert list(model.state_dict()) == keys
    assert all("forward" not in vars(block) for block in model.blocks)
    assert [type(b).__name__ for b in block_lists(model)] == ["STConvBlock", "STConvBlock"]


def test_evaluation_and_no_grad_run_the_blocks_directly(graph, monkeypatch):
    model = models.create("stgcn", num_sensors=12, in_features=2)
    x = torch.randn(2, 12, 12, 2)
    expected = model.eval()(x, graph)
    monkeypatch.setattr("stgraph.nn.checkpointing.checkpoint", lambda *a, **k: pytest.fail("checkpointed"))
    with checkpointed_blocks(model):
        torch.testing.assert_close(model(x, graph), expected, rtol=0, atol=0)
        with torch.no_grad():
            model.train()(x, graph)


def test_a_model_without_block_lists_is_refused():
    with (
        pytest.raises(ValueError, match=r"FCLSTM has no block list"),
        checkpointed_blocks(models.create("fc_lstm", num_sensors=3, in_features=1)),
    ):
        pass
