"""The packed-draw dropout against F.dropout: the share dropped, the scale, the gradient, the fallbacks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from stgraph.nn import Dropout, dropout, keep_mask


def _within_binomial(kept: int, total: int, rate: float, sigmas: float = 6.0) -> bool:
    return abs(kept - total * rate) <= sigmas * math.sqrt(total * rate * (1 - rate))


@pytest.mark.parametrize("p", [0.1, 0.15, 0.3, 0.5, 0.9])
def test_each_of_the_four_draws_in_a_word_keeps_one_minus_p(p):
    torch.manual_seed(0)
    keep = keep_mask((400_000,), p)
    assert keep.dtype == torch.bool and keep.shape == (400_000,)
    # the four 16-bit lanes of every 64-bit word: a lane that never drops (a sign bit that is
    # always 0, as in int64 random_) would show here
    for lane in range(4):
        share = keep[lane::4]
        assert _within_binomial(int(share.sum()), share.numel(), 1 - p), (lane, float(share.float().mean()))


def test_neighbouring_draws_are_independent():
    torch.manual_seed(1)
    keep = keep_mask((1_000_001,), 0.5).float()
    both = float((keep[1:] * keep[:-1]).mean())
    assert abs(both - 0.25) < 6 * math.sqrt(0.25 * 0.75 / 1_000_000)


def test_kept_elements_are_scaled_by_the_rounded_rate_and_the_rest_are_zero():
    torch.manual_seed(2)
    x = torch.rand(64, 207, 16) + 1.0
    y = dropout(x, 0.15, training=True)
    kept = y != 0
    scale = 65536 / (65536 - round(0.15 * 65536))  # 1 / (1 - 9830 / 65536)
    torch.testing.assert_close(y[kept], x[kept] * scale)
    assert _within_binomial(int(kept.sum()), kept.numel(), 0.85)
    # the same share as torch's own dropout on the same tensor
    reference = F.dropout(x, 0.15, training=True) != 0
    assert abs(float(kept.float().mean()) - float(reference.float().mean())) < 0.005


def test_gradient_is_the_mask_times_the_scale():
    torch.manual_seed(3)
    x = torch.randn(8, 300, dtype=torch.float64, requires_grad=True)
    y = dropout(x, 0.3, training=True)
    weights = torch.randn_like(y)
    (y * weights).sum().backward()
    scale = 65536 / (65536 - round(0.3 * 65536))
    torch.testing.assert_close(x.grad, (y != 0).double() * scale * weights)


def test_seeded_runs_repeat():
    x = torch.randn(1000)
    torch.manual_seed(7)
    first = dropout(x, 0.2)
    torch.manual_seed(7)
    torch.testing.assert_close(dropout(x, 0.2), first)


def test_eval_rate_zero_and_rate_one():
    x = torch.randn(5, 6)
    assert dropout(x, 0.4, training=False) is x
    assert dropout(x, 0.0) is x
    torch.testing.assert_close(dropout(x, 1.0), torch.zeros_like(x))
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\], got 1.5"):
        dropout(x, 1.5)


def test_module_is_a_drop_in_for_nn_dropout():
    torch.manual_seed(4)
    module = Dropout(0.25)
    assert isinstance(module, torch.nn.Dropout) and module.state_dict() == {}
    x = torch.ones(10_000)
    kept = module(x) != 0
    assert _within_binomial(int(kept.sum()), 10_000, 0.75)
    assert module.eval()(x) is x


def test_traced_module_records_torchs_dropout():
    # a trace cannot replay the packed draw (an autograd.Function): it records aten::dropout
    traced = torch.jit.trace(Dropout(0.5), torch.ones(3, 4), check_trace=False)
    assert "aten::dropout" in str(traced.graph)
