"""How a rewrite rule is declared: the vocabulary of the rules in ``symgrad.ops``' entries.

A rule is a function ``(args, param) -> Expr | None`` in an op's ``rewrites`` (a rule that makes
one of several rewrites may return ``(description, Expr)``, naming the one it made); ``rule`` marks
it with what ``symgrad.simplify`` reads (its description, what triggers it, whether it is exact).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from symgrad.expr import CONST, Expr


class Rule(Protocol):
    """A rewrite as ``rule`` marks it: called with a node's arguments and param."""

    description: str
    triggers: tuple[str | float, ...] | None
    params: tuple[Any, ...]
    exact: bool

    def __call__(self, args: tuple[Expr, ...], param: Any, /) -> Expr | tuple[str, Expr] | None: ...


RuleFunction = Callable[[tuple[Expr, ...], Any], Any]  # what ``rule`` marks


def is_number(e: Expr, value: float | None = None) -> bool:
    """``e`` is a constant (equal to ``value`` when given)."""
    return e.op is CONST and (value is None or e.param == value)


def rule(description: str, triggers: tuple[str | float, ...] | None, params: tuple[Any, ...] = (),
         exact: bool = True) -> Callable[[RuleFunction], Rule]:
    """Mark a rewrite: ``description`` names it in reports; ``triggers`` say what must be
    among the arguments for it to possibly apply: an op name, or a number for a constant
    of that value (None: always try); ``params``: node params that make it apply; ``exact``:
    whether the result is the same float as the node's, bit for bit, for every input (only
    exact rules run under ``rewrites="exact"``)."""

    def wrap(fn: RuleFunction) -> Rule:
        fn.description = description  # type: ignore[attr-defined]
        fn.triggers = triggers  # type: ignore[attr-defined]
        fn.params = params  # type: ignore[attr-defined]
        fn.exact = exact  # type: ignore[attr-defined]
        return fn  # type: ignore[return-value]  # a Rule now

    return wrap


def drop_unit(unit: float, sides: str, description: str, exact: bool = True) -> Rule:
    @rule(description, (unit,), exact=exact)
    def rewrite(args: tuple[Expr, ...], _param: Any) -> Expr | None:
        if "right" in sides and is_number(args[1], unit):
            return args[0]
        if "left" in sides and is_number(args[0], unit):
            return args[1]
        return None

    return rewrite
