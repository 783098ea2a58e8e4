"""
===============================================================
A search on a dask cluster, a fit out of core, lazy predictions
===============================================================

scikit-learn's searches run their fits through joblib, and joblib can hand them
to a `dask <https://docs.dask.org>`_ cluster: the same
:class:`~sklearn.model_selection.GridSearchCV` over
:class:`~sk_mlp.TorchMLPClassifier` then runs on as many machines as the
cluster has. Here the cluster is a small local one, so that the page builds
anywhere; the code is the same for a real one. The chosen model then trains on
a dask array built lazily, streaming its blocks, and predicts on another one,
block by block, without ever holding either whole. See :ref:`scaling` for which
engine suits which need.
"""

# %%
# Data: a rule to learn, and a sample of it
# -----------------------------------------
# The label is a non-linear function of the first four of ten Gaussian features.
# We search on 2,000 rows in memory, and later predict on 400,000 rows that dask
# generates lazily from the same rule.
import numpy as np


def label(X):
    """The rule: works on NumPy and dask arrays alike."""
    return (X[:, 0] * X[:, 1] + np.sin(2 * X[:, 2]) - 0.5 * X[:, 3] > 0).astype(int)


rng = np.random.default_rng(0)
X = rng.standard_normal((2000, 10))
y = label(X)

# %%
# A local cluster
# ---------------
# Two workers with one thread each, here inside this process
# (``processes=False``) so that the example also runs as a plain script. With
# ``processes=True`` (the default) each worker is its own process, which a
# script must start under ``if __name__ == "__main__":``; on a real cluster,
# ``Client("tcp://scheduler:8786")`` connects to it instead. Nothing else below
# changes.
import logging

from distributed import Client, LocalCluster

cluster = LocalCluster(
    n_workers=2,
    threads_per_worker=1,
    processes=False,
    dashboard_address=":0",  # any free port
    silence_logs=logging.ERROR,
)
client = Client(cluster)
print(client)

# %%
# The search
# ----------
# ``joblib.parallel_config(backend="dask")`` sends the search's fits to the
# cluster. joblib scatters ``X`` and ``y`` to the workers once and hands each
# task a reference to them, rather than sending the data with every fit.
import warnings

import joblib
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sk_mlp import TorchMLPClassifier

search = GridSearchCV(
    TorchMLPClassifier(max_iter=60, learning_rate_init=0.01, random_state=0),
    {"hidden_layer_sizes": [(16,), (64,)], "alpha": [1e-4, 1e-2]},
    cv=3,
)
with joblib.parallel_config(backend="dask"), warnings.catch_warnings():
    # Some candidates use the whole budget of epochs; the warnings would repeat it.
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X, y)

results = pd.DataFrame(search.cv_results_)
results[["param_hidden_layer_sizes", "param_alpha", "mean_test_score", "std_test_score"]].round(3)

# %%
# The cross-validated scores are those of the same search with ``n_jobs=1``:
# each fit is seeded by ``random_state``, wherever it runs.
print("best parameters:", search.best_params_)

# %%
# Training on a dask array
# ------------------------
# The search chose its parameters on 2,000 rows. The chosen model now trains
# on 100,000 rows that dask generates lazily, in 10 blocks. ``fit`` on a dask
# array streams the blocks and never holds the whole array: a first pass over
# the blocks gathers what the fit needs from all the data (the classes, the
# input statistics, the validation rows for early stopping), then each epoch
# visits the blocks in a new random order, a few at a time, and shuffles the
# rows of those blocks together. The blocks are computed on the cluster's
# workers; the model trains in this process.
import dask.array as da
from sklearn.base import clone

X_train = da.random.default_rng(2).standard_normal((100_000, 10), chunks=(10_000, 10))
y_train = label(X_train)

model = clone(search.best_estimator_).set_params(
    batch_size=1000, max_iter=8, early_stopping=True, n_iter_no_change=2
)
with warnings.catch_warnings():  # a budget of 8 epochs, whether or not they converge
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X_train, y_train)
print(f"{model.n_iter_} epochs over {X_train.shape[0]:,} rows in {X_train.numblocks[0]} blocks")

# %%
# Predictions on a dask array
# ---------------------------
# 400,000 new rows in blocks of 50,000, generated lazily: nothing exists in
# memory until it is computed. ``predict`` on a dask array returns a dask
# array at once, without computing anything; each of its blocks is the
# prediction of the matching block of ``X_large``.
X_large = da.random.default_rng(1).standard_normal((400_000, 10), chunks=(50_000, 10))
y_large = label(X_large)

y_pred = model.predict(X_large)
proba = model.predict_proba(X_large)
print(type(y_pred).__name__, y_pred.shape, "in", y_pred.numblocks[0], "blocks")
print(type(proba).__name__, proba.shape)

# %%
# Computing a summary runs the whole pipeline block by block on the workers:
# each task generates a block, predicts it and keeps only the counts, so no
# worker ever holds more than a block or two.
accuracy = (y_pred == y_large).mean()
mean_confidence = proba.max(axis=1).mean()
small_data_accuracy = (search.best_estimator_.predict(X_large) == y_large).mean()
print(f"accuracy on 400,000 new rows: {accuracy.compute():.3f}")
print(f"(the search's model, trained on 2,000 rows: {small_data_accuracy.compute():.3f})")
print(f"mean probability of the predicted class: {mean_confidence.compute():.3f}")

# %%
# The confusion matrix of a sample of those rows (the first block), as a
# scikit-learn display:
import matplotlib.pyplot as plt
from sklearn.metrics import ConfusionMatrixDisplay

first_true, first_pred = da.compute(y_large[:50_000], y_pred[:50_000])
ConfusionMatrixDisplay.from_predictions(first_true, first_pred)
plt.title("First block of the dask array: 50,000 rows")
plt.show()

# %%
# Close the cluster when done.
client.close()
cluster.close()
