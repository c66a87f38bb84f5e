"""The small costs a change to the graph or the cache can move, side by side in one table.

    python benchmarks/bench_costs.py            # best of 7 rounds each
    python benchmarks/bench_costs.py --rounds 3

- building a graph: Rosenbrock n = 2*10^4 through Python operators, ns per node;
- rebuilding a graph from its pickle records (every record checked), ns per record;
- a compile-cache hit on Rosenbrock n = 10^4 (no graph walked), ms;
- one call of micrograd's README expression, compiled, ns.

To compare two versions, run this file from each checkout (it imports the
symgrad of the checkout it sits in), alternating, in fresh processes.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import symgrad as sg
from benchmarks import tasks
from symgrad import expr
from symgrad.demo import micrograd_expression


def best(run, rounds: int) -> float:
    """The least time of ``rounds`` calls of ``run`` (collected in between, not during)."""
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def build_per_node(rounds: int) -> float:
    n = 20_000

    def build():
        xs = [sg.symbol(f"x{i}") for i in range(n)]
        return tasks.rosenbrock_expression(xs)

    nodes = sg.topological_order([build()])
    return best(build, rounds) / len(nodes) * 1e9


def rebuild_per_record(rounds: int) -> float:
    x = sg.symbol("x")
    e = x
    for _ in range(100_000):
        e = sg.tanh(e) * 0.5 + x
    records, roots = expr.serialise_graph([e])
    return best(lambda: expr.rebuild_graph(records, roots), rounds) / len(records) * 1e9


def cache_hit_ms(rounds: int) -> float:
    xs = [sg.symbol(f"x{i}") for i in range(10_000)]
    f = tasks.rosenbrock_expression(xs)
    fn = sg.compile(f, wrt=xs)
    assert sg.compile(f, wrt=xs) is fn
    return best(lambda: sg.compile(f, wrt=xs), rounds) * 1e3


def call_ns(rounds: int) -> float:
    a, b = sg.symbols("a b")
    fn = sg.compile(micrograd_expression(a, b, sg.relu), wrt=[a, b])
    return min(timeit.repeat(lambda: fn(-4.0, 2.0), number=100_000, repeat=rounds)) / 100_000 * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    rows = [
        ("build a graph (Rosenbrock 2*10^4), per node", build_per_node(rounds), "ns"),
        ("rebuild from pickle records, per record", rebuild_per_record(rounds), "ns"),
        ("compile-cache hit (Rosenbrock 10^4)", cache_hit_ms(rounds), "ms"),
        ("call micrograd's README expression", call_ns(rounds), "ns"),
    ]
    print(f"# symgrad costs, best of {rounds} — Python {sys.version.split()[0]}\n")
    print("| cost | value |\n|---|---|")
    for label, value, unit in rows:
        print(f"| {label} | {value:,.1f} {unit} |")


if __name__ == "__main__":
    main()
