"""backend="numpy" with arrays of symbols as parameters: a weight matrix, a bias vector and a
batch of sample vectors, each one argument; and compile_loss's one parameter vector."""

import pickle
import random

import numpy as np
import pytest

import symgrad as sg
from symgrad.nn import MLP
from tests.batches import assert_same

W = sg.matrix("W", 2, 3)
B = sg.vector("b", 2)
U = sg.vector("u", 3)
T = sg.symbol("t")
LOSS = ((sg.tanh(W @ U + B) - T) ** 2).sum()  # a layer's squared error on one sample u with target t
ARGS = [W, B, U, T]

RNG = np.random.default_rng(7)
W_VALUE, B_VALUE = RNG.normal(size=(2, 3)), RNG.normal(size=2)
SAMPLES, TARGETS = RNG.normal(size=(40, 3)), RNG.normal(size=40)


def _scalar_formulation():
    """The same loss over one scalar symbol per element, compiled for one sample at a time."""
    w = [[sg.symbol(f"w{i}{j}") for j in range(3)] for i in range(2)]
    b = [sg.symbol(f"b{i}") for i in range(2)]
    u = [sg.symbol(f"u{k}") for k in range(3)]
    t = sg.symbol("t")
    loss = sum((sg.tanh(sum(w[i][j] * u[j] for j in range(3)) + b[i]) - t) ** 2 for i in range(2))
    wrt = [*w[0], *w[1], *b, *u]
    return sg.compile(loss, wrt=wrt, args=[*wrt, t])


def _per_sample():
    """Values (N,) and gradients by W (N, 2, 3), b (N, 2), u (N, 3), sample by sample in scalar code."""
    fn = _scalar_formulation()
    rows = [fn(*W_VALUE.ravel(), *B_VALUE, *sample, target) for sample, target in zip(SAMPLES, TARGETS)]
    grads = np.array([g for _, g in rows])
    return np.array([v for v, _ in rows]), grads[:, :6].reshape(-1, 2, 3), grads[:, 6:8], grads[:, 8:]


def _compiled(**options):
    return sg.compile(LOSS, wrt=[W, B, U], args=ARGS, backend="numpy", batch=[U, T], **options)


def test_per_sample_values_and_gradients_equal_the_scalar_formulation_sample_by_sample():
    value, (g_w, g_b, g_u) = _compiled()(W_VALUE, B_VALUE, SAMPLES, TARGETS)
    want = _per_sample()
    for got, expected in zip((value, g_w, g_b, g_u), want):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_reduced_value_and_gradients_equal_the_scalar_formulation_summed_or_averaged(reduce):
    value, (g_w, g_b, g_u) = _compiled(reduce=reduce)(W_VALUE, B_VALUE, SAMPLES, TARGETS)
    values, w_grads, b_grads, u_grads = _per_sample()
    scale = 1.0 if reduce == "sum" else 1.0 / len(SAMPLES)
    np.testing.assert_allclose(value, values.sum() * scale, rtol=1e-12)
    np.testing.assert_allclose(g_w, w_grads.sum(axis=0) * scale, rtol=1e-12)
    np.testing.assert_allclose(g_b, b_grads.sum(axis=0) * scale, rtol=1e-12)
    np.testing.assert_allclose(g_u, u_grads * scale, rtol=1e-12)  # a batch input's gradient stays per sample


@pytest.mark.parametrize(("reduce", "shapes"), [
    (None, [(40, 2, 3), (40, 2), (40, 3)]),  # per sample: the batch's shape, then each parameter's
    ("sum", [(2, 3), (2,), (40, 3)]),  # reduced: each parameter's value's shape
    ("mean", [(2, 3), (2,), (40, 3)]),
])
def test_gradients_have_the_shape_of_the_parameters_values(reduce, shapes):
    value, grads = _compiled(reduce=reduce)(W_VALUE, B_VALUE, SAMPLES, TARGETS)
    assert np.shape(value) == ((40,) if reduce is None else ())
    assert [g.shape for g in grads] == shapes


@pytest.mark.parametrize(("reduce", "w_shape"), [(None, (4, 40, 2, 3)), ("sum", (4, 1, 2, 3))])
def test_a_weight_with_leading_dims_of_its_own_broadcasts_against_the_batch(reduce, w_shape):
    candidates = RNG.normal(size=(4, 1, 2, 3))  # four candidate weight matrices, against 40 samples
    fn = _compiled(reduce=reduce)
    value, (g_w, _, _) = fn(candidates, B_VALUE, SAMPLES, TARGETS)
    assert g_w.shape == w_shape
    each = [fn(c[0], B_VALUE, SAMPLES, TARGETS) for c in candidates]  # one candidate at a time
    if reduce is None:
        np.testing.assert_allclose(value, [v for v, _ in each], rtol=1e-12)
        np.testing.assert_allclose(g_w, [g for _, (g, _, _) in each], rtol=1e-12)
    else:  # the sum over candidates and samples; each candidate's gradient its own
        np.testing.assert_allclose(value, sum(v for v, _ in each), rtol=1e-12)
        np.testing.assert_allclose(g_w[:, 0], [g for _, (g, _, _) in each], rtol=1e-12)


