"""sg.compile: the generated function, its calling convention, cache, pickling and errors."""

import gc
import inspect
import linecache
import math
import os
import pickle
import subprocess
import sys
import threading
from decimal import Decimal
from fractions import Fraction

import pytest

import symgrad as sg
from symgrad.backends import TYPE_TUPLE_ABOVE
from symgrad.demo import micrograd_expression

x, y = sg.symbols("x y")
QUICKSTART = sg.tanh(x * y) + x**2 / y - sg.log(y) * sg.exp(-x)


def quickstart_by_hand(x, y):
    t = math.tanh(x * y)
    value = t + x**2 / y - math.log(y) * math.exp(-x)
    dx = (1 - t * t) * y + 2 * x / y + math.log(y) * math.exp(-x)
    dy = (1 - t * t) * x - x**2 / y**2 - math.exp(-x) / y
    return value, (dx, dy)


def test_micrograd_readme_values():
    a, b = sg.symbols("a b")
    fn = sg.compile(micrograd_expression(a, b, sg.relu), wrt=[a, b])
    g, (ga, gb) = fn(-4.0, 2.0)
    assert g == pytest.approx(24.70408163265306, abs=1e-9)
    assert ga == pytest.approx(138.83381924198252, abs=1e-9)
    assert gb == pytest.approx(645.5772594752186, abs=1e-9)


def test_quickstart_value_and_gradient_match_hand_derivation():
    value, (gx, gy) = sg.compile(QUICKSTART, wrt=[x, y])(0.5, 2.0)
    want, (wx, wy) = quickstart_by_hand(0.5, 2.0)
    assert value == pytest.approx(want, rel=1e-12)
    assert (gx, gy) == pytest.approx((wx, wy), rel=1e-12)


def test_keyword_call_equals_positional_call():
    fn = sg.compile(QUICKSTART, wrt=[x, y])
    assert fn(x=0.5, y=2.0) == fn(0.5, 2.0)


def test_forward_gives_the_value_alone():
    fn = sg.compile(QUICKSTART, wrt=[x, y])
    assert fn.forward(0.5, 2.0) == fn(0.5, 2.0)[0]


def test_forward_code_contains_no_gradient_work():
    fn = sg.compile(QUICKSTART, wrt=[x, y])
    assert "d_x" not in fn.forward_source and "d_x" in fn.source


def test_arg_names_list_wrt_first_then_other_symbols_sorted():
    a, b, z = sg.symbols("a b z")
    fn = sg.compile(z * x + b * a, wrt=[x])
    assert fn.arg_names == ("x", "a", "b", "z")


def test_args_sets_the_positional_order():
    fn = sg.compile(x - y, wrt=[x], args=[y, x])
    assert fn.arg_names == ("y", "x")
    assert fn(1.0, 5.0) == (4.0, (1.0,))


def test_default_wrt_is_every_symbol_sorted_by_name():
    fn = sg.compile(y * 3 + x)
    assert fn.wrt_names == ("x", "y")


def test_gradient_of_an_absent_symbol_is_zero():
    z = sg.symbols("z")
    fn = sg.compile(x * 2, wrt=[x, z])
    assert fn(1.0, 7.0) == (2.0, (2.0, 0.0))


def test_constant_expression_compiles():
    assert sg.compile(sg.const(2.0) * 3, wrt=[])() == (6.0, ())


def test_source_is_readable_and_uses_the_users_names():
    source = sg.compile(QUICKSTART, wrt=[x, y]).source
    assert source.startswith("def f_and_grad(x, y):")
    assert "return value, (d_x, d_y)" in source
    assert "tanh(x * y)" in source


def code_only(source):
    return "\n".join(line.split("#")[0] for line in source.splitlines())


def test_shared_subexpression_is_computed_once():
    shared = sg.exp(x * y)
    source = sg.compile(shared * shared + shared, wrt=[x]).source
    assert code_only(source).count("exp(") == 1


def test_a_constant_gradient_is_returned_as_one_constant_tuple():
    fn = sg.compile(3 * x + 20 * y, wrt=[x, y])
    assert "return value, (3.0, 20.0)" in fn.source
    assert fn(1.0, 2.0) == (43.0, (3.0, 20.0))
    assert fn(1.0, 2.0)[1] is fn(5.0, 7.0)[1]  # loaded, not built, on each call


