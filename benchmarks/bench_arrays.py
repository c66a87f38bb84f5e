"""Where the array backend's time goes: blocks, threads and the allocator, one at a time.

    python benchmarks/bench_arrays.py              # 10^6 points, 3 rounds (about a minute)
    python benchmarks/bench_arrays.py --quick      # 3·10^5 points, 1 round

The task is the benchmark's 50-node loss (value + 8-parameter gradient, mean
over the points). Each way of running it is timed in a fresh process (glibc's
malloc settings last for the life of a process), the ways interleaved round
after round; the table shows the fastest call of each and its ratios to the
hand-written NumPy and to the scalar backend in a Python loop. Every answer is
checked against the hand-written one (after timing it: the reference's own
whole-array temporaries would change glibc's malloc thresholds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# name -> (what it is, symgrad.arrays settings: block elements (None: whole batch), threads, keep freed memory)
WAYS = {
    "hand": ("hand-written NumPy (whole arrays)", None),
    "whole": ("symgrad numpy, whole batch", (None, 1, False)),
    "blocks-1": ("symgrad numpy, blocks, 1 thread, glibc's malloc defaults", ("default", 1, False)),
    "blocks-1-kept": ("symgrad numpy, blocks, 1 thread, freed memory kept", ("default", 1, True)),
    "blocks-n": ("symgrad numpy, blocks, one thread per CPU, glibc's defaults", ("default", None, False)),
    "blocks-n-kept": ("symgrad numpy, blocks, one thread per CPU, freed memory kept (the default)",
                      ("default", None, True)),
    "loop": ("symgrad scalar backend in a Python loop", None),
}


def run_one(way: str, points: int, repeat: int) -> dict:
    """Time ``way`` in this process: the fastest and the median of ``repeat`` calls."""
    import numpy as np

    import symgrad as sg
    from benchmarks import tasks
    from benchmarks.systems import hand_written, symgrad_arrays, symgrad_scalar

    if way == "hand":
        call = hand_written.points(points)
    elif way == "loop":
        call = symgrad_scalar.points(points)
        repeat = 1
    else:
        block, threads, kept = WAYS[way][1]
        if block is None:
            sg.arrays.BLOCK_ELEMENTS = 1 << 62
        sg.set_threads(threads)
        sg.arrays._allocator_tuned = not kept  # already "done": glibc's defaults stay
        call = symgrad_arrays.points(points)

    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        got = call()
        times.append(time.perf_counter() - start)
    # Checked afterwards: the reference's whole-array temporaries would change glibc's thresholds.
    want = tasks.reference("points", points)
    if not np.allclose(got, want, rtol=1e-9, atol=1e-12):
        raise SystemExit(f"{way}: wrong answer {got} (want {want})")
    return {"best": min(times), "median": sorted(times)[len(times) // 2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3·10^5 points, one round")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--points", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    points = args.points or (3 * 10**5 if args.quick else 10**6)
    if args.child:
        print(json.dumps(run_one(args.child, points, repeat=3 if args.quick else 5)))
        return
    rounds = args.rounds or (1 if args.quick else 3)
    found: dict[str, list[dict]] = {way: [] for way in WAYS}
    for _ in range(rounds):
        for way in WAYS:
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", way, "--points", str(points)],
                                 capture_output=True, text=True, check=True)
            found[way].append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = {way: min(r["best"] for r in results) for way, results in found.items()}
    print(f"50-node loss, value + gradient, mean over {points:,} points; {os.cpu_count()} CPUs; "
          f"fastest call of {rounds} round(s) in fresh processes")
    print()
    print("| way | per call | ÷ hand-written NumPy | scalar loop ÷ this |")
    print("|---|---|---|---|")
    for way, (label, _) in WAYS.items():
        print(f"| {label} | {best[way] * 1e3:.1f} ms | {best[way] / best['hand']:.2f}× | "
              f"{best['loop'] / best[way]:.1f}× |")


if __name__ == "__main__":
    main()
