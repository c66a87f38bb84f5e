"""Gradients keep relative precision in the tails, measured against mpmath."""

import mpmath
import pytest

import symgrad as sg

x = sg.symbols("x")
mpmath.mp.dps = 60


def _agrees(got, want):
    """``got`` is ``want`` (an mpmath number) to 1e-12 relative, or, where ``want`` is below the
    normal floats (2.2e-308), to the absolute spacing subnormals have: relative precision does
    not exist there in float64."""
    gap = abs(mpmath.mpf(got) - want)
    return gap <= 1e-12 * abs(want) or gap <= 2.0**-1060


# ---- the slopes of tanh and sigmoid in their tails ---------------------------------------------

TAILS = [0.0, 1e-8, 0.5, 1.0, 5.0, 10.0, 15.0, 20.0, 37.0, 50.0, 100.0, 300.0, 354.0]


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_the_slope_of_tanh_keeps_relative_precision_in_its_tails(sign):
    fn = sg.compile(sg.tanh(x), wrt=[x])
    for point in TAILS:
        want = 1 / mpmath.cosh(mpmath.mpf(sign * point)) ** 2
        assert _agrees(fn(sign * point)[1][0], want), point


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_the_slope_of_sigmoid_keeps_relative_precision_in_its_tails(sign):
    fn = sg.compile(sg.sigmoid(x), wrt=[x])
    for point in [*TAILS, 700.0]:
        e = mpmath.exp(-abs(mpmath.mpf(point)))
        assert _agrees(fn(sign * point)[1][0], e / (1 + e) ** 2), point
