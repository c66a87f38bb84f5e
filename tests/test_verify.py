"""The SymPy bridge and sg.verify."""

import importlib
import math

import pytest
import sympy

import symgrad as sg
from symgrad import ops
from symgrad.expr import make

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
    with pytest.raises(TypeError, match="gamma"):
        sg.from_sympy(sympy.gamma(sympy.Symbol("x")))


def test_from_sympy_accepts_pi_and_rationals():
    f = sg.from_sympy(sympy.pi * sympy.Symbol("x") / 3)
    assert sg.compile(f, wrt=[x]).forward(3.0) == pytest.approx(math.pi)


def test_to_sympy_of_a_division_by_zero_is_undefined_not_a_crash():
    assert sg.to_sympy(sg.const(1.0) / sg.const(0.0)) is sympy.nan


def _tanh_chain(depth):
    e = x
    for _ in range(depth):
        e = sg.tanh(e)
    return e


def test_verify_of_a_150_deep_chain_skips_sympy_and_names_the_depth():
    report = sg.verify(_tanh_chain(150), [x])
    assert report.ok and all("151 deep" in r.symbolic and "limit" in r.symbolic for r in report.rows)


def test_verify_without_symbolic_of_a_45_deep_readme_chain_checks_by_finite_differences():
    e = x
    for _ in range(45):
        e = sg.sin(e) * 1.01 + 0.1 * x
    report = sg.verify(e, [x], symbolic=False)
    assert report.ok and report.rows[1].symbolic.startswith("skipped: graph") and report.rows[1].fd_error is not None


def test_verify_falls_back_to_finite_differences_when_sympy_recurses(monkeypatch):
    verify_module = importlib.import_module("symgrad.verify")  # sg.verify is the function
    monkeypatch.setattr(verify_module, "sympy_depth_limit", lambda: 10**6)  # let SymPy meet the chain
    report = sg.verify(_tanh_chain(150), [x])
    assert report.ok and all("RecursionError" in r.symbolic for r in report.rows)


def test_to_sympy_of_a_500_deep_chain_raises_an_error_naming_the_depth():
    with pytest.raises(sg.SymgradError, match="501 nodes deep"):
        sg.to_sympy(_tanh_chain(500))


def test_to_sympy_of_a_huge_constant_power_is_a_float_not_an_exact_integer():
    image = sg.to_sympy(sg.const(2) ** (sg.const(10) ** 7))  # exact: ten million bits
    assert isinstance(image, sympy.Float) and float(sympy.log(image, 10)) > 3_000_000  # compared as a log: fast


def test_to_sympy_of_a_constant_power_beyond_mpmath_is_infinite():
    assert sg.to_sympy(sg.const(2) ** (sg.const(10) ** (sg.const(10) ** 10))) is sympy.oo


def test_to_sympy_keeps_small_constant_powers_exact():
    assert sg.to_sympy(sg.const(3) ** (sg.const(2) * x)).subs(sympy.Symbol("x", real=True), 2) == 81


def test_verify_report_names_the_first_error_when_no_point_evaluates():
    report = sg.verify(sg.const(2) ** (sg.const(10) ** 10) + x, [x])
    assert report.points == [] and "pow failed" in report.failure
    assert "first error: pow failed" in str(report) and "MISMATCH" not in str(report)


def _round_trip_cases():
    """Every op with a SymPy mapping, applied to symbols (params from ops.number_power)."""
    exponents = (3, -2, 0.5, 1.5, -0.7)
    for op in ops.all_ops():
        if op.sympy is None or op.arity == 0:
            continue
        if op.takes_param:
            params = [p for p in (ops.number_power(k)[1] for k in exponents) if ops.number_power(p)[0] is op]
            for p in params:
                yield pytest.param(make(op, (x,), p), op.domain, id=f"{op.name}{p}")
        else:
            yield pytest.param(op(*sg.symbols("x y z")[:op.arity]), op.domain, id=op.name)


_ROUND_TRIP_POINTS = {
    "positive": [(0.3, 1.7, 0.9), (1.9, 0.6, 2.2), (2.5, 2.0, 0.1)],
    "unit": [(-0.8, 0.4, 0.1), (0.7, -0.2, -0.5), (0.05, 0.5, 0.9)],
    "real": [(-1.3, 0.4, 1.1), (0.7, -2.1, 0.0), (2.2, 1.5, -0.6)],
}


@pytest.mark.parametrize("e, domain", list(_round_trip_cases()))
def test_from_sympy_reads_back_what_to_sympy_writes_for_every_op(e, domain):
    back = sg.from_sympy(sg.to_sympy(e))
    points = _ROUND_TRIP_POINTS[domain]
    wrt = sg.symbols("x y z")
    want, got = sg.compile(e, wrt=wrt), sg.compile(back, wrt=wrt)
    for point in points:
        assert got.forward(*point) == pytest.approx(want.forward(*point), rel=1e-12)


def test_from_sympy_reads_step_of_an_expression_whose_condition_sympy_rearranged():
    e = ops.step(x * x - 1.0)
    back = sg.from_sympy(sg.to_sympy(e))
    assert [sg.compile(back, wrt=[x]).forward(v) for v in (0.5, 1.5)] == [0.0, 1.0]


def test_verify_leaves_a_real_time_timer_of_the_host_running():
    import signal

    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    signal.setitimer(signal.ITIMER_REAL, 30.0)
    try:
        assert sg.verify(sg.tanh(x * y) + x**2 / y, [x, y]).ok
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert 0 < remaining <= 30.0 and not fired
