"""The run's results as a Markdown report and two log-log plots."""

from __future__ import annotations

import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import tasks

VERSIONED = ["symgrad", "sympy", "numpy", "micrograd", "symengine", "casadi", "jax", "torch", "matplotlib"]
PLOTTED_TASK = "rosenbrock"


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _spread(summary: dict | None) -> str:
    if not summary:
        return "—"
    if summary["runs"] == 1:
        return fmt(summary["median"])
    return f"{fmt(summary['median'])} ({fmt(summary['min'])}–{fmt(summary['max'])})"


def _median(record: Any, what: str) -> float | None:
    summary = record.result.get(what)
    return summary["median"] if summary else None


def progress_line(record: Any) -> str:
    task = tasks.TASKS[record.task]
    size = f" {task.size_name}={record.size:,}" if task.size_name else ""
    if record.status == "ok":
        setup = _median(record, "setup")
        shown = f"set-up {fmt(setup)}, " if setup is not None else ""
        return f"{record.task}{size} · {record.label}: {shown}per call {fmt(_median(record, 'call'))}"
    return f"{record.task}{size} · {record.label}: {record.status} ({record.result.get('note', '')})"


def _versions() -> str:
    found = []
    for name in VERSIONED:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def find(records: list, task: str, size: int | None, system: str) -> Any:
    """The record of a measurement that ran (status ok), or None."""
    for r in records:
        if (r.task, r.size, r.system) == (task, size, system) and r.status == "ok":
            return r
    return None


def _ratio(a: float | None, b: float | None, digits: int = 2) -> str:
    return f"{a / b:.{digits}f}×" if a and b else "n/a"


def _setup_and_call(record: Any) -> float:
    return (_median(record, "setup") or 0) + _median(record, "call")


def _ratios(others: list, ours: Any, cost: Any) -> str:
    return ", ".join(f"{r.label} {_ratio(cost(r), cost(ours), 2)}" for r in others)


def _per_hand(records: list, record: Any) -> str:
    """Per call ÷ the hand-written code's, timed in alternation in the same process when it was."""
    if record.system == "hand_written":
        return "1.00×"
    if "per_hand" in record.result:
        return f"{record.result['per_hand']['median']:.2f}×"
    hand = find(records, record.task, record.size, "hand_written")
    return _ratio(_median(record, "call"), _median(hand, "call"))


def bar_size(records: list) -> int | None:
    """The Rosenbrock size the bars are judged at: 10^4, or the largest that ran."""
    sizes = sorted({r.size for r in records if r.task == "rosenbrock"})
    return (10_000 if 10_000 in sizes else sizes[-1]) if sizes else None


def bars(records: list) -> list[str]:
    """The issue's bars, as ratios from this run."""
    lines = []
    ours = find(records, "micrograd", 1, "symgrad_scalar")
    if ours:
        call = _median(ours, "call")
        others = [(r.label, _median(r, "call")) for r in records
                  if r.task == "micrograd" and r.status == "ok" and r.system not in ("symgrad_scalar", "hand_written")]
        fastest = min(others, key=lambda o: o[1]) if others else None
        verdict = "faster than every other system" if fastest and call < fastest[1] else \
            f"not the fastest ({fastest[0]})" if fastest else "no other system ran"
        lines.append(f"- micrograd expression, per call: symgrad {fmt(call)}, {_per_hand(records, ours)} "
                     f"the hand-written code; {verdict}"
                     + (f" — next best {fastest[0]} {fmt(fastest[1])} ({_ratio(fastest[1], call, 1)} symgrad)"
                        if fastest else "") + ".")
    n = bar_size(records)
    if n is not None:
        ours = find(records, "rosenbrock", n, "symgrad_scalar")
        if ours:
            setup, compiled = _median(ours, "setup"), _median(ours, "cpython_compile")
            warm = _median(ours, "cpython_compile_warm")
            hand = find(records, "rosenbrock", n, "hand_written")
            paired = _median(ours, "setup_per_compile")
            parts = [f"set-up {fmt(setup)} = {f'{paired:.2f}×' if paired else 'n/a'} CPython's "
                     f"compile() of the emitted source in a fresh interpreter, timed right after each set-up "
                     f"(median {fmt(compiled)}; {_ratio(setup, warm)} a repeat of it in the same process)"]
            if hand:
                parts.append(f"per call {_per_hand(records, ours)} the hand-unrolled code")
            lines.append(f"- Rosenbrock n={n:,}, {ours.label}: " + "; ".join(parts) + ".")
    lines.extend(_paired_lines(records))
    for task, ours_name in (("moons", "symgrad_arrays"), ("points", "symgrad_arrays")):
        for size in sorted({r.size for r in records if r.task == task}):
            ours = find(records, task, size, ours_name)
            if not ours:
                continue
            others = [r for r in records
                      if r.task == task and r.size == size and r.status == "ok" and r.system != ours_name]
            line = (f"- {tasks.TASKS[task].title}, {tasks.TASKS[task].size_name}={size:,}, other system ÷ symgrad "
                    f"backend='numpy', set-up + one call: {_ratios(others, ours, _setup_and_call)}")
            if task == "points":  # evaluated again and again: per call is what counts
                line += f"; per call: {_ratios(others, ours, lambda r: _median(r, 'call'))}"
            lines.append(line + ".")
    counts: dict[str, int] = {}
    for r in records:
        counts[r.status] = counts.get(r.status, 0) + 1
    lines.append("- Every measurement finished or was reported: "
                 + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ".")
    return lines