def test_an_output_equal_to_another_or_to_a_parameter_is_returned_under_its_name():
    z = sg.symbol("z")
    assert "return value, (z, z, d_z)" in sg.compile(z * (x + y), wrt=[x, y, z]).source
    fn = sg.compile((x + y) ** 2, wrt=[x, y])
    assert "return value, (d_x, d_x)" in fn.source and "d_y" not in fn.source
    assert fn(1.0, 2.0) == (9.0, (6.0, 6.0))


def test_a_node_used_once_is_written_inside_its_consumer_up_to_four_operations():
    z = sg.symbol("z")
    source = sg.compile(((x + 1) + 2) * 3 + 4 * (5 * y) - (z + 6), wrt=[x, y, z]).source
    assert "value = 3.0 + 3.0 * x + 20.0 * y - z" in source


def test_source_is_what_ran_and_inspect_shows_it():
    fn = sg.compile(QUICKSTART, wrt=[x, y])
    assert inspect.getsource(fn._call) == fn.source
    filename = fn._call.__code__.co_filename
    assert "".join(linecache.getlines(filename)) == fn.source


def test_a_function_collected_while_linecache_checks_its_cache_leaves_it_readable(monkeypatch):
    """A cyclic collection may run in the middle of linecache.checkcache, which reads every entry
    it listed first: a collected function's entry must not vanish under it."""
    sg.clear_cache()  # the cache would keep the function alive
    linecache.getline(__file__, 1)  # a file entry, listed before the function's: checkcache stats it
    fn = sg.compile(sg.sin(x) * sg.exp(y) - x, wrt=[x, y])
    filename = fn._call.__code__.co_filename
    real_stat = os.stat
    dropped = []

    def stat_collecting(path, *args, **kwargs):
        if not dropped:
            dropped.append(filename)
            del holder[:]  # the last reference to the function goes, and a collection runs
            gc.collect()
        return real_stat(path, *args, **kwargs)

    holder = [fn]
    del fn
    sg.clear_cache()
    gc.collect()  # earlier garbage first (SymPy's lambdified functions leave linecache the unsafe way)
    monkeypatch.setattr(os, "stat", stat_collecting)
    linecache.checkcache()
    assert dropped and linecache.getlines(filename) == []
    sg.clear_cache()
    sg.compile(x * y, wrt=[x])  # the next registration (compiled anew) drops the collected one's entry
    assert filename not in linecache.cache


def test_annotated_source_computes_the_same_numbers():
    plain = sg.compile(QUICKSTART, wrt=[x, y])
    annotated = sg.compile(QUICKSTART, wrt=[x, y], annotate=True)
    assert "  # x * y\n" in annotated.source
    assert annotated(0.7, 1.3) == plain(0.7, 1.3)


def test_stats_report_nodes_rewrites_lines_and_time():
    stats = sg.compile(QUICKSTART, wrt=[x, y]).stats
    assert stats.forward_nodes == len(sg.topological_order([QUICKSTART]))
    assert stats.backward_nodes_after < stats.backward_nodes_before
    assert stats.lines == sg.compile(QUICKSTART, wrt=[x, y]).source.count("\n")
    assert set(stats.seconds) >= {"differentiate", "rewrite", "emit", "exec"}
    assert "constants folded" in str(stats)


def test_ints_and_numpy_scalars_are_accepted_as_floats():
    np = pytest.importorskip("numpy")
    fn = sg.compile(QUICKSTART, wrt=[x, y])
    assert fn(np.float64(0.5), 2) == fn(0.5, 2.0)
    assert fn(Fraction(1, 2), np.int64(2)) == fn(0.5, 2.0)


@pytest.mark.parametrize("bad", ["0.5", None, True, [0.5], 1j, Decimal("0.5")])
def test_non_numeric_input_is_a_type_error_naming_the_argument(bad):
    fn = sg.compile(QUICKSTART, wrt=[x, y])
    with pytest.raises(TypeError, match="argument 'y'"):
        fn(0.5, bad)


def test_nan_input_propagates_as_in_python_math():
    value, gradient = sg.compile(QUICKSTART, wrt=[x, y])(math.nan, 2.0)
    assert math.isnan(value) and all(math.isnan(g) for g in gradient)


def test_infinite_input_follows_ieee_arithmetic_without_raising():
    fn = sg.compile(sg.exp(x) + x * y, wrt=[x, y])
    assert fn(math.inf, 1.0) == (math.inf, (math.inf, math.inf))
    value, (gx, gy) = fn(-math.inf, 0.0)  # exp(-inf) = 0, but -inf * 0 is nan
    assert math.isnan(value) and gx == 0.0 and gy == -math.inf


