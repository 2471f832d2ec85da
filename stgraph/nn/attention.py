r"""Multi-head scaled dot-product attention along one axis, shared by the attention models
(GMAN over sensors, over steps and from input to forecast steps; STAEformer along time and along
sensors)."""

from __future__ import annotations

import torch
from torch import Tensor

from stgraph.errors import ShapeError

__all__ = ["multi_head_attention"]


def multi_head_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    heads: int,
    *,
    causal: bool = False,
    dropout: float = 0.0,
    training: bool = False,
) -> Tensor:
    r"""Multi-head scaled dot-product attention (Vaswani et al., NeurIPS 2017) along the
    second-to-last axis of already projected queries, keys and values.

    The last axis of each input is split into ``heads`` heads of :math:`d` channels
    (head :math:`k` holds channels :math:`kd .. (k+1)d - 1`); every head attends on its own and
    the heads are joined again, channel order kept:

    .. math::
        \mathrm{head}_k = \mathrm{softmax}\Big(\frac{Q_k K_k^\top}{\sqrt{d}} + M\Big) V_k,
        \qquad \mathrm{out} = \mathrm{head}_1 \Vert \cdots \Vert \mathrm{head}_{\text{heads}}

    with :math:`M = 0` or, if ``causal``, :math:`M_{ij} = -\infty` for :math:`j > i`: query
    position :math:`i` sees key positions :math:`\le i` (counted from the first position of
    both, also where their lengths differ). Every leading axis is a batch axis: attending over
    sensors is ``[batch, time, nodes, width]``, over steps the same with time and nodes swapped.
    No projection happens here; the caller owns its weights.

    Computed by :func:`torch.nn.functional.scaled_dot_product_attention`, whose fused CPU and GPU
    kernels never hold the ``[..., length, length]`` score matrix and fold :math:`1/\sqrt{d}`
    into the product (tests/nn/test_attention.py checks it against the formula above).

    Args:
        query: queries :math:`Q`.
        key: keys :math:`K`, as wide as ``query``.
        value: values :math:`V`; its width may differ from the query's.
        heads: number of heads; must divide the widths of ``query`` and ``value``.
        causal: mask the key positions after each query position.
        dropout: probability of zeroing an attention weight, when ``training``.
        training: whether to apply ``dropout``.

    Shapes:
        query: ``[..., query_length, heads * d]``, key: ``[..., key_length, heads * d]``,
        value: ``[..., key_length, heads * d_v]`` -> ``[..., query_length, heads * d_v]``
    """
    if heads < 1 or query.shape[-1] % heads or value.shape[-1] % heads:
        raise ValueError(
            f"multi_head_attention: heads ({heads}) must be >= 1 and divide the query and value widths "
            f"({query.shape[-1]}, {value.shape[-1]})"
        )
    if key.shape[-1] != query.shape[-1] or key.shape[:-1] != value.shape[:-1] or key.shape[:-2] != query.shape[:-2]:
        raise ShapeError(
            "multi_head_attention expects query [..., query_length, width], key [..., key_length, width] and "
            f"value [..., key_length, value_width] with the same leading axes; got {list(query.shape)}, "
            f"{list(key.shape)}, {list(value.shape)}"
        )
    leading, query_length = query.shape[:-2], query.shape[-2]

    def split(h: Tensor) -> Tensor:  # [..., length, heads * d] -> [batch, heads, length, d]
        # The fused kernels take 4-D inputs only; leading axes fold into one batch axis.
        return h.reshape(-1, h.shape[-2], heads, h.shape[-1] // heads).transpose(1, 2)

    attended = torch.nn.functional.scaled_dot_product_attention(
        split(query), split(key), split(value), dropout_p=dropout if training else 0.0, is_causal=causal
    )
    return attended.transpose(1, 2).reshape(*leading, query_length, value.shape[-1])
