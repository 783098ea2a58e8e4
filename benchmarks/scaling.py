"""Scaling benchmark: one hyper-parameter search on three engines.

GridSearchCV over TorchMLPClassifier, 8 candidates x 3 folds (24 fits, no
refit), run with ``n_jobs=1``, with joblib's default loky backend and
``n_jobs=2``, and on a dask ``LocalCluster`` of 2 worker processes x 1 thread
through ``joblib.parallel_config(backend="dask")``. Each engine runs in a fresh
process, so that its peak memory is its own. Reported per engine:

- wall time of the search (median over repeats), and the time to start and warm
  up the workers (not included);
- peak memory above the baseline of the main process (for dask, it also runs the
  scheduler) and of each worker process (``VmHWM``), after a warm-up fit, so
  that imports and one-time allocations are in the baseline;
- what was sent to the workers during the search: for loky, the bytes the main
  process wrote to pipes and files (joblib memory-maps large arrays); for dask,
  the bytes the workers received over TCP (``ss``). X is sent once when it is
  scattered (dask) or memory-mapped (loky), not once per task;
- torch's intra-op threads inside the workers' fits (read by a scorer, in the
  task that has just fitted the model).

Usage, from the repository root::

    python benchmarks/scaling.py            # 50,000 x 50, 3 repeats: a few minutes
    python benchmarks/scaling.py --quick    # 10,000 x 50, 1 repeat: a check

``python benchmarks/speed.py`` runs the same section (its "search" part).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

ENGINES = ("n_jobs=1", "loky n_jobs=2", "dask 2 workers x 1 thread")
N_FEATURES = 50
MIB = 2**20


# ------------------------------------------------------------- in the workers
def _torch_threads(estimator, X, y):
    import torch

    return torch.get_num_threads()


def _pid(estimator, X, y):
    return os.getpid()


def _small_fit():
    """Import everything a fit needs and run one, so that the worker's
    one-time costs are behind it when the search starts."""
    from sklearn.datasets import make_classification

    from sk_mlp import TorchMLPClassifier

    X, y = make_classification(256, N_FEATURES, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        TorchMLPClassifier((16,), max_iter=1, random_state=0).fit(X, y)
    return os.getpid()


# --------------------------------------------------------- process statistics
def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _bytes_written() -> int:
    """Bytes this process has written to pipes and files (loky's channels to its
    workers, and its memory maps); socket sends are not counted here."""
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def _tcp_bytes_received(pids) -> int | None:
    """Bytes received on the open TCP connections of processes ``pids``
    (``ss -tinp``: the dask workers' connections to the client, the scheduler
    and each other); ``None`` where ``ss`` is missing."""
    try:
        out = subprocess.run(["ss", "-tinpH"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    total, owners = 0, set()
    for line in out.stdout.splitlines():
        if not line[:1].isspace():  # a connection; its statistics follow on the next line
            owners = {int(pid) for pid in re.findall(r"pid=(\d+)", line)}
        elif owners & pids:
            total += sum(int(n) for n in re.findall(r"bytes_received:(\d+)", line))
    return total


# ------------------------------------------------------------ one engine, once
def search_child(engine: str, n_samples: int, epochs: int) -> dict:
    """Run in a fresh process: one search on ``engine``; times, memory, threads."""
    import joblib
    import torch
    from joblib import Parallel, delayed
    from sklearn.datasets import make_classification
    from sklearn.model_selection import GridSearchCV

    from sk_mlp import TorchMLPClassifier

    X, y = make_classification(
        n_samples, N_FEATURES, n_informative=30, n_classes=5, random_state=0
    )  # float64, as most callers pass it
    estimator = TorchMLPClassifier(
        (256, 256),
        batch_size=256,
        max_iter=epochs,
        dropout=0.0,
        tol=0.0,
        n_iter_no_change=10**9,
        random_state=0,
    )
    grid = {
        "hidden_layer_sizes": [(128,), (256, 256)],
        "alpha": [1e-4, 1e-3],
        "learning_rate_init": [1e-3, 3e-3],
    }
    scoring = {"accuracy": "accuracy", "threads": _torch_threads, "pid": _pid}
    search = GridSearchCV(estimator, grid, cv=3, scoring=scoring, refit=False)
    stack = []
    start = time.perf_counter()
    _small_fit()
    if engine.startswith("loky"):
        search.set_params(n_jobs=2)
        worker_pids = set(Parallel(n_jobs=2)(delayed(_small_fit)() for _ in range(8)))
    elif engine.startswith("dask"):
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
        stack = [client, cluster]
        worker_pids = set(client.run(_small_fit).values())
    else:
        worker_pids = set()
    start_s = time.perf_counter() - start
    main_baseline = _status_kib(os.getpid(), "VmRSS")
    main_peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    worker_baseline = {pid: _status_kib(pid, "VmRSS") for pid in worker_pids}
    written = _bytes_written()
    received = _tcp_bytes_received(worker_pids)
    backend = joblib.parallel_config(backend="dask") if stack else _nothing()
    with backend, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        search.fit(X, y)
        search_s = time.perf_counter() - start
    written = _bytes_written() - written
    if received is not None:
        received = _tcp_bytes_received(worker_pids) - received
    main_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results = search.cv_results_
    pids = np.concatenate([results[f"split{i}_test_pid"] for i in range(3)]).astype(int)
    # Workers that ran fits; a loky worker started during the search has no baseline.
    workers = {
        pid: (_status_kib(pid, "VmHWM") - worker_baseline.get(pid, 0)) * 1024
        for pid in set(pids.tolist()) - {os.getpid()}
    }
    threads = np.concatenate([results[f"split{i}_test_threads"] for i in range(3)]).astype(int)
    for closing in stack:
        closing.close()
    return {
        "engine": engine,
        "n_samples": n_samples,
        "X_bytes": X.nbytes,
        "start_s": start_s,
        "search_s": search_s,
        "main_extra": (main_peak - max(main_baseline, main_peak_before)) * 1024,
        "worker_extra": [workers[pid] for pid in sorted(workers)],
        "sent": (float("nan") if received is None else received) if stack else written,
        "threads": {str(pid): sorted(set(threads[pids == pid].tolist())) for pid in set(pids)},
        "fits_in_main": int(np.sum(pids == os.getpid())),
        "main_threads": torch.get_num_threads(),
        "best_accuracy": float(np.max(results["mean_test_accuracy"])),
    }


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def run_child(engine: str, n_samples: int, epochs: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--search-child", engine, str(n_samples), str(epochs)],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise RuntimeError(f"{engine} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ reporting
def search_section(quick: bool, log, repeats: int | None = None) -> dict:
    """Run every engine ``repeats`` times (rotating order) and log the table."""
    n_samples, epochs = (10_000, 2) if quick else (50_000, 5)
    repeats = repeats or (1 if quick else 3)
    runs = {engine: [] for engine in ENGINES}
    for rep in range(repeats):
        order = ENGINES[rep % len(ENGINES) :] + ENGINES[: rep % len(ENGINES)]
        for engine in order:
            runs[engine].append(run_child(engine, n_samples, epochs))
    first = runs[ENGINES[0]][0]
    log(
        f"\n## search: GridSearchCV, TorchMLPClassifier, 8 candidates x 3 folds (24 fits, "
        f"no refit), {n_samples:,} x {N_FEATURES} float64 ({first['X_bytes'] / MIB:.0f} MiB), "
        f"{epochs} epochs, batch 256; fresh process per engine, {repeats} repeat(s), medians"
    )
    log(
        f"   {'engine':<27} {'search s':>8} {'vs n_jobs=1':>11} {'start s':>7} "
        f"{'main +MiB':>9} {'workers +MiB':>13} {'sent MiB':>8}  torch threads in the fits"
    )
    base = statistics.median(r["search_s"] for r in runs[ENGINES[0]])
    summary = {}
    for engine in ENGINES:
        rs = runs[engine]
        med = {
            key: statistics.median(r[key] for r in rs)
            for key in ("search_s", "start_s", "main_extra", "sent")
        }
        extras = zip(*(r["worker_extra"] for r in rs))
        workers = [statistics.median(values) / MIB for values in extras]
        last = rs[-1]
        if last["fits_in_main"]:
            threads = f"{last['main_threads']} (main process)"
        else:
            threads = ", ".join(
                f"worker {i + 1}: {'/'.join(map(str, t))}"
                for i, t in enumerate(last["threads"].values())
            )
        log(
            f"   {engine:<27} {med['search_s']:8.1f} {base / med['search_s']:10.2f}x "
            f"{med['start_s']:7.1f} {med['main_extra'] / MIB:9.0f} "
            f"{' / '.join(f'{w:.0f}' for w in workers) or '-':>13} "
            f"{med['sent'] / MIB:8.1f}  {threads}"
        )
        summary[engine] = {**med, "workers": workers, "threads": last["threads"]}
    log(
        "   main +MiB: peak RSS above the warmed-up baseline of the main process (with dask it "
        "also runs the scheduler); workers +MiB: each worker's peak above its baseline; sent MiB: "
        "loky: bytes the main process wrote to its workers' pipes and memory maps; dask: bytes "
        "the workers received over TCP (from the client, the scheduler and each other). "
        f"Sending X with each of the 24 tasks would be {24 * first['X_bytes'] / MIB:.0f} MiB"
    )
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 rows, 1 repeat")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (quick: 1)")
    parser.add_argument("--search-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.search_child:
        engine, n, epochs = args.search_child
        print(json.dumps(search_child(engine, int(n), int(epochs))))
        return
    search_section(args.quick, lambda text="": print(text, flush=True), args.repeats)


if __name__ == "__main__":
    main()