def test_wrong_argument_count_names_the_missing_argument():
    fn = sg.compile(QUICKSTART, wrt=[x, y])
    with pytest.raises(TypeError, match="'y'"):
        fn(0.5)


def test_unknown_keyword_is_named():
    fn = sg.compile(QUICKSTART, wrt=[x, y])
    with pytest.raises(TypeError, match="'z'"):
        fn(x=0.5, y=2.0, z=1.0)


def test_wrt_must_be_symbols():
    with pytest.raises(TypeError, match=r"wrt\[0\] must be a symbol"):
        sg.compile(x * y, wrt=[x * y])


def test_a_string_wrt_is_split_into_names_as_symbols_splits_it():
    assert sg.compile(x * y, wrt="x y").wrt == sg.compile(x * y, wrt=[x, y]).wrt == (x, y)
    assert sg.compile(x * y, wrt="y, x").arg_names == ("y", "x")


def test_a_wrt_name_that_names_no_symbol_is_an_error_listing_them_with_a_suggestion():
    with pytest.raises(ValueError, match=r"wrt\[0\]: 'X' is not a symbol of the expression \(its symbols: x, y\); "
                                         r"did you mean 'x'\?"):
        sg.compile(x * y, wrt=["X"])


def test_a_wrt_symbol_the_expression_lacks_is_an_argument_with_derivative_zero():
    z = sg.symbol("z")
    assert sg.compile(x * y, wrt=[z, x]).arg_names == ("z", "x", "y")


def test_a_wrt_name_may_name_an_unused_argument_given_in_args():
    fn = sg.compile(x * 2, wrt=["z"], args=["x", "z"])
    assert fn(1.0, 5.0) == (2.0, (0.0,))


def test_an_argument_too_large_for_a_float_is_a_value_error_naming_it():
    fn = sg.compile(x * y, wrt=[x, y])
    with pytest.raises(ValueError, match=r"argument 'y'.* too large for a float"):
        fn(1.0, 10**400)


def test_a_domain_error_inside_a_template_names_the_op_whose_code_failed():
    # d/dy -(x**y) is -(xlogy(x**y, x)), written inline; its log(x) fails at x = 0.
    with pytest.raises(sg.EvaluationError, match=r"^xlogy failed in its log\(x\) \(ValueError"):
        sg.compile(-(x**y), wrt=[y])(0.0, 0.0)


def test_args_must_cover_every_symbol():
    with pytest.raises(ValueError, match="leaves out symbols the expression uses: y"):
        sg.compile(x * y, wrt=[x], args=[x])


# ---- errors at run time ----


@pytest.mark.parametrize(
    "expr, point, op, subexpression",
    [
        (sg.log(y) + x, (1.0, 0.0), "log", "log(y)"),
        (sg.log(y) + x, (1.0, -1.0), "log", "log(y)"),
        (x / y, (1.0, 0.0), "div", "x / y"),
        (sg.exp(x * y), (800.0, 1.0), "exp", "exp(x * y)"),
        (sg.sqrt(x - y), (0.0, 1.0), "sqrt", "sqrt(x - y)"),
        (x**-1 + y, (0.0, 1.0), "powi", "x**-1"),
        (x**y, (-2.0, 0.5), "pow", "pow(x, y)"),
    ],
)
def test_domain_error_names_operation_subexpression_line_and_inputs(expr, point, op, subexpression):
    fn = sg.compile(expr, wrt=[x, y])
    with pytest.raises(sg.EvaluationError) as caught:
        fn(*point)
    message = str(caught.value)
    assert f"{op} failed" in message
    assert f"in the subexpression {subexpression}" in message
    assert "at line" in message and "<symgrad:" in message
    assert f"x={point[0]!r}, y={point[1]!r}" in message


def _chain_of_products(n):
    xs = [sg.symbol(f"v{i}") for i in range(n)]
    return xs, sum(xs[i] * xs[i + 1] for i in range(n - 1))


def test_a_large_function_reuses_the_names_of_dead_temporaries():
    xs, f = _chain_of_products(600)
    source = sg.compile(f * f, wrt=xs).source
    assigned = [line.split(" = ")[0].strip() for line in source.splitlines() if " = " in line]
    temporaries = [name for name in assigned if name[0] in "tg" and name[1:].isdigit()]
    assert len(set(temporaries)) < len(temporaries) / 4


