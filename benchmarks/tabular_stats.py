"""Paired statistics and the report of ``tabular.py``.

A model wins or loses against another on a table only when the 95% confidence
interval of their paired difference excludes zero: the difference is taken
seed by seed (the same split, the same test rows), and the interval is
Student's t over the seeds. There is no fixed tie margin. With fewer than two
common seeds there is no interval, and the table is left out of the tally.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

# metric -> (column, higher is better, label)
METRICS = {
    "score": ("score", True, "accuracy / R2"),
    "logloss": ("logloss", False, "log-loss"),
    "auc": ("auc", True, "ROC AUC"),
    "ece": ("ece", False, "expected calibration error"),
    "rmse": ("rmse", False, "RMSE (in the target's units)"),
    "nll": ("nll", False, "Gaussian NLL"),
}
RIDGE_MARGIN = 0.05
MAJORITY_MARGIN = 0.01


def frame(rows) -> pd.DataFrame:
    data = pd.DataFrame(rows)
    for column in ("score", "logloss", "auc", "ece", "rmse", "nll", "fit_time", "cpu_time"):
        if column in data:
            data[column] = pd.to_numeric(data[column], errors="coerce")
    return data


def paired(data: pd.DataFrame, a: str, b: str, metric: str = "score") -> pd.DataFrame:
    """Per table: the mean paired difference ``a - b`` (signed so that
    positive means ``a`` is better), its 95% interval and the verdict."""
    column, higher, _ = METRICS[metric]
    out = []
    for name, group in data.groupby("dataset", sort=False):
        wide = group.pivot_table(index="seed", columns="model", values=column, aggfunc="first")
        if a not in wide or b not in wide:
            continue
        diff = (wide[a] - wide[b]).dropna()
        if not higher:
            diff = -diff
        if diff.empty:
            continue
        n, mean = len(diff), float(diff.mean())
        if n >= 2:
            half = float(stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n))
        else:
            half = np.nan
        lo, hi = mean - half, mean + half
        if np.isnan(half):
            verdict = "t?"
        elif lo > 0:
            verdict = "W"
        elif hi < 0:
            verdict = "L"
        else:
            verdict = "T"
        out.append(
            {
                "dataset": name,
                "task": group["task"].iloc[0],
                "n": n,
                "gap": mean,
                "lo": lo,
                "hi": hi,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(out)


def tally(result: pd.DataFrame) -> dict:
    """Wins / ties / losses, the share won or tied, and the median gap."""
    if not result.empty:
        result = result[result["verdict"] != "t?"]  # one common seed: no interval
    if result.empty:
        return {"W": 0, "T": 0, "L": 0, "n": 0, "share": np.nan, "median": np.nan}
    verdicts = result["verdict"]
    counts = verdicts.value_counts()
    w, t, l_ = (int(counts.get(k, 0)) for k in "WTL")
    return {
        "W": w,
        "T": t,
        "L": l_,
        "n": w + t + l_,
        "share": (w + t) / (w + t + l_),
        "median": float(result["gap"].median()),
    }


def median_interval(gaps, n_resamples: int = 10_000) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the median gap, resampling tables:
    how far the median could move on another draw of tables like these."""
    gaps = np.asarray(gaps, dtype=float)
    rng = np.random.default_rng(0)
    draws = rng.choice(gaps, size=(n_resamples, len(gaps)), replace=True)
    low, high = np.percentile(np.median(draws, axis=1), [2.5, 97.5])
    return float(low), float(high)


def means(data: pd.DataFrame, column: str = "score") -> pd.DataFrame:
    """Mean over seeds, one row per table, one column per model."""
    return data.pivot_table(index="dataset", columns="model", values=column, aggfunc="mean")


def normalized(scores: pd.DataFrame) -> pd.DataFrame:
    """(score - worst) / (best - worst) per table over the given models."""
    low, high = scores.min(axis=1), scores.max(axis=1)
    span = (high - low).replace(0, np.nan)
    return scores.sub(low, axis=0).div(span, axis=0).fillna(1.0)


