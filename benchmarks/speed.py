"""Speed benchmark: sk_mlp against scikit-learn's MLP, skorch and a minimal torch loop.

Every contender trains the same network (``hidden_layer_sizes=(256, 256)``, ReLU,
Adam, ``lr=1e-3``, no L2 penalty, no early stopping, a fixed number of epochs) on
the same float32 data with the same batch size. Contenders alternate within each
repeat (the order rotates), and the tables report medians. The same run measures
the machine's dense float32 matrix-multiply rate, so that training FLOP/s can be
read as a fraction of what the hardware does at best. A last row fits small
default estimators on bundled data sets while another process keeps one core
busy, sk_mlp next to scikit-learn's MLP (see ``measure_busy``).

Usage, from the repository root::

    python benchmarks/speed.py            # full run; the report ends with its total time
    python benchmarks/speed.py --quick    # small sizes, 2 repeats
    python benchmarks/speed.py --only busy   # one part (a workload name, memory, gridsearch, busy)

sk_mlp runs with its defaults apart from the shared settings above and
``dropout=0`` (the peers' networks have no dropout); in particular
``preprocessing='robust'`` (an input-scaling layer the others do not have) is on.
The CPU workloads also time "sk_mlp defaults": the same with the default
``dropout='auto'`` (0.1), what a user who changes nothing gets.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from torch import nn

import sk_mlp
from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._engine import gpu_step as _gpu_step

HIDDEN = (256, 256)
LR = 1e-3
N_FEATURES = 50
N_CLASSES = 5
N_TEST = 10_000
PREDICT_CHUNK = 16384


@dataclass
class Workload:
    name: str
    task: str  # "classification" or "regression"
    n_samples: int
    batch_size: int = 256
    epochs: int = 10
    contenders: tuple = ("sk_mlp", "sk_mlp defaults", "sklearn", "skorch", "reference")
    n_features: int = N_FEATURES
    hidden: tuple = HIDDEN
    device: str = "cpu"


# ----------------------------------------------------------------------- data
def make_data(workload: Workload, seed: int = 0):
    """Train and test float32 data; regression targets standardised for everyone."""
    n = workload.n_samples + N_TEST
    if workload.task == "classification":
        X, y = make_classification(
            n,
            workload.n_features,
            n_informative=min(30, workload.n_features),
            n_redundant=0,
            n_classes=N_CLASSES,
            n_clusters_per_class=2,
            class_sep=1.0,
            random_state=seed,
        )
    else:
        X, y, *_ = make_regression(
            n,
            workload.n_features,
            n_informative=min(30, workload.n_features),
            noise=10.0,
            random_state=seed,
        )
        # A non-linear target, standardised so that every contender sees the
        # same well-conditioned problem (sk_mlp would standardise it anyway).
        y = y + 0.02 * y**2
        y = (y - y.mean()) / y.std()
    X = X.astype(np.float32)
    y = y.astype(np.int64 if workload.task == "classification" else np.float32)
    m = workload.n_samples
    return X[:m], y[:m], X[m:], y[m:]


def score(task, y_true, y_pred):
    if task == "classification":
        return accuracy_score(y_true, y_pred)
    return r2_score(y_true, y_pred)


# ---------------------------------------------------------------- contenders
def torch_mlp(n_features: int, hidden: tuple, n_outputs: int) -> nn.Sequential:
    layers, fan_in = [], n_features
    for width in hidden:
        layers += [nn.Linear(fan_in, width), nn.ReLU()]
        fan_in = width
    layers.append(nn.Linear(fan_in, n_outputs))
    return nn.Sequential(*layers)


def n_outputs(workload):
    return N_CLASSES if workload.task == "classification" else 1


def run_sk_mlp(w: Workload, X, y, X_test, seed, device=None, precision="float32", dropout=0.0):
    cls = TorchMLPClassifier if w.task == "classification" else TorchMLPRegressor
    est = cls(
        hidden_layer_sizes=w.hidden,
        batch_size=w.batch_size,
        max_iter=w.epochs,
        learning_rate_init=LR,
        alpha=0.0,
        dropout=dropout,
        tol=0.0,
        n_iter_no_change=10**9,
        random_state=seed,
        device=device or w.device,
        precision=precision,
    )
    return est.fit, est.predict, (X, y), X_test


def run_sk_mlp_variant(
    w: Workload, X, y, X_test, seed, route="autograd", precision="float32", device=None, threads=0
):
    """sk_mlp with a CUDA step route (sk_mlp._engine.gpu_step.STEP), a precision, or
    on another device with a given number of torch threads, during its fit
    and predict alone."""
    fit, predict, fit_args, X_test = run_sk_mlp(w, X, y, X_test, seed, device, precision)

    def within_settings(function):
        def call(*args):
            saved = _gpu_step.STEP, torch.get_num_threads()
            _gpu_step.STEP = route
            if threads:
                torch.set_num_threads(threads)
            try:
                return function(*args)
            finally:
                _gpu_step.STEP = saved[0]
                torch.set_num_threads(saved[1])

        return call

    return within_settings(fit), within_settings(predict), fit_args, X_test


def run_sklearn(w: Workload, X, y, X_test, seed):
    cls = MLPClassifier if w.task == "classification" else MLPRegressor
    est = cls(
        hidden_layer_sizes=w.hidden,
        solver="adam",
        batch_size=w.batch_size,
        max_iter=w.epochs,
        learning_rate_init=LR,
        alpha=0.0,
        tol=0.0,
        n_iter_no_change=10**9,
        early_stopping=False,
        random_state=seed,
    )
    return est.fit, est.predict, (X, y), X_test


def run_skorch(w: Workload, X, y, X_test, seed):
    from skorch import NeuralNetClassifier, NeuralNetRegressor

    torch.manual_seed(seed)
    kwargs = dict(
        module=torch_mlp,
        module__n_features=X.shape[1],
        module__hidden=w.hidden,
        module__n_outputs=n_outputs(w),
        optimizer=torch.optim.Adam,
        lr=LR,
        max_epochs=w.epochs,
        batch_size=w.batch_size,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
        device=w.device,
    )
    if w.task == "classification":
        net = NeuralNetClassifier(criterion=nn.CrossEntropyLoss, **kwargs)
        return net.fit, net.predict, (X, y), X_test
    net = NeuralNetRegressor(criterion=nn.MSELoss, **kwargs)
    return net.fit, lambda X: net.predict(X).ravel(), (X, y.reshape(-1, 1)), X_test


class Reference:
    """A minimal hand-written loop: data as one tensor, batches sliced from a
    per-epoch permutation, fused Adam, one synchronisation at the end."""

    def __init__(self, w: Workload, seed):
        self.w, self.seed = w, seed

    def fit(self, X, y):
        w, device = self.w, torch.device(self.w.device)
        torch.manual_seed(self.seed)
        classification = w.task == "classification"
        self.model = model = torch_mlp(X.shape[1], w.hidden, n_outputs(w)).to(device)
        Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
        yt = torch.as_tensor(y, device=device)
        if not classification:
            yt = yt.reshape(-1, 1)
        loss_fn = nn.CrossEntropyLoss() if classification else nn.MSELoss()
        fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
        opt = torch.optim.Adam(model.parameters(), lr=LR, **fused)
        n = len(Xt)
        for _ in range(w.epochs):
            perm = torch.randperm(n, device=device)
            for start in range(0, n, w.batch_size):
                index = perm[start : start + w.batch_size]
                loss = loss_fn(model(Xt[index]), yt[index])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        loss.item()
        return self

    def predict(self, X):
        self.model.eval()
        device = torch.device(self.w.device)
        with torch.inference_mode():
            out = torch.cat(
                [
                    self.model(torch.as_tensor(X[i : i + PREDICT_CHUNK], device=device))
                    for i in range(0, len(X), PREDICT_CHUNK)
                ]
            )
        if self.w.task == "classification":
            return out.argmax(1).cpu().numpy()
        return out.ravel().cpu().numpy()


def run_reference(w: Workload, X, y, X_test, seed):
    ref = Reference(w, seed)
    return ref.fit, ref.predict, (X, y), X_test


CONTENDERS = {
    "sk_mlp": run_sk_mlp,
    "sk_mlp defaults": functools.partial(run_sk_mlp, dropout="auto"),
    # GPU variants (benchmarks/gpu.py): CUDA step routes, bfloat16, and the
    # same fit on 2 CPU cores.
    "sk_mlp backprop": functools.partial(run_sk_mlp_variant, route="backprop"),
    "sk_mlp graph": functools.partial(run_sk_mlp_variant, route="graph"),
    "sk_mlp bf16": functools.partial(run_sk_mlp_variant, precision="bfloat16"),
    "sk_mlp cpu x2": functools.partial(run_sk_mlp_variant, device="cpu", threads=2),
    "sklearn": run_sklearn,
    "skorch": run_skorch,
    "reference": run_reference,
}


def sync(device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_one(name, w, data, seed):
    X, y, X_test, y_test = data
    fit, predict, fit_args, X_test = CONTENDERS[name](w, X, y, X_test, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sync(w.device)
        start = time.perf_counter()
        fit(*fit_args)
        sync(w.device)
        fit_s = time.perf_counter() - start
    start = time.perf_counter()
    predict(X)  # prediction timed on the training rows (n_samples of them)
    predict_s = time.perf_counter() - start
    return {"fit": fit_s, "predict": predict_s, "score": score(w.task, y_test, predict(X_test))}


# ------------------------------------------------------------------- hardware
def matmul_rate(seconds: float = 0.5, size: int = 2048, device: str = "cpu") -> float:
    """Dense float32 GEMM rate in FLOP/s, with torch's current thread settings."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    for _ in range(2):
        a @ b
    sync(device)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    sync(device)
    return 2 * size**3 * count / (time.perf_counter() - start)


