r"""Sinusoidal positional encoding (Vaswani et al., NeurIPS 2017, section 3.5)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from stgraph.errors import ShapeError
from stgraph.nn.packed_dropout import Dropout

__all__ = ["SinusoidalPositionalEncoding"]


class SinusoidalPositionalEncoding(nn.Module):
    r"""Adds the fixed sinusoidal code of each step's position, then dropout.

    .. math::
        \mathrm{PE}_{t, 2i} = \sin\!\big(t / 10000^{2i/d}\big),\quad
        \mathrm{PE}_{t, 2i+1} = \cos\!\big(t / 10000^{2i/d}\big),\qquad
        \mathbf{H}_t = \mathrm{dropout}(\mathbf{X}_t + \mathrm{PE}_t)

    with :math:`t = 0, 1, \ldots` counted along the second-to-last axis and :math:`d` =
    ``width``. The code is a non-persistent buffer (not in ``state_dict``: it is recomputed
    from ``width`` and ``max_length``).

    Args:
        width: feature width :math:`d` (odd widths are allowed: the last cosine is dropped).
        dropout: dropout after the addition.
        max_length: the longest sequence the module accepts.

    Shapes:
        x: ``[..., time, width]`` with ``time <= max_length`` -> the same shape
    """

    def __init__(self, width: int, dropout: float = 0.0, max_length: int = 5000) -> None:
        super().__init__()
        if width < 1 or max_length < 1:
            raise ValueError(f"SinusoidalPositionalEncoding: width and max_length must be >= 1, got {width} and {max_length}")
        self.width = width
        self.max_length = max_length
        position = torch.arange(max_length, dtype=torch.float64).unsqueeze(1)
        frequency = torch.exp(torch.arange(0, width, 2, dtype=torch.float64) * (-math.log(10000.0) / width))
        code = torch.zeros(max_length, width, dtype=torch.float64)
        code[:, 0::2] = torch.sin(position * frequency)
        code[:, 1::2] = torch.cos(position * frequency[: width // 2])
        self.code: Tensor
        self.register_buffer("code", code.to(torch.get_default_dtype()), persistent=False)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[-1] != self.width or x.shape[-2] > self.max_length:
            raise ShapeError(
                f"SinusoidalPositionalEncoding expects [..., time <= {self.max_length}, {self.width}]; got {list(x.shape)}"
            )
        out: Tensor = self.dropout(x + self.code[: x.shape[-2]].to(x.dtype))
        return out

    def extra_repr(self) -> str:
        return f"width={self.width}, max_length={self.max_length}"
