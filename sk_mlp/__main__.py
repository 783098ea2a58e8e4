"""A quick demonstration: ``python -m sk_mlp``.

Fits both estimators next to scikit-learn's own MLP, on scikit-learn's bundled
data sets or on synthetic ones of a chosen size, and prints test scores and
fit times. ``python -m sk_mlp --help`` lists the options.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings

import sklearn
import torch
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    make_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor, __version__

BUNDLED = ("breast_cancer", "diabetes")
SYNTHETIC = ("classification", "regression")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sk_mlp",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Fit TorchMLPClassifier and TorchMLPRegressor next to scikit-learn's\n"
            "MLPClassifier and MLPRegressor; print test scores and fit times.\n"
            "Without options: scikit-learn's breast cancer and diabetes data sets."
        ),
        epilog=(
            "examples:\n"
            "  python -m sk_mlp --data diabetes\n"
            "  python -m sk_mlp --data classification --n-samples 50000 --n-features 40"
        ),
    )
    parser.add_argument(
        "--version",
        action="version",
        version=(
            f"sk_mlp {__version__} (torch {torch.__version__}, scikit-learn "
            f"{sklearn.__version__}, Python {platform.python_version()})"
        ),
    )
    parser.add_argument(
        "--data",
        nargs="+",
        choices=BUNDLED + SYNTHETIC,
        default=list(BUNDLED),
        metavar="NAME",
        help=(
            "data sets to fit, one or more of: breast_cancer, diabetes (bundled with "
            "scikit-learn); classification, regression (synthetic, from make_classification "
            "and make_regression, sized by --n-samples and --n-features). "
            "Default: breast_cancer diabetes"
        ),
    )
    parser.add_argument(
        "--n-samples",
        type=_positive_int,
        default=None,
        metavar="N",
        help="rows of the synthetic data sets (default: 10000)",
    )
    parser.add_argument(
        "--n-features",
        type=_positive_int,
        default=None,
        metavar="N",
        help="columns of the synthetic data sets (default: 20)",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="device of the sk_mlp estimators: cpu, cuda, mps or auto (default: %(default)s)",
    )
    return parser


def _load(name: str, n_samples: int, n_features: int):
    """``(X, y, description, metric)`` for a data set name of ``--data``."""
    if name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
        return X, y, "Classification, breast cancer", "accuracy"
    if name == "diabetes":
        X, y = load_diabetes(return_X_y=True)
        return X, y, "Regression, diabetes", "R^2"
    informative = max(1, n_features // 2)
    if name == "classification":
        X, y = make_classification(
            n_samples, n_features, n_informative=informative, n_redundant=0, random_state=0
        )
        return X, y, "Classification, make_classification", "accuracy"
    X, y = make_regression(n_samples, n_features, n_informative=informative, random_state=0)
    return X, y, "Regression, make_regression", "R^2"


def _compare(title, metric, X, y, estimators):
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    print(f"\n{title} ({X.shape[0]} samples, {X.shape[1]} features, raw inputs): {metric}")
    for estimator in estimators:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X_train, y_train)
        elapsed = time.perf_counter() - start
        score = estimator.score(X_test, y_test)
        print(f"  {type(estimator).__name__:<20} test score {score:6.3f}   fit {elapsed:5.2f}s")


def _uncertainty(X, y, device):
    model = TorchMLPRegressor(
        loss="gaussian_nll", early_stopping=True, random_state=0, device=device
    )
    mean, std = model.fit(X, y).predict(X[:3], return_std=True)
    print("\nGaussian NLL regressor, first three patients: prediction +/- std")
    for m, s in zip(mean, std):
        print(f"  {m:7.1f} +/- {s:5.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    synthetic = [name for name in args.data if name in SYNTHETIC]
    if not synthetic and (args.n_samples or args.n_features):
        parser.error(
            "--n-samples and --n-features size the synthetic data sets; "
            "add --data classification or --data regression"
        )
    n_samples, n_features = args.n_samples or 10_000, args.n_features or 20
    device = args.device
    # torch initialises itself lazily on the first fit in a process (about a
    # second); pay that once here so the timings below compare training.
    X, y = load_breast_cancer(return_X_y=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            TorchMLPClassifier(max_iter=1, device=device).fit(X[:20], y[:20])
    except ValueError as exc:  # an unknown or absent device
        parser.error(str(exc))
    print("Fit times exclude torch's one-off start-up in this process.")
    for name in dict.fromkeys(args.data):  # each once, in the order given
        X, y, title, metric = _load(name, n_samples, n_features)
        classify = name in ("breast_cancer", "classification")
        # Early stopping for regression, as a user would fit noisy targets.
        kwargs = {"random_state": 0} if classify else {"random_state": 0, "early_stopping": True}
        ours = TorchMLPClassifier if classify else TorchMLPRegressor
        theirs = MLPClassifier if classify else MLPRegressor
        _compare(title, metric, X, y, [ours(device=device, **kwargs), theirs(**kwargs)])
        if name == "diabetes":
            _uncertainty(X, y, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
