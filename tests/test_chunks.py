"""A long body is emitted in chunks, compiled one at a time (symgrad.chunks): same values, same
explained errors, same pickling; small functions are untouched."""

import linecache
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symgrad as sg
from benchmarks.tasks import chain_expression
from symgrad import chunks

CHUNK = 50  # lines: small enough to cut a chain of a few hundred nodes into many chunks


def _chain(depth, name="x0"):
    x0 = sg.symbol(name)
    return x0, chain_expression(x0, depth, sg.sin)


@pytest.fixture
def small_chunks(monkeypatch):
    sg.clear_cache()  # a function compiled before would be found again, unchunked
    monkeypatch.setattr(chunks, "CHUNK_LINES", CHUNK)
    monkeypatch.setattr(chunks, "CHUNK_FROM", CHUNK)
    yield
    sg.clear_cache()


def test_a_chunked_chain_gives_the_unchunked_value_and_gradient_bit_for_bit(monkeypatch):
    x0, expr = _chain(400)
    whole = sg.compile(expr, wrt=[x0])
    assert "_chunk" not in whole.source
    sg.clear_cache()
    monkeypatch.setattr(chunks, "CHUNK_LINES", CHUNK)
    monkeypatch.setattr(chunks, "CHUNK_FROM", CHUNK)
    cut = sg.compile(expr, wrt=[x0])
    sg.clear_cache()
    assert cut.source.count("\ndef _chunk") > 10
    for value in (0.3, -1.7, 2.0):
        assert cut(value) == whole(value)
        assert cut.forward(value) == whole.forward(value)


def test_an_error_in_a_middle_chunk_names_the_subexpression_the_line_and_the_inputs(small_chunks):
    x0, expr = _chain(100)
    fn = sg.compile(sg.log(expr) * expr + sg.sqrt(expr), wrt=[x0])
    # x = sin(x) * 1.01 + 0.1 * x0 goes negative: its log fails in a chunk past the first
    with pytest.raises(sg.EvaluationError) as caught:
        fn(-2.0)
    message = str(caught.value)
    assert message.startswith("log failed (ValueError: math domain error)") \
        or message.startswith("sqrt failed (ValueError: math domain error)")
    assert "in the subexpression" in message and "* sin(" in message
    assert "with inputs x0=-2.0" in message
    lineno = int(message.split("at line ", 1)[1].split(" ", 1)[0])
    line = fn.source.splitlines()[lineno - 1]
    assert line.strip() in message
    chunk_name = [s for s in fn.source.splitlines()[:lineno] if s.startswith("def ")][-1]
    assert chunk_name.startswith("def _chunk") and not chunk_name.startswith("def _chunk0(")