def test_a_small_function_keeps_one_name_per_value():
    source = sg.compile(QUICKSTART, wrt=[x, y]).source
    assigned = [line.split(" = ")[0].strip() for line in source.splitlines() if " = " in line]
    assert len(set(assigned)) == len(assigned)


def test_domain_error_in_a_large_function_names_the_right_subexpression():
    xs, f = _chain_of_products(600)
    fn = sg.compile(f + sg.log(xs[3] - xs[5]) * f, wrt=xs)
    point = [1.0] * 600
    point[5] = 2.0
    with pytest.raises(sg.EvaluationError, match=r"in the subexpression log\(v3 - v5\)"):
        fn(*point)


# Up to TYPE_TUPLE_ABOVE arguments the types are checked by a chain of ``or``, past it as one tuple.
_MANY_ARGUMENTS = pytest.mark.parametrize("n", [50, TYPE_TUPLE_ABOVE + 1])


@_MANY_ARGUMENTS
def test_a_wrong_type_among_many_arguments_is_named(n):
    xs, f = _chain_of_products(n)
    fn = sg.compile(f, wrt=xs)
    with pytest.raises(TypeError, match=f"argument 'v{n - 13}'"):
        fn(*[1.0] * (n - 13), "1.0", *[1.0] * 12)


@_MANY_ARGUMENTS
def test_ints_among_many_arguments_are_taken_as_floats(n):
    xs, f = _chain_of_products(n)
    fn = sg.compile(f, wrt=xs)
    assert fn(*range(n)) == fn(*map(float, range(n)))


def test_an_explained_error_shows_the_inputs_the_function_was_given():
    xs, f = _chain_of_products(TYPE_TUPLE_ABOVE + 1)
    fn = sg.compile(f + sg.log(xs[1]), wrt=xs)
    with pytest.raises(sg.EvaluationError) as caught:
        fn(1, -2.0, *[3.0] * (len(xs) - 2))
    assert "with inputs v0=1.0, v1=-2.0, v2=3.0," in str(caught.value)
    assert f"v{len(xs) - 1}=3.0" in str(caught.value)


def test_evaluation_error_is_also_a_value_and_arithmetic_error():
    fn = sg.compile(sg.log(x), wrt=[x])
    with pytest.raises(ValueError):
        fn(0.0)
    with pytest.raises(ArithmeticError):
        fn(0.0)


def test_domain_error_in_forward_is_explained_too():
    fn = sg.compile(sg.log(x), wrt=[x])
    with pytest.raises(sg.EvaluationError, match="log failed"):
        fn.forward(-1.0)


# ---- labels can never inject code ----

HOSTILE = [
    "x; import os",
    "__import__('os')",
    "__import__('os').system('true')",
    "x\nimport os",
    "a'b\"c",
    "class",
    "lambda",
    "0day",
    "ñandú",
    "",
    "x" * 10_000,
    "exp",
    "_explain",
    "value",
    "d_x",
]


@pytest.mark.parametrize("label", [h for h in HOSTILE if h])
def test_hostile_label_becomes_a_safe_identifier(label):
    import ast

    s = sg.symbol(label)
    fn = sg.compile(s * 2.0 + sg.exp(s), wrt=[s])
    tree = ast.parse(fn.source)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.FunctionDef)
    assert "__import__" not in fn.source and "import os" not in fn.source and "system(" not in fn.source
    assert fn(1.0) == (2.0 + math.e, (2.0 + math.e,))


def test_colliding_labels_get_distinct_names():
    a, b = sg.symbol("a b"), sg.symbol("a-b")
    fn = sg.compile(a - b, wrt=[a, b])
    assert len(set(fn.arg_names)) == 2
    assert fn(3.0, 1.0) == (2.0, (1.0, -1.0))


def test_labels_that_shadow_generated_names_are_renamed():
    value, d_x, t0 = sg.symbols("value d_x t0")
    fn = sg.compile(sg.exp(value) * d_x + t0, wrt=[value, d_x, t0])
    v, grads = fn(0.0, 2.0, 3.0)
    assert (v, grads) == (5.0, (2.0, 1.0, 1.0))


def test_generated_code_has_no_builtins():
    fn = sg.compile(x * 2, wrt=[x])
    assert fn._call.__globals__["__builtins"
                                "__"] == {}


