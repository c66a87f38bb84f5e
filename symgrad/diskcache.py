"""The compile cache's second level: compiled functions kept in a directory, across processes.

``sg.compile(..., cache_dir=d)`` (or ``SYMGRAD_CACHE_DIR``) looks a graph up in memory, then here.
An entry holds the generated source, its code objects (same magic number only), the helpers'
data, the derived graph (rebuilt when first asked for) and the stats, under a SHA-256 of the
graph's structure, the options, symgrad's version and source, and the interpreter
(``symgrad.cachekey``). Its header (format, full key, magic, payload digest and length) is
checked before anything is read; a bad entry is ignored (``CacheWarning``) and rewritten. The
digest has no secret: it detects corruption, not a malicious writer, so the directory must be
the user's alone (README, "Persistent cache").
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
import marshal
import os
import stat
import sys
import tempfile
import threading
import time
import types
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from symgrad.cachekey import MAGIC, PACKAGE_DIR, columns, key_digest
from symgrad.codegen import Emitted
from symgrad.core import by_name
from symgrad.expr import Expr, rebuild_graph, topological_order
from symgrad.pipeline import CompileStats, Derived, LazyDerived, Options
from symgrad.reverse_groups import derive_later
from symgrad.runtime import code_installer, code_objects, needs_fallback, run
from symgrad.settings import no_gc_pauses
from symgrad.shapes import Parameter, flat
from symgrad.simplify import RewriteStats

ENVIRONMENT_VARIABLE = "SYMGRAD_CACHE_DIR"
_FORMAT = b"symgrad-cache-1"
_SUFFIX = ".sgc"


class CacheWarning(UserWarning):
    """The disk cache could not be used as asked (a directory refused, an entry ignored or not written)."""


def _warn(message: str) -> None:
    """Warn, pointing at the caller's line outside symgrad (the ``sg.compile`` call)."""
    frame: types.FrameType | None = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, CacheWarning, stacklevel=level)


# ---- the directory ----------------------------------------------------------------------------


def directory_for(cache_dir: str | os.PathLike[str] | None) -> str | None:
    """The directory asked for: ``cache_dir``, else ``SYMGRAD_CACHE_DIR``, else None (no disk cache)."""
    if cache_dir is None:
        cache_dir = os.environ.get(ENVIRONMENT_VARIABLE) or None
        if cache_dir is None:
            return None
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a path (str or os.PathLike), got {type(cache_dir).__name__}")
    return os.path.abspath(os.fsdecode(cache_dir))


def _foreign(found: os.stat_result) -> str | None:
    """Whether a file or directory is another user's to write (as ssh and pip refuse theirs).
    Not checked on Windows, whose permissions are ACLs that mode bits do not show."""
    if os.name == "nt":
        return None
    if found.st_uid != os.geteuid():
        return f"owned by another user (uid {found.st_uid})"
    if found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"writable by other users (mode {stat.filemode(found.st_mode)})"
    return None


def refusal(directory: str) -> str | None:
    """Why ``directory`` may not hold executable entries (None: it may), creating it (mode 0o700) if
    missing. Code read from it is run, so it must be the user's own, writable by nobody else."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        found = os.stat(directory)
    except OSError as error:
        return f"it cannot be created or read ({error.strerror})"
    if not stat.S_ISDIR(found.st_mode):
        return "it is not a directory"
    foreign = _foreign(found)
    return None if foreign is None else f"it is {foreign}; chmod go-w it if it is yours alone"


# ---- entries: a checked header, then the payload ----------------------------------------------


def _header(digest: str, payload: bytes) -> bytes:  # what checked_payload checks
    return b" ".join([_FORMAT, digest.encode(), MAGIC, hashlib.sha256(payload).hexdigest().encode(),
                      str(len(payload)).encode()]) + b"\n"


def checked_payload(data: bytes, digest: str) -> bytes:
    """The payload of an entry's bytes, after checking its header against ``digest`` and its
    own bytes; a ValueError says what is wrong."""
    line, _, payload = data.partition(b"\n")
    fields = line.split(b" ")
    if len(fields) != 5 or fields[0] != _FORMAT:
        raise ValueError("not a symgrad cache entry of this format")
    if fields[1] != digest.encode():
        raise ValueError("it holds another key's entry")
    if fields[2] != MAGIC:
        raise ValueError("it was written by another Python (magic number)")
    if not fields[4].isdigit() or int(fields[4]) != len(payload):
        raise ValueError(f"its payload is {len(payload)} bytes, its header says {fields[4].decode(errors='replace')}")
    if hashlib.sha256(payload).hexdigest().encode() != fields[3]:
        raise ValueError("its payload does not match its digest")
    return payload


def write_atomically(path: str, data: bytes) -> None:
    """``data`` as the file ``path``: written to a temporary file beside it, then renamed over it,
    so a reader finds the old entry or the new one, never a part."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=_SUFFIX)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# ---- a compiled function as plain data, and back ----------------------------------------------


