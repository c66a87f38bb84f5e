"""The vectorised strategy over a batch: reduced array code as a few NumPy operations on a
(rows × batch) buffer, contractions as matrix products, computing what the straight array code does."""

import math
import pickle
import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symgrad as sg
from symgrad import arrays
from symgrad.demo import l2, svm_loss
from symgrad.nn import MLP
from tests.oracles import sympy_checked_ops
from tests.test_properties import SETTINGS

RNG = np.random.default_rng(11)
NEURONS, FEATURES = 12, 5  # a layer of 12 neurons over 5 features
W, C, X, T = sg.matrix("W", NEURONS, FEATURES), sg.vector("c", NEURONS), sg.vector("x", FEATURES), sg.symbol("t")
W_VALUE, C_VALUE = RNG.uniform(-1, 1, (NEURONS, FEATURES)), RNG.uniform(-1, 1, NEURONS)
SAMPLES, TARGETS = RNG.uniform(-1, 1, (40, FEATURES)), RNG.uniform(-1, 1, 40)


def layer_loss(body=lambda u, t: sg.tanh(u) * t):
    """One layer's neurons, each a sum of weight × feature, through ``body``, weighted and summed."""
    return sum(body(sum((W[j, i] * X[i] for i in range(FEATURES)), C[j]), T) * (j % 3 + 1) for j in range(NEURONS))


def compiled(loss, strategy, reduce="mean"):
    return sg.compile(loss, wrt=[W, C], args=[W, C, X, T], backend="numpy", batch=[X, T], reduce=reduce,
                      strategy=strategy)


def assert_close(got, want):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_close(g, w)
        return
    assert np.shape(got) == np.shape(want)
    scale = 1 + float(np.max(np.abs(want), initial=0.0))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * scale)


def moons_loss(strategy):
    from benchmarks import tasks

    X_data, y = tasks.moons_data()
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    return model, model.compile_loss(svm_loss, X_data, y, regularization=l2, backend="numpy", strategy=strategy)


def test_auto_batches_a_models_loss_and_says_why():
    _, loss_fn = moons_loss("auto")
    strategy = loss_fn.per_sample.stats.strategy
    assert strategy.startswith("auto: batched: ") and "contractions: 4" in strategy
    assert loss_fn.per_sample.stats.lines < 40


def test_a_layer_is_one_matrix_product_commented_with_its_first_neuron():
    source = compiled(layer_loss(), "vectorised").source
    # The loss's first link is 2*(neuron 1) + neuron 0 in canonical order (constants first), so neuron 1
    # comes first and the biases are gathered rather than sliced.
    assert "= _dot(s[_i0], V[0:5]) + s[_i1][:, None]  # W[1, 0] * x[0] + c[1] + W[1, 1] * x[1]" in source
    assert " ... ×12" in source


def test_the_weight_may_be_either_operand_of_the_products():
    flipped = sum(sg.tanh(sum((X[i] * W[j, i] for i in range(FEATURES)), C[j])) for j in range(NEURONS))
    fn = compiled(flipped, "vectorised")
    assert "_dot(s[" in fn.source
    assert_close(fn(W_VALUE, C_VALUE, SAMPLES, TARGETS), compiled(flipped, "straight")(W_VALUE, C_VALUE, SAMPLES,
                                                                                        TARGETS))


def test_the_moons_loss_and_gradient_are_the_straight_array_codes():
    model, batched = moons_loss("vectorised")
    _, straight = moons_loss("straight")
    theta = np.array([p.data for p in model.parameters()])
    args = (theta, batched.inputs, batched.targets)
    assert "_load(" in batched.source and "_load(" not in straight.source
    assert_close(batched.per_sample(*args), straight.per_sample(*args))


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_a_layer_computes_what_the_straight_array_code_computes(reduce):
    args = (W_VALUE, C_VALUE, SAMPLES, TARGETS)
    assert_close(compiled(layer_loss(), "vectorised", reduce)(*args), compiled(layer_loss(), "straight", reduce)(*args))


def test_a_batch_with_more_dims_and_a_broadcast_target_is_batched_too():
    args = (W_VALUE, C_VALUE, SAMPLES.reshape(8, 5, FEATURES), 0.5)
    assert_close(compiled(layer_loss(), "vectorised")(*args), compiled(layer_loss(), "straight")(*args))


