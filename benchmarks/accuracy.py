"""Accuracy benchmark: sk_mlp at its defaults against scikit-learn's MLP,
HistGradientBoosting and a linear model, on data every machine has offline.

Every model runs with its DEFAULT parameters; only ``random_state`` is set.
Each data set is split into train and test (75/25, stratified for
classification) once per seed; the tables report the median test score over
seeds (R^2, averaged over outputs, for regression; accuracy for
classification). Every model sees the data twice: raw ``X`` as loaded or
generated, and ``X`` after a ``StandardScaler`` fitted on the training rows.

Data sets: scikit-learn's bundled loaders (nothing is downloaded) and
synthetic sets built to stress defaults: skewed and heavy-tailed features,
outliers, wildly different column scales, large target offsets, 32 classes,
class imbalance, multi-output targets.

Usage, from the repository root::

    python benchmarks/accuracy.py            # full run: 5 seeds, minutes on 2 cores
    python benchmarks/accuracy.py --quick    # smoke run: 1 seed, small sets, < 1 minute

The full run writes its report to ``benchmarks/results-accuracy.txt``.
Other scripts may import :func:`load_datasets`, :func:`run` and
:func:`report` to benchmark variants of the defaults.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from sklearn import datasets as skd  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.multioutput import MultiOutputRegressor  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor  # noqa: E402

# "At least as well" tolerates differences below this (score units).
TIE = 0.005
# "Catastrophic" regression: R^2 more than this below Ridge.
RIDGE_MARGIN = 0.05


@dataclass
class Dataset:
    name: str
    task: str  # "regression" or "classification"
    X: np.ndarray
    y: np.ndarray
    note: str


# --------------------------------------------------------------------- data
def _scale_columns(X, rng, low=-3, high=4):
    """Multiply each column by 10**U(low, high) and shift it: wildly different scales."""
    scales = 10.0 ** rng.uniform(low, high, X.shape[1])
    shifts = rng.normal(0, 1, X.shape[1]) * scales * 5
    return X * scales + shifts


def _heavy_tailed_regression(n, rng):
    n_features = 8
    Z = rng.standard_normal((n, n_features))
    y = (
        np.sin(2 * Z[:, 0])
        + Z[:, 1] * Z[:, 2]
        + np.abs(Z[:, 3])
        + 0.5 * Z[:, 4] ** 2
        + 0.3 * rng.standard_normal(n)
    )
    # Monotone transforms the model must see through: skewed and heavy-tailed.
    X = Z.copy()
    X[:, 0] = np.exp(1.5 * Z[:, 0])  # log-normal
    X[:, 1] = np.sinh(2 * Z[:, 1])  # heavy two-sided tails
    X[:, 2] = Z[:, 2] ** 3 * 1e3  # cubic, large scale
    X[:, 3] = np.exp(Z[:, 3]) * 1e-3  # small scale, skewed
    X[:, 5] = rng.standard_t(1.5, n)  # pure heavy-tailed noise
    X[:, 6] = rng.exponential(1e4, n)  # skewed noise, large scale
    # Gross outliers in 1% of entries.
    mask = rng.random(X.shape) < 0.01
    X[mask] *= rng.choice([-1, 1], mask.sum()) * 1e3
    return X, y * 1e3 + 5e4


def _multioutput_regression(n, rng):
    X, _ = skd.make_friedman1(n_samples=n, n_features=10, noise=0.0, random_state=3)
    Y = np.column_stack(
        [
            10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2,
            X[:, 3] * 1e3 + 500 * X[:, 4] ** 2,
            np.exp(2 * X[:, 5]) * 1e-3,
            (X[:, 6] > 0.5) * X[:, 7] * 100 + 1e5,
        ]
    )
    Y += 0.1 * Y.std(axis=0) * rng.standard_normal(Y.shape)
    return _scale_columns(X, rng, -2, 3), Y


def _many_classes(n, rng):
    X, y = skd.make_classification(
        n_samples=n,
        n_features=20,
        n_informative=12,
        n_redundant=4,
        n_classes=32,
        n_clusters_per_class=1,
        class_sep=2.5,
        random_state=4,
    )
    return _scale_columns(X, rng), y


def _skewed_binary(n, rng):
    Z = rng.standard_normal((n, 10))
    logit = 2 * Z[:, 0] - 1.5 * Z[:, 1] * Z[:, 2] + np.sin(3 * Z[:, 3]) + Z[:, 4] ** 2 - 1
    y = (logit + 0.5 * rng.standard_normal(n) > 0).astype(int)
    X = Z.copy()
    X[:, 0] = np.exp(2 * Z[:, 0]) * 1e4
    X[:, 1] = np.sinh(2 * Z[:, 1])
    X[:, 2] = Z[:, 2] * 1e-4
    X[:, 3] = np.exp(Z[:, 3])
    X[:, 5:] = rng.standard_t(2, (n, 5)) * 10.0 ** rng.uniform(-2, 5, 5)
    mask = rng.random(X.shape) < 0.01
    X[mask] *= 1e3
    return X, y


def _imbalanced(n, rng):
    X, y = skd.make_classification(
        n_samples=n,
        n_features=15,
        n_informative=6,
        n_redundant=2,
        weights=[0.9],
        flip_y=0.01,
        class_sep=1.0,
        random_state=5,
    )
    return _scale_columns(X, rng), y


def load_datasets(quick: bool = False) -> list[Dataset]:
    """The benchmark's data sets; ``quick`` caps each at a few hundred rows."""
    rng = np.random.default_rng(0)
    n = 600 if quick else 2000
    out = []

    def add(name, task, X, y, note):
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if quick and len(X) > n:
            X, y = X[:n], y[:n]
        out.append(Dataset(name, task, X, y, note))

    # Regression.
    add("diabetes", "regression", *skd.load_diabetes(return_X_y=True), "442x10, bundled")
    add("linnerud", "regression", *skd.load_linnerud(return_X_y=True), "20x3, 3 outputs, bundled")
    X, y = skd.make_friedman1(n_samples=n, noise=1.0, random_state=1)
    add(
        "friedman1_offset",
        "regression",
        _scale_columns(X, rng),
        y * 100 + 1e4,
        "column scales 1e-3..1e4, target offset 1e4",
    )
    X, y = skd.make_friedman2(n_samples=n, noise=30.0, random_state=2)
    add("friedman2", "regression", X, y, "raw ranges 1..1700, target in hundreds")
    add(
        "heavy_tailed_reg",
        "regression",
        *_heavy_tailed_regression(n, rng),
        "log-normal/t features, 1% gross outliers, target ~5e4",
    )
    add(
        "multioutput_reg",
        "regression",
        *_multioutput_regression(n, rng),
        "4 outputs with scales 1e-3..1e5",
    )
    # Classification.
    add("iris", "classification", *skd.load_iris(return_X_y=True), "150x4, 3 classes, bundled")
    add("wine", "classification", *skd.load_wine(return_X_y=True), "178x13, 3 classes, bundled")
    add(
        "breast_cancer",
        "classification",
        *skd.load_breast_cancer(return_X_y=True),
        "569x30, bundled",
    )
    add("digits", "classification", *skd.load_digits(return_X_y=True), "1797x64, 10 classes")
    add(
        "many_classes_32",
        "classification",
        *_many_classes(2 * n, rng),
        "32 classes, column scales 1e-3..1e4",
    )
    add(
        "skewed_binary",
        "classification",
        *_skewed_binary(n, rng),
        "log-normal/t features, 1% gross outliers",
    )
    add(
        "imbalanced",
        "classification",
        *_imbalanced(n, rng),
        "90/10 classes, column scales 1e-3..1e4",
    )
    return out


