"""``sg.plot``: an expression of one variable and its derivatives over a range, with matplotlib.

    >>> import symgrad as sg
    >>> x = sg.symbol("x")
    >>> figure = sg.plot(sg.log(x) * x, x, (-1.0, 2.0), order=2)   # doctest: +SKIP
    >>> figure.savefig("f.png")                                     # doctest: +SKIP

The curves come from one compiled function (the value and the derivatives in one call per
point); a point where the expression or a derivative is undefined (an ``EvaluationError``, a NaN,
an infinity) is left out, so the line has a gap there instead of a stroke across it; where a few
points near a pole would flatten the rest, the y axis shows the bulk of the curves. The figure
is a ``matplotlib.figure.Figure`` made without pyplot: no window opens, no backend is chosen and
pyplot's state is left as it was (Jupyter shows the figure when it is the cell's value; a script
saves it with ``savefig``). ``ax=`` draws into axes of your own instead.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Sequence
from typing import Any

from symgrad.compiler import compile as compile_fn
from symgrad.errors import EvaluationError
from symgrad.expr import Expr, as_expr, free_symbols, to_text
from symgrad.extras import require
from symgrad.ops import SYMBOL

_LABELS = ("f", "f'", "f''")
_STYLES = ({"linewidth": 2.2}, {"linestyle": "--"}, {"linestyle": ":"})


def plot(f: Any, x: Any, interval: Sequence[float], order: int = 1, *, points: int = 400, ax: Any = None) -> Any:
    """Plot ``f`` and its derivatives by ``x`` (``order`` 1: f′, 2: f′ and f″) over ``interval``
    ``(lo, hi)`` at ``points`` evenly spaced points; returns the matplotlib ``Figure``.

    ``f`` must depend on no symbol but ``x`` (a symbol, or its name). ``ax``: matplotlib axes
    to draw into (default: a new figure). Needs matplotlib (``pip install 'symgrad[plot]'``).
    """
    f = as_expr(f, "plot() expression")
    variable = _variable(f, x)
    lo, hi = _interval(interval)
    if order not in (1, 2) or isinstance(order, bool):
        raise ValueError(f"plot(): order must be 1 (f and f′) or 2 (f, f′ and f″), got {order!r}")
    if type(points) is not int or points < 2:
        raise ValueError(f"plot(): points must be an int of at least 2, got {points!r}")
    if ax is None:
        ax = _new_axes()
    xs = [lo + (hi - lo) * i / (points - 1) for i in range(points)]
    curves = _curves(compile_fn(f, wrt=[variable], order=order), xs, order)
    for k, ys in enumerate(curves):
        ax.plot(xs, ys, label=_LABELS[k], **_STYLES[k])
    ax.axhline(0.0, color="#999999", linewidth=0.6)
    limits = _bulk_limits([v for ys in curves for v in ys if not math.isnan(v)])
    if limits is not None:
        ax.set_ylim(*limits)
    ax.set_xlim(lo, hi)  # the whole range, gaps included
    ax.set_xlabel(variable.param)
    ax.set_title(f"f = {to_text(f, limit=70)}", fontsize=10)
    ax.legend()
    return ax.figure


def _variable(f: Expr, x: Any) -> Expr:
    """The symbol ``x`` names; an error if ``f`` depends on any other."""
    if isinstance(x, str):
        from symgrad.expr import symbol

        x = symbol(x)
    if not isinstance(x, Expr) or x.op is not SYMBOL:
        raise TypeError(f"plot(): x must be a symbol (or its name), got {type(x).__name__} {x!r}")
    others = sorted(s.param for s in free_symbols([f]) if s is not x)
    if others:
        raise ValueError(f"plot(): the expression depends on {', '.join(others)} besides {x.param}; "
                         "substitute numbers for them first (a plot has one variable)")
    return x


def _interval(interval: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in interval)
    except (TypeError, ValueError):
        raise ValueError(f"plot(): the interval must be two numbers (lo, hi), got {interval!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"plot(): the interval must be finite with lo < hi, got ({lo!r}, {hi!r})")
    return lo, hi


def _curves(fn: Any, xs: list[float], order: int) -> list[list[float]]:
    """f, f′ (and f″) at each point, NaN where undefined: matplotlib leaves a gap there."""
    nan = math.nan
    curves: list[list[float]] = [[] for _ in range(order + 1)]
    for point in xs:
        try:
            result = fn(point)
            found = [result[0], result[1][0], *([result[2][0][0]] if order == 2 else [])]
        except (EvaluationError, ArithmeticError, ValueError):  # a derivative may fail where f does not
            found = [_value_alone(fn, point)] + [nan] * order
        for curve, value in zip(curves, found):
            curve.append(value if math.isfinite(value) else nan)
    return curves


def _bulk_limits(values: list[float]) -> tuple[float, float] | None:
    """Y limits that show the bulk of ``values`` when a few spikes (near a pole, where a derivative
    blows up) would flatten everything else; None when the full range is fine."""
    if len(values) < 20:
        return None
    ordered = sorted(values)
    low, high = ordered[len(ordered) // 50], ordered[-1 - len(ordered) // 50]  # the 2nd and 98th percentiles
    pad = 0.25 * (high - low) or 1.0
    if ordered[0] >= low - 4 * pad and ordered[-1] <= high + 4 * pad:
        return None
    return low - pad, high + pad


def _value_alone(fn: Any, point: float) -> float:
    try:
        return float(fn.forward(point))
    except (EvaluationError, ArithmeticError, ValueError):
        return math.nan


def _new_axes() -> Any:
    require("matplotlib.figure", "sg.plot")  # checked on every call: the class below is made once
    figure = _figure_class()(figsize=(6.4, 4.0), layout="constrained")
    return figure.add_subplot()


@functools.cache
def _figure_class() -> type:
    from matplotlib.figure import Figure

    class PlotFigure(Figure):
        """A Figure that Jupyter shows as a PNG even where pyplot's inline backend never loaded."""

        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png")
            return buffer.getvalue()

    return PlotFigure
