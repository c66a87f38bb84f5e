"""The loop strategy against straight-line code on the chain ``x = sin(x)*1.01 + 0.1*x0``:
set-up, per call, and pickling, each depth in one process, the two alternated.

    python benchmarks/bench_loop.py                      # depths 200, 1,000, 5,000, 10,000
    python benchmarks/bench_loop.py --depths 1000 30000  # others

Per call is the best of ``--repeat`` rounds of 200 calls (fewer for deep chains), the loop and the
straight-line function alternating. Pickling: ``pickle.dumps`` of each function (time and size).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import symgrad as sg
from benchmarks.tasks import CHAIN_START, chain_expression


def measure(depth: int, repeat: int) -> dict[str, dict[str, float]]:
    x0 = sg.symbol("x0")
    expr = chain_expression(x0, depth, sg.sin)
    found: dict[str, dict[str, float]] = {}
    functions = {}
    for strategy in ("loop", "straight"):
        clock = time.perf_counter()
        functions[strategy] = sg.compile(expr, wrt=[x0], strategy=strategy, cache=False)
        found[strategy] = {"setup": time.perf_counter() - clock, "call": float("inf")}
    number = max(1, 200_000 // depth)
    for _ in range(repeat):
        for strategy, fn in functions.items():
            seconds = timeit.timeit(lambda fn=fn: fn(CHAIN_START), number=number) / number
            found[strategy]["call"] = min(found[strategy]["call"], seconds)
    for strategy, fn in functions.items():
        clock = time.perf_counter()
        data = pickle.dumps(fn)
        found[strategy]["pickle"] = time.perf_counter() - clock
        found[strategy]["bytes"] = len(data)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[200, 1_000, 5_000, 10_000])
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    print("| depth | set-up: loop, straight | per call: loop, straight | loop ÷ straight per call "
          "| pickle: loop, straight |")
    print("|---|---|---|---|---|")
    for depth in options.depths:
        m = measure(depth, options.repeat)
        loop, straight = m["loop"], m["straight"]
        print(f"| {depth:,} | {loop['setup'] * 1e3:.1f} ms, {straight['setup'] * 1e3:.1f} ms "
              f"| {loop['call'] * 1e6:.1f} µs, {straight['call'] * 1e6:.1f} µs "
              f"| {loop['call'] / straight['call']:.2f}× "
              f"| {loop['pickle'] * 1e3:.0f} ms {loop['bytes'] / 1e6:.2f} MB, "
              f"{straight['pickle'] * 1e3:.0f} ms {straight['bytes'] / 1e6:.2f} MB |", flush=True)


if __name__ == "__main__":
    main()