def complete_tables(data: pd.DataFrame, models) -> pd.DataFrame:
    """Rows of the tables on which every one of ``models`` has a fit."""
    have = data.groupby("dataset")["model"].agg(set)
    keep = [d for d, m in have.items() if set(models) <= m]
    return data[data["dataset"].isin(keep) & data["model"].isin(models)]


def times(data: pd.DataFrame) -> pd.DataFrame:
    """Per model: CPU seconds to fit every table once (mean over seeds, summed
    over tables), seconds per 1,000 training rows, predict seconds."""
    per = data.groupby(["model", "dataset"]).agg(
        cpu=("cpu_time", "mean"),
        wall=("fit_time", "mean"),
        predict=("predict_time", "mean"),
        rows=("n_train", "first"),
    )
    total = per.groupby("model").sum()
    total["per_1k_rows"] = total["cpu"] / total["rows"] * 1000
    return total


def _fmt_tally(t: dict) -> str:
    if not t["n"]:
        return "-"
    return f"{t['W']:>2}/{t['T']:>2}/{t['L']:>2} {t['share']:>4.0%} {t['median']:+.4f}"


def resolution(result: pd.DataFrame) -> float:
    """The median half-width of the paired intervals: a smaller gap is a tie."""
    return ((result["hi"] - result["lo"]) / 2).median() if not result.empty else np.nan


def comparison_table(data, candidate, others, metric="score", title="") -> list[str]:
    lines = [
        f"== {title or candidate} against each model: {METRICS[metric][2]}; "
        "wins/ties/losses by the paired 95% interval, share won or tied, median gap; "
        "resolution: the median half-width of the intervals (a smaller gap is a tie) ==",
        f"{'model':<28}{'all':>24}{'classification':>24}{'regression':>24}{'+/-':>9}",
    ]
    for other in others:
        result = paired(data, candidate, other, metric)
        cells = [_fmt_tally(tally(result))]
        for task in ("classification", "regression"):
            part = result[result["task"] == task] if not result.empty else result
            cells.append(_fmt_tally(tally(part)))
        lines.append(
            f"{other:<28}" + "".join(f"{c:>24}" for c in cells) + f"{resolution(result):>9.4f}"
        )
    return lines


def per_table(data, models, column="score") -> list[str]:
    scores = means(data, column)
    order = list(dict.fromkeys(data["dataset"]))
    models = [m for m in models if m in scores]
    lines = [f"{'dataset':<13}{'task':<5}{'n':>3}" + "".join(f"{_short(m):>10}" for m in models)]
    tasks = data.groupby("dataset")["task"].first()
    seeds = data.groupby("dataset")["seed"].nunique()
    for d in order:
        if d not in scores.index:
            continue
        row = f"{d:<13}{tasks[d][:3]:<5}{seeds[d]:>3}"
        row += "".join(_cell(scores.loc[d, m]) for m in models)
        lines.append(row)
    return lines


def _cell(value: float) -> str:
    """A score in ten characters, however far below zero an R2 falls."""
    return f"{value:>10.4f}" if abs(value) < 1000 else f"{value:>10.3g}"


def _short(model: str) -> str:
    short = {"sklearn_mlp_std": "skl_std", "sklearn_mlp": "skl_raw"}.get(model, model)
    return short if len(short) <= 9 else short[:9]


