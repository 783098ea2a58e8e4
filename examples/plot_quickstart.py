"""
==========
Quickstart
==========

:class:`~sk_mlp.TorchMLPClassifier` and :class:`~sk_mlp.TorchMLPRegressor` are
scikit-learn estimators: they ``fit``, ``predict`` and ``score``, and they sit in
a :class:`~sklearn.pipeline.Pipeline` like any other step. This example fits one
of each on data sets bundled with scikit-learn.
"""

# %%
# Classification
# --------------
# The breast cancer data set: 569 tumours, 30 measurements each, on very
# different scales. We hold out a test set and put a scaler and the classifier
# in one pipeline, exactly as with :class:`~sklearn.neural_network.MLPClassifier`.
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_mlp import TorchMLPClassifier

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

classifier = make_pipeline(
    StandardScaler(),
    TorchMLPClassifier(
        hidden_layer_sizes=(32,),
        learning_rate_init=0.01,
        early_stopping=True,
        random_state=0,
    ),
)
classifier.fit(X_train, y_train)
print(f"test accuracy: {classifier.score(X_test, y_test):.3f}")

# %%
# With ``early_stopping=True`` a tenth of the training data is held out;
# training stops once the validation score stalls, and the weights of the best
# epoch are restored. The fitted network is the last step of the pipeline. It
# has the fitted attributes of scikit-learn's MLP (``n_iter_``,
# ``loss_curve_``, ``coefs_``, ...) and a few of its own, such as the device it
# trained on.
mlp = classifier[-1]
print(f"epochs run: {mlp.n_iter_}, device: {mlp.device_}")
print("weight matrix shapes:", [w.shape for w in mlp.coefs_])

# %%
# Predicted probabilities come from ``predict_proba``, one column per class in
# the order of ``classes_``.
classifier.predict_proba(X_test[:3]).round(3)

# %%
# .. note::
#    The scaler is there to show a pipeline, not because sk_mlp needs it: by
#    default (``preprocessing="robust"``) the estimator centres and scales
#    each feature itself, with outliers clipped. Pass ``preprocessing=None``
#    to feed the inputs untouched, as scikit-learn's MLP does.
#
# Regression
# ----------
# The diabetes data set: predict disease progression from ten measurements.
# The regressor standardises the target internally and predicts in the units
# of ``y``.
import matplotlib.pyplot as plt
from sklearn.datasets import load_diabetes
from sklearn.metrics import PredictionErrorDisplay

from sk_mlp import TorchMLPRegressor

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

regressor = make_pipeline(
    StandardScaler(),
    TorchMLPRegressor(
        hidden_layer_sizes=(32,),
        learning_rate_init=0.01,
        early_stopping=True,
        random_state=0,
    ),
)
regressor.fit(X_train, y_train)
print(f"test R^2: {regressor.score(X_test, y_test):.3f}")

# %%
# :class:`~sklearn.metrics.PredictionErrorDisplay` shows predictions against
# the truth on the test set.
fig, ax = plt.subplots(figsize=(5, 5))
PredictionErrorDisplay.from_estimator(regressor, X_test, y_test, kind="actual_vs_predicted", ax=ax)
ax.set_title("TorchMLPRegressor on the diabetes test set")
plt.show()
