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


def test_micrograd_readme_example_prints_micrograds_numbers():
    out = run_example("micrograd_readme.py")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["24.7041", "138.8338", "645.5773"]


def test_fit_scipy_example_converges_with_the_compiled_loss_as_objective():
    import pytest

    pytest.importorskip("scipy")
    out = run_example("fit_scipy.py")
    assert out.returncode == 0, out.stderr
    assert "CONVERGENCE" in out.stdout and "training accuracy" in out.stdout
    accuracy = float(out.stdout.split("training accuracy ")[1].split("%")[0])
    assert accuracy > 85.0
    assert float(out.stdout.split("gradient vs finite differences: ")[1].split()[0]) < 1e-5


def test_moons_example_reaches_full_accuracy_and_draws(tmp_path):
    import importlib.util

    png = tmp_path / "moons.png"
    out = run_example("moons.py", "--plot", str(png))
    assert out.returncode == 0, out.stderr
    assert "final accuracy 100%" in out.stdout
    if importlib.util.find_spec("matplotlib"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    else:
        assert "needs matplotlib: pip install 'symgrad[plot]'; skipping it" in out.stdout


def test_moons_example_trains_eagerly_too():
    out = run_example("moons.py", "--eager", "--steps", "3", "--plot", "")
    assert out.returncode == 0, out.stderr
    assert "eager Value.backward()" in out.stdout and "step   2" in out.stdout


def test_draw_example_writes_the_readme_figures(tmp_path):
    import shutil

    import pytest

    if shutil.which("dot") is None:
        pytest.skip("Graphviz dot is not installed")
    out = run_example("draw.py", str(tmp_path))
    assert out.returncode == 0, out.stderr
    for name in ("micrograd_expression", "neuron", "backward"):
        assert (tmp_path / f"{name}.svg").read_text().lstrip().startswith("<?xml")
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_newton_example_converges_to_the_minimum_in_a_handful_of_steps():
    out = run_example("newton.py")
    assert out.returncode == 0, out.stderr
    assert "def f_hessian(x, y):" in out.stdout
    assert "Newton: 7 iterations to (1.0000000000, 1.0000000000)" in out.stdout
    assert "gradient descent" in out.stdout


def test_moons_example_trains_full_batch_as_numpy_arrays_to_the_same_loss():
    out = run_example("moons.py", "--backend", "numpy", "--plot", "")
    assert out.returncode == 0, out.stderr
    assert "full batch as NumPy arrays" in out.stdout
    assert "step  99 loss 0.016340, accuracy 100%" in out.stdout and "final accuracy 100%" in out.stdout


def test_dask_sweep_example_runs_on_worker_processes_and_agrees_with_one_process():
    import importlib.util

    import pytest

    if importlib.util.find_spec("distributed") is None:
        pytest.skip("dask.distributed is not installed")
    out = run_example("dask_sweep.py", "--points", "40000", "--chunk", "10000")
    assert out.returncode == 0, out.stderr
    assert "2 worker processes, 4 blocks" in out.stdout and "same numbers as in this process: yes" in out.stdout


def test_moons_figure_has_the_boundary_next_to_loss_and_accuracy_per_step():
    import importlib.util

    import pytest

    pytest.importorskip("matplotlib")
    from symgrad.demo import train_moons

    spec = importlib.util.spec_from_file_location("moons_example", os.path.join(ROOT, "examples", "moons.py"))
    moons = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(moons)
    model, X, y, history = train_moons(steps=5, log=lambda line: None)
    boundary, loss, accuracy = moons.training_figure(model, X, y, history, resolution=20).axes
    assert boundary.get_title() == "decision boundary" and boundary.collections  # the filled sign, the data
    (loss_line,) = loss.lines
    assert list(loss_line.get_ydata()) == [value for _, value, _ in history]
    (accuracy_line,) = accuracy.lines
    assert list(accuracy_line.get_ydata()) == [100 * a for _, _, a in history]
