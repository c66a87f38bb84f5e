"""symgrad vs hand-written Python, micrograd and SymPy, measured side by side in one run.

    python benchmarks/bench_core.py            # full run (a few minutes)
    python benchmarks/bench_core.py --quick    # smallest sizes only

Tasks: the micrograd README expression, and the extended Rosenbrock function
at n = 10 … 10,000. For each system: set-up time (build the graph,
differentiate, generate and compile code) and the per-call time of value
plus gradient. Every system's answer is checked against the hand-written
gradient before it is timed. Figures are medians of repeated runs on a
shared machine: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import subprocess
import sys
import textwrap
import time
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import symgrad as sg
from symgrad.demo import micrograd_expression

SYMPY_LIMIT_S = 60.0


def per_call(fn, *args, repeat=7):
    """Median seconds per call of fn(*args)."""
    timer = timeit.Timer(lambda: fn(*args))
    number, _ = timer.autorange()
    return statistics.median(t / number for t in timer.repeat(repeat, number))


def once(fn, repeat=3):
    """Median seconds of fn() over a few runs (each from a clean compile cache)."""
    times = []
    for _ in range(repeat):
        sg.clear_cache()
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def close(a, b, tol=1e-9):
    return all(abs(p - q) <= tol * max(1.0, abs(q)) for p, q in zip(a, b))


# ---- the micrograd README expression ------------------------------------------------


def micrograd_by_hand(a, b):
    """Value and gradient of the README expression, derived and written by hand."""
    c1 = a + b
    c2 = c1 + c1 + 1
    c3 = c2 + 1 + c2 - a
    d1 = a * b + b * b * b
    s1 = b + a
    r1 = s1 if s1 > 0 else 0.0
    d2 = d1 + d1 * 2 + r1
    s2 = b - a
    r2 = s2 if s2 > 0 else 0.0
    d3 = d2 + 3 * d2 + r2
    e = c3 - d3
    f = e * e
    g = f / 2.0 + 10.0 / f
    dg_df = 0.5 - 10.0 / (f * f)
    de = dg_df * 2 * e
    dd3 = -de
    dd2 = dd3 * 4
    dr2 = dd3 if s2 > 0 else 0.0
    dd1 = dd2 * 3
    dr1 = dd2 if s1 > 0 else 0.0
    dc2 = de * 2
    dc1 = dc2 * 2
    da = -de + dc1 + dd1 * b + dr1 - dr2
    db = dc1 + dd1 * (a + 3 * b * b) + dr1 + dr2
    return g, (da, db)


def bench_micrograd_expression(rows):
    a_val, b_val = -4.0, 2.0
    want = micrograd_by_hand(a_val, b_val)
    reference = (want[0], *want[1])

    def symgrad_setup():
        a, b = sg.symbols("a b")
        return sg.compile(micrograd_expression(a, b, sg.relu), wrt=[a, b])

    setup = once(symgrad_setup)
    fn = symgrad_setup()
    value, grads = fn(a_val, b_val)
    assert close((value, *grads), reference), "symgrad gave a wrong answer"
    call = per_call(fn, a_val, b_val)
    forward = per_call(fn.forward, a_val, b_val)
    hand = per_call(micrograd_by_hand, a_val, b_val)
    rows.append(("micrograd expr", "hand-written Python", None, hand))
    rows.append(("micrograd expr", "symgrad", setup, call))
    rows.append(("micrograd expr", "symgrad forward only", None, forward))

    try:
        from micrograd.engine import Value
    except ImportError:
        rows.append(("micrograd expr", "micrograd (not installed)", None, None))
    else:
        def eager():
            a, b = Value(a_val), Value(b_val)
            g = micrograd_expression(a, b, lambda v: v.relu())
            g.backward()
            return g.data, (a.grad, b.grad)

        got = eager()
        assert close((got[0], *got[1]), reference), "micrograd gave a wrong answer"
        rows.append(("micrograd expr", "micrograd (build + backward)", None, per_call(eager)))

    sym = run_sympy("micrograd", 0)
    rows.append(("micrograd expr", "sympy diff+lambdify(cse)", *sym))
    return {"hand": hand, "symgrad": call, "forward": forward}


# ---- extended Rosenbrock ------------------------------------------------------------


def rosenbrock_expr(xs):
    total = 0
    for i in range(len(xs) - 1):
        total = total + 100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2
    return total


def rosenbrock_by_hand(*v):
    """Value and gradient in a plain Python loop: the hand-written reference."""
    n = len(v)
    value = 0.0
    grad = [0.0] * n
    for i in range(n - 1):
        a = v[i + 1] - v[i] * v[i]
        b = 1 - v[i]
        value += 100 * a * a + b * b
        grad[i] += -400 * v[i] * a - 2 * b
        grad[i + 1] += 200 * a
    return value, grad


def bench_rosenbrock(n, rows, sympy_alive):
    point = [math.sin(i) for i in range(n)]
    want_value, want_grad = rosenbrock_by_hand(*point)
    reference = (want_value, *want_grad)
    label = f"Rosenbrock n={n}"

    def symgrad_setup():
        xs = [sg.symbol(f"x{i}") for i in range(n)]
        return sg.compile(rosenbrock_expr(xs), wrt=xs)

    setup = once(symgrad_setup, repeat=3 if n <= 1000 else 1)
    fn = symgrad_setup()
    value, grads = fn(*point)
    assert close((value, *grads), reference), "symgrad gave a wrong answer"
    start = time.perf_counter()
    compile(fn.source, "<bench>", "exec")
    cpython_compile = time.perf_counter() - start
    rows.append((label, "hand-written Python", None, per_call(rosenbrock_by_hand, *point)))
    rows.append((label, "symgrad", setup, per_call(fn, *point)))
    rows.append((label, "CPython compile() of symgrad's source", cpython_compile, None))

    try:
        from micrograd.engine import Value
    except ImportError:
        pass
    else:
        def eager():
            vs = [Value(p) for p in point]
            f = rosenbrock_expr(vs)
            f.backward()
            return f.data, [v.grad for v in vs]

        try:
            got = eager()
        except RecursionError:  # micrograd's topological sort is recursive
            rows.append((label, "micrograd (build + backward): RecursionError", None, None))
        else:
            assert close((got[0], *got[1]), reference, tol=1e-8), "micrograd gave a wrong answer"
            rows.append((label, "micrograd (build + backward)", None, per_call(eager, repeat=3)))

    if sympy_alive[0]:
        sym = run_sympy("rosenbrock", n)
        rows.append((label, "sympy diff+lambdify(cse)", *sym))
        if sym[0] is None:
            sympy_alive[0] = False
    else:
        rows.append((label, "sympy diff+lambdify(cse)", None, None))
    return setup, cpython_compile


SYMPY_CHILD = textwrap.dedent("""
    import math, statistics, sys, time, timeit
    import sympy
    task, n = sys.argv[1], int(sys.argv[2])
    start = time.perf_counter()
    if task == "micrograd":
        a, b = sympy.symbols("a b", real=True)
        relu = lambda v: sympy.Piecewise((v, v > 0), (0, True))
        c = a + b; d = a * b + b**3
        c = c + c + 1; c = c + 1 + c + (-a)
        d = d + d * 2 + relu(b + a); d = d + 3 * d + relu(b - a)
        e = c - d; f = e**2; g = f / 2.0 + 10.0 / f
        xs = [a, b]; point = [-4.0, 2.0]
    else:
        xs = sympy.symbols(f"x0:{n}", real=True)
        g = sum(100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(n - 1))
        point = [math.sin(i) for i in range(n)]
    fn = sympy.lambdify(xs, [g, *(sympy.diff(g, x) for x in xs)], cse=True, modules="math")
    setup = time.perf_counter() - start
    timer = timeit.Timer(lambda: fn(*point))
    number, _ = timer.autorange()
    call = statistics.median(t / number for t in timer.repeat(5, number))
    print(setup, call, *fn(*point))
