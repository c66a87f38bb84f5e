"""Expressions from text, through a whitelist over Python's ``ast`` (never ``eval``).

Allowed: numbers, names (which become symbols), ``+ - * / **``, unary
``-``/``+``, brackets, one comparison (``x > 0``, a condition for ``where``), and
calls of symgrad's functions (``exp``, ``log``, ``tanh``, ``where``, ``logsumexp``,
...) by name with positional arguments. Anything else — attribute
access, subscripts, lambdas, comprehensions, f-strings, unknown or dunder
names — is refused with a ``ParseError`` that points at the offending part::

    >>> from symgrad.parse import parse
    >>> parse("tanh(x*y) + x**2/y")
    tanh(x * y) + x**2 / y
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from symgrad.errors import ParseError
from symgrad.expr import Expr, const, symbol
from symgrad.ops import add, div, mul, neg, power, sub
from symgrad.special import FUNCTIONS

MAX_LENGTH = 100_000

_BINARY = {ast.Add: add, ast.Sub: sub, ast.Mult: mul, ast.Div: div}
_COMPARISONS: dict[type[ast.cmpop], Callable[[Expr, Expr], Expr]] = {
    ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b, ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b}


def _refuse(text: str, node: ast.AST | None, why: str) -> ParseError:
    if node is None or not hasattr(node, "col_offset") or getattr(node, "lineno", 1) != 1:
        return ParseError(f"{why}\n  in: {text}")
    start = node.col_offset
    end = getattr(node, "end_col_offset", None) or start + 1
    caret = " " * start + "^" * max(1, end - start)
    return ParseError(f"{why}\n  {text}\n  {caret}")


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access", ast.Subscript: "subscripts", ast.Lambda: "lambdas",
        ast.ListComp: "comprehensions", ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
        ast.GeneratorExp: "comprehensions", ast.JoinedStr: "f-strings",
        ast.BoolOp: "boolean operators", ast.IfExp: "conditional expressions", ast.NamedExpr: ":=",
        ast.Starred: "starred arguments", ast.Await: "await", ast.Yield: "yield",
        ast.List: "lists", ast.Tuple: "tuples", ast.Dict: "dicts", ast.Set: "sets",
    }
    return names.get(type(node), type(node).__name__)


def parse(text: str) -> Expr:
    """The symgrad expression written in ``text`` (a Python-like formula)."""
    if not isinstance(text, str):
        raise TypeError(f"parse() needs a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"expression is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if "\n" in text.strip() or "\r" in text:
        raise ParseError("an expression must be a single line")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        caret = " " * max(0, (error.offset or 1) - 1) + "^"
        raise ParseError(f"not a valid expression: {error.msg}\n  {text}\n  {caret}") from None
    except (RecursionError, MemoryError):
        raise ParseError("expression is nested too deeply to parse") from None
    text = text.strip()

    # Iterative post-order over the tree: no recursion, however deep the input.
    done: dict[ast.AST, Expr] = {}
    stack: list[tuple[ast.AST, bool]] = [(tree.body, False)]
    while stack:
        node, ready = stack.pop()
        children = _children(text, node)
        if not ready and children:
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(children))
            continue
        done[node] = _build(text, node, [done[c] for c in children])
    return done[tree.body]


def _children(text: str, node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.Call):
        allowed = ", ".join(sorted(FUNCTIONS))
        if not isinstance(node.func, ast.Name):
            raise _refuse(text, node.func, f"only symgrad's functions may be called ({allowed}), "
                                           f"not the result of {_describe(node.func)}")
        if node.func.id not in FUNCTIONS:
            raise _refuse(text, node.func, f"unknown function {node.func.id!r}; allowed: {allowed}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise _refuse(text, node, "functions take plain positional arguments only")
        arity = getattr(FUNCTIONS[node.func.id], "arity", None)  # None: any number (logsumexp)
        if len(node.args) != arity and (arity is not None or not node.args):
            raise _refuse(text, node, f"{node.func.id}() takes {arity or 'one or more'} argument(s), "
                                      f"got {len(node.args)}")
        return list(node.args)
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARISONS:
            raise _refuse(text, node, "only one comparison, with >, >=, < or <=, is allowed (a condition for where)")
        return [node.left, node.comparators[0]]
    return []


def _build(text: str, node: ast.AST, args: list[Expr]) -> Expr:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _refuse(text, node, f"only numbers are allowed as constants, not {value!r}")
        try:
            return const(value)
        except ValueError as error:  # an integer too large for a float
            raise _refuse(text, node, str(error)) from None
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise _refuse(text, node, f"names starting with '_' are not allowed: {node.id!r}")
        if node.id in FUNCTIONS:
            raise _refuse(text, node, f"{node.id!r} is a function; call it, e.g. {node.id}(x)")
        return symbol(node.id)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            return power(args[0], args[1])
        op = _BINARY.get(type(node.op))
        if isinstance(node.op, ast.BitXor):  # x^2 written for a power: Python's ^ is exclusive or
            raise _refuse(text, node, "^ is exclusive or, not a power: use ** for powers, e.g. x**2")
        if op is None:
            raise _refuse(text, node, f"the operator {type(node.op).__name__} is not allowed")
        return op(*args)
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.USub):
            if args[0].is_const:
                return const(-args[0].param)
            return neg(args[0])
        if isinstance(node.op, ast.UAdd):
            return args[0]
        raise _refuse(text, node, f"the operator {type(node.op).__name__} is not allowed")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):  # _children refused any other call
        called: Expr = FUNCTIONS[node.func.id](*args)
        return called
    if isinstance(node, ast.Compare):
        return _COMPARISONS[type(node.ops[0])](*args)
    raise _refuse(text, node, f"{_describe(node)} are not allowed in an expression")
