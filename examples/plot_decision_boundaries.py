"""
=====================================================
Decision boundaries: architectures and activations
=====================================================

How the shape of the network changes what it can draw. We fit
:class:`~sk_mlp.TorchMLPClassifier` on a three-class problem in two dimensions,
three interleaved spirals, with no hidden layer, one hidden layer and two
hidden layers, each with the ReLU, tanh and sigmoid (``'logistic'``)
activations, and show the predicted class over the plane with
:class:`~sklearn.inspection.DecisionBoundaryDisplay`.
"""

# %%
# Activation functions
# --------------------
# A hidden unit computes ``activation(w . x + b)``. Without a non-linear
# activation, stacked layers collapse into one linear map. The three classic
# choices:
#
# - ReLU, ``max(0, z)``: piecewise linear, cheap, does not saturate for
#   positive inputs; the default.
# - tanh: smooth, zero-centred, saturates at -1 and 1.
# - sigmoid (logistic), ``1 / (1 + exp(-z))``: smooth, saturates at 0 and 1; its
#   gradient is at most 0.25, so deep sigmoid networks learn slowly.
import matplotlib.pyplot as plt
import numpy as np
import torch

z = torch.linspace(-4, 4, 200)
fig, ax = plt.subplots(figsize=(5, 3.2))
for name, f in [("relu", torch.relu), ("tanh", torch.tanh), ("sigmoid", torch.sigmoid)]:
    ax.plot(z, f(z), label=name)
ax.axhline(0, color="gray", lw=0.5)
ax.axvline(0, color="gray", lw=0.5)
ax.set(xlabel="z", ylabel="activation(z)", ylim=(-1.2, 2.2))
ax.legend()
ax.set_title("Activation functions")
fig.tight_layout()

# %%
# Every network starts from Glorot initialisation, variance
# ``2 / (fan_in + fan_out)``, whatever its activation; the example on
# optimizers and initialisation says why.
#
# The data
# --------
# Three spirals of 100 points each, with a little noise.
rng = np.random.RandomState(0)
n_per_class = 100
angle = np.linspace(0.3, 3.5, n_per_class)
X = np.concatenate(
    [
        np.c_[angle * np.cos(angle + k * 2 * np.pi / 3), angle * np.sin(angle + k * 2 * np.pi / 3)]
        for k in range(3)
    ]
)
X += rng.normal(scale=0.12, size=X.shape)
y = np.repeat([0, 1, 2], n_per_class)

# %%
# Nine networks
# -------------
# Every network trains with Adam for a fixed budget of 300 epochs at a
# learning rate of 0.01, on the same data, from the same seed.
# ``n_iter_no_change=np.inf`` turns the convergence test off (so we silence the
# warning that the budget ran out). ``tol=0`` would not: the default dropout
# makes the epoch loss noisy, and ten epochs without a new lowest loss would
# still stop a network on the slow start of its loss curve.
import warnings

from matplotlib.colors import ListedColormap
from sklearn.exceptions import ConvergenceWarning
from sklearn.inspection import DecisionBoundaryDisplay

from sk_mlp import TorchMLPClassifier

colors = ["tab:blue", "tab:orange", "tab:green"]

architectures = [(), (32,), (32, 32)]
activations = ["relu", "tanh", "logistic"]

warnings.filterwarnings("ignore", category=ConvergenceWarning)
fig, axes = plt.subplots(3, 3, figsize=(10, 10), sharex=True, sharey=True)
for row, activation in zip(axes, activations):
    for ax, hidden_layer_sizes in zip(row, architectures):
        model = TorchMLPClassifier(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            learning_rate_init=0.01,
            max_iter=300,
            n_iter_no_change=np.inf,
            random_state=0,
        ).fit(X, y)
        DecisionBoundaryDisplay.from_estimator(
            model, X, response_method="predict", multiclass_colors=colors, alpha=0.3, ax=ax
        )
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap=ListedColormap(colors), edgecolor="k", s=12)
        ax.set_title(
            f"{activation}, hidden={hidden_layer_sizes}\naccuracy {model.score(X, y):.2f}",
            fontsize="medium",
        )
        ax.set(xlabel="", ylabel="")
fig.tight_layout()
plt.show()

# %%
# Without a hidden layer the activation plays no part (it acts on hidden
# units only) and the model is multinomial logistic regression: straight
# boundaries, the same in every row, and a third of the points misclassified.
# One hidden layer of 32 units already follows the spirals. The activation
# shows in the shape of the regions away from the data, where nothing
# constrains them: ReLU networks cut the plane into polygons, tanh and sigmoid
# networks draw smooth curves. The sigmoid network, whose gradients are the
# smallest, is the slowest of the three to fit in the same number of epochs.
