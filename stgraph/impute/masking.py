r"""Hide observed readings to score an imputer: the GRIN / SPIN evaluation protocols.

Both follow ``tsl.ops.imputation.sample_mask`` and ``add_missing_values`` of Torch
Spatiotemporal (Cini & Marisca), which GRIN (Cini et al., ICLR 2022) and SPIN (Marisca et al.,
NeurIPS 2022) use on METR-LA and PEMS-BAY:

* **point missing**: each reading is hidden independently with probability 0.25;
* **block missing**: each reading starts a failure with probability 0.0015; a sensor's
  failures all last the same number of steps, drawn once per sensor in
  :math:`[1\,\mathrm{h}, 4\,\mathrm{h})` (``min_seq + randint(max_seq - min_seq)``, 12 to 47
  steps at 5 minutes); on top, 5 % of the readings are hidden independently.

Only readings that were observed can be hidden (``hidden & ~observed`` is empty): an imputer is
scored on the hidden values, whose truth is known. The draw is seeded, so every method of a
benchmark sees the same hidden cells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stgraph.errors import SensorDataError

__all__ = ["BLOCK_FAULT_RATE", "BLOCK_NOISE_RATE", "POINT_RATE", "block_missing", "point_missing"]

#: share of readings hidden in the point-missing protocol
POINT_RATE = 0.25
#: probability that a reading starts a block failure, and the share hidden on top (block protocol)
BLOCK_FAULT_RATE = 0.0015
BLOCK_NOISE_RATE = 0.05


def _observed(observed: np.ndarray) -> np.ndarray:
    observed = np.asarray(observed)
    if observed.ndim != 2 or observed.dtype != np.bool_:
        raise SensorDataError(f"the observed mask must be bool [time, sensors]; got {observed.dtype} {list(observed.shape)}")
    return observed


def point_missing(observed: np.ndarray, *, rate: float = POINT_RATE, seed: int = 0) -> np.ndarray:
    """Hide each observed reading independently with probability ``rate``.

    Shapes:
        observed: bool ``[time, sensors]`` -> bool ``[time, sensors]``, ``True`` = hidden
    """
    observed = _observed(observed)
    if not 0.0 <= rate <= 1.0:
        raise SensorDataError(f"point missing: rate must be in [0, 1], got {rate}")
    rng = np.random.default_rng(seed)
    hidden: np.ndarray = (rng.random(observed.shape) < rate) & observed
    return hidden


def block_missing(
    observed: np.ndarray,
    interval: pd.Timedelta | str,
    *,
    fault_rate: float = BLOCK_FAULT_RATE,
    noise_rate: float = BLOCK_NOISE_RATE,
    shortest: pd.Timedelta | str = "1h",
    longest: pd.Timedelta | str = "4h",
    seed: int = 0,
) -> np.ndarray:
    """Hide blocks of consecutive readings per sensor, plus scattered points.

    A block starts at each (step, sensor) with probability ``fault_rate`` and covers
    ``length`` steps from there (cut at the end of the series); ``length`` is drawn once per
    sensor, ``shortest // interval`` plus a uniform integer below ``(longest - shortest) //
    interval``. Then each reading is also hidden with probability ``noise_rate``.

    Shapes:
        observed: bool ``[time, sensors]`` -> bool ``[time, sensors]``, ``True`` = hidden
    """
    observed = _observed(observed)
    step = pd.Timedelta(interval)
    min_steps, max_steps = int(pd.Timedelta(shortest) // step), int(pd.Timedelta(longest) // step)
    if min_steps < 1 or max_steps < min_steps:
        raise SensorDataError(
            f"block missing: blocks of {shortest} to {longest} at interval {step} are {min_steps} to {max_steps} steps; "
            "need 1 <= shortest <= longest"
        )
    rng = np.random.default_rng(seed)
    steps = observed.shape[0]
    starts = rng.random(observed.shape) < fault_rate
    hidden = np.zeros(observed.shape, dtype=bool)
    for sensor in range(observed.shape[1]):
        first = np.flatnonzero(starts[:, sensor])
        if not first.size:
            continue
        length = min_steps + (int(rng.integers(max_steps - min_steps)) if max_steps > min_steps else 0)
        # difference array: +1 where a block starts, -1 where it ends; covered where the sum > 0
        edges = np.zeros(steps + 1, dtype=np.int64)
        np.add.at(edges, first, 1)
        np.add.at(edges, np.minimum(first + length, steps), -1)
        hidden[:, sensor] = np.cumsum(edges[:steps]) > 0
    hidden |= rng.random(observed.shape) < noise_rate
    result: np.ndarray = hidden & observed
    return result