""")


def run_child(code, *args):
    """The numbers a child Python process prints (set-up s, per-call s, answers...), or a reason it gave none.

    A child process keeps a slow system from stalling the run: it is stopped past the time limit.
    """
    try:
        out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                             timeout=SYMPY_LIMIT_S + 30)
    except subprocess.TimeoutExpired:
        return "stopped past the time limit"
    if out.returncode != 0:
        return f"failed: {(out.stderr.strip().splitlines() or ['no output'])[-1]}"
    numbers = [float(v) for v in out.stdout.split()]
    return "stopped past the time limit" if numbers[0] > SYMPY_LIMIT_S else numbers


def run_sympy(task, n):
    """(set-up s, per-call s) of sympy in a child process, or (None, None) past the limit."""
    numbers = run_child(SYMPY_CHILD, task, n)
    return (None, None) if isinstance(numbers, str) else (numbers[0], numbers[1])


def fmt(seconds):
    if seconds is None:
        return "—"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.2f} µs"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="micrograd expression and n=10, 100 only")
    args = parser.parse_args()
    sizes = [10, 100] if args.quick else [10, 100, 1000, 10_000]

    rows = []
    micro = bench_micrograd_expression(rows)
    sympy_alive = [True]
    setups = {}
    for n in sizes:
        setups[n] = bench_rosenbrock(n, rows, sympy_alive)

    print(f"# symgrad core benchmark — {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores\n")
    print("| task | system | set-up | per call (value + gradient) |")
    print("|---|---|---|---|")
    for task, system, setup, call in rows:
        print(f"| {task} | {system} | {fmt(setup)} | {fmt(call)} |")

    print("\n## Ratios")
    print(f"- micrograd expression, symgrad per call / hand-written: {micro['symgrad'] / micro['hand']:.2f}×")
    print(f"- micrograd expression, value+gradient / forward only: {micro['symgrad'] / micro['forward']:.2f}×")
    for task, system, _, call in rows:
        if task == "micrograd expr" and system.startswith("micrograd (") and call:
            print(f"- micrograd expression, micrograd eager / symgrad per call: {call / micro['symgrad']:.0f}×")
    for n, (setup, cpython) in setups.items():
        label = f"Rosenbrock n={n}"
        by = {system: (s, c) for task, system, s, c in rows if task == label}
        sym_setup = by["sympy diff+lambdify(cse)"][0]
        hand = by["hand-written Python"][1]
        ours = by["symgrad"][1]
        parts = [f"set-up / CPython compile() of the emitted source {setup / cpython:.1f}×",
                 f"per call / hand-written loop {ours / hand:.2f}×"]
        if sym_setup:
            parts.append(f"sympy set-up / symgrad set-up {sym_setup / setup:.0f}×")
        micro_row = by.get("micrograd (build + backward)")
        if micro_row:
            parts.append(f"micrograd per call / symgrad per call {micro_row[1] / ours:.0f}×")
        print(f"- {label}: " + "; ".join(parts))
        print(f"  (set-up per forward node: {setup / (9 * (n - 1)) * 1e6:.1f} µs)")


if __name__ == "__main__":
    main()
