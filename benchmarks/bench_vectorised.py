"""Wide graphs: symgrad's vectorised strategy against CasADi SX, straight-line code and a CPython loop.

    python benchmarks/bench_vectorised.py                      # n = 10^3, 10^4, 10^5, 3 rounds
    python benchmarks/bench_vectorised.py --sizes 1000 10000 --rounds 5
    python benchmarks/bench_vectorised.py --task chain --sizes 100000 1000000 --rounds 1

Extended Rosenbrock written with scalar operations over a vector of symbols (CasADi: an
``SX.sym("x", n)``), value and gradient. Each measurement runs in a fresh process, the systems
in alternation round after round: set-up (building the graph included, up to a function taking
a NumPy array), per call (``timeit``, best of 5), and the process's peak RSS (``resource``).
Medians over the rounds; the ratios are what to read (the machine is shared). ``--task chain``
measures the deep chain ``x = sin(x)*1.01 + 0.1*x0`` instead (symgrad's choice, the step rolled
into a loop, against CasADi SX; ``--straight`` adds symgrad's straight-line code in chunks).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SYSTEMS = {
    "symgrad vectorised": "vectorised",
    "symgrad straight-line": "straight",
    "CasADi SX": "casadi",
    "CPython loop": "loop",
}
CHAIN_SYSTEMS = {"symgrad": "chain", "CasADi SX": "casadi_chain"}
STRAIGHT_UP_TO = 10_000  # straight-line set-up grows to ~20 s and ~3 GB at 10^5: measured once, not each run

_CHILD = r"""
import json, resource, sys, time, timeit
import numpy as np
sys.path.insert(0, {root!r})
from benchmarks import tasks
kind, n = {kind!r}, {n}
point = np.array(tasks.rosenbrock_point(n))
start = time.perf_counter()
if kind in ("chain", "chain_straight"):
    import symgrad as sg
    x0 = sg.symbol("x0")
    fn = sg.compile(tasks.chain_expression(x0, n, sg.sin), wrt=[x0], strategy="auto" if kind == "chain" else "straight")
    call = lambda: fn(tasks.CHAIN_START)
elif kind == "casadi_chain":
    import casadi
    x = casadi.SX.sym("x")
    f = tasks.chain_expression(x, n, casadi.sin)
    function = casadi.Function("f", [x], [f, casadi.gradient(f, x)])
    call = lambda: function(tasks.CHAIN_START)
elif kind in ("vectorised", "straight"):
    import symgrad as sg
    x = sg.vector("x", n)
    fn = sg.compile(tasks.rosenbrock_expression(list(x)), wrt=x, strategy=kind)
    call = lambda: fn(point)
elif kind == "casadi":
    import casadi
    x = casadi.SX.sym("x", n)
    f = tasks.rosenbrock_expression([x[i] for i in range(n)])
    function = casadi.Function("f", [x], [f, casadi.gradient(f, x)])
    call = lambda: function(point)
else:
    def call():
        p = point.tolist()
        value, g = 0.0, [0.0] * n
        for i in range(n - 1):
            a, b = p[i + 1] - p[i] * p[i], 1.0 - p[i]
            value += 100.0 * a * a + b * b
            g[i] += -400.0 * a * p[i] - 2.0 * b
            g[i + 1] += 200.0 * a
        return value, np.array(g)
setup = time.perf_counter() - start
call()
timer = timeit.Timer(call)
number, _ = timer.autorange()
per_call = min(timer.repeat(5, number)) / number
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"setup": setup if kind != "loop" else None, "call": per_call, "rss": rss}}))
"""


def measure(kind: str, n: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _CHILD.format(root=ROOT, kind=kind, n=n)],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} at n={n} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--task", choices=["rosenbrock", "chain"], default="rosenbrock")
    parser.add_argument("--straight", action="store_true", help="the chain: symgrad's straight-line code too")
    options = parser.parse_args()
    systems = CHAIN_SYSTEMS if options.task == "chain" else SYSTEMS
    if options.task == "chain" and options.straight:
        systems = {**systems, "symgrad straight-line": "chain_straight"}
    print("| n | system | set-up | per call | peak RSS | set-up ÷ CasADi's | per call ÷ CasADi's | per call ÷ loop |")
    print("|---|---|---|---|---|---|---|---|")
    for n in options.sizes:
        runs: dict[str, list[dict[str, float]]] = {label: [] for label in systems}
        for _ in range(options.rounds):
            for label, kind in systems.items():
                if kind == "straight" and n > STRAIGHT_UP_TO:
                    continue
                runs[label].append(measure(kind, n))
        median = {label: {k: statistics.median(r[k] for r in found) if found[0][k] is not None else None
                          for k in found[0]} for label, found in runs.items() if found}
        casadi, loop = median["CasADi SX"], median.get("CPython loop")
        for label, m in median.items():
            setup_ratio = f"{m['setup'] / casadi['setup']:.2f}×" if m["setup"] is not None else "—"
            loop_ratio = f"{m['call'] / loop['call']:.2f}×" if loop else "—"
            print(f"| {n:,} | {label} | {_fmt_time(m['setup'])} | {_fmt_time(m['call'])} | {m['rss'] / 2**20:.0f} MB "
                  f"| {setup_ratio} | {m['call'] / casadi['call']:.2f}× | {loop_ratio} |",
                  flush=True)


if __name__ == "__main__":
    main()
