"""
=====================================================
Raw data frames: categories and missing values
=====================================================

:class:`~sk_mlp.TorchMLPClassifier` fits a pandas DataFrame as it comes:
numeric, ``category``, string and ``bool`` columns, with missing values
anywhere. It finds the categorical columns from their dtypes
(``categorical_features='from_dtype'``, as in
:class:`~sklearn.ensemble.HistGradientBoostingClassifier`), one-hot encodes
them inside the network, and replaces missing numbers by the median with an
indicator input, so that "missing" can carry signal.

We compare it, on the same frame, with gradient boosting's native categories
and with the usual hand-written preprocessing: a
:class:`~sklearn.compose.ColumnTransformer` (a
:class:`~sklearn.preprocessing.OneHotEncoder` for the categories, a
:class:`~sklearn.impute.SimpleImputer` and a
:class:`~sklearn.preprocessing.StandardScaler` for the numbers) in front of
scikit-learn's :class:`~sklearn.neural_network.MLPClassifier` or of
:class:`~sk_mlp.TorchMLPClassifier`. Then we look at what the fitted model does
with a category it never saw, and with a gap, at prediction time.

See :ref:`tabular-data` for the rules in full.
"""

# %%
# A loan table with gaps
# ----------------------
# No data set with categorical columns and missing values ships offline with
# scikit-learn (its ``fetch_*`` functions download), so we make one up: 1,500
# loan applicants, whether they defaulted, and the kinds of columns a real
# table has. The default risk depends on the debt ratio (steeply, around 0.5),
# on age (lowest in mid-life), income, late payments, occupation, region,
# housing and a guarantor. Income is missing more often for risky applicants,
# so that its absence is itself a signal, as it often is in real data.
import numpy as np
import pandas as pd

rng = np.random.RandomState(0)
n = 1500
occupations = "artist chef clerk driver engineer farmer lawyer nurse retired sales student teacher"
occupations = occupations.split()
occupation_risk = dict(zip(occupations, rng.normal(scale=0.5, size=len(occupations))))
regions = [f"region {i:02d}" for i in range(30)]
region_risk = dict(zip(regions, rng.normal(scale=0.5, size=len(regions))))

frame = pd.DataFrame(
    {
        "age": rng.randint(18, 76, size=n),
        "income": rng.lognormal(mean=10.5, sigma=0.6, size=n),
        "debt_ratio": rng.gamma(2.0, 0.2, size=n),
        "late_payments": pd.array(rng.poisson(0.8, size=n), dtype="Int64"),
        "housing": pd.Categorical(rng.choice(["rent", "own", "mortgage"], size=n)),
        "occupation": rng.choice(occupations, size=n),
        "region": rng.choice(regions, size=n),
        "has_guarantor": rng.uniform(size=n) < 0.3,
    }
)
logit = (
    2.5 * np.tanh(4 * (frame["debt_ratio"] - 0.5))
    + 0.0015 * (frame["age"] - 45) ** 2
    - 0.9 * (np.log(frame["income"]) - 10.5)
    + 0.6 * frame["late_payments"].to_numpy(dtype=float)
    + frame["occupation"].map(occupation_risk)
    + frame["region"].map(region_risk)
    + frame["housing"].map({"rent": 0.4, "own": -0.5, "mortgage": 0.0}).astype(float)
    - 0.8 * frame["has_guarantor"]
    - 1.0
)
y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)

# The gaps: NaN in a float column, pd.NA in a nullable integer one, missing
# entries in a category column and None in a string column.
frame.loc[rng.uniform(size=n) < np.where(logit > 0.5, 0.25, 0.08), "income"] = np.nan
frame.loc[rng.uniform(size=n) < 0.1, "late_payments"] = pd.NA
frame.loc[rng.uniform(size=n) < 0.05, "housing"] = np.nan
frame.loc[rng.uniform(size=n) < 0.03, "occupation"] = None
frame.head()

# %%
pd.DataFrame({"dtype": frame.dtypes.astype(str), "missing": frame.isna().mean().round(3)})

# %%
# Fitted as it is
# ---------------
# No encoder, no imputer: the frame goes straight into ``fit``.
import warnings

from sklearn.exceptions import ConvergenceWarning

from sk_mlp import TorchMLPClassifier

model = TorchMLPClassifier(random_state=0)
with warnings.catch_warnings():
    # At their defaults both MLPs of this example may use all 200 epochs.
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(frame, y)

# %%
# ``is_categorical_`` says which columns the model treats as categories: the
# ``category`` and string columns. Numbers and booleans are numeric features.
pd.Series(model.is_categorical_, index=model.feature_names_in_, name="is_categorical_")

# %%
# Inside the network, each categorical feature becomes a one-hot block (up to
# 1,000 categories; more get a learned embedding), with one more slot for
# "missing" where the training data had gaps. Each numeric feature is one
# input, plus a missing-value indicator where the training data had gaps. The
# count matches the first weight matrix, ``coefs_[0]``:
categorical = model.is_categorical_
has_gaps = frame.isna().any().to_numpy()
inputs = np.where(categorical, frame.nunique().to_numpy(), 1) + has_gaps
kind = np.where(categorical, "one-hot", "number")
extra = np.where(categorical, " + missing slot", " + missing indicator")
pd.DataFrame({"inputs": inputs, "as": np.where(has_gaps, kind + extra, kind)}, index=frame.columns)

