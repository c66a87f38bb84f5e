"""The ``symgrad`` command's interface: usage, help, exit codes, and what it says about bad input.

Run in process (``main(argv)``); tests/test_parse_and_cli.py runs it as ``python -m symgrad``.
"""

import importlib
import math
import shlex
import shutil

import pytest
import sympy

import symgrad as sg
from symgrad import cli
from symgrad.cli import EXIT_BAD_INPUT, EXIT_MISMATCH, EXIT_OK, main

NEEDS_DOT = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")


def run(capsys, *argv):
    """The exit code and what was printed, whether main returns or argparse exits."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def help_examples():
    return [shlex.split(line.split("  ", 2)[1])[1:] for line in cli._EPILOG.splitlines()
            if line.startswith("  symgrad ")]


def test_help_shows_usage_as_symgrad_without_markup(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == EXIT_OK and out.startswith("usage: symgrad ")
    assert "python -m" not in out and "``" not in out


def test_help_of_a_command_shows_its_usage_as_symgrad(capsys):
    code, out, _ = run(capsys, "check", "--help")
    assert code == EXIT_OK and out.startswith("usage: symgrad check ")


def test_help_shows_examples_and_the_exit_codes(capsys):
    _, out, _ = run(capsys, "--help")
    assert "examples:" in out and 'symgrad grad "tanh(x*y) + x**2/y"' in out
    assert "exit codes: 0 ok, 1 a check found a derivative that disagrees, 2 bad input" in out


@pytest.mark.parametrize("argv", help_examples(), ids=" ".join)
def test_every_example_in_the_help_runs(capsys, tmp_path, monkeypatch, argv):
    if "-o" in argv and not argv[argv.index("-o") + 1].endswith(".dot") and shutil.which("dot") is None:
        pytest.skip("Graphviz dot is not installed")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    assert code == EXIT_OK, err


def test_bare_symgrad_prints_the_help_and_exits_2(capsys):
    code, out, err = run(capsys)
    assert code == EXIT_BAD_INPUT and out == ""
    assert err.startswith("usage: symgrad ") and "examples:" in err


def test_grad_order_2_prints_the_function_with_the_hessian(capsys):
    code, out, _ = run(capsys, "grad", "x**2*y", "--order", "2")
    assert code == EXIT_OK and out.startswith("def f_hessian(x, y):") and "h_x_y" in out


def test_check_order_2_checks_the_hessian_against_sympy(capsys):
    code, out, _ = run(capsys, "check", "sin(x)*y", "--order", "2", "--points", "2")
    assert code == EXIT_OK and "d2/dx dy" in out and "all derivatives agree" in out


@pytest.mark.parametrize("command", ["grad", "check"])
def test_an_order_other_than_1_or_2_is_bad_input_naming_order(capsys, command):
    code, _, err = run(capsys, command, "x*y", "--order", "3")
    assert code == EXIT_BAD_INPUT and "argument --order: invalid choice: 3" in err


@pytest.mark.parametrize("points", ["0", "-2", "two"])
def test_points_must_be_at_least_one(capsys, points):
    code, _, err = run(capsys, "check", "x*y", "--points", points)
    assert code == EXIT_BAD_INPUT and f"argument --points: must be a whole number ≥ 1, got '{points}'" in err


@pytest.mark.parametrize("at", ["x=abc", "x", "=1", "x=0.5,y"])
def test_at_that_is_not_name_equals_number_is_bad_input_naming_at(capsys, at):
    code, _, err = run(capsys, "dot", "x*y", "--at", at)
    assert code == EXIT_BAD_INPUT and "argument --at: " in err and "is not name=number" in err


def test_at_values_are_shown_in_the_drawing(capsys):
    code, out, _ = run(capsys, "dot", "x*y", "--at", "x=0.5,y=-2")
    assert code == EXIT_OK and "-1" in out and "0.5" in out


def test_a_caret_for_a_power_says_to_use_double_star(capsys):
    code, out, err = run(capsys, "grad", "x^2 + y")
    assert code == EXIT_BAD_INPUT and out == ""
    assert "use ** for powers, e.g. x**2" in err and "\n  ^^^" in err


def test_dot_without_output_writes_the_dot_source_to_stdout_and_no_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "dot", "tanh(x*y) + x")
    assert code == EXIT_OK and out.startswith("digraph") and out.rstrip().endswith("}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["graph.txt", "graph", "graph.x11", "graph.py"])
def test_dot_refuses_an_output_whose_format_graphviz_cannot_write(capsys, tmp_path, name):
    code, _, err = run(capsys, "dot", "x*y", "-o", str(tmp_path / name))
    assert code == EXIT_BAD_INPUT and "argument -o/--output: cannot tell a format Graphviz writes" in err
    assert list(tmp_path.iterdir()) == []


def test_dot_never_creates_a_directory(capsys, tmp_path):
    code, _, err = run(capsys, "dot", "x*y", "-o", str(tmp_path / "new" / "graph.dot"))
    assert code == EXIT_BAD_INPUT and "no directory" in err and "new" in err
    assert list(tmp_path.iterdir()) == []


@NEEDS_DOT
@pytest.mark.parametrize("name, magic", [("graph.svg", b"<?xml"), ("graph.png", b"\x89PNG"), ("graph.pdf", b"%PDF")])
def test_dot_writes_the_format_of_the_extension_and_nothing_else(capsys, tmp_path, name, magic):
    code, out, _ = run(capsys, "dot", "x*y", "-o", str(tmp_path / name))
    assert code == EXIT_OK and out == f"wrote {tmp_path / name}\n"
    assert [p.name for p in tmp_path.iterdir()] == [name] and (tmp_path / name).read_bytes().startswith(magic)


def test_check_exits_1_when_a_derivative_disagrees(capsys, monkeypatch):
    """The CLI parses built-ins only, which agree with SymPy: the report comes from a primitive with a
    wrong derivative (erf's without its 2/sqrt(pi)), as verify gives it."""
    wrong = sg.primitive("erf_missing_factor", impl=math.erf, derivative=lambda a: sg.exp(-a * a), sympy=sympy.erf)
    real_verify = sg.verify
    module = importlib.import_module("symgrad.verify")  # sg.verify, the function, hides the module's name
    monkeypatch.setattr(module, "verify", lambda f, wrt, **options: real_verify(wrong(f), wrt, **options))
    code, out, _ = run(capsys, "check", "x")
    assert code == EXIT_MISMATCH and "MISMATCH: see the rows marked FAIL" in out


def test_check_that_compares_nothing_is_bad_input(capsys):
    code, out, _ = run(capsys, "check", "log(-x*x - 1)")
    assert code == EXIT_BAD_INPUT and "NO POINTS" in out


def test_dot_says_which_format_its_graphviz_lacks_and_writes_nothing(capsys, tmp_path, monkeypatch):
    import graphviz

    def lacking(self, format=None, **options):  # noqa: A002  (graphviz's name)
        raise graphviz.CalledProcessError(1, ["dot", f"-T{format}"], stderr=b'Format: "exr" not recognized.')

    monkeypatch.setattr(graphviz.Digraph, "pipe", lacking)
    code, _, err = run(capsys, "dot", "x*y", "-o", str(tmp_path / "graph.exr"))
    assert code == EXIT_BAD_INPUT
    assert err == "error: Graphviz's dot cannot write .exr here: Format: \"exr\" not recognized.\n"
    assert list(tmp_path.iterdir()) == []
