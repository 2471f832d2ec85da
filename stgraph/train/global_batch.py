r"""The whole global batch on every process of a distributed run, so that its loss is the one-process loss.

Under DDP each process forecasts its share of a global batch
(:class:`~stgraph.pipeline.data.RankBatches`) and DDP averages the processes' gradients. Were
each process to take the loss of its own share, a masked mean over observed entries would weight
the shares equally instead of the entries, and an RMSE (``training.loss: mae_rmse``) would be
the mean of the shares' RMSEs: not what one process computes. Here every process gathers all
shares' forecasts (differentiably: ``torch.distributed.nn.functional.all_gather``), targets and
masks, and computes the loss :math:`\mathcal{L}` of the whole global batch. The backward pass of
the gather sums, for the forecasts of process :math:`j`, the gradients of all :math:`R`
processes' (identical) losses, :math:`R\,\partial\mathcal{L}/\partial\hat z_j`; DDP's mean over
processes then gives :math:`\frac{1}{R}\sum_j R\,\frac{\partial\mathcal{L}}{\partial\hat z_j}
\frac{\partial\hat z_j}{\partial\theta} = \partial\mathcal{L}/\partial\theta`, the one-process
gradient, for every loss. The cost is one gather of ``[batch, horizon, nodes, channels]``
forecasts per step.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor
from torch.distributed.nn.functional import all_gather

__all__ = ["gather_batch"]


def _processes() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_batch(forecast: Tensor, *others: Tensor) -> tuple[Tensor, ...]:
    """``forecast`` and ``others`` of every process, concatenated along the batch axis (rank order);
    unchanged in a single process. Gradients flow back to each process's ``forecast`` only.

    Shapes:
        forecast, others: ``[share, ...]``, the same ``share`` on every process ->
        ``[share * processes, ...]``.
    """
    if _processes() == 1:
        return (forecast, *others)
    gathered = [torch.cat(all_gather(forecast.contiguous()), 0)]  # type: ignore[no-untyped-call]
    for tensor in others:
        # gloo gathers no bool tensors: masks travel as bytes
        sendable = tensor.to(torch.uint8) if tensor.dtype == torch.bool else tensor
        parts = [torch.empty_like(sendable) for _ in range(_processes())]
        dist.all_gather(parts, sendable.contiguous())
        gathered.append(torch.cat(parts, 0).to(tensor.dtype))
    return tuple(gathered)
