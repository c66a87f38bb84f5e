"""The SymPy bridge: symgrad expressions to SymPy and back, shared nodes kept shared.

SymPy is imported only here (and by ``symgrad.verify`` through it), and only when one of
these functions runs.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from typing import Any

from symgrad.core import Op
from symgrad.errors import SympyDepthError
from symgrad.expr import Expr, as_expr, const, symbol, topological_order
from symgrad.ops import CONST, SYMBOL, all_ops, power, relu, sqrt


def sympy_module() -> Any:
    """SymPy, imported on first use."""
    import sympy

    return sympy


def graph_depth(roots: Sequence[Expr]) -> int:
    """The number of nodes on the longest path from a root down to a leaf (iteratively)."""
    depth: dict[Expr, int] = {}
    for node in topological_order(list(roots)):
        depth[node] = 1 + max((depth[a] for a in node.args), default=0)
    return max((depth[r] for r in roots), default=0)


def sympy_depth_limit() -> int:
    """The deepest graph verify hands to SymPy.

    SymPy's diff, printing and assumption queries recurse, several Python frames per level
    of nesting, and lambdify's source stops compiling past 200 nested brackets.
    """
    return sys.getrecursionlimit() // 10


def to_sympy(exprs: Expr | Sequence[Expr]) -> Any:
    """SymPy expression(s) for symgrad expression(s); shared nodes stay shared.

    Symbols become ``sympy.Symbol(name, real=True)``.
    """
    sp = sympy_module()
    single = isinstance(exprs, Expr)
    roots = [exprs] if isinstance(exprs, Expr) else [as_expr(e) for e in exprs]
    try:
        return _to_sympy(sp, roots, single)
    except RecursionError:
        # SymPy's constructors ask assumptions (is_number, is_finite...) down the whole nest.
        raise SympyDepthError(f"to_sympy: the graph is {graph_depth(roots)} nodes deep; SymPy recursed past "
                              f"Python's recursion limit ({sys.getrecursionlimit()}) building it") from None


def _to_sympy(sp: Any, roots: list[Expr], single: bool) -> Any:
    image: dict[Expr, Any] = {}
    for node in topological_order(roots):
        if node.op is SYMBOL:
            image[node] = sp.Symbol(node.param, real=True)
        elif node.op is CONST:
            image[node] = sp.Integer(node.param) if isinstance(node.param, int) else sp.Float(node.param)
        else:
            if node.op.sympy is None:
                raise TypeError(f"the op {node.op.name!r} has no SymPy mapping")
            extra = (node.param,) if node.param is not None else ()
            try:
                image[node] = node.op.sympy(sp, *(image[a] for a in node.args), *extra)
            except ZeroDivisionError:  # SymPy's Float refuses x/0.0: the value is undefined
                image[node] = sp.nan
    return image[roots[0]] if single else [image[r] for r in roots]


def _sympy_functions() -> dict[str, Op]:
    """SymPy function class name -> unary op, read off the op table's SymPy mappings."""
    sp = sympy_module()
    probe = sp.Symbol("probe", real=True)
    found = {}
    for op in all_ops():
        if op.arity != 1 or op.sympy is None or op.takes_param:
            continue
        image = op.sympy(sp, probe)
        if isinstance(image, sp.Function) and image.args == (probe,):
            found[type(image).__name__] = op
    return found


def from_sympy(expr: Any) -> Expr:
    """The symgrad expression for a SymPy expression built from supported functions.

    Anything else (``gamma``, ``Integral``, ...) raises a TypeError naming it.
    """
    sp = sympy_module()
    expr = sp.sympify(expr) if not isinstance(expr, sp.Basic) else expr
    functions = _sympy_functions()
    image: dict[Any, Expr] = {}
    stack: list[tuple[Any, bool]] = [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        if node in image:
            continue
        operands = [] if node.is_Number else _operands(sp, node)
        if not expanded and operands:
            stack.append((node, True))
            stack.extend((a, False) for a in reversed(operands) if a not in image)
            continue
        image[node] = _convert_one(sp, node, operands, [image[a] for a in operands], functions)
    return image[expr]


def _operands(sp: Any, node: Any) -> list[Any]:
    """The subexpressions converted before ``node``: its args, but for a Piecewise its values and
    the sides of its conditions, where an op's argument sits (relu's image is
    Piecewise((a, a > 0), (0, True)), where's Piecewise((a, Ne(c, 0)), (b, True)))."""
    if not isinstance(node, sp.Piecewise):
        return list(node.args)
    # SymPy moves numbers across (x - 1 > 0 becomes x > 1): lhs - rhs is a candidate too.
    sides = [side for _, cond in node.args if isinstance(cond, sp.core.relational.Relational)
             for side in (cond.lhs, cond.rhs, cond.lhs - cond.rhs) if not side.is_Number]
    values = [value for value, _ in node.args if not value.is_Number]
    return list(dict.fromkeys(sides + values))


def _op_with_image(sp: Any, node: Any, operands: list[Any]) -> tuple[Op, tuple[int, ...]] | None:
    """(op, positions): an op of the table whose SymPy image of the operands at ``positions``
    (in that order) is ``node``."""
    for op in all_ops():
        if not 1 <= op.arity <= len(operands) or op.sympy is None or op.takes_param:
            continue
        for positions in itertools.permutations(range(len(operands)), op.arity):
            if op.sympy(sp, *(operands[i] for i in positions)) == node:
                return op, positions
    return None


def _convert_one(sp: Any, node: Any, operands: list[Any], args: list[Expr], functions: dict[str, Op]) -> Expr:
    if node.is_Symbol:
        return symbol(node.name)
    if node.is_Integer:
        return const(int(node))
    if node.is_Number or node in (sp.pi, sp.E):
        return const(float(node))
    if node.is_Add:
        out = args[0]
        for a in args[1:]:
            out = out + a
        return out
    if node.is_Mul:
        # SymPy writes a/b as a*b**-1: put such factors back under a division.
        sign = node.args[0] == -1
        numerator: Expr | None = None
        denominator: Expr | None = None
        for part, image in list(zip(node.args, args))[1 if sign else 0:]:
            if part.is_Pow and part.exp.is_Number and part.exp < 0:
                image = power(image.args[0], -part.exp) if part.exp != -1 else image.args[0]
                denominator = image if denominator is None else denominator * image
            else:
                numerator = image if numerator is None else numerator * image
        out = (const(1.0) if numerator is None else numerator)
        if denominator is not None:
            out = out / denominator
        return -out if sign else out
    if node.is_Pow:
        exponent = node.args[1]
        if exponent == sp.Rational(1, 2):
            return sqrt(args[0])
        if exponent.is_Number:
            return power(args[0], int(exponent) if exponent.is_Integer else float(exponent))
        return power(args[0], args[1])
    if isinstance(node, sp.Max) and len(node.args) == 2 and 0 in node.args:
        return relu(args[1] if node.args[0] == 0 else args[0])
    name = type(node).__name__
    if name in functions:
        return functions[name](args[0])
    found = _op_with_image(sp, node, operands)
    if found is not None:
        return found[0](*(args[i] for i in found[1]))
    raise TypeError(
        f"from_sympy: {name} ({node}) has no symgrad op; supported: + - * / **, "
        f"{', '.join(sorted(functions))}, Max(x, 0) and the images of symgrad's other ops (relu, step)"
    )
