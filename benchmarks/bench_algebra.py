"""symgrad against SymPy's ``lambdify(cse=True)`` on a set of expressions: operations and time per call.

    python benchmarks/bench_algebra.py              # the table, then the rounding of rewrites="all"
    python benchmarks/bench_algebra.py --quick      # fewer timing rounds and points

For each expression of ``benchmarks/expressions.py``: the value and gradient function each
system generates (symgrad: ``sg.compile``; SymPy: ``sympy.diff`` per symbol, then
``lambdify(cse=True)``), the arithmetic operations in its source (counted on its ``ast``: binary
and unary operators, calls of math functions, comparisons; symgrad's input checks and error
handling, which compute nothing, are not counted) and its time per call (``timeit``, the two
alternated, best of the rounds). Both answers are checked against each other first.

Then, per expression, how far the values and gradients of ``rewrites="all"`` (the default) are
from those of ``rewrites="exact"`` over random points: the largest difference in units in the
last place (ulp) of the exact-mode result.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import math
import os
import random
import statistics
import sys
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import sympy

import symgrad as sg
from benchmarks.expressions import EXPRESSIONS, FUNCTIONS, POINT, build, symbols_of

_NOT_COMPUTING = {"type", "_as_floats", "_explain", "float"}  # calls that compute nothing


def count_operations(source: str) -> int:
    """Arithmetic operations in generated code: operators, math calls, value comparisons."""
    count = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.BinOp, ast.UnaryOp)) and not isinstance(getattr(node, "op", None), ast.Not):
            count += 1
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in _NOT_COMPUTING:
            count += 1
        elif isinstance(node, ast.Compare) and not isinstance(node.ops[0], (ast.Is, ast.IsNot)):
            count += 1
    return count


def symgrad_function(text: str, rewrites: str = "all"):
    names = symbols_of(text)
    symbols = [sg.symbol(n) for n in names]
    functions = {f: getattr(sg, f) for f in FUNCTIONS}
    expr = build(text, dict(zip(names, symbols)), functions, sg.relu)
    return sg.compile(expr, wrt=symbols, rewrites=rewrites, cache=False), names


def sympy_function(text: str):
    names = symbols_of(text)
    symbols = sympy.symbols(names, real=True)
    functions = {f: getattr(sympy, f) for f in FUNCTIONS}
    expr = build(text, dict(zip(names, symbols)), functions, lambda v: sympy.Piecewise((v, v > 0), (0, True)))
    fn = sympy.lambdify(symbols, [expr, *(sympy.diff(expr, s) for s in symbols)], cse=True, modules="math")
    return fn, inspect.getsource(fn)


def _flat(result) -> list[float]:
    value, gradient = result
    return [value, *gradient]


def per_call(ours, theirs, args, rounds: int) -> tuple[float, float]:
    """Best time per call of each, alternating the two (microseconds)."""
    number = 20000
    best_ours = best_theirs = math.inf
    for _ in range(rounds):
        best_ours = min(best_ours, timeit.timeit(lambda: ours(*args), number=number) / number)
        best_theirs = min(best_theirs, timeit.timeit(lambda: theirs(*args), number=number) / number)
    return best_ours * 1e6, best_theirs * 1e6


def compare(rounds: int) -> list[tuple[str, int, int, float, float]]:
    rows = []
    for name, text in EXPRESSIONS.items():
        ours, names = symgrad_function(text)
        theirs, their_source = sympy_function(text)
        args = [POINT[n] for n in names]
        got, want = _flat(ours(*args)), [float(v) for v in theirs(*args)]
        if not all(math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12) for g, w in zip(got, want)):
            raise AssertionError(f"{name}: symgrad {got} != SymPy {want}")
        t_ours, t_theirs = per_call(ours, theirs, args, rounds)
        rows.append((name, count_operations(ours.source), count_operations(their_source), t_ours, t_theirs))
    return rows


def _ulps(got: float, want: float) -> float:
    if got == want or (math.isnan(got) and math.isnan(want)):
        return 0.0
    return abs(got - want) / math.ulp(want) if want != 0 else math.inf


def rounding(points: int) -> list[tuple[str, float, float]]:
    """Per expression: the largest ulp distance of "all" from "exact", and the median over points."""
    rng = random.Random(24)
    rows = []
    for name, text in EXPRESSIONS.items():
        fast, names = symgrad_function(text)
        exact, _ = symgrad_function(text, "exact")
        distances = []
        for _ in range(points):
            args = [POINT[n] * rng.uniform(0.5, 2.0) for n in names]
            try:
                pairs = zip(_flat(fast(*args)), _flat(exact(*args)))
            except (ArithmeticError, ValueError):
                continue
            distances.append(max(_ulps(a, b) for a, b in pairs))
        rows.append((name, max(distances), statistics.median(distances)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timing rounds and random points")
    options = parser.parse_args()
    rows = compare(3 if options.quick else 7)
    print("| expression | ops: symgrad | ops: SymPy cse | µs/call: symgrad | µs/call: SymPy | time ratio |")
    print("|---|---|---|---|---|---|")
    for name, ops_ours, ops_theirs, t_ours, t_theirs in rows:
        print(f"| {name} | {ops_ours} | {ops_theirs} | {t_ours:.2f} | {t_theirs:.2f} | {t_ours / t_theirs:.2f}× |")
    print(f"| **median** ({len(rows)} expressions) | {statistics.median(r[1] for r in rows):g} | "
          f"{statistics.median(r[2] for r in rows):g} | {statistics.median(r[3] for r in rows):.2f} | "
          f"{statistics.median(r[4] for r in rows):.2f} | {statistics.median(r[3] / r[4] for r in rows):.2f}× |")
    fewer = sum(r[1] <= r[2] for r in rows)
    faster = sum(r[3] < r[4] for r in rows)
    print(f"\nsymgrad has no more operations on {fewer} of {len(rows)} expressions and is faster on {faster}.")
    print('\nrewrites="all" against rewrites="exact", values and gradients over random points '
          "(each symbol × U(0.5, 2)): ulps of the exact result")
    print("| expression | largest | median |")
    print("|---|---|---|")
    for name, largest, median in rounding(200 if options.quick else 2000):
        print(f"| {name} | {largest:.3g} | {median:.3g} |")


if __name__ == "__main__":
    main()
