"""Forecasting models as plain ``torch.nn.Module``s, and the name -> class registry.

Every model takes keyword-only ``num_sensors, in_features, out_channels=1, lookback=12,
horizon=12`` and then its paper's hyperparameters (paper defaults), and maps
``forward(x, graph, *, target=None, teacher_forcing=0.0)`` with ``x`` ``[batch, lookback,
nodes, in_features]`` to ``[batch, horizon, nodes, out_channels]``. Its constructor arguments
are kept in ``model.init_kwargs``, so ``create(name_of(model), **model.init_kwargs)`` rebuilds
it; ``type(model).accepts_teacher_forcing`` says whether it uses ``target``, and
``sensor_subsets`` whether it trains on sensor subgraphs (``training.sensor_batch``; if not,
``sensor_subsets_reason`` says why).

>>> from stgraph.models import available, create
>>> available()
['agcrn', 'd2stgnn', 'dcrnn', 'fc_lstm', 'gman', 'graph_wavenet', 'mtgnn', 'staeformer', 'stgcn', 'stid', 'tgcn']
>>> model = create("gwnet", num_sensors=207, in_features=2)
"""

from __future__ import annotations

from typing import Any

from stgraph.models._base import ForecastModel
from stgraph.models.agcrn import AGCRN
from stgraph.models.d2stgnn import D2STGNN
from stgraph.models.dcrnn import DCRNN
from stgraph.models.fc_lstm import FCLSTM
from stgraph.models.gman import GMAN
from stgraph.models.graph_wavenet import GraphWaveNet
from stgraph.models.mtgnn import MTGNN
from stgraph.models.staeformer import STAEformer
from stgraph.models.stgcn import STGCN
from stgraph.models.stid import STID
from stgraph.models.tgcn import TGCN

__all__ = [
    "AGCRN",
    "D2STGNN",
    "DCRNN",
    "FCLSTM",
    "GMAN",
    "MODELS",
    "MTGNN",
    "STGCN",
    "STID",
    "TGCN",
    "ForecastModel",
    "GraphWaveNet",
    "STAEformer",
    "available",
    "create",
    "get",
    "name_of",
]

MODELS: dict[str, type[ForecastModel]] = {
    "agcrn": AGCRN,
    "d2stgnn": D2STGNN,
    "dcrnn": DCRNN,
    "fc_lstm": FCLSTM,
    "gman": GMAN,
    "graph_wavenet": GraphWaveNet,
    "mtgnn": MTGNN,
    "staeformer": STAEformer,
    "stgcn": STGCN,
    "stid": STID,
    "tgcn": TGCN,
}
_ALIASES = {"gwnet": "graph_wavenet", "fclstm": "fc_lstm", "t_gcn": "tgcn"}


def available() -> list[str]:
    """Registered model names, sorted (aliases such as ``"gwnet"`` are accepted too)."""
    return sorted(MODELS)


def get(name: str) -> type[ForecastModel]:
    """The model class registered as ``name`` (case-insensitive, ``-`` read as ``_``)."""
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    try:
        return MODELS[key]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available())} (alias: gwnet)") from None


def create(name: str, **kwargs: Any) -> ForecastModel:
    """Build model ``name`` with keyword arguments, e.g. ``create("dcrnn", num_sensors=207, in_features=2)``."""
    return get(name)(**kwargs)


def name_of(model: ForecastModel | type[ForecastModel]) -> str:
    """The registry name of a model instance or class (what checkpoints store)."""
    cls = model if isinstance(model, type) else type(model)
    for name, registered in MODELS.items():
        if registered is cls:
            return name
    raise ValueError(f"{cls.__name__} is not a registered model; available: {', '.join(available())}")
