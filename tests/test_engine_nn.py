"""micrograd parity: Value, backward(), nn, and training, checked against the real micrograd."""

import math
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from symgrad import engine
from symgrad.datasets import make_moons, moons
from symgrad.demo import micrograd_expression
from symgrad.engine import Value
from symgrad.nn import MLP, Layer, Neuron

micrograd = pytest.importorskip("micrograd")
from micrograd import nn as mg_nn  # noqa: E402
from micrograd.engine import Value as MGValue  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_engine_cache():
    engine.clear_cache()
    yield


# ---- micrograd's own engine tests, with their reference values ----


def test_micrograd_sanity_check():
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    assert y.data == -20.0 and x.grad == 46.0


def test_micrograd_more_ops():
    a, b = Value(-4.0, label="a"), Value(2.0, label="b")
    g = micrograd_expression(a, b, lambda v: v.relu())
    g.backward()
    assert g.data == pytest.approx(24.70408163265306, abs=1e-9)
    assert a.grad == pytest.approx(138.83381924198252, abs=1e-9)
    assert b.grad == pytest.approx(645.5772594752186, abs=1e-9)


def test_readme_snippet_with_augmented_assignment_prints_micrograd_numbers():
    a = Value(-4.0, label="a")
    b = Value(2.0, label="b")
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    assert f"{g.data:.4f} {a.grad:.4f} {b.grad:.4f}" == "24.7041 138.8338 645.5773"


# ---- random graphs through both APIs ----

OPS = ["add", "sub", "mul", "div", "pow2", "pow3", "relu", "neg", "radd", "rmul", "rsub"]


def _apply(op, a, b, k):
    return {
        "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b, "div": lambda: a / b,
        "pow2": lambda: a**2, "pow3": lambda: a**3, "relu": lambda: a.relu(), "neg": lambda: -a,
        "radd": lambda: k + a, "rmul": lambda: k * a, "rsub": lambda: k - a,
    }[op]()


programs = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 100), st.integers(0, 100), st.floats(-2, 2)),
    min_size=1, max_size=25,
)


@settings(max_examples=120, deadline=None, derandomize=True)
@given(st.lists(st.floats(-2, 2), min_size=1, max_size=4), programs)
def test_random_graphs_match_micrograd(leaves, program):
    ours = [Value(v) for v in leaves]
    theirs = [MGValue(v) for v in leaves]
    for op, i, j, k in program:
        a, b = i % len(ours), j % len(ours)
        if op == "div":
            assume(abs(theirs[b].data) > 1e-2)
        ours.append(_apply(op, ours[a], ours[b], k))
        theirs.append(_apply(op, theirs[a], theirs[b], k))
        assume(abs(theirs[-1].data) < 1e6)
    out_ours, out_theirs = ours[-1], theirs[-1]
    out_ours.backward()
    out_theirs.backward()
    assert out_ours.data == pytest.approx(out_theirs.data, rel=1e-9, abs=1e-9)
    for mine, ref in zip(ours[: len(leaves)], theirs[: len(leaves)]):
        assert mine.grad == pytest.approx(ref.grad, rel=1e-9, abs=1e-9)


# ---- Value behaviour ----


def test_gradients_accumulate_until_zeroed():
    x = Value(3.0)
    y = x * x
    y.backward()
    y.backward()
    assert x.grad == 12.0
    x.grad = 0.0
    y.backward()
    assert x.grad == 6.0


def test_a_graph_of_the_same_shape_hits_the_cache_whatever_its_numbers():
    for a0, b0 in [(-4.0, 2.0), (1.5, -0.5), (3.0, 7.0)]:
        a, b = Value(a0, label="a"), Value(b0, label="b")
        micrograd_expression(a, b, lambda v: v.relu()).backward()
    assert engine.stats == {"hits": 2, "misses": 1}


