"""What notebooks and the REPL show: LaTeX of expressions, HTML of compiled functions and verify
reports, drawings as SVG (or a hint and the DOT text without Graphviz), and plain reprs."""

import html.parser
import re
import shutil
import sys
import time

import pytest

import symgrad as sg
from symgrad import display, ops
from symgrad.demo import l2, svm_loss
from symgrad.engine import Value
from symgrad.nn import MLP

x, y = sg.symbols("x y")
# A name built to break out of every context it may land in: LaTeX commands and groups, the
# formula's dollars, HTML tags and attributes.
HOSTILE = '\\href{javascript:alert(1)}{x}$}"><script>alert(1)</script>#1^_%&~'


def balanced(latex):
    """The LaTeX opens and closes its groups and brackets in pairs (MathJax renders it)."""
    depth = 0
    for match in re.finditer(r"\\.|[{}]", latex):
        depth += {"{": 1, "}": -1}.get(match[0], 0)
        assert depth >= 0, latex
    return depth == 0 and latex.count(r"\left") == latex.count(r"\right")


class _Tags(html.parser.HTMLParser):
    def __init__(self, text):
        super().__init__()
        self.tags = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def tags(text):
    return set(_Tags(text).tags)


# ---- LaTeX -----------------------------------------------------------------------------


def test_an_expression_shows_as_latex_built_from_each_ops_entry():
    assert sg.to_latex(sg.tanh(x * y) + x**2 / y - sg.log(y) * sg.exp(-x)) == (
        r"\tanh\left(x \cdot y\right) + \frac{x^{2}}{y} - \log\left(y\right) \cdot e^{-x}")
    assert x._repr_latex_() == r"$\displaystyle x$"


def test_latex_brackets_follow_precedence():
    assert sg.to_latex((x + y) * x) == r"\left(x + y\right) \cdot x"
    assert sg.to_latex(x - (y - 1)) == r"x - \left(y - 1\right)"
    assert sg.to_latex((x / y) ** 3) == r"\left(\frac{x}{y}\right)^{3}"
    assert sg.to_latex(x * -2.5) == r"x \cdot -2.5"
    assert sg.to_latex((-x) ** 2) == r"\left(-x\right)^{2}"


def test_every_op_of_the_table_prints_well_formed_latex_naming_its_arguments():
    for op in ops.all_ops():
        if not op.arity:
            continue
        args = sg.symbols(" ".join(f"a{i}" for i in range(op.arity)))
        args = args if isinstance(args, tuple) else (args,)
        params = {"powi": 3, "powc": 1.5}
        node = ops.make(op, tuple(args), params.get(op.name))
        latex = sg.to_latex(node)
        assert balanced(latex), (op.name, latex)
        assert all(f"a_{{{i}}}" in latex for i in range(op.arity)), (op.name, latex)


def test_symbol_names_print_as_sympy_writes_them():
    alpha, x0, w = sg.symbol("alpha"), sg.symbol("x0"), sg.symbol("W[1, 0]")
    assert sg.to_latex(alpha * x0 + w) == r"\alpha \cdot x_{0} + W_{1, 0}"
    assert sg.to_latex(sg.symbol("rate")) == r"\mathrm{rate}"


def test_constants_print_as_numbers():
    assert sg.to_latex(x * 1e-5) == r"x \cdot \left(1 \cdot 10^{-5}\right)"
    assert sg.to_latex(x + float("inf")) == r"x + \infty"


def test_a_hostile_symbol_name_is_plain_text_in_latex():
    latex = sg.symbol(HOSTILE)._repr_latex_()
    body = latex[len(r"$\displaystyle ") : -1]
    assert balanced(body)
    assert "$" not in body.replace(r"\$", "")
    assert r"\href" not in latex and "<" not in latex and "#1" not in latex.replace(r"\#1", "")


def test_a_user_primitives_latex_is_its_name_as_a_function():
    op = sg.primitive("softplus_test", impl=lambda a: a, derivative=lambda a: 1.0, replace=True)
    assert sg.to_latex(op(x)) == r"\operatorname{softplus\_test}\left(x\right)"


def test_a_big_graphs_latex_is_cut_short_with_its_size_and_comes_fast():
    chain = x
    for _ in range(200_000):  # past the nodes the note counts
        chain = chain * 0.5 + sg.sin(chain)
    start = time.perf_counter()
    latex = chain._repr_latex_()
    assert time.perf_counter() - start < 1.0  # bounded work, not a walk of the graph's 10^5 levels
    assert len(latex) < 10_000
    assert latex.endswith(r"\quad\text{(cut: a graph of over 100,000 nodes)}$")
    assert balanced(latex[len(r"$\displaystyle ") : -1])


