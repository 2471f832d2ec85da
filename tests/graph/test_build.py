"""Graphs from road distances and from sensor locations: kernel, counting, errors."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from stgraph.errors import GraphError
from stgraph.graph import (
    SensorGraph,
    from_distances,
    from_locations,
    graph_diagnostics,
    haversine_distances,
    read_sensor_ids,
)
from stgraph.graph.build import EARTH_RADIUS_M


def write(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def distances(tmp_path):
    return write(
        tmp_path / "distances.csv",
        "from,to,cost\na,a,0\na,b,100\nb,a,150\nb,c,300\nc,a,1000\nx,a,50\n",  # x is outside the sensor list
    )


def test_kernel_on_hand_made_distances(distances, caplog):
    with caplog.at_level(logging.INFO, logger="stgraph.graph"):
        graph = from_distances(distances, ["a", "b", "c", "d"])
    # distances between listed sensors: 0, 100, 150, 300, 1000; mean 310,
    # squared deviations 96100 + 44100 + 25600 + 100 + 476100 = 642000; / 5 = 128400
    sigma2 = 128400.0
    expected = np.zeros((4, 4))
    expected[0, 0] = 1.0
    expected[0, 1] = math.exp(-(100.0**2) / sigma2)  # 0.925
    expected[1, 0] = math.exp(-(150.0**2) / sigma2)  # 0.839
    expected[1, 2] = math.exp(-(300.0**2) / sigma2)  # 0.496
    # c -> a: exp(-1e6 / 128400) = 0.0004 < 0.1, dropped
    np.testing.assert_allclose(graph.adjacency.toarray(), expected, rtol=1e-12)
    report = graph.build_report
    assert report.sigma == pytest.approx(math.sqrt(sigma2))
    assert (report.rows, report.rows_used, report.rows_skipped, report.unknown_sensors) == (6, 5, 1, 1)
    assert report.isolated_sensors == ["d"]
    assert "skipped 1 of 6 rows" in caplog.text
    # links between two listed sensors: a-b, b-a, b-c, c-a; c-a's weight 4.1e-4 keeps above 1e-4
    assert (report.links, report.links_kept, report.links_dropped, report.suggested_threshold) == (4, 3, 1, 1e-4)
    assert (report.components, report.largest_component) == (2, 3)
    assert graph_diagnostics(graph) == [
        "warning: distances.csv: the kernel threshold 0.1 dropped 1 of 4 links (sigma 358); 1 of 4 sensors are now "
        "isolated and the graph has 2 components (largest 3 sensors). To keep them: --threshold 0.0001, or take the "
        'file\'s values as weights with --edges distances.csv (third column headed "weight").'
    ]


def test_threshold_and_sigma_arguments(distances):
    graph = from_distances(distances, ["a", "b", "c"], threshold=0.9, sigma=1000.0)
    # exp(-(d/1000)^2) >= 0.9 keeps d <= 324.6: a-a, a-b, b-a, b-c
    assert graph.adjacency[1, 2] == pytest.approx(math.exp(-0.09))
    assert graph.adjacency[2, 0] == 0.0
    assert graph.num_edges == 4


def test_undirected_keeps_the_shorter_direction(distances):
    graph = from_distances(distances, ["a", "b", "c"], directed=False)
    a = graph.adjacency.toarray()
    np.testing.assert_array_equal(a, a.T)
    assert a[1, 0] == a[0, 1] == pytest.approx(math.exp(-(100.0**2) / 128400.0))


def test_headerless_file_and_default_order(tmp_path):
    path = write(tmp_path / "d.csv", "30,30,0\n4,30,10\n30,4,12\n100,4,7\n")
    graph = from_distances(path)
    assert graph.sensor_ids == ["4", "30", "100"]  # integers: numeric ascending
    named = write(tmp_path / "n.csv", "from,to,cost\nzeta,alpha,1\nalpha,mid,2\n")
    assert from_distances(named).sensor_ids == ["zeta", "alpha", "mid"]  # first appearance


def test_repeated_pair_last_row_wins(tmp_path):
    path = write(tmp_path / "d.csv", "from,to,cost\n0,1,10\n1,0,20\n0,1,30\n")
    graph = from_distances(path, sigma=100.0)
    assert graph.adjacency[0, 1] == pytest.approx(math.exp(-0.09))
    assert graph.build_report.duplicate_rows == 1


def test_pems03_station_ids_with_id_file(tmp_path):
    path = write(tmp_path / "PEMS03.csv", "from,to,distance\n317842,318711,0.872\n318721,317842,1.322\n")
    ids = write(tmp_path / "PEMS03.txt", "318721\n317842\n318711\n")
    graph = from_distances(path, ids, sigma=1.0)
    assert graph.sensor_ids == ["318721", "317842", "318711"]
    assert graph.adjacency[1, 2] == pytest.approx(math.exp(-(0.872**2)))
    assert graph.adjacency[0, 1] == pytest.approx(math.exp(-(1.322**2)))
    assert graph.num_edges == 2


@pytest.mark.parametrize(
    "row, message",
    [
        ("a,b,-5", r"distances\.csv, line 3: negative distance -5 between sensors a and b"),
        ("a,b,far", r"distances\.csv, line 3: distance 'far' is not a number"),
        ("a,b,nan", r"distances\.csv, line 3: distance is NaN"),
        ("a,b", r"distances\.csv, line 3: expected 3 columns, got 2"),
    ],
)
def test_bad_distance_rows_name_file_and_line(tmp_path, row, message):
    path = write(tmp_path / "distances.csv", f"from,to,cost\na,a,0\n{row}\n")
    with pytest.raises(GraphError, match=message):
        from_distances(path)


def test_headerless_file_with_bad_first_row(tmp_path):
    path = write(tmp_path / "distances.csv", "a,b,far\nb,a,5\n")
    with pytest.raises(GraphError, match=r"distances\.csv, line 1: distance 'far' is not a number"):
        from_distances(path)


def test_no_distance_between_listed_sensors(distances):
    with pytest.raises(GraphError, match=r"distances\.csv: no finite distance between two listed sensors"):
        from_distances(distances, ["d", "e"])


def test_sensor_id_files(tmp_path):
    assert read_sensor_ids(write(tmp_path / "a.txt", "773869,767541, 767542\n")) == ["773869", "767541", "767542"]
    assert read_sensor_ids(write(tmp_path / "b.txt", "313344\n313349\n\n")) == ["313344", "313349"]
    with pytest.raises(GraphError, match=r"c\.txt: sensor id '7' is listed twice \(positions 0 and 2\)"):
        read_sensor_ids(write(tmp_path / "c.txt", "7,8,7"))


def test_haversine_one_degree_of_latitude():
    # along a meridian, 1 degree is R * pi / 180
    d = haversine_distances(np.array([[34.0, -118.0], [35.0, -118.0], [34.0, -118.0]]))
    assert d[0, 1] == pytest.approx(EARTH_RADIUS_M * math.pi / 180.0)
    assert d[1, 0] == d[0, 1] and d[0, 2] == 0.0


LOCATIONS = (
    "index,sensor_id,latitude,longitude\n0,s1,34.00,-118.00\n1,s2,34.01,-118.00\n2,s3,34.50,-118.00\n3,s4,34.025,-118.00\n"
)


def test_locations_kernel_matches_great_circle_distances(tmp_path):
    path = write(tmp_path / "loc.csv", LOCATIONS)
    graph = from_locations(path)
    coords = np.array([[34.0, -118.0], [34.01, -118.0], [34.5, -118.0], [34.025, -118.0]])
    np.testing.assert_allclose(graph.coordinates, coords)
    d = haversine_distances(coords)
    weights = np.exp(-((d / d.std()) ** 2))
    weights[weights < 0.1] = 0.0
    np.testing.assert_allclose(graph.adjacency.toarray(), weights)
    assert graph.build_report.isolated_sensors == ["s3"]  # 55 km from the others


def test_locations_k_nearest(tmp_path):
    path = write(tmp_path / "loc.csv", LOCATIONS)
    graph = from_locations(path, k=1)
    nearest = {graph.sensor_ids[i]: graph.sensor_ids[j] for i, j in zip(*graph.adjacency.nonzero())}
    assert nearest == {"s1": "s2", "s2": "s1", "s3": "s4", "s4": "s2"}
    assert graph.adjacency.diagonal().sum() == 0.0


def test_locations_layouts_and_subset(tmp_path):
    headerless = write(tmp_path / "bay.csv", "400001,37.36,-121.90\n400017,37.25,-121.94\n400030,37.35,-121.90\n")
    graph = from_locations(headerless, ["400030", "400001"])
    assert graph.sensor_ids == ["400030", "400001"]
    np.testing.assert_allclose(graph.coordinates, [[37.35, -121.90], [37.36, -121.90]])
    assert graph.build_report.rows_skipped == 1
    stations = write(
        tmp_path / "st.csv",
        ",ID,Fwy,Dir,District,Latitude,Longitude\n0,716939,5,S,7,34.04,-118.21\n1,759700,5,S,7,34.02,-118.19\n",
    )
    assert from_locations(stations).sensor_ids == ["716939", "759700"]


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        (LOCATIONS + "4,s5,134.0,-118.0\n", {}, r"loc\.csv, line 6: sensor s5 has latitude 134"),
        (LOCATIONS + "4,s5,north,-118.0\n", {}, r"loc\.csv, line 6: latitude 'north' is not a number"),
        (LOCATIONS + "4,s1,34.0,-118.0\n", {}, r"loc\.csv, line 6: sensor s1 already located on line 2"),
        ("name,x,y\na,1,2\n", {}, r"loc\.csv, line 1: expected columns for the sensor id, latitude and longitude"),
        (LOCATIONS, {"sensor_ids": ["s1", "s9"]}, r"loc\.csv: no location for 1 listed sensors: s9"),
        (LOCATIONS, {"k": 4}, r"loc\.csv: k must be between 1 and 3"),
    ],
)
def test_bad_locations(tmp_path, text, kwargs, message):
    path = write(tmp_path / "loc.csv", text)
    with pytest.raises(GraphError, match=message):
        from_locations(path, **kwargs)


def test_with_coordinates_aligns_by_sensor_id_and_keeps_operators():
    graph = SensorGraph(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0], [1.0, 0.0, 0.0]]), ["a", "b", "c"])
    forward = graph.operator("forward")
    located = graph.with_coordinates([[3.0, 30.0], [1.0, 10.0], [2.0, 20.0]], sensor_ids=["c", "a", "b"])
    np.testing.assert_array_equal(located.coordinates, [[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    assert located.operator("forward") is forward
    with pytest.raises(GraphError, match=r"no location for sensor.*b"):
        graph.with_coordinates([[0.0, 0.0], [1.0, 1.0]], sensor_ids=["a", "c"])