@pytest.mark.parametrize(("position", "name", "bad", "want"), [
    (2, "u", np.ones((40, 2)), r"argument 'u' must have shape \(\.\.\., 3\) .* got shape \(40, 2\)"),
    (0, "W", np.ones((3, 2)), r"argument 'W' must have shape \(\.\.\., 2, 3\) .* got shape \(3, 2\)"),
    (1, "b", 0.5, r"argument 'b' must have shape \(\.\.\., 2\) .* got shape \(\)"),
])
def test_a_value_whose_trailing_dims_are_not_the_parameters_shape_is_an_error_naming_it(position, name, bad, want):
    args = [W_VALUE, B_VALUE, SAMPLES, TARGETS]
    args[position] = bad
    with pytest.raises(ValueError, match=want):
        _compiled(reduce="mean")(*args)


def test_lists_are_values_of_array_parameters():
    fn = _compiled(reduce="sum")
    got = fn(W_VALUE.tolist(), B_VALUE.tolist(), SAMPLES.tolist(), TARGETS.tolist())
    want = fn(W_VALUE, B_VALUE, SAMPLES, TARGETS)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-15)
    for g, h in zip(got[1], want[1]):
        np.testing.assert_allclose(g, h, rtol=1e-15)


@pytest.mark.parametrize("batch", [[U, T], ["u", "t"], "u t", [U[0], T], ["u[2]", "t"]],
                         ids=["the array", "its name", "one string", "an element", "an element's name"])
def test_batch_takes_an_array_its_name_or_one_of_its_elements_for_the_whole_array(batch):
    fn = sg.compile(LOSS, wrt=[W, B], args=ARGS, backend="numpy", batch=batch, reduce="sum")
    assert set(fn.batch) == {*U, T}
    assert "batch_shape = _batch_shape(xp, u_0, t)" in fn.source


def test_one_array_as_wrt_gives_its_gradient_alone_as_scalar_code_does():
    array_code = sg.compile(LOSS, wrt=W, args=ARGS, backend="numpy", batch=[U, T], reduce="sum")
    _, g_w = array_code(W_VALUE, B_VALUE, SAMPLES, TARGETS)
    scalar_code = sg.compile(LOSS, wrt=W, args=ARGS)
    want = sum(scalar_code(W_VALUE, B_VALUE, s, t)[1] for s, t in zip(SAMPLES, TARGETS))
    np.testing.assert_allclose(g_w, want, rtol=1e-12)


def test_the_forward_of_array_parameters_is_the_value_alone():
    fn = _compiled(reduce="mean")
    assert fn.forward(W_VALUE, B_VALUE, SAMPLES, TARGETS) == pytest.approx(
        float(fn(W_VALUE, B_VALUE, SAMPLES, TARGETS)[0]), rel=1e-15)


def test_a_compiled_function_of_array_parameters_pickles_and_gives_the_same_results():
    fn = _compiled(reduce="mean")
    again = pickle.loads(pickle.dumps(fn))
    got, want = again(W_VALUE, B_VALUE, SAMPLES, TARGETS), fn(W_VALUE, B_VALUE, SAMPLES, TARGETS)
    assert again.source == fn.source and float(got[0]) == float(want[0])
    for g, h in zip(got[1], want[1]):
        np.testing.assert_array_equal(g, h)


def test_arrays_of_another_namespace_give_arrays_of_it():
    array_api_strict = pytest.importorskip("array_api_strict")
    fn = _compiled(reduce="sum")
    value, grads = fn(*(array_api_strict.asarray(a) for a in (W_VALUE, B_VALUE, SAMPLES, TARGETS)))
    want_value, want_grads = fn(W_VALUE, B_VALUE, SAMPLES, TARGETS)
    assert all(type(g).__module__.startswith("array_api_strict") for g in grads)
    np.testing.assert_allclose(np.asarray(value), want_value, rtol=1e-12)
    for g, h in zip(grads, want_grads):
        np.testing.assert_allclose(np.asarray(g), h, rtol=1e-12)


# ---- large batches in blocks ----


MANY_SAMPLES, MANY_TARGETS = RNG.normal(size=(1000, 3)), RNG.normal(size=1000)


@pytest.mark.parametrize("reduce", [None, "sum", "mean"])
def test_a_batch_of_sample_vectors_in_blocks_equals_the_whole_batch_at_once(blocks_of_100, threads, reduce,
                                                                           whole_batch):
    fn = sg.compile(LOSS, wrt=[W, B, U], args=ARGS, backend="numpy", batch=[U, T], reduce=reduce,
                    aux=[(W @ U)[0]])
    got = fn(W_VALUE, B_VALUE, MANY_SAMPLES, MANY_TARGETS)
    assert blocks_of_100 == [[(start, start + 100) for start in range(0, 1000, 100)]]  # rows of u, not its columns
    assert_same(got, whole_batch(fn, W_VALUE, B_VALUE, MANY_SAMPLES, MANY_TARGETS))