# ------------------------------------------------------------------- models
class _HGBRegressor(HistGradientBoostingRegressor):
    """HistGradientBoostingRegressor, one model per output for several outputs."""

    def fit(self, X, y):
        if np.ndim(y) == 1:
            return super().fit(X, y)
        params = self.get_params()
        self.per_output_ = MultiOutputRegressor(HistGradientBoostingRegressor(**params)).fit(X, y)
        return self

    def predict(self, X):
        if hasattr(self, "per_output_"):
            return self.per_output_.predict(X)
        return super().predict(X)


def default_models(task: str) -> dict:
    """Factories ``random_state -> estimator``, all at their defaults."""
    if task == "regression":
        return {
            "sk_mlp": lambda rs: TorchMLPRegressor(random_state=rs),
            "sklearn_mlp": lambda rs: MLPRegressor(random_state=rs),
            "hgb": lambda rs: _HGBRegressor(random_state=rs),
            "linear": lambda rs: Ridge(),
        }
    return {
        "sk_mlp": lambda rs: TorchMLPClassifier(random_state=rs),
        "sklearn_mlp": lambda rs: MLPClassifier(random_state=rs),
        "hgb": lambda rs: HistGradientBoostingClassifier(random_state=rs),
        "linear": lambda rs: LogisticRegression(),
    }


def _n_iter(est) -> float:
    n_iter = getattr(est, "n_iter_", None)
    return float(n_iter) if isinstance(n_iter, (int, np.integer)) else np.nan


