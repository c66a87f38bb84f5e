"""What the fuzz and property tests share: the ops they draw, read off the op table, and the SymPy
reference made to say what symgrad's rules say at a jump."""

import sympy
from hypothesis import strategies as st

from symgrad import ops


def sympy_checked_ops(arity):
    """Every op of the table, built-in or ``sg.primitive``, that takes ``arity`` expressions and no
    param, read when called. The tests compare with SymPy, so an op needs a mapping to it. step and
    sign (vjp None: derivative 0) are in; each test says why its comparison holds for them."""
    return [op for op in ops.all_ops() if op.arity == arity and not op.takes_param and op.sympy is not None]


def table_branches(children, exponents):
    """One hypothesis branch per kind of op: unary, ``x ** k`` (integer exponents are int_power, the
    others real_power, by ``ops.number_power``), binary, and one per wider arity a primitive has."""
    branches = [st.tuples(st.sampled_from(sympy_checked_ops(n)), *[children] * n).map(lambda t: t[0](*t[1:]))
                for n in sorted({op.arity for op in ops.all_ops()} - {0}) if sympy_checked_ops(n)]
    powers = st.tuples(children, st.sampled_from(exponents)).map(lambda t: t[0] ** t[1])
    return [branches[0], powers, *branches[1:]]  # hypothesis leans to the first: the unary ops


def covered_ops(exponents):
    """The names of the ops ``table_branches`` can draw."""
    arities = {op.arity for op in ops.all_ops()} - {0}
    return {op.name for n in arities for op in sympy_checked_ops(n)} | {ops.number_power(e)[0].name for e in exponents}


def zero_across_jumps(derivative):
    """SymPy's derivative with what is 0 away from a jump or kink written as 0, as symgrad's rules
    say: a DiracDelta (sign', |x|'', relu''), or an unevaluated Derivative of a step function: of
    sign(u), where SymPy cannot tell that u is real (sign(x**-2)), or of floor and ceiling, which
    SymPy never differentiates."""
    steps = (sympy.sign, sympy.floor, sympy.ceiling)
    return derivative.replace(sympy.DiracDelta, lambda *_: sympy.S.Zero).replace(
        lambda e: isinstance(e, sympy.Derivative) and isinstance(e.expr, steps), lambda _: sympy.S.Zero)
