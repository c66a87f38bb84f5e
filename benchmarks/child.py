"""Measure one (system, task, size) and print one JSON line: run as a child process by the runner.

    python -m benchmarks.child SYSTEM TASK SIZE LIMIT_SECONDS [quick | setup]

``setup``: one set-up only, timed (see ``runner.pair_setups``).
"""

from __future__ import annotations

import gc
import importlib
import json
import resource
import statistics
import subprocess
import sys
import time
import timeit

from benchmarks import tasks


def summary(times: list[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "runs": len(times)}


SLOW_CALL = 10.0  # seconds: a call this slow is timed once, by the run that checked its answer


def time_calls(call, quick: bool, reference=None, first: float = 0.0,
               clock=timeit.default_timer) -> tuple[list[float], list[float]]:
    """Seconds per call over several repeats (more for cheap calls, one for very slow ones).

    With ``reference`` (the hand-written code for the same task), each repeat of ``call`` is
    followed by one of ``reference``, so that both meet the same load on a shared machine and
    their ratio is fair even when absolute times drift. In alternation, each repeat starts
    with one untimed call: the first call after the other code's can cost several times a warm
    one (whole-array NumPy at 10^6 points: 0.2 s warm, 0.7-2 s right after the scalar loop,
    its freed memory having to be faulted in again), and a one-call repeat would time only that.
    ``clock`` is the timer's clock (the tests pass a fake one).
    """
    timer = timeit.Timer(call, timer=clock)
    number, total = (1, first) if first > SLOW_CALL else timer.autorange()
    per_call = total / number
    repeat = 3 if quick else 7 if per_call < 0.05 else 5 if per_call < 1 else 3 if per_call < SLOW_CALL else 1
    other = None
    if reference is not None:
        reference()
        other = timeit.Timer(reference, timer=clock)
    other_number = other.autorange()[0] if other is not None else 0
    ours, theirs = ([per_call], []) if repeat == 1 else ([], [])
    for _ in range(repeat):
        if repeat > 1:
            if other is not None:
                call()
            ours.append(timer.timeit(number) / number)
        if other is not None:
            reference()
            theirs.append(other.timeit(other_number) / other_number)
    return ours, theirs


def timed_setup(system, task_name: str, size: int) -> tuple[object, float]:
    """The system's set-up for the task, from scratch (after its ``reset`` and a full collection), and its seconds."""
    getattr(system, "reset", lambda: None)()
    gc.collect()
    start = time.perf_counter()
    call = getattr(system, task_name)(size)
    return call, time.perf_counter() - start


def _system(system_name: str) -> tuple:
    """The system's module, or None and the result saying which package it needs is not installed."""
    system = importlib.import_module(f"benchmarks.systems.{system_name}")
    for module in system.REQUIRES:
        try:
            importlib.import_module(module)
        except ImportError:
            return None, {"status": "not installed", "note": f"pip install {module}"}
    return system, None


def setup_only(system_name: str, task_name: str, size: int) -> dict:
    """One set-up from scratch, untimed otherwise: for set-ups of two systems timed in alternation."""
    system, missing = _system(system_name)
    if system is None:
        return missing
    _, seconds = timed_setup(system, task_name, size)
    return {"status": "ok", "setup": seconds}


def measure(system_name: str, task_name: str, size: int, limit: float, quick: bool = False) -> dict:
    task = tasks.TASKS[task_name]
    system, missing = _system(system_name)
    if system is None:
        return missing

    setups, compiles, call = [], [], None
    for _ in range(1 if quick else 3):  # set-up from scratch each time; stop repeating when it is slow
        call = None  # the previous set-up's graph would slow this one's garbage collections
        call, seconds = timed_setup(system, task_name, size)
        setups.append(seconds)
        if setups[-1] > limit:
            return {"status": "too slow", "note": f"set-up took {setups[-1]:.0f} s, over the {limit:.0f} s limit",
                    "setup": summary(setups)}
        source = getattr(call, "source", None)
        if source is not None:  # right after the set-up, so that both meet the same load
            compiles.append(fresh_compile_seconds(source))
        if sum(setups) > limit / 3:
            break

    want = tasks.reference(task_name, size)
    start = time.perf_counter()
    got = call()
    first = time.perf_counter() - start
    error = max((abs(g - w) / max(1.0, abs(w)) for g, w in zip(got, want)), default=0.0)
    if len(got) != len(want) or not error <= task.tolerance:
        return {"status": "wrong", "note": f"answer differs from the reference (relative error {error:.1e})"}

    hand = importlib.import_module("benchmarks.systems.hand_written")
    reference = getattr(hand, task_name)(size) if system is not hand else None
    ours, theirs = time_calls(call, quick, reference, first)
    result = {"status": "ok", "call": summary(ours), "error": error}
    if theirs:
        result["per_hand"] = summary([a / b for a, b in zip(ours, theirs)])
    if not getattr(system, "EAGER", False):
        result["setup"] = summary(setups)
    if source is not None:  # the last set-up's, from the loop above
        result["cpython_compile"] = summary(compiles)
        result["setup_per_compile"] = summary([a / b for a, b in zip(setups, compiles)])
        repeats = []
        for _ in setups:
            start = time.perf_counter()
            compile(source, "<symgrad source>", "exec")
            repeats.append(time.perf_counter() - start)
        result["cpython_compile_warm"] = summary(repeats)
    # The process's peak: its largest set-up (each starts with the previous one's graph released) or its calls.
    result["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return result


_COMPILE_ONCE = (
    "import sys, time\n"
    "source = sys.stdin.read()\n"
    "start = time.perf_counter()\n"
    "compile(source, '<symgrad source>', 'exec')\n"
    "print(time.perf_counter() - start)\n"
)


def fresh_compile_seconds(source: str) -> float:
    """CPython's compile() of ``source`` in a fresh interpreter: compiling it as a job of its own.

    A repeat in the process that just compiled the same source is faster (Rosenbrock
    n = 10^4: 15-30%), as its names are interned and the allocator's memory is warm;
    the set-up's own compile() gets neither, so the fresh figure is the fair floor.
    """
    done = subprocess.run([sys.executable, "-c", _COMPILE_ONCE], input=source, capture_output=True,
                          text=True, check=True)
    return float(done.stdout)


def main() -> None:
    system, task, size, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    mode = sys.argv[5] if len(sys.argv) > 5 else ""
    try:
        result = setup_only(system, task, size) if mode == "setup" else measure(system, task, size, limit,
                                                                                 mode == "quick")
    except RecursionError:
        result = {"status": "failed", "note": "RecursionError"}
    except Exception as error:  # a system's failure is a result to report, not a crash of the run
        result = {"status": "failed", "note": f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
                  if str(error) else type(error).__name__}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
