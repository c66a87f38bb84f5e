"""The examples run as documented."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name, *args):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), *args],
                          capture_output=True, text=True, timeout=300, env=env)


def test_quickstart_example_prints_code_and_a_passing_report():
    out = run_example("quickstart.py")
    assert out.returncode == 0, out.stderr
    assert "def f_and_grad(x, y):" in out.stdout and "all derivatives agree" in out.stdout
    assert "log failed" in out.stdout


def test_rosenbrock_example_descends():
    out = run_example("rosenbrock.py", "6")
    assert out.returncode == 0, out.stderr
    values = [float(line.split("f = ")[1]) for line in out.stdout.splitlines() if "f = " in line]
    assert values[-1] < values[0] * 1e-3
