"""Where a second intra-op thread starts to pay for a training step.

Fits ``TorchMLPRegressor`` with one and with two torch threads on networks and
batch sizes whose work per step (multiply-adds of the linear layers: rows x
sum of in_features x out_features) spans four orders of magnitude, and prints
the time per step of each, medians over repeats, with the two thread counts
alternating. ``--busy`` runs the same table while another process keeps one
core busy. sk_mlp's own choice (``sk_mlp/_engine/threads.py``) is switched off here so
that each fit runs with exactly the threads asked for.

Usage, from the repository root::

    python benchmarks/threads.py                 # as the machine is
    python benchmarks/threads.py --busy          # one core taken by another process
    python benchmarks/threads.py --write         # both, into benchmarks/results-threads.txt

Timings on a shared machine are noisy: read the ratios of one run, and the
load average each table prints.
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

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from sk_mlp import TorchMLPRegressor
from sk_mlp._engine import threads as _threads

N_FEATURES = 20
STEPS = 60  # training steps per timed fit: 3 epochs of 20 batches
# (hidden_layer_sizes, batch_size): work per step from about 10^4 to 10^8.
CONFIGS = [
    ((16,), 32),
    ((100,), 200),  # scikit-learn's default network and batch
    ((256,), 200),
    ((256, 256), 32),
    ((128, 128), 200),
    ((256, 256), 64),
    ((64, 64), 1000),
    ((256, 256), 96),
    ((256, 256), 128),
    ((256, 256), 192),
    ((256, 256), 256),
    ((512, 512), 200),
    ((512, 512), 1000),
]


def work_per_step(hidden, batch):
    sizes = [N_FEATURES, *hidden, 1]
    return batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def seconds_per_step(hidden, batch, n_threads, seed):
    rng = np.random.default_rng(seed)
    n = batch * 20
    X = rng.standard_normal((n, N_FEATURES))
    y = X[:, :5].sum(axis=1) + 0.1 * rng.standard_normal(n)
    est = TorchMLPRegressor(
        hidden,
        batch_size=batch,
        max_iter=STEPS // 20,
        tol=0.0,
        n_iter_no_change=10**9,
        random_state=seed,
    )
    torch.set_num_threads(n_threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        est.fit(X, y)
        return (time.perf_counter() - start) / STEPS


def _busy_cpu_seconds() -> float:
    """CPU seconds every process on the machine has used since boot (Linux)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, f.readline().split()[1:9]
        )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def others_cores(burner, measure):
    """Run ``measure()``; return its result and how many cores other processes
    kept busy meanwhile (not this one, not the burner), or NaN off Linux."""
    try:
        before = _busy_cpu_seconds(), time.process_time(), time.perf_counter()
        burner_before = _process_cpu_seconds(burner.pid) if burner else 0.0
    except OSError:
        return measure(), float("nan")
    result = measure()
    busy, own, wall = (
        _busy_cpu_seconds() - before[0],
        time.process_time() - before[1],
        time.perf_counter() - before[2],
    )
    burner_cpu = _process_cpu_seconds(burner.pid) - burner_before if burner else 0.0
    return result, max(0.0, busy - own - burner_cpu) / wall


def _row(hidden, batch, repeats) -> dict:
    """Seconds per step with 1 and 2 threads, alternating which goes first."""
    times = {1: [], 2: []}
    for rep in range(repeats):
        for n_threads in (1, 2) if rep % 2 == 0 else (2, 1):
            times[n_threads].append(seconds_per_step(hidden, batch, n_threads, rep))
    return times


def table(repeats, log, burner=None):
    log(f"load average at start {os.getloadavg()[0]:.2f}")
    log(
        f"{'hidden':<12} {'batch':>5} {'work/step':>10} {'1 thread us':>12} {'2 threads us':>13} "
        f"{'1t / 2t':>8} {'others':>7}"
    )
    for hidden, batch in CONFIGS:
        times, others = others_cores(burner, lambda h=hidden, b=batch: _row(h, b, repeats))
        one, two = (statistics.median(times[k]) for k in (1, 2))
        log(
            f"{str(hidden):<12} {batch:>5} {work_per_step(hidden, batch):>10.2g} "
            f"{1e6 * one:>12.0f} {1e6 * two:>13.0f} {one / two:>8.2f} {others:>7.2f}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--busy", action="store_true", help="keep one core busy meanwhile")
    parser.add_argument("--write", action="store_true", help="idle and busy tables to a file")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    _threads._WORK_PER_THREAD = 1  # every fit uses the threads set below
    lines = []

    def log(text=""):
        print(text, flush=True)
        lines.append(text)

    log(f"# time per training step, 1 vs 2 torch threads, {args.repeats} repeats (medians)")
    log(f"torch {torch.__version__}, {os.cpu_count()} logical CPUs, {N_FEATURES} features")
    log(
        "others: cores kept busy by other processes while the row was measured (not this "
        "one, nor the\nburner of the busy table); a row with others well above 0 was measured "
        "on a busier machine than its title says"
    )
    seconds_per_step((16,), 32, 1, 0)  # torch's one-off start-up
    modes = [False, True] if args.write else [args.busy]
    for busy in modes:
        log(f"\n## {'one core busy with another process' if busy else 'no competing process'}")
        burner = None
        if busy:
            burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            table(args.repeats, log, burner)
        finally:
            if burner is not None:
                burner.kill()
                burner.wait()
    if args.write:
        path = Path(__file__).with_name("results-threads.txt")
        path.write_text("\n".join(lines) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
