"""Resident memory at the end of each compile stage, on the deep chain or on Rosenbrock.

    python benchmarks/stage_memory.py --task chain --n 100000
    python benchmarks/stage_memory.py --task rosenbrock --n 100000

symgrad reports each stage's end through the ``symgrad`` logger (``symgrad.progress``); with its
delay set to 0 here, a logging handler prints the process's resident set and peak at each report
(Linux: ``/proc/self/statm``). Run with stderr not a terminal (the reports then go to logging).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import symgrad as sg
from benchmarks import tasks
from symgrad import progress


def resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(what: str) -> None:
    print(f"{resident_mib():7.0f} MiB resident, {peak_mib():7.0f} MiB peak  {what}")


class _Memory(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        report(record.getMessage())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["chain", "rosenbrock"], default="chain")
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    progress.DELAY = 0.0
    logger = logging.getLogger("symgrad")
    logger.setLevel(logging.INFO)
    logger.addHandler(_Memory())
    if args.task == "chain":
        x0 = sg.symbol("x0")
        f, wrt = tasks.chain_expression(x0, args.n, sg.sin), [x0]
    else:
        x = sg.vector("x", args.n)
        f, wrt = tasks.rosenbrock_expression(list(x)), x
    report(f"the graph built ({args.task}, n = {args.n})")
    sg.compile(f, wrt=wrt, cache=False)
    report("compiled")


if __name__ == "__main__":
    main()
