"""
=================================================
Grid search over architecture and regularisation
=================================================

:class:`~sk_mlp.TorchMLPClassifier` is a scikit-learn estimator, so
:class:`~sklearn.model_selection.GridSearchCV` tunes it like any other, with the
parameter names of scikit-learn's MLP: a grid written for
:class:`~sklearn.neural_network.MLPClassifier` works unchanged. Here we search
the width and depth of the network (``hidden_layer_sizes``) and the strength
of the L2 penalty (``alpha``) on a small, noisy problem, and show the
cross-validated accuracy as a heat map.
"""

# %%
# The data
# --------
# Two interleaving half-moons with much noise: 300 points to train on, 100
# held out for a final check.
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

X, y = make_moons(n_samples=400, noise=0.35, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

# %%
# The search
# ----------
# Sixteen candidates times three folds is 48 fits, each of at most 200 epochs
# of Adam at a learning rate of 0.01. Some candidates use the whole budget; we
# silence the warning that says so for each of them.
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sk_mlp import TorchMLPClassifier

param_grid = {
    "hidden_layer_sizes": [(4,), (16,), (64,), (64, 64)],
    "alpha": [1e-4, 1e-2, 1e-1, 1.0],
}
search = GridSearchCV(
    TorchMLPClassifier(learning_rate_init=0.01, max_iter=200, random_state=0),
    param_grid,
    cv=3,
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(f"cross-validated accuracy: {search.best_score_:.3f}")
print(f"test accuracy of the refitted best model: {search.score(X_test, y_test):.3f}")

# %%
# The results as a table
# ----------------------
# ``cv_results_`` holds one row per candidate; pandas pivots it into a table
# of mean cross-validated accuracy.
import pandas as pd

results = pd.DataFrame(search.cv_results_)
results["hidden_layer_sizes"] = results["param_hidden_layer_sizes"].astype(str)
table = results.pivot(
    index="hidden_layer_sizes", columns="param_alpha", values="mean_test_score"
).loc[[str(h) for h in param_grid["hidden_layer_sizes"]]]
table.round(3)

# %%
# ... and as a heat map
# ---------------------
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4))
image = ax.imshow(table.to_numpy(), cmap="viridis")
ax.set_xticks(range(table.shape[1]), [f"{a:g}" for a in table.columns])
ax.set_yticks(range(table.shape[0]), table.index)
ax.set(xlabel="alpha (L2 penalty)", ylabel="hidden_layer_sizes")
for (i, j), value in pd.DataFrame(table.to_numpy()).stack().items():
    ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="w")
fig.colorbar(image, ax=ax, label="mean CV accuracy")
ax.set_title("GridSearchCV, TorchMLPClassifier")
fig.tight_layout()
plt.show()

# %%
# Width matters more than the penalty here: four hidden units underfit the
# moons whatever ``alpha`` is, and a single layer of 64 units does best.
# Differences of a point or two between values of ``alpha`` are within the
# noise of three-fold cross-validation on 300 samples (``std_test_score`` in
# ``cv_results_`` says how large that noise is). With ``n_jobs``, the fits run
# in parallel processes; the estimators pickle, torch modules included, so that
# works as with any scikit-learn estimator.