def test_a_cut_graph_names_its_exact_size_when_counted():
    chain = x
    for _ in range(400):
        chain = sg.tanh(chain * y + 1)
    latex = chain._repr_latex_()
    assert latex.endswith(r"\cdot y + 1\right)\quad\text{(cut: a graph of 1,203 nodes)}$")  # x, y, 1 and 3 a level
    assert "cut" not in (x * y)._repr_latex_()


@pytest.mark.slow
def test_a_million_node_graphs_latex_is_cut_short():
    chain = x
    for _ in range(1_000_000):
        chain = chain + 1.0
    start = time.perf_counter()
    latex = chain._repr_latex_()
    assert time.perf_counter() - start < 1.0
    assert len(latex) < 10_000 and "over 100,000 nodes" in latex


# ---- HTML ----------------------------------------------------------------------------------


def test_a_compiled_function_shows_its_source_and_stats_as_html():
    fn = sg.compile(sg.tanh(x * y) + x**2 / y, wrt=[x, y])
    shown = fn._repr_html_()
    assert {"pre", "details"} <= tags(shown)
    assert "f_and_grad" in shown and "forward nodes" in shown


def test_a_compiled_functions_html_is_escaped_source_without_pygments(monkeypatch):
    monkeypatch.setitem(sys.modules, "pygments", None)  # import fails
    fn = sg.compile(x / y, wrt=[x, y])
    shown = fn._repr_html_()
    assert f"<pre>{display.escape(fn.source)}</pre>" in shown


def test_a_long_source_shows_its_first_lines_and_says_how_many_more():
    v = sg.vector("v", 200)
    fn = sg.compile(sum(v[i] * v[i + 1] for i in range(199)), wrt=v)
    shown = fn._repr_html_()
    more = fn.source.count("\n") - display.SOURCE_LINES
    assert f"… {more:,} more lines" in shown


@pytest.mark.parametrize("highlight", [True, False], ids=["pygments", "plain"])
def test_html_of_hostile_names_is_escaped(monkeypatch, highlight):
    if not highlight:
        monkeypatch.setitem(sys.modules, "pygments", None)
    hostile = sg.symbol(HOSTILE)
    fn = sg.compile(hostile**2 + 1, name="<img src=x onerror=alert(1)>")
    report = sg.verify(hostile**2, [hostile])
    report.rows[0].name = HOSTILE  # a row's name, as any caller could set it
    for shown in (fn._repr_html_(), report._repr_html_()):
        assert not tags(shown) & {"script", "img"}
        assert "<script" not in shown and "<img" not in shown


def test_a_verify_report_shows_as_a_table_with_failures_marked():
    report = sg.verify(sg.tanh(x * y), [x, y])
    shown = report._repr_html_()
    assert shown.count("<tr") == 1 + len(report.rows)
    assert "all derivatives agree" in shown and "#c92a2a" not in shown
    report.rows[1].ok = False
    assert "MISMATCH" in report._repr_html_() and report._repr_html_().count("#c92a2a") == 1


# ---- drawings ---------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_a_drawing_shows_as_svg():
    bundle = sg.draw(x * y + 1)._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


def test_without_dot_a_drawing_shows_a_hint_and_its_dot_text(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot to be found
    a = Value(2.0, label=HOSTILE)
    drawing = sg.draw(a * 3.0)
    bundle = drawing._repr_mimebundle_()
    first, _, rest = bundle["text/plain"].partition("\n")
    assert "apt-get install graphviz" in first and rest == drawing.source
    assert not tags(bundle["text/html"]) - {"p", "pre"}


# ---- reprs -------------------------------------------------------------------------------------


def test_a_jitted_function_says_what_it_differentiates_and_how_many_calls_it_traced():
    @sg.jit
    def loss(w, b, scale=2.0):
        return scale * (w * b - 1.0) ** 2

    assert repr(loss) == "<Jitted test_a_jitted_function_says_what_it_differentiates_and_how_many_calls_it_traced." \
                         "<locals>.loss(w, b, scale=2.0): differentiates (w, b); 0 kinds of call traced>"
    loss(1.0, 2.0)
    loss(1.0, 2.0, scale=3)  # an int: a constant of the trace, so another kind of call
    assert repr(loss).endswith("2 kinds of call traced>")


def test_an_hvp_function_names_its_point_and_vector():
    hvp = sg.compile_hvp(x**2 * y, [x, y])
    assert repr(hvp).startswith("<HVPFunction f_hvp(point=(x, y), vector=(v_x, v_y)): H @ vector by 2 symbols")


def test_a_compiled_loss_says_what_it_computes():
    model = MLP(2, [4, 1])
    loss = model.compile_loss(svm_loss, [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], [1.0, -1.0, 1.0], regularization=l2)
    shown = repr(loss)
    assert shown.startswith(f"<CompiledLoss of {len(model.parameters())} parameters over 3 samples of 2 features "
                            "(a loop over the samples) + regularization")
    assert "object at 0x" not in shown
