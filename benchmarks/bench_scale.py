"""Set-up time and memory per node, from 10^3 to 10^6 nodes: is compiling linear?

    python benchmarks/bench_scale.py            # 10^3 ... 10^6 nodes (a few minutes)
    python benchmarks/bench_scale.py --quick    # 10^3 ... 10^5

The graph is the chain x_{k+1} = sin(x_k) * 1.01 + 0.1 * x_0 (3 new nodes per
step). For each size: building the graph (tracemalloc: bytes per forward
node), compiling it (value and gradient), and CPython's own compile() of the
emitted source; then the ratio of the largest to the smallest set-up time per
node. Every result is checked against the chain's derivative in a plain loop.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import symgrad as sg
from benchmarks.tasks import CHAIN_START, chain_by_hand, chain_expression


def chain(steps):
    x0 = sg.symbols("x0")
    return x0, chain_expression(x0, steps, sg.sin)


def measure(nodes):
    steps = nodes // 3
    gc.collect()
    tracemalloc.start()
    x0, x = chain(steps)
    built, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del x0, x
    gc.collect()

    start = time.perf_counter()
    x0, x = chain(steps)
    build = time.perf_counter() - start
    start = time.perf_counter()
    fn = sg.compile(x, wrt=[x0], cache=False, strategy="straight")  # the pipeline per node, not the loop
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    compile(fn.source, "<bench>", "exec")
    cpython = time.perf_counter() - start
    value, (grad,) = fn(CHAIN_START)
    want_value, want_grad = chain_by_hand(CHAIN_START, steps)
    assert abs(value - want_value) <= 1e-9 * abs(want_value) and abs(grad - want_grad) <= 1e-6 * abs(want_grad)
    forward_nodes = fn.stats.forward_nodes
    return {"nodes": forward_nodes, "bytes": built / forward_nodes, "build": build, "compile": compile_seconds,
            "setup": build + compile_seconds, "cpython": cpython}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [10**3, 10**4, 10**5] if args.quick else [10**3, 10**4, 10**5, 10**6]
    rows = [measure(n) for n in sizes]
    print(f"# Scale benchmark — {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores\n")
    print("| forward nodes | bytes per node (graph) | build | compile | set-up per node | "
          "CPython compile() of the source | set-up / CPython compile |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['nodes']:,} | {r['bytes']:.0f} B | {r['build']:.3f} s | {r['compile']:.3f} s | "
              f"{r['setup'] / r['nodes'] * 1e6:.1f} µs | {r['cpython']:.3f} s | {r['setup'] / r['cpython']:.1f}× |")
    per_node = [r["setup"] / r["nodes"] for r in rows]
    print(f"\nlargest / smallest set-up time per node: {max(per_node) / min(per_node):.2f}")


if __name__ == "__main__":
    main()