def test_cache_hit_gives_the_new_graphs_numbers():
    for a0 in (1.0, 2.0):
        a = Value(a0)
        y = a * a * 3 + 1
        y.backward()
        assert y.data == 3 * a0 * a0 + 1 and a.grad == 6 * a0


def test_value_exponent_is_differentiated():
    x, y = Value(2.0), Value(3.0)
    z = x**y
    z.backward()
    assert z.data == 8.0
    assert x.grad == pytest.approx(12.0) and y.grad == pytest.approx(8.0 * math.log(2.0))


@pytest.mark.parametrize("method, derivative", [
    ("tanh", lambda v: 1 - math.tanh(v) ** 2),
    ("exp", math.exp),
    ("log", lambda v: 1 / v),
    ("sigmoid", lambda v: math.exp(-v) / (1 + math.exp(-v)) ** 2),
    ("relu", lambda v: 1.0),
])
def test_unary_methods(method, derivative):
    x = Value(0.7)
    y = getattr(x, method)()
    y.backward()
    assert x.grad == pytest.approx(derivative(0.7))


def test_deep_graph_backward_needs_no_recursion():
    x = Value(0.5)
    y = x
    for _ in range(20_000):
        y = y * 0.9999 + 0.0001
    y.backward()
    assert x.grad == pytest.approx(0.9999**20_000, rel=1e-9)


def test_output_grad_is_one_and_intermediates_stay_zero():
    x = Value(2.0)
    mid = x * 3
    out = mid + 1
    out.backward()
    assert out.grad == 1.0 and mid.grad == 0.0 and x.grad == 3.0


def test_op_label_as_micrograd_draws_it():
    x = Value(2.0)
    assert (x + 1)._op == "+" and (x * x)._op == "*" and x.relu()._op == "relu" and (x**2)._op == "**2"


def test_non_numbers_are_refused():
    with pytest.raises(TypeError, match="Value"):
        Value("1.0")


# ---- nn ----


def test_mlp_matches_micrograds_parameters_and_repr():
    random.seed(7)
    ours = MLP(2, [4, 4, 1])
    random.seed(7)
    theirs = mg_nn.MLP(2, [4, 4, 1])
    assert [p.data for p in ours.parameters()] == [p.data for p in theirs.parameters()]
    assert repr(ours) == repr(theirs)
    assert len(ours.parameters()) == 2 * 4 + 4 + 4 * 4 + 4 + 4 + 1


def test_neuron_and_layer_work_on_floats_and_values():
    random.seed(0)
    n = Neuron(2)
    layer = Layer(2, 3)
    assert isinstance(n([0.5, -1.0]), Value)
    assert len(layer([Value(0.5), 1.0])) == 3


