"""
======================================================
Training and validation curves, and early stopping
======================================================

A network that trains long enough on a small, noisy data set learns the noise:
the training loss keeps falling while the loss on held-out data turns back up.
This example draws both curves, with the accuracy per epoch, using
``partial_fit`` to train :class:`~sk_mlp.TorchMLPClassifier` one epoch at a
time, then shows how ``early_stopping=True`` finds the turning point by itself
and keeps the weights of the best epoch.
"""

# %%
# The data
# --------
# 600 samples, 20 features of which 5 are informative, and 10% of the labels
# flipped at random: noise for a large network to memorise.
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

X, y = make_classification(
    n_samples=600, n_features=20, n_informative=5, flip_y=0.1, random_state=0
)
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.3, random_state=0)

# %%
# One epoch at a time with ``partial_fit``
# ----------------------------------------
# Each call to ``partial_fit`` runs one epoch over the data it is given (the
# first call needs the list of classes). After each epoch we measure the
# cross-entropy and the accuracy on both sets. ``loss_`` is the training loss
# the optimiser saw during the epoch; we recompute it after the epoch instead,
# with :func:`~sklearn.metrics.log_loss`, to compare like with like.
import numpy as np
from sklearn.metrics import accuracy_score, log_loss

from sk_mlp import TorchMLPClassifier

model = TorchMLPClassifier(hidden_layer_sizes=(256, 256), random_state=0)
history = {"train loss": [], "validation loss": [], "train acc": [], "validation acc": []}
for _ in range(100):
    model.partial_fit(X_train, y_train, classes=np.unique(y))
    for split, (X_, y_) in {"train": (X_train, y_train), "validation": (X_val, y_val)}.items():
        proba = model.predict_proba(X_)[:, 1]  # probability of class 1
        history[f"{split} loss"].append(log_loss(y_, proba))
        history[f"{split} acc"].append(accuracy_score(y_, proba > 0.5))

best_epoch = int(np.argmin(history["validation loss"])) + 1
print(f"lowest validation loss after epoch {best_epoch}")

# %%
import matplotlib.pyplot as plt

epochs = np.arange(1, 101)
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
ax_loss.plot(epochs, history["train loss"], label="training")
ax_loss.plot(epochs, history["validation loss"], label="validation")
ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
ax_acc.plot(epochs, history["train acc"], label="training")
ax_acc.plot(epochs, history["validation acc"], label="validation")
ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
for ax in (ax_loss, ax_acc):
    ax.axvline(best_epoch, color="gray", ls=":", label=f"lowest validation loss ({best_epoch})")
    ax.legend()
fig.tight_layout()

# %%
# The two curves part ways after a few epochs: the training loss keeps falling
# and the training accuracy climbs as the network memorises flipped labels
# (the default dropout slows that down, it does not stop it), while the
# validation loss climbs. The validation accuracy moves much less
# than the validation loss: a model can grow more and more confidently wrong
# on the same few points before any prediction flips. That is why sk_mlp's
# classifier stops on the validation loss, not on the accuracy.
#
# Early stopping
# --------------
# ``early_stopping=True`` does this bookkeeping inside ``fit``: it holds out
# ``validation_fraction`` of the training data (stratified), scores the model
# after every epoch, stops when the score has not improved by ``tol`` for
# ``n_iter_no_change`` epochs, and restores the weights of the best epoch. The
# per-epoch history is in ``loss_curve_`` and ``validation_scores_`` (for the
# classifier, minus the validation cross-entropy, so higher is better), the
# best score in ``best_validation_score_``.
stopped = TorchMLPClassifier(
    hidden_layer_sizes=(256, 256),
    early_stopping=True,
    validation_fraction=0.2,
    n_iter_no_change=10,
    max_iter=100,
    random_state=0,
).fit(X_train, y_train)
best = int(np.argmax(stopped.validation_scores_)) + 1
print(f"stopped after {stopped.n_iter_} epochs; weights restored from epoch {best}")
print(f"held-out accuracy: {stopped.score(X_val, y_val):.3f}")

# %%
epochs = np.arange(1, stopped.n_iter_ + 1)
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.plot(epochs, stopped.loss_curve_, label="training loss (loss_curve_)")
ax.plot(
    epochs,
    -np.asarray(stopped.validation_scores_),
    label="validation loss (-validation_scores_)",
)
ax.axvline(best, color="green", ls=":", label=f"best epoch, weights restored ({best})")
ax.axvline(stopped.n_iter_, color="red", ls="--", label=f"stopped ({stopped.n_iter_})")
ax.set(xlabel="epoch", ylabel="cross-entropy", title="early_stopping=True")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# Training stops once ``n_iter_no_change`` epochs in a row fail to improve on
# the best one, and the model
# returned is the one from the best epoch, not the last. scikit-learn's
# :class:`~sklearn.neural_network.MLPClassifier` makes the same choice.
