"""Cases the derivative tests share: every op of the table applied to symbols, with the domain
each argument's points are drawn from."""

import pytest

from symgrad import ops


def unary_cases(x):
    """``pytest.param(f, domain)`` for every unary op of the table applied to ``x`` (powers once
    per exponent: negative ones, and every non-integer one, on positive points only), named after
    the op."""
    for op in ops.all_ops():
        if op.arity == 1 and not op.takes_param:
            yield pytest.param(op(x), op.domain, id=op.name)
    for k in (-3, -2, -1, 0, 1, 2, 3, 5):  # x ** k is int_power
        yield pytest.param(x**k, "positive" if k < 0 else "real", id=f"powi{k}")
    for c in (0.5, 1.5, -0.5, 2.7):  # x ** c is real_power
        yield pytest.param(x**c, "positive", id=f"powc{c}")


# The domain of each argument of the ops whose arguments differ; the others take op.domain for all.
_MIXED_DOMAINS = {"div": ("real", "positive"), "pow": ("positive", "real"), "xlogy": ("real", "positive")}


def ARGUMENT_DOMAINS(op):
    """The domain each argument of ``op`` is drawn from."""
    return _MIXED_DOMAINS.get(op.name, (op.domain,) * op.arity)


def wider_cases():
    """Every op of the table taking two or more expressions and no param."""
    return [pytest.param(op, id=op.name) for op in ops.all_ops() if op.arity >= 2 and not op.takes_param]
