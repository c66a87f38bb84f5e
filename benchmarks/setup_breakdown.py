"""Where the set-up time goes, stage by stage: symgrad against CasADi SX on Rosenbrock.

    python benchmarks/setup_breakdown.py              # n = 10^4, best of 5 set-ups each
    python benchmarks/setup_breakdown.py --n 1000 --rounds 3

Each round times one set-up of each system from scratch, in alternation, in this
process; the table shows each stage's best time over the rounds. symgrad's stages
are its own `fn.stats.seconds` (``exec`` is CPython's `compile()` and `exec` of the
emitted source); CasADi's are its graph build through Python operators, its
`gradient` and its `Function`. CasADi is skipped with a note when not installed.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import symgrad as sg
from benchmarks import tasks


def symgrad_stages(n: int) -> dict[str, float]:
    start = time.perf_counter()
    xs = [sg.symbol(f"x{i}") for i in range(n)]
    f = tasks.rosenbrock_expression(xs)
    built = time.perf_counter()
    fn = sg.compile(f, wrt=xs, cache=False)
    done = time.perf_counter()
    stages = {"build the graph (user code)": built - start, **fn.stats.seconds}
    stages["the rest (garbage collection after the passes, ...)"] = done - built - sum(fn.stats.seconds.values())
    stages["set-up"] = done - start
    return stages


def casadi_stages(n: int) -> dict[str, float]:
    import casadi

    start = time.perf_counter()
    x = casadi.SX.sym("x", n)
    f = tasks.rosenbrock_expression([x[i] for i in range(n)])
    built = time.perf_counter()
    g = casadi.gradient(f, x)
    derived = time.perf_counter()
    casadi.Function("f", [x], [f, g])
    done = time.perf_counter()
    return {"build the graph (user code)": built - start, "gradient": derived - built, "Function": done - derived,
            "set-up": done - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    try:
        import casadi  # noqa: F401
        systems = {"symgrad": symgrad_stages, "CasADi SX": casadi_stages}
    except ImportError:
        print("CasADi is not installed (pip install casadi): symgrad only\n")
        systems = {"symgrad": symgrad_stages}
    best: dict[str, dict[str, float]] = {name: {} for name in systems}
    for _ in range(args.rounds):
        for name, stages in systems.items():
            gc.collect()
            for stage, seconds in stages(args.n).items():
                best[name][stage] = min(best[name].get(stage, seconds), seconds)
    print(f"# Rosenbrock n = {args.n:,}: set-up by stage, best of {args.rounds} — {time.strftime('%Y-%m-%d')}, "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    print("| system | stage | seconds | share |")
    print("|---|---|---|---|")
    for name, stages in best.items():
        total = stages.pop("set-up")
        for stage, seconds in stages.items():
            print(f"| {name} | {stage} | {seconds:.3f} | {seconds / total:.0%} |")
        print(f"| {name} | **set-up** (best round) | **{total:.3f}** | |")


if __name__ == "__main__":
    main()
