"""Rosenbrock Hessian: symgrad vs hand-written Python, SymPy, JAX and CasADi, side by side in one run.

    python benchmarks/bench_hessian.py            # n = 10, 100, 1000
    python benchmarks/bench_hessian.py --quick    # n = 10 only

For each system: set-up (build, derive value + gradient + Hessian, compile)
and per-call time of value, gradient and Hessian at one point. Every
answer is checked against the hand-written Hessian before it is timed.
SymPy runs in a child process and is stopped past 60 s; JAX and CasADi run
when installed (``pip install jax casadi``). Read the ratios: the machine is shared.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench_core import close, fmt, once, per_call, rosenbrock_expr, run_child

import symgrad as sg


def hessian_by_hand(*v):
    """Value, gradient and (tridiagonal) Hessian in plain Python: the hand-written reference."""
    n = len(v)
    value = 0.0
    grad = [0.0] * n
    rows = [[0.0] * n for _ in range(n)]
    for i in range(n - 1):
        a = v[i + 1] - v[i] * v[i]
        b = 1 - v[i]
        value += 100 * a * a + b * b
        grad[i] += -400 * v[i] * a - 2 * b
        grad[i + 1] += 200 * a
        rows[i][i] += 1200 * v[i] * v[i] - 400 * v[i + 1] + 2
        rows[i][i + 1] = rows[i + 1][i] = -400 * v[i]
        rows[i + 1][i + 1] += 200
    return value, grad, rows


def flat(value, grad, hessian):
    return [value, *grad, *(h for row in hessian for h in row)]


SYMPY_CHILD = textwrap.dedent("""
    import math, statistics, sys, time, timeit
    import sympy
    n = int(sys.argv[1])
    start = time.perf_counter()
    xs = sympy.symbols(f"x0:{n}", real=True)
    f = sum(100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(n - 1))
    grad = [sympy.diff(f, x) for x in xs]
    hessian = sympy.hessian(f, xs)
    fn = sympy.lambdify(xs, [f, grad, hessian.tolist()], cse=True, modules="math")
    setup = time.perf_counter() - start
    point = [math.sin(i) for i in range(n)]
    timer = timeit.Timer(lambda: fn(*point))
    number, _ = timer.autorange()
    call = statistics.median(t / number for t in timer.repeat(5, number))
    value, g, h = fn(*point)
    print(setup, call, value, *g, *(e for row in h for e in row))
""")


def run_sympy(n, reference):
    numbers = run_child(SYMPY_CHILD, n)
    if isinstance(numbers, str):
        return numbers, None, None
    if not close(numbers[2:], reference, tol=1e-8):
        return "WRONG ANSWER", None, None
    return "", numbers[0], numbers[1]


def run_jax(n, point, reference):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return "not installed", None, None
    jax.config.update("jax_enable_x64", True)

    def f(v):
        return jnp.sum(100 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2)

    x = jnp.asarray(point)

    def setup():
        fn = jax.jit(lambda v: (f(v), jax.grad(f)(v), jax.hessian(f)(v)))
        jax.block_until_ready(fn(x))  # tracing and XLA compilation happen on the first call
        return fn

    seconds = once(setup)
    fn = setup()
    value, grad, hessian = fn(x)
    if not close([float(value), *map(float, grad), *map(float, hessian.ravel())], reference, tol=1e-8):
        return "WRONG ANSWER", None, None
    return "", seconds, per_call(lambda: jax.block_until_ready(fn(x)))


def run_casadi(n, point, reference):
    try:
        import casadi as ca
    except ImportError:
        return "not installed", None, None

    def setup():
        x = ca.SX.sym("x", n)
        f = sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(n - 1))
        hessian, grad = ca.hessian(f, x)
        return ca.Function("rosenbrock", [x], [f, grad, hessian])

    seconds = once(setup)
    fn = setup()
    value, grad, hessian = fn(point)
    dense = [float(h) for h in ca.DM(hessian).full().ravel()]
    if not close([float(value), *(float(g) for g in ca.DM(grad).full().ravel()), *dense], reference, tol=1e-8):
        return "WRONG ANSWER", None, None
    return "", seconds, per_call(fn, point)


def bench(n, rows, sympy_alive):
    point = [math.sin(i) for i in range(n)]
    reference = flat(*hessian_by_hand(*point))
    label = f"Rosenbrock Hessian n={n}"

    def symgrad_setup():
        xs = [sg.symbol(f"x{i}") for i in range(n)]
        return sg.compile(rosenbrock_expr(xs), wrt=xs, order=2)

    setup = once(symgrad_setup, repeat=3)
    fn = symgrad_setup()
    assert close(flat(*fn(*point)), reference), "symgrad gave a wrong answer"
    start = time.perf_counter()
    compile(fn.source, "<bench>", "exec")
    cpython = time.perf_counter() - start
    result = {"symgrad": (setup, per_call(fn, *point)), "cpython": cpython}
    rows.append((label, "hand-written Python", None, per_call(hessian_by_hand, *point)))
    rows.append((label, "symgrad", *result["symgrad"]))
    rows.append((label, "CPython compile() of symgrad's source", cpython, None))
    if sympy_alive[0]:
        note, s, c = run_sympy(n, reference)
        sympy_alive[0] = s is not None
    else:
        note, s, c = "skipped (too slow at a smaller size)", None, None
    rows.append((label, f"sympy hessian+lambdify(cse) {note}".strip(), s, c))
    result["sympy"] = (s, c)
    for system, runner in (("JAX jit(value, grad, hessian)", run_jax), ("CasADi SX hessian", run_casadi)):
        note, s, c = runner(n, point, reference)
        rows.append((label, f"{system} {note}".strip(), s, c))
        result[system] = (s, c)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 10 only")
    args = parser.parse_args()
    sizes = [10] if args.quick else [10, 100, 1000]
    rows, results, sympy_alive = [], {}, [True]
    for n in sizes:
        results[n] = bench(n, rows, sympy_alive)

    print(f"# Rosenbrock Hessian benchmark — {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores\n")
    print("| task | system | set-up | per call (value + gradient + Hessian) |")
    print("|---|---|---|---|")
    for task, system, setup, call in rows:
        print(f"| {task} | {system} | {fmt(setup)} | {fmt(call)} |")
    print("\n## Ratios")
    for n, result in results.items():
        setup, call = result["symgrad"]
        parts = [f"set-up / CPython compile() of the source {setup / result['cpython']:.1f}×"]
        if result["sympy"][0]:
            parts.append(f"sympy set-up / symgrad set-up {result['sympy'][0] / setup:.0f}×")
        for system in ("JAX jit(value, grad, hessian)", "CasADi SX hessian"):
            s, c = result[system]
            if c:
                parts.append(f"{system.split()[0]} per call / symgrad per call {c / call:.1f}×, "
                             f"set-up {s / setup:.2f}×")
        print(f"- n={n}: " + "; ".join(parts))


if __name__ == "__main__":
    main()