def step_matmul_seconds(w, steps: int = 200) -> float:
    """Seconds per training step for the step's matrix products alone.

    The same products as one step of the benchmark's network, with nn.Linear's
    layouts (forward ``addmm`` with the transposed weight, the weight gradient,
    the input gradient of every layer but the first), back to back into
    preallocated outputs: the ceiling for any training loop built on torch's
    kernels, since everything else in a step only adds time.
    """
    device = torch.device(w.device)
    sizes = [w.n_features, *w.hidden, n_outputs(w)]
    b = w.batch_size
    acts = [torch.randn(b, n, device=device) for n in sizes]
    weights = [torch.randn(n, m, device=device) for m, n in zip(sizes[:-1], sizes[1:])]
    biases = [torch.randn(n, device=device) for n in sizes[1:]]
    grads = [torch.empty_like(wt) for wt in weights]
    grad_in = [torch.empty_like(a) for a in acts]

    def step():
        for i, (wt, bias) in enumerate(zip(weights, biases)):
            torch.addmm(bias, acts[i], wt.t(), out=acts[i + 1])
        for i in range(len(weights) - 1, -1, -1):
            torch.mm(acts[i + 1].t(), acts[i], out=grads[i])
            if i:
                torch.mm(acts[i + 1], weights[i], out=grad_in[i])

    for _ in range(10):
        step()
    sync(w.device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(w.device)
    return (time.perf_counter() - start) / steps


def train_flops_per_sample(n_features, hidden, n_out):
    """Forward + backward FLOPs of one sample through the linear layers
    (forward 2mn; weight gradient 2mn; input gradient 2mn except for layer one)."""
    sizes = [n_features, *hidden, n_out]
    pairs = list(zip(sizes[:-1], sizes[1:]))
    return sum(6 * m * n for m, n in pairs) - 2 * pairs[0][0] * pairs[0][1]


# --------------------------------------------------------------------- memory
def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def memory_child(contender: str, n_samples: int, n_features: int) -> dict:
    """Run in a fresh process: peak RSS of one fit (1 epoch) on float64 input.

    A fit on a few rows comes first, so that one-time costs (imports torch does
    lazily, thread pools) are in the baseline rather than counted as data copies.
    """
    w = Workload(
        "memory", "classification", n_samples, batch_size=4096, epochs=1, n_features=n_features
    )
    rng = np.random.default_rng(0)
    X_small = rng.standard_normal((256, n_features))
    y_small = np.arange(256) % 2
    fits = {
        "sk_mlp": lambda X, y: TorchMLPClassifier(
            HIDDEN, batch_size=w.batch_size, max_iter=1, dropout=0.0, random_state=0
        ).fit(X, y),
        "reference": lambda X, y: Reference(w, 0).fit(X, y),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits[contender](X_small, y_small)
        X = rng.standard_normal((n_samples, n_features))  # float64, the caller's array
        y = (X[:, :5].sum(axis=1) > 0).astype(np.int64)
        baseline = _rss_bytes()
        maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        start = time.perf_counter()
        fits[contender](X, y)
        fit_s = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "contender": contender,
        "n_samples": n_samples,
        "n_features": n_features,
        "X_bytes": X.nbytes,
        "baseline_rss": baseline,
        "maxrss_before_fit": maxrss_before,
        "peak_rss": peak,
        "extra": peak - max(baseline, maxrss_before),
        "bound": X.size * 4,
        "fit_s": fit_s,
    }


def measure_memory(contender: str, n_samples: int, n_features: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", contender, str(n_samples), str(n_features)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- grid search
def _thread_probe(_):
    import torch

    return torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")


def measure_gridsearch(quick: bool, log) -> dict:
    """GridSearchCV over sk_mlp with n_jobs=1 and n_jobs=2 (loky, and threading)."""
    from joblib import Parallel, delayed, parallel_backend
    from sklearn.model_selection import GridSearchCV

    w = Workload("grid", "classification", 5_000 if quick else 10_000, epochs=3)
    X, y, _, _ = make_data(w)
    grid = {"alpha": [1e-4, 1e-3], "learning_rate_init": [1e-3, 3e-3]}
    est = TorchMLPClassifier(
        HIDDEN,
        batch_size=256,
        max_iter=w.epochs,
        dropout=0.0,
        tol=0.0,
        n_iter_no_change=10**9,
        random_state=0,
    )
    loky = Parallel(n_jobs=2)(delayed(_thread_probe)(i) for i in range(2))
    with parallel_backend("threading"):
        threading = Parallel(n_jobs=2)(delayed(_thread_probe)(i) for i in range(2))
    configs = [
        ("n_jobs=1", 1, None),
        ("n_jobs=2 loky", 2, None),
        ("n_jobs=2 threading", 2, "threading"),
    ]
    times = {name: [] for name, _, _ in configs}
    for _ in range(2 if quick else 3):
        for name, n_jobs, backend in configs:
            search = GridSearchCV(est, grid, cv=2, n_jobs=n_jobs)
            ctx = parallel_backend(backend) if backend else contextlib.nullcontext()
            with ctx, warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                search.fit(X, y)
                times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}
    log(
        f"\n## GridSearchCV: TorchMLPClassifier {HIDDEN}, {w.n_samples:,} x 50, "
        f"{w.epochs} epochs, 4 candidates x 2 folds + refit"
    )
    log(
        f"   torch threads: main process {torch.get_num_threads()}; loky workers "
        f"{loky[0][0]} (OMP_NUM_THREADS={loky[0][1]}); threading workers {threading[0][0]}"
    )
    for name in med:
        log(f"   {name:<20} {med[name]:7.2f} s   ({med['n_jobs=1'] / med[name]:.2f}x vs n_jobs=1)")
    return med


# --------------------------------------------------------------- busy machine
BUSY_FITS = {
    "diabetes": ("regression", "load_diabetes"),
    "breast_cancer": ("classification", "load_breast_cancer"),
}


def _busy_contenders(task):
    """``name: (make estimator, epochs, context)``.

    Default estimators on raw inputs, as a user first tries them, with two
    changes so that they do the same work: a fixed number of epochs (left to
    their stopping rules, scikit-learn's MLP stops early on these raw inputs
    where sk_mlp, which scales them, keeps improving) and ``dropout=0`` (as in
    the workloads above; scikit-learn's MLP has no dropout). The third runs
    sk_mlp with every thread the caller allows, as before each fit chose its
    own (sk_mlp/_engine/threads.py); it is so slow that it runs a tenth of the epochs.
    """
    from sk_mlp._engine import threads as _threads

    ours = TorchMLPClassifier if task == "classification" else TorchMLPRegressor
    theirs = MLPClassifier if task == "classification" else MLPRegressor

    @contextlib.contextmanager
    def all_threads():
        saved = _threads._WORK_PER_THREAD
        _threads._WORK_PER_THREAD = 1
        try:
            yield
        finally:
            _threads._WORK_PER_THREAD = saved

    fixed = {"tol": 0.0, "n_iter_no_change": 10**9, "random_state": 0}
    return {
        "sk_mlp": (lambda e: ours(max_iter=e, dropout=0.0, **fixed), 100, contextlib.nullcontext),
        "sklearn": (lambda e: theirs(max_iter=e, **fixed), 100, contextlib.nullcontext),
        "sk_mlp all threads": (lambda e: ours(max_iter=e, dropout=0.0, **fixed), 10, all_threads),
    }


def _time_busy_fit(make, epochs, context, X, y) -> float:
    est = make(epochs)
    with context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        est.fit(X, y)
        elapsed = time.perf_counter() - start
    assert est.n_iter_ == epochs
    return elapsed / epochs


def measure_busy(repeats: int, log) -> dict:
    """Small fits while another process keeps one core busy: seconds per epoch."""
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)  # let the burner take its core
        log(
            "\n## busy machine: small fits on raw inputs (75% of a bundled data set) while "
            f"another process keeps one core busy; {repeats} repeats, medians; load average "
            f"{os.getloadavg()[0]:.2f}; caller's torch threads {torch.get_num_threads()}"
        )
        log(
            f"   {'data set':<14} {'contender':<19} {'epochs':>6} {'fit s':>7} "
            f"{'ms/epoch':>8} {'per epoch vs sk_mlp':>19}"
        )
        outcome = {}
        for data_name, (task, loader) in BUSY_FITS.items():
            X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
            X, _, y, _ = train_test_split(X, y, random_state=0)
            contenders = _busy_contenders(task)
            names = list(contenders)
            per_epoch = {name: [] for name in names}
            for rep in range(repeats):
                for name in names[rep % 3 :] + names[: rep % 3]:
                    per_epoch[name].append(_time_busy_fit(*contenders[name], X, y))
            med = {name: statistics.median(t) for name, t in per_epoch.items()}
            for name in names:
                epochs = contenders[name][1]
                log(
                    f"   {data_name:<14} {name:<19} {epochs:6d} {med[name] * epochs:7.3f} "
                    f"{1e3 * med[name]:8.2f} {med[name] / med['sk_mlp']:18.2f}x"
                )
            outcome[data_name] = med
        return outcome
    finally:
        burner.kill()
        burner.wait()


