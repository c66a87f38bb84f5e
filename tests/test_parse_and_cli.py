"""The whitelisting parser and `python -m symgrad`."""

import importlib
import os
import re
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


# (text, what the message says, the part the caret must sit under)
REFUSED = [
    ("x.real", "attribute access", "x.real"),
    ("x[0]", "subscripts", "x[0]"),
    ("lambda: x", "lambdas", "lambda: x"),
    ("[a for a in b]", "comprehensions", "[a for a in b]"),
    ("{a for a in b}", "comprehensions", "{a for a in b}"),
    ("{a: a for a in b}", "comprehensions", "{a: a for a in b}"),
    ("x + (a for a in b)", "comprehensions", "(a for a in b)"),
    ("f'{x}'", "f-strings", "f'{x}'"),
    ("open('f')", "unknown function 'open'", "open"),
    ("x * eval('1')", "unknown function 'eval'", "eval"),
    ("__import__('os')", "unknown function '__import__'", "__import__"),
    ("__import__('os').getcwd()", "only symgrad's functions may be called", "__import__('os').getcwd"),
    ("exp(x).conjugate()", "only symgrad's functions may be called", "exp(x).conjugate"),
    ("__class__", "names starting with '_'", "__class__"),
    ("x + __builtins__", "names starting with '_'", "__builtins__"),
    ("_x + 1", "names starting with '_'", "_x"),
    ("x == y", "only one comparison", "x == y"),
    ("0 < x < 1", "only one comparison", "0 < x < 1"),
    ("x and y", "boolean operators", "x and y"),
    ("x if y else 1", "conditional expressions", "x if y else 1"),
    ("x + (y := 2)", ":=", "y := 2"),
    ("[x, y]", "lists", "[x, y]"),
    ("(x, y)", "tuples", "(x, y)"),
    ("{x: y}", "dicts", "{x: y}"),
    ("{x}", "sets", "{x}"),
    ("exp(*x)", "positional arguments only", "exp(*x)"),
    ("x + 'text'", "only numbers", "'text'"),
    ("x * b'raw'", "only numbers", "b'raw'"),
    ("True", "only numbers", "True"),
    ("x + None", "only numbers", "None"),
    ("1j", "only numbers", "1j"),
    ("exp(x, y)", "takes 1 argument", "exp(x, y)"),
    ("exp(x=1)", "positional arguments only", "exp(x=1)"),
    ("exp", "is a function", "exp"),
    ("x % 2", "Mod is not allowed", "x % 2"),
    ("x // 2", "FloorDiv is not allowed", "x // 2"),
    ("x @ y", "MatMult is not allowed", "x @ y"),
    ("x << 1", "LShift is not allowed", "x << 1"),
    ("~x", "Invert is not allowed", "~x"),
    ("not x", "Not is not allowed", "not x"),
    ("1 + x^2", "^ is exclusive or, not a power: use ** for powers", "1 + x^2"),
]


@pytest.mark.parametrize("text, complaint, offending", REFUSED)
def test_parser_refuses_each_construct_and_says_what_it_is(text, complaint, offending):
    with pytest.raises(sg.ParseError, match=re.escape(complaint)):
        parse(text)


@pytest.mark.parametrize("text, complaint, offending", REFUSED)
def test_parser_error_puts_the_caret_under_the_offending_part(text, complaint, offending):
    with pytest.raises(sg.ParseError) as caught:
        parse(text)
    shown, caret = str(caught.value).splitlines()[1:3]
    start = caret.index("^")
    assert shown[start:start + caret.count("^")] == offending


@pytest.mark.parametrize("text", ["x +", "exp(", "x ** ** 2", "(x"])
def test_parser_reports_syntax_errors_with_a_caret(text):
    with pytest.raises(sg.ParseError, match="not a valid expression") as caught:
        parse(text)
    assert "^" in str(caught.value)


def test_parser_refuses_more_than_one_line():
    with pytest.raises(sg.ParseError, match="single line"):
        parse("x\nimport os")


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


@pytest.mark.parametrize("command", ["grad", "check", "dot"])
@pytest.mark.parametrize("text", ["2**10**10 + x", "x + 9**9**9"])
def test_cli_finishes_quickly_on_a_huge_constant_power(command, text, tmp_path):
    extra = ["-o", str(tmp_path / "g.dot")] if command == "dot" else []
    out = run_cli(command, text, *extra, timeout=30)
    assert out.returncode in (0, 2) and "Traceback" not in out.stderr


def test_cli_check_of_an_expression_defined_nowhere_exits_2_and_says_why():
    out = run_cli("check", "2**10**10 + x", timeout=30)
    assert out.returncode == 2 and "first error: pow failed" in out.stdout


def test_cli_reports_any_failure_as_one_error_line_with_exit_2(monkeypatch, capsys):
    from symgrad.cli import main

    def overflow(*args, **kwargs):
        raise OverflowError("int too large to convert to float")

    monkeypatch.setattr(importlib.import_module("symgrad.verify"), "verify", overflow)
    assert main(["check", "x"]) == 2
    assert capsys.readouterr().err == "error: OverflowError: int too large to convert to float\n"


def test_cli_an_integer_too_large_for_a_float_is_bad_input_pointing_at_it():
    out = run_cli("grad", "x*1" + "0" * 400)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "too large for a float" in out.stderr and "^^^" in out.stderr


def test_cli_wrt_naming_no_symbol_is_bad_input_with_a_suggestion():
    out = run_cli("check", "x*y", "--wrt", "X")
    assert out.returncode == 2 and "did you mean 'x'?" in out.stderr
