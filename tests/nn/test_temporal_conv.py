"""Temporal convolutions: values against NumPy loops, causality, residual alignment, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stgraph.errors import ShapeError
from stgraph.nn.temporal_conv import FeatureAlign, GatedDilatedConv, ResidualTemporalConv, TemporalConv


def _numpy_conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, kernel: int, dilation: int) -> np.ndarray:
    """Direct loop: y[b, t, n] = bias + sum_k x[b, t + k d, n] @ W_k, W_k = weight[:, k*in:(k+1)*in].T"""
    batch, steps, nodes, features = x.shape
    out_steps = steps - (kernel - 1) * dilation
    y = np.zeros((batch, out_steps, nodes, weight.shape[0]))
    for t in range(out_steps):
        acc = np.broadcast_to(bias, (batch, nodes, weight.shape[0])).copy()
        for k in range(kernel):
            acc += x[:, t + k * dilation] @ weight[:, k * features : (k + 1) * features].T
        y[:, t] = acc
    return y


@pytest.mark.parametrize(("kernel", "dilation"), [(1, 1), (3, 1), (2, 2), (2, 4)])
def test_temporal_conv_matches_direct_loop(kernel, dilation):
    torch.manual_seed(0)
    conv = TemporalConv(3, 5, kernel, dilation=dilation).double()
    x = torch.randn(2, 9, 4, 3, dtype=torch.float64)
    expected = _numpy_conv(x.numpy(), conv.weight.detach().numpy(), conv.bias.detach().numpy(), kernel, dilation)
    out = conv(x)
    assert out.shape == (2, 9 - (kernel - 1) * dilation, 4, 5)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_temporal_conv_never_reads_the_future():
    # Output step t reads input steps t .. t + (K-1) d: perturbing input step s may only change
    # outputs t with s - (K-1) d <= t <= s.
    torch.manual_seed(0)
    conv = TemporalConv(2, 3, 2, dilation=2)
    x = torch.randn(1, 8, 3, 2)
    base = conv(x)
    s = 5
    x[:, s] += 10.0
    changed = (conv(x) - base).abs().amax(dim=(0, 2, 3)) > 0
    assert changed.nonzero().flatten().tolist() == [s - 2, s]


def test_temporal_conv_rejects_short_or_misshaped_input():
    conv = TemporalConv(2, 3, 3, dilation=2)
    with pytest.raises(ShapeError, match="at least 5 time steps"):
        conv(torch.randn(1, 4, 3, 2))
    with pytest.raises(ShapeError, match=r"\[batch, time, nodes, 2\]; got \[1, 6, 3, 4\]"):
        conv(torch.randn(1, 6, 3, 4))
    with pytest.raises(ValueError, match="temporal_kernel and dilation"):
        TemporalConv(2, 3, 0)


def test_feature_align_pads_projects_or_keeps():
    x = torch.arange(6.0).reshape(1, 2, 3)
    padded = FeatureAlign(3, 5)(x)
    assert torch.equal(padded, torch.cat([x, torch.zeros(1, 2, 2)], dim=-1))
    assert FeatureAlign(3, 3)(x) is x
    shrink = FeatureAlign(3, 2)
    assert torch.allclose(shrink(x), x @ shrink.projection.weight.T)
    assert shrink.projection.bias is None


def test_glu_temporal_conv_formula_with_padded_residual():
    # (P + X_res) * sigmoid(Q), X_res = the last steps of x, zero-padded from 2 to 4 features.
    torch.manual_seed(1)
    layer = ResidualTemporalConv(2, 4, 3, activation="glu").double()
    x = torch.randn(2, 7, 3, 2, dtype=torch.float64)
    conv = layer.conv
    pq = _numpy_conv(x.numpy(), conv.weight.detach().numpy(), conv.bias.detach().numpy(), 3, 1)
    residual = np.concatenate([x.numpy()[:, 2:], np.zeros((2, 5, 3, 2))], axis=-1)
    expected = (pq[..., :4] + residual) / (1.0 + np.exp(-pq[..., 4:]))
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_relu_temporal_conv_projects_wider_input():
    torch.manual_seed(2)
    layer = ResidualTemporalConv(6, 4, 3, activation="relu").double()
    x = torch.randn(1, 5, 2, 6, dtype=torch.float64)
    conv = layer.conv
    p = _numpy_conv(x.numpy(), conv.weight.detach().numpy(), conv.bias.detach().numpy(), 3, 1)
    residual = x.numpy()[:, 2:] @ layer.align.projection.weight.detach().numpy().T
    np.testing.assert_allclose(layer(x).detach().numpy(), np.maximum(p + residual, 0.0), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="'glu' or 'relu'"):
        ResidualTemporalConv(6, 4, activation="tanh")


def test_gated_dilated_conv_is_tanh_times_sigmoid_of_one_product():
    torch.manual_seed(3)
    layer = GatedDilatedConv(3, 4, 2, dilation=2).double()
    assert layer.receptive_field == 3
    x = torch.randn(2, 6, 5, 3, dtype=torch.float64)
    conv = layer.conv
    both = _numpy_conv(x.numpy(), conv.weight.detach().numpy(), conv.bias.detach().numpy(), 2, 2)
    expected = np.tanh(both[..., :4]) / (1.0 + np.exp(-both[..., 4:]))
    out = layer(x)
    assert out.shape == (2, 4, 5, 4)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_temporal_conv_gradcheck():
    torch.manual_seed(4)
    layer = ResidualTemporalConv(2, 3, 2).double()
    x = torch.randn(1, 4, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))


@pytest.mark.parametrize("in_features, out_features, dilation", [(1, 4, 1), (4, 4, 2), (3, 8, 1), (16, 32, 2)])
def test_convolution_and_its_gradients_equal_the_stacked_shift_product(in_features, out_features, dilation):
    # small channel counts take torch's slow convolution path, larger ones oneDNN: same function
    conv = TemporalConv(in_features, out_features, 3, dilation=dilation)
    x = torch.randn(2, 9, 5, in_features, requires_grad=True)
    steps = 9 - 2 * dilation
    stacked = torch.cat([x[:, k * dilation : k * dilation + steps] for k in range(3)], dim=-1)
    expected = stacked @ conv.weight.T + conv.bias
    out = conv(x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, (x, conv.weight, conv.bias), grad)
    want = torch.autograd.grad(expected, (x, conv.weight, conv.bias), grad)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
