r"""The split-conformal quantile: the score threshold that a fresh exchangeable score stays under
with probability at least the nominal coverage (Vovk et al. 2005; Lei et al., JASA 2018).

Given calibration scores :math:`s_1, \dots, s_n` (for example absolute validation residuals
:math:`|y_i - \hat y_i|`) and a nominal coverage :math:`1 - \alpha`, the threshold is the
:math:`\lceil (n + 1)(1 - \alpha) \rceil`-th smallest score,

.. math::
    \hat q = s_{(k)}, \qquad k = \lceil (n + 1)(1 - \alpha) \rceil,

and :math:`+\infty` when :math:`k > n` (too few scores for that coverage). If the calibration and
test scores are exchangeable, :math:`P(s_{n+1} \le \hat q) \ge 1 - \alpha`: a *marginal*
guarantee, over the draw of the calibration set and the test point together, not one per sensor,
per time of day or per window. Traffic is not exchangeable in time (rush hours, incidents,
seasonal drift between the validation and test months), so the coverage on a later test period
is an empirical question; the benchmarks measure it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["conformal_quantile"]


def conformal_quantile(scores: np.ndarray, coverage: float, *, axis: int | None = None) -> np.ndarray | float:
    r"""The split-conformal threshold :math:`s_{(\lceil (n+1)\,\text{coverage} \rceil)}` of ``scores``.

    NaN scores (unobserved targets) are left out, so :math:`n` counts the finite scores along
    ``axis`` (each slice its own :math:`n`); a slice with too few scores for ``coverage`` gets
    :math:`+\infty`, an empty one NaN.

    Args:
        scores: calibration scores (any shape), larger meaning less conforming.
        coverage: nominal coverage :math:`1 - \alpha`, in (0, 1).
        axis: the axis holding the calibration samples; None: all of them (one threshold).

    Returns:
        a float for ``axis=None``, else an array of ``scores``'s shape without ``axis``.

    Shapes:
        scores: ``[..., n, ...]`` -> the same without the ``axis`` dimension.
    """
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"conformal_quantile: coverage must be in (0, 1), got {coverage}")
    values = np.asarray(scores, dtype=np.float64)
    values = values.reshape(-1, 1) if axis is None else np.moveaxis(values, axis, 0)
    count = (~np.isnan(values)).sum(axis=0)  # n per slice
    ordered = np.sort(np.where(np.isnan(values), np.inf, values), axis=0)  # NaN sorted last
    rank = np.ceil((count + 1) * coverage - 1e-9).astype(np.int64)  # k, 1-based; 1e-9: (n+1)(1-a) exact
    picked = np.take_along_axis(ordered, np.clip(rank - 1, 0, ordered.shape[0] - 1)[None], axis=0)[0]
    threshold = np.where(count == 0, np.nan, np.where(rank > count, np.inf, picked))
    return float(threshold[0]) if axis is None else threshold