def summary_table(data, models) -> list[str]:
    """The summary over the tables every model fitted; a model that fitted
    fewer than half the tables (a run cut short) is left out of it, so that
    it does not shrink the summary to a few tables."""
    n_tables = data["dataset"].nunique()
    covered = data.groupby("model")["dataset"].nunique()
    short = [m for m in models if m in covered and covered[m] < n_tables / 2]
    models = [m for m in models if m in covered and m not in short]
    complete = complete_tables(data, models)
    scores = means(complete)[models]
    norm = normalized(scores)
    ranks = scores.rank(axis=1, ascending=False)
    timing = times(complete)
    lines = [
        f"== summary over the {len(scores)} tables every model fitted: median normalized "
        "score, mean rank (1 = best), CPU s to fit every table once, s per 1,000 rows, "
        "predict s ==",
        f"{'model':<18}{'norm':>7}{'rank':>7}{'fit_cpu_s':>11}{'s/1k rows':>11}{'predict_s':>11}",
    ]
    if short:
        lines.insert(
            1,
            "(left out, too few tables: "
            + ", ".join(f"{m} {covered[m]} of {n_tables}" for m in short)
            + ")",
        )
    for m in models:
        lines.append(
            f"{m:<18}{norm[m].median():>7.3f}{ranks[m].mean():>7.2f}"
            f"{timing.loc[m, 'cpu']:>11.1f}{timing.loc[m, 'per_1k_rows']:>11.3f}"
            f"{timing.loc[m, 'predict']:>11.2f}"
        )
    return lines


def floor_failures(data, candidate) -> list[str]:
    """Tables where ``candidate`` is catastrophic: accuracy below the majority
    rate - 0.01, or R2 below Ridge's - 0.05 (means over seeds)."""
    scores = means(data)
    majority = data.groupby("dataset")["majority"].mean()
    tasks = data.groupby("dataset")["task"].first()
    bad = []
    for d in scores.index:
        if candidate not in scores or np.isnan(scores.loc[d, candidate]):
            continue
        value = scores.loc[d, candidate]
        if tasks[d] == "classification" and value < majority[d] - MAJORITY_MARGIN:
            bad.append(f"{d} accuracy {value:.4f} < majority {majority[d]:.4f} - 0.01")
        if tasks[d] == "regression" and "linear" in scores:
            ridge = scores.loc[d, "linear"]
            if value < ridge - RIDGE_MARGIN:
                bad.append(f"{d} R2 {value:.4f} < Ridge {ridge:.4f} - 0.05")
    return bad


def targets(data, candidate) -> list[str]:
    """The accuracy issue's targets, each PASS / FAIL / '-' (peer not run)."""
    models = set(data["model"])
    lines = []

    def check(ok, text):
        lines.append(f"  [{'PASS' if ok else 'FAIL'}] {text}")

    def share(peer, task=None, metric="score"):
        result = paired(data, candidate, peer, metric)
        if task is not None and not result.empty:
            result = result[result["task"] == task]
        return tally(result)

    # Normalized over every peer (not the ablations), on the tables all fitted.
    covered = data.groupby("model")["dataset"].nunique()
    half = data["dataset"].nunique() / 2
    peers = sorted(m for m in models if "+" not in m and covered[m] >= half)
    norm = normalized(means(complete_tables(data, peers))[peers]).median()
    for peer, need, name in (("realmlp", 0.70, "RealMLP-TD"), ("tabm", 0.60, "TabM-D")):
        if peer in models:
            t = share(peer)
            extra = ""
            if peer == "realmlp":
                extra = f"; median normalized {norm[candidate]:.3f} vs {norm[peer]:.3f}"
                ok = t["share"] >= need and norm[candidate] > norm[peer]
            else:
                ok = t["share"] >= need
            check(
                ok,
                f"wins or ties {name} on {t['share']:.0%} of {t['n']} (need {need:.0%}){extra}",
            )
    for peer, name in (("hgb", "HistGradientBoosting"), ("lightgbm", "LightGBM")):
        if peer in models:
            result = paired(data, candidate, peer)
            t = tally(result)
            low, high = median_interval(result.loc[result["verdict"] != "t?", "gap"])
            check(
                t["share"] >= 0.70 and t["median"] >= 0.005,
                f"wins or ties {name} on {t['share']:.0%} (need 70%), "
                f"median gap {t['median']:+.4f} (need +0.005; 95% bootstrap over "
                f"tables {low:+.4f} to {high:+.4f})",
            )
    if "catboost" in models:
        t = share("catboost")
        check(t["share"] >= 0.5, f"wins or ties CatBoost on {t['share']:.0%} (need 50%)")
    for peer, name in (("realmlp", "RealMLP-TD"), ("hgb", "HistGradientBoosting")):
        if peer in models:
            t = share(peer, "regression")
            check(
                t["share"] >= 0.6,
                f"regression: wins or ties {name} on {t['share']:.0%} of {t['n']} (need 60%)",
            )
    if "hgb" in models:
        t = share("hgb", "classification", "logloss")
        check(
            t["share"] >= 0.7,
            f"log-loss <= HistGradientBoosting's (win or tie) on {t['share']:.0%} of "
            f"{t['n']} classification tables (need 70%)",
        )
    if "linear" in models:
        bad = floor_failures(data, candidate)
        check(not bad, "never catastrophic" + (": " + "; ".join(bad) if bad else ""))

    def cpu_ratio(peer):
        """CPU time over the tables both fitted (mean over seeds, summed)."""
        both = complete_tables(data, [candidate, peer])
        timing = times(both)
        return timing.loc[candidate, "cpu"] / timing.loc[peer, "cpu"], both["dataset"].nunique()

    for peer in ("realmlp", "tabm"):
        if peer in models:
            ratio, n_tables = cpu_ratio(peer)
            check(
                ratio <= 1 / 3,
                f"fit CPU time {ratio:.2f}x {peer}'s over the {n_tables} tables both "
                "fitted (need <= 0.33x)",
            )
    if "catboost" in models:
        ratio, n_tables = cpu_ratio("catboost")
        lines.append(
            f"  [info] fit CPU time {ratio:.2f}x CatBoost's over the {n_tables} tables both fitted"
        )
    return lines


