"""The disk cache (symgrad.diskcache): a second level below the memory cache, whose entries a later
process finds; a corrupted, truncated or foreign entry is ignored and rewritten, never run."""

import os
import pickle
import re
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg
from symgrad import cachekey, chunks, diskcache, runtime
from symgrad.diskcache import CacheWarning

ROOT = Path(__file__).resolve().parent.parent


def _expression():
    x, y = sg.symbols("x y")
    return sg.tanh(x * y) + x**2 / y + sg.log(y), [x, y]


def _compile_twice(cache_dir, output, **options):
    """The function compiled into ``cache_dir``, and the one found there once memory is cleared."""
    first = sg.compile(output, cache_dir=cache_dir, **options)
    sg.clear_cache()
    return first, sg.compile(output, cache_dir=cache_dir, **options)


def _entries(directory):
    return sorted(Path(directory).iterdir())


def _restored(fn):
    return fn.stats.origin.startswith("disk cache")


def test_a_function_compiled_again_after_memory_is_cleared_comes_from_the_disk(tmp_path):
    f, wrt = _expression()
    first, again = _compile_twice(tmp_path, f, wrt=wrt)
    assert not _restored(first) and _restored(again)
    assert again.source == first.source and again(0.5, 2.0) == first(0.5, 2.0)
    assert [p.suffix for p in _entries(tmp_path)] == [".sgc"]  # one entry, no temporary file left


def test_the_stats_of_a_restored_function_say_where_it_came_from_and_how_long_each_step_took(tmp_path):
    f, wrt = _expression()
    first, again = _compile_twice(tmp_path, f, wrt=wrt)
    assert set(again.stats.seconds) == {"cache key", "disk read", "exec"}
    assert str(_entries(tmp_path)[0]) in again.stats.origin and "differentiate" in again.stats.origin
    assert "from                   disk cache" in again.report()
    assert (again.stats.forward_nodes, again.stats.lines) == (first.stats.forward_nodes, first.stats.lines)


