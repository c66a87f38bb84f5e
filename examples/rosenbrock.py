"""Gradient descent on the extended Rosenbrock function, with one compiled value-and-gradient.

    python examples/rosenbrock.py [n]
"""

import sys
import time

import symgrad as sg

n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
xs = [sg.symbol(f"x{i}") for i in range(n)]
f = sum(100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(n - 1))

start = time.perf_counter()
fn = sg.compile(f, wrt=xs)
print(f"compiled n={n}: {fn.stats.forward_nodes} forward nodes, {fn.stats.lines} lines, "
      f"{time.perf_counter() - start:.3f} s")

point = [-1.2 if i % 2 == 0 else 1.0 for i in range(n)]
lr = 1e-3
for step in range(20_001):
    value, grad = fn(*point)
    if step % 4000 == 0:
        print(f"step {step:6d}  f = {value:.6g}")
    point = [p - lr * g for p, g in zip(point, grad)]
