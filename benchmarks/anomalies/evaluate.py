"""Precision, recall and F1 of the checks per injected fault kind, and the false alarm rate.

A fault kind counts as found only under its own check: ``spike`` by ``spike`` (the forecast
residual), ``stuck`` by ``stuck``, ``zero`` by ``zero``. Slow drift has no check of its own:
its recall counts a reading flagged under any kind, and it has no precision. The false alarm
rate is the share of healthy readings (label 0) flagged under any kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.anomalies.inject import FAULTS
from stgraph.anomalies import KINDS

__all__ = ["fault_scores"]


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


def fault_scores(labels: np.ndarray, kind: np.ndarray) -> dict[str, Any]:
    """Scores of the flags ``kind`` (positions in :data:`stgraph.anomalies.KINDS`, -1: none) against ``labels``.

    .. math::
        P_k = \\frac{|F_k \\cap T_k|}{|F_k|},\\quad R_k = \\frac{|F_k \\cap T_k|}{|T_k|},\\quad
        F1_k = \\frac{2 P_k R_k}{P_k + R_k}

    with :math:`T_k` the readings of injected fault kind :math:`k` and :math:`F_k` those flagged
    under check :math:`k`.

    Shapes:
        labels: int ``[time, sensors]`` (0 healthy, ``i + 1`` for ``FAULTS[i]``); kind: int, same shape
    """
    rows = []
    for position, fault in enumerate(FAULTS):
        truth = labels == position + 1
        flagged = kind >= 0 if fault not in KINDS else kind == KINDS.index(fault)
        found = int((truth & flagged).sum())
        precision = _ratio(found, int(flagged.sum())) if fault in KINDS else float("nan")
        recall = _ratio(found, int(truth.sum()))
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else float("nan")
        rows.append(
            {"fault": fault, "readings": int(truth.sum()), "found": found, "precision": precision, "recall": recall, "f1": f1}
        )
    healthy = labels == 0
    alarms = {name: int((healthy & (kind == i)).sum()) for i, name in enumerate(KINDS)}
    return {
        "faults": rows,
        "healthy_readings": int(healthy.sum()),
        "false_alarms": alarms,
        "false_alarm_rate": _ratio(sum(alarms.values()), int(healthy.sum())),
    }
