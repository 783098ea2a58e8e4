"""A quick demonstration: ``python -m sk_mlp``.

Fits both estimators on scikit-learn's bundled data sets next to
scikit-learn's own MLP and prints test scores and fit times.
"""

import time
import warnings

from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor


def _compare(title, load, estimators):
    X, y = load(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    print(f"\n{title} ({X.shape[0]} samples, {X.shape[1]} features, raw inputs)")
    for estimator in estimators:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X_train, y_train)
        elapsed = time.perf_counter() - start
        score = estimator.score(X_test, y_test)
        print(f"  {type(estimator).__name__:<20} test score {score:6.3f}   fit {elapsed:5.2f}s")


def main():
    # torch initialises itself lazily on the first fit in a process (about a
    # second); pay that once here so the timings below compare training.
    X, y = load_breast_cancer(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        TorchMLPClassifier(max_iter=1).fit(X[:20], y[:20])
    print("Fit times exclude torch's one-off start-up in this process.")
    _compare(
        "Classification, breast cancer: accuracy",
        load_breast_cancer,
        [TorchMLPClassifier(random_state=0), MLPClassifier(random_state=0)],
    )
    _compare(
        "Regression, diabetes: R^2",
        load_diabetes,
        [
            TorchMLPRegressor(early_stopping=True, random_state=0),
            MLPRegressor(early_stopping=True, random_state=0),
        ],
    )
    X, y = load_diabetes(return_X_y=True)
    model = TorchMLPRegressor(loss="gaussian_nll", early_stopping=True, random_state=0)
    mean, std = model.fit(X, y).predict(X[:3], return_std=True)
    print("\nGaussian NLL regressor, first three patients: prediction +/- std")
    for m, s in zip(mean, std):
        print(f"  {m:7.1f} +/- {s:5.1f}")


if __name__ == "__main__":
    main()