# ---- cache ----


def test_rebuilt_graph_of_the_same_structure_hits_the_cache():
    first = sg.compile(micrograd_expression(*sg.symbols("a b"), sg.relu), wrt=["a", "b"])
    second = sg.compile(micrograd_expression(*sg.symbols("a b"), sg.relu), wrt=["a", "b"])
    assert first is second
    assert sg.cache_info()["hits"] == 1


def test_a_structurally_equal_graph_hits_after_the_first_was_freed():
    import gc

    first = sg.compile(sg.exp(x * 1.5), wrt=[x])
    first_source = first.source
    del first
    gc.collect()
    again = sg.compile(sg.exp(x * 1.5), wrt=[x])
    assert again.source == first_source and sg.cache_info()["hits"] == 1


@pytest.mark.parametrize(
    "a, b",
    [
        (x * 2.0, x * 3.0),
        (x * 1, x * 1.0),
        (x + 0.0, x + -0.0),
        (x * float("nan"), x * 2.0),
        (x - y, y - x),
    ],
)
def test_near_identical_graphs_miss_the_cache(a, b):
    assert sg.compile(a, wrt=[x, y]) is not sg.compile(b, wrt=[x, y])


def test_a_cache_hit_walks_no_graph(monkeypatch):
    from symgrad import shapes

    f = sg.tanh(x * y) + x**2
    first = sg.compile(f, wrt=["x", "y"])

    def no_walk(*args, **kwargs):
        raise AssertionError("a cache hit walked the graph")

    monkeypatch.setattr(shapes, "signature", no_walk)
    assert sg.compile(f, wrt=["x", "y"]) is first


def test_a_wrt_name_and_a_wrt_symbol_do_not_share_a_cache_entry():
    z = sg.symbol("z")
    assert sg.compile(x * y, wrt=[z]).arg_names == ("z", "x", "y")
    with pytest.raises(ValueError, match="'z' is not a symbol of the expression"):
        sg.compile(x * y, wrt=["z"])


def test_different_wrt_order_misses_the_cache():
    first = sg.compile(x * y, wrt=[x, y])
    second = sg.compile(x * y, wrt=[y, x])
    assert first is not second
    assert second(2.0, 3.0) == (6.0, (3.0, 2.0))  # y=2, x=3: (d_y, d_x)


def test_annotate_is_part_of_the_cache_key():
    assert sg.compile(x * y, wrt=[x]) is not sg.compile(x * y, wrt=[x], annotate=True)


def test_clear_cache_forgets_everything():
    first = sg.compile(x * y, wrt=[x])
    sg.clear_cache()
    assert sg.compile(x * y, wrt=[x]) is not first


def test_cache_is_bounded_least_recently_used_first():
    sg.set_cache_size(2)
    a = sg.compile(x * 1.0, wrt=[x])
    sg.compile(x * 2.0, wrt=[x])
    assert sg.compile(x * 1.0, wrt=[x]) is a  # refreshes a
    sg.compile(x * 3.0, wrt=[x])  # evicts x*2
    assert sg.cache_info()["size"] == 2
    assert sg.compile(x * 1.0, wrt=[x]) is a


def test_cache_can_be_bypassed():
    assert sg.compile(x * y, wrt=[x], cache=False) is not sg.compile(x * y, wrt=[x], cache=False)


def test_threads_compiling_the_same_and_different_graphs_share_correct_results():
    results = {}

    def work(i):
        k = float(i % 4)
        fn = sg.compile(sg.exp(x * k) + y, wrt=[x, y])
        results[i] = (k, fn, fn(1.0, 2.0))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, _fn, (value, (gx, gy)) in results.values():
        assert value == pytest.approx(math.exp(k) + 2.0)
        assert gx == pytest.approx(k * math.exp(k)) and gy == 1.0
    by_k = {}
    for k, fn, _ in results.values():
        by_k.setdefault(k, set()).add(id(fn))
    assert all(len(ids) == 1 for ids in by_k.values())


# ---- pickling ----


def test_pickled_function_runs_and_keeps_its_source():
    fn = sg.compile(QUICKSTART, wrt=[x, y])
    again = pickle.loads(pickle.dumps(fn))
    assert again.source == fn.source
    assert again(0.5, 2.0) == fn(0.5, 2.0)
    assert again.forward(0.5, 2.0) == fn.forward(0.5, 2.0)


