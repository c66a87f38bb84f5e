"""The SymPy bridge and sg.verify."""

import math

import pytest
import sympy

import symgrad as sg
from symgrad import ops

x, y = sg.symbols("x y")
QUICKSTART = sg.tanh(x * y) + x**2 / y - sg.log(y) * sg.exp(-x)


def test_verify_agrees_on_the_quickstart_expression():
    report = sg.verify(QUICKSTART, [x, y])
    assert report.ok
    assert [r.name for r in report.rows] == ["value", "d/dx", "d/dy"]
    assert all(r.symbolic == "equal" for r in report.rows)


def test_verify_only_samples_points_inside_the_domain():
    report = sg.verify(sg.log(y) + sg.sqrt(x), [x, y], points=4)
    assert len(report.points) == 4 and all(px > 0 and py > 0 for px, py in report.points)


def test_verify_report_prints_as_a_table():
    text = str(sg.verify(QUICKSTART, [x, y]))
    assert "symbolic (sympy)" in text and "d/dy" in text and "all derivatives agree" in text


def test_verify_catches_a_wrong_derivative_rule(monkeypatch):
    monkeypatch.setattr(ops.sin, "vjp", lambda g, out, a: (g * ops.sin(a),))  # should be cos
    report = sg.verify(sg.sin(x) * y, [x, y])
    assert not report.ok
    bad = {r.name: r for r in report.rows}["d/dx"]
    assert bad.symbolic == "differs" and not bad.ok
    assert {r.name: r for r in report.rows}["d/dy"].ok


def test_verify_without_symbolic_still_checks_numbers():
    report = sg.verify(QUICKSTART, [x, y], symbolic=False)
    assert report.ok and all(r.symbolic.startswith("skipped") for r in report.rows)


def test_verify_of_a_large_graph_falls_back_to_finite_differences():
    e = x
    for _ in range(200):
        e = sg.sin(e) * 1.01 + 0.1 * x
    report = sg.verify(e, [x], max_sympy_nodes=50)
    assert report.ok and report.rows[1].numeric_error is None and report.rows[1].fd_error is not None


def test_verify_reports_failure_when_no_point_evaluates():
    report = sg.verify(sg.log(-(x * x) - 1.0), [x])
    assert not report.ok and report.points == []


def test_to_sympy_uses_real_symbols_and_keeps_sharing():
    shared = sg.exp(x * y)
    converted = sg.to_sympy(shared + shared * x)
    X, Y = sympy.symbols("x y", real=True)
    assert sympy.simplify(converted - (sympy.exp(X * Y) * (1 + X))) == 0


def test_to_sympy_of_relu_and_abs_match_the_conventions():
    X = sympy.Symbol("x", real=True)
    d_relu = sympy.diff(sg.to_sympy(sg.relu(x)), X)
    d_abs = sympy.diff(sg.to_sympy(abs(x)), X)
    assert d_relu.subs(X, 0) == 0 and d_abs.subs(X, 0) == 0


def test_from_sympy_round_trips_numerically():
    X, Y = sympy.symbols("x y", real=True)
    e = sympy.tanh(X * Y) + X**2 / Y - sympy.log(Y) * sympy.exp(-X) + sympy.sqrt(X) + sympy.Abs(Y) / (X * Y**2)
    f = sg.from_sympy(e)
    value = sg.compile(f, wrt=[x, y]).forward(0.7, 1.3)
    assert value == pytest.approx(float(e.subs({X: 0.7, Y: 1.3})), rel=1e-12)


def test_from_sympy_maps_max_with_zero_to_relu():
    assert repr(sg.from_sympy(sympy.Max(sympy.Symbol("x"), 0))) == "relu(x)"


def test_from_sympy_names_an_unsupported_function():
    with pytest.raises(TypeError, match="erf"):
        sg.from_sympy(sympy.erf(sympy.Symbol("x")))


def test_from_sympy_accepts_pi_and_rationals():
    f = sg.from_sympy(sympy.pi * sympy.Symbol("x") / 3)
    assert sg.compile(f, wrt=[x]).forward(3.0) == pytest.approx(math.pi)


def test_to_sympy_of_a_division_by_zero_is_undefined_not_a_crash():
    assert sg.to_sympy(sg.const(1.0) / sg.const(0.0)) is sympy.nan
