"""SinusoidalPositionalEncoding: the code's values at known positions, odd widths, shape errors."""

from __future__ import annotations

import math

import pytest
import torch

from stgraph.errors import ShapeError
from stgraph.nn import SinusoidalPositionalEncoding


def test_code_is_sine_and_cosine_of_position_over_growing_wavelengths():
    encoding = SinusoidalPositionalEncoding(4, max_length=10).double().eval()
    out = encoding(torch.zeros(2, 3, 4, dtype=torch.float64))
    assert out.shape == (2, 3, 4)
    torch.testing.assert_close(out[0, 0], torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=torch.float64))
    # position 2: frequencies 1 and 10000^(-2/4) = 0.01
    expected = torch.tensor([math.sin(2.0), math.cos(2.0), math.sin(0.02), math.cos(0.02)], dtype=torch.float64)
    torch.testing.assert_close(out[1, 2], expected)
    assert "code" not in encoding.state_dict()


def test_odd_width_and_too_long_input():
    encoding = SinusoidalPositionalEncoding(3, max_length=5)
    assert encoding(torch.zeros(5, 3)).shape == (5, 3)
    with pytest.raises(ShapeError, match=r"expects \[..., time <= 5, 3\]; got \[6, 3\]"):
        encoding(torch.zeros(6, 3))
