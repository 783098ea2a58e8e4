"""
==================================
Why a hidden layer solves XOR
==================================

The XOR problem is the classic case a linear model cannot solve: the label is
1 when exactly one of two inputs is positive. No single straight line separates
the two classes. One hidden layer of a few units can, because each hidden unit
draws its own line and the output layer combines them.

We fit :class:`~sk_mlp.TorchMLPClassifier` twice: once with no hidden layer
(``hidden_layer_sizes=()``, which is logistic regression) and once with one
hidden layer of four ``tanh`` units, and draw the predicted class over the
input plane with :class:`~sklearn.inspection.DecisionBoundaryDisplay`.
"""

# %%
# The data
# --------
# Points scattered around the four corners of a square; the class is the XOR
# of the signs of the two coordinates.
import numpy as np

rng = np.random.RandomState(0)
X = rng.uniform(-1, 1, size=(200, 2))
y = np.logical_xor(X[:, 0] > 0, X[:, 1] > 0).astype(int)

# %%
# A linear model and a network with one hidden layer
# --------------------------------------------------
# Without a hidden layer the network computes ``sigmoid(w . x + b)``: its
# decision boundary is one straight line, and the best it can do on XOR is
# about chance. With four hidden units it fits the data. Both use L-BFGS, the
# full-batch solver that suits tiny data sets; the small L2 penalty
# (``alpha=0.01``) stops it from sharpening the boundary of the separable data
# forever.
from sk_mlp import TorchMLPClassifier

linear = TorchMLPClassifier(
    hidden_layer_sizes=(), solver="lbfgs", max_iter=1000, preprocessing=None, random_state=0
).fit(X, y)
hidden = TorchMLPClassifier(
    hidden_layer_sizes=(4,),
    activation="tanh",
    solver="lbfgs",
    alpha=0.01,
    max_iter=1000,
    preprocessing=None,
    random_state=0,
).fit(X, y)
print(f"no hidden layer:        training accuracy {linear.score(X, y):.2f}")
print(f"one hidden layer of 4:  training accuracy {hidden.score(X, y):.2f}")

# %%
# Decision regions
# ----------------
# :class:`~sklearn.inspection.DecisionBoundaryDisplay` evaluates the model
# over a grid covering the data and colours each point by its predicted class.
import matplotlib.pyplot as plt
from sklearn.inspection import DecisionBoundaryDisplay

fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True)
for ax, model, title in [
    (axes[0], linear, "no hidden layer (linear)"),
    (axes[1], hidden, "one hidden layer, 4 tanh units"),
]:
    DecisionBoundaryDisplay.from_estimator(
        model, X, response_method="predict", cmap="RdBu", alpha=0.4, ax=ax
    )
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu", edgecolor="k", s=20)
    ax.set_title(f"{title}\naccuracy {model.score(X, y):.2f}")
    ax.set_xlabel("$x_1$")
axes[0].set_ylabel("$x_2$")
fig.tight_layout()

# %%
# What the hidden units do
# ------------------------
# Each hidden unit computes ``tanh(w . x + b)``: it is positive on one side of
# the line ``w . x + b = 0`` and negative on the other. The lines below come
# from the fitted first-layer weights, ``coefs_[0]`` and ``intercepts_[0]``
# (``preprocessing=None`` above, so they live in the input coordinates). The
# output unit adds the hidden units up with its own weights: a few lines,
# combined, carve out the two diagonal quadrants that one line cannot. (A
# line may fall outside the square: that unit is then almost constant over the
# data and contributes little.)
W, b = hidden.coefs_[0], hidden.intercepts_[0]
fig, ax = plt.subplots(figsize=(4.6, 4.2))
ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu", edgecolor="k", s=20)
x1 = np.linspace(-1, 1, 2)
for j in range(W.shape[1]):
    # w1 * x1 + w2 * x2 + b = 0  =>  x2 = -(w1 * x1 + b) / w2
    ax.plot(x1, -(W[0, j] * x1 + b[j]) / W[1, j], label=f"hidden unit {j + 1}")
ax.set(xlim=(-1, 1), ylim=(-1, 1), xlabel="$x_1$", ylabel="$x_2$")
ax.set_title("lines drawn by the hidden units")
ax.legend(loc="lower left", fontsize="small")
plt.show()
