"""sg.plot: f and its derivatives over a range, gaps where they are undefined."""

import math
import re
import sys

import pytest

import symgrad as sg

pytest.importorskip("matplotlib")

x, y = sg.symbols("x y")


def curves(figure):
    """Label -> (xs, ys) of each labelled line of the figure's one axes."""
    (ax,) = figure.axes
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
            for line in ax.lines if not line.get_label().startswith("_")}


def test_plot_draws_f_and_its_derivative_from_the_compiled_function():
    from matplotlib.figure import Figure

    figure = sg.plot(sg.sin(x) * x, x, (0.0, 3.0), points=31)
    assert isinstance(figure, Figure)
    lines = curves(figure)
    assert list(lines) == ["f", "f'"]
    xs, f = lines["f"]
    _, df = lines["f'"]
    assert len(xs) == 31 and xs[0] == 0.0 and xs[-1] == 3.0
    assert f[10] == pytest.approx(math.sin(xs[10]) * xs[10])
    assert df[10] == pytest.approx(math.cos(xs[10]) * xs[10] + math.sin(xs[10]))


def test_order_2_adds_the_second_derivative():
    lines = curves(sg.plot(x**3, x, (-1.0, 1.0), order=2, points=5))
    assert list(lines) == ["f", "f'", "f''"]
    assert lines["f''"][1] == pytest.approx([6 * v for v in lines["f"][0]])


def test_points_where_the_expression_is_undefined_are_gaps():
    xs, f = curves(sg.plot(sg.log(x), x, (-1.0, 1.0), points=21))["f"]
    assert [math.isnan(v) for v in f] == [v <= 0 for v in xs]  # log(0) raises too: a gap, not -inf
    assert f[-1] == 0.0


def test_the_whole_range_is_shown_gaps_included():
    (ax,) = sg.plot(sg.log(x), x, (-1.0, 1.0)).axes
    assert ax.get_xlim() == (-1.0, 1.0)


def test_a_pole_does_not_flatten_the_rest_of_the_curves():
    (ax,) = sg.plot(1 / x, x, (-1.0, 1.0), points=401).axes  # f' = -1/x² reaches -1.6e5 next to 0
    low, high = ax.get_ylim()
    assert -1000 < low < -1 and 1 < high < 1000
    (ax,) = sg.plot(x**2, x, (-1.0, 1.0)).axes  # nothing to cut: matplotlib's own limits
    assert ax.get_ylim()[0] < -2.0 and ax.get_ylim()[1] > 2.0


def test_a_derivative_undefined_where_f_is_defined_leaves_f_drawn():
    lines = curves(sg.plot(sg.sqrt(x), x, (0.0, 1.0), points=5))
    assert lines["f"][1][0] == 0.0 and math.isnan(lines["f'"][1][0])  # sqrt(0) = 0, its slope infinite


def test_the_figure_shows_as_a_png_in_a_notebook_without_pyplot():
    assert sg.plot(x**2, x, (0.0, 1.0))._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_leaves_pyplot_alone():
    before = sys.modules.get("matplotlib.pyplot")
    sg.plot(x**2, x, (0.0, 1.0))
    assert sys.modules.get("matplotlib.pyplot") is before


def test_plot_draws_into_given_axes():
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    assert sg.plot(x**2, x, (0.0, 1.0), ax=ax) is ax.figure
    assert len(ax.lines) == 3  # f, f' and the zero line


def test_plot_takes_the_variables_name():
    assert list(curves(sg.plot(x**2, "x", (0.0, 1.0)))) == ["f", "f'"]


@pytest.mark.parametrize(("args", "kwargs", "error", "message"), [
    ((x * y, x, (0, 1)), {}, ValueError, "depends on y besides x"),
    ((x, x + 1, (0, 1)), {}, TypeError, "x must be a symbol"),
    ((x, x, (1, 0)), {}, ValueError, "lo < hi"),
    ((x, x, (0, math.inf)), {}, ValueError, "finite"),
    ((x, x, (0, 1, 2)), {}, ValueError, "two numbers"),
    ((x, x, "ab"), {}, ValueError, "two numbers"),
    ((x, x, (0, 1)), {"order": 3}, ValueError, "order must be 1"),
    ((x, x, (0, 1)), {"points": 1}, ValueError, "points must be an int of at least 2"),
    (("x", x, (0, 1)), {}, TypeError, "plot() expression"),
])
def test_bad_input_is_refused_with_what_was_wrong(args, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        sg.plot(*args, **kwargs)


def test_without_matplotlib_plot_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'symgrad[plot]'")):
        sg.plot(x**2, x, (0.0, 1.0))



def test_the_demo_saves_its_plot_only_where_asked(tmp_path, monkeypatch):
    from symgrad.demo import plot_derivatives

    monkeypatch.chdir(tmp_path)
    said = []
    plot_derivatives(None, log=said.append)
    assert list(tmp_path.iterdir()) == [] and "--plot" in said[0]
    plot_derivatives(str(tmp_path / "f.png"), log=said.append)
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
