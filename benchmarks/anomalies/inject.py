"""Faults injected into real readings at known positions: spikes, stuck values, drops to zero, slow drift.

Each sensor's readings are cut into blocks of ``block`` steps; each block independently holds
one fault (with probability ``shares[kind]`` per kind) or none, placed at a random offset
inside the block after a clean stretch of ``lead`` steps, so faults never overlap and the model's
input window before a fault is healthy. The faults, on a reading :math:`y_t`:

- ``spike``: one reading becomes :math:`\\max(y_t \\pm m, 0)`, :math:`m \\sim U(20, 40)` (mph);
- ``stuck``: :math:`y_a` is repeated for 1.5 to 3 h from the fault's first step :math:`a`;
- ``zero``: 15 min to 2 h of zeros;
- ``drift``: :math:`y_t \\pm d\\,(t - a + 1) / D` over :math:`D` = 2 to 3 h, :math:`d \\sim U(10, 20)` (mph).
"""

from __future__ import annotations

import numpy as np

__all__ = ["FAULTS", "inject_faults"]

#: fault kinds, label ``i + 1`` in :func:`inject_faults`'s labels (0 = healthy)
FAULTS = ("spike", "stuck", "zero", "drift")


def inject_faults(
    values: np.ndarray,
    *,
    interval_minutes: float,
    shares: dict[str, float],
    block: int,
    lead: int,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``values`` with faults injected, and the label of every reading.

    Args:
        values: healthy readings ``[time, sensors]``.
        interval_minutes: minutes per step (durations above are in hours).
        shares: probability per block of each kind in :data:`FAULTS` (summing to at most 1).
        block: steps per block (a fault and its healthy lead fit in one).
        lead: healthy steps at the start of every block.
        seed: the random generator's seed.

    Shapes:
        values: ``[time, sensors]`` -> faulty values ``[time, sensors]`` float64, labels int64 ``[time, sensors]``
    """
    if sum(shares.values()) > 1.0 or any(kind not in FAULTS for kind in shares):
        raise ValueError(f"shares must name kinds among {FAULTS} and sum to at most 1, got {shares}")
    rng = np.random.default_rng(seed)
    faulty = np.array(values, dtype=np.float64)
    labels = np.zeros(faulty.shape, dtype=np.int64)
    hour = round(60 / interval_minutes)
    durations = {
        "spike": (1, 1),
        "stuck": (hour * 3 // 2, hour * 3),
        "zero": (hour // 4, hour * 2),
        "drift": (hour * 2, hour * 3),
    }
    kinds = list(shares)
    cumulative = np.cumsum([shares[kind] for kind in kinds])
    steps, sensors = faulty.shape
    for sensor in range(sensors):
        for begin in range(0, steps - block + 1, block):
            draw = int(np.searchsorted(cumulative, rng.random(), side="right"))
            if draw == len(kinds):
                continue  # a healthy block
            kind = kinds[draw]
            low, high = durations[kind]
            length = int(rng.integers(low, min(high, block - lead) + 1))
            start = begin + lead + int(rng.integers(0, block - lead - length + 1))
            where = slice(start, start + length)
            sign = rng.choice((-1.0, 1.0))
            if kind == "spike":
                faulty[where, sensor] = np.maximum(faulty[where, sensor] + sign * rng.uniform(20, 40), 0.0)
            elif kind == "stuck":
                faulty[where, sensor] = faulty[start, sensor]
            elif kind == "zero":
                faulty[where, sensor] = 0.0
            else:
                ramp = np.arange(1, length + 1) / length
                faulty[where, sensor] = np.maximum(faulty[where, sensor] + sign * rng.uniform(10, 20) * ramp, 0.0)
            labels[where, sensor] = FAULTS.index(kind) + 1
    return faulty, labels
