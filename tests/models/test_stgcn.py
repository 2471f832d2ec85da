"""STGCN: block structure, lookback limits, single-step form, parameter counts vs the authors' code."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stgraph import SensorGraph
from stgraph.models import STGCN


def test_output_block_spans_the_remaining_steps():
    # 12 steps, two blocks of two kernel-3 temporal convs: 12 - 2 * 2 * 2 = 4 steps remain.
    model = STGCN(num_sensors=4, in_features=1)
    assert model.output_temporal.conv.temporal_kernel == 4
    assert STGCN(num_sensors=4, in_features=1, lookback=9).output_temporal.conv.temporal_kernel == 1
    block = model.blocks[0]
    assert (block.temporal_in.conv.out_features, block.graph_conv.out_features, block.temporal_out.conv.out_features) == (
        2 * 64,  # GLU: value and gate from one product
        16,
        64,
    )
    assert block.graph_conv.order == 2 and block.graph_conv.num_terms == 3  # the paper's Ks = 3 terms


def test_too_short_lookback_and_bad_channels_are_rejected():
    with pytest.raises(ValueError, match="lookback 8 is too short for 2 ST-Conv blocks with temporal_kernel 3"):
        STGCN(num_sensors=4, in_features=1, lookback=8)
    with pytest.raises(ValueError, match=r"\(temporal, graph, output\) channel triples"):
        STGCN(num_sensors=4, in_features=1, channels=[[64, 64]])


def test_single_step_form_is_the_papers_output():
    rng = np.random.default_rng(0)
    graph = SensorGraph(rng.random((4, 4)) < 0.5)
    model = STGCN(num_sensors=4, in_features=1, horizon=1, channels=[[8, 4, 8], [8, 4, 8]])
    out = model(torch.randn(2, 12, 4, 1), graph)
    assert out.shape == (2, 1, 4, 1)
    assert model.output.out_features == 1


def _reference_parameter_count(
    sensors: int, in_features: int, blocks: list[list[int]], lookback: int = 12, horizon: int = 1
) -> int:
    """Variables of VeritasYin/STGCN_IJCAI-18 (Ks = Kt = 3) for ST-Conv blocks of
    ``(temporal, graph, output)`` channels: per temporal layer wt [Kt, 1, c_in, c_out (x2 for
    GLU)] + bt, plus a 1x1 wt_input when c_in > c_out; spatial ws [Ks c_in, c_out] + bs, plus a
    1x1 ws_input when c_in > c_out; layer norm gamma and beta [sensors, c]; output layer GLU conv
    of width Ko, layer norm, 1x1 sigmoid conv with bias, FC weight [c, 1] and bias [sensors, 1]
    per forecast step."""

    def temporal(c_in: int, c_out: int, kernel: int, glu: bool) -> int:
        width = 2 * c_out if glu else c_out
        return kernel * c_in * width + width + (c_in * c_out if c_in > c_out else 0)

    def spatial(c_in: int, c_out: int) -> int:
        return 3 * c_in * c_out + c_out + (c_in * c_out if c_in > c_out else 0)

    total, c = 0, in_features
    for c_t, c_s, c_out in blocks:
        total += temporal(c, c_t, 3, True) + spatial(c_t, c_s) + temporal(c_s, c_out, 3, False) + 2 * sensors * c_out
        c = c_out
    ko = lookback - 4 * len(blocks)
    return total + temporal(c, c, ko, True) + 2 * sensors * c + (c * c + c) + horizon * (c + sensors)


def _count(model: STGCN) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_matches_the_authors_code_in_its_configuration():
    # The authors' PeMSD7(M) run: 228 stations, speed only, blocks [[1, 32, 64], [64, 32, 128]].
    model = STGCN(num_sensors=228, in_features=1, horizon=1, channels=[[32, 32, 64], [32, 32, 128]])
    assert _count(model) == _reference_parameter_count(228, 1, [[32, 32, 64], [32, 32, 128]]) == 333_604


def test_parameter_count_of_the_paper_channels_with_all_horizons_at_once():
    # Channels 64-16-64 (Fig. 2), METR-LA with speed and time of day, 12 steps forecast at once:
    # the graph convolution's 64 -> 16 bottleneck has its 1x1 residual projection, and the
    # final layer 12 outputs per sensor.
    paper = STGCN(num_sensors=207, in_features=2)
    assert _count(paper) == _reference_parameter_count(207, 2, [[64, 16, 64], [64, 16, 64]], horizon=12) == 159_892