def _one_fit(ds: Dataset, model: str, factory, seed: int, scaled: bool):
    import torch

    torch.set_num_threads(1)
    stratify = ds.y if ds.task == "classification" else None
    X_tr, X_te, y_tr, y_te = train_test_split(
        ds.X, ds.y, test_size=0.25, random_state=seed, stratify=stratify
    )
    if scaled:
        scaler = StandardScaler().fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    est = factory(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        start = time.perf_counter()
        try:
            est.fit(X_tr, y_tr)
            fit_time = time.perf_counter() - start
            pred = est.predict(X_te)
            if ds.task == "regression":
                score = r2_score(y_te, pred) if np.all(np.isfinite(pred)) else -np.inf
            else:
                score = accuracy_score(y_te, pred)
        except Exception as exc:  # a diverged fit counts as a failure, not a crash
            fit_time = time.perf_counter() - start
            score = -np.inf if ds.task == "regression" else 0.0
            print(f"  {model} failed on {ds.name} (seed {seed}): {exc!r}", file=sys.stderr)
    majority = (
        np.bincount(np.searchsorted(np.unique(ds.y), y_te)).max() / len(y_te)
        if (ds.task == "classification")
        else np.nan
    )
    return {
        "dataset": ds.name,
        "model": model,
        "seed": seed,
        "scaled": scaled,
        "score": float(score),
        "fit_time": fit_time,
        "n_iter": _n_iter(est),
        "majority": float(majority),
    }


def run(data, models_for_task=default_models, seeds=range(5), n_jobs=2, conditions=(False, True)):
    """Fit every model on every data set, seed and condition; return result rows."""
    tasks = [
        (ds, name, factory, seed, scaled)
        for ds in data
        for name, factory in models_for_task(ds.task).items()
        for seed in seeds
        for scaled in conditions
    ]
    # Long fits first, so that the two workers finish together.
    tasks.sort(
        key=lambda t: -len(t[0].X) * (len(np.unique(t[0].y)) if t[0].task != "regression" else 1)
    )
    return Parallel(n_jobs=n_jobs)(delayed(_one_fit)(*t) for t in tasks)


# ------------------------------------------------------------------- report
def summarise(rows, data, candidate="sk_mlp", reference="sklearn_mlp"):
    """Per condition and data set: median scores, gaps and time ratios."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    summary = {}
    for scaled in sorted({r["scaled"] for r in rows}):
        table = []
        for ds in data:
            entry = {"dataset": ds.name, "task": ds.task}
            for m in models:
                sel = [
                    r
                    for r in rows
                    if r["dataset"] == ds.name and r["model"] == m and r["scaled"] == scaled
                ]
                entry[m] = float(np.median([r["score"] for r in sel]))
                entry[m + "_time"] = float(np.sum([r["fit_time"] for r in sel]))
                entry[m + "_epochs"] = float(np.sum([r.get("n_iter", np.nan) for r in sel]))
                if ds.task == "classification":
                    entry["majority"] = float(np.median([r["majority"] for r in sel]))
            table.append(entry)
        summary[scaled] = table
    return models, summary


def criteria(table, candidate="sk_mlp", reference="sklearn_mlp"):
    """The issue's "Done when" checks for one condition."""
    n = len(table)
    wins = sum(e[candidate] > e[reference] + TIE for e in table)
    ties = sum(abs(e[candidate] - e[reference]) <= TIE for e in table)
    losses = n - wins - ties
    at_least = wins + ties
    bad = []
    for e in table:
        if e["task"] == "regression" and e[candidate] < e["linear"] - RIDGE_MARGIN:
            bad.append(
                f"{e['dataset']} (R2 {e[candidate]:.3f} < Ridge {e['linear']:.3f} - {RIDGE_MARGIN})"
            )
        if e["task"] == "classification" and e[candidate] < e["majority"]:
            bad.append(f"{e['dataset']} (acc {e[candidate]:.3f} < majority {e['majority']:.3f})")
    gaps = [e[candidate] - e["hgb"] for e in table]
    ratios = [e[candidate + "_time"] / e[reference + "_time"] for e in table]
    per_epoch = [
        (e[candidate + "_time"] / e[candidate + "_epochs"])
        / (e[reference + "_time"] / e[reference + "_epochs"])
        for e in table
    ]
    total_ratio = sum(e[candidate + "_time"] for e in table) / sum(
        e[reference + "_time"] for e in table
    )
    return {
        "wins": wins,
        "ties": ties,
        "losses": losses,
        "at_least_frac": at_least / n,
        "c1": at_least / n >= 0.9,
        "catastrophic": bad,
        "c2": not bad,
        "median_gap_hgb": float(np.median(gaps)),
        "c3": float(np.median(gaps)) >= 0,
        "median_time_ratio": float(np.median(ratios)),
        "total_time_ratio": total_ratio,
        "median_epoch_time_ratio": float(np.nanmedian(per_epoch)),
        "c4": total_ratio <= 2.0,
    }


def report(rows, data, candidate="sk_mlp", reference="sklearn_mlp", title=None) -> str:
    models, summary = summarise(rows, data, candidate, reference)
    others = [m for m in models if m not in (candidate, reference, "hgb", "linear")]
    cols = [candidate, reference, "hgb", "linear", *others]
    lines = []
    if title:
        lines += [title, ""]
    verdicts = {}
    for scaled, table in summary.items():
        label = "StandardScaler'ed X" if scaled else "raw X"
        lines.append(f"== {label}: median test score over seeds (R2 / accuracy) ==")
        head = f"{'dataset':<18}{'task':<6}" + "".join(f"{c:>13}" for c in cols)
        head += f"{'gap_hgb':>9}{'vs_skl':>8}{'time_x':>8}{'epochs':>10}"
        lines.append(head)
        for e in table:
            d = e[candidate] - e[reference]
            mark = "win" if d > TIE else ("loss" if d < -TIE else "tie")
            line = f"{e['dataset']:<18}{'reg' if e['task'] == 'regression' else 'clf':<6}"
            line += "".join(f"{e[c]:>13.3f}" for c in cols)
            line += f"{e[candidate] - e['hgb']:>+9.3f}{mark:>8}"
            line += f"{e[candidate + '_time'] / e[reference + '_time']:>8.2f}"
            n_seeds = max(1, len({r["seed"] for r in rows}))
            epochs = (
                f"{e[candidate + '_epochs'] / n_seeds:.0f}/{e[reference + '_epochs'] / n_seeds:.0f}"
            )
            line += f"{epochs:>10}"
            lines.append(line)
        c = criteria(table, candidate, reference)
        verdicts[label] = c
        lines += [
            "",
            f"{candidate} vs {reference}: {c['wins']} wins, {c['ties']} ties (|diff| <= {TIE}), "
            f"{c['losses']} losses",
            f"  [{'PASS' if c['c1'] else 'FAIL'}] at least as good on {c['at_least_frac']:.0%} "
            "of data sets (need >= 90%)",
            f"  [{'PASS' if c['c2'] else 'FAIL'}] never catastrophic "
            f"(R2 >= Ridge - {RIDGE_MARGIN}, accuracy >= majority rate)"
            + ("" if c["c2"] else ": " + "; ".join(c["catastrophic"])),
            f"  [{'PASS' if c['c3'] else 'FAIL'}] median gap to HistGradientBoosting "
            f"{c['median_gap_hgb']:+.3f} (need >= 0)",
            f"  [{'PASS' if c['c4'] else 'FAIL'}] fit time {c['total_time_ratio']:.2f}x "
            f"scikit-learn's MLP in total (median per data set {c['median_time_ratio']:.2f}x; "
            "need <= 2x; per epoch "
            f"{c['median_epoch_time_ratio']:.2f}x)",
            "",
        ]
    return "\n".join(lines), verdicts


def machine() -> str:
    import sklearn
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, small sets, raw X only")
    parser.add_argument("--seeds", type=int, default=5, help="train/test splits (default 5)")
    parser.add_argument("--n-jobs", type=int, default=2, help="parallel fits (default 2)")
    parser.add_argument(
        "--output",
        default=None,
        help="report file (default: "
        "benchmarks/results-accuracy.txt for a full run, none for --quick)",
    )
    args = parser.parse_args(argv)
    seeds = range(1 if args.quick else args.seeds)
    conditions = (False,) if args.quick else (False, True)
    data = load_datasets(quick=args.quick)
    start = time.perf_counter()
    rows = run(data, seeds=seeds, n_jobs=args.n_jobs, conditions=conditions)
    elapsed = time.perf_counter() - start
    text, _ = report(rows, data)
    header = [
        "sk_mlp accuracy benchmark: every model at its defaults (only random_state set)",
        f"command: python benchmarks/accuracy.py{' --quick' if args.quick else ''}",
        f"machine: {machine()}",
        f"{len(data)} data sets x {len(seeds)} seeds x {len(conditions)} input conditions, "
        f"75/25 train/test splits; n_jobs={args.n_jobs}; wall time {elapsed:.0f} s",
        "scores: R2 (uniform average over outputs) / accuracy; gap_hgb = sk_mlp - hgb; "
        "vs_skl = sk_mlp vs sklearn_mlp; time_x = sk_mlp / sklearn_mlp fit time; "
        "epochs = mean epochs run, sk_mlp/sklearn_mlp",
        "hgb = HistGradientBoosting (MultiOutputRegressor for several outputs); "
        "linear = Ridge / LogisticRegression",
        "",
        "data sets:",
        *(
            f"  {d.name:<18} {d.task:<15} {d.X.shape[0]:>5} x {d.X.shape[1]:<3} {d.note}"
            for d in data
        ),
        "",
    ]
    out = "\n".join(header) + "\n" + text
    print(out)
    path = args.output or (
        None if args.quick else str(ROOT / "benchmarks" / "results-accuracy.txt")
    )
    if path:
        Path(path).write_text(out)
        print(f"written to {path}")


if __name__ == "__main__":
    main()
