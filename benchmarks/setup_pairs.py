"""CPU time of one Rosenbrock set-up (graph built + ``sg.compile``), this checkout against another,
in fresh processes alternated pair by pair: the ratio of each pair, then their median.

    git archive <commit> | tar -x -C /tmp/before
    python benchmarks/setup_pairs.py --against /tmp/before --n 10000 --strategy straight --pairs 5

CPU time (``time.process_time``) is less disturbed than wall time on a shared machine; only the
pairs' ratios mean anything there.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
import symgrad as sg
from benchmarks import tasks
n, strategy = int(sys.argv[2]), sys.argv[3]
start = time.process_time()
x = sg.vector("x", n)
sg.compile(tasks.rosenbrock_expression(list(x)), wrt=x, strategy=strategy, cache=False)
print(time.process_time() - start)
"""


def one_set_up(root: str, n: int, strategy: str) -> float:
    found = subprocess.run([sys.executable, "-c", CHILD, root, str(n), strategy],
                           capture_output=True, text=True, check=True, cwd=root)
    return float(found.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the other checkout's root directory")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--strategy", default="auto", choices=["auto", "straight", "vectorised"])
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    ratios = []
    print("| pair | other | this | this ÷ other |\n|---|---|---|---|")
    for pair in range(1, args.pairs + 1):
        other = one_set_up(os.path.abspath(args.against), args.n, args.strategy)
        this = one_set_up(HERE, args.n, args.strategy)
        ratios.append(this / other)
        print(f"| {pair} | {other:.3f} s | {this:.3f} s | {this / other:.3f} |")
    print(f"\nmedian ratio {statistics.median(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f}), "
          f"Rosenbrock n = {args.n}, strategy={args.strategy!r}")


if __name__ == "__main__":
    main()
