import pytest

import symgrad as sg


@pytest.fixture(autouse=True)
def no_cache_directory(monkeypatch):
    """No test writes to a disk cache named in the environment (tests/test_disk_cache.py names its own)."""
    monkeypatch.delenv("SYMGRAD_CACHE_DIR", raising=False)


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty compile cache and the default size."""
    sg.clear_cache()
    sg.set_cache_size(256)
    yield
    sg.clear_cache()
    sg.set_cache_size(256)


# ---- large NumPy batches in blocks (tests/test_numpy_backend.py, tests/test_array_batch.py) ----


@pytest.fixture
def blocks_of_100(monkeypatch):
    """Blocks of 100 elements (1000-sample batches run as 10 blocks); the bounds each call used."""
    monkeypatch.setattr(sg.arrays, "BLOCK_ELEMENTS", 100)
    seen: list[list[tuple[int, int]]] = []
    real = sg.arrays._map_blocks

    def recording(compute, bounds):
        seen.append(list(bounds))
        return real(compute, bounds)

    monkeypatch.setattr(sg.arrays, "_map_blocks", recording)
    return seen


@pytest.fixture(params=[1, 2], ids=["one thread", "two threads"])
def threads(request):
    previous = sg.set_threads(request.param)
    yield request.param
    sg.set_threads(previous)


@pytest.fixture
def whole_batch():
    """``whole_batch(fn, *args, **kwargs)``: ``fn`` on the whole batch at once, as if blocks did not exist."""

    def whole(fn, *args, **kwargs):
        previous = sg.arrays.BLOCK_ELEMENTS
        sg.arrays.BLOCK_ELEMENTS = 10**9
        try:
            return fn(*args, **kwargs)
        finally:
            sg.arrays.BLOCK_ELEMENTS = previous

    return whole
