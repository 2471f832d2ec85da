"""FC-LSTM: sensors are independent sequences, scheduled sampling, parameter count."""

from __future__ import annotations

import torch

from stgraph.models import FCLSTM


def _model() -> FCLSTM:
    torch.manual_seed(0)
    return FCLSTM(num_sensors=3, in_features=2, lookback=6, horizon=4, hidden=5)


def test_each_sensor_is_its_own_sequence():
    model = _model().eval()
    x = torch.randn(2, 6, 3, 2)
    out = model(x, None)
    moved = x.clone()
    moved[:, :, 0] += 1.0
    out_moved = model(moved, None)
    assert not torch.allclose(out_moved[:, :, 0], out[:, :, 0])
    assert torch.equal(out_moved[:, :, 1:], out[:, :, 1:])
    # Weights are shared: swapping two sensors' histories swaps their forecasts.
    swapped = model(x[:, :, [1, 0, 2]], None)
    torch.testing.assert_close(swapped, out[:, :, [1, 0, 2]])


def test_teacher_forcing_in_training_only():
    model = _model().train()
    x = torch.randn(2, 6, 3, 2)
    target = torch.randn(2, 4, 3, 1)
    forced = model(x, None, target=target, teacher_forcing=1.0)
    free = model(x, None)
    assert torch.equal(forced[:, 0], free[:, 0])
    assert not torch.allclose(forced[:, 1:], free[:, 1:])
    model.eval()
    assert torch.equal(model(x, None, target=target, teacher_forcing=1.0), model(x, None))


def test_parameter_count_of_the_dcrnn_baseline_sizes():
    # Two layers of 256 units in encoder and decoder; an LSTM layer has 4 gates of
    # (input + hidden) weights and two bias vectors (torch's b_ih and b_hh).
    model = FCLSTM(num_sensors=207, in_features=2)

    def lstm(inputs: int, hidden: int = 256) -> int:
        return 4 * hidden * (inputs + hidden) + 2 * 4 * hidden

    expected = lstm(2) + lstm(256) + lstm(1) + lstm(256) + 256 + 1
    count = sum(p.numel() for p in model.parameters())
    print(f"FC-LSTM parameters (node-wise, 2 x 256): {count:,}")
    assert count == expected
