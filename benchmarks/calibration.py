"""Calibration benchmark: do sk_mlp's intervals hold on held-out rows of real tables?

For each regression table of ``tabular_data.py`` and each seed (75/25 split),
on the held-out rows: coverage of the central 50/80/90/95% intervals, their
mean width (in units of the test target's standard deviation), the Gaussian
NLL (of the target divided by its training std, for the methods that predict
a std), the RMSE of the mean, and the pinball loss averaged over the eight
interval bounds.

Statistics:

- coverage is pooled over the seeds' test rows; small tables get more seeds
  (up to 10) until they hold ``MIN_TEST_ROWS`` test rows in all, and the
  report gives each coverage's binomial standard error;
- sk_mlp's NLL is compared with the homoscedastic baseline's seed by seed,
  with ``tabular_stats.paired`` (Student's t interval over the seeds);
- width at equal coverage (``eqwidth90``): each method's 90% intervals are
  stretched or shrunk about their centres by the one factor that makes them
  cover exactly 90% of the test rows, and their mean width is compared with
  HistGradientBoosting quantile regression's, rescaled alike. Both get the
  same correction on the same rows, so the ratio measures how well the
  intervals follow the noise, not how well their overall scale was guessed.

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

    python benchmarks/calibration.py            # ~21 min of CPU (44 min on a busy machine)
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
from tabular_stats import paired, tally  # noqa: E402

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
# Small tables get more seeds (up to 10), until their test rows pooled over
# seeds number this: a binomial SE of about 0.008 on a 90% coverage.
MIN_TEST_ROWS = 1500
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


def width_at_coverage(y, lower, upper, coverage=0.9):
    """Mean width of the intervals once stretched or shrunk about their centres
    by the one factor that makes them cover exactly ``coverage`` of these rows.

    Every method's intervals get the same correction on the same rows, so the
    widths compare the intervals' shape (how well they follow the noise) at
    equal coverage, whatever each method's own coverage was.
    """
    centre, half = (lower + upper) / 2, (upper - lower) / 2
    # A row is covered once the factor reaches |y - centre| / half.
    needed = np.abs(y - centre) / np.maximum(half, np.finfo(float).tiny)
    return float(np.quantile(needed, coverage) * np.mean(upper - lower))


def evaluate(y, bounds, y_scale, mean=None, std=None):
    """Coverage and width per confidence, the 90% width at 90% coverage,
    pinball, NLL and RMSE of the mean (in units of ``y_scale``)."""
    row = {"n_test": len(y)}
    for c in CONFIDENCES:
        lower, upper = bounds[0.5 - c / 2], bounds[0.5 + c / 2]
        row[f"cov{int(c * 100)}"] = float(np.mean((lower <= y) & (y <= upper)))
        row[f"width{int(c * 100)}"] = float(np.mean(upper - lower) / y_scale)
    row["eqwidth90"] = width_at_coverage(y, bounds[0.5 - 0.9 / 2], bounds[0.5 + 0.9 / 2]) / y_scale
    row["pinball"] = pinball(y / y_scale, {q: b / y_scale for q, b in bounds.items()})
    row["nll"] = np.nan if std is None else gaussian_nll(y / y_scale, mean / y_scale, std / y_scale)
    row["rmse"] = np.nan if mean is None else float(np.sqrt(np.mean((y - mean) ** 2)) / y_scale)
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
    n, centre = len(residual), part.predict(X_test)
    half_widths = [np.quantile(residual, min(1.0, c * (n + 1) / n)) for c in CONFIDENCES]
    return {
        "homoscedastic": (gaussian_bounds(mean, std), mean, std),
        "conformal": (symmetric_bounds(centre, half_widths), centre, None),
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


def paired_nll(frame):
    """Per table, sk_mlp's NLL against the homoscedastic baseline's, paired
    seed by seed (``tabular_stats.paired``: positive gap, sk_mlp better)."""
    data = frame.rename(columns={"table": "dataset", "method": "model"})
    data["task"] = "regression"
    return paired(data, "sk_mlp", "homoscedastic", "nll")


def coverage_lines(means):
    """sk_mlp's coverage per table with its binomial standard error."""
    m = means.xs("sk_mlp", level="method")
    lines = []
    for c in (50, 90):
        se = np.sqrt(m[f"cov{c}"] * (1 - m[f"cov{c}"]) / m["n_test"])
        low, high = c / 100 - 0.05, c / 100 + 0.05
        inside = int(m[f"cov{c}"].between(low, high).sum())
        cells = ", ".join(f"{t} {v:.3f}±{e:.3f}" for t, v, e in zip(m.index, m[f"cov{c}"], se))
        lines.append(
            f"sk_mlp {c}% intervals cover [{low:.2f}, {high:.2f}] on {inside} of {len(m)} "
            f"tables (coverage ± binomial SE over the pooled test rows: {cells})."
        )
    return lines


