"""The slopes of tanh and sigmoid in their tails, against mpmath: symgrad's, and the textbook forms.

    python benchmarks/bench_precision.py

Prints one Markdown row per point: the relative error of symgrad's compiled derivative and of the
forms written from the function's value, ``1 - t*t`` and ``s*(1 - s)`` (what symgrad emitted
before), each against mpmath at 60 digits. A derivative that underflows where the true one does
not shows as 1 (all precision lost).
"""

from __future__ import annotations

import math
import os
import sys

import mpmath

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import symgrad as sg

POINTS = [1.0, 5.0, 10.0, 15.0, 20.0, 30.0, 37.0, 40.0, 100.0, 300.0]


def relative_error(got: float, want: mpmath.mpf) -> float:
    return float(abs(mpmath.mpf(got) - want) / abs(want))


def rows() -> list[tuple[float, float, float, float, float]]:
    """(x, tanh' symgrad, tanh' 1 - t*t, sigmoid' symgrad, sigmoid' s*(1 - s)) relative errors."""
    mpmath.mp.dps = 60
    x = sg.symbols("x")
    tanh_slope = sg.compile(sg.tanh(x), wrt=[x])
    sigmoid_slope = sg.compile(sg.sigmoid(x), wrt=[x])
    found = []
    for point in POINTS:
        exact_tanh = 1 / mpmath.cosh(mpmath.mpf(point)) ** 2
        e = mpmath.exp(-mpmath.mpf(point))
        exact_sigmoid = e / (1 + e) ** 2
        t, s = math.tanh(point), 1.0 / (1.0 + math.exp(-point))
        found.append((point,
                      relative_error(tanh_slope(point)[1][0], exact_tanh), relative_error(1.0 - t * t, exact_tanh),
                      relative_error(sigmoid_slope(point)[1][0], exact_sigmoid),
                      relative_error(s * (1.0 - s), exact_sigmoid)))
    return found


def main() -> None:
    print("| x | tanh'(x): symgrad | 1 - t*t | sigmoid'(x): symgrad | s*(1 - s) |")
    print("|---|---|---|---|---|")
    for point, *errors in rows():
        print(f"| {point:g} | " + " | ".join(f"{e:.1e}" for e in errors) + " |")


if __name__ == "__main__":
    main()
