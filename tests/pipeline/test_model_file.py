"""model.pt files: those of format 1, whose STGCN ``order`` counted Chebyshev terms, still load."""

from __future__ import annotations

import numpy as np
import torch

from stgraph.graph import SensorGraph
from stgraph.models import STGCN
from stgraph.pipeline.model_file import graph_state, load_model_file


def test_a_format_1_stgcn_file_loads_with_order_in_hops(tmp_path):
    ids = ["a", "b", "c"]
    graph = SensorGraph(np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.5], [0.0, 0.5, 0.0]]), ids)
    kwargs = {"num_sensors": 3, "in_features": 1, "channels": [[4, 2, 4], [4, 2, 4]]}
    torch.manual_seed(0)
    model = STGCN(**kwargs).eval()  # 3 Chebyshev terms, as order=3 built them in format 1
    state = {
        "format": "stgraph.forecast/1",
        "model": {"name": "stgcn", "kwargs": {**kwargs, "order": 3}},
        "state_dict": model.state_dict(),
        "sensor_ids": ids,
        "graph": graph_state(graph),
    }
    torch.save(state, tmp_path / "model.pt")
    loaded = load_model_file(tmp_path / "model.pt")
    assert loaded.model.blocks[0].graph_conv.order == 2
    x = torch.randn(2, 12, 3, 1)
    assert torch.equal(loaded.model(x, loaded.graph), model(x, graph))
