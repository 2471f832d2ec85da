"""A damaged or foreign model.pt is one line naming the file and the fault, never torch's advice."""

from __future__ import annotations

import fractions
import pickle

import numpy as np
import pytest
import torch

from stgraph.errors import RunError
from stgraph.graph import SensorGraph
from stgraph.models import STGCN
from stgraph.pipeline.model_file import FORMAT, graph_state, load_model_file

KWARGS = {"num_sensors": 3, "in_features": 1, "channels": [[4, 2, 4], [4, 2, 4]]}


def stgraph_state(**changes):
    ids = ["a", "b", "c"]
    graph = SensorGraph(np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.5], [0.0, 0.5, 0.0]]), ids)
    torch.manual_seed(0)
    state = {
        "format": FORMAT,
        "model": {"name": "stgcn", "kwargs": dict(KWARGS)},
        "state_dict": STGCN(**KWARGS).state_dict(),
        "sensor_ids": ids,
        "graph": graph_state(graph),
    }
    state.update(changes)
    return state


@pytest.fixture
def good_file(tmp_path):
    torch.save(stgraph_state(), tmp_path / "model.pt")
    assert load_model_file(tmp_path / "model.pt").sensor_ids == ["a", "b", "c"]
    return tmp_path / "model.pt"


def assert_one_line(error):
    message = str(error.value)
    assert "\n" not in message and "weights_only" not in message, message


def test_truncated_file(good_file):
    data = good_file.read_bytes()
    good_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(RunError, match=r"model\.pt: truncated or corrupt model file") as error:
        load_model_file(good_file)
    assert_one_line(error)


def test_corrupt_bytes_and_a_text_file(good_file, tmp_path):
    data = bytearray(good_file.read_bytes())
    data[100:200] = bytes(100)
    good_file.write_bytes(bytes(data))
    with pytest.raises(RunError, match=r"model\.pt: (truncated or corrupt|not an stgraph)") as error:
        load_model_file(good_file)
    assert_one_line(error)
    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    with pytest.raises(RunError, match=r"notes\.pt: ") as error:
        load_model_file(text)
    assert_one_line(error)


def test_pickled_objects_are_refused_without_suggesting_weights_only_false(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"format": FORMAT, "thing": fractions.Fraction(1, 3)}, path)  # not on torch's allow-list
    with pytest.raises(RunError, match=r"model\.pt: not an stgraph model file \(it holds Python objects") as error:
        load_model_file(path)
    assert_one_line(error)
    path.write_bytes(pickle.dumps(fractions.Fraction(1, 3)))  # a bare pickle, not a torch archive
    with pytest.raises(RunError, match=r"model\.pt: ") as error:
        load_model_file(path)
    assert_one_line(error)


def test_not_an_stgraph_file(tmp_path):
    path = tmp_path / "resnet.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(RunError, match=r"resnet\.pt: not an stgraph model file \(format None"):
        load_model_file(path)
    torch.save(stgraph_state(graph=None), path)
    with pytest.raises(RunError, match=r"resnet\.pt: damaged stgraph model file \(the stored graph"):
        load_model_file(path)
    state = stgraph_state()
    del state["sensor_ids"]
    torch.save(state, path)
    with pytest.raises(RunError, match=r"resnet\.pt: damaged stgraph model file \(entry 'sensor_ids' missing"):
        load_model_file(path)


def test_weights_of_another_shape_name_the_tensor_and_both_shapes(tmp_path):
    path = tmp_path / "model.pt"
    torch.manual_seed(0)
    other = STGCN(**{**KWARGS, "channels": [[4, 3, 4], [4, 2, 4]]}).state_dict()
    torch.save(stgraph_state(state_dict=other), path)
    with pytest.raises(
        RunError, match=r"model\.pt: the weights do not fit model 'stgcn' .*'blocks\.0\..*' is \[.*\] in the file"
    ) as error:
        load_model_file(path)
    assert_one_line(error)
    fewer = dict(STGCN(**KWARGS).state_dict())
    fewer.pop(next(iter(fewer)))
    torch.save(stgraph_state(state_dict=fewer), path)
    with pytest.raises(RunError, match=r"model\.pt: the weights do not fit .*1 weights missing"):
        load_model_file(path)
    torch.save(stgraph_state(model={"name": "stgcn", "kwargs": {**KWARGS, "hidden_size": 3}}), path)
    with pytest.raises(RunError, match=r"model\.pt: cannot rebuild model 'stgcn' from the file's kwargs"):
        load_model_file(path)
