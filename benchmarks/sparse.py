"""Sparse input benchmark: memory and time of sk_mlp against scikit-learn's MLP.

Two workloads, each measured in a fresh process per contender so that the peak
resident memory (``ru_maxrss``) belongs to that contender alone:

- ``predict``: ``predict_proba`` on a 20,000 x 5,000 CSR matrix holding 100,000
  stored values, with a model fitted on 2,000 rows of the same width;
- ``fit``: a fit on a 50,000 x 100,000 CSR matrix at 0.1% density (5 million
  stored values), a text-like problem, for a fixed number of epochs.

The figure that matters is the memory a call adds to the process: it must grow
with the stored values, not with rows times columns (the dense form of the
predict matrix is 400 MB in float32, that of the fit matrix 20 GB).

Usage, from the repository root::

    python benchmarks/sparse.py            # both workloads, a few minutes on 2 cores
    python benchmarks/sparse.py --quick    # smaller fit matrix, 2 epochs
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import sklearn
import torch

RESULTS = Path(__file__).with_name("results-sparse.txt")
HIDDEN = (100,)


def _matrix(n_rows: int, n_cols: int, nnz: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n_rows, nnz)
    cols = rng.integers(0, n_cols, nnz)
    values = rng.exponential(size=nnz).astype(np.float32)
    X = sp.csr_matrix((values, (rows, cols)), shape=(n_rows, n_cols))
    X.sum_duplicates()
    return X


def _labels(X: sp.csr_matrix, seed: int) -> np.ndarray:
    """Two classes from a sparse linear rule, so that the problem is learnable."""
    w = np.random.default_rng(seed).normal(size=X.shape[1])
    score = X @ w
    return (score > np.median(score)).astype(int)


def _estimator(name: str, epochs: int):
    from sklearn.neural_network import MLPClassifier

    from sk_mlp import TorchMLPClassifier

    common = dict(hidden_layer_sizes=HIDDEN, max_iter=epochs, random_state=0)
    if name == "sk_mlp":
        return TorchMLPClassifier(n_iter_no_change=np.inf, **common)
    return MLPClassifier(tol=0.0, n_iter_no_change=10**9, **common)


def _child(workload: str, contender: str, quick: bool) -> dict:
    """Run one measurement in this (fresh) process."""
    torch.set_num_threads(2)
    warnings.simplefilter("ignore")
    if workload == "predict":
        X_fit = _matrix(2_000, 5_000, 10_000, seed=1)
        model = _estimator(contender, epochs=5).fit(X_fit, _labels(X_fit, 0))
        X = _matrix(20_000, 5_000, 100_000, seed=2)
        model.predict_proba(X[:10])  # warm up kernels outside the measurement
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        model.predict_proba(X)
        seconds = time.perf_counter() - start
    else:
        n_rows, epochs = (10_000, 2) if quick else (50_000, 5)
        X = _matrix(n_rows, 100_000, n_rows * 100, seed=3)
        y = _labels(X, 0)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        _estimator(contender, epochs).fit(X, y)
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "extra_mb": (peak - before) / 1024, "nnz": int(X.nnz)}


def _measure(workload: str, contender: str, quick: bool) -> dict:
    command = [sys.executable, __file__, "--child", workload, contender]
    command += ["--quick"] if quick else []
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller fit matrix, 2 epochs")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child, quick=args.quick)))
        return
    lines = [
        f"sk_mlp sparse benchmark ({'quick' if args.quick else 'full'}): "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}, 2 threads, hidden {HIDDEN}",
        "memory: peak RSS added by the call (ru_maxrss), fresh process per contender",
        "",
        f"{'workload':<40} {'contender':<10} {'seconds':>9} {'added MB':>9}",
    ]
    titles = {
        "predict": "predict_proba 20,000 x 5,000, 100k values",
        "fit": "fit 10,000 x 100,000, 0.1%, 2 epochs"
        if args.quick
        else "fit 50,000 x 100,000, 0.1%, 5 epochs",
    }
    for workload, title in titles.items():
        for contender in ("sk_mlp", "sklearn"):
            result = _measure(workload, contender, args.quick)
            lines.append(
                f"{title:<40} {contender:<10} {result['seconds']:9.2f} {result['extra_mb']:9.0f}"
            )
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
