"""The disk cache: a process compiling a graph a first process compiled into the same ``cache_dir``.

    python benchmarks/bench_disk_cache.py                     # n = 10^4, 3 rounds, key walk at 10^4 and 10^5
    python benchmarks/bench_disk_cache.py --sizes 1000 10000 --rounds 5 --walk 10000 100000

Extended Rosenbrock over a vector of symbols, value and gradient (``wrt=x``), as
``bench_vectorised.py`` builds it. Each round makes an empty directory and runs three fresh
processes in turn: one without the disk cache, the first to compile into the directory (and
write the entry), and the second, which finds it. Set-up is measured as there (symgrad already
imported): building the graph in Python, which no cache can skip, then ``sg.compile``, up to a
function taking a NumPy array; every answer is checked against the hand-written gradient.
Medians over the rounds; ratios against the first process.
``--walk`` sizes: the key's walk over the graph (``symgrad.cachekey.key_digest``), best of 5,
in nanoseconds per node, next to ``sg.topological_order``'s walk over the same graph.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIRST, SECOND = "first, writes the entry", "second, reads it"
PROCESSES = {"no disk cache": False, FIRST: True, SECOND: True}  # label -> compiles with cache_dir

_CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from benchmarks import tasks
n, directory = {n}, {directory!r}
point = np.array(tasks.rosenbrock_point(n))
import symgrad as sg
start = time.perf_counter()
x = sg.vector("x", n)
f = tasks.rosenbrock_expression(list(x))
built = time.perf_counter()
fn = sg.compile(f, wrt=x, cache_dir=directory or None)
done = time.perf_counter()
value, gradient = fn(point)
error = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip([value, *gradient], tasks.rosenbrock_by_hand(list(point))))
assert error < 1e-9, error
print(json.dumps({{"build": built - start, "compile": done - built,
                  "setup": done - start, "restored": bool(fn.stats.origin), "nodes": fn.stats.forward_nodes}}))
"""

_WALK = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from benchmarks import tasks
import symgrad as sg
from symgrad import cachekey
n = {n}
x = sg.vector("x", n)
f = tasks.rosenbrock_expression(list(x))
key = (f, tuple(x))
cachekey.key_digest(key, "bench")  # reads symgrad's source once, for its digest
def best(walk):
    times = []
    for _ in range(5):
        start = time.perf_counter()
        walk()
        times.append(time.perf_counter() - start)
    return min(times)
nodes = len(sg.topological_order([f, *x]))
print(json.dumps({{"nodes": nodes, "seconds": best(lambda: cachekey.key_digest(key, "bench")),
                  "topological": best(lambda: sg.topological_order([f, *x]))}}))
"""


def _run(code: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms" if seconds >= 0.01 else f"{seconds * 1e3:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--walk", type=int, nargs="*", default=[10_000, 100_000])
    options = parser.parse_args()
    print("| n | process | build graph | sg.compile | set-up | set-up ÷ first's | sg.compile ÷ first's |")
    print("|---|---|---|---|---|---|---|")
    for n in options.sizes:
        runs: dict[str, list[dict[str, float]]] = {label: [] for label in PROCESSES}
        for _ in range(options.rounds):
            with tempfile.TemporaryDirectory() as directory:
                for label, cached in PROCESSES.items():
                    found = _run(_CHILD.format(root=ROOT, n=n, directory=directory if cached else ""))
                    assert found["restored"] == (label == SECOND), (label, found)
                    runs[label].append(found)
        median = {label: {k: statistics.median(r[k] for r in found) for k in ("build", "compile", "setup")}
                  for label, found in runs.items()}
        first = median[FIRST]
        for label, m in median.items():
            print(f"| {n:,} | {label} | {_ms(m['build'])} | {_ms(m['compile'])} | "
                  f"{_ms(m['setup'])} | {m['setup'] / first['setup']:.3f}× | {m['compile'] / first['compile']:.3f}× |",
                  flush=True)
    if options.walk:
        print("\n| n | nodes | key walk | per node | sg.topological_order per node (for scale) |")
        print("|---|---|---|---|---|")
        for n in options.walk:
            found = _run(_WALK.format(root=ROOT, n=n))
            print(f"| {n:,} | {found['nodes']:,} | {_ms(found['seconds'])} | "
                  f"{found['seconds'] * 1e9 / found['nodes']:.0f} ns | "
                  f"{found['topological'] * 1e9 / found['nodes']:.0f} ns |", flush=True)


if __name__ == "__main__":
    main()
