"""Optional dependencies, imported on first use: a missing one is an ImportError that names the
extra of ``pip install 'symgrad[...]'`` that installs it. One table says which extra has which module.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import NamedTuple


class Extra(NamedTuple):
    distribution: str  # what pip installs it by
    extra: str  # the extra of pyproject.toml that lists it


# Every optional module symgrad (or one of its examples) imports, by its top-level name.
EXTRAS: dict[str, Extra] = {
    "numpy": Extra("numpy", "numpy"),
    "array_api_compat": Extra("array-api-compat", "numpy"),
    "scipy": Extra("scipy", "scipy"),
    "matplotlib": Extra("matplotlib", "plot"),
    "pygments": Extra("pygments", "highlight"),
    "dask": Extra("dask", "dask"),
    "distributed": Extra("dask[distributed]", "dask"),  # dask.distributed
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` (one of EXTRAS or a submodule of one) for ``purpose``, or raise an
    ImportError saying which extra to install.

    >>> require("numpy", "arrays of symbols").__name__
    'numpy'
    """
    if module.partition(".")[0] not in EXTRAS:
        raise ValueError(f"{module!r} is not an optional dependency of symgrad: add it to EXTRAS")
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = (error.name or module).partition(".")[0]
        if missing not in EXTRAS:
            raise  # something else the module imports is missing: its own message says what
        needed = EXTRAS[missing]
        raise ImportError(f"{purpose} needs {needed.distribution}: pip install 'symgrad[{needed.extra}]'",
                          name=missing) from error
