"""Plan the run, measure each (system, task, size) in a child process with a time limit, write the report."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import child, report, tasks
from benchmarks.systems import SYSTEMS

ROOT = Path(__file__).resolve().parent.parent
# Whose set-ups the bars compare, timed in alternation, per task: symgrad as it compiles that graph
# (wide: vectorised; deep: straight-line code in chunks) against CasADi SX.
PAIRS = {"rosenbrock": ("symgrad_vectorised", "casadi_sx"), "chain": ("symgrad_loop", "casadi_sx")}
PAIRED_ROUNDS = 6  # set-ups of each in a full run, at sizes up to PAIRED_FEWER_ABOVE ...
PAIRED_FEWER_ABOVE = 10_000  # ... and a third as many above, where one set-up takes many seconds


@dataclass
class Record:
    task: str
    size: int
    system: str  # module name
    label: str
    result: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.result.get("status", "")


def run_child(system: str, task: str, size: int, limit: float, mode: str = "") -> dict:
    """One measurement in its own process; stopped (and reported so) past its time budget.

    ``mode``: "" (the full measurement), "quick" or "setup" (see ``benchmarks.child``).
    """
    budget = 4 * limit + 60  # a few set-ups at the limit, the answer check and the timed calls
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        out = subprocess.run([sys.executable, "-m", "benchmarks.child", system, task, str(size), str(limit),
                              *([mode] if mode else [])],
                             capture_output=True, text=True, timeout=budget, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"status": "too slow", "note": f"stopped after {budget:.0f} s"}
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "failed", "note": f"exit {out.returncode}: {last[:120]}"}
    return json.loads(lines[-1])


def pair_setups(records: list[Record], limit: float, rounds: int) -> None:
    """symgrad's set-up ÷ CasADi's, for each task of ``PAIRS`` and each size both ran, from
    set-ups timed in alternation.

    Each system's own measurement ran minutes apart from the other's, and this shared machine
    drifts by more than the difference between them (their ratio has ranged from 0.86 to 1.47
    across runs); alternating one set-up of each, in fresh processes, meets both with the same
    load. The pairs' ratios go on symgrad's record as ``paired_setup`` (with each side's times).
    """
    for task, pair in PAIRS.items():
        for size in sorted({r.size for r in records if r.task == task}):
            found = [report.find(records, task, size, name) for name in pair]
            if None in found:
                continue
            times = _alternating_setups(pair, task, size, limit,
                                        rounds if size <= PAIRED_FEWER_ABOVE else max(1, rounds // 3))
            if times is not None:
                ours, theirs = times
                found[0].result["paired_setup"] = {
                    "ratio": child.summary([a / b for a, b in zip(ours, theirs)]),
                    "ours": child.summary(ours), "theirs": child.summary(theirs), "against": found[1].label}


def _alternating_setups(pair: tuple[str, str], task: str, size: int, limit: float, rounds: int
                        ) -> tuple[list[float], list[float]] | None:
    """Each system's set-up times, one of each per round, each going first in turn (None: one failed)."""
    times: dict[str, list[float]] = {name: [] for name in pair}
    for k in range(rounds):
        for name in pair if k % 2 == 0 else pair[::-1]:
            result = run_child(name, task, size, limit, "setup")
            if result.get("status") != "ok":
                return None
            times[name].append(result["setup"])
    return times[pair[0]], times[pair[1]]


def plan(only: list[str] | None, systems: list[str] | None) -> list[tuple[str, str]]:
    chosen = [t for t in tasks.TASKS if not only or t in only]
    unknown = set(only or ()) - set(tasks.TASKS)
    if unknown:
        raise SystemExit(f"unknown task(s) {', '.join(sorted(unknown))}; tasks: {', '.join(tasks.TASKS)}")
    names = [s for s in SYSTEMS if not systems or s in systems]
    return [(t, s) for t in chosen for s in names
            if hasattr(importlib.import_module(f"benchmarks.systems.{s}"), t)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smallest sizes only (a smoke run)")
    parser.add_argument("--only", action="append", metavar="TASK",
                        help=f"run only this task (repeatable): {', '.join(tasks.TASKS)}")
    parser.add_argument("--system", action="append", metavar="NAME", help=f"only these systems: {', '.join(SYSTEMS)}")
    parser.add_argument("--limit", type=float, default=60.0, help="set-up time limit per system and size, seconds")
    parser.add_argument("--max-size", type=int, default=None, help="skip sizes above this (a shorter full run)")
    parser.add_argument("--out", default="benchmarks/RESULTS.md", help="where to write the Markdown report")
    parser.add_argument("--plots", default=None, help="directory for the PNG plots (default: next to --out)")
    args = parser.parse_args(argv)

    started = time.time()
    records: list[Record] = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks " + " ".join(a for a in (argv if argv is not None else sys.argv[1:]))
    for task_name, system in plan(args.only, args.system):
        task = tasks.TASKS[task_name]
        label = importlib.import_module(f"benchmarks.systems.{system}").LABEL
        stopped = None  # once a system is too slow or fails at a size, larger sizes are skipped
        sizes = task.quick_sizes if args.quick else task.sizes
        for size in [s for s in sizes if args.max_size is None or s <= args.max_size or s == sizes[0]]:
            record = Record(task_name, size, system, label)
            if stopped:
                record.result = {"status": "skipped", "note": f"{stopped} at a smaller size"}
            else:
                record.result = run_child(system, task_name, size, args.limit, "quick" if args.quick else "")
                if record.status in ("too slow", "failed", "not installed"):
                    stopped = record.status
            records.append(record)
            print(report.progress_line(record), flush=True)
            if record.status == "not installed":
                break
        # The report so far, after every (task, system): an interrupted run still leaves its figures.
        out.write_text(report.markdown(records, command.strip(), time.time() - started, [], out.parent))

    pair_setups(records, args.limit, rounds=1 if args.quick else PAIRED_ROUNDS)
    plots = report.plots(records, Path(args.plots) if args.plots else out.parent)
    out.write_text(report.markdown(records, command.strip(), time.time() - started, plots, out.parent))
    print(f"\nwrote {out}" + "".join(f" and {p}" for p in plots))
