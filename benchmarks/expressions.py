"""The expression set that ``bench_algebra.py`` compares symgrad and SymPy on (and the tests reuse).

Each entry is written once, in Python syntax over the symbols ``x y z w`` and the functions
``exp log sin cos tanh sqrt``, and built by each system from its own functions; the micrograd
README expression (``micrograd``) is built by ``symgrad.demo.micrograd_expression``, with each
system's ``relu``. The point is where values and gradients are compared and timed (``y`` and ``z``
positive, for ``log`` and ``sqrt``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from symgrad.demo import micrograd_expression

SYMBOLS = ("x", "y", "z", "w")
POINT = {"x": 0.7, "y": 1.3, "z": 0.4, "w": -0.9, "a": -4.0, "b": 2.0}
FUNCTIONS = ("exp", "log", "sin", "cos", "tanh", "sqrt")

EXPRESSIONS: dict[str, str] = {
    "micrograd": "micrograd_expression(a, b, relu)",
    "quick start": "tanh(x*y) + x**2/y - log(y)*exp(-x)",
    "rosenbrock 2-d": "(1 - x)**2 + 100*(y - x**2)**2",
    "sin of a sum": "sin(x)*cos(y) + sin(y)*cos(x)",
    "gaussian bump": "exp(-(x**2 + y**2)/2) * (x + y)",
    "softplus of a neuron": "log(1 + exp(w*x + y))",
    "symmetric square": "(x*y + y*z + z*x)**2",
    "norm": "sqrt(x**2 + y**2 + z**2)",
    "all products": "x*y*z + x*y + y*z + x*z + x + y + z",
    "logistic": "1/(1 + exp(-(w*x + y)))",
    "difference of cubes": "(x + y)**3 - (x - y)**3",
    "two layers": "tanh(w*tanh(x*y + z) + y)",
    "binomial": "x**4 + 4*x**3*y + 6*x**2*y**2 + 4*x*y**3 + y**4",
    "exponentials": "exp(sin(x)) + exp(cos(y)) + exp(sin(x)*cos(y))",
    "distance to a point": "(x - 1)**2 + (y - 2)**2 + (z - 3)**2 + (w - 4)**2",
    "like terms": "x*exp(y) + 3*x*exp(y) + y*log(z) - exp(y)*x",
    "repeated factor": "(2*x + 3*y)*(2*x + 3*y) + 2*(2*x + 3*y)",
    "commuted sums": "z*(x + y) + w*(y + x) + (x + y)**2",
    "pythagoras": "cos(x*y)**2 + sin(y*x)**2 + x",
    "nested constants": "((x + 1) + 2)*3 + 4*(5*y) - (z + 6)",
}


def build(text: str, symbols: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]],
          relu: Callable[[Any], Any]) -> Any:
    """The expression ``text`` over ``symbols`` (names to each system's symbols), with each system's
    ``functions`` and ``relu``. The texts are this module's own constants, never input."""
    namespace = {**symbols, **functions, "relu": relu, "micrograd_expression": micrograd_expression}
    return eval(text, {"__builtins__": {}}, namespace)  # the texts above, nothing else


def symbols_of(text: str) -> list[str]:
    """The symbols an expression uses, in a fixed order."""
    if text.startswith("micrograd"):
        return ["a", "b"]
    used = set(re.findall(r"\b[xyzw]\b", text))
    return [s for s in SYMBOLS if s in used]
