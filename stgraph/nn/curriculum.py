r"""Curriculum over horizons: the loss starts on the first forecast step and adds one more step
every ``every`` optimiser steps or epochs, until it covers the whole horizon.

MTGNN (Wu et al., KDD 2020; ``trainer.py``) and D2STGNN (Shao et al., VLDB 2022; BasicTS's
``curriculum_learning``) train this way: near steps are easy and their gradients settle the
shared layers before the far steps, whose errors are larger, dominate the loss. With
:math:`H` horizon steps and ``every`` = :math:`s`, the loss at progress :math:`t` covers

.. math::
    k(t) = \min\left(H,\ 1 + \left\lfloor t / s \right\rfloor\right)

steps, :math:`\mathcal{L} = \frac{1}{|\Omega_{\le k}|} \sum_{(h, n) \in \Omega, h \le k}
|\hat y_{h,n} - y_{h,n}|`. The unit of :math:`t` follows each code: MTGNN counts iterations
from 1 (``iter % step_size1 == 0`` raises the level before that iteration's loss, so the
second step joins at iteration 2,500), so ``unit="steps"`` uses :math:`t` = optimiser steps
done + 1; BasicTS counts epochs from 1 and ``(epoch - 1) // cl_epochs + 1``, so
``unit="epochs"`` uses :math:`t` = epochs done. The trainer applies it; the model never sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CURRICULUM_UNITS", "HorizonCurriculum"]

#: What ``HorizonCurriculum.every`` counts.
CURRICULUM_UNITS = ("steps", "epochs")


@dataclass(frozen=True)
class HorizonCurriculum:
    """How many leading horizon steps the loss covers as training progresses.

    Args:
        horizon: forecast steps of the model, :math:`H`.
        every: optimiser steps (``unit="steps"``) or epochs (``unit="epochs"``) per added step.
        unit: ``"steps"`` (MTGNN: one more step every 2,500 iterations) or ``"epochs"``
            (D2STGNN: every 6 epochs).

    >>> curriculum = HorizonCurriculum(horizon=12, every=2500, unit="steps")
    >>> [curriculum.steps(step=s, epoch=0) for s in (0, 2498, 2499, 27500)]
    [1, 1, 2, 12]
    >>> [HorizonCurriculum(12, 6, "epochs").steps(step=0, epoch=e) for e in (0, 5, 6, 100)]
    [1, 1, 2, 12]
    """

    horizon: int
    every: int
    unit: str = "steps"

    def __post_init__(self) -> None:
        if self.unit not in CURRICULUM_UNITS:
            raise ValueError(f"curriculum unit must be one of {CURRICULUM_UNITS}, got {self.unit!r}")
        if not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"curriculum every must be a positive integer, got {self.every!r}")
        if self.horizon < 1:
            raise ValueError(f"horizon must be positive, got {self.horizon}")

    def steps(self, *, step: int, epoch: int) -> int:
        """Leading horizon steps in the loss, given ``step`` optimiser steps and ``epoch`` epochs done.

        Both counts start at 0 for the first batch of the first epoch.
        """
        progress = step + 1 if self.unit == "steps" else epoch
        return min(self.horizon, 1 + progress // self.every)