def test_one_array_as_wrt_in_blocks_equals_the_whole_batch_at_once(blocks_of_100, threads, whole_batch):
    fn = sg.compile(LOSS, wrt=W, args=ARGS, backend="numpy", batch=[U, T], reduce="mean")
    got = fn(W_VALUE, B_VALUE, MANY_SAMPLES, MANY_TARGETS)
    assert len(blocks_of_100) == 1 and got[1].shape == (2, 3)
    assert_same(got, whole_batch(fn, W_VALUE, B_VALUE, MANY_SAMPLES, MANY_TARGETS))


def test_the_forward_of_array_parameters_runs_in_blocks_too(blocks_of_100, threads, whole_batch):
    fn = _compiled(reduce="sum")
    got = fn.forward(W_VALUE, B_VALUE, MANY_SAMPLES, MANY_TARGETS)
    assert len(blocks_of_100) == 1
    assert_same(got, whole_batch(fn.forward, W_VALUE, B_VALUE, MANY_SAMPLES, MANY_TARGETS))


def test_a_weight_wider_than_the_batch_is_computed_whole(blocks_of_100):
    candidates = RNG.normal(size=(2, 1, 2, 3))  # against 1000 samples: leading dims (2, 1000)
    _, (g_w, _, _) = _compiled(reduce="sum")(candidates, B_VALUE, MANY_SAMPLES, MANY_TARGETS)
    assert blocks_of_100 == [] and g_w.shape == (2, 1, 2, 3)


# ---- compile_loss: one parameter vector ----


def _scalar_symbol_loss(model, data, labels, backend, several=False):
    """The loss and gradient compile_loss gave before its parameter vector: one scalar symbol
    per parameter, feature and target, the per-sample loss summed in a Python loop (or, with
    backend="numpy", as columns), and the L2 term compiled apart."""
    params = model.parameters()
    symbols = [sg.symbol(f"p{i}") for i in range(len(params))]
    xs = [sg.symbol(f"x{i}") for i in range(len(data[0]))]
    ys = [sg.symbol(f"y{i}") for i in range(len(labels[0]) if several else 1)]
    for p, s in zip(params, symbols):
        p._symbol = s
    try:
        out = model(xs)  # with the parameters' symbols set, the model's output is an expression
        loss = sum((o - y) ** 2 for o, y in zip(out, ys)) if several else sg.relu(1 - ys[0] * out)
        reg = 1e-4 * sum(s * s for s in symbols)
    finally:
        for p in params:
            p._symbol = None
    point = [float(p.data) for p in params]
    rows = [[*map(float, x), *(map(float, y) if several else [float(y)])] for x, y in zip(data, labels)]
    if backend == "numpy":
        fn = sg.compile(loss, wrt=symbols, args=[*symbols, *xs, *ys], backend="numpy", batch=[*xs, *ys],
                        reduce="mean")
        value, grads = fn(*point, *np.array(rows).T)
        value, grads = float(value), np.array(grads, dtype=float)
    else:
        fn = sg.compile(loss, wrt=symbols, args=[*symbols, *xs, *ys])
        results = [fn(*point, *row) for row in rows]
        value = sum(v for v, _ in results) / len(rows)
        grads = np.sum([g for _, g in results], axis=0) / len(rows)
    reg_value, reg_grads = sg.compile(reg, wrt=symbols)(*point)
    return value + reg_value, grads + np.array(reg_grads)


@pytest.mark.parametrize("backend", ["python", "numpy"])
def test_compile_loss_with_one_parameter_vector_gives_the_loss_and_gradients_of_scalar_symbols(backend):
    data = RNG.normal(size=(12, 2)).tolist()
    labels = [1.0 if v > 0 else -1.0 for v in RNG.normal(size=12)]
    random.seed(5)
    model = MLP(2, [6, 4, 1])
    model.zero_grad()
    loss, _ = model.compile_loss(lambda s, y: (1 - y * s).relu(), data, labels,
                                 regularization=lambda ps: 1e-4 * sum(p * p for p in ps), backend=backend)()
    want_loss, want_grads = _scalar_symbol_loss(model, data, labels, backend)
    assert loss == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose([p.grad for p in model.parameters()], want_grads, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("backend", ["python", "numpy"])
def test_compile_loss_takes_list_targets_as_one_target_vector(backend):
    data = RNG.normal(size=(9, 3)).tolist()
    labels = RNG.normal(size=(9, 2)).tolist()
    random.seed(6)
    model = MLP(3, [5, 2])
    model.zero_grad()
    loss_fn = model.compile_loss(lambda out, y: sum((o - t) ** 2 for o, t in zip(out, y)), data, labels,
                                 regularization=lambda ps: 1e-4 * sum(p * p for p in ps), backend=backend)
    loss, outputs = loss_fn()
    assert "def sample_loss_and_grad(theta, x, y):" in loss_fn.source
    assert len(outputs) == 9 and all(len(o) == 2 for o in outputs)
    want_loss, want_grads = _scalar_symbol_loss(model, data, labels, backend, several=True)
    assert loss == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose([p.grad for p in model.parameters()], want_grads, rtol=1e-12, atol=1e-15)
