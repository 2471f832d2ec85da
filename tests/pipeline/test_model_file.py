"""model.pt files: those of format 1, whose STGCN ``order`` counted Chebyshev terms, still load; saving is atomic."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import torch

from stgraph.graph import SensorGraph
from stgraph.io.atomic import WriteError
from stgraph.models import STGCN
from stgraph.pipeline.model_file import graph_state, load_model_file, save_model_file


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


def test_a_full_disk_while_saving_is_a_write_error_naming_the_file(tmp_path, monkeypatch):
    (tmp_path / "model.pt").write_bytes(b"the previous best")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteError, match=r"cannot write .*model\.pt: No space left on device"):
        save_model_file(tmp_path / "model.pt", {"state_dict": {"w": torch.zeros(3)}})
    assert (tmp_path / "model.pt").read_bytes() == b"the previous best"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