def _plain_stats(stats: CompileStats) -> dict[str, Any]:
    fields = dataclasses.asdict(stats)
    fields["rewrites"]["identities"] = dict(stats.rewrites.identities)
    return fields


def _stats_of(fields: dict[str, Any], origin: str, seconds: dict[str, float]) -> CompileStats:
    rewrites = dict(fields["rewrites"])
    rewrites["identities"] = Counter(rewrites["identities"])
    found = {**fields, "rewrites": RewriteStats(**rewrites), "seconds": seconds, "origin": origin}
    return CompileStats(**found)


def payload_of(fn: Any, order: list[Expr], index: dict[Expr, int]) -> bytes:
    """The entry's payload for the compiled function ``fn``; ``order`` and ``index`` are its key's
    nodes and their numbers (the derived graph's other nodes are numbered on, in ``index``)."""
    derived: Derived = fn._derived
    flat_derived = derived.flat() if derived.made else []  # (a graph the code did without is made on load)
    tail = topological_order(flat_derived, prefix=order)[len(order):]
    index.update(zip(tail, itertools.count(len(order))))
    program, options = fn._program, fn._options
    emitted: Emitted = program.emitted
    spec = {k: v for k, v in (program.helper_spec or {}).items() if k != "fallback"}
    lines = list(emitted.line_nodes)
    from_key = [*fn.outputs, *flat(fn.parameters), *flat(fn.wrt_parameters), *options.batch]
    if any(index[node] >= len(order) for node in from_key):
        raise ValueError("an output or a parameter is not a node of the key")
    state = {
        "emitted": (emitted.source, emitted.function_name, list(emitted.param_names), sorted(emitted.namespace_names),
                    emitted.shared, emitted.backend, list(emitted.symbol_names), list(emitted.scalar_names)),
        "line_nodes": (lines, [index[emitted.line_nodes[k]] for k in lines]),
        "helpers": spec, "codes": code_objects(program),
        "outputs": [index[o] for o in fn.outputs],
        "params": [(p.name, p.shape, [index[e] for e in p.elements]) for p in fn.parameters],
        "wrt": [(p.name, p.shape, [index[e] for e in p.elements]) for p in fn.wrt_parameters],
        "options": (options.name, options.annotate, options.outputs, options.backend, options.reduce,
                    tuple(options.output_shape), options.bare_gradient, options.strategy,
                    [index[b] for b in options.batch], options.rewrites),
        "derived": (columns(tail, index), [index[e] for e in flat_derived], len(derived.values),
                    len(fn.wrt), derived.hessian is not None) if derived.made else None,
        "stats": _plain_stats(fn.stats),
    }
    return marshal.dumps(state)


class _Graph:
    """The derived graph of a restored function: its key's nodes, then the stored records,
    rebuilt (and checked, as a pickle's are) when first needed."""

    def __init__(self, order: list[Expr], columns: tuple[list[str], list[Any], list[int]]) -> None:
        self._order, self._columns = order, columns
        self._nodes: list[Expr] | None = None
        self._lock = threading.Lock()

    def nodes(self) -> list[Expr]:
        with self._lock:
            if self._nodes is None:
                names, params, args = self._columns
                records, at = [], 0
                for name, param in zip(names, params):
                    arity = by_name(name).arity
                    records.append((name, param, tuple(args[at:at + arity])))
                    at += arity
                known = len(self._order)
                with no_gc_pauses():
                    found = rebuild_graph(records, list(range(known, known + len(records))), prefix=self._order)
                self._nodes, self._columns = [*self._order, *found], ([], [], [])
            return self._nodes


class _LineNodes(Mapping[int, Expr]):
    """Line number -> the node assigned there, for a restored function's error messages."""

    def __init__(self, graph: _Graph, lines: list[int], ids: list[int]) -> None:
        self._graph, self._lines, self._ids = graph, lines, ids
        self._found: dict[int, Expr] | None = None

    def _mapping(self) -> dict[int, Expr]:
        if self._found is None:
            nodes = self._graph.nodes()
            self._found = {line: nodes[i] for line, i in zip(self._lines, self._ids)}
        return self._found

    def __getitem__(self, line: int) -> Expr:
        return self._mapping()[line]

    def __iter__(self) -> Iterator[int]:
        return iter(self._mapping())

    def __len__(self) -> int:
        return len(self._lines)


_FIELDS: dict[str, type | tuple[type, ...]] = {  # an entry's payload: its fields and their types
    "emitted": tuple, "line_nodes": tuple, "helpers": dict, "codes": (dict, type(None)), "outputs": list,
    "params": list, "wrt": list, "options": tuple, "derived": (tuple, type(None)), "stats": dict}


