"""Large graphs: everything is iterative, so depth never raises RecursionError."""

import math
import pickle

import pytest

import symgrad as sg

pytestmark = pytest.mark.slow


def chain(steps):
    x0 = sg.symbols("x0")
    x = x0
    for _ in range(steps):
        x = sg.sin(x) * 1.01 + 0.1 * x0
    return x0, x


def chain_by_hand(x0, steps):
    """Value and derivative of the chain by forward mode in a plain loop."""
    x, dx = x0, 1.0
    for _ in range(steps):
        x, dx = math.sin(x) * 1.01 + 0.1 * x0, math.cos(x) * 1.01 * dx + 0.1
    return x, dx


MILLION_STEPS = 333_334  # 3 nodes per step: over 10**6 forward nodes


@pytest.fixture(autouse=True)
def fresh_cache():
    """Keep the compile cache across this module's tests: the million-node chain is compiled once."""
    sg.set_cache_size(256)


@pytest.fixture(scope="module")
def million_chain():
    """The chain at 10**6 nodes, compiled once for every test of a stage on it."""
    x0, x = chain(MILLION_STEPS)
    return x0, x, sg.compile(x, wrt=[x0])


def test_a_million_node_chain_compiles_and_is_correct(million_chain):
    _, _, fn = million_chain
    assert fn.stats.forward_nodes >= 1_000_000
    value, (grad,) = fn(0.3)
    want_value, want_grad = chain_by_hand(0.3, MILLION_STEPS)
    assert value == pytest.approx(want_value, rel=1e-9)
    assert grad == pytest.approx(want_grad, rel=1e-6)


def test_a_million_node_chain_is_rolled_into_a_loop(million_chain):
    _, _, fn = million_chain
    assert "rolled into a loop" in fn.stats.strategy and fn.stats.lines < 40


def test_a_million_node_chain_compiles_straight_line_in_chunks(million_chain):
    x0, x, rolled = million_chain
    fn = sg.compile(x, wrt=[x0], strategy="straight")
    assert "_chunk0" in fn.source
    value, (grad,) = fn(0.3)
    assert value == pytest.approx(rolled(0.3)[0], rel=1e-12) and grad == pytest.approx(rolled(0.3)[1][0], rel=1e-9)


def test_a_million_node_chain_pickles_and_its_source_is_checked_on_load(million_chain):
    _, x, fn = million_chain
    restored = pickle.loads(pickle.dumps(fn))
    assert restored.source == fn.source
    assert restored(0.3) == fn(0.3)
    assert pickle.loads(pickle.dumps(x)) is x


def test_a_million_node_chain_verifies_by_finite_differences(million_chain):
    x0, x, _ = million_chain
    report = sg.verify(x, [x0], points=2)
    assert report.ok
    assert "too large for sympy" in str(report)


def test_a_million_node_chain_prints_a_bounded_repr(million_chain):
    _, x, fn = million_chain
    assert len(repr(x)) < 400 and len(repr(fn.grad_exprs[0])) < 400
    assert len(repr(fn)) < 200


def test_a_million_node_chain_draws_its_top_levels_and_refuses_the_whole(million_chain):
    _, x, fn = million_chain
    with pytest.raises(ValueError, match="over max_nodes"):
        sg.draw(x)
    dot = sg.draw(fn, depth=4).source
    assert "d_x0" in dot and dot.count("->") < 200


def test_deep_nesting_survives_every_stage():
    x = sg.symbols("x")
    e = x
    for _ in range(100_000):
        e = sg.tanh(e)
    (g,) = sg.grad(e, [x])
    assert len(sg.topological_order([g])) > 100_000
    assert pickle.loads(pickle.dumps(e)) is e
    assert len(repr(g)) < 400  # printed without recursing, cut short
    assert sg.verify(e, [x], points=1, max_sympy_nodes=1000).ok
    value, (slope,) = sg.compile(e, wrt=[x])(0.5)
    assert 0 < value < 0.5 and 0 < slope < 1


def rosenbrock(xs):
    return sum(100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(len(xs) - 1))


def rosenbrock_grad_by_hand(v):
    g = [0.0] * len(v)
    for i in range(len(v) - 1):
        g[i] += -400 * v[i] * (v[i + 1] - v[i] ** 2) - 2 * (1 - v[i])
        g[i + 1] += 200 * (v[i + 1] - v[i] ** 2)
    return g


def test_extended_rosenbrock_with_ten_thousand_variables():
    n = 10_000
    xs = [sg.symbol(f"x{i}") for i in range(n)]
    fn = sg.compile(rosenbrock(xs), wrt=xs)
    point = [math.sin(i) for i in range(n)]
    value, grad = fn(*point)
    assert value == pytest.approx(sum(100 * (point[i + 1] - point[i] ** 2) ** 2 + (1 - point[i]) ** 2
                                      for i in range(n - 1)), rel=1e-12)
    assert list(grad) == pytest.approx(rosenbrock_grad_by_hand(point), rel=1e-12, abs=1e-12)


_DROPPING_ROUNDS = """
import gc, json, tracemalloc
import symgrad as sg
x = sg.symbols("x")
gc.collect()
tracemalloc.start()
baseline = tracemalloc.get_traced_memory()[0]
left = []
for round_ in range(5):  # 5 rounds of 200,000 distinct nodes each
    nodes = [sg.exp(x * (round_ * 100_000 + i + 0.5)) for i in range(100_000)]
    del nodes
    gc.collect()
    left.append(tracemalloc.get_traced_memory()[0] - baseline)
print(json.dumps(left))
"""


def test_building_and_dropping_a_million_distinct_nodes_leaves_memory_flat():
    # In a fresh process: where another graph is alive (this module's million-node chain), adding
    # nodes can make an intern table resize to a size set by that graph, which is no leak.
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run([sys.executable, "-c", _DROPPING_ROUNDS], capture_output=True, text=True, check=True,
                         cwd=root, env={**os.environ, "PYTHONPATH": root})
    left = json.loads(out.stdout)
    # What is left is the intern tables' capacity (dicts resize on their own schedule, bounded by the
    # largest live graph): ~10-20 MB. Leaked nodes would add ~50 MB every round, 250 MB in all.
    assert max(left) < 40_000_000, left


def test_dropped_nodes_leave_the_intern_tables():
    import gc

    from symgrad.expr import _interned

    x = sg.symbols("x")
    gc.collect()
    before = sum(map(len, _interned.values()))
    nodes = [sg.exp(x * (i + 0.25)) for i in range(100_000)]
    assert sum(map(len, _interned.values())) >= before + 300_000  # a constant, a product, an exp each
    del nodes
    gc.collect()
    assert sum(map(len, _interned.values())) == before


def test_extended_rosenbrock_with_a_hundred_thousand_variables_a_million_nodes():
    n = 100_000
    xs = [sg.symbol(f"x{i}") for i in range(n)]
    f = rosenbrock(xs)
    fn = sg.compile(f, wrt=xs, cache=False)
    assert fn.stats.forward_nodes > 800_000
    point = [math.sin(i) for i in range(n)]
    _, grad = fn(*point)
    assert list(grad) == pytest.approx(rosenbrock_grad_by_hand(point), rel=1e-12, abs=1e-12)
    assert len(repr(f)) < 400 and len(repr(fn.grad_exprs[0])) < 400
