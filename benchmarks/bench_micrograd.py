"""symgrad vs micrograd on micrograd's own demo, side by side in one run.

    python benchmarks/bench_micrograd.py            # full: 100 micrograd steps (about a minute)
    python benchmarks/bench_micrograd.py --quick    # 10 steps each

1. The moons demo (data, model, 100 SGD steps): symgrad's compile-once path
   (compile time included) vs micrograd's loop, same data and initial weights.
2. The eager path: build the loss from Values and call backward() each step
   (symgrad: a cache hit after the first step) vs micrograd, per step.
3. Memory: peak bytes per node (tracemalloc) of the eager loss graph.
4. What a cache hit of Value.backward() costs per node, and where.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from micrograd import nn as mg_nn
from micrograd.engine import Value as MGValue

from symgrad import engine
from symgrad.datasets import moons
from symgrad.demo import l2, svm_loss
from symgrad.engine import Value
from symgrad.nn import MLP

SEED = 1337


def eager_loss(model, X, y, value_cls):
    inputs = [[value_cls(v) for v in row] for row in X]
    scores = [model(row) for row in inputs]
    total = sum(svm_loss(s, yi) for s, yi in zip(scores, y)) * (1.0 / len(y)) + l2(model.parameters())
    return total, scores


def sgd(model, k):
    lr = 1.0 - 0.9 * k / 100
    for p in model.parameters():
        p.data -= lr * p.grad


def accuracy(y, scores):
    return sum((yi > 0) == (s > 0) for yi, s in zip(y, scores)) / len(y)


def run_micrograd(X, y, steps):
    random.seed(SEED)
    model = mg_nn.MLP(2, [16, 16, 1])
    start = time.perf_counter()
    for k in range(steps):
        total, scores = eager_loss(model, X, y, MGValue)
        model.zero_grad()
        total.backward()
        sgd(model, k)
    return time.perf_counter() - start, total.data, accuracy(y, [s.data for s in scores])


def run_symgrad_eager(X, y, steps):
    engine.clear_cache()
    random.seed(SEED)
    model = MLP(2, [16, 16, 1])
    times = []
    for k in range(steps):
        start = time.perf_counter()
        total, scores = eager_loss(model, X, y, Value)
        model.zero_grad()
        total.backward()
        sgd(model, k)
        times.append(time.perf_counter() - start)
    return times, total.data, accuracy(y, [s.data for s in scores])


def run_symgrad_compiled(X, y, steps):
    random.seed(SEED)
    model = MLP(2, [16, 16, 1])
    start = time.perf_counter()
    loss_fn = model.compile_loss(svm_loss, X, y, regularization=l2)
    compiled = time.perf_counter() - start
    for k in range(steps):
        model.zero_grad()
        loss, scores = loss_fn()
        sgd(model, k)
    return time.perf_counter() - start, compiled, loss, accuracy(y, scores)


def graph_memory(X, y, value_cls, model):
    gc.collect()
    tracemalloc.start()
    total, _ = eager_loss(model, X, y, value_cls)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seen, stack, nodes = set(), [total], 0
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        nodes += 1
        stack.extend(v._prev)
    return peak, nodes


def cache_hit_cost(X, y):
    random.seed(SEED)
    model = MLP(2, [16, 16, 1])
    total, _ = eager_loss(model, X, y, Value)
    total.backward()  # compile (miss)
    total, _ = eager_loss(model, X, y, Value)
    start = time.perf_counter()
    order = engine._topological(total)
    walked = time.perf_counter()
    program = engine._compiled_for(order)
    keyed = time.perf_counter()
    program.run(order)
    ran = time.perf_counter()
    return len(order), walked - start, keyed - walked, ran - keyed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    steps = 10 if args.quick else 100
    X, y, source = moons(100, 0.1, SEED)
    print(f"# micrograd parity benchmark — {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores; data: {source}; {steps} steps\n")

    mg_time, mg_loss, mg_acc = run_micrograd(X, y, steps)
    eager_times, eager_loss_value, eager_acc = run_symgrad_eager(X, y, steps)
    compiled_time, compile_time, c_loss, c_acc = run_symgrad_compiled(X, y, steps)
    assert abs(mg_loss - eager_loss_value) < 1e-9 * max(1, abs(mg_loss)), "eager symgrad disagrees with micrograd"
    assert abs(mg_loss - c_loss) < 1e-6, "compiled symgrad disagrees with micrograd"

    eager_total = sum(eager_times)
    print("| run | total | per step | final loss | accuracy |")
    print("|---|---|---|---|---|")
    print(f"| micrograd (eager build + backward) | {mg_time:.2f} s | {mg_time / steps * 1e3:.1f} ms "
          f"| {mg_loss:.6f} | {mg_acc:.0%} |")
    print(f"| symgrad eager Value + backward() (cache hits after step 1) | {eager_total:.2f} s "
          f"| {sorted(eager_times)[len(eager_times) // 2] * 1e3:.1f} ms (median) | {eager_loss_value:.6f} "
          f"| {eager_acc:.0%} |")
    print(f"| symgrad compile-once (compile {compile_time * 1e3:.0f} ms included) | {compiled_time:.2f} s "
          f"| {(compiled_time - compile_time) / steps * 1e3:.2f} ms | {c_loss:.6f} | {c_acc:.0%} |")
    print()
    print(f"- compile-once vs micrograd, whole demo: {mg_time / compiled_time:.0f}× faster")
    print(f"- eager vs micrograd, per step (median, cache hit): "
          f"{(mg_time / steps) / sorted(eager_times)[len(eager_times) // 2]:.1f}× faster")

    random.seed(SEED)
    ours = MLP(2, [16, 16, 1])
    random.seed(SEED)
    theirs = mg_nn.MLP(2, [16, 16, 1])
    peak_ours, nodes_ours = graph_memory(X, y, Value, ours)
    peak_theirs, nodes_theirs = graph_memory(X, y, MGValue, theirs)
    print(f"- eager loss graph memory: symgrad {peak_ours / nodes_ours:.0f} B/node ({nodes_ours} nodes), "
          f"micrograd {peak_theirs / nodes_theirs:.0f} B/node ({nodes_theirs} nodes)")

    n, walk, key, run = cache_hit_cost(X, y)
    print(f"- Value.backward() cache hit on {n} nodes: {(walk + key + run) / n * 1e9:.0f} ns/node "
          f"(walk {walk / n * 1e9:.0f}, shape key + lookup {key / n * 1e9:.0f}, compiled call {run / n * 1e9:.0f})")


if __name__ == "__main__":
    main()