def test_another_process_finds_the_entry_this_one_wrote(tmp_path):
    f, wrt = _expression()
    sg.compile(f, wrt=wrt, cache_dir=tmp_path)
    code = ("import symgrad as sg\nx, y = sg.symbols('x y')\n"
            f"fn = sg.compile(sg.tanh(x * y) + x**2 / y + sg.log(y), wrt=[x, y], cache_dir={str(tmp_path)!r})\n"
            "print(fn.stats.origin.startswith('disk cache'), fn(0.5, 2.0))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == f"True {sg.compile(f, wrt=wrt)(0.5, 2.0)}"


def test_a_function_already_in_memory_is_still_written_to_a_directory_asked_for(tmp_path):
    f, wrt = _expression()
    in_memory = sg.compile(f, wrt=wrt)
    written = sg.compile(f, wrt=wrt, cache_dir=tmp_path)
    assert written is not in_memory and len(_entries(tmp_path)) == 1
    assert sg.compile(f, wrt=wrt, cache_dir=tmp_path) is written


def test_the_environment_variable_names_the_directory(tmp_path, monkeypatch):
    monkeypatch.setenv(diskcache.ENVIRONMENT_VARIABLE, str(tmp_path))
    f, wrt = _expression()
    _, again = _compile_twice(None, f, wrt=wrt)
    assert _restored(again) and len(_entries(tmp_path)) == 1


def test_nothing_is_written_without_a_directory_or_with_cache_false(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f, wrt = _expression()
    sg.compile(f, wrt=wrt)
    sg.compile(f, wrt=wrt, cache_dir=tmp_path / "asked", cache=False)
    assert _entries(tmp_path) == []


def test_a_cache_dir_that_is_not_a_path_is_a_type_error():
    f, wrt = _expression()
    with pytest.raises(TypeError, match="cache_dir must be a path"):
        sg.compile(f, wrt=wrt, cache_dir=3)


# ---- what is in the key --------------------------------------------------------------------


def _digest(key):
    return cachekey.key_digest(key, "test")[0]


def test_equal_structure_gives_an_equal_key_and_any_difference_another():
    x, y = sg.symbols("x y")
    assert _digest((x * y + 1.0, (x, y))) == _digest((x * y + 1.0, (x, y)))
    different = [(x * y + 1, (x, y)), (x * y - 0.0, (x, y)), (x * y + 1.0, (y, x)), (y * x + 1.0, (x, y)),
                 (x * y + 1.0, ("x", "y")), (x * y + 1.0, (x, y), "g")]
    digests = {_digest(key) for key in [(x * y + 1.0, (x, y)), (x * y + 0.0, (x, y)), *different]}
    assert len(digests) == 2 + len(different)


def test_outputs_and_aux_values_are_told_apart():
    a, b, c = sg.symbols("a b c")
    three = sg.compile([a * b, b * c, a + c], wrt=[a, b, c])
    two_and_aux = sg.compile([a * b, b * c], aux=[a + c], wrt=[a, b, c])
    assert len(three(1.0, 2.0, 3.0)[0]) == 3 and len(two_and_aux(1.0, 2.0, 3.0)[0]) == 2


def test_a_graph_with_a_primitive_of_yours_is_not_written(tmp_path):
    x = sg.symbol("x")
    cube = sg.primitive("disk_cube", lambda v: v**3, derivative=lambda v: 3 * v**2, replace=True)
    sg.compile(cube(x), wrt=[x], cache_dir=tmp_path)
    assert _entries(tmp_path) == []


# ---- corrupted, truncated and foreign entries ---------------------------------------------------


def _written(tmp_path):
    """An entry written for ``_expression``, its path, and the function compiled from scratch."""
    f, wrt = _expression()
    fn = sg.compile(f, wrt=wrt, cache_dir=tmp_path)
    sg.clear_cache()
    [path] = _entries(tmp_path)
    return path, fn


def _compiled_over(path, tmp_path, fn, reason):
    """Compiling finds ``path`` bad (a warning naming ``reason``), compiles, and rewrites a good entry."""
    f, wrt = _expression()
    with pytest.warns(CacheWarning, match=reason):
        fresh = sg.compile(f, wrt=wrt, cache_dir=tmp_path)
    assert not _restored(fresh) and fresh(0.5, 2.0) == fn(0.5, 2.0)
    sg.clear_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _restored(sg.compile(f, wrt=wrt, cache_dir=tmp_path))
    sg.clear_cache()


def test_a_truncated_entry_is_ignored_and_rewritten(tmp_path):
    path, fn = _written(tmp_path)
    path.write_bytes(path.read_bytes()[:-100])
    _compiled_over(path, tmp_path, fn, "its payload is .* bytes, its header says")


def test_an_entry_with_a_byte_flipped_is_ignored_and_rewritten(tmp_path):
    path, fn = _written(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    _compiled_over(path, tmp_path, fn, "does not match its digest")


def test_a_payload_replaced_under_a_valid_header_is_never_run(tmp_path):
    path, fn = _written(tmp_path)
    header, _, payload = path.read_bytes().partition(b"\n")
    tampered = payload.replace(b"return value, (d_x, d_y)", b"return 42.0, (42.0, 4.2)")
    assert tampered != payload
    path.write_bytes(header + b"\n" + tampered)
    _compiled_over(path, tmp_path, fn, "does not match its digest")


def test_two_entries_swapped_are_both_ignored_and_rewritten(tmp_path):
    path, fn = _written(tmp_path)
    x = sg.symbol("x")
    sg.compile(sg.exp(x), wrt=[x], cache_dir=tmp_path)
    other = next(p for p in _entries(tmp_path) if p != path)
    first, second = path.read_bytes(), other.read_bytes()
    path.write_bytes(second)
    other.write_bytes(first)
    _compiled_over(path, tmp_path, fn, "another key's entry")


def test_an_entry_from_another_python_or_format_is_ignored_and_rewritten(tmp_path):
    path, fn = _written(tmp_path)
    header, _, payload = path.read_bytes().partition(b"\n")
    fields = header.split(b" ")
    path.write_bytes(b" ".join([*fields[:2], b"0d0d0d0a", *fields[3:]]) + b"\n" + payload)
    _compiled_over(path, tmp_path, fn, "another Python")
    path.write_bytes(b" ".join([b"symgrad-cache-0", *fields[1:]]) + b"\n" + payload)
    _compiled_over(path, tmp_path, fn, "not a symgrad cache entry of this format")


def test_an_entry_of_another_symgrad_version_is_neither_found_nor_used_in_its_place(tmp_path, monkeypatch):
    f, wrt = _expression()
    with monkeypatch.context() as patch:
        patch.setattr(cachekey, "_package_digest", lambda: "another version of symgrad's source")
        old = sg.compile(f, wrt=wrt, cache_dir=tmp_path)
    [stale] = _entries(tmp_path)
    sg.clear_cache()
    assert not _restored(sg.compile(f, wrt=wrt, cache_dir=tmp_path))
    [path] = [p for p in _entries(tmp_path) if p != stale]
    sg.clear_cache()
    path.write_bytes(stale.read_bytes())
    _compiled_over(path, tmp_path, old, "another key's entry")


def test_a_directory_others_may_write_to_is_refused_and_nothing_is_written(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    f, wrt = _expression()
    with pytest.warns(CacheWarning, match="it is writable by other users") as warned:
        fn = sg.compile(f, wrt=wrt, cache_dir=shared)
    assert warned[0].filename == __file__  # the warning points at the sg.compile call
    assert fn(0.5, 2.0)[0] == pytest.approx(sg.compile(f, wrt=wrt, cache=False)(0.5, 2.0)[0])
    assert _entries(shared) == []


def test_an_entry_others_may_write_to_is_ignored_and_rewritten(tmp_path):
    path, fn = _written(tmp_path)
    path.chmod(0o666)
    _compiled_over(path, tmp_path, fn, "it is writable by other users")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_directory_is_created_for_its_owner_alone(tmp_path):
    f, wrt = _expression()
    sg.compile(f, wrt=wrt, cache_dir=tmp_path / "new")
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to read-only directories")
def test_a_directory_that_cannot_be_written_still_compiles_with_a_warning(tmp_path):
    tmp_path.chmod(0o500)
    try:
        f, wrt = _expression()
        with pytest.warns(CacheWarning, match="cannot write"):
            fn = sg.compile(f, wrt=wrt, cache_dir=tmp_path)
        assert fn(0.5, 2.0) == sg.compile(f, wrt=wrt, cache=False)(0.5, 2.0)
    finally:
        tmp_path.chmod(0o700)


def test_a_failed_write_leaves_no_file_and_still_compiles(tmp_path, monkeypatch):
    def full_disk(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(diskcache.os, "replace", full_disk)
    f, wrt = _expression()
    with pytest.warns(CacheWarning, match="cannot write .*No space left"):
        fn = sg.compile(f, wrt=wrt, cache_dir=tmp_path)
    assert fn(0.5, 2.0) == sg.compile(f, wrt=wrt, cache=False)(0.5, 2.0) and _entries(tmp_path) == []


# ---- everything a restored function offers --------------------------------------------------


def test_a_restored_function_pickles_and_has_its_derived_expressions(tmp_path):
    f, wrt = _expression()
    first, again = _compile_twice(tmp_path, f, wrt=wrt)
    assert again.grad_exprs == first.grad_exprs and again.value_expr is first.value_expr
    assert sg.loads(pickle.dumps(again))(0.5, 2.0) == first(0.5, 2.0)
    assert again.forward(0.5, 2.0) == first(0.5, 2.0)[0]
    assert again.draw().source == first.draw().source


def test_verify_checks_the_function_the_disk_cache_restores(tmp_path, monkeypatch):
    monkeypatch.setenv(diskcache.ENVIRONMENT_VARIABLE, str(tmp_path))
    restored = []
    real = diskcache.DiskCache._restore
    monkeypatch.setattr(diskcache.DiskCache, "_restore", lambda *args: restored.append(real(*args)) or restored[-1])
    f, _ = _expression()
    assert sg.verify(f, points=3).ok and not restored
    sg.clear_cache()
    assert sg.verify(f, points=3).ok and len(restored) == 1


def test_a_restored_functions_domain_error_names_the_subexpression(tmp_path):
    f, wrt = _expression()
    _, again = _compile_twice(tmp_path, f, wrt=wrt)
    with pytest.raises(sg.EvaluationError, match=r"log failed .*\n  in the subexpression log\(y\)"):
        again(0.5, -1.0)


def test_a_restored_hessian_and_jacobian_match(tmp_path):
    x, y = sg.symbols("x y")
    for output, options in [(x**3 * y, {"order": 2}), ([x * y, sg.sin(x)], {})]:
        first, again = _compile_twice(tmp_path, output, wrt=[x, y], **options)
        assert _restored(again) and again(0.3, 1.5) == first(0.3, 1.5) and again.order == first.order


def test_a_restored_vectorised_function_falls_back_to_straight_line_code_on_a_domain_error(tmp_path):
    x = sg.vector("x", 1000)
    f = sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + sg.log(x[i]) for i in range(999))
    first, again = _compile_twice(tmp_path, f, wrt=x, strategy="vectorised")
    point = np.linspace(0.5, 1.5, 1000)
    assert _restored(again) and "v[" in again.source
    assert again(point)[0] == first(point)[0] and np.array_equal(again(point)[1], first(point)[1])
    point[7] = -1.0
    with pytest.raises(sg.EvaluationError, match=r"log\(x\[7\]\)"):
        again(point)


def test_a_restored_numpy_backend_function_computes_a_batch(tmp_path):
    x, y = sg.symbols("x y")
    first, again = _compile_twice(tmp_path, sg.exp(x) * y, wrt=[x], backend="numpy", batch=[y], reduce="mean")
    points = np.linspace(0.0, 1.0, 50)
    assert _restored(again) and again(0.5, points) == first(0.5, points)


def test_a_restored_chunked_function_has_its_chunks_and_line_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK_LINES", 20)
    monkeypatch.setattr(chunks, "CHUNK_FROM", 20)
    x0 = sg.symbol("x0")
    f = x0
    for step in range(120):
        f = sg.sin(f) * 1.01 + (sg.log(x0) if step == 60 else 0.1 * x0)
    first, again = _compile_twice(tmp_path, f, wrt=[x0])
    assert _restored(again) and again.source.count("\ndef _chunk") > 3
    assert again(0.7) == first(0.7)
    explained = []
    for fn in (first, again):
        with pytest.raises(sg.EvaluationError, match=r"in the subexpression log\(x0\)") as error:
            fn(-0.7)
        explained.append(re.sub(r":grad:\d+>", ">", str(error.value)))  # each process numbers its files
    assert explained[0] == explained[1]  # the same line, its number and its text


def test_a_restored_function_is_defined_from_its_code_objects_without_compiling_its_source(tmp_path, monkeypatch):
    f, wrt = _expression()
    first = sg.compile(f, wrt=wrt, cache_dir=tmp_path)
    sg.clear_cache()
    monkeypatch.setattr(sg.runtime, "_compile_each", lambda *args: pytest.fail("the source was compiled"))
    again = sg.compile(f, wrt=wrt, cache_dir=tmp_path)
    assert again(0.5, 2.0) == first(0.5, 2.0) and again.func.__code__.co_filename == again._program.filename


def test_a_function_is_restored_from_its_source_where_code_objects_were_not_stored(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "_CODES", False)
    f, wrt = _expression()
    first, again = _compile_twice(tmp_path, f, wrt=wrt)
    assert _restored(again) and again(0.5, 2.0) == first(0.5, 2.0)


def test_a_restored_batched_function_falls_back_to_the_straight_array_code_where_numpy_gives_nan(tmp_path):
    neurons, features = 12, 5
    W, c, x, t = sg.matrix("W", neurons, features), sg.vector("c", neurons), sg.vector("x", features), sg.symbol("t")
    loss = sum(sg.log(sum((W[j, i] * x[i] for i in range(features)), c[j])) * t for j in range(neurons))
    first, again = _compile_twice(tmp_path, loss, wrt=[W, c], args=[W, c, x, t], backend="numpy", batch=[x, t],
                                  reduce="mean", strategy="vectorised")
    rng = np.random.default_rng(0)
    weights, biases = rng.uniform(0.1, 1, (neurons, features)), np.full(neurons, 1.0)
    samples, targets = rng.uniform(0, 1, (40, features)), rng.uniform(-1, 1, 40)
    assert _restored(again) and "_load(" in again.source
    assert np.array_equal(again(weights, biases, samples, targets)[0], first(weights, biases, samples, targets)[0])
    biases[3] = -100.0  # a log of a negative number: NumPy's nan, then the straight array code's answer
    with np.errstate(all="ignore"):
        assert np.isnan(again(weights, biases, samples, targets)[0]) and np.isnan(first(weights, biases, samples,
                                                                                            targets)[0])


def test_a_restored_function_keeps_its_rewrites_option(tmp_path):
    x, y = sg.symbols("x y")
    first, again = _compile_twice(tmp_path, (x + y) - y, wrt=[x, y], rewrites="exact")
    assert _restored(again) and again._options.rewrites == first._options.rewrites == "exact"
    assert pickle.loads(pickle.dumps(again))._options.rewrites == "exact"
