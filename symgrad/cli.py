"""The ``symgrad`` command: demo, grad (print the generated code), check (verify against SymPy), dot (draw).

Exit codes: 0 all is well; 1 ``check`` found a derivative that disagrees; 2 bad input (any error,
printed as one ``error: ...`` line), and a bare ``symgrad``, which prints the help.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from symgrad import __version__
from symgrad.errors import ParseError, SymgradError
from symgrad.extras import require

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT = 0, 1, 2
_DESCRIPTION = "Compile, check and draw the gradient of an expression written as text."
_EPILOG = """\
examples:
  symgrad grad "tanh(x*y) + x**2/y"                  print the generated value-and-gradient code
  symgrad grad "x*y + exp(x)" --wrt x --annotate     by x only, each line commented
  symgrad grad "(1 - x)**2 + 100*(y - x**2)**2" --order 2   with the Hessian
  symgrad check "x**y + log(x)" --points 20          verify against SymPy at 20 random points
  symgrad check "sin(x)*y" --order 2                 the Hessian too
  symgrad dot "tanh(x*y) + x" -o graph.svg --backward --at x=0.5,y=2   draw (needs Graphviz's dot)
  symgrad dot "x*y"                                  the DOT source, on stdout

exit codes: 0 ok, 1 a check found a derivative that disagrees, 2 bad input (or no command)"""
# Graphviz's formats that are windows, not files.
_NOT_FILES = frozenset({"gtk", "x11", "xlib", "cgimage"})
_DOT_SOURCE = frozenset({"dot", "gv"})


def _wrt(text: str | None) -> list[str] | None:
    return None if text is None else [w for w in text.replace(",", " ").split() if w]


def _at_least_one(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number ≥ 1, got {text!r}")
    return number


def _values(text: str) -> dict[str, float]:
    """``x=0.5,y=2`` as ``{"x": 0.5, "y": 2.0}``."""
    found = {}
    for item in text.replace(",", " ").split():
        name, _, number = item.partition("=")
        try:
            value = float(number)  # "x" alone has the number "", which is refused too
        except ValueError:
            value = None
        if not name or value is None:
            raise argparse.ArgumentTypeError(f"{item!r} is not name=number (e.g. x=0.5,y=2)")
        found[name] = value
    return found


def _output(path: str) -> str:
    """A file Graphviz can write, named by its extension, in a directory that exists."""
    import graphviz

    extension = os.path.splitext(path)[1][1:].lower()
    if extension not in graphviz.FORMATS or extension in _NOT_FILES:
        raise argparse.ArgumentTypeError(
            f"cannot tell a format Graphviz writes from {path!r}: end it in .svg, .png, .pdf or .dot (DOT "
            f"source), or another of Graphviz's formats (gif, jpg, ps, ...; dot -T? lists them)")
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        raise argparse.ArgumentTypeError(f"no directory {directory!r} to write {os.path.basename(path)!r} in")
    return path


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

    fn = compile_fn(parse(args.expression), _wrt(args.wrt), annotate=args.annotate, name=args.name,
                    order=args.order)
    print(_highlight(fn.source), end="")
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    from symgrad.parse import parse
    from symgrad.verify import verify

    report = verify(parse(args.expression), _wrt(args.wrt), order=args.order, points=args.points)
    print(report)
    if not report.points:  # nothing was compared: the input is at fault, not a derivative
        return EXIT_BAD_INPUT
    return EXIT_OK if report.ok else EXIT_MISMATCH


def _cmd_dot(args: argparse.Namespace) -> int:
    from symgrad.parse import parse
    from symgrad.viz import draw

    dot = draw(parse(args.expression), _wrt(args.wrt), backward=args.backward, at=args.at,
               max_nodes=None if args.all else 500)
    if args.output is None:
        sys.stdout.write(dot.source)
        return EXIT_OK
    extension = os.path.splitext(args.output)[1][1:].lower()
    # Piped rather than rendered: Graphviz's render writes (and deletes) a source file of its own.
    data = dot.source.encode() if extension in _DOT_SOURCE else _rendered(dot, extension)
    with open(args.output, "wb") as out:
        out.write(data)
    print(f"wrote {args.output}")
    return EXIT_OK


def _rendered(dot: Any, extension: str) -> bytes:
    """The drawing in the format ``extension``, as the installed ``dot`` writes it."""
    import graphviz

    try:
        return bytes(dot.pipe(format=extension, quiet=True))
    except graphviz.CalledProcessError as error:  # a format this build of Graphviz lacks
        said = (error.stderr or b"").decode(errors="replace").strip()
        raise SymgradError(f"Graphviz's dot cannot write .{extension} here: {said}") from None


def _cmd_demo(args: argparse.Namespace) -> int:
    from symgrad.demo import run

    run(quick=args.quick, plot=args.plot)
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symgrad", description=_DESCRIPTION, epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"symgrad {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="command")

    demo = commands.add_parser("demo", help="compile an example, show its code, verify it, train an MLP")
    demo.add_argument("--quick", action="store_true", help="a shorter training run")
    demo.add_argument("--plot", metavar="PATH", help="save the figure of f and its derivatives (needs matplotlib)")
    demo.set_defaults(run=_cmd_demo)

    grad = commands.add_parser("grad", help="print the generated value-and-gradient function")
    grad.add_argument("expression", help='e.g. "tanh(x*y) + x**2/y"')
    grad.add_argument("--wrt", metavar="NAMES", help="variables to differentiate by, e.g. x,y (default: all)")
    grad.add_argument("--order", type=int, choices=(1, 2), default=1, help="2: the Hessian too")
    grad.add_argument("--annotate", action="store_true", help="comment each line with its subexpression")
    grad.add_argument("--name", default="f", help="name of the generated function")
    grad.set_defaults(run=_cmd_grad)

    check = commands.add_parser("check", help="verify the derivatives against SymPy (exit 1 if one disagrees)")
    check.add_argument("expression", help='e.g. "x**y + log(x)"')
    check.add_argument("--wrt", metavar="NAMES", help="variables to differentiate by (default: all)")
    check.add_argument("--order", type=int, choices=(1, 2), default=1, help="2: check the Hessian too")
    check.add_argument("--points", type=_at_least_one, default=5, help="random points to compare at (≥ 1)")
    check.set_defaults(run=_cmd_check)

    dot = commands.add_parser("dot", help="draw the expression's graph (Graphviz)")
    dot.add_argument("expression", help='e.g. "tanh(x*y) + x"')
    dot.add_argument("-o", "--output", type=_output, metavar="FILE",
                     help="file to write, its format from its extension: .svg, .png, .pdf, .dot ... "
                          "(default: the DOT source on stdout)")
    dot.add_argument("--backward", action="store_true", help="draw the backward graph too")
    dot.add_argument("--wrt", metavar="NAMES", help="variables for the backward graph (default: all)")
    dot.add_argument("--at", type=_values, metavar="VALUES", help="values to show, e.g. x=0.5,y=2")
    dot.add_argument("--all", action="store_true", help="draw even graphs over 500 nodes")
    dot.set_defaults(run=_cmd_dot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: the process's); returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return int(args.run(args))
    except Exception as error:  # exit 1 means "a check found a mismatch": any failure is 2
        print(f"error: {_describe(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _describe(error: Exception) -> str:
    """The message, with the exception's type when it is not one of symgrad's own."""
    text = str(error).strip() or type(error).__name__
    if isinstance(error, ParseError):
        return text  # its caret lines point into the input
    first = text.splitlines()[0]
    return first if isinstance(error, SymgradError) else f"{type(error).__name__}: {first}"
