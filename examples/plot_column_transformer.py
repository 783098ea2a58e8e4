"""
=====================================================
Mixed-type data: a ColumnTransformer pipeline
=====================================================

Real tables mix numbers and categories, and have gaps. A
:class:`~sklearn.compose.ColumnTransformer` prepares each kind of column, and
:class:`~sk_mlp.TorchMLPClassifier` takes the result, dense or sparse, in one
:class:`~sklearn.pipeline.Pipeline`. With ``set_output(transform="pandas")``
the network even knows the names of the columns it was fitted on.
"""

# %%
# A mixed-type frame
# ------------------
# A made-up customer table: two numeric columns (one with a heavy right tail
# and missing values), two categorical ones, and whether the customer left.
import numpy as np
import pandas as pd

rng = np.random.RandomState(0)
n = 1000
frame = pd.DataFrame(
    {
        "age": rng.randint(18, 80, size=n).astype(float),
        "monthly_spend": rng.lognormal(mean=3.5, sigma=0.8, size=n),
        "plan": rng.choice(["basic", "plus", "premium"], size=n, p=[0.5, 0.3, 0.2]),
        "region": rng.choice(["north", "south", "east", "west"], size=n),
    }
)
logit = (
    0.04 * (45 - frame["age"])
    + 0.8 * (frame["plan"] == "basic")
    - 0.6 * (frame["region"] == "south")
    + 0.01 * frame["monthly_spend"]
    - 1.0
)
y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
frame.loc[rng.uniform(size=n) < 0.05, "monthly_spend"] = np.nan
frame.head()

# %%
# The pipeline
# ------------
# Numbers: fill the gaps with the median (the network scales them itself, see
# ``preprocessing``). Categories: one-hot encode, ignoring categories unseen at
# fit time.
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from sk_mlp import TorchMLPClassifier

preprocess = make_column_transformer(
    (SimpleImputer(strategy="median"), make_column_selector(dtype_include="number")),
    (
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        make_column_selector(dtype_exclude="number"),
    ),
)
model = make_pipeline(
    preprocess,
    TorchMLPClassifier(
        hidden_layer_sizes=(32,),
        learning_rate_init=0.01,
        early_stopping=True,
        random_state=0,
    ),
).set_output(transform="pandas")

X_train, X_test, y_train, y_test = train_test_split(frame, y, stratify=y, random_state=0)
model.fit(X_train, y_train)
print(f"test accuracy: {model.score(X_test, y_test):.3f}")
model

# %%
# What the network saw
# --------------------
# The pipeline passed a pandas frame to the network, so the fitted network
# records the names of its input columns in ``feature_names_in_``, as
# scikit-learn estimators do.
model[-1].feature_names_in_

# %%
# Its first weight matrix, ``coefs_[0]``, has one row per input column. The
# mean absolute weight per input is a rough look at what the network uses
# (inputs are on comparable scales after the internal robust scaling).
import matplotlib.pyplot as plt

mlp = model[-1]
weight = pd.Series(np.abs(mlp.coefs_[0]).mean(axis=1), index=mlp.feature_names_in_)
fig, ax = plt.subplots(figsize=(6, 3.5))
weight.sort_values().plot.barh(ax=ax)
ax.set(xlabel="mean |first-layer weight|", title="Inputs of the network")
fig.tight_layout()
plt.show()

# %%
# Sparse one-hot columns work too: drop ``sparse_output=False`` (and the pandas
# output, which needs dense data) and the network receives a SciPy sparse
# matrix, which it densifies one mini-batch at a time.
