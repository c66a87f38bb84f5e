"""The whitelisting parser and `python -m symgrad`."""

import os
import subprocess
import sys

import pytest

import symgrad as sg
from symgrad.parse import parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, timeout=120):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "symgrad", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def test_parse_builds_the_same_nodes_as_python_operators():
    x, y = sg.symbols("x y")
    assert parse("tanh(x*y) + x**2/y - log(y)*exp(-x)") is sg.tanh(x * y) + x**2 / y - sg.log(y) * sg.exp(-x)


def test_parse_reads_negative_number_exponents_as_integer_powers():
    assert parse("x**-2").op.name == "powi"


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("x.real", "attribute access"),
        ("x[0]", "subscripts"),
        ("lambda: x", "lambdas"),
        ("[a for a in b]", "comprehensions"),
        ("(a for a in b)", "comprehensions"),
        ("f'{x}'", "f-strings"),
        ("open('f')", "unknown function 'open'"),
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').getcwd()", "only symgrad's functions may be called"),
        ("__class__", "names starting with '_'"),
        ("_x + 1", "names starting with '_'"),
        ("x < y", "comparisons"),
        ("x and y", "boolean operators"),
        ("x if y else 1", "conditional expressions"),
        ("'text'", "only numbers"),
        ("True", "only numbers"),
        ("1j", "only numbers"),
        ("exp(x, y)", "takes 1 argument"),
        ("exp(x=1)", "positional arguments only"),
        ("exp", "is a function"),
        ("x % 2", "not allowed"),
        ("x +", "not a valid expression"),
        ("x\nimport os", "single line"),
    ],
)
def test_parser_refuses_and_points_at_the_offending_part(text, complaint):
    with pytest.raises(sg.ParseError, match=complaint):
        parse(text)


def test_parser_error_has_a_caret_under_the_bad_part():
    with pytest.raises(sg.ParseError) as caught:
        parse("x + y.real")
    lines = str(caught.value).splitlines()
    assert lines[1].strip() == "x + y.real" and lines[2].strip() == "^" * len("y.real")


def test_parser_refuses_absurd_nesting_without_crashing():
    with pytest.raises(sg.ParseError):
        parse("-" * 50_000 + "x")


def test_cli_grad_prints_the_generated_source():
    out = run_cli("grad", "tanh(x*y) + x**2/y")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("def f_and_grad(x, y):") and "return value, (d_x, d_y)" in out.stdout


def test_cli_grad_annotates_and_takes_wrt():
    out = run_cli("grad", "x*y + exp(x)", "--wrt", "x", "--annotate")
    assert out.returncode == 0 and "return value, (d_x,)" in out.stdout and "  # exp(x)" in out.stdout


def test_cli_refuses_a_hostile_expression():
    out = run_cli("grad", "__import__('os').getcwd()")
    assert out.returncode == 2 and "only symgrad's functions may be called" in out.stderr
    assert out.stdout == ""


def test_cli_check_prints_the_report_and_succeeds():
    out = run_cli("check", "x**y + log(x)")
    assert out.returncode == 0 and "all derivatives agree" in out.stdout


def test_cli_demo_runs_end_to_end():
    out = run_cli("demo", "--quick", timeout=300)
    assert out.returncode == 0, out.stderr
    assert "def f_and_grad(x, y):" in out.stdout
    assert "all derivatives agree" in out.stdout
    assert "g = 24.7041, dg/da = 138.8338, dg/db = 645.5773" in out.stdout
