"""multi_head_attention: the fused kernel against softmax(QK^T / sqrt(d) + mask) V written out,
with and without the causal mask, several heads and leading axes; gradients; shape errors."""

from __future__ import annotations

import math

import pytest
import torch

from stgraph.errors import ShapeError
from stgraph.nn import multi_head_attention


def _reference(query, key, value, heads, causal):
    """Each head on its own, by the formula: softmax(Q_k K_k^T / sqrt(d) + M) V_k, heads joined."""
    d, d_value = query.shape[-1] // heads, value.shape[-1] // heads
    outputs = []
    for k in range(heads):
        q = query[..., k * d : (k + 1) * d]
        kk = key[..., k * d : (k + 1) * d]
        v = value[..., k * d_value : (k + 1) * d_value]
        scores = q @ kk.transpose(-1, -2) / math.sqrt(d)
        if causal:
            later = torch.ones(scores.shape[-2:], dtype=torch.bool).triu(diagonal=1)
            scores = scores.masked_fill(later, float("-inf"))
        outputs.append(torch.softmax(scores, dim=-1) @ v)
    return torch.cat(outputs, dim=-1)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(
    ("leading", "query_length", "key_length"),
    [((), 5, 5), ((3,), 4, 6), ((2, 3), 5, 5), ((2, 1, 3), 6, 4)],
)
def test_equals_softmax_of_scaled_scores_times_values(causal, leading, query_length, key_length):
    generator = torch.Generator().manual_seed(0)
    heads = 3
    query = torch.randn(*leading, query_length, heads * 4, dtype=torch.float64, generator=generator)
    key = torch.randn(*leading, key_length, heads * 4, dtype=torch.float64, generator=generator)
    value = torch.randn(*leading, key_length, heads * 2, dtype=torch.float64, generator=generator)
    out = multi_head_attention(query, key, value, heads, causal=causal)
    assert out.shape == (*leading, query_length, heads * 2)
    torch.testing.assert_close(out, _reference(query, key, value, heads, causal), rtol=0, atol=1e-10)


def test_causal_query_ignores_later_steps_and_gradients_agree():
    generator = torch.Generator().manual_seed(1)
    query, key, value = (torch.randn(2, 6, 8, dtype=torch.float64, generator=generator) for _ in range(3))
    changed_key, changed_value = key.clone(), value.clone()
    changed_key[:, 4:] += 5.0
    changed_value[:, 4:] -= 5.0
    out = multi_head_attention(query, key, value, 2, causal=True)
    changed = multi_head_attention(query, changed_key, changed_value, 2, causal=True)
    torch.testing.assert_close(changed[:, :4], out[:, :4], rtol=0, atol=1e-12)
    assert not torch.allclose(changed[:, 4:], out[:, 4:])

    inputs = [t.clone().requires_grad_() for t in (query, key, value)]
    multi_head_attention(*inputs, 2, causal=True).square().sum().backward()
    expected = [t.clone().requires_grad_() for t in (query, key, value)]
    _reference(*expected, 2, True).square().sum().backward()
    for got, want in zip(inputs, expected, strict=True):
        torch.testing.assert_close(got.grad, want.grad, rtol=0, atol=1e-10)


def test_float32_fused_kernel_matches_reference_on_a_non_contiguous_axis():
    # GMAN's temporal attention: [batch, time, nodes, width] with time and nodes swapped (a view).
    generator = torch.Generator().manual_seed(2)
    hidden = torch.randn(2, 12, 7, 16, generator=generator)
    along_time = hidden.transpose(1, 2)
    out = multi_head_attention(along_time, along_time, along_time, 4, causal=True)
    expected = _reference(along_time.double(), along_time.double(), along_time.double(), 4, True)
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=1e-5)


def test_dropout_only_when_training():
    query = torch.randn(2, 5, 8)
    plain = multi_head_attention(query, query, query, 2)
    torch.testing.assert_close(multi_head_attention(query, query, query, 2, dropout=0.5), plain)
    torch.manual_seed(0)
    assert not torch.allclose(multi_head_attention(query, query, query, 2, dropout=0.5, training=True), plain)


def test_bad_heads_and_shapes_are_refused():
    query = torch.zeros(2, 5, 8)
    with pytest.raises(ValueError, match=r"heads \(3\) must be >= 1 and divide the query and value widths \(8, 8\)"):
        multi_head_attention(query, query, query, 3)
    with pytest.raises(ShapeError, match=r"same leading axes; got \[2, 5, 8\], \[2, 4, 8\], \[2, 5, 8\]"):
        multi_head_attention(query, torch.zeros(2, 4, 8), query, 2)
    with pytest.raises(ShapeError, match=r"got \[2, 5, 8\], \[3, 5, 8\], \[3, 5, 8\]"):
        multi_head_attention(query, torch.zeros(3, 5, 8), torch.zeros(3, 5, 8), 2)
