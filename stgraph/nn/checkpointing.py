r"""Activation checkpointing of a model's blocks, without changing the model.

Inside :func:`checkpointed_blocks`, every block of the model's top-level block lists (the
items of each ``nn.ModuleList`` or ``nn.Sequential`` attribute: STGCN's ST-Conv blocks, Graph
WaveNet's layers, STID's residual MLPs, DCRNN's cells) runs under
:func:`torch.utils.checkpoint.checkpoint` (non-reentrant) while gradients are recorded: only
the block's inputs are kept, and its activations are recomputed in the backward pass. Peak
memory then holds one block's activations instead of all of them, at the price of about one
more forward pass.

The same values and gradients: the recomputation replays the random state (dropout draws the
same mask), and batch normalisation's running statistics, which the first pass has already
updated, are put back after it (``context_fn``). The model stays a plain module with the same
parameters and state-dict keys: the wrapping is an instance attribute ``forward`` set on
entry and removed on exit (a recomputation after exit calls the class's own ``forward``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["block_lists", "checkpointed_blocks"]


def block_lists(model: nn.Module) -> list[nn.Module]:
    """The blocks of ``model``'s top-level ``nn.ModuleList`` and ``nn.Sequential`` attributes
    (a wrapper's such as :class:`~stgraph.nn.QuantileHead`: its inner model's), in order."""
    blocks = [block for child in model.children() if isinstance(child, (nn.ModuleList, nn.Sequential)) for block in child]
    if not blocks and hasattr(model, "model") and isinstance(model.model, nn.Module):
        return block_lists(model.model)
    return blocks


@contextlib.contextmanager
def checkpointed_blocks(model: nn.Module) -> Iterator[None]:
    """Run ``model``'s blocks (:func:`block_lists`) under activation checkpointing inside the
    block (see the module notes).

    Raises:
        ValueError: ``model`` has no block list to checkpoint.
    """
    blocks = block_lists(model)
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no block list (nn.ModuleList or nn.Sequential attribute) to checkpoint")
    for block in blocks:
        block.forward = functools.partial(_checkpointed, block, type(block).forward.__get__(block))
    try:
        yield
    finally:
        for block in blocks:
            del block.forward


def _checkpointed(block: nn.Module, forward: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    if not (block.training and torch.is_grad_enabled()):
        return forward(*args, **kwargs)
    return checkpoint(
        forward,
        *args,
        use_reentrant=False,
        context_fn=lambda: (contextlib.nullcontext(), _frozen_statistics(block)),
        **kwargs,
    )


@contextlib.contextmanager
def _frozen_statistics(block: nn.Module) -> Iterator[None]:
    """Batch norms of ``block`` run as in training (the same saved tensors, which the checkpoint
    checks) and get their running statistics back afterwards: the first pass already updated them."""
    norms = [m for m in block.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    saved = [{name: buffer.clone() for name, buffer in norm.named_buffers(recurse=False)} for norm in norms]
    try:
        yield
    finally:
        with torch.no_grad():
            for norm, buffers in zip(norms, saved):
                for name, value in buffers.items():
                    getattr(norm, name).copy_(value)
