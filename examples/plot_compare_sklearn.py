"""
=========================================
Side by side with scikit-learn's MLP
=========================================

:class:`~sk_mlp.TorchMLPClassifier` takes the parameters of
:class:`~sklearn.neural_network.MLPClassifier`, so the two can be compared with
the same settings on the same data. We fit both with their defaults (one
hidden layer of 100 ReLU units, Adam, 200 epochs at most) on three data sets
bundled with scikit-learn, and report test accuracy and fit time.

The inputs are given raw, without a scaler: sk_mlp scales them internally by
default (``preprocessing='robust'``), scikit-learn's MLP does not, which is
why the scikit-learn pipeline with a
:class:`~sklearn.preprocessing.StandardScaler` is shown too.

Timings come from the machine that built this page, where the documentation
build limits torch and NumPy to one CPU thread each, with small data: they show
the order of magnitude, not a benchmark (see :doc:`/benchmarks` for that).
"""

# %%
import time
import warnings

import pandas as pd
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_mlp import TorchMLPClassifier

models = {
    "MLPClassifier": lambda: MLPClassifier(random_state=0),
    "StandardScaler + MLPClassifier": lambda: make_pipeline(
        StandardScaler(), MLPClassifier(random_state=0)
    ),
    "TorchMLPClassifier": lambda: TorchMLPClassifier(random_state=0),
}
datasets = {"breast cancer": load_breast_cancer, "wine": load_wine, "digits": load_digits}

# The first torch fit in a process pays a one-off start-up cost (kernels,
# thread pools); one throw-away fit keeps it out of the timings.
TorchMLPClassifier(max_iter=2).fit(*load_wine(return_X_y=True))

rows = []
for data_name, load in datasets.items():
    X, y = load(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
    for model_name, make_model in models.items():
        model = make_model()
        start = time.perf_counter()
        with warnings.catch_warnings():
            # Both estimators warn when they use all 200 epochs.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        fit_time = time.perf_counter() - start
        rows.append(
            {
                "data": data_name,
                "model": model_name,
                "test accuracy": model.score(X_test, y_test),
                "fit time (s)": fit_time,
            }
        )
results = pd.DataFrame(rows)
results.pivot(index="data", columns="model", values="test accuracy").round(3)

# %%
results.pivot(index="data", columns="model", values="fit time (s)").round(2)

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for ax, column in zip(axes, ["test accuracy", "fit time (s)"]):
    results.pivot(index="data", columns="model", values=column).plot.bar(ax=ax, rot=0)
    ax.set(title=column, xlabel="")
axes[0].set_ylim(0, 1.05)
axes[0].legend(loc="lower right", fontsize="small")
axes[1].legend(fontsize="small")
fig.tight_layout()
plt.show()

# %%
# On raw inputs scikit-learn's MLP suffers from the features' different
# scales (breast cancer and wine mix measurements in the hundreds with ones
# below one); with a scaler the two reach similar accuracies. sk_mlp needs no
# scaler. On data this small and one CPU thread, sk_mlp is not the faster of
# the two: torch's fixed cost per mini-batch outweighs the arithmetic. Its speed
# shows on larger data and on GPUs, see :doc:`/benchmarks`; for
# accuracy across more data sets, :doc:`/accuracy`.
