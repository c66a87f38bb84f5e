"""The README's drawings: forward and backward graphs, as SVG (and PNG) files.

    python examples/draw.py [folder]       # default: docs/

Needs Graphviz's `dot` program (apt-get install graphviz).
"""

import os
import random
import sys

import symgrad as sg
from symgrad.demo import micrograd_expression
from symgrad.engine import Value, draw_dot
from symgrad.nn import Neuron


def save(dot, folder, name):
    for fmt in ("svg", "png"):
        path = dot.render(outfile=os.path.join(folder, f"{name}.{fmt}"), format=fmt, cleanup=True)
        print(f"wrote {path}")


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "docs"
    os.makedirs(folder, exist_ok=True)

    # micrograd's README expression, drawn from Values as micrograd's draw_dot does
    a, b = Value(-4.0, label="a"), Value(2.0, label="b")
    save(draw_dot(micrograd_expression(a, b, lambda v: v.relu())), folder, "micrograd_expression")

    # a 2-D neuron: relu(w0*x0 + w1*x1 + b), with its gradient drawn too
    random.seed(4)  # a seed whose neuron is active at this input, so gradients flow
    neuron = Neuron(2)
    for i, p in enumerate(neuron.w):
        p.label = f"w{i}"
    neuron.b.label = "b"
    x0, x1 = Value(0.5, label="x0"), Value(-1.5, label="x1")
    save(draw_dot(neuron([x0, x1])), folder, "neuron")

    # reverse mode made visible: forward graph (white) and backward graph (orange)
    x, y = sg.symbols("x y")
    f = sg.tanh(x * y) + x**2 / y
    save(sg.draw(f, [x, y], backward=True, at={"x": 0.5, "y": 2.0}), folder, "backward")


if __name__ == "__main__":
    main()
