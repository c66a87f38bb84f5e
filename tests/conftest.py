import pytest

import symgrad as sg


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty compile cache and the default size."""
    sg.clear_cache()
    sg.set_cache_size(256)
    yield
    sg.clear_cache()
    sg.set_cache_size(256)
