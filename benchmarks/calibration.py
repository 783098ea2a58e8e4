"""Calibration benchmark: do sk_mlp's intervals hold on held-out rows of real tables?

For each regression table of ``tabular_data.py`` and each seed (75/25 split),
on the held-out rows: coverage of the central 50/80/90/95% intervals, their
mean width (in units of the test target's standard deviation), the Gaussian
NLL (of the target divided by its training std, for the methods that predict
a std) and the pinball loss averaged over the eight interval bounds.

Methods, all on the raw frame:

- ``sk_mlp``: ``TorchMLPRegressor(loss='gaussian_nll')`` at its defaults
  (std calibrated on held-out rows, intervals from ``predict_interval``);
- ``sk_mlp_gaussian``: the same model's calibrated std with Gaussian intervals;
- ``sk_mlp_raw``: the same network's std before calibration (what the
  defaults gave before), Gaussian intervals;
- ``sk_mlp_quantile``: ``TorchMLPRegressor(loss='quantile')`` at its
  defaults (``quantile=None``: the median and the bounds of the four
  intervals from one network, intervals from ``predict_interval``);
- ``homoscedastic``: the squared-error model's mean, with one std: the root
  mean square of the residuals of rows held out of a fit on 80% of the
  training rows (out-of-fold);
- ``conformal``: split-conformal wrapper of the squared-error model (fitted on
  80% of the training rows, the quantile of the absolute residuals of the other
  20% as half-width);
- ``hgb_quantile``: HistGradientBoostingRegressor(loss='quantile'), one model
  per interval bound, categories from dtype.

One torch thread per fit, one fit at a time. Run from the repository root::

    python benchmarks/calibration.py            # ~1 h on one core
    python benchmarks/calibration.py --quick    # a couple of minutes
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import torch
from scipy.stats import norm
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tabular_data import load_tables  # noqa: E402
from tabular_models import as_category  # noqa: E402

from sk_mlp import TorchMLPRegressor  # noqa: E402

TABLES = [
    # 10,000 rows or more
    "diamonds",
    "budgetfood",
    "cps1988",
    "chem97",
    "hotel_rates",
    "deliveries",
    "nlswork",
    # smaller
    "ames",
    "wage",
    "slid",
    "txhousing",
    "saratoga",
    "cps1985",
]
QUICK_TABLES = ["wage", "slid", "cps1985", "saratoga"]
CONFIDENCES = (0.5, 0.8, 0.9, 0.95)
# The interval bounds, at which the pinball loss is averaged.
LEVELS = sorted({0.5 - c / 2 for c in CONFIDENCES} | {0.5 + c / 2 for c in CONFIDENCES})


def gaussian_bounds(mean, std):
    """{level: quantile} of a Gaussian."""
    return {q: mean + norm.ppf(q) * std for q in LEVELS}


def symmetric_bounds(mean, half_widths):
    """{level: quantile} from a half-width per confidence."""
    out = {}
    for c, h in zip(CONFIDENCES, half_widths):
        out[0.5 - c / 2], out[0.5 + c / 2] = mean - h, mean + h
    return out


def pinball(y, bounds):
    losses = [np.mean(np.maximum(q * (y - b), (q - 1) * (y - b))) for q, b in bounds.items()]
    return float(np.mean(losses))


def gaussian_nll(y, mean, std):
    return float(np.mean(0.5 * np.log(2 * np.pi * std**2) + 0.5 * ((y - mean) / std) ** 2))


def evaluate(y, bounds, y_scale, mean=None, std=None):
    """Coverage and width per confidence, pinball and NLL (in units of ``y_scale``)."""
    row = {}
    for c in CONFIDENCES:
        lower, upper = bounds[0.5 - c / 2], bounds[0.5 + c / 2]
        row[f"cov{int(c * 100)}"] = float(np.mean((lower <= y) & (y <= upper)))
        row[f"width{int(c * 100)}"] = float(np.mean(upper - lower) / y_scale)
    row["pinball"] = pinball(y / y_scale, {q: b / y_scale for q, b in bounds.items()})
    row["nll"] = np.nan if std is None else gaussian_nll(y / y_scale, mean / y_scale, std / y_scale)
    return row


def fit_sk_mlp(X, y, X_test, seed):
    reg = TorchMLPRegressor(loss="gaussian_nll", random_state=seed).fit(X, y)
    mean, std = reg.predict(X_test, return_std=True)
    a, b = reg.variance_scale_[0], reg.variance_offset_[0]
    raw_std = np.sqrt(np.maximum(std**2 - b, 0.0) / a)
    default = {}
    for c in CONFIDENCES:
        default[0.5 - c / 2], default[0.5 + c / 2] = reg.predict_interval(X_test, confidence=c)
    return {
        "sk_mlp": (default, mean, std),
        "sk_mlp_gaussian": (gaussian_bounds(mean, std), mean, std),
        "sk_mlp_raw": (gaussian_bounds(mean, raw_std), mean, raw_std),
        "_calibration": (float(a), float(b) / float(np.var(y))),
    }


def fit_sk_mlp_quantile(X, y, X_test, seed):
    reg = TorchMLPRegressor(loss="quantile", random_state=seed).fit(X, y)
    bounds = {}
    for c in CONFIDENCES:
        bounds[0.5 - c / 2], bounds[0.5 + c / 2] = reg.predict_interval(X_test, confidence=c)
    return {"sk_mlp_quantile": (bounds, None, None)}


def fit_squared_error(X, y, X_test, seed):
    full = TorchMLPRegressor(random_state=seed).fit(X, y)
    fit_rows, held_out = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed)
    part = TorchMLPRegressor(random_state=seed).fit(X.iloc[fit_rows], y[fit_rows])
    residual = np.abs(y[held_out] - part.predict(X.iloc[held_out]))
    mean = full.predict(X_test)
    std = np.full_like(mean, np.sqrt(np.mean(residual**2)))
    n = len(residual)
    half_widths = [np.quantile(residual, min(1.0, c * (n + 1) / n)) for c in CONFIDENCES]
    return {
        "homoscedastic": (gaussian_bounds(mean, std), mean, std),
        "conformal": (symmetric_bounds(part.predict(X_test), half_widths), None, None),
    }


def fit_hgb(X, y, X_test, seed):
    bounds = {}
    for q in LEVELS:
        model = make_pipeline(
            FunctionTransformer(as_category),
            HistGradientBoostingRegressor(
                loss="quantile", quantile=q, categorical_features="from_dtype", random_state=seed
            ),
        )
        bounds[q] = model.fit(X, y).predict(X_test)
    # Quantile models fitted separately may cross; sort, as a user would.
    stacked = np.sort(np.stack([bounds[q] for q in LEVELS]), axis=0)
    return {"hgb_quantile": (dict(zip(LEVELS, stacked)), None, None)}


def run(table, seed):
    X, X_test, y, y_test = train_test_split(table.X, table.y, test_size=0.25, random_state=seed)
    X, X_test = X.reset_index(drop=True), X_test.reset_index(drop=True)
    y_scale = float(np.std(y))
    rows, times = [], {}
    results = {}
    fits = (
        ("sk_mlp", fit_sk_mlp),
        ("sk_mlp_quantile", fit_sk_mlp_quantile),
        ("squared", fit_squared_error),
        ("hgb", fit_hgb),
    )
    for name, fit in fits:
        start = time.process_time()
        results.update(fit(X, y, X_test, seed))
        times[name] = time.process_time() - start
    scale = results.pop("_calibration")
    for method, (bounds, mean, std) in results.items():
        row = {"table": table.name, "seed": seed, "method": method, "n": len(table.y)}
        row.update(evaluate(y_test, bounds, y_scale, mean, std))
        rows.append(row)
    return rows, times, scale


def report(frame, times, scales):
    import pandas as pd

    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    means = frame.groupby(["table", "method"], sort=False).mean(numeric_only=True)
    cols = ["n", "cov50", "cov80", "cov90", "cov95", "width50", "width90", "nll", "pinball"]
    lines = ["Per table and method, mean over seeds (width in std of y; NLL of y / std(y)):", ""]
    lines.append(means[cols].round(3).to_string())
    lines += ["", "Summary over tables (per-table means):", ""]
    summary = []
    for method in means.index.get_level_values("method").unique():
        m = means.xs(method, level="method")
        summary.append(
            {
                "method": method,
                "cov50 min": m.cov50.min(),
                "cov50 max": m.cov50.max(),
                "cov90 min": m.cov90.min(),
                "cov90 max": m.cov90.max(),
                "tables 90% in [.85,.95]": int(m.cov90.between(0.85, 0.95).sum()),
                "tables 50% in [.45,.55]": int(m.cov50.between(0.45, 0.55).sum()),
                "median width90": m.width90.median(),
                "median pinball": m.pinball.median(),
            }
        )
    lines.append(pd.DataFrame(summary).set_index("method").round(3).to_string())
    tables = means.index.get_level_values("table").unique()
    nll = means["nll"].unstack("method").loc[tables]
    wins = int((nll["sk_mlp"] <= nll["homoscedastic"]).sum())
    widths = means["width90"].unstack("method").loc[tables]
    ratio = widths.eval("sk_mlp / hgb_quantile")
    lines += [
        "",
        f"sk_mlp Gaussian NLL <= homoscedastic on {wins} of {len(tables)} tables.",
        f"sk_mlp / hgb_quantile 90% width: median {ratio.median():.3f} over tables.",
        "sk_mlp_quantile / hgb_quantile 90% width: median "
        f"{widths.eval('sk_mlp_quantile / hgb_quantile').median():.3f} over tables.",
        "sk_mlp's calibration, variance_scale_ and variance_offset_ / var(y), per table: "
        + ", ".join(
            f"{t} {np.mean([a for a, _ in s]):.2f} {np.mean([b for _, b in s]):.2f}"
            for t, s in scales.items()
        )
        + ".",
        "CPU seconds per fit (mean over tables and seeds): "
        + ", ".join(f"{k} {np.mean(v):.1f}" for k, v in times.items())
        + " (sk_mlp: gaussian_nll with its calibration fits; sk_mlp_quantile: one network"
        " of 9 quantiles; squared: full + 80% fits; hgb: 8 quantile models)",
    ]
    return "\n".join(lines)


def main(argv=None):
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 small tables, 2,000 rows, 1 seed")
    parser.add_argument("--tables", nargs="*", default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-rows", type=int, default=20_000)
    parser.add_argument("--out", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)
    if args.quick:
        names, args.seeds, args.max_rows = QUICK_TABLES, 1, 2_000
    else:
        names = args.tables or TABLES
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    rows, times, scales = [], {}, {}
    for table in load_tables(names, max_rows=args.max_rows):
        for seed in range(args.seeds):
            fit_rows, fit_times, scale = run(table, seed)
            rows += fit_rows
            scales.setdefault(table.name, []).append(scale)
            for k, v in fit_times.items():
                times.setdefault(k, []).append(v)
            print(
                f"{table.name} seed {seed}: "
                + ", ".join(f"{k} {v:.0f}s" for k, v in fit_times.items()),
                flush=True,
            )
    # The command, without where its report went (no path of this machine).
    shown = [
        a for a in (argv if argv is not None else sys.argv[1:]) if a not in (args.out, "--out")
    ]
    header = (
        f"python benchmarks/calibration.py {' '.join(shown)}\n"
        f"{len(names)} tables, {args.seeds} seeds, rows capped at {args.max_rows}, "
        f"torch {torch.__version__}, 1 thread\n"
    )
    text = header + "\n" + report(pd.DataFrame(rows), times, scales)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
