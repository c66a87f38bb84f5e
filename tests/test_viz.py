"""Drawings: DOT structure (parsed), backward graph, Values, rendering with dot, size limits, reports."""

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import graphviz
import pytest

import symgrad as sg
from symgrad.demo import micrograd_expression
from symgrad.engine import Value, draw_dot

x, y = sg.symbols("x y")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEEDS_DOT = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")

_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')


def parse_dot(source):
    """Nodes {id: {attr: value}} and edges [(tail, head, attrs)] of the DOT that draw() writes."""
    nodes, edges = {}, []
    for line in source.splitlines()[1:-1]:
        line = line.strip()
        if not line or line.startswith("graph "):
            continue
        head, _, rest = line.partition(" [")
        attrs = {k: v.strip('"') for k, v in _ATTR.findall(rest)}
        if " -> " in head:
            tail, target = head.split(" -> ")
            edges.append((tail, target, attrs))
        else:
            nodes[head] = attrs
    return nodes, edges


def fields(label):
    return [f.strip() for f in label.strip("{} ").split("|")]


def values_of(nodes):
    return {fields(a["label"])[0]: a for a in nodes.values() if a.get("shape") == "record"}


def test_forward_drawing_has_one_record_per_shared_subexpression():
    nodes, edges = parse_dot(sg.draw(sg.tanh(x * y) + x).source)
    records = values_of(nodes)
    assert set(records) == {"x", "y", "x * y", "tanh(x * y)", "tanh(x * y) + x"}
    ops = sorted(a["label"] for a in nodes.values() if a.get("shape") == "ellipse")
    assert ops == ["*", "+", "tanh"]
    assert len(edges) == 3 + 5  # op -> result, and each argument -> op


def test_edges_connect_arguments_to_their_op():
    nodes, edges = parse_dot(sg.draw(sg.exp(x) * y).source)
    by_label = {fields(a["label"])[0]: n for n, a in nodes.items() if a.get("shape") == "record"}
    mul_op = by_label["exp(x) * y"] + "_op"
    assert {(t, h) for t, h, _ in edges if h == mul_op} == {(by_label["exp(x)"], mul_op), (by_label["y"], mul_op)}


def test_symbols_and_constants_are_styled_distinctly():
    nodes, _ = parse_dot(sg.draw(x * 2.5).source)
    records = values_of(nodes)
    assert records["x"]["fillcolor"] == "#cfe2ff"
    assert "dashed" in records["2.5"]["style"]
    assert "fillcolor" not in records["x * 2.5"]


def test_drawing_at_a_point_shows_data_and_gradient():
    records = values_of(parse_dot(sg.draw(sg.tanh(x * y) + x, at={"x": 0.5, "y": 2.0}).source)[0])
    assert fields(records["x"]["label"])[1:] == ["data 0.5000", "grad 1.8399"]
    assert fields(records["x * y"]["label"])[1:] == ["data 1.0000", "grad 0.4200"]


def test_missing_value_at_a_point_is_named():
    with pytest.raises(ValueError, match="'y'"):
        sg.draw(x * y, at={"x": 1.0})


def test_backward_drawing_has_one_adjoint_node_per_backward_graph_node():
    f = sg.tanh(x * y) + x**2 / y
    value, grads = sg.value_and_grad(f, [x, y])
    forward = set(sg.topological_order([value]))
    backward_nodes = [n for n in sg.topological_order(grads) if n not in forward and n.args]
    nodes, edges = parse_dot(sg.draw(f, [x, y], backward=True).source)
    adjoint = [a for a in nodes.values() if a.get("fillcolor") == "#ffd8a8"]
    assert len(adjoint) == len(backward_nodes)
    outputs = sorted(fields(a["label"])[0].split(" = ")[0] for a in nodes.values() if a.get("penwidth"))
    assert outputs == ["d_x", "d_y"]
    assert any(attrs.get("style") == "dashed" for _, _, attrs in edges)  # adjoints reusing forward nodes


def test_compiled_function_draws_its_rewritten_graph():
    fn = sg.compile(x * 1 + 0 * y, wrt=[x, y])
    records = values_of(parse_dot(fn.draw().source)[0])
    assert "x * 1" not in records and "x" in records


