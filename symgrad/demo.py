"""What ``python -m symgrad demo`` shows: compile, read the code, verify, and the micrograd numbers."""

from __future__ import annotations

import symgrad as sg


def micrograd_expression(a, b, relu):
    """The expression from micrograd's README, for any number-like a, b."""
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + relu(b + a)
    d += 3 * d + relu(b - a)
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return g


def _section(title: str) -> None:
    print(f"\n=== {title} ===")


def run(quick: bool = False) -> None:
    _section("1. compile an expression to one fused value-and-gradient function")
    x, y = sg.symbols("x y")
    f = sg.tanh(x * y) + x**2 / y - sg.log(y) * sg.exp(-x)
    print(f"f = {f}")
    fn = sg.compile(f, wrt=[x, y])
    print(fn.source)
    value, (gx, gy) = fn(0.5, 2.0)
    print(f"f(0.5, 2.0) = {value:.12g},  df/dx = {gx:.12g},  df/dy = {gy:.12g}")
    print(fn.stats)

    _section("2. verify against sympy.diff (symbolic, numeric, finite differences)")
    print(sg.verify(f, [x, y]))

    _section("3. micrograd's README expression, compiled")
    a, b = sg.symbols("a b")
    g = sg.compile(micrograd_expression(a, b, sg.relu), wrt=[a, b])
    value, (ga, gb) = g(-4.0, 2.0)
    print(f"g = {value:.4f}, dg/da = {ga:.4f}, dg/db = {gb:.4f}   (micrograd: 24.7041 138.8338 645.5773)")
