"""The benchmark runner: every system's answer is checked, failures and slowness are reported, never hung on."""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bench_arrays, child, report, runner, tasks

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
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
    labels = [row.split(" | ")[0].removeprefix("| ") for row in rows]
    assert labels == [label for label, _ in bench_arrays.WAYS.values()]


def test_the_set_up_breakdown_prints_every_stage_of_symgrad_and_its_total():
    done = subprocess.run([sys.executable, "benchmarks/setup_breakdown.py", "--n", "100", "--rounds", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    stages = {line.split(" | ")[1] for line in done.stdout.splitlines() if line.startswith("| symgrad |")}
    assert {"build the graph (user code)", "differentiate", "emit", "exec", "**set-up** (best round)"} <= stages


def test_the_loop_benchmark_prints_a_row_per_depth():
    done = subprocess.run([sys.executable, "benchmarks/bench_loop.py", "--depths", "40", "60", "--repeat", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert [line.split(" | ")[0] for line in done.stdout.splitlines()[2:]] == ["| 40", "| 60"]


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


class _FakeClock:
    """A clock that moves only when a fake code runs: by its warm cost, or by its cold cost when
    the other code ran last (the allocator left cold for it, as a large NumPy call can)."""

    def __init__(self):
        self.now, self.last = 0.0, None

    def __call__(self):
        return self.now

    def code(self, name, warm, cold):
        def run():
            self.now += cold if self.last not in (None, name) else warm
            self.last = name
        return run


def test_in_alternation_neither_code_is_timed_cold_right_after_the_other():
    clock = _FakeClock()
    ours, theirs = child.time_calls(clock.code("ours", warm=0.1, cold=0.5), True,
                                    clock.code("reference", warm=0.21, cold=0.3), clock=clock)
    assert ours == pytest.approx([0.1] * 3) and theirs == pytest.approx([0.21] * 3)


def test_a_set_up_only_child_times_one_set_up():
    result = runner.run_child("symgrad_scalar", "rosenbrock", 10, limit=60, mode="setup")
    assert result["status"] == "ok" and result["setup"] > 0


def _ok(system, size=10_000, task="rosenbrock"):
    return runner.Record(task, size, system, system, {"status": "ok", "setup": child.summary([1.0])})


def _fake_children(monkeypatch, seconds):
    calls = []

    def fake_child(system, task, size, limit, mode=""):
        calls.append((system, task, size, mode))
        return {"status": "ok", "setup": next(seconds[system])}

    monkeypatch.setattr(runner, "run_child", fake_child)
    return calls


def test_symgrad_and_casadi_set_ups_are_timed_in_alternation_each_going_first_in_turn(monkeypatch):
    ours, theirs = runner.PAIRS["rosenbrock"]
    calls = _fake_children(monkeypatch, {ours: iter([2.0, 1.0, 4.0, 3.0]), theirs: iter([1.0, 2.0, 2.0, 6.0])})
    records = [_ok(ours), _ok(theirs), _ok(ours, 100)]
    runner.pair_setups(records, limit=60, rounds=4)
    assert [c[0] for c in calls] == [ours, theirs, theirs, ours] * 2
    assert {c[1:] for c in calls} == {("rosenbrock", 10_000, "setup")}
    paired = records[0].result["paired_setup"]
    assert paired["ratio"]["median"] == pytest.approx(1.25) and paired["ratio"]["runs"] == 4  # 2, 0.5, 2, 0.5
    assert f"{ours} ÷ {theirs}: set-up 1.25× over 4 set-ups of each timed in alternation (0.50–2.00" \
        in "\n".join(report.bars(records))


def test_every_size_both_ran_is_paired_with_fewer_rounds_for_the_big_ones(monkeypatch):
    ours, theirs = runner.PAIRS["chain"]
    big = runner.PAIRED_FEWER_ABOVE * 10
    calls = _fake_children(monkeypatch, {ours: iter([1.0] * 8), theirs: iter([2.0] * 8)})
    records = [_ok(name, size, "chain") for size in (1000, big) for name in (ours, theirs)]
    runner.pair_setups(records, limit=60, rounds=6)
    assert [c[2] for c in calls] == [1000] * 12 + [big] * 4
    assert [r.result["paired_setup"]["ratio"]["median"] for r in records[::2]] == [0.5, 0.5]


def test_no_pairing_without_a_casadi_measurement(monkeypatch):
    monkeypatch.setattr(runner, "run_child", lambda *args, **kwargs: pytest.fail("no child should run"))
    records = [_ok(runner.PAIRS["rosenbrock"][0])]
    runner.pair_setups(records, limit=60, rounds=2)
    assert "paired_setup" not in records[0].result


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
