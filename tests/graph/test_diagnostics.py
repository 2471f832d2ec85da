"""What a graph builder lost, said with the numbers and the remedy; how an edge file's third column is read."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stgraph.errors import GraphError
from stgraph.graph import from_distances, from_edge_list, from_locations, from_matrix, graph_diagnostics
from stgraph.graph.readers import column_meaning

# a chain of five stops s1 -> s2 -> s3 -> s4 -> s5 whose last link is long:
# distances 100, 100, 100, 5000; mean 1325; squared deviations 3 x 1225^2 + 3675^2 = 18,007,500;
# / 4 = 4,501,875 = sigma^2, sigma = 2121.76. exp(-(5000 / sigma)^2) = exp(-5.553) = 0.003875 < 0.1
CHAIN = "s1,s2,100\ns2,s3,100\ns3,s4,100\ns4,s5,5000\n"
SIGMA = math.sqrt(4_501_875.0)
CHAIN_WARNING = (
    "the kernel threshold 0.1 dropped 1 of 4 links (sigma 2122); 1 of 5 sensors are now isolated and the graph "
    "has 2 components (largest 4 sensors)."
)


def write(path, text):
    path.write_text(text)
    return path


def test_threshold_dropping_the_long_link_says_how_many_and_what_to_pass(tmp_path):
    graph = from_distances(write(tmp_path / "links.csv", "from,to,distance\n" + CHAIN))
    report = graph.build_report
    assert report.sigma == pytest.approx(SIGMA)
    assert math.exp(-((5000 / SIGMA) ** 2)) == pytest.approx(0.003875, abs=1e-6)
    assert (report.links, report.links_kept, report.links_dropped, report.suggested_threshold) == (4, 3, 1, 0.001)
    assert (report.sensors, report.isolated_sensors, report.components, report.largest_component) == (5, ["s5"], 2, 4)
    assert graph_diagnostics(graph) == [
        f"warning: links.csv: {CHAIN_WARNING} To keep them: --threshold 0.001, or take the file's values as weights "
        'with --edges links.csv (third column headed "weight").'
    ]


def test_the_suggested_threshold_keeps_every_link_and_nothing_is_said(tmp_path):
    graph = from_distances(write(tmp_path / "links.csv", CHAIN), threshold=0.001)
    assert graph.num_edges == 4
    assert graph_diagnostics(graph) == []


def test_a_dropped_link_that_isolates_nobody_is_a_note(tmp_path):
    # same four distances (same sigma); the long one, s3 -> s1, closes a loop the others keep connected
    graph = from_distances(write(tmp_path / "links.csv", "s1,s2,100\ns2,s3,100\ns3,s2,100\ns3,s1,5000\n"))
    assert graph_diagnostics(graph) == [
        "note: links.csv: the kernel threshold 0.1 dropped 1 of 4 links (sigma 2122); "
        "every sensor keeps a link and the graph is connected."
    ]


def test_a_distance_headed_edge_file_is_the_kernel_of_from_distances(tmp_path):
    path = write(tmp_path / "edges.csv", "from,to,distance\n" + CHAIN)
    graph = from_edge_list(path)
    expected = from_distances(path)
    np.testing.assert_array_equal(graph.adjacency.toarray(), expected.adjacency.toarray())
    assert graph.sensor_ids == expected.sensor_ids
    assert graph_diagnostics(graph) == [
        "edges.csv: third column 'distance' read as a distance (Gaussian kernel, sigma 2122, threshold 0.1)",
        f"warning: edges.csv: {CHAIN_WARNING} To keep them: --threshold 0.001, or head the third column "
        '"weight" to take the values as weights.',
    ]
    assert from_edge_list(path, threshold=0.001).num_edges == 4


@pytest.mark.parametrize(
    ("header", "meaning"),
    [
        ("distance", "distance"),
        ("cost", "distance"),
        ("Length_km", "distance"),
        ("travel_time", "distance"),
        ("distance (m)", "distance"),
        ("miles", "distance"),
        ("weight", "weight"),
        ("W", "weight"),
        ("strength", "weight"),
        ("adjacency", "weight"),
        ("distance_weight", None),
        ("flow", None),
        (None, None),
    ],
)
def test_column_meaning_reads_the_words_of_the_header(header, meaning):
    assert column_meaning(header) == meaning


def test_a_weight_headed_edge_file_keeps_its_values(tmp_path):
    graph = from_edge_list(write(tmp_path / "edges.csv", "stop_a,stop_b,weight\ns1,s2,0.5\ns2,s3,2\n"))
    np.testing.assert_array_equal(graph.adjacency.toarray(), [[0, 0.5, 0], [0, 0, 2], [0, 0, 0]])
    assert graph.build_report.kind == "edge_weights"
    assert graph_diagnostics(graph) == ["edges.csv: third column 'weight' read as edge weights as given"]


def test_a_headerless_edge_file_is_read_as_weights_and_says_so(tmp_path):
    graph = from_edge_list(write(tmp_path / "edges.csv", CHAIN))
    np.testing.assert_array_equal(graph.adjacency.toarray()[3], [0, 0, 0, 0, 5000])
    assert graph_diagnostics(graph) == [
        "edges.csv: no header; third column read as edge weights as given "
        '(head it "distance" for the Gaussian kernel of distances, "weight" to silence this)'
    ]


def test_an_unknown_header_is_named_and_read_as_weights(tmp_path):
    graph = from_edge_list(write(tmp_path / "edges.csv", "from,to,flow\n" + CHAIN))
    assert graph.adjacency[3, 4] == 5000
    assert graph_diagnostics(graph) == [
        "edges.csv: third column 'flow' is neither a distance (distance, distances, dist, cost, length, km, m, "
        "metres, meters, miles, mi, time) nor a weight (weight, weights, w, strength, adjacency); "
        "read as edge weights as given"
    ]


def test_weights_isolating_a_sensor_are_warned_without_threshold_advice(tmp_path):
    sensors = ["s1", "s2", "s3", "s9"]
    graph = from_edge_list(write(tmp_path / "edges.csv", "from,to,weight\ns1,s2,1\ns2,s3,0.5\n"), sensors)
    assert graph_diagnostics(graph) == [
        "edges.csv: third column 'weight' read as edge weights as given",
        "warning: edges.csv: 1 of 4 sensors are isolated and the graph has 2 components (largest 3 sensors).",
    ]


def test_a_distances_file_headed_weight_is_refused(tmp_path):
    path = write(tmp_path / "roads.csv", "from,to,weight\ns1,s2,0.5\n")
    with pytest.raises(GraphError) as error:
        from_distances(path)
    assert str(error.value) == (
        f"{path}: the third column is headed 'weight', so it holds edge weights, not distances; "
        f"read it with --edges {path} (stgraph.graph.from_edge_list), which takes weights as given"
    )


def test_an_adjacency_matrix_reports_isolation_and_components_only():
    graph = from_matrix(np.array([[1.0, 0.4, 0.0], [0.4, 1.0, 0.0], [0.0, 0.0, 1.0]]), ["a", "b", "c"])
    assert graph_diagnostics(graph) == [
        "warning: 1 of 3 sensors are isolated and the graph has 2 components (largest 2 sensors)."
    ]
    connected = from_matrix(np.array([[0.0, 0.4], [0.0, 0.0]]))
    assert graph_diagnostics(connected) == []


LOCATIONS = (
    "index,sensor_id,latitude,longitude\n0,s1,34.00,-118.00\n1,s2,34.01,-118.00\n2,s3,34.50,-118.00\n3,s4,34.025,-118.00\n"
)


def test_locations_kernel_suggests_a_threshold_and_nearest_neighbours(tmp_path):
    graph = from_locations(write(tmp_path / "loc.csv", LOCATIONS))
    report = graph.build_report
    # s3 is 52.8 km from its nearest sensor s4: weight exp(-(52.8 / 25.77)^2) = 0.015, kept from 0.01 on
    nearest = 0.475 * math.pi / 180 * 6_371_008.8
    assert math.exp(-((nearest / report.sigma) ** 2)) == pytest.approx(0.0150, abs=1e-4)
    assert (report.links, report.links_kept, report.suggested_threshold) == (12, 6, 0.01)
    assert graph_diagnostics(graph) == [
        "warning: loc.csv: the kernel threshold 0.1 dropped 6 of 12 sensor pairs (sigma 25773 m); 1 of 4 sensors "
        "are now isolated and the graph has 2 components (largest 3 sensors). To link more sensors: --threshold "
        "0.01, or link each sensor to its K nearest with --neighbors K."
    ]
    assert graph_diagnostics(from_locations(tmp_path / "loc.csv", threshold=0.01)) == []


def test_nearest_neighbours_in_two_clusters_suggest_more_neighbours(tmp_path):
    path = write(
        tmp_path / "loc.csv",
        "sensor_id,latitude,longitude\ns1,34.00,-118.00\ns2,34.01,-118.00\ns3,34.50,-118.00\ns4,34.51,-118.00\n",
    )
    graph = from_locations(path, k=1)
    assert (graph.build_report.links, graph.build_report.links_kept, graph.build_report.links_dropped) == (4, 4, 0)
    assert graph_diagnostics(graph) == [
        "warning: loc.csv: the graph has 2 components (largest 2 sensors). To link more sensors: a larger --neighbors K."
    ]
    assert graph_diagnostics(from_locations(path, k=2)) == []


def test_a_new_sensor_order_keeps_the_report(tmp_path):
    graph = from_distances(write(tmp_path / "links.csv", CHAIN))
    assert graph_diagnostics(graph.permute([4, 3, 2, 1, 0])) == graph_diagnostics(graph)


def test_pems04_cost_file_loses_a_third_of_its_links_to_the_threshold(shared_data):
    path = shared_data / "pems04-graph" / "PEMS04.csv"
    graph = from_distances(path)
    assert graph_diagnostics(graph) == [
        "warning: PEMS04.csv: the kernel threshold 0.1 dropped 131 of 340 links (sigma 257); 67 of 307 sensors are "
        "now isolated and the graph has 117 components (largest 26 sensors). To keep them: --threshold 0, or take "
        'the file\'s values as weights with --edges PEMS04.csv (third column headed "weight").'
    ]
    as_edges = from_edge_list(path)  # header from,to,cost: a distance
    np.testing.assert_array_equal(as_edges.adjacency.toarray(), graph.adjacency.toarray())
    assert graph_diagnostics(as_edges)[0] == (
        "PEMS04.csv: third column 'cost' read as a distance (Gaussian kernel, sigma 257, threshold 0.1)"
    )
