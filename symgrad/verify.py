"""The SymPy bridge: convert both ways, and check symgrad's derivatives against ``sympy.diff``.

``verify`` is the oracle users (and the test suite) lean on. For each
variable it compares the gradient symgrad generated with SymPy's own
derivative three ways: symbolically (``simplify`` of the difference, under a
time limit), numerically at random points of the domain (running the
generated code itself), and against central finite differences::

    >>> import symgrad as sg
    >>> x, y = sg.symbols("x y")
    >>> sg.verify(sg.tanh(x * y) + x**2 / y, [x, y]).ok
    True

SymPy is imported only through ``symgrad.sympy_bridge``, and only when one of these functions runs.
"""

from __future__ import annotations

import itertools
import math
import random
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from symgrad import display, progress, shapes
from symgrad.errors import EvaluationError, SymgradError, SympyDepthError
from symgrad.expr import Expr, as_expr, free_symbols, is_array, to_text, topological_order
from symgrad.sympy_bridge import graph_depth, sympy_depth_limit, sympy_module, to_sympy

_NUMERIC_RTOL = 1e-9
_FD_RTOL = 1e-4
_MAX_SYMBOLIC_OPS = 3000


@dataclass
class VerifyRow:
    """The checks of one derivative (or of the value itself)."""

    name: str
    symbolic: str
    numeric_error: float | None  # None: not compared with SymPy
    fd_error: float | None  # None: no finite difference (the value row)
    ok: bool


@dataclass
class VerifyReport:
    """Per-variable agreement with SymPy; ``ok`` is True when every row agrees."""

    expression: str
    points: list[tuple[float, ...]]
    rows: list[VerifyRow] = field(default_factory=list)
    failure: str = ""  # the first error met while sampling points (why there may be none)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)

    _HEADER = ("", "symbolic (sympy)", "max rel. err vs sympy", "max rel. err vs finite diff", "")

    def _cells(self) -> list[tuple[str, ...]]:
        return [
            (r.name, r.symbolic, "-" if r.numeric_error is None else f"{r.numeric_error:.1e}",
             "-" if r.fd_error is None else f"{r.fd_error:.1e}", "ok" if r.ok else "FAIL")
            for r in self.rows
        ]

    def _caption(self) -> str:
        return f"verify {self.expression}  at {len(self.points)} random points"

    def _verdict(self) -> list[str]:
        if not self.points:
            why = f" (first error: {self.failure})" if self.failure else ""
            return [f"NO POINTS: the expression failed to evaluate at every point tried{why}",
                    "NOT CHECKED: nothing to compare"]
        return ["all derivatives agree" if self.ok else "MISMATCH: see the rows marked FAIL"]

    def __str__(self) -> str:
        body = self._cells()
        widths = [max(len(row[i]) for row in [self._HEADER, *body]) for i in range(5)]
        lines = [self._caption()]
        for row in [self._HEADER, *body]:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        return "\n".join([*lines, *self._verdict()])

    def _repr_html_(self) -> str:
        """What a notebook shows: the same table, failing rows in red."""
        rows = [(cells, row.ok) for cells, row in zip(self._cells(), self.rows)]
        return display.table_html(self._caption(), self._HEADER, rows, " ".join(self._verdict()))

    __repr__ = __str__


