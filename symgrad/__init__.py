"""symgrad: symbolic reverse mode that compiles to one fused, readable Python function.

    >>> import symgrad as sg
    >>> x, y = sg.symbols("x y")
    >>> fn = sg.compile(sg.tanh(x * y) + x**2 / y, wrt=[x, y])
    >>> value, (gx, gy) = fn(0.5, 2.0)
"""

from symgrad.errors import EvaluationError, ParseError, SymgradError
from symgrad.expr import Expr, const, free_symbols, symbol, symbols, topological_order
from symgrad.compiler import CompiledFunction, cache_info, clear_cache, compile, jit, set_cache_size
from symgrad.grad import grad
from symgrad.ops import abs, cos, exp, log, relu, sigmoid, sin, sqrt, tanh
from symgrad.simplify import simplify
from symgrad.verify import VerifyReport, from_sympy, to_sympy, verify

__all__ = [
    "CompiledFunction", "EvaluationError", "Expr", "ParseError", "SymgradError",
    "abs", "cache_info", "clear_cache", "compile", "const", "jit", "set_cache_size", "cos", "exp", "free_symbols", "grad", "log", "relu", "sigmoid",
    "simplify", "sin", "sqrt", "symbol", "symbols", "tanh", "topological_order",
    "VerifyReport", "from_sympy", "to_sympy", "verify",
]
