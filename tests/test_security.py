"""Untrusted data: graphs and compiled functions read back from a pickle are checked record by record,
and no template ever formats a parameter that was not checked."""

import pickle

import pytest

import symgrad as sg
from symgrad import backends, compiler, expr, ops
from symgrad.expr import make

# What an attacker would store: plain data only, which the loaders turn into code if they trust it.
ESCAPE = "().__class__.__base__.__subclasses__()"


class ReprAsCode(float):
    def __repr__(self) -> str:
        return "__import__('os').system('echo owned')"


class NameAsCode(str):
    def isidentifier(self) -> bool:
        return True


x = sg.symbol("x")


@pytest.mark.parametrize("records, where", [
    ([("symbol", "x", ()), ("powi", ESCAPE, (0,))], "record 1"),
    ([("symbol", "x", ()), ("powc", ESCAPE, (0,))], "record 1"),
    ([("symbol", "x", ()), ("const", ReprAsCode(2.0), ()), ("mul", None, (0, 1))], "record 1"),
    ([("symbol", "x", ()), ("const", True, ()), ("mul", None, (0, 1))], "record 1"),
    ([("symbol", "x", ()), ("const", 10**400, ()), ("mul", None, (0, 1))], "record 1"),
    ([("symbol", 7, ())], "record 0"),
    ([("symbol", "", ())], "record 0"),
    ([("symbol", "x", ()), ("exec", None, (0,))], "no symgrad op is called 'exec'"),
    ([("symbol", "x", ()), ("exp", "param", (0,))], "record 1"),
    ([("symbol", "x", ()), ("mul", None, (0,))], "mul takes 2 argument"),
    ([("symbol", "x", ()), ("exp", None, (1,))], "not the index of an earlier record"),
    ([("symbol", "x", ()), ("exp", None, (-1,))], "not the index of an earlier record"),
    ([("symbol", "x")], "record 0"),
])
def test_a_bad_record_is_refused_with_an_error_naming_it(records, where):
    with pytest.raises(sg.SymgradError, match=where):
        expr._rebuild((records, [len(records) - 1]))


def test_a_root_that_is_not_a_record_index_is_refused():
    with pytest.raises(sg.SymgradError, match="root"):
        expr._rebuild(([("symbol", "x", ())], [3]))


def test_a_pickled_compiled_function_with_a_code_carrying_param_is_refused_before_any_code_is_made():
    state = dict(sg.compile(x**3, wrt=[x]).__reduce__()[1][0])
    state["graph"] = ([("symbol", "x", ()), ("powi", ESCAPE, (0,))], [1, 1, 0, 0])
    with pytest.raises(sg.SymgradError, match="record 1"):
        compiler._restore(state)


@pytest.mark.parametrize("field, value", [
    ("backend", "evil"), ("reduce", "max"), ("batch", [ESCAPE, 3]), ("name", 3), ("order", 3),
    ("n_wrt", -1), ("outputs", "many"), ("output_shape", [0]), ("bare_gradient", 1), ("graph", None),
    ("param_shapes", [("x", [-1])]), ("wrt_shapes", "x"), ("param_shapes", [(ESCAPE, (2,))]),
])
def test_a_pickled_compiled_function_with_a_bad_field_is_refused_naming_it(field, value):
    state = dict(sg.compile(x**3, wrt=[x]).__reduce__()[1][0])
    state[field] = value
    with pytest.raises(sg.SymgradError, match=repr(field)):
        compiler._restore(state)


def test_stored_counts_that_do_not_fit_the_graph_are_refused():
    state = dict(sg.compile(x**3, wrt=[x]).__reduce__()[1][0])
    state["n_derived"] = 9
    with pytest.raises(sg.SymgradError, match="refusing to load"):
        compiler._restore(state)


def test_a_crafted_pickle_stream_of_plain_records_never_runs_its_payload():
    class Crafted:
        def __reduce__(self):
            return expr._rebuild, (([("symbol", "x", ()), ("powi", ESCAPE, (0,))], [1]),)

    with pytest.raises(sg.SymgradError, match="powi's exponent must be an int"):
        pickle.loads(pickle.dumps(Crafted()))


def test_an_honest_pickle_still_loads_and_runs():
    fn = sg.compile(sg.tanh(x) ** 2 * 3 + x**0.5, wrt=[x])
    assert pickle.loads(pickle.dumps(fn))(4.0) == fn(4.0)


@pytest.mark.parametrize("backend", backends.BACKENDS.values(), ids=list(backends.BACKENDS))
@pytest.mark.parametrize("op, param", [(ops.int_power, ESCAPE), (ops.int_power, 2.5), (ops.real_power, ReprAsCode(0.5)),
                                        (ops.real_power, 2), (ops.exp, 1)])
def test_no_template_formats_a_param_its_op_does_not_allow(backend, op, param):
    with pytest.raises(ValueError, match=op.name):
        backend.template(op, param)


def test_a_node_made_by_hand_with_a_bad_param_never_becomes_source():
    with pytest.raises(ValueError, match="powi"):
        sg.compile(make(ops.int_power, (x,), ESCAPE), wrt=[], args=[x])


def test_a_str_subclass_name_reaches_the_source_only_as_a_plain_identifier():
    hostile = sg.symbol(NameAsCode("x); import os; (y"))
    assert type(hostile.name) is str
    fn = sg.compile(hostile * 2, wrt=[hostile])
    assert fn.arg_names == ("x_import_os_y",)


@pytest.mark.parametrize("make_function", [
    lambda: sg.compile(sg.tanh(x) * x**3, wrt=[x], order=2),
    lambda: sg.compile(x * sg.exp(sg.symbol("w")), wrt=["w"], backend="numpy", batch=["x"], reduce="sum"),
])
def test_sg_loads_reads_symgrads_own_pickled_functions(make_function):
    made = make_function()
    assert sg.loads(pickle.dumps(made)).source == made.source


def test_sg_loads_reads_symgrads_own_pickled_expressions_as_the_same_node():
    made = sg.tanh(x) + 2
    assert sg.loads(pickle.dumps(made)) is made


def test_sg_loads_refuses_a_pickle_that_names_anything_else():
    class RunsCode:
        def __reduce__(self):
            return print, ("owned",)

    with pytest.raises(sg.SymgradError, match=r"refusing to unpickle builtins\.print"):
        sg.loads(pickle.dumps(RunsCode()))


def test_sg_loads_refuses_garbage_with_a_symgrad_error():
    with pytest.raises(sg.SymgradError, match="not a valid symgrad pickle"):
        sg.loads(b"\x80\x04not a pickle")


@pytest.mark.parametrize("payload", ["x", ([("symbol", "x", ())], []), ([("symbol", "x", ())], (0,)), None])
def test_an_expression_payload_of_the_wrong_shape_is_refused(payload):
    with pytest.raises(sg.SymgradError, match="expected \\(records, \\[root\\]\\)"):
        expr._rebuild(payload)