def ablation_table(data, candidate, variants) -> list[str]:
    """Each variant against the candidate, with its interval, and its fit time."""
    timing = data.groupby(["model", "dataset"])["cpu_time"].mean().unstack()
    lines = [
        f"== ablations: each variant against {candidate} (its defaults); accuracy / R2 "
        "and log-loss W/T/L by the paired 95% interval, median gap; CPU time ratio; "
        "+/-: the median half-width of the score intervals ==",
        f"{'variant':<30}{'score: all':>24}{'classification':>24}{'regression':>24}"
        f"{'log-loss':>24}{'time_x':>8}{'+/-':>9}",
    ]
    for v in variants:
        result = paired(data, v, candidate)
        cells = [_fmt_tally(tally(result))]
        for task in ("classification", "regression"):
            part = result[result["task"] == task] if not result.empty else result
            cells.append(_fmt_tally(tally(part)))
        cells.append(_fmt_tally(tally(paired(data, v, candidate, "logloss"))))
        both = timing.loc[[v, candidate]].dropna(axis=1)
        ratio = both.loc[v].sum() / both.loc[candidate].sum() if both.shape[1] else np.nan
        lines.append(
            f"{v:<30}"
            + "".join(f"{c:>24}" for c in cells)
            + f"{ratio:>8.2f}{resolution(result):>9.4f}"
        )
    return lines


def report(data: pd.DataFrame, candidate: str, peers, variants) -> str:
    if candidate not in set(data["model"]):  # a run of peers alone
        return "\n".join(
            ["== mean test accuracy / R2 over seeds (n: seeds) =="] + per_table(data, peers)
        )
    lines = ["== mean test accuracy / R2 over seeds (n: seeds) =="]
    lines += per_table(data, [candidate, *peers])
    classification = data[data["task"] == "classification"]
    if not classification.empty:
        lines += ["", "== mean test log-loss over seeds (classification) =="]
        lines += per_table(classification, [candidate, *peers], "logloss")
    lines += [""] + comparison_table(data, candidate, peers)
    if not classification.empty:
        lines += [""] + comparison_table(classification, candidate, peers, "logloss")
    lines += [""] + summary_table(data, [candidate, *peers])
    lines += ["", f"== targets for {candidate} =="] + targets(data, candidate)
    if variants:
        lines += [""] + ablation_table(data, candidate, variants)
    return "\n".join(lines) + "\n"