def test_inputs_the_batched_code_does_not_take_run_the_straight_array_code(monkeypatch):
    fn, straight = compiled(layer_loss(), "vectorised"), compiled(layer_loss(), "straight")
    wide_weights = np.broadcast_to(W_VALUE, (40, NEURONS, FEATURES))  # a weight per sample: the straight code's
    assert_close(fn(wide_weights, C_VALUE, SAMPLES, TARGETS), straight(wide_weights, C_VALUE, SAMPLES, TARGETS))
    monkeypatch.setattr(arrays, "BLOCK_ELEMENTS", 16)  # a batch for blocks
    seen = []
    monkeypatch.setattr(arrays, "_map_blocks", lambda compute, bounds: seen.append(bounds) or map(
        lambda b: compute(*b), bounds))
    big = (W_VALUE, C_VALUE, np.tile(SAMPLES, (2, 1)), np.tile(TARGETS, 2))
    assert_close(fn(*big), straight(*big))
    assert len(seen) == 2 and len(seen[0]) == 5  # each computed in blocks of 16 of the 80 samples


def test_arrays_of_another_namespace_run_the_straight_array_code():
    array_api_strict = pytest.importorskip("array_api_strict")
    fn = compiled(layer_loss(), "vectorised")
    value, grads = fn(*(array_api_strict.asarray(a) for a in (W_VALUE, C_VALUE, SAMPLES, TARGETS)))
    assert type(value).__module__.startswith("array_api_strict")
    assert_close((float(value), np.asarray(grads[0])), (float(fn(W_VALUE, C_VALUE, SAMPLES, TARGETS)[0]),
                                                       fn(W_VALUE, C_VALUE, SAMPLES, TARGETS)[1][0]))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's, from the straight array code fed inf on purpose
@pytest.mark.parametrize("bad", [math.inf, math.nan, 1e300])
def test_inf_and_nan_give_what_the_straight_array_code_gives(bad):
    samples = SAMPLES.copy()
    samples[3, 2] = bad
    loss = layer_loss(lambda u, t: sg.exp(u) * t)
    got, want = compiled(loss, "vectorised")(W_VALUE, C_VALUE, samples, TARGETS), \
        compiled(loss, "straight")(W_VALUE, C_VALUE, samples, TARGETS)
    assert repr(got[0]) == repr(want[0])
    np.testing.assert_array_equal(got[1][0], want[1][0])


def test_a_wrong_shape_is_the_straight_array_codes_error():
    with pytest.raises(ValueError, match="'x'"):
        compiled(layer_loss(), "vectorised")(W_VALUE, C_VALUE, SAMPLES[:, :3], TARGETS)


def test_a_batched_function_pickles_and_loads_back():
    fn = compiled(layer_loss(), "vectorised")
    back = sg.loads(pickle.dumps(fn))
    assert back.source == fn.source
    assert_close(back(W_VALUE, C_VALUE, SAMPLES, TARGETS), fn(W_VALUE, C_VALUE, SAMPLES, TARGETS))


def test_a_small_graph_stays_straight_array_code():
    a, x = sg.symbols("a x")
    fn = sg.compile(sg.tanh(a * x), wrt=[a], backend="numpy", batch=[x], reduce="mean")
    assert "fewer than" in fn.stats.strategy and "_load(" not in fn.source


@pytest.mark.parametrize("options, message", [({"reduce": None}, "reduce=None"), ({"order": 2}, "order=2")])
def test_what_the_batched_strategy_does_not_take_is_refused_with_a_reason(options, message):
    with pytest.raises(ValueError, match=message):
        sg.compile(layer_loss(), wrt=[W, C], args=[W, C, X, T], backend="numpy", batch=[X, T],
                   **{"reduce": "mean", "strategy": "vectorised", **options})


# ---- random wide batch graphs: a layer through a random body of the op table's ops ----

_steps = st.lists(st.tuples(st.sampled_from(sympy_checked_ops(1) + sympy_checked_ops(2)), st.booleans()),
                  min_size=1, max_size=4)


