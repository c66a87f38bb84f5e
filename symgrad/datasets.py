"""Small data sets for demos and tests, in pure Python (no NumPy needed)."""

from __future__ import annotations

import math
import random


def make_moons(n_samples: int = 100, noise: float = 0.1, seed: int = 1337) -> tuple[list[list[float]], list[int]]:
    """Two interleaving half circles, as scikit-learn's ``make_moons`` draws them.

    Returns ``(X, y)``: ``n_samples`` points and labels 0/1. The outer moon
    is ``(cos t, sin t)``, the inner ``(1 - cos t, 0.5 - sin t)``, for ``t``
    evenly spaced in [0, π]; then the points are shuffled and Gaussian noise
    with standard deviation ``noise`` is added, all from ``random.Random(seed)``.
    """
    rng = random.Random(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    points: list[tuple[list[float], int]] = []
    for i in range(n_out):
        t = math.pi * i / max(n_out - 1, 1)
        points.append(([math.cos(t), math.sin(t)], 0))
    for i in range(n_in):
        t = math.pi * i / max(n_in - 1, 1)
        points.append(([1 - math.cos(t), 0.5 - math.sin(t)], 1))
    rng.shuffle(points)
    X = [[x + rng.gauss(0, noise), y + rng.gauss(0, noise)] for (x, y), _ in points]
    return X, [label for _, label in points]


def moons(n_samples: int = 100, noise: float = 0.1, seed: int = 1337) -> tuple[list[list[float]], list[int], str]:
    """micrograd's demo data: scikit-learn's make_moons if installed, else ours; labels -1/+1.

    Returns ``(X, y, source)`` where ``source`` says which generator made it.
    """
    try:
        from sklearn.datasets import make_moons as sklearn_moons
    except ImportError:
        X, y = make_moons(n_samples, noise, seed)
        source = f"symgrad.datasets.make_moons(seed={seed})"
    else:
        X_array, y_array = sklearn_moons(n_samples=n_samples, noise=noise, random_state=seed)
        X, y = X_array.tolist(), y_array.tolist()
        source = f"sklearn.datasets.make_moons(random_state={seed})"
    return X, [2 * label - 1 for label in y], source