# ------------------------------------------------------------------ reporting
def fmt_s(s):
    return f"{s:8.3f}"


def run_workload(w: Workload, repeats: int, log) -> dict:
    data = make_data(w)
    names = list(w.contenders)
    results = {name: [] for name in names}
    rates = []
    # One untimed warm-up of the torch contenders (first-call allocations, lazy imports).
    warm = Workload(
        w.name,
        w.task,
        2 * w.batch_size,
        w.batch_size,
        1,
        w.contenders,
        w.n_features,
        w.hidden,
        w.device,
    )
    for name in names:
        time_one(name, warm, make_data(warm), 0)
    floors = []
    for rep in range(repeats):
        rates.append(matmul_rate(device=w.device))
        floors.append(step_matmul_seconds(w))
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            results[name].append(time_one(name, w, data, rep))
    med = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    rate = statistics.median(rates)
    flops = train_flops_per_sample(w.n_features, w.hidden, n_outputs(w))
    flops *= w.n_samples * w.epochs
    steps = w.epochs * -(-w.n_samples // w.batch_size)
    log(
        f"\n## {w.name}: {w.task}, {w.n_samples:,} x {w.n_features}, hidden {w.hidden}, "
        f"batch {w.batch_size}, {w.epochs} epochs, {w.device}, {repeats} repeats"
    )
    log(f"   dense float32 matmul rate (2048^3, median): {rate / 1e9:.1f} GFLOP/s")
    floor = statistics.median(floors)
    floor_rate = flops / steps / floor
    log(
        f"   the step's matrix products alone, back to back: {1e6 * floor:.1f} us/step, "
        f"{floor_rate / 1e9:.1f} GFLOP/s, {100 * floor_rate / rate:.0f}% of the matmul rate "
        "(the ceiling for any loop)"
    )
    metric = "accuracy" if w.task == "classification" else "R2"
    log(
        f"   {'contender':<15} {'fit s':>8} {'predict s':>9} {metric:>8} "
        f"{'us/step':>8} {'GFLOP/s':>8} {'% matmul':>8} {'fit vs sk_mlp':>13} "
        f"{'predict vs sk_mlp':>17}"
    )
    base = med.get("sk_mlp")
    for name in names:
        m = med[name]
        achieved = flops / m["fit"]
        fit_ratio = m["fit"] / base["fit"] if base else float("nan")
        pred_ratio = m["predict"] / base["predict"] if base else float("nan")
        log(
            f"   {name:<15} {fmt_s(m['fit'])} {m['predict']:9.3f} {m['score']:8.4f} "
            f"{1e6 * m['fit'] / steps:8.1f} {achieved / 1e9:8.1f} {100 * achieved / rate:7.0f}% "
            f"{fit_ratio:12.2f}x {pred_ratio:16.2f}x"
        )
        m["us_per_step"] = 1e6 * m["fit"] / steps
        m["flops_fraction"] = achieved / rate
        m["samples_per_s"] = w.n_samples * w.epochs / m["fit"]
    return {
        "workload": w,
        "median": med,
        "rate": rate,
        "floor_fraction": floor_rate / rate,
        "raw": results,
    }


def check(targets, label, ok, detail):
    targets.append((label, ok, detail))


def summarise(outcomes: dict, memory: dict | None, log, busy: dict | None = None):
    targets = []
    for name in ("clf-100k", "reg-100k"):
        if name not in outcomes:
            continue
        m = outcomes[name]["median"]
        sk = m["sk_mlp"]
        for peer, goal in (("sklearn", 2.0), ("skorch", 3.0)):
            ratio = m[peer]["fit"] / sk["fit"]
            check(
                targets,
                f"{name} fit: {goal:.0f}x faster than {peer}",
                ratio >= goal,
                f"{ratio:.2f}x",
            )
        frac = sk["flops_fraction"]
        check(
            targets,
            f"{name} training FLOP/s >= 50% of matmul rate",
            frac >= 0.5,
            f"{100 * frac:.0f}% (the step's matrix products alone: "
            f"{100 * outcomes[name]['floor_fraction']:.0f}%)",
        )
        ratio = m["sklearn"]["predict"] / sk["predict"]
        check(targets, f"{name} predict at least as fast as sklearn", ratio >= 1.0, f"{ratio:.2f}x")
        for peer in ("sklearn", "skorch", "reference"):
            diff = sk["score"] - m[peer]["score"]
            check(
                targets,
                f"{name} score within 0.02 of {peer}",
                diff >= -0.02,
                f"{sk['score']:.4f} vs {m[peer]['score']:.4f}",
            )
    if "clf-10k-b32" in outcomes:
        m = outcomes["clf-10k-b32"]["median"]
        ratio = m["sk_mlp"]["us_per_step"] / m["reference"]["us_per_step"]
        check(
            targets,
            "small batch: per-step time within 1.2x of reference",
            ratio <= 1.2,
            f"{ratio:.2f}x ({m['sk_mlp']['us_per_step']:.0f} vs "
            f"{m['reference']['us_per_step']:.0f} us)",
        )
    for data_name, med in (busy or {}).items():
        ratio = med["sklearn"] / med["sk_mlp"]
        check(
            targets,
            f"busy machine, {data_name}: an epoch no slower than sklearn's",
            ratio >= 1.0,
            f"{ratio:.2f}x ({1e3 * med['sk_mlp']:.2f} vs {1e3 * med['sklearn']:.2f} ms)",
        )
    if memory is not None:
        extra, bound = memory["extra"], memory["bound"]
        check(
            targets,
            "memory: fit holds at most one float32 copy of X",
            extra <= bound,
            f"+{extra / 2**20:.0f} MiB over baseline, bound {bound / 2**20:.0f} MiB",
        )
    if "gpu" in outcomes:
        sps = outcomes["gpu"]["median"]["sk_mlp"]["samples_per_s"]
        check(targets, "GPU: at least 5M training samples/s", sps >= 5e6, f"{sps / 1e6:.1f}M/s")
    log("\n## Targets")
    for label, ok, detail in targets:
        log(f"   [{'met' if ok else 'NOT MET':>7}] {label}: {detail}")
    return targets


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    try:
        import skorch
    except ImportError:  # the GPU check runs without it
        skorch = argparse.Namespace(__version__="not installed")

    return (
        f"machine: {cpu}, {os.cpu_count()} logical CPUs, torch threads "
        f"{torch.get_num_threads()}, GPU {gpu}, load average at start {load:.2f}\n"
        f"versions: python {platform.python_version()}, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}, skorch {skorch.__version__}, "
        f"numpy {np.__version__}, sk_mlp {sk_mlp.__version__}"
    )


def workloads(quick: bool) -> list[Workload]:
    if quick:
        return [
            Workload("clf-10k", "classification", 10_000, epochs=3),
            Workload("reg-10k", "regression", 10_000, epochs=3),
            Workload(
                "clf-10k-b32",
                "classification",
                5_000,
                batch_size=32,
                epochs=2,
                contenders=("sk_mlp", "reference"),
            ),
        ]
    return [
        Workload("clf-10k", "classification", 10_000),
        Workload("reg-10k", "regression", 10_000),
        Workload("clf-100k", "classification", 100_000),
        Workload("reg-100k", "regression", 100_000),
        Workload(
            "clf-10k-b32",
            "classification",
            10_000,
            batch_size=32,
            epochs=3,
            contenders=("sk_mlp", "reference", "sklearn"),
        ),
    ]


def gpu_workload(quick: bool) -> Workload:
    return Workload(
        "gpu",
        "classification",
        100_000 if quick else 1_000_000,
        batch_size=4096,
        epochs=5,
        contenders=("sk_mlp", "sk_mlp backprop", "sk_mlp graph", "sk_mlp bf16", "reference"),
        n_features=100,
        hidden=(512, 512, 512),
        device="cuda",
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (quick: 2)")
    parser.add_argument("--only", nargs="*", default=None, help="workload names to run")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory case")
    parser.add_argument("--no-gridsearch", action="store_true", help="skip GridSearchCV")
    parser.add_argument(
        "--no-search", action="store_true", help="skip the search on loky and dask (scaling.py)"
    )
    parser.add_argument("--no-busy", action="store_true", help="skip the busy-machine fits")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        name, n, d = args.memory_child
        print(json.dumps(memory_child(name, int(n), int(d))))
        return
    repeats = args.repeats or (2 if args.quick else 3)
    lines = []

    def log(text=""):
        print(text, flush=True)
        lines.append(text)

    started = time.perf_counter()
    log(f"# sk_mlp speed benchmark ({'quick' if args.quick else 'full'})")
    log(machine_line())
    log(
        "data: float32, make_classification (5 classes) / make_regression (standardised "
        "non-linear target); scores on 10,000 held-out rows; predict timed on the training rows"
    )
    log(
        "sk_mlp runs with dropout=0, as the others, and its default preprocessing='robust' "
        "(an extra input-scaling layer); 'sk_mlp defaults' with its default dropout='auto' (0.1)"
    )
    todo = workloads(args.quick)
    if torch.cuda.is_available():
        todo.append(gpu_workload(args.quick))
    if args.only:
        todo = [w for w in todo if w.name in args.only]
    outcomes = {}
    for w in todo:
        outcomes[w.name] = run_workload(w, repeats, log)
    memory = None
    if not args.no_memory and (not args.only or "memory" in args.only):
        n = 200_000 if args.quick else 1_000_000
        mib = 2**20
        log(
            f"\n## memory: one fit (1 epoch, hidden {HIDDEN}, batch 4096) on {n:,} x 100 "
            "float64, fresh process per contender, peak from ru_maxrss"
        )
        for contender in ("sk_mlp", "reference"):
            m = measure_memory(contender, n, 100)
            log(
                f"   {contender:<10} caller's X {m['X_bytes'] / mib:.0f} MiB; RSS with X "
                f"{m['baseline_rss'] / mib:.0f} MiB; peak during fit {m['peak_rss'] / mib:.0f} "
                f"MiB; extra {m['extra'] / mib:.0f} MiB; bound (one float32 copy of X) "
                f"{m['bound'] / mib:.0f} MiB; fit {m['fit_s']:.1f} s"
            )
            if contender == "sk_mlp":
                memory = m
    if not args.no_gridsearch and (not args.only or "gridsearch" in args.only):
        measure_gridsearch(args.quick, log)
    if not args.no_search and (not args.only or "search" in args.only):
        from scaling import search_section  # benchmarks/scaling.py, beside this file

        search_section(args.quick, log)
    busy = None
    if not args.no_busy and (not args.only or "busy" in args.only):
        busy = measure_busy(args.repeats or (9 if args.quick else 15), log)
    summarise(outcomes, memory, log, busy)
    log(f"\ntotal benchmark time: {time.perf_counter() - started:.0f} s")
    if not (args.quick or args.only):  # a full run is the one the docs quote
        name = "results-gpu.txt" if torch.cuda.is_available() else "results-cpu.txt"
        path = Path(__file__).with_name(name)
        path.write_text("\n".join(lines) + "\n")
        print(f"wrote {path}")
    return lines


if __name__ == "__main__":
    main()
