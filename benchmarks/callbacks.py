"""What scikit-learn's callback API costs a fit that sets no callback.

Times ``TorchMLPClassifier.fit`` three ways, alternating inside each repeat:

- ``no callback API``: sk_mlp's callback glue switched off, as with a
  scikit-learn older than 1.9 (the fit as it ran before callbacks);
- ``no callback set``: the callback API on, nothing set (the default);
- ``set_callbacks()``: the callback API on, an empty callback list set.

On small data with many short epochs, where a per-epoch cost would show most.
Without a callback the fit opens one callback context and its epochs none
(sk_mlp/_estimators/callbacks.py). Prints medians and the spread (quartiles) of the
repeats, and the ratio of each median to the first; results-callbacks.txt
holds a run.

Usage, from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/callbacks.py            # 21 repeats
    OMP_NUM_THREADS=1 python benchmarks/callbacks.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import make_classification

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import sk_mlp._estimators.callbacks  # noqa: E402
from sk_mlp import TorchMLPClassifier  # noqa: E402


def _fit_time(set_empty: bool, api: bool, X, y) -> float:
    model = TorchMLPClassifier(
        (32,), max_iter=100, tol=0, n_iter_no_change=10**6, batch_size=128, random_state=0
    )
    if set_empty:
        model.set_callbacks()
    sk_mlp._estimators.callbacks.CALLBACKS_SUPPORTED = api
    try:
        start = time.perf_counter()
        model.fit(X, y)
        return time.perf_counter() - start
    finally:
        sk_mlp._estimators.callbacks.CALLBACKS_SUPPORTED = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    X, y = make_classification(n_samples=512, n_features=20, random_state=0)
    X = X.astype(np.float32)
    ways = {
        "no callback API": dict(set_empty=False, api=False),
        "no callback set": dict(set_empty=False, api=True),
        "set_callbacks()": dict(set_empty=True, api=True),
    }
    _fit_time(False, True, X, y)  # warm-up
    times = {name: [] for name in ways}
    for repeat in range(args.repeats):
        names = list(ways)
        shift = repeat % len(names)  # rotate the order: no way always runs first
        for name in names[shift:] + names[:shift]:
            times[name].append(_fit_time(X=X, y=y, **ways[name]))
    print(f"TorchMLPClassifier.fit, 512 x 20, 100 epochs of 4 steps, {args.repeats} repeats")
    print(f"{'':18}{'median (s)':>12}{'q1 (s)':>10}{'q3 (s)':>10}{'ratio':>8}")
    baseline = statistics.median(times["no callback API"])
    for name, values in times.items():
        q1, median, q3 = statistics.quantiles(values, n=4)
        median = statistics.median(values)
        print(f"{name:18}{median:12.4f}{q1:10.4f}{q3:10.4f}{median / baseline:8.3f}")
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