# %%
print(f"{inputs.sum()} inputs; coefs_[0] has shape {model.coefs_[0].shape}")

# %%
# Side by side
# ------------
# Four models, cross-validated on the same three folds:
#
# - sk_mlp on the raw frame;
# - :class:`~sklearn.ensemble.HistGradientBoostingClassifier` with
#   ``categorical_features='from_dtype'``. It reads categories from the
#   ``category`` dtype only and refuses string columns, so its frame has them
#   cast;
# - the same :class:`~sklearn.compose.ColumnTransformer` in front of
#   scikit-learn's MLP and in front of sk_mlp.
#
# Every estimator runs at its defaults, with ``random_state`` fixed.
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def column_transformer():
    # pandas counts neither bool nor category columns as numbers: both are
    # one-hot encoded here, as the strings are.
    return make_column_transformer(
        (
            make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
            make_column_selector(dtype_include="number"),
        ),
        (
            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
            make_column_selector(dtype_exclude="number"),
        ),
    )


strings = frame.select_dtypes(include="str").columns
candidates = {
    "sk_mlp, raw frame": (TorchMLPClassifier(random_state=0), frame),
    "HistGradientBoosting": (
        HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0),
        frame.astype(dict.fromkeys(strings, "category")),
    ),
    "ColumnTransformer + MLPClassifier": (
        make_pipeline(column_transformer(), MLPClassifier(random_state=0)),
        frame,
    ),
    "ColumnTransformer + sk_mlp": (
        make_pipeline(column_transformer(), TorchMLPClassifier(random_state=0)),
        frame,
    ),
}
cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
rows = {}
for name, (estimator, X) in candidates.items():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = cross_validate(estimator, X, y, cv=cv, scoring=["accuracy", "roc_auc"])
    rows[name] = {
        "accuracy": result["test_accuracy"].mean(),
        "accuracy std": result["test_accuracy"].std(),
        "ROC AUC": result["test_roc_auc"].mean(),
        "fit time (s)": result["fit_time"].mean(),
    }
scores = pd.DataFrame(rows).T
scores.round(3)

# %%
import matplotlib.pyplot as plt

fig, (ax_score, ax_time) = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
labels = scores.index[::-1]  # first model on top
ax_score.errorbar(
    scores.loc[labels, "accuracy"], labels, xerr=scores.loc[labels, "accuracy std"], fmt="o"
)
ax_score.axvline(max(y.mean(), 1 - y.mean()), color="grey", linestyle="--", label="majority class")
ax_score.set(xlabel="accuracy (mean ± std over 3 folds)")
ax_score.legend(loc="lower right")
ax_time.barh(labels, scores.loc[labels, "fit time (s)"], color="tab:orange")
ax_time.set(xlabel="fit time per fold (s)")
fig.tight_layout()
plt.show()

# %%
# Read the scores with the fold-to-fold spread in mind (the error bars):
# differences smaller than that are noise. The raw frame needs no
# preprocessing code and no decision about which column gets which
# transformer, and it gives the network missing-value indicators, which the
# pipeline's imputer does not add (``SimpleImputer(add_indicator=True)``
# would). Gradient boosting suits this table's threshold-like risk and fits
# fastest.
#
# Timings come from the machine that built this page, where the documentation
# build limits torch and NumPy to one CPU thread each: an order of magnitude,
# not a benchmark (:doc:`/tabular` has one, on real tables).

# %%
# At prediction time
# ------------------
# Categories and gaps that fit never saw do not raise: an unknown category
# counts as a missing one (as in gradient boosting), and a missing number is
# replaced by the median learned in fit, with its indicator set. Here one
# applicant is changed in one column at a time; the last two rows differ only
# in the indicator, so they show what the network learned from "income
# missing" alone.
applicant = frame.iloc[[1]]
variants = {
    "as recorded": {},
    "occupation: 'astronaut' (unseen)": {"occupation": "astronaut"},
    "occupation: missing": {"occupation": None},
    "region: 'region 99' (unseen)": {"region": "region 99"},
    "income: the median of fit": {"income": frame["income"].median()},
    "income: missing": {"income": np.nan},
}
changed = pd.concat([applicant.assign(**change) for change in variants.values()])
changed.index = list(variants)
changed.assign(**{"P(default)": model.predict_proba(changed)[:, 1].round(3)})

# %%
# The unseen occupation gets exactly the probability of a missing one. The
# training data had no missing region, so an unseen region adds nothing to
# the network's input: all its one-hot inputs are 0.
#
# What does raise is a column that changed: a different name, order or kind of
# dtype than in fit, with scikit-learn's messages.
try:
    model.predict(changed.rename(columns={"income": "salary"}))
except ValueError as error:
    print(error)

# %%
try:
    model.predict(changed.assign(debt_ratio="high"))
except ValueError as error:
    print(error)
