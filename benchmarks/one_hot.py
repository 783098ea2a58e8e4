"""One-hot categories as a lookup of the first layer's weights, against the
dense one-hot matrix that sk_mlp built before.

Fits ``TorchMLPClassifier`` (defaults: hidden (100,), batch 200) on a frame
of category columns with 1,000 levels each, and prints, for each way of
computing the first layer, the time per epoch (the time of a 3-epoch fit less
that of a 1-epoch fit, halved) and the growth of peak memory (VmHWM) during
the 1-epoch fit; then the time and peak growth of ``predict_proba`` on
20,000 rows x 20 such columns, in torch and in onnxruntime (the graph of
``sk_mlp.to_onnx``, one thread). Medians over repeats, each repeat a fresh
process per way, the ways alternating. "dense" is the earlier code path (the
frame stage's one-hot columns applied to the data once; in ONNX, an
Equal/Cast block per column multiplied by the first layer), restored here by
switching the lookup off and sizing prediction chunks in rows (16,384) rather
than bytes; "lookup" is the current code.

Usage, from the repository root (Linux: reads /proc/self/status)::

    python benchmarks/one_hot.py                  # 100,000 rows x 3 columns, 3 repeats
    python benchmarks/one_hot.py --rows 300000    # the issue's larger case
    python benchmarks/one_hot.py --write          # also into benchmarks/results-one-hot.txt

Timings on a shared machine are noisy: read the ratios of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

LEVELS = 1000


def _frame(n_rows: int, n_columns: int, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    levels = np.array([f"v{i}" for i in range(LEVELS)], dtype=object)
    X = pd.DataFrame(
        {
            f"c{j}": pd.Categorical.from_codes(rng.integers(0, LEVELS, n_rows), levels)
            for j in range(n_columns)
        }
    )
    return X, X["c0"].cat.codes.to_numpy() % 2


def _rss(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) * 1024


def _reset_peak() -> int:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM back to the current resident size
    return _rss("VmRSS:")


def _child(way: str, task: str, n_rows: int, n_columns: int) -> None:
    """One measurement in this process; prints seconds and bytes."""
    import sk_mlp._engine.data
    from sk_mlp import TorchMLPClassifier

    warnings.simplefilter("ignore")
    lookup = sk_mlp._engine.data.one_hot_lookup
    if way == "dense":
        sk_mlp._engine.data.one_hot_lookup = lambda stage, network: None
        sk_mlp._engine.data._CPU_CHUNK_BYTES = 2**62  # CHUNK_ROWS rows per chunk, as before
    params = dict(random_state=0, tol=0, n_iter_no_change=1000)
    TorchMLPClassifier(max_iter=1, **params).fit(*_frame(2000, n_columns, seed=1))  # warm-up
    X, y = _frame(n_rows, n_columns)
    if task == "fit":
        before = _reset_peak()
        start = time.perf_counter()
        TorchMLPClassifier(max_iter=1, **params).fit(X, y)
        one = time.perf_counter() - start
        grown = _rss("VmHWM:") - before
        start = time.perf_counter()
        TorchMLPClassifier(max_iter=3, **params).fit(X, y)
        three = time.perf_counter() - start
        print((three - one) / 2, grown)
        return
    # Fitted with the lookup either way: only the prediction differs.
    sk_mlp._engine.data.one_hot_lookup = lookup
    model = TorchMLPClassifier(max_iter=1, **params).fit(X, y)
    if task == "onnx":
        _child_onnx(way, model, X)
        return
    if way == "dense":
        sk_mlp._engine.data.one_hot_lookup = lambda stage, network: None
    before = _reset_peak()
    start = time.perf_counter()
    model.predict_proba(X)
    print(time.perf_counter() - start, _rss("VmHWM:") - before)


def _child_onnx(way: str, model, X) -> None:
    """Time and peak growth of onnxruntime running ``model``'s graph on ``X``."""
    import onnxruntime as ort

    import sk_mlp._io.onnx.network
    from sk_mlp import to_onnx

    if way == "dense":  # the graph as exported before the lookup
        sk_mlp._io.onnx.network._one_hot_lookup = lambda g, x, module: None
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ["OMP_NUM_THREADS"])
    options.inter_op_num_threads = 1
    graph = to_onnx(model).SerializeToString()
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    feeds = {c: X[[c]].astype(str).to_numpy() for c in X.columns}
    session.run(None, {c: v[:10] for c, v in feeds.items()})  # warm-up
    before = _reset_peak()
    start = time.perf_counter()
    session.run(None, feeds)
    print(time.perf_counter() - start, _rss("VmHWM:") - before)


def _measure(way: str, task: str, n_rows: int, n_columns: int) -> tuple[float, int]:
    root = Path(__file__).resolve().parents[1]
    # The checkout this script lives in, not another install of sk_mlp.
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    env = {
        **os.environ,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "PYTHONPATH": path,
    }
    run = subprocess.run(
        [sys.executable, __file__, "--child", way, task, str(n_rows), str(n_columns)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=root,
    )
    seconds, grown = run.stdout.split()[-2:]
    return float(seconds), int(grown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        way, task, n_rows, n_columns = args.child
        _child(way, task, int(n_rows), int(n_columns))
        return
    import torch

    cases = [
        ("fit", args.rows, 3, "s/epoch"),
        ("predict", 20_000, 20, "s"),
        ("onnx", 20_000, 20, "s"),
    ]
    lines = [
        f"# one-hot categories ({LEVELS} levels per column): dense one-hot matrix vs lookup",
        f"# torch {torch.__version__}, {os.cpu_count()} logical CPUs, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}, "
        f"medians of {args.repeats} repeats (fresh process each)",
        "task       rows  columns  way     time        peak growth MiB",
    ]
    for task, n_rows, n_columns, unit in cases:
        results = {"dense": [], "lookup": []}
        for repeat in range(args.repeats):
            ways = ("dense", "lookup") if repeat % 2 == 0 else ("lookup", "dense")
            for way in ways:
                results[way].append(_measure(way, task, n_rows, n_columns))
        for way, runs in results.items():
            seconds = statistics.median(s for s, _ in runs)
            grown = statistics.median(g for _, g in runs) / 2**20
            lines.append(
                f"{task:<8} {n_rows:>7}  {n_columns:>7}  {way:<6}  "
                f"{seconds:7.3f} {unit:<8}  {grown:8.0f}"
            )
        print("\n".join(lines[-2:]), flush=True)
    report = "\n".join(lines) + "\n"
    print(report)
    if args.write:
        Path(__file__).with_name("results-one-hot.txt").write_text(report)


if __name__ == "__main__":
    main()
