"""What the package ships and says about itself: its version and py.typed, in a built wheel too."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import symgrad as sg

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("command", [[sys.executable, "-m", "symgrad"], [sys.executable, "-c",
                                     "import sys; from symgrad.cli import main; sys.exit(main())"]],
                         ids=["python -m symgrad", "the symgrad script's entry point"])
def test_cli_version_prints_the_package_version(command):
    out = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0 and out.stdout == f"symgrad {sg.__version__}\n"


def test_the_package_marks_itself_typed():
    assert (Path(sg.__file__).parent / "py.typed").is_file()


@pytest.mark.slow
def test_a_built_wheel_ships_py_typed_and_the_packages_version(tmp_path):
    """Built from a copy of the checkout, so no build files land in it."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "symgrad", source / "symgrad", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "-w", str(tmp_path)],
                   check=True, timeout=600)
    (wheel,) = tmp_path.glob("symgrad-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "symgrad/py.typed" in archive.namelist()
        metadata = archive.read(f"symgrad-{sg.__version__}.dist-info/METADATA").decode()
    assert f"\nVersion: {sg.__version__}\n" in metadata