def test_value_draw_dot_matches_micrograds_numbers():
    a, b = Value(-4.0, label="a"), Value(2.0, label="b")
    dot = draw_dot(micrograd_expression(a, b, lambda v: v.relu()))
    assert isinstance(dot, graphviz.Digraph) and dot.graph_attr["rankdir"] == "LR"
    records = values_of(parse_dot(dot.source)[0])
    assert fields(records["a"]["label"])[1:] == ["data -4.0000", "grad 138.8338"]
    assert fields(records["b"]["label"])[1:] == ["data 2.0000", "grad 645.5773"]


def test_large_graph_is_refused_with_the_ways_out():
    e = x
    for _ in range(300):
        e = sg.sin(e) + x
    with pytest.raises(ValueError, match=r"max_nodes=None.*depth=k"):
        sg.draw(e)
    assert len(parse_dot(sg.draw(e, max_nodes=None).source)[0]) > 500


def test_depth_draws_the_levels_nearest_the_output():
    e = x
    for _ in range(300):
        e = sg.sin(e) + x
    nodes, _ = parse_dot(sg.draw(e, depth=3).source)
    records = [a for a in nodes.values() if a.get("shape") == "record"]
    assert len(records) == 5  # levels 0-3: the output; sin(...) and x; a sum; its sin(...) (x is shared)
    assert any(a.get("shape") == "plaintext" for a in nodes.values())


def test_labels_cannot_break_the_dot_syntax():
    weird = sg.symbol('a"b{c}|d<e>')
    nodes, _ = parse_dot(sg.draw(weird * 2).source)
    assert any("a\\\"b\\{c\\}\\|d\\<e\\>" in a["label"] for a in nodes.values())


@NEEDS_DOT
def test_renders_svg_with_every_label():
    svg = sg.draw(sg.tanh(x * y) + x, at={"x": 0.5, "y": 2.0}).pipe(format="svg")
    root = ET.fromstring(svg)
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"x", "y", "x * y", "tanh(x * y)", "tanh", "data 0.5000", "grad 1.8399"} <= texts


@NEEDS_DOT
def test_renders_png(tmp_path):
    out = sg.draw(sg.tanh(x * y) + x, [x, y], backward=True).render(outfile=tmp_path / "g.png", cleanup=True)
    data = open(out, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_without_dot_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("PATH", "")
    dot = sg.draw(x * y)
    assert dot.source.startswith("digraph")
    with pytest.raises(graphviz.ExecutableNotFound, match="apt-get install graphviz"):
        dot.pipe(format="svg")


def test_report_lists_the_compile_stages():
    text = sg.compile(sg.tanh(x * y) + x**2 / y, wrt=[x, y]).report()
    for part in ("forward nodes", "backward nodes", "constants folded", "shared nodes (CSE)", "lines of code",
                 "differentiate"):
        assert part in text


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "symgrad", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_cli_dot_writes_dot_source(tmp_path):
    out = run_cli("dot", "tanh(x*y) + x", "-o", str(tmp_path / "g.dot"), "--backward")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


@NEEDS_DOT
def test_cli_dot_renders_svg(tmp_path):
    out = run_cli("dot", "tanh(x*y) + x", "-o", str(tmp_path / "g.svg"), "--at", "x=0.5,y=2")
    assert out.returncode == 0, out.stderr
    ET.parse(tmp_path / "g.svg")


def test_drawing_a_compiled_hessian_labels_each_derivative_as_the_source_names_it():
    x, y = sg.symbols("x y")
    fn = sg.compile((1 - x) ** 2 + 100 * (y - x**2) ** 2, wrt=[x, y], order=2)
    source = fn.draw(at={"x": 1.2, "y": 1.0}).source
    assert "d_x = " in source and "h_x_x = " in source and "h_x_y = " in source


def test_drawing_several_compiled_outputs_draws_every_value_and_jacobian_row():
    x, y = sg.symbols("x y")
    source = sg.compile([sg.sin(x) * y, x * y], wrt=[x, y]).draw().source
    assert "{ sin(x) * y }" in source and "{ x * y }" in source and "d0_x = " in source and "d0_y = " in source


def test_drawing_values_whose_labels_collide_keeps_every_leaf():
    from symgrad.engine import Value

    a, b, c = Value(2.0, label="a"), Value(3.0, label="a_3"), Value(5.0, label="a")
    source = sg.draw(a * b + c * a).source
    leaves = re.findall(r"label=\"\{ (\w+) \| data ([\d.]+) ", source)
    assert sorted(leaves) == [("a", "2.0000"), ("a_2", "5.0000"), ("a_3", "3.0000")]
