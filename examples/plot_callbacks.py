"""
=====================================================
Watching fits: progress bars and learning curves
=====================================================

scikit-learn 1.9's callbacks (:mod:`sklearn.callback`) watch a fit as it
runs. For :class:`~sk_mlp.TorchMLPClassifier` each epoch is a task of the fit:
a :class:`~sklearn.callback.ProgressBar` set on a grid search draws nested
bars down to the epochs of every network it trains, and a
:class:`~sklearn.callback.ScoringMonitor` scores the network after every
epoch, which gives learning curves without a hand-written training loop. See
:ref:`callbacks` for the details.
"""

# %%
# The data
# --------
# The breast cancer table that ships with scikit-learn: 569 tumours, 30
# measurements each, malignant or benign. A quarter is held out to follow the
# network on rows it does not train on.
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

X, y = load_breast_cancer(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=0)

# %%
# A grid search with nested progress
# ----------------------------------
# The bar is set on the search and propagated to everything it fits: each
# candidate on each fold, the pipeline's steps, and the network, whose bar
# moves one epoch at a time. ``max_propagation_depth=None`` shows every level.
# (The bars are drawn with rich, an optional dependency: ``pip install rich``.)
import warnings

from sklearn.callback import ProgressBar
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_mlp import TorchMLPClassifier

network = TorchMLPClassifier(hidden_layer_sizes=(32,), max_iter=40, random_state=0)
search = GridSearchCV(
    make_pipeline(StandardScaler(), network),
    {"torchmlpclassifier__alpha": [1e-4, 1e-1]},
    cv=3,
)
search.set_callbacks(ProgressBar(max_propagation_depth=None))
with warnings.catch_warnings():
    # The networks use their whole budget of epochs; the warnings would repeat it.
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X_train, y_train)
print(f"best alpha: {search.best_params_['torchmlpclassifier__alpha']}")

# %%
# Learning curves from a ScoringMonitor
# -------------------------------------
# A :class:`~sklearn.callback.ScoringMonitor` scores the model on the data
# ``fit`` was given at the end of every epoch. Scorers of our own, which
# ignore the ``X`` and ``y`` they are handed, follow the held-out rows too:
# the log loss and the accuracy on both sets, epoch by epoch. The monitor
# scores a copy of the network, so the fit is the one it would be without it.
from sklearn.callback import ScoringMonitor
from sklearn.metrics import accuracy_score, log_loss


def validation_log_loss(estimator, X, y):
    return -log_loss(y_val, estimator.predict_proba(X_val))


def validation_accuracy(estimator, X, y):
    return accuracy_score(y_val, estimator.predict(X_val))


monitor = ScoringMonitor(
    scoring={
        "train_log_loss": "neg_log_loss",
        "train_accuracy": "accuracy",
        "validation_log_loss": validation_log_loss,
        "validation_accuracy": validation_accuracy,
    }
)
model = TorchMLPClassifier(hidden_layer_sizes=(128, 128), max_iter=60, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.set_callbacks(monitor).fit(X_train, y_train)

log = monitor.get_logs().data_as_pandas
epochs = log[log["task_name"] == "epoch"]
epochs[["task_id", "train_log_loss", "validation_log_loss", "validation_accuracy"]].tail()

# %%
# ``loss_curve_`` is the training loss the optimiser saw during each epoch
# (the weights changed batch by batch, and the L2 penalty is included); the
# monitor's training loss is measured after each epoch, on the final weights
# of that epoch, so it runs a little below. The held-out loss stops falling
# after about 15 epochs while the training loss keeps going down: from there
# on the network fits its training rows, not the tumours in general, and the
# held-out accuracy no longer improves.
import matplotlib.pyplot as plt

epoch = epochs["task_id"] + 1
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
ax_loss.plot(range(1, model.n_iter_ + 1), model.loss_curve_, label="loss_curve_ (during epoch)")
ax_loss.plot(epoch, -epochs["train_log_loss"], label="training (after epoch)")
ax_loss.plot(epoch, -epochs["validation_log_loss"], label="held out")
ax_loss.set(xlabel="epoch", ylabel="log loss", yscale="log", title="Loss")
ax_loss.legend()
ax_acc.plot(epoch, epochs["train_accuracy"], label="training")
ax_acc.plot(epoch, epochs["validation_accuracy"], label="held out")
ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
ax_acc.legend()
fig.tight_layout()
plt.show()