class _Timeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float) -> Iterator[bool]:
    """Raise _Timeout after ``seconds`` (main thread on Unix); else no limit. A host that uses
    the real-time timer or SIGALRM itself keeps them: then there is no limit either."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if usable:
        host_timer = signal.getitimer(signal.ITIMER_REAL)[0] > 0
        usable = not host_timer and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)
    if not usable:
        yield False
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    # Repeating: an alarm that lands in a weakref callback or __del__ (SymPy's caches run them)
    # is swallowed as an "unraisable exception"; the next one, 0.25 s later, gets through.
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.25)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _symbolic_status(sp: Any, ours: Any, theirs: Any, timeout: float) -> tuple[str, Any]:
    """("equal" | "differs" | "skipped: ..." , the difference if it did not vanish)."""
    if ours == theirs:  # also when both are nan (a constant too large for floats), which never cancels
        return "equal", None
    difference = ours - theirs
    if difference == 0:
        return "equal", None
    if sp.count_ops(difference) > _MAX_SYMBOLIC_OPS:
        return "skipped: too large", None
    try:
        with _time_limit(timeout):
            # simplify splits on no sign: an expression with |u| or sign(u) is taken side by side
            simplified = sp.S.Zero if _vanishes_on_each_side(sp, difference) else sp.simplify(difference)
    except _Timeout:
        return f"skipped: over {timeout:g} s", None
    if simplified == 0:
        return "equal", None
    return "differs", simplified


def _vanishes_on_each_side(sp: Any, difference: Any) -> bool:
    """Whether ``difference``, its floats made the rationals they are, simplifies to 0 for each
    sign of each ``u`` it takes ``|u|`` or ``sign(u)`` of (at most 3 of them): ``simplify`` splits on
    neither, and the stable slope of tanh is written with ``exp(-2|x|)``."""
    kinks = sorted({e.args[0] for e in difference.atoms(sp.Abs, sp.sign)}, key=sp.default_sort_key)
    if not kinks or len(kinks) > 3:
        return False
    difference = difference.xreplace({f: sp.Rational(float(f)) for f in difference.atoms(sp.Float)})
    for signs in itertools.product((1, -1), repeat=len(kinks)):
        side = difference.xreplace({f(u): r for u, s in zip(kinks, signs) for f, r in ((sp.Abs, s * u), (sp.sign, s))})
        if sp.simplify(side.rewrite(sp.exp)) != 0:  # tanh as exps meets the slope's exp(-2|x|)
            return False
    return True


def _symbolic_check(sp: Any, ours: Any, theirs: Any, timeout: float, numeric: float, params: list[Any],
                    points: list[tuple[float, ...]]) -> str:
    """The symbolic column of one row."""
    status, leftover = _symbolic_status(sp, ours, theirs, timeout)
    if status == "differs" and numeric <= _NUMERIC_RTOL:
        # A constant folded in floats can leave a ~1e-17 residue: still equal.
        residue = max((abs(complex(leftover.subs(dict(zip(params, p))).evalf())) for p in points),
                      default=math.inf)
        if residue <= 1e-12:
            status = "equal up to float rounding"
    return status


def _close(a: float, b: float, atol: float = 1e-12) -> float:
    """Relative error of a against b (0 when within atol)."""
    gap = abs(a - b)
    return 0.0 if gap <= atol else gap / max(1.0, abs(a), abs(b))


def _sample_points(fn: Any, theirs: Any, n_vars: int, points: int, seed: int, scale: float
                   ) -> tuple[list[tuple[tuple[float, ...], Any, Any]], str]:
    """Random points where the generated code (and SymPy's derivative, if given) evaluate,
    and the first error met (it says why, when no point does)."""
    rng = random.Random(seed)
    found: list[tuple[tuple[float, ...], Any, Any]] = []
    first_error = ""
    for _ in range(points * 200):
        if len(found) == points:
            break
        point = tuple(rng.uniform(-scale, scale) for _ in range(n_vars))
        try:
            ours = fn(*point)
        except (EvaluationError, ArithmeticError, ValueError, TypeError) as error:
            first_error = first_error or _one_line(error)
            continue
        try:
            reference = None if theirs is None else [complex(v) for v in theirs(*point)]
        except (ArithmeticError, ValueError, TypeError) as error:
            first_error = first_error or f"SymPy's expressions: {_one_line(error)}"
            continue
        if reference is not None:
            if any(abs(v.imag) > 1e-12 or not math.isfinite(v.real) for v in reference):
                first_error = first_error or "SymPy's expressions are not finite and real there"
                continue
            reference = [v.real for v in reference]
        found.append((point, ours, reference))
    return found, first_error


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    if isinstance(error, SymgradError):
        return text[0] if text else type(error).__name__
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


@dataclass
class _Entry:
    """One number the compiled function returns, what SymPy says it is, and how to difference it."""

    name: str
    ours: Expr
    theirs: Any  # SymPy expression, or None
    base: int | None  # index of the entry it is the derivative of (None: a value)
    var: int = 0  # ... with respect to this argument


def _entries(fn: Any, sp: Any, sym_outputs: list[Any] | None, syms: list[Any]) -> list[_Entry]:
    """The checked entries in the order ``_flatten`` lays out the compiled function's result."""
    w = [v.param for v in fn.wrt]
    n_out, n = len(fn.value_exprs), len(w)
    theirs_jacobian = theirs_hessian = None
    if sym_outputs is not None:
        theirs_jacobian = sp.Matrix(sym_outputs).jacobian(syms)
        if fn.order == 2:
            theirs_hessian = sp.hessian(sym_outputs[0], syms)
    value_names = [f"f{k}" for k in range(n_out)] if fn.several else ["value"]
    def reference(matrix: Any, i: int, j: int) -> Any:
        return None if matrix is None else matrix[i, j]

    entries = [_Entry(value_names[k], fn.value_exprs[k], None if sym_outputs is None else sym_outputs[k], None)
               for k in range(n_out)]
    for k in range(n_out):
        prefix = f"d{value_names[k]}" if fn.several else "d"
        entries += [_Entry(f"{prefix}/d{w[j]}", fn.jacobian_exprs[k][j],
                           reference(theirs_jacobian, k, j), k, j) for j in range(n)]
    if fn.order == 2:
        entries += [_Entry(f"d2/d{w[i]} d{w[j]}", fn.hessian_exprs[i][j],
                           reference(theirs_hessian, i, j), n_out + i, j)
                    for i in range(n) for j in range(i, n)]
    return entries


def _flatten(fn: Any) -> Any:
    """The compiled function's result as one flat list, in ``_entries`` order."""
    n = len(fn.wrt)

    def flat(*args: float) -> list[float]:
        result = fn(*args)
        if fn.several:
            return [*result[0], *(g for row in result[1] for g in row)]
        hessian = [result[2][i][j] for i in range(n) for j in range(i, n)] if fn.order == 2 else []
        return [result[0], *result[1], *hessian]

    return flat


def verify(f: Any, wrt: Any = None, *, order: int = 1, points: int = 5, seed: int = 0, symbolic: bool = True,
           timeout: float = 5.0, scale: float = 2.0, max_sympy_nodes: int = 5000) -> VerifyReport:
    """Check symgrad's derivatives of ``f`` against SymPy: symbolic, numeric, finite differences.

    ``f`` may be one expression (its gradient is checked against ``sympy.diff``;
    with ``order=2`` also its Hessian, against ``sympy.hessian``) or a list of
    them (their Jacobian, against ``sympy.Matrix.jacobian``). ``points``
    random points are drawn uniformly from [-scale, scale] per variable,
    keeping those where the expression is defined (so ``log(y)`` is checked
    at y > 0). ``symbolic=False`` skips ``simplify``; ``timeout`` bounds each
    simplification. Graphs over ``max_sympy_nodes`` nodes, or with a
    primitive that has no SymPy mapping, are checked by finite differences alone.
    """
    from symgrad.compiler import compile as compile_fn
    from symgrad.grad import as_symbols

    several = isinstance(f, (list, tuple)) or is_array(f)
    outputs = [as_expr(o, "verify() expression") for o in (f.flat if is_array(f) else f if several else [f])]
    used = set(free_symbols(outputs))
    # Every symbol is a scalar argument, arrays' elements in index order (x[10] after x[9]): the
    # table has a row per element.
    in_order = [s for s in shapes.flat(shapes.inferred(used)) if s in used]
    if wrt is None:
        wrt = in_order
    else:  # checking the derivative by a symbol the expression lacks checks nothing
        wrt = as_symbols(wrt, among=lambda: in_order, names_only=False)
    others = [s for s in in_order if s not in set(wrt)]
    shown = "; ".join(to_text(o, limit=80 // len(outputs)) for o in outputs)
    with progress.tracking(f"verify {to_text(outputs[0], limit=40)}"):
        fn = compile_fn(outputs if several else outputs[0], wrt, args=[*wrt, *others], order=order)
        progress.step("compile")
        entries, reference = _entries(fn, None, None, []), None
        skipped, depth = _sympy_skip_reason(outputs, entries, max_sympy_nodes)
        if skipped is None:
            entries, reference, skipped = _sympy_reference(fn, outputs, depth)
            progress.step("SymPy's derivatives", f"{len(entries)} rows")
        flat = _flatten(fn)
        theirs = reference.theirs if reference is not None else None
        samples, first_error = _sample_points(flat, theirs, len(fn.params), points, seed, scale)
        progress.step("sample points", f"{len(samples)} found")
        report = VerifyReport(shown, [p for p, _, _ in samples], failure=first_error)
        for i, entry in enumerate(entries):
            row = _verify_row(i, entry, flat, samples, reference, skipped, symbolic, timeout, depth)
            report.rows.append(row)
            progress.step(f"row {i + 1}/{len(entries)} {entry.name}", f"{row.symbolic}, {'ok' if row.ok else 'FAIL'}")
    return report


def _sympy_skip_reason(outputs: list[Expr], entries: list[_Entry], max_sympy_nodes: int) -> tuple[str | None, int]:
    """Why SymPy cannot check ``outputs`` and their derivatives ``entries`` (None: it can), and the
    depth of ``outputs`` (0 when skipped before measuring it): too many nodes, a primitive
    without a SymPy mapping, or too deep."""
    graph = topological_order(outputs)
    skipped = "skipped: graph too large for sympy" if len(graph) > max_sympy_nodes else None
    unmapped = sorted({n.op.name for n in graph if n.args and n.op.sympy is None})
    if unmapped:
        skipped = f"skipped: no SymPy mapping for {', '.join(unmapped)}"
    depth = graph_depth(outputs) if skipped is None else 0
    # SymPy differentiates the expression itself; symgrad's derivatives (about twice as deep
    # for a chain) only go through to_sympy, which recurses about half as much per level.
    derivative_depth = graph_depth([e.ours for e in entries]) if skipped is None else 0
    limit = sympy_depth_limit()
    if depth > limit or derivative_depth > 2 * limit:
        skipped = (f"skipped: graph {depth} deep (derivatives {derivative_depth}), "
                   f"over sympy's depth limit {limit} ({2 * limit})")
    return skipped, depth


@dataclass
class _Reference:
    """SymPy's side of a check: the module, ``fn``'s parameters and derivatives as SymPy
    expressions, and SymPy's own derivatives as one ``lambdify``'d function."""

    sp: Any
    params: Any
    theirs: Any
    ours: Any


def _sympy_reference(fn: Any, outputs: list[Expr], depth: int) -> tuple[list[_Entry], _Reference | None, str | None]:
    """The entries with SymPy's derivatives and the ``_Reference``; or, where SymPy fails,
    the entries without them, no reference and why."""
    sp = sympy_module()
    try:
        sym_params = to_sympy(list(fn.params))
        entries = _entries(fn, sp, to_sympy(outputs), to_sympy(list(fn.wrt)))
        theirs = sp.lambdify(sym_params, [e.theirs for e in entries], modules="math")
        ours_exprs = to_sympy([e.ours for e in entries])
    except (RecursionError, SympyDepthError, SyntaxError, MemoryError) as error:
        # A safety net under the depth limit: lambdify's source can nest brackets several
        # times per level (sigmoid), and the limit counts from wherever verify was called.
        skipped = f"skipped: sympy failed ({type(error).__name__}) on a graph {depth} deep"
        return _entries(fn, None, None, []), None, skipped
    return entries, _Reference(sp, sym_params, theirs, ours_exprs), None


def _verify_row(i: int, entry: _Entry, flat: Any, samples: list[Any], reference: _Reference | None,
                skipped: str | None, symbolic: bool, timeout: float, depth: int) -> VerifyRow:
    """Entry ``i`` checked: against SymPy (symbolically and at the ``samples``) unless
    ``skipped`` says why not, and against finite differences of ``flat``."""
    numeric = None
    status = skipped
    if reference is not None:
        numeric = max((_close(ours[i], ref[i]) for _, ours, ref in samples), default=math.inf)
        status = "skipped: symbolic=False"
        if symbolic:
            try:
                status = _symbolic_check(reference.sp, reference.ours[i], entry.theirs, timeout, numeric,
                                         reference.params, [p for p, _, _ in samples])
            except RecursionError:
                status = f"skipped: sympy recursed too deep (graph {depth} deep)"
    fd_error = None if entry.base is None else max(
        (_fd_error(flat, p, entry.base, entry.var, ours[i]) for p, ours, _ in samples), default=math.inf)
    ok = (
        bool(samples)
        and status != "differs"
        and (numeric is None or numeric <= _NUMERIC_RTOL)
        and (fd_error is None or fd_error <= _FD_RTOL)
    )
    return VerifyRow(entry.name, status or "", numeric, fd_error, ok)


def _fd_error(flat: Any, point: tuple[float, ...], base: int, index: int, derivative: float) -> float:
    """Relative error of ``derivative`` against a central difference of entry ``base`` along ``index``."""
    h = 1e-6 * max(1.0, abs(point[index]))
    up = list(point)
    down = list(point)
    up[index] += h
    down[index] -= h
    try:
        estimate = (flat(*up)[base] - flat(*down)[base]) / (2 * h)
    except (EvaluationError, ArithmeticError, ValueError):
        return 0.0  # the point sits at the edge of the domain: nothing to compare
    return _close(derivative, estimate, atol=1e-6)


__all__ = ["VerifyReport", "VerifyRow", "verify"]