def width_lines(means, tables):
    """The 90% width at equal (90%) coverage, against HGB quantile regression."""
    widths = means["eqwidth90"].unstack("method").loc[tables]
    lines = []
    for method in ("sk_mlp", "sk_mlp_quantile", "conformal", "homoscedastic"):
        ratio = widths[method] / widths["hgb_quantile"]
        lines.append(
            f"{method} / hgb_quantile 90% width at equal coverage: median {ratio.median():.3f} "
            f"over tables, <= 1 on {int((ratio <= 1).sum())} of {len(ratio)} ("
            + ", ".join(f"{t} {v:.2f}" for t, v in ratio.items())
            + ")."
        )
    return lines


def report(frame, times, scales):
    import pandas as pd

    pd.set_option("display.width", 250)
    pd.set_option("display.max_rows", 500)
    grouped = frame.groupby(["table", "method"], sort=False)
    means = grouped.mean(numeric_only=True)
    means["n_test"] = grouped["n_test"].sum()  # pooled over seeds
    means["seeds"] = grouped["seed"].nunique()
    cols = ["n", "seeds", "n_test", "cov50", "cov80", "cov90", "cov95", "width50", "width90"]
    cols += ["eqwidth90", "nll", "rmse", "pinball"]
    lines = [
        "Per table and method, mean over seeds (n_test: test rows pooled over seeds; width in",
        "std of y; eqwidth90: the 90% width once rescaled to cover exactly 90% of the test rows;",
        "NLL of y / std(y); RMSE of the mean in std of y):",
        "",
    ]
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
                "median eqwidth90": m.eqwidth90.median(),
                "median pinball": m.pinball.median(),
            }
        )
    lines.append(pd.DataFrame(summary).set_index("method").round(3).to_string())
    tables = means.index.get_level_values("table").unique()
    nll = means["nll"].unstack("method").loc[tables]
    wins = int((nll["sk_mlp"] <= nll["homoscedastic"]).sum())
    verdicts = paired_nll(frame)
    counts = tally(verdicts)
    lines += ["", "Targets:", ""]
    lines += coverage_lines(means)
    lines += [
        f"sk_mlp mean Gaussian NLL <= homoscedastic on {wins} of {len(tables)} tables; "
        f"paired over seeds (95% t interval): {counts['W']} better, {counts['T']} tied, "
        f"{counts['L']} worse, not worse on {counts['share']:.0%} of {counts['n']} tables.",
    ]
    lines += width_lines(means, tables)
    lines += [
        "",
        "sk_mlp - homoscedastic NLL, paired per table (gap = homoscedastic - sk_mlp, lo/hi its "
        "95% interval):",
        verdicts.drop(columns="task").round(3).to_string(index=False),
        "",
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


def seeds_for(table, seeds: int, min_test_rows: int) -> int:
    """At least ``seeds``, and enough (up to 10) that the pooled test rows
    number ``min_test_rows``."""
    n_test = len(table.y) - int(0.75 * len(table.y))
    return max(seeds, min(10, -(-min_test_rows // n_test)))


def main(argv=None):
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 small tables, 2,000 rows, 1 seed")
    parser.add_argument("--tables", nargs="*", default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-rows", type=int, default=20_000)
    parser.add_argument("--out", default=None, help="also write the report to this file")
    parser.add_argument("--rows", default=None, help="write the per-seed rows to this CSV")
    args = parser.parse_args(argv)
    if args.quick:
        names, args.seeds, args.max_rows = QUICK_TABLES, 1, 2_000
        min_test_rows = 0
    else:
        names, min_test_rows = args.tables or TABLES, MIN_TEST_ROWS
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    rows, times, scales = [], {}, {}
    for table in load_tables(names, max_rows=args.max_rows):
        for seed in range(seeds_for(table, args.seeds, min_test_rows)):
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
        a
        for a in (argv if argv is not None else sys.argv[1:])
        if a not in (args.out, "--out", args.rows, "--rows")
    ]
    header = (
        f"python benchmarks/calibration.py {' '.join(shown)}\n"
        f"{len(names)} tables, {args.seeds} seeds (more on small tables: >= {min_test_rows} "
        f"pooled test rows, at most 10 seeds), rows capped at {args.max_rows}, "
        f"torch {torch.__version__}, 1 thread\n"
    )
    frame = pd.DataFrame(rows)
    if args.rows:
        frame.to_csv(args.rows, index=False)
    text = header + "\n" + report(frame, times, scales)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
