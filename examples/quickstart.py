"""The README's quick start: compile, call, read the generated code, verify against SymPy.

    python examples/quickstart.py
"""

import symgrad as sg

x, y = sg.symbols("x y")
f = sg.tanh(x * y) + x**2 / y - sg.log(y) * sg.exp(-x)

fn = sg.compile(f, wrt=[x, y])
value, (gx, gy) = fn(0.5, 2.0)
print(f"f = {value!r}, df/dx = {gx!r}, df/dy = {gy!r}")
print(f"value alone: {fn.forward(x=0.5, y=2.0)!r}\n")
print(fn.source)
print(fn.stats, "\n")
print(sg.verify(f, [x, y]))

try:
    fn(0.5, -1.0)
except sg.EvaluationError as error:
    print(f"\nlog of a negative number is reported like this:\n{error}")
