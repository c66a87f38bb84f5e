"""The package's types: tests/typed_usage.py is true at run time, and mypy --strict accepts it and the package."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_typed_usage_file_runs():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "typed_usage.py")], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr


@pytest.mark.slow
def test_mypy_strict_passes_on_the_package_and_the_typed_usage(tmp_path):
    pytest.importorskip("mypy", reason="mypy is in the dev extra")
    out = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path)], capture_output=True,
                         text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0 and "Success: no issues found" in out.stdout, out.stdout


@pytest.mark.slow
def test_mypy_finds_a_misuse_of_the_public_api(tmp_path):
    """The annotations say something: a wrong call is an error, not Any."""
    pytest.importorskip("mypy", reason="mypy is in the dev extra")
    misuse = tmp_path / "misuse.py"
    misuse.write_text("import symgrad as sg\n\nx = sg.symbol(3)\nname: int = sg.compile(x, wrt=[x]).source\n")
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
                          str(misuse)], capture_output=True, text=True, timeout=600, cwd=ROOT,
                         env={**os.environ, "MYPYPATH": ROOT})
    assert 'Argument 1 to "symbol" has incompatible type "int"; expected "str"' in out.stdout
    assert 'Incompatible types in assignment (expression has type "str", variable has type "int")' in out.stdout
