"""Stabilising rewrites: identities of real arithmetic that trade a formula which overflows or
cancels in floats for one that does not, such as ``log(sigmoid(x)) → log_sigmoid(x)``.

They are listed in the entries of the ops they rewrite (``log``, ``sub``, ``sqrt`` in
``symgrad.ops``); the ops they make (``log1p``, ``log_sigmoid``, ``logaddexp``...) are declared in
``symgrad.special``, which builds on ``symgrad.ops``, so a rule names the op it makes, as its
triggers name the ops it looks for. None is exact in IEEE arithmetic: each gives the true value
rounded fewer times, or finite where the written form overflows (README, "Rewrites").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from symgrad.core import by_name
from symgrad.expr import Expr, const, make
from symgrad.rules import is_number, rule


def _made(name: str, *args: Expr) -> Expr:
    return make(by_name(name), args)


def logsumexp_tree(terms: Sequence[Expr]) -> Expr:
    """``log(exp(t1) + ... + exp(tn))`` as a balanced tree of ``logaddexp`` nodes (see
    ``symgrad.special.logsumexp``): each pair is shifted by its larger term, and the depth, over
    which rounding errors add up, is log2(n)."""
    level = list(terms)
    if not level:
        raise TypeError("logsumexp() needs at least one term")
    while len(level) > 1:
        paired = [_made("logaddexp", level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = paired + level[-1:] if len(level) % 2 else paired
    return level[0]


def _leaves(root: Expr, op_name: str, accept: Callable[[Expr], bool] = lambda _: True) -> list[Expr] | None:
    """The arguments of the tree of ``op_name`` nodes under ``root``, left to right; None as soon
    as one is not ``accept``ed (so a sum that is not all exps costs little to rule out)."""
    op = by_name(op_name)
    found: list[Expr] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.op is op:
            stack.extend(reversed(node.args))
        elif accept(node):
            found.append(node)
        else:
            return None
    return found


# ---- log -------------------------------------------------------------------------------------


@rule("log(exp(x)) → x", ("exp",), exact=False)
def log_of_exp(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    (a,) = args
    return a.args[0] if a.op.name == "exp" else None


@rule("log(sigmoid(x)) → log_sigmoid(x)", ("sigmoid",), exact=False)
def log_of_sigmoid(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    (a,) = args
    return _made("log_sigmoid", a.args[0]) if a.op.name == "sigmoid" else None


@rule("log(1 - x) → log1p(-x); log(1 - sigmoid(x)) → log_sigmoid(-x)", ("sub",), exact=False)
def log_of_one_minus(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    (a,) = args
    if a.op.name != "sub" or not is_number(a.args[0], 1):
        return None
    subtracted = a.args[1]
    if subtracted.op.name == "sigmoid":
        return _made("log_sigmoid", _made("neg", subtracted.args[0]))
    return _made("log1p", _made("neg", subtracted))


@rule("log(exp(x1) + ... + exp(xn)) → logsumexp(x1, ..., xn) (1 counts as exp(0)); log(1 + x) → log1p(x)",
      ("add",), exact=False)
def log_of_sum(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    (a,) = args
    if a.op.name != "add":
        return None
    terms = _leaves(a, "add", lambda t: t.op.name == "exp" or is_number(t, 1))
    if terms is not None and any(t.op.name == "exp" for t in terms):
        return logsumexp_tree([t.args[0] if t.args else const(0.0) for t in terms])
    for one, x in (a.args, reversed(a.args)):
        if is_number(one, 1):
            return _made("log1p", x)
    return None


LOG = (log_of_exp, log_of_sigmoid, log_of_one_minus, log_of_sum)


# ---- sub -------------------------------------------------------------------------------------


@rule("exp(x) - 1 → expm1(x)", ("exp",), exact=False)
def exp_minus_one(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    a, b = args
    return _made("expm1", a.args[0]) if a.op.name == "exp" and is_number(b, 1) else None


@rule("a - logsumexp(..., a, ...) → -logsumexp(... - a, ..., 0, ...)", ("logaddexp",), exact=False)
def minus_logsumexp_of_itself(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    # The log-softmax of a term: shifted by that term, the sum holds an exact exp(0), so the
    # result keeps relative precision however close to 0 it is, as do its derivatives.
    a, b = args
    if b.op.name != "logaddexp":
        return None
    terms = _leaves(b, "logaddexp")
    if terms is None or a not in terms:
        return None
    shifted = [const(0.0) if t is a else _made("sub", t, a) for t in terms]
    return _made("neg", logsumexp_tree(shifted))


SUB = (exp_minus_one, minus_logsumexp_of_itself)


# ---- sqrt ------------------------------------------------------------------------------------


@rule("sqrt(x*x) → abs(x)", ("mul", "powi"), exact=False)
def sqrt_of_square(args: tuple[Expr, ...], _param: Any) -> Expr | None:
    (a,) = args
    squared = (a.op.name == "mul" and a.args[0] is a.args[1]) or (a.op.name == "powi" and a.param == 2)
    return _made("abs", a.args[0]) if squared else None


SQRT = (sqrt_of_square,)