def test_pickled_function_still_explains_domain_errors():
    again = pickle.loads(pickle.dumps(sg.compile(QUICKSTART, wrt=[x, y])))
    with pytest.raises(sg.EvaluationError, match=r"in the subexpression log\(y\)"):
        again(0.5, -1.0)


def test_a_pickled_function_whose_source_was_altered_is_refused():
    data = pickle.dumps(sg.compile(x * y + 1.0, wrt=[x, y]))
    assert b"value = 1.0 + x * y" in data
    tampered = data.replace(b"value = 1.0 + x * y", b"value = 1.0 + y * x")  # same length: still a valid pickle
    with pytest.raises(sg.SymgradError, match="refusing to load a compiled function"):
        pickle.loads(tampered)


def test_injected_code_in_a_pickled_source_never_runs():
    func, (state,) = sg.compile(x * y, wrt=[x, y]).__reduce__()
    state["source"] = state["source"].replace("value = x * y", "value = __import__('os').getpid()")
    with pytest.raises(sg.SymgradError, match="Unpickle only data you trust"):
        func(state)


def test_pickled_function_runs_in_a_fresh_process(tmp_path):
    path = tmp_path / "fn.pkl"
    path.write_bytes(pickle.dumps(sg.compile(QUICKSTART, wrt=[x, y])))
    code = f"import pickle; fn = pickle.loads(open({str(path)!r}, 'rb').read()); print(fn(0.5, 2.0))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == repr(sg.compile(QUICKSTART, wrt=[x, y])(0.5, 2.0))


# ---- @jit ----


def test_jit_traces_parameters_as_symbols():
    @sg.jit
    def loss(w, b):
        return (sg.tanh(w * 0.5 + b) - 1.0) ** 2

    value, (gw, gb) = loss.value_and_grad(0.3, -0.1)
    t = math.tanh(0.3 * 0.5 - 0.1)
    assert value == pytest.approx((t - 1) ** 2)
    assert gw == pytest.approx(2 * (t - 1) * (1 - t * t) * 0.5)
    assert loss.grad(0.3, -0.1) == (gw, gb)
    assert loss(0.3, -0.1) == value
    assert loss.source.startswith("def loss_and_grad(w, b):")


def test_jit_with_math_functions_explains_what_to_use():
    @sg.jit
    def bad(w):
        return math.tanh(w)

    with pytest.raises(TypeError, match="use symgrad's functions"):
        bad(1.0)


def test_jit_refuses_varargs():
    with pytest.raises(TypeError, match="plain parameters"):
        sg.jit(lambda *ws: ws[0])


def _gc_watching_primitive(name, seen):
    """A primitive whose impl (run by constant folding) and derivative rule (run by reverse
    mode) record whether the cyclic GC is enabled when compiling calls them."""
    import gc

    def impl(a):
        seen.append(("impl", gc.isenabled()))
        return a * a

    def derivative(a):
        seen.append(("derivative", gc.isenabled()))
        return 2 * a

    return sg.primitive(name, impl=impl, derivative=derivative, replace=True)


def test_compiling_pauses_the_gc_and_restores_it():
    import gc

    seen = []
    square = _gc_watching_primitive("gc_watch_paused", seen)
    assert gc.isenabled()
    seen.clear()  # registering probes the derivative
    sg.compile(square(sg.const(3.0)) * x + square(x), wrt=[x])
    assert ("impl", False) in seen and ("derivative", False) in seen
    assert all(not enabled for _, enabled in seen)
    assert gc.isenabled()


def test_compiling_leaves_a_disabled_gc_disabled():
    import gc

    gc.disable()
    try:
        sg.compile(sg.sin(x) * y, wrt=[x])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_set_gc_pause_false_leaves_the_gc_enabled_while_compiling():
    import gc

    seen = []
    square = _gc_watching_primitive("gc_watch_enabled", seen)
    previous = sg.set_gc_pause(False)
    try:
        assert previous is True
        seen.clear()
        sg.compile(square(sg.const(3.0)) * x + square(x), wrt=[x])
        sg.compile_hvp(square(x) * y, [x, y])
        assert ("impl", True) in seen and ("derivative", True) in seen
        assert all(enabled for _, enabled in seen) and gc.isenabled()
    finally:
        assert sg.set_gc_pause(previous) is False
    with pytest.raises(TypeError, match="True or False"):
        sg.set_gc_pause("no")