def test_an_error_traceback_shows_the_chunk_line(small_chunks):
    x0, expr = _chain(100)
    fn = sg.compile(1.0 / (expr - expr), wrt=[x0], rewrites="exact")  # exact: x - x is not 0
    with pytest.raises(sg.EvaluationError) as caught:
        fn(0.5)
    cause = caught.value.__cause__
    assert isinstance(cause, ZeroDivisionError)
    tb = cause.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    shown = linecache.getline(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
    assert tb.tb_frame.f_code.co_name.startswith("_chunk")
    assert " / " in shown and shown == fn.source.splitlines(True)[tb.tb_lineno - 1]


def test_a_chunked_function_pickles_and_runs_again(small_chunks):
    x0, expr = _chain(200)
    fn = sg.compile(expr, wrt=[x0])
    assert "_chunk" in fn.source
    again = pickle.loads(pickle.dumps(fn))
    assert again.source == fn.source
    assert again(0.4) == fn(0.4)


def test_a_small_function_is_not_chunked_and_its_source_is_unchanged():
    x, y = sg.symbols("x y")
    fn = sg.compile(sg.tanh(x * y) + x**2 / y, wrt=[x, y])
    assert "_chunk" not in fn.source and fn.source.count("\ndef ") == 0
    x0, expr = _chain(300)
    assert len(sg.compile(expr, wrt=[x0]).source.splitlines()) < chunks.CHUNK_FROM
    assert "_chunk" not in sg.compile(expr, wrt=[x0]).source


def test_the_numpy_backend_is_chunked_too(small_chunks):
    x0, expr = _chain(150)
    fn = sg.compile(expr, wrt=[x0], backend="numpy")
    assert "_chunk" in fn.source
    sg.clear_cache()
    chunks.CHUNK_FROM = 10**9
    whole = sg.compile(expr, wrt=[x0], backend="numpy")
    assert "_chunk" not in whole.source
    points = np.linspace(-2.0, 2.0, 7)
    value, (grad,) = fn(points)
    value_whole, (grad_whole,) = whole(points)
    assert np.array_equal(value, value_whole) and np.array_equal(grad, grad_whole)
    scalar = fn(0.25)
    assert scalar == whole(0.25)


def test_the_numpy_backend_explains_an_error_in_a_chunk(small_chunks):
    x0, expr = _chain(100)
    fn = sg.compile(sg.log(expr), wrt=[x0], backend="numpy")
    assert "_chunk" in fn.source
    with np.errstate(all="raise"), pytest.raises(sg.EvaluationError, match=r"log failed") as caught:
        fn(np.array([-2.0, -1.5]))
    assert "in the subexpression log(" in str(caught.value) and "* sin(" in str(caught.value)
    assert "with inputs x0=array(" in str(caught.value)


def test_array_parameters_are_passed_to_the_chunks_that_read_them(small_chunks):
    v = sg.vector("v", 40)
    expr = sum(sg.sin(v[i]) * v[(i + 1) % 40] for i in range(40))
    for _ in range(4):
        expr = sg.sin(expr) * 1.01 + 0.1 * v[3]
    fn = sg.compile(expr, wrt=v)
    assert "_chunk" in fn.source
    sg.clear_cache()
    chunks.CHUNK_FROM = 10**9
    whole = sg.compile(expr, wrt=v)
    point = np.linspace(-1.0, 1.0, 40)
    value, grad = fn(point)
    value_whole, grad_whole = whole(point)
    assert value == value_whole and np.array_equal(grad, grad_whole)


_MEASURE = """
import resource, sys, time
import symgrad as sg
from benchmarks.tasks import chain_expression
x0 = sg.symbol("x0")
fn = sg.compile(chain_expression(x0, int(sys.argv[1]), sg.sin), wrt=[x0], strategy="straight")
assert "_chunk" in fn.source
print(fn(0.3)[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
def test_a_chain_of_a_hundred_thousand_nodes_is_chunked_in_bounded_memory():
    out = subprocess.run([sys.executable, "-c", _MEASURE, "100000"], capture_output=True, text=True, check=True,
                         cwd=str(Path(__file__).parents[1]))
    value, peak_kib = out.stdout.split()
    assert float(value) == pytest.approx(0.601730913511047, abs=1e-12)
    assert int(peak_kib) < 1_000_000  # under 1 GB (4.5x less than one function took)


def test_the_line_map_of_a_chunked_function_holds_exactly_its_assignment_lines(small_chunks):
    x0, expr = _chain(100)
    fn = sg.compile(expr, wrt=[x0])
    emitted = fn._program.emitted
    lines = fn.source.splitlines()
    mapped = set(emitted.line_nodes)
    assert len(mapped) == len(emitted.line_nodes) > 100
    for lineno in mapped:  # each names the node its line assigns
        assert lines[lineno - 1].split()[1] in ("=", "*=", "+=", "-=", "/=")
    assert not any(lines[n - 1].lstrip().startswith(("def ", "#", "return")) for n in mapped)
    with pytest.raises(KeyError):
        emitted.line_nodes[1]  # the def line
