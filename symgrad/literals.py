"""Numbers and names as nodes carry them: Python numbers taken as constants, their literals in
generated code, and the checks of a leaf's param. Symgrad computes in floats, so an integer with
no float value is refused where it is written. Imports nothing of symgrad."""

from __future__ import annotations

import math
import numbers
import re
import reprlib
from typing import Any

# Integers of fewer bits surely convert to a float; longer ones are checked.
_SURELY_FLOAT_BITS = 1000


def as_number(value: Any, what: str) -> int | float:
    """``value`` as an int or float constant: a TypeError naming ``what`` for anything else,
    a ValueError for an integer too large to be a float."""
    kind = type(value)
    if kind is float or (kind is int and value.bit_length() < _SURELY_FLOAT_BITS):  # the hot path
        return value  # type: ignore[no-any-return]  # a float, or an int a float holds exactly
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{what}: expected a number or a symgrad expression, got {type(value).__name__} {reprlib.repr(value)}"
        )
    if isinstance(value, numbers.Integral):
        number = int(value)
        check_float_range(number, what)
        return number
    return float(value)


def check_float_range(number: int, what: str) -> None:
    """Raise ValueError naming ``what`` if the integer ``number`` has no float value (symgrad
    computes in floats, so it could only ever be an overflow)."""
    try:
        float(number)
    except OverflowError:
        magnitude = int(math.log10(abs(number)))
        raise ValueError(f"{what}: an integer of about {'-' if number < 0 else ''}1e{magnitude} is too large "
                         "for a float (the largest is about 1.8e308)") from None


def format_number(value: int | float) -> str:
    """A Python literal (or the names inf / nan) for a constant."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int) and abs(value) >= 10**18:
        return hex(value)  # repr of a huge int can hit Python's digit limit
    return repr(value)


# Exact types: a subclass of str, int or float could print itself as anything.


def check_name(name: Any) -> None:
    if type(name) is not str or not name:
        raise ValueError(f"a symbol's name must be a non-empty str, got {type(name).__name__}")


def check_number(value: Any) -> None:
    if type(value) is int:
        check_float_range(value, "a constant")
    elif type(value) is not float:
        raise ValueError(f"a constant must be an int or a float, got {type(value).__name__}")


# ---- names and numbers in LaTeX (``Expr._repr_latex_``) ------------------------------------

_GREEK = frozenset(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau upsilon phi chi psi "
    "omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split()
)
# Every character TeX (or MathJax, or the HTML around it) reads as structure, made plain text:
# a name can never open a group, call a command (\href, \unicode...) or close the formula.
_LATEX_ESCAPES = {
    "\\": r"\backslash{}", "{": r"\{", "}": r"\}", "#": r"\#", "$": r"\$", "%": r"\%", "&": r"\&",
    "_": r"\_", "^": r"\hat{}", "~": r"\sim{}", "<": r"\lt{}", ">": r"\gt{}", " ": r"\ ",
}
_LONGEST_NAME = 40
_SUBSCRIPTED = re.compile(r"([A-Za-z]+)(?:(\d+)|\[(\d+(?:, ?\d+)*)\])")  # x0, x[0], W[1, 0]


def latex_text(text: str) -> str:
    """``text`` as literal characters of LaTeX math (control characters shown as ?)."""
    return "".join(_LATEX_ESCAPES.get(ch) or ("?" if ch < " " or ch == "\x7f" else ch) for ch in text)


def latex_name(name: str) -> str:
    """A symbol's name in LaTeX, as SymPy writes it: ``alpha`` is α, ``x0`` and ``x[0]`` are x₀,
    other names of several letters upright; any character is safe (see ``latex_text``), and a
    long name is cut."""
    if len(name) > _LONGEST_NAME:
        return rf"\mathrm{{{latex_text(name[:_LONGEST_NAME])}}}\ldots"
    if match := _SUBSCRIPTED.fullmatch(name):
        return f"{latex_name(match[1])}_{{{match[2] or match[3]}}}"
    if name in _GREEK:
        return "\\" + name
    return latex_text(name) if len(name) == 1 else rf"\mathrm{{{latex_text(name)}}}"


def latex_number(value: int | float) -> str:
    """A constant in LaTeX: ``1e-05`` is 1 · 10⁻⁵, infinities ∞."""
    if isinstance(value, int) and abs(value) >= 10**18:
        value = float(value)
    text = format_number(value)
    sign = "-" if text.startswith("-") else ""
    digits = text.lstrip("-")
    if digits in ("inf", "nan"):
        return sign + (r"\infty" if digits == "inf" else r"\mathrm{NaN}")
    mantissa, _, exponent = digits.partition("e")
    if not exponent:
        return text
    return rf"{sign}{mantissa} \cdot 10^{{{int(exponent)}}}"
