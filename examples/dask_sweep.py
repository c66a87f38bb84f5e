"""A compiled value-and-gradient over 10 million points on a local Dask cluster (worker processes).

    python examples/dask_sweep.py                    # 10^7 points, 2 worker processes
    python examples/dask_sweep.py --points 200000    # a quick run

symgrad compiles the loss once as array code (``backend="numpy"``); the
compiled function pickles as its source, so Dask ships it to each worker
process, which runs it on its blocks of data with ``reduce="sum"``. The
per-block sums are added up and divided by the number of points: the mean
loss over all points and its gradient with respect to (w, b), checked
against the same computation in this process. Nothing here is local to one
machine: ``Client("tcp://scheduler:8786")`` instead of ``LocalCluster`` runs
the same code on a distributed cluster.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import symgrad as sg
from symgrad.extras import require

w, b, x, t = sg.symbols("w b x t")
LOSS = (sg.tanh(w * x + b) - t) ** 2
PARAMS = (0.3, -0.1)


def block_sums(fn, xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """One block's summed loss and gradient, as a 1×3 array (what map_blocks stitches together)."""
    value, (gw, gb) = fn(*PARAMS, x=xs, t=ts)
    return np.array([[float(value), float(gw), float(gb)]])


def sweep(n_points: int, chunk: int, workers: int) -> tuple[np.ndarray, float, np.ndarray]:
    da = require("dask.array", "examples/dask_sweep.py")
    dask_distributed = require("dask.distributed", "examples/dask_sweep.py")

    fn = sg.compile(LOSS, wrt=[w, b], backend="numpy", batch=["x", "t"], reduce="sum")
    rng = da.random.default_rng(42)
    xs = rng.normal(size=n_points, chunks=chunk)
    ts = xs * 0.5 + rng.normal(scale=0.1, size=n_points, chunks=chunk)
    sums = da.map_blocks(lambda a, c: block_sums(fn, a, c), xs, ts, new_axis=1, chunks=(1, 3), dtype=float)
    total = sums.sum(axis=0) / n_points

    cluster_options = {"n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
    with dask_distributed.LocalCluster(**cluster_options) as cluster, dask_distributed.Client(cluster):
        start = time.perf_counter()
        distributed = total.compute()
        seconds = time.perf_counter() - start
    in_process = total.compute(scheduler="synchronous")
    return distributed, seconds, in_process


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    distributed, seconds, in_process = sweep(args.points, min(args.chunk, args.points), args.workers)
    print(f"mean loss over {args.points:,} points at (w, b) = {PARAMS}: {distributed[0]:.12f}")
    print(f"its gradient: d/dw = {distributed[1]:.12f}, d/db = {distributed[2]:.12f}")
    print(f"{args.workers} worker processes, {-(-args.points // args.chunk)} blocks: {seconds:.2f} s")
    agree = np.allclose(distributed, in_process, rtol=1e-12, atol=0)
    print(f"same numbers as in this process: {'yes' if agree else 'NO'}")


if __name__ == "__main__":
    main()
