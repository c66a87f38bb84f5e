"""What the tests of large NumPy batches share (their fixtures are in conftest.py)."""

import numpy as np


def assert_same(got, want):
    """``got`` has ``want``'s structure (tuples of arrays) and values, to the last bits."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, v in zip(got, want):
            assert_same(g, v)
    else:
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