def _micrograd_loss(model, X, y, value_cls):
    inputs = [list(map(value_cls, row)) for row in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum(p * p for p in model.parameters())
    return data_loss + reg_loss, scores


def _twin_models(seed=1337):
    random.seed(seed)
    ours = MLP(2, [16, 16, 1])
    random.seed(seed)
    theirs = mg_nn.MLP(2, [16, 16, 1])
    return ours, theirs


def _sgd(model, lr):
    for p in model.parameters():
        p.data -= lr * p.grad


def test_one_compiled_training_step_equals_micrograds():
    X, y, _ = moons(30)
    ours, theirs = _twin_models()
    loss_fn = ours.compile_loss(lambda score, yi: (1 + -yi * score).relu(), X, y,
                                regularization=lambda ps: 1e-4 * sum(p * p for p in ps))
    ours.zero_grad()
    loss, _ = loss_fn()
    theirs.zero_grad()
    their_loss, _ = _micrograd_loss(theirs, X, y, MGValue)
    their_loss.backward()
    assert loss == pytest.approx(their_loss.data, rel=1e-9)
    _sgd(ours, 1.0)
    _sgd(theirs, 1.0)
    for mine, ref in zip(ours.parameters(), theirs.parameters()):
        assert mine.data == pytest.approx(ref.data, rel=1e-9, abs=1e-12)


def test_one_eager_training_step_equals_micrograds():
    X, y, _ = moons(20)
    ours, theirs = _twin_models(3)
    for model, cls in ((ours, Value), (theirs, MGValue)):
        model.zero_grad()
        loss, _ = _micrograd_loss(model, X, y, cls)
        loss.backward()
        _sgd(model, 0.5)
    for mine, ref in zip(ours.parameters(), theirs.parameters()):
        assert mine.data == pytest.approx(ref.data, rel=1e-9, abs=1e-12)


def test_compiled_moons_training_reaches_full_accuracy():
    X, y, _ = moons(100)
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    loss_fn = model.compile_loss(lambda score, yi: (1 - yi * score).relu(), X, y,
                                 regularization=lambda ps: 1e-4 * sum(p * p for p in ps))
    for k in range(100):
        model.zero_grad()
        loss, scores = loss_fn()
        _sgd(model, 1.0 - 0.9 * k / 100)
    accuracy = sum((yi > 0) == (s > 0) for yi, s in zip(y, scores)) / len(y)
    assert accuracy == 1.0 and loss < 0.05


def test_compile_loss_validates_its_arguments():
    model = MLP(2, [2, 1])
    with pytest.raises(ValueError, match="as many targets"):
        model.compile_loss(lambda s, t: s, [[1.0, 2.0]], [1.0, 2.0])
    with pytest.raises(ValueError, match="reduce"):
        model.compile_loss(lambda s, t: s, [[1.0, 2.0]], [1.0], reduce="max")


def test_compile_loss_source_takes_the_parameters_as_one_vector_then_the_features_and_target():
    model = MLP(2, [2, 1])
    source = model.compile_loss(lambda s, t: (s - t) ** 2, [[1.0, 2.0]], [0.5]).source
    assert "def sample_loss_and_grad(theta, x, y):" in source
    assert "theta_0, theta_1, theta_2, theta_3, theta_4, theta_5, theta_6, theta_7, theta_8 = theta.tolist()" \
        in source  # in the order of model.parameters()


def test_own_moons_generator_is_deterministic_and_balanced():
    X1, y1 = make_moons(100, 0.1, seed=5)
    X2, y2 = make_moons(100, 0.1, seed=5)
    assert X1 == X2 and y1 == y2 and sum(y1) == 50 and len(X1) == 100


def test_compiled_loss_full_batch_numpy_equals_the_per_sample_loop():
    import random

    from symgrad.demo import l2, svm_loss
    from symgrad.nn import MLP

    data = [[0.5, -1.0], [1.5, 0.3], [-0.7, 0.2]]
    labels = [1.0, -1.0, 1.0]
    results = []
    for backend in ("python", "numpy"):
        random.seed(3)
        model = MLP(2, [4, 1])
        loss, scores = model.compile_loss(svm_loss, data, labels, regularization=l2, backend=backend)()
        results.append((loss, scores, [p.grad for p in model.parameters()]))
    (loss_py, scores_py, grads_py), (loss_np, scores_np, grads_np) = results
    assert loss_np == pytest.approx(loss_py, rel=1e-12)
    assert scores_np == pytest.approx(scores_py, rel=1e-12)
    assert grads_np == pytest.approx(grads_py, rel=1e-12, abs=1e-15)


def test_leaves_whose_labels_collide_with_made_up_names_stay_distinct():
    # Labels a, a_3, a in topological order: the second "a" must not be renamed onto "a_3".
    a, b, c = Value(2.0, label="a"), Value(3.0, label="a_3"), Value(5.0, label="a")
    z = a * b + c * a
    z.backward()
    ma, mb, mc = MGValue(2.0), MGValue(3.0), MGValue(5.0)
    mz = ma * mb + mc * ma
    mz.backward()
    assert (z.data, a.grad, b.grad, c.grad) == (mz.data, ma.grad, mb.grad, mc.grad)