def _body(steps):
    def body(u, t):
        for op, first in steps:
            u = op(u) if op.arity == 1 else op(u, t) if first else op(t, u)
        return u

    return body


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # random graphs meet NumPy's inf and nan (sqrt of < 0...)
@settings(SETTINGS, max_examples=40)
@given(_steps, st.sampled_from(["sum", "mean"]), st.integers(0, 2**31))
def test_a_random_wide_batch_graph_computes_what_the_straight_array_code_computes(steps, reduce, seed):
    loss = layer_loss(_body(steps))
    rng = np.random.default_rng(seed)
    args = (rng.uniform(-1, 1, (NEURONS, FEATURES)), rng.uniform(-1, 1, NEURONS), rng.uniform(-2, 2, (9, FEATURES)),
            rng.uniform(-2, 2, 9))

    def outcome(strategy):
        try:
            return compiled(loss, strategy, reduce)(*args)
        except (sg.EvaluationError, ArithmeticError, ValueError) as error:
            return type(error).__name__

    got, want = outcome("vectorised"), outcome("straight")
    if isinstance(want, str) or not np.all(np.isfinite(want[1][0])) or not np.isfinite(want[0]):
        assert repr(got) == repr(want) if isinstance(want, str) else repr(got[0]) == repr(want[0])
        return
    assert_close(got, want)


@pytest.mark.parametrize("backend", ["python", "numpy"])
def test_loss_and_grad_over_one_vector_is_what_loss_fn_adds_to_the_values(backend):
    random.seed(3)
    model = MLP(2, [5, 1])
    data, labels = RNG.normal(size=(9, 2)).tolist(), [1.0, -1.0] * 4 + [1.0]
    loss_fn = model.compile_loss(svm_loss, data, labels, regularization=l2, backend=backend)
    theta = np.array([p.data for p in model.parameters()])
    loss, grad, outputs = loss_fn.loss_and_grad(theta)
    model.zero_grad()
    want_loss, want_outputs = loss_fn()
    assert loss == want_loss and outputs.shape == (9,)
    np.testing.assert_array_equal(grad, [p.grad for p in model.parameters()])
    np.testing.assert_array_equal(outputs, want_outputs)


def test_a_hostile_parameter_name_never_reaches_the_source_as_code():
    hostile = sg.matrix("__import__('os').system('echo pwned')", NEURONS, FEATURES)
    loss = sum(sg.tanh(sum((hostile[j, i] * X[i] for i in range(FEATURES)), C[j])) for j in range(NEURONS))
    source = sg.compile(loss, wrt=[hostile], args=[hostile, C, X, T], backend="numpy", batch=[X, T],
                        reduce="mean", strategy="vectorised").source
    code = [line.split("#")[0] for line in source.splitlines()]
    assert "_dot(" in source and not any("__import__" in line or "system(" in line for line in code)


def test_long_sums_of_the_same_pattern_are_one_group_summed_over_their_terms():
    wide = sg.vector("x", 10)
    loss = sum(sum(sg.tanh(W[j, i % FEATURES] * wide[i]) for i in range(10)) for j in range(NEURONS))
    fn = sg.compile(loss, wrt=[W], args=[W, wide], backend="numpy", batch=[wide], reduce="sum", strategy="vectorised")
    # 11 neurons' sums in one line (neuron 0's terms open the outer sum's chain)
    assert re.search(r"= _sum\(V\[_i\d+\], axis=-2\)  # tanh.* ×11$", fn.source, re.M)
    straight = sg.compile(loss, wrt=[W], args=[W, wide], backend="numpy", batch=[wide], reduce="sum",
                          strategy="straight")
    samples = RNG.uniform(-1, 1, (30, 10))
    assert_close(fn(W_VALUE, samples), straight(W_VALUE, samples))


def test_numpy_raising_on_invalid_values_raises_the_straight_array_codes_error():
    loss = layer_loss(lambda u, t: sg.log(u) * t)
    outcomes = []
    for strategy in ("vectorised", "straight"):
        with np.errstate(invalid="raise", divide="raise"), pytest.raises(sg.EvaluationError) as error:
            compiled(loss, strategy)(W_VALUE, C_VALUE, SAMPLES, TARGETS)
        outcomes.append(re.sub(r"<symgrad:[^>]*>", "<file>", str(error.value)))  # the same code, compiled twice
    assert outcomes[0] == outcomes[1] and "log" in outcomes[0]
