"""
=========================================================
Prediction intervals on a real table: do they cover?
=========================================================

An interval is only useful if it holds on rows the model has not seen: a 90%
interval should contain about 90% of new targets. This example checks that on
a real table, scikit-learn's diabetes data (442 patients, disease progression
after one year), over repeated train/test splits, for

- :class:`~sk_mlp.TorchMLPRegressor` with ``loss='gaussian_nll'`` at its
  defaults, whose predicted standard deviation is calibrated on rows held out
  from the fit (``uncertainty_calibration='auto'``);
- the same network's own standard deviation, uncalibrated
  (``uncertainty_calibration=None``): a network trained on every row learns
  the training residuals, which are smaller than the residuals of new rows;
- :class:`~sklearn.ensemble.HistGradientBoostingRegressor` quantile
  regression, one model per bound.

The user guide's losses page says how the calibration works and what it
costs; ``benchmarks/calibration.py`` runs the same comparison on 13 larger
tables.
"""

# %%
# Repeated splits
# ---------------
# Five 75/25 splits; for each, every method predicts the 50%, 80%, 90% and
# 95% intervals of the test rows, and we record the share of test targets
# inside and the mean width, in units of the target's standard deviation.
import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import train_test_split

from sk_mlp import TorchMLPRegressor

X, y = load_diabetes(return_X_y=True)
levels = [0.5, 0.8, 0.9, 0.95]


def gaussian_intervals(model, X_test):
    return {c: model.predict_interval(X_test, confidence=c) for c in levels}


def hgb_intervals(X_train, y_train, X_test, seed):
    out = {}
    for c in levels:
        bounds = [
            HistGradientBoostingRegressor(loss="quantile", quantile=q, random_state=seed)
            .fit(X_train, y_train)
            .predict(X_test)
            for q in ((1 - c) / 2, (1 + c) / 2)
        ]
        out[c] = tuple(bounds)
    return out


rows = []
for seed in range(5):
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=seed)
    methods = {
        "sk_mlp, calibrated (default)": gaussian_intervals(
            TorchMLPRegressor(loss="gaussian_nll", random_state=seed).fit(X_train, y_train),
            X_test,
        ),
        "sk_mlp, network's own std": gaussian_intervals(
            TorchMLPRegressor(
                loss="gaussian_nll", uncertainty_calibration=None, random_state=seed
            ).fit(X_train, y_train),
            X_test,
        ),
        "HistGradientBoosting quantiles": hgb_intervals(X_train, y_train, X_test, seed),
    }
    for method, intervals in methods.items():
        for c, (lower, upper) in intervals.items():
            rows.append(
                {
                    "method": method,
                    "nominal": c,
                    "covered": np.mean((lower <= y_test) & (y_test <= upper)),
                    "width": np.mean(upper - lower) / y.std(),
                }
            )

results = pd.DataFrame(rows).groupby(["method", "nominal"]).mean()
results.round(3)

# %%
# Coverage against the nominal level
# ----------------------------------
# On the diagonal, an interval covers what it promises. The calibrated
# intervals sit on it; the network's own standard deviation is too small, so
# its intervals cover far less than promised; the quantile models, each
# fitted on the training rows, also cover less than they promise on this
# small table.
import matplotlib.pyplot as plt

fig, (ax_cov, ax_width) = plt.subplots(1, 2, figsize=(10, 4))
for method, part in results.groupby(level="method"):
    nominal = part.index.get_level_values("nominal")
    ax_cov.plot(nominal, part["covered"], marker="o", label=method)
    ax_width.plot(nominal, part["width"], marker="o", label=method)
ax_cov.plot([0.45, 1], [0.45, 1], color="grey", linestyle="--", label="promised")
ax_cov.set(xlabel="nominal level", ylabel="share of test rows covered")
ax_width.set(xlabel="nominal level", ylabel="mean width / std(y)")
ax_cov.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# Narrow intervals are worth nothing if they do not cover: compare widths
# only between methods that hold their level. The calibration costs a few
# extra fits on folds of the training rows, and leaves the mean (and so
# ``score``) unchanged: the final network is trained on every row.
