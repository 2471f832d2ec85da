r"""The five metrics of T-GCN (Zhao et al., IEEE T-ITS 2020, Eqs. 15-19), as its code computes them.

The authors' code (lehaifeng/T-GCN, ``main.py``, function ``evaluation``) stacks every test
window's ``pre_len`` forecast rows into one matrix :math:`Y` of ``[windows * pre_len, sensors]``
and computes, over all its entries,

.. math::
    \mathrm{RMSE} = \sqrt{\tfrac{1}{MN}\sum (Y - \hat Y)^2},\quad
    \mathrm{MAE} = \tfrac{1}{MN}\sum |Y - \hat Y|,\quad
    \mathrm{Accuracy} = 1 - \frac{\lVert Y - \hat Y\rVert_F}{\lVert Y\rVert_F},

.. math::
    R^2 = 1 - \frac{\sum (Y - \hat Y)^2}{\sum (Y - \bar Y)^2},\quad
    \mathrm{var} = 1 - \frac{\operatorname{Var}(Y - \hat Y)}{\operatorname{Var}(Y)}

with :math:`\bar Y` the mean of all entries and population variances (``np.var``). The code
evaluates on max-normalised values and multiplies RMSE and MAE by the maximum; the other three
are scale-free, so computing all five in mph gives the same numbers. There is no mask: Los-loop
has no missing readings.
"""

from __future__ import annotations

import numpy as np

from stgraph.errors import ShapeError

__all__ = ["METRICS", "tgcn_metrics"]

METRICS = ("rmse", "mae", "accuracy", "r2", "var")


def tgcn_metrics(target: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, accuracy, R^2 and explained variance of ``forecast`` against ``target``.

    Shapes:
        target, forecast: the same shape, e.g. ``[windows, pre_len, sensors]``; every entry
        counts once -> dict of floats.
    """
    target = np.asarray(target, dtype=np.float64)
    forecast = np.asarray(forecast, dtype=np.float64)
    if target.shape != forecast.shape:
        raise ShapeError(f"target and forecast must have the same shape; got {list(target.shape)} and {list(forecast.shape)}")
    if target.size == 0:
        raise ShapeError("no forecasts to score (empty arrays)")
    error = target - forecast
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "accuracy": float(1.0 - np.linalg.norm(error) / np.linalg.norm(target)),
        "r2": float(1.0 - np.sum(error**2) / np.sum((target - target.mean()) ** 2)),
        "var": float(1.0 - np.var(error) / np.var(target)),
    }
