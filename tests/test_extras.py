"""A missing optional dependency is an ImportError naming the extra that installs it, wherever it is
imported: each module of symgrad.extras.EXTRAS hidden in turn, as if it were not installed."""

import re
import runpy
import sys
from pathlib import Path

import pytest

import symgrad as sg
from symgrad import cli, demo
from symgrad.extras import EXTRAS, require

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def hide(monkeypatch, module):
    """Make ``module`` and its submodules look uninstalled (a None in sys.modules stops an import)."""
    for name in [n for n in sys.modules if n == module or n.startswith(module + ".")] + [module]:
        monkeypatch.setitem(sys.modules, name, None)


def advice(module):
    return f"pip install 'symgrad[{EXTRAS[module].extra}]'"


def said(call, capsys):
    """What the user is told: the ImportError's message, or what the call printed instead."""
    try:
        call()
    except ImportError as error:
        return str(error)
    return capsys.readouterr().out


def _array_code():
    x, y = sg.symbols("x y")
    sg.compile(x * y, wrt=[x], backend="numpy")([1.0, 2.0], 3.0)


def _example(name, function=None, *args):
    """Run an example file (its imports), then call one of its functions."""
    def run():
        found = runpy.run_path(str(EXAMPLES / name))
        if function:
            found[function](*args)
    return run


# Where each optional module is imported, reached as a user reaches it.
CALL_SITES = {
    "numpy": lambda: sg.vector("x", 2),
    "array_api_compat": _array_code,
    "scipy": lambda: demo.fit_rosenbrock(3),
    "matplotlib": _example("moons.py", "save_training_figure", None, [], [], [], "unused.png"),
    "dask": _example("dask_sweep.py", "sweep", 10, 5, 1),
    "distributed": _example("dask_sweep.py", "sweep", 10, 5, 1),
}
# Where a missing module changes nothing but looks: tested below by what is shown instead.
COSMETIC = {"pygments"}


@pytest.mark.parametrize("module", sorted(EXTRAS))
def test_require_of_a_missing_module_names_the_extra_to_install(monkeypatch, module):
    hide(monkeypatch, module)
    with pytest.raises(ImportError, match=re.escape(f"needs {EXTRAS[module].distribution}: {advice(module)}")):
        require(module, "this")


@pytest.mark.parametrize("module", sorted(EXTRAS))
def test_each_extra_named_is_in_pyproject_and_installs_the_module(module):
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
    with open(Path(__file__).resolve().parent.parent / "pyproject.toml", "rb") as file:
        extras = tomllib.load(file)["project"]["optional-dependencies"]
    name, wanted = requirement_parts(EXTRAS[module].distribution)
    listed = map(requirement_parts, extras[EXTRAS[module].extra])
    assert any(name == found and wanted <= options for found, options in listed)


def requirement_parts(requirement):
    """A requirement's name and extras: "dask[array,distributed]>=1" -> ("dask", {"array", "distributed"})."""
    found = re.match(r"([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?", requirement)
    return found[1].lower(), {e.strip() for e in (found[2] or "").split(",") if e.strip()}


def test_every_optional_module_has_a_call_site_tested():
    assert set(CALL_SITES) | COSMETIC == set(EXTRAS)


@pytest.mark.parametrize("module", sorted(CALL_SITES))
def test_a_missing_module_is_named_with_its_extra_where_it_is_used(monkeypatch, capsys, module):
    hide(monkeypatch, module)
    assert advice(module) in said(CALL_SITES[module], capsys)


def test_grad_prints_plain_code_on_a_terminal_without_pygments(monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert "\x1b[" in cli._highlight("x = 1\n")
    hide(monkeypatch, "pygments")
    assert cli._highlight("x = 1\n") == "x = 1\n"


def test_a_module_missing_inside_an_installed_extra_keeps_its_own_message(monkeypatch):
    """numpy present but something it imports absent: advising to install numpy would mislead."""
    def broken(name, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'somedependency'", name="somedependency")

    monkeypatch.setattr("importlib.import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="somedependency"):
        require("numpy", "this")


def test_require_refuses_a_module_missing_from_the_table():
    with pytest.raises(ValueError, match="not an optional dependency"):
        require("requests", "this")
