r"""Training schedules the trainer computes and the models never see.

No Lightning here: ``benchmarks/`` imports this module for its own training loop.
"""

from __future__ import annotations

import math

__all__ = ["inverse_sigmoid_decay"]


def inverse_sigmoid_decay(step: int, tau: float = 2000.0) -> float:
    r"""Scheduled-sampling probability of feeding the truth at training step ``step``.

    .. math::
        \epsilon_i = \frac{\tau}{\tau + \exp(i / \tau)}

    (Bengio et al., NeurIPS 2015; DCRNN's ``_compute_sampling_threshold`` with
    ``cl_decay_steps`` :math:`\tau = 2000` for METR-LA and PEMS-BAY). ``step`` counts optimiser
    steps (batches) since the start of training. The trainer computes it and passes it to
    ``model(x, graph, target=..., teacher_forcing=p)`` for models whose
    ``accepts_teacher_forcing`` is True; the model never sees the step.

    >>> round(inverse_sigmoid_decay(0), 4), round(inverse_sigmoid_decay(20000), 4)
    (0.9995, 0.0832)
    """
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    exponent = step / tau
    if exponent > 700.0:  # exp overflows a float; the probability is 0 to double precision
        return 0.0
    return tau / (tau + math.exp(exponent))
