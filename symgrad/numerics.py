"""The numbers behind the primitives: pure functions with no graph in them.

What generated code calls by name (``array_sigmoid``, ``array_erf``...), what constant folding and
``symgrad.engine`` evaluate (``sigmoid`` and ``logaddexp``, which scalar code writes inline, ``relu``,
``step``, ``sign``, ``xlogy``), the checks of a node's param (see ``Op.check_param``), and
``sympy_power``, the SymPy mapping of the power ops. ``symgrad.ops`` binds them into its table
entries.
"""

from __future__ import annotations

import math
from typing import Any

from symgrad.literals import check_float_range

LOG_2 = math.log(2.0)  # a float whose repr reads back exactly: written into generated code

# ---- numeric helpers bound into generated code ---------------------------------------


def sigmoid(x: float) -> float:
    # Two branches so that neither exp can overflow.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def array_sigmoid(xp: Any, x: Any) -> Any:
    # sigmoid's two branches over e = exp(-|x|), which cannot overflow: max(e, sign(x)) picks the
    # numerator (1, or e for x < 0), so values match the scalar code's, subnormals included.
    # exp's underflow is harmless for x > 0 and the answer for x < 0; scalar sigmoid raises for no x.
    errstate = getattr(xp, "errstate", None)
    if errstate is None:
        e = xp.exp(-xp.abs(x))
    else:
        with errstate(under="ignore"):
            e = xp.exp(-xp.abs(x))
    result = xp.maximum(e, xp.sign(x))
    e += 1.0  # both are fresh arrays: updating them in place saves two allocations
    result /= e
    return result


def softplus(x: float) -> float:
    return (x if x > 0.0 else 0.0) + math.log1p(math.exp(-abs(x)))


def log_sigmoid(x: float) -> float:
    return (x if x < 0.0 else 0.0) - math.log1p(math.exp(-abs(x)))


def logaddexp(a: float, b: float) -> float:
    # log(exp(a) + exp(b)), shifted by the larger so no exp overflows; equal arguments (both
    # infinite, say) are a case of their own, as inf - inf would be nan.
    if a == b:
        return a + LOG_2
    big, small = (a, b) if a > b else (b, a)
    return big + math.log1p(math.exp(small - big))


def array_erf(xp: Any, x: Any) -> Any:
    # NumPy has no erf: math's, element by element (the scalar code's values exactly; slow).
    import numpy

    return xp.asarray(numpy.vectorize(math.erf, otypes=[float])(x))


def clip(x: float, low: float, high: float) -> float:
    # NumPy's order: min(max(x, low), high), so low > high gives high, as np.clip does.
    x = low if x < low else x
    return high if x > high else x


def floor(x: float) -> float:
    return float(math.floor(x)) if math.isfinite(x) else x  # math.floor raises on inf and nan


def ceil(x: float) -> float:
    return float(math.ceil(x)) if math.isfinite(x) else x


def round_half_even(x: float) -> float:
    return float(round(x)) if math.isfinite(x) else x  # Python's and NumPy's rounding: ties to even


def greater(a: float, b: float) -> float:
    return 1.0 if a > b else 0.0


def greater_equal(a: float, b: float) -> float:
    return 1.0 if a >= b else 0.0


def where(condition: float, a: float, b: float) -> float:
    return a if condition else b


def relu(x: float) -> float:
    return x if x > 0.0 else 0.0


def step(x: float) -> float:
    return 1.0 if x > 0.0 else 0.0


def sign(x: float) -> float:
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)


def xlogy(a: float, b: float) -> float:
    return 0.0 if a == 0.0 else a * math.log(b)


# ---- parameter checks: what a node's param may be (see ``Op.check_param``) ------------
# Exact types: a subclass of int or float could print itself as anything.


def check_integer_exponent(k: Any) -> None:
    if type(k) is not int:
        raise ValueError(f"powi's exponent must be an int, got {type(k).__name__}")
    check_float_range(k, "powi's exponent")


def check_real_exponent(c: Any) -> None:
    if type(c) is not float:  # inf and nan print as the names bound to them, not through repr
        raise ValueError(f"powc's exponent must be a float, got {type(c).__name__}")


# ---- SymPy mappings ------------------------------------------------------------------

# Past these sizes SymPy's exact integer power takes minutes and gigabytes (2**10**10), and past
# the second even mpmath's Float power does (2**10**10**10); symgrad computes them in floats anyway.
_EXACT_POWER_BITS = 4096
_FLOAT_POWER_BITS = 2**40


def sympy_power(sp: Any, base: Any, exponent: Any) -> Any:
    """``base**exponent`` in SymPy, never building a number of more than a few thousand bits exactly.

    A huge power of two numbers becomes a SymPy Float (mpmath's, beyond float range); one whose
    binary exponent itself is astronomically large becomes ``oo`` (``nan`` for a negative base: it
    overflows floats, where symgrad's pow fails) or 0.0 (it underflows, as in floats).
    """
    if not (base.is_Number and exponent.is_Number and base.is_finite and exponent.is_finite) \
            or base.is_zero or exponent.is_zero:
        return base**exponent
    bits = exponent.evalf() * sp.log(sp.Abs(base).evalf(), 2)  # log2 of |result|
    if sp.Abs(bits) <= _EXACT_POWER_BITS:
        return base**exponent
    if bits > _FLOAT_POWER_BITS:
        return sp.oo if base.is_positive else sp.nan
    if bits < -_FLOAT_POWER_BITS:
        return sp.Float(0.0)
    return sp.Float(base) ** exponent
