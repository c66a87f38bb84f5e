import pytest

# Importing symgrad/__main__.py would run the CLI: keep doctest collection away from it.
collect_ignore = ["symgrad/__main__.py"]


@pytest.fixture(autouse=True)
def _forget_user_primitives():
    """Primitives a test (or doctest) registers with sg.primitive do not leak into the next one."""
    from symgrad import ops

    before = dict(ops._TABLE)
    yield
    ops._TABLE.clear()
    ops._TABLE.update(before)
