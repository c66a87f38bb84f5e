"""symgrad used as a typed program would use it: ``mypy --strict`` checks this file against the
package's annotations (tests/test_typing.py runs it), and the test suite runs it, so every line
is also true at run time. ``assert_type`` pins what each call is declared to return."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

import symgrad as sg
from symgrad.engine import Value
from symgrad.nn import MLP
from symgrad.tracing import Jitted

if sys.version_info >= (3, 11):
    from typing import assert_type
else:  # pragma: no cover - mypy (a dev dependency) brings typing_extensions
    from typing_extensions import assert_type


def scalar_api() -> float:
    x = sg.symbol("x")
    y: sg.Expr = sg.symbols("y")  # one name: an Expr (several: a tuple), so it is annotated
    assert_type(x, sg.Expr)
    f = sg.tanh(x * y) + x**2 / y - sg.log(y) * sg.exp(-x) + 2.0 * abs(x) + sg.relu(x).sigmoid()
    assert_type(f, sg.Expr)
    assert_type(sg.const(2.5), sg.Expr)
    assert_type(sg.grad(f, [x, y]), list[sg.Expr])
    assert_type(sg.hessian(f, [x, y]), list[list[sg.Expr]])
    assert_type(sg.value_and_grad(f, [x, y]), tuple[sg.Expr, list[sg.Expr]])
    fn = sg.compile(f, wrt=[x, y])
    assert_type(fn, sg.CompiledFunction)
    value, (gx, gy) = fn(0.5, 2.0)
    assert_type(fn.source, str)
    report = sg.verify(f, [x, y], points=2)
    assert_type(report, sg.VerifyReport)
    assert_type(report.ok, bool)
    assert report.ok
    return float(value) + float(gx) + float(gy)


def array_api() -> NDArray[np.float64]:
    w = sg.vector("w", 3)
    assert_type(w, NDArray[np.object_])
    m = sg.matrix("M", 2, 3)
    assert_type(m, NDArray[np.object_])
    assert_type(sg.exp(w), NDArray[np.object_])  # element-wise, as NumPy applies it
    loss = sum((m @ w) ** 2)
    fn = sg.compile(loss, wrt=w)
    _, gradient = fn(np.ones(3), np.ones((2, 3)))
    found: NDArray[np.float64] = gradient
    return found


def hessian_vector_product() -> Any:
    x, y = sg.symbols("x y")
    hvp = sg.compile_hvp((1 - x) ** 2 + 100 * (y - x**2) ** 2, [x, y])
    assert_type(hvp, sg.HVPFunction)
    return hvp((1.2, 1.0), (0.3, -0.1))


@sg.jit
def jitted(w: sg.Expr, b: sg.Expr) -> sg.Expr:  # traced: called on symbols, once per kind of call
    return (sg.tanh(w * 0.5 + b) - 1.0) ** 2


def micrograd_api() -> float:
    a, b = Value(-4.0), Value(2.0)
    c = (a * b + b**3).relu() + 1 - a / 2
    assert_type(c, Value)
    c.backward()
    model = MLP(2, [4, 1])
    score = model([Value(1.0), Value(-1.0)])
    return a.grad + float(score.data)


def run() -> None:
    scalar_api()
    array_api()
    hessian_vector_product()
    assert_type(jitted, Jitted)
    _, (d_w, d_b) = jitted.value_and_grad(0.3, -0.1)
    assert_type(jitted.value_and_grad(0.3, -0.1), tuple[Any, Any])
    assert abs(float(d_w) - 0.5 * float(d_b)) < 1e-12
    micrograd_api()
    assert_type(sg.__version__, str)


if __name__ == "__main__":
    run()
