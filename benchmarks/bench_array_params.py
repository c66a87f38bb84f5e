"""Per call: one array parameter against one float parameter per element, side by side.

    python benchmarks/bench_array_params.py            # best of 7 rounds each
    python benchmarks/bench_array_params.py --rounds 3

Extended Rosenbrock of n variables, value and gradient, compiled twice from the same
expression: over ``sg.vector("x", n)`` with ``wrt=x`` (called with a float64 ndarray, as
SciPy calls it, and with a list), and over n separate symbols (called with n floats,
``fn(*xs)``). The ratio array ÷ scalars is what unpacking the array and packing the gradient
into an array cost per call; the bar is 1.3. The last column is what a SciPy user wrote before
arrays of parameters: the scalar function behind a wrapper taking and returning arrays.
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np

import symgrad as sg
from benchmarks import tasks


def per_call(call, rounds: int) -> float:
    """Seconds per call: the best of ``rounds`` timings of enough calls to take ~0.2 s."""
    timer = timeit.Timer(call)
    number, _ = timer.autorange()
    return min(timer.repeat(rounds, number)) / number


def measure(n: int, rounds: int) -> dict[str, float]:
    x = sg.vector("x", n)
    by_array = sg.compile(tasks.rosenbrock_expression(list(x)), wrt=x)
    scalars = [sg.symbol(f"s{i}") for i in range(n)]
    by_scalars = sg.compile(tasks.rosenbrock_expression(scalars), wrt=scalars)
    point = np.linspace(-1.2, 1.0, n)
    as_floats, as_list = [float(v) for v in point], point.tolist()

    def wrapped(v):
        value, gradient = by_scalars(*v.tolist())
        return value, np.array(gradient)

    return {
        "wrapped": per_call(lambda: wrapped(point), rounds),
        "scalars": per_call(lambda: by_scalars(*as_floats), rounds),
        "ndarray": per_call(lambda: by_array(point), rounds),
        "list": per_call(lambda: by_array(as_list), rounds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1_000, 10_000])
    options = parser.parse_args()
    print(f"{'n':>7}  {'scalars':>11}  {'ndarray':>11}  {'list':>11}"
          f"  {'ndarray ÷ scalars':>17}  {'list ÷ scalars':>14}  {'wrapped scalars ÷ ndarray':>25}")
    for n in options.sizes:
        t = measure(n, options.rounds)
        print(f"{n:>7}  {t['scalars'] * 1e6:>9.2f}µs  {t['ndarray'] * 1e6:>9.2f}µs  {t['list'] * 1e6:>9.2f}µs"
              f"  {t['ndarray'] / t['scalars']:>17.2f}  {t['list'] / t['scalars']:>14.2f}"
              f"  {t['wrapped'] / t['ndarray']:>25.2f}")


if __name__ == "__main__":
    main()