class DiskCache:
    """Entries in ``directory`` (already checked by ``refusal``), as a level below the memory cache.

    ``build`` makes a compiled function of its parts (``CompiledFunction``); ``straight`` the
    straight-line fallback function of a vectorised one (``symgrad.compiler``'s)."""

    def __init__(self, directory: str, version: str, build: Callable[..., Any],
                 straight: Callable[..., Callable[..., Any]]) -> None:
        self.directory, self.version = directory, version
        self._build, self._straight = build, straight

    def through(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """The function stored under ``key``, else ``make()``, stored."""
        clock = time.perf_counter()
        found = key_digest(key, self.version)
        if found is None:
            return make()
        digest, order, index = found
        key_seconds = time.perf_counter() - clock
        path = os.path.join(self.directory, digest + _SUFFIX)
        restored = self._read(path, digest, order, key_seconds)
        if restored is not None:
            return restored
        made = make()
        self._write(path, digest, made, order, index)
        return made

    def _read(self, path: str, digest: str, order: list[Expr], key_seconds: float) -> Any:
        clock = time.perf_counter()
        try:
            with open(path, "rb") as file:
                data, mode = file.read(), os.fstat(file.fileno())
        except FileNotFoundError:
            return None
        except OSError as error:
            _warn(f"symgrad's disk cache: cannot read {path} ({error.strerror}); compiling")
            return None
        try:
            foreign = _foreign(mode)  # the directory was checked; a file in it is checked as it is read
            if foreign is not None:
                raise ValueError(f"it is {foreign}")
            state = marshal.loads(checked_payload(data, digest))
            if type(state) is not dict or any(not isinstance(state.get(k), t) for k, t in _FIELDS.items()):
                raise ValueError("its payload is not a compiled function's")
            seconds = {"cache key": key_seconds, "disk read": time.perf_counter() - clock}
            return self._restore(state, order, seconds, path)
        except (ValueError, TypeError, IndexError, KeyError, EOFError) as error:
            _warn(f"symgrad's disk cache: ignoring {path}: {error}; compiling and rewriting it")
            return None

    def _write(self, path: str, digest: str, fn: Any, order: list[Expr], index: dict[Expr, int]) -> None:
        try:
            payload = payload_of(fn, order, index)
            write_atomically(path, _header(digest, payload) + payload)
        except (OSError, ValueError) as error:
            reason = error.strerror if isinstance(error, OSError) else error
            _warn(f"symgrad's disk cache: cannot write {path} ({reason}); the function is not cached")

    def _restore(self, state: dict[str, Any], order: list[Expr], seconds: dict[str, float], path: str) -> Any:
        outputs = [order[i] for i in state["outputs"]]
        params, wrt = ([Parameter(p, tuple(shape), tuple(map(order.__getitem__, ids))) for p, shape, ids in state[k]]
                       for k in ("params", "wrt"))
        f_name, annotate, form, f_backend, reduce, output_shape, bare, strategy, batch, rewrites = state["options"]
        graph = _Graph(order, ([], [], []) if state["derived"] is None else state["derived"][0])
        source, name, param_names, namespace_names, shared, backend, symbol_names, scalar_names = state["emitted"]
        emitted = Emitted(source, name, param_names, set(namespace_names), _LineNodes(graph, *state["line_nodes"]),
                          shared, backend, symbol_names, scalar_names)
        options = Options(f_name, annotate, form, f_backend, [order[i] for i in batch], reduce, tuple(output_shape),
                          bare, strategy, rewrites)
        spec = dict(state["helpers"])
        derived: LazyDerived  # (made below, once the stats it reports into exist)
        if needs_fallback(spec):
            spec["fallback"] = lambda: self._straight(outputs, derived, wrt, params, options, derived.full_order())
        clock = time.perf_counter()
        codes = state["codes"]
        define = {} if codes is None else {"define": code_installer(codes)}
        program = run(emitted, flat(params), "grad", spec, **define)
        seconds["exec"] = time.perf_counter() - clock
        first = ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in state["stats"]["seconds"].items())
        stats = _stats_of(state["stats"], f"disk cache, {path} (compiled first in: {first})", seconds)
        if state["derived"] is None:  # the code did without it: derived from the outputs when first read
            derived = LazyDerived(functools.partial(derive_later, outputs, [], flat(wrt), rewrites, stats), 1, aux=[])
        else:
            roots, n_values, n_wrt, hessian = state["derived"][1:]
            derived = LazyDerived(lambda: Derived.unflatten([graph.nodes()[i] for i in roots], n_values, n_wrt,
                                                            hessian), 2 if hessian else 1)
        return self._build(outputs, derived, wrt, params, program, stats, options)


_levels: dict[str, DiskCache | None] = {}
_levels_lock = threading.Lock()


def level(cache_dir: str | os.PathLike[str] | None, version: str, build: Callable[..., Any],
          straight: Callable[..., Callable[..., Any]]) -> DiskCache | None:
    """The disk level for ``cache_dir`` (or ``SYMGRAD_CACHE_DIR``): None if neither is given, or
    if the directory is refused (said once per process, with a ``CacheWarning``)."""
    directory = directory_for(cache_dir)
    if directory is None:
        return None
    with _levels_lock:
        if directory not in _levels:
            reason = refusal(directory)
            if reason is not None:
                _warn(f"symgrad's disk cache: not using {directory}: {reason}")
            _levels[directory] = None if reason is not None else DiskCache(directory, version, build, straight)
        return _levels[directory]
