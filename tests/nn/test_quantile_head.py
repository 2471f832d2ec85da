"""QuantileHead: channels x Q outputs read as sorted quantiles, the median as the point forecast."""

import pytest
import torch
from torch import nn

from stgraph.nn.quantile_head import QuantileHead


class _Fixed(nn.Module):
    """Returns ``values`` ([channels * Q] per entry) for every batch, step and sensor."""

    def __init__(self, values: list[float]) -> None:
        super().__init__()
        self.values = torch.tensor(values)

    def forward(self, x, graph):
        return self.values.expand(x.shape[0], 2, x.shape[2], len(self.values))


def test_outputs_are_read_channel_major_and_sorted_along_the_levels():
    # channel 0's levels come first: (3, 1, 2) -> sorted (1, 2, 3); channel 1: (10, 30, 20) -> (10, 20, 30)
    head = QuantileHead(_Fixed([3.0, 1.0, 2.0, 10.0, 30.0, 20.0]), channels=2, quantiles=[0.1, 0.5, 0.9])
    x = torch.zeros(4, 12, 5, 1)
    levels = head.quantile_forecast(x, None)
    assert levels.shape == (4, 2, 5, 2, 3)
    assert levels[0, 0, 0].tolist() == [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]]
    assert head(x, None)[0, 0, 0].tolist() == [2.0, 20.0]  # the median of each channel
    assert head.median == 1 and not head.accepts_teacher_forcing


def test_sorting_passes_gradients_to_the_right_outputs():
    raw = torch.tensor([3.0, 1.0, 2.0], requires_grad=True)
    head = QuantileHead(_Fixed([0.0, 0.0, 0.0]), channels=1, quantiles=[0.1, 0.5, 0.9])
    head.model.values = raw
    head.quantile_forecast(torch.zeros(1, 1, 1, 1), None)[0, 0, 0, 0, 2].sum().backward()  # the top level: raw[0] = 3
    assert raw.grad.tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("quantiles", "message"),
    [
        ([0.1, 0.9], r"must include 0.5 \(the median is the point forecast\), got \[0.1, 0.9\]"),
        ([0.5, 1.5], r"quantiles must lie in \(0, 1\), got 1.5"),
        ([0.9, 0.5], r"sorted increasing without repeats, got 0.5 after 0.9"),
    ],
)
def test_bad_levels_are_named(quantiles, message):
    with pytest.raises(ValueError, match=message):
        QuantileHead(_Fixed([0.0, 0.0]), channels=1, quantiles=quantiles)


def test_a_model_with_the_wrong_output_width_is_named():
    head = QuantileHead(_Fixed([0.0, 0.0]), channels=1, quantiles=[0.1, 0.5, 0.9])
    with pytest.raises(
        ValueError, match=r"forecasts 2 channels; 1 channels x 3 quantiles need 3 \(build it with out_channels=3\)"
    ):
        head(torch.zeros(1, 1, 1, 1), None)
