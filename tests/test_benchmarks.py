"""The benchmark runner: every system's answer is checked, failures and slowness are reported, never hung on."""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import child, report, runner, tasks

ROOT = Path(__file__).resolve().parent.parent


def test_quick_run_writes_a_report_with_every_task_and_no_wrong_answer(tmp_path):
    out = tmp_path / "RESULTS.md"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = out.read_text()
    for task in tasks.TASKS.values():
        assert f". {task.title}" in report
    assert "**wrong**" not in report
    assert "| hand-written |" in report and "| symgrad |" in report


def test_the_array_breakdown_prints_a_row_for_every_way_of_running_the_loss():
    done = subprocess.run([sys.executable, "benchmarks/bench_arrays.py", "--points", "140000", "--rounds", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "ms |" in line]
    assert len(rows) == 7 and "freed memory kept (the default)" in done.stdout


@pytest.mark.parametrize("task", list(tasks.TASKS))
def test_every_reference_has_the_answer_symgrad_computes(task):
    size = tasks.TASKS[task].quick_sizes[0]
    result = child.measure("symgrad_arrays" if task in ("moons", "points") else "symgrad_scalar", task, size,
                           limit=60, quick=True)
    assert result["status"] == "ok", result


def test_each_set_up_is_paired_with_a_fresh_compile_of_its_source():
    result = child.measure("symgrad_scalar", "rosenbrock", 10, limit=60, quick=True)
    paired, setup, compiled = result["setup_per_compile"], result["setup"], result["cpython_compile"]
    assert paired["runs"] == setup["runs"] == compiled["runs"] == 1
    assert paired["median"] == pytest.approx(setup["median"] / compiled["median"])


def _ok(system: str, label: str, call: float, per_hand: float) -> runner.Record:
    summary = {"median": call, "min": call, "max": call, "runs": 1}
    return runner.Record("points", 1000, system, label, {"status": "ok", "call": summary,
                                                         "per_hand": {**summary, "median": per_hand}})


def test_the_loop_over_the_array_code_ratio_is_also_given_through_the_shared_hand_written_reference():
    records = [_ok("symgrad_scalar", "symgrad", 4.0, 24.0), _ok("symgrad_arrays", "symgrad backend='numpy'", 0.1, 0.5)]
    lines = report.bars(records)
    assert any("per call: symgrad 40.00×" in line for line in lines)  # the direct ratio of medians
    assert any("in alternation in its own process: 48.0×" in line for line in lines)


def test_a_wrong_answer_is_reported_and_not_timed(monkeypatch):
    monkeypatch.setattr(tasks, "reference", lambda task, size: [24.7, 138.8, 645.6])
    result = child.measure("symgrad_scalar", "micrograd", 1, limit=60, quick=True)
    assert result["status"] == "wrong" and "call" not in result


def test_a_set_up_over_the_limit_is_reported_as_too_slow():
    result = runner.run_child("sympy_lambdify", "rosenbrock", 100, limit=0.01)
    assert result["status"] == "too slow" and "limit" in result["note"]


def test_a_recursion_failure_is_reported_as_a_failure():
    result = runner.run_child("sympy_lambdify", "chain", 100, limit=60)
    assert result == {"status": "failed", "note": "RecursionError"}


def test_unknown_task_is_refused_with_the_list_of_tasks():
    with pytest.raises(SystemExit, match="unknown task"):
        runner.plan(["nope"], None)
