"""``python -m symgrad``: demo, grad (print generated code), check (verify against SymPy), dot (draw)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from symgrad import __version__
from symgrad.errors import ParseError, SymgradError
from symgrad.extras import require


def _wrt(text: str | None) -> list[str] | None:
    return None if text is None else [w for w in text.replace(",", " ").split() if w]


def _highlight(source: str) -> str:
    """Colour Python source when writing to a terminal and pygments is installed."""
    if not sys.stdout.isatty():
        return source
    try:
        pygments = require("pygments", "colour")
    except ImportError:  # colour is a nicety: plain text says the same
        return source
    from pygments.formatters import TerminalFormatter
    from pygments.lexers import PythonLexer

    return str(pygments.highlight(source, PythonLexer(), TerminalFormatter()))


def _cmd_grad(args: argparse.Namespace) -> int:
    from symgrad.compiler import compile as compile_fn
    from symgrad.parse import parse

    fn = compile_fn(parse(args.expression), _wrt(args.wrt), annotate=args.annotate, name=args.name)
    print(_highlight(fn.source), end="")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from symgrad.parse import parse
    from symgrad.verify import verify

    report = verify(parse(args.expression), _wrt(args.wrt), points=args.points)
    print(report)
    if not report.points:  # nothing was compared: the input is at fault, not a derivative
        return 2
    return 0 if report.ok else 1


def _cmd_dot(args: argparse.Namespace) -> int:
    from symgrad.parse import parse
    from symgrad.viz import draw

    at = None
    if args.at:
        at = {}
        for item in args.at.replace(",", " ").split():
            name, _, number = item.partition("=")
            at[name.strip()] = float(number)
    dot = draw(parse(args.expression), _wrt(args.wrt), backward=args.backward, at=at,
               max_nodes=None if args.all else 500)
    stem, _, extension = args.output.rpartition(".")
    if extension == "dot" or not stem:
        with open(args.output, "w") as out:
            out.write(dot.source)
    else:
        dot.format = extension
        dot.render(outfile=args.output, cleanup=True)
    print(f"wrote {args.output}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from symgrad.demo import run

    run(quick=args.quick)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m symgrad", description=__doc__)
    parser.add_argument("--version", action="version", version=f"symgrad {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="compile an example, show its code, verify it, train an MLP")
    demo.add_argument("--quick", action="store_true", help="a shorter training run")
    demo.set_defaults(run=_cmd_demo)

    grad = commands.add_parser("grad", help="print the generated value-and-gradient function")
    grad.add_argument("expression", help='e.g. "tanh(x*y) + x**2/y"')
    grad.add_argument("--wrt", help="variables to differentiate by, e.g. x,y (default: all)")
    grad.add_argument("--annotate", action="store_true", help="comment each line with its subexpression")
    grad.add_argument("--name", default="f", help="name of the generated function")
    grad.set_defaults(run=_cmd_grad)

    dot = commands.add_parser("dot", help="draw the expression's graph (Graphviz)")
    dot.add_argument("expression")
    dot.add_argument("-o", "--output", default="graph.svg", help="file to write: .svg, .png, .pdf or .dot")
    dot.add_argument("--backward", action="store_true", help="draw the backward graph too")
    dot.add_argument("--wrt", help="variables for the backward graph (default: all)")
    dot.add_argument("--at", help="values to show, e.g. x=0.5,y=2")
    dot.add_argument("--all", action="store_true", help="draw even graphs over 500 nodes")
    dot.set_defaults(run=_cmd_dot)

    check = commands.add_parser("check", help="verify the gradient against sympy.diff")
    check.add_argument("expression")
    check.add_argument("--wrt", help="variables to differentiate by (default: all)")
    check.add_argument("--points", type=int, default=5, help="random points to compare at")
    check.set_defaults(run=_cmd_check)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except Exception as error:  # exit 1 means "a check found a mismatch": any failure is 2
        print(f"error: {_describe(error)}", file=sys.stderr)
        return 2


def _describe(error: Exception) -> str:
    """The message, with the exception's type when it is not one of symgrad's own."""
    text = str(error).strip() or type(error).__name__
    if isinstance(error, ParseError):
        return text  # its caret lines point into the input
    first = text.splitlines()[0]
    return first if isinstance(error, SymgradError) else f"{type(error).__name__}: {first}"
