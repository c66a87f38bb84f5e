"""symgrad: symbolic reverse mode that compiles to one fused, readable Python function.

    >>> import symgrad as sg
    >>> x, y = sg.symbols("x y")
    >>> fn = sg.compile(sg.tanh(x * y) + x**2 / y, wrt=[x, y])
    >>> value, (gx, gy) = fn(0.5, 2.0)
"""

# The one place the version is written: pyproject.toml reads it from here (setuptools' dynamic
# version), so an installed package and a checkout on PYTHONPATH report the same.
__version__ = "0.1.0"

from symgrad.arrays import set_malloc_tuning, set_threads
from symgrad.compiler import CompiledFunction, cache_info, clear_cache, compile, set_cache_size
from symgrad.errors import EvaluationError, ParseError, SymgradError, SympyDepthError
from symgrad.expr import Expr, const, free_symbols, symbol, topological_order
from symgrad.grad import grad, hessian, jacobian, value_and_grad
from symgrad.hvp import HVPFunction, compile_hvp
from symgrad.latex import to_latex
from symgrad.ops import abs, cos, exp, log, relu, sigmoid, sin, sqrt, tanh
from symgrad.pickling import load, loads
from symgrad.plot import plot
from symgrad.primitives import primitive
from symgrad.settings import set_gc_pause
from symgrad.shapes import matrix, symbols, vector
from symgrad.simplify import simplify
from symgrad.special import (
    acos,
    asin,
    atan,
    atan2,
    ceil,
    clip,
    cosh,
    erf,
    expm1,
    floor,
    hypot,
    log1p,
    log_sigmoid,
    logaddexp,
    logsumexp,
    maximum,
    minimum,
    round,
    sinh,
    softplus,
    tan,
    where,
)
from symgrad.sympy_bridge import from_sympy, to_sympy
from symgrad.tracing import jit
from symgrad.verify import VerifyReport, verify
from symgrad.viz import draw

__all__ = [
    "CompiledFunction",
    "EvaluationError",
    "Expr",
    "HVPFunction",
    "ParseError",
    "SymgradError",
    "SympyDepthError",
    "VerifyReport",
    "abs",
    "acos",
    "asin",
    "atan",
    "atan2",
    "cache_info",
    "ceil",
    "clear_cache",
    "clip",
    "compile",
    "compile_hvp",
    "const",
    "cos",
    "cosh",
    "draw",
    "erf",
    "exp",
    "expm1",
    "floor",
    "free_symbols",
    "from_sympy",
    "grad",
    "hessian",
    "hypot",
    "jacobian",
    "jit",
    "load",
    "loads",
    "log",
    "log1p",
    "log_sigmoid",
    "logaddexp",
    "logsumexp",
    "matrix",
    "maximum",
    "minimum",
    "plot",
    "primitive",
    "relu",
    "round",
    "set_cache_size",
    "set_gc_pause",
    "set_malloc_tuning",
    "set_threads",
    "sigmoid",
    "simplify",
    "sin",
    "sinh",
    "softplus",
    "sqrt",
    "symbol",
    "symbols",
    "tan",
    "tanh",
    "to_latex",
    "to_sympy",
    "topological_order",
    "value_and_grad",
    "vector",
    "verify",
    "where",
]