def _paired_lines(records: list) -> list[str]:
    """A bar line per record with paired set-ups: symgrad ÷ CasADi on set-up, per call and peak RSS."""
    lines = []
    for ours in records:
        paired = ours.result.get("paired_setup")
        if not paired:
            continue
        task = tasks.TASKS[ours.task]
        theirs = next(r for r in records if (r.task, r.size, r.label) == (ours.task, ours.size, paired["against"]))
        ratio = paired["ratio"]
        rss = [r.result.get("peak_rss") for r in (ours, theirs)]
        hand = find(records, ours.task, ours.size, "hand_written")
        lines.append(
            f"- {task.title}, {task.size_name}={ours.size:,}, {ours.label} ÷ {theirs.label}: set-up "
            f"{ratio['median']:.2f}× over {ratio['runs']} set-up{'s' if ratio['runs'] > 1 else ''} of each timed "
            f"in alternation ({ratio['min']:.2f}–{ratio['max']:.2f}; {theirs.label} {_spread(paired['theirs'])}, "
            f"symgrad {_spread(paired['ours'])}); per call "
            f"{_ratio(_median(ours, 'call'), _median(theirs, 'call'))}"
            + (f" ({_per_hand(records, ours)} the hand-written code's)" if hand else "")
            + (f"; peak RSS {rss[0] / 2**20:.0f} MB against {rss[1] / 2**20:.0f} MB" if all(rss) else "")
            + "; below 1: symgrad's is less.")
    return lines


def markdown(records: list, command: str, seconds: float, plots: list[Path], directory: Path) -> str:
    lines = [
        "# symgrad against the field",
        "",
        f"`{command}` on {time.strftime('%Y-%m-%d')}: {os.cpu_count()} cores ({_cpu()}), "
        f"Python {sys.version.split()[0]}; {_versions()}. The run took {seconds / 60:.1f} min.",
        "",
        "Each (system, task, size) ran in its own process. Set-up (build, differentiate, compile) was timed "
        "from scratch up to three times, each followed by CPython's compile() of its source in a fresh "
        "interpreter; per call with `timeit` after a warm-up, alternating with the hand-written code (each "
        "repeat after one untimed call); figures are medians (min–max). Every answer was checked against "
        "the hand-written reference before timing; "
        "a wrong answer is reported, not timed. A system whose set-up passes the time limit, or fails, "
        "is skipped at larger sizes. The machine is shared: read the ratios.",
        "",
        "## The bars",
        "",
        *bars(records),
        "",
    ]
    for number, task in enumerate(tasks.TASKS.values(), 1):
        rows = [r for r in records if r.task == task.name]
        if not rows:
            continue
        lines += [f"## {number}. {task.title}", "", f"Per call: {task.call}.", "",
                  "| size | system | set-up | per call | per call ÷ hand-written | peak RSS | note |",
                  "|---|---|---|---|---|---|---|"]
        for r in rows:
            size = f"{task.size_name}={r.size:,}" if task.size_name else "—"
            relative = _per_hand(records, r) if r.status == "ok" else ""
            note = "" if r.status == "ok" else f"**{r.status}**: {r.result.get('note', '')}"
            rss = r.result.get("peak_rss")
            lines.append(f"| {size} | {r.label} | {_spread(r.result.get('setup'))} | {_spread(r.result.get('call'))} "
                         f"| {relative} | {f'{rss / 2**20:.0f} MB' if rss else ''} | {note} |")
            if "cpython_compile" in r.result:
                lines.append(f"| {size} | ↳ CPython compile() of that source | {_spread(r.result['cpython_compile'])} "
                             f"| | | | the floor of emitting Python: a fresh interpreter (a repeat in the same "
                             f"process: {_spread(r.result.get('cpython_compile_warm'))}) |")
        lines.append("")
    for plot in plots:
        lines += [f"![{plot.stem}]({os.path.relpath(plot, directory)})", ""]
    return "\n".join(lines)


def plots(records: list, directory: Path) -> list[Path]:
    """Set-up and per-call time against Rosenbrock n, log-log, one line per system (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots (pip install matplotlib)")
        return []
    made = []
    for what, title, name in (("setup", "set-up (build + derive + compile)", "setup_vs_size.png"),
                              ("call", "per call (value + gradient)", "per_call_vs_size.png")):
        figure, axes = plt.subplots(figsize=(7, 4.5))
        drawn = False
        labels = dict.fromkeys(r.label for r in records if r.task == PLOTTED_TASK)
        for label in labels:
            points = [(r.size, _median(r, what)) for r in records
                      if r.task == PLOTTED_TASK and r.label == label and r.status == "ok" and _median(r, what)]
            if len(points) >= 1:
                axes.plot(*zip(*points), marker="o", label=label)
                drawn = True
        if not drawn:
            plt.close(figure)
            continue
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("extended Rosenbrock n (about 9n graph nodes)")
        axes.set_ylabel("seconds")
        axes.set_title(f"Rosenbrock: {title}")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
        figure.tight_layout()
        path = directory / name
        figure.savefig(path, dpi=110)
        plt.close(figure)
        made.append(path)
    return made
