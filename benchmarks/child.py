"""Measure one (system, task, size) and print one JSON line: run as a child process by the runner.

    python -m benchmarks.child SYSTEM TASK SIZE LIMIT_SECONDS [quick]
"""

from __future__ import annotations

import gc
import importlib
import json
import statistics
import sys
import time
import timeit

from benchmarks import tasks


def summary(times: list[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "runs": len(times)}


def time_calls(call, quick: bool) -> list[float]:
    """Seconds per call over several repeats (more repeats for cheap calls, one for very slow ones)."""
    timer = timeit.Timer(call)
    number, total = timer.autorange()
    per_call = total / number
    repeat = 3 if quick else 7 if per_call < 0.05 else 5 if per_call < 1 else 3 if per_call < 10 else 1
    if repeat == 1:
        return [per_call]
    return [t / number for t in timer.repeat(repeat, number)]


def measure(system_name: str, task_name: str, size: int, limit: float, quick: bool = False) -> dict:
    task = tasks.TASKS[task_name]
    system = importlib.import_module(f"benchmarks.systems.{system_name}")
    for module in system.REQUIRES:
        try:
            importlib.import_module(module)
        except ImportError:
            return {"status": "not installed", "note": f"pip install {module}"}
    prepare = getattr(system, task_name)
    reset = getattr(system, "reset", lambda: None)

    setups = []
    for _ in range(1 if quick else 3):  # set-up from scratch each time; stop repeating when it is slow
        reset()
        gc.collect()
        start = time.perf_counter()
        call = prepare(size)
        setups.append(time.perf_counter() - start)
        if setups[-1] > limit:
            return {"status": "too slow", "note": f"set-up took {setups[-1]:.0f} s, over the {limit:.0f} s limit",
                    "setup": summary(setups)}
        if sum(setups) > limit / 3:
            break

    want = tasks.reference(task_name, size)
    got = call()
    error = max((abs(g - w) / max(1.0, abs(w)) for g, w in zip(got, want)), default=0.0)
    if len(got) != len(want) or not error <= task.tolerance:
        return {"status": "wrong", "note": f"answer differs from the reference (relative error {error:.1e})"}

    result = {"status": "ok", "call": summary(time_calls(call, quick)), "error": error}
    if not getattr(system, "EAGER", False):
        result["setup"] = summary(setups)
    source = getattr(call, "source", None)
    if source is not None:
        compiles = []
        for _ in range(len(setups)):
            start = time.perf_counter()
            compile(source, "<symgrad source>", "exec")
            compiles.append(time.perf_counter() - start)
        result["cpython_compile"] = summary(compiles)
    return result


def main() -> None:
    system, task, size, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    quick = sys.argv[5:] == ["quick"]
    try:
        result = measure(system, task, size, limit, quick)
    except RecursionError:
        result = {"status": "failed", "note": "RecursionError"}
    except Exception as error:  # a system's failure is a result to report, not a crash of the run
        result = {"status": "failed", "note": f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
                  if str(error) else type(error).__name__}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
