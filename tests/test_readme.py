"""The README stays true: its Python blocks run, and the generated code it shows is what symgrad emits."""

import contextlib
import io
import os
import re

import symgrad as sg
from symgrad.demo import micrograd_expression

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _python_blocks():
    with open(README, encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def test_every_python_block_in_the_readme_runs_in_order():
    namespace = {}
    for i, block in enumerate(_python_blocks()):
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(block, f"README.md python block {i}", "exec"), namespace)


def test_generated_sources_shown_in_the_readme_are_what_symgrad_emits():
    shown = [b for b in _python_blocks() if b.startswith("def ")]
    x, y = sg.symbols("x y")
    quick_start = sg.compile(sg.tanh(x * y) + x**2 / y - sg.log(y) * sg.exp(-x), wrt=[x, y])
    hessian = sg.compile((1 - x) ** 2 + 100 * (y - x**2) ** 2, wrt=[x, y], order=2)
    w, b, t = sg.symbols("w b t")
    arrays = sg.compile((sg.tanh(w * x + b) - t) ** 2, wrt=[w, b], backend="numpy", batch=["x", "t"],
                        reduce="mean")
    a, b = sg.symbols("a b")
    micrograd = sg.compile(micrograd_expression(a, b, sg.relu), wrt=[a, b])
    assert quick_start.source in shown
    assert micrograd.source in shown
    assert hessian.source in shown
    assert arrays.source in shown
    v = sg.vector("x", 6)
    vectorised = sg.compile(sum(100 * (v[i + 1] - v[i] ** 2) ** 2 + (1 - v[i]) ** 2 for i in range(5)), wrt=v,
                            strategy="vectorised")
    assert vectorised.source in shown
    W, b, x, t = sg.matrix("W", 4, 3), sg.vector("b", 4), sg.vector("x", 3), sg.symbol("t")
    batched = sg.compile((sg.tanh(W @ x + b).sum() - t) ** 2, wrt=[W, b], args=[W, b, x, t], backend="numpy",
                         batch=[x, t], reduce="mean", strategy="vectorised")
    assert batched.source in shown
    x0 = sg.symbol("x0")
    chain = x0
    for _ in range(10_000):
        chain = sg.sin(chain) * 1.01 + 0.1 * x0
    assert sg.compile(chain, wrt=[x0]).source in shown


def test_the_readmes_hessian_and_hvp_numbers():
    x, y = sg.symbols("x y")
    f = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    assert sg.compile(f, wrt=[x, y], order=2)(1.2, 1.0)[2] == ((1330.0, -480.0), (-480.0, 200.0))
    assert sg.compile_hvp(f, [x, y])((1.2, 1.0), (0.3, -0.1)) == (447.0, -164.0)


def test_the_readmes_micrograd_numbers_are_what_symgrad_computes():
    with open(README, encoding="utf-8") as f:
        text = " ".join(f.read().split())
    shown = re.search(r"gives g = ([\d.]+), dg/da = ([\d.]+), dg/db = ([\d.]+) — a test", text)
    a, b = sg.symbols("a b")
    g, (ga, gb) = sg.compile(micrograd_expression(a, b, sg.relu), wrt=[a, b])(-4.0, 2.0)
    assert shown is not None and shown.groups() == (repr(g), repr(ga), repr(gb))


def test_the_readmes_module_map_names_every_module_of_the_package():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    table = text.split("### Where things are", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(\w+)\.py`", table))
    package = os.path.join(os.path.dirname(README), "symgrad")
    modules = {name[:-3] for name in os.listdir(package) if name.endswith(".py")} - {"__init__", "__main__"}
    assert listed == modules
