"""Out-of-core benchmark: fit on a dask array that is never held in memory.

A float32 dask array of 2,000,000 x 50 (400 MB) is generated lazily, block by
block, from a seeded random generator, with a non-linear label rule. The same
TorchMLPClassifier (same parameters, same seed) is fitted twice, each time in a
fresh process:

- streaming: ``fit(X, y)`` on the dask array itself, which streams its blocks;
- in memory: ``fit`` on ``dask.compute(X, y)``, the same values as numpy arrays.

Reported for each: the peak resident memory of the process above its
warmed-up baseline (``ru_maxrss``; imports, thread pools and a small fit are
in the baseline), the fit's wall time, epochs, and the accuracy on 200,000
held-out rows generated the same way. The streaming run then checks lazy
prediction on the training array: ``predict_proba`` returns a dask array
without computing anything, and its blocks, computed, match the in-memory
predictions of the same rows.

Usage, from the repository root::

    python benchmarks/out_of_core.py                  # 2,000,000 rows: the target
    python benchmarks/out_of_core.py --rows 200000    # a quick check

Targets (the out-of-core issue): streaming peak RSS under 500 MB above the
start; held-out accuracy within 0.01 of the in-memory fit's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

# This folder's sparse.py would shadow the pydata "sparse" package, which
# dask.array imports when it is installed.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

N_FEATURES = 50
BLOCK_ROWS = 100_000
TEST_ROWS = 200_000
MIB = 2**20


def make_data(n_rows: int, seed: int, block_rows: int = BLOCK_ROWS):
    """A lazily generated float32 dask array and its labels."""
    import dask.array as da

    X = da.random.default_rng(seed).standard_normal(
        (n_rows, N_FEATURES), chunks=(block_rows, N_FEATURES), dtype=np.float32
    )
    return X, X.map_blocks(_rule, drop_axis=1, dtype=np.int64)


def _rule(X):
    score = X[:, 0] * X[:, 1] + np.sin(2 * X[:, 2]) - 0.5 * X[:, 3] + 0.3 * X[:, 4:10].sum(axis=1)
    noise = 0.3 * np.cos(7 * X[:, 10] + 3 * X[:, 11])  # deterministic "noise"
    return (score + noise > 0).astype(np.int64)


def _estimator(max_iter: int, early_stopping: bool):
    from sk_mlp import TorchMLPClassifier

    return TorchMLPClassifier(
        (64,),
        batch_size=1000,
        learning_rate_init=3e-3,
        max_iter=max_iter,
        early_stopping=early_stopping,
        n_iter_no_change=3,
        random_state=0,
    )


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _check_lazy_predict(estimator, X) -> dict:
    """predict_proba on the dask training array: lazy, and equal to in memory."""
    import dask
    from dask.callbacks import Callback

    class Count(Callback):
        def __init__(self):
            super().__init__()
            self.tasks = 0

        def _pretask(self, key, dsk, state):
            self.tasks += 1

    with Count() as count:
        lazy = estimator.predict_proba(X)
    worst = 0.0
    for i in range(X.numblocks[0]):
        block, predicted = dask.compute(X.blocks[i], lazy.blocks[i])
        worst = max(worst, float(np.max(np.abs(predicted - estimator.predict_proba(block)))))
    return {"lazy_type": type(lazy).__name__, "tasks_at_call": count.tasks, "max_abs_diff": worst}


def child(mode: str, rows: int, max_iter: int, early_stopping: bool, threads: int) -> dict:
    import dask
    import torch

    torch.set_num_threads(threads)
    dask.config.set(scheduler="threads", num_workers=threads)
    X, y = make_data(rows, seed=0)
    X_test, y_test = make_data(TEST_ROWS, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # One-time costs (lazy imports, thread pools, allocator arenas) go
        # into the baseline.
        X_small, y_small = make_data(3000, seed=2, block_rows=1000)
        _estimator(1, early_stopping).fit(X_small, y_small)
        _estimator(1, early_stopping).fit(*dask.compute(X_small, y_small))
        del X_small, y_small
        estimator = _estimator(max_iter, early_stopping)
        start_kib = _rss_kib()
        start = time.perf_counter()
        if mode == "streaming":
            estimator.fit(X, y)
        else:
            X_mem, y_mem = dask.compute(X, y)
            estimator.fit(X_mem, y_mem)
            del X_mem, y_mem
        fit_s = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    accuracy = float((estimator.predict(X_test) == y_test).mean().compute())
    result = {
        "mode": mode,
        "rows": rows,
        "X_MiB": X.nbytes / MIB,
        "extra_MiB": (peak_kib - start_kib) / 1024,
        "fit_s": fit_s,
        "n_iter": estimator.n_iter_,
        "accuracy": accuracy,
    }
    if mode == "streaming":
        result.update(_check_lazy_predict(estimator, X))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--max-iter", type=int, default=8)
    parser.add_argument("--early-stopping", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch and dask threads each")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = (args.rows, args.max_iter, args.early_stopping, args.threads)
    if args.child:
        print(json.dumps(child(args.child, *settings)))
        return
    print(
        f"TorchMLPClassifier((64,), batch_size=1000, learning_rate_init=3e-3, "
        f"max_iter={args.max_iter}, early_stopping={args.early_stopping}, random_state=0) on "
        f"{args.rows:,} x {N_FEATURES} float32 in blocks of {BLOCK_ROWS:,} rows; "
        f"{args.threads} torch thread(s), dask threads scheduler with {args.threads} worker(s); "
        "fresh process per mode",
        flush=True,
    )
    results = {}
    for mode in ("streaming", "in memory"):
        command = [sys.executable, __file__, "--child", mode, "--rows", str(args.rows)]
        command += ["--max-iter", str(args.max_iter), "--threads", str(args.threads)]
        command += ["--early-stopping"] if args.early_stopping else []
        out = subprocess.run(command, capture_output=True, text=True)
        if out.returncode:
            print(f"{mode} failed:\n{out.stderr[-3000:]}")
            return
        r = results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"  {mode:<10} peak RSS +{r['extra_MiB']:.0f} MiB over the start "
            f"(X is {r['X_MiB']:.0f} MiB), fit {r['fit_s']:.0f} s, {r['n_iter']} epochs, "
            f"held-out accuracy {r['accuracy']:.4f}",
            flush=True,
        )
    streamed, in_memory = results["streaming"], results["in memory"]
    gap = abs(streamed["accuracy"] - in_memory["accuracy"])
    print(
        f"  lazy predict_proba on the training array: a {streamed['lazy_type']}, "
        f"{streamed['tasks_at_call']} tasks run at the call; computed block by block, "
        f"largest difference from in-memory predict_proba {streamed['max_abs_diff']:.2e}"
    )
    print(f"  time: streaming / in memory = {streamed['fit_s'] / in_memory['fit_s']:.2f}x")
    memory_met = streamed["extra_MiB"] * MIB < 500e6
    print(
        f"  target: streaming peak RSS < 500 MB above the start: "
        f"{streamed['extra_MiB'] * MIB / 1e6:.0f} MB, {'met' if memory_met else 'NOT met'}"
    )
    print(
        f"  target: held-out accuracy within 0.01 of in memory: {gap:.4f}, "
        f"{'met' if gap <= 0.01 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
