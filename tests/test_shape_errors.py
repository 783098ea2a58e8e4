"""Shapes torch would reject mid-training (or, worse, broadcast), caught before
training starts with an error that says what to change."""

import numpy as np
import pytest
from torch import nn

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._nn.checks import check_module_widths

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n_samples=40, n_classes=3):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_samples, 4))
    return X, np.arange(n_samples) % n_classes, X[:, 0]


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_module_with_too_many_class_outputs_raises_before_training(solver):
    X, y, _ = _data()
    clf = TorchMLPClassifier(module=lambda n_in, n_out: nn.Linear(n_in, 4), solver=solver)
    with pytest.raises(ValueError, match=r"module\(4, 3\).*shape \(2, 4\).*\(2, 3\)"):
        clf.fit(X, y)
    assert not hasattr(clf, "module_")


def test_module_with_two_outputs_for_a_binary_classifier_raises():
    X, y, _ = _data(n_classes=2)
    clf = TorchMLPClassifier(module=lambda n_in, n_out: nn.Linear(n_in, 2))
    with pytest.raises(ValueError, match="Give the last layer n_outputs=1 units"):
        clf.fit(X, y)


def test_regression_module_whose_output_would_broadcast_raises():
    X, _, y = _data()
    reg = TorchMLPRegressor(module=lambda n_in, n_out: nn.Linear(n_in, 2))
    with pytest.raises(ValueError, match=r"shape \(2, 2\).*\(2, 1\)"):
        reg.fit(X, y)


def test_regression_module_with_a_squeezed_output_raises():
    class Squeezed(nn.Module):
        def __init__(self, n_in):
            super().__init__()
            self.linear = nn.Linear(n_in, 1)

        def forward(self, x):
            return self.linear(x).squeeze(-1)

    X, _, y = _data()
    reg = TorchMLPRegressor(module=lambda n_in, n_out: Squeezed(n_in))
    with pytest.raises(ValueError, match=r"shape \(2,\).*keep the output two-dimensional"):
        reg.fit(X, y)


def test_module_that_fails_on_the_inputs_names_the_feature_count():
    X, y, _ = _data()
    clf = TorchMLPClassifier(module=lambda n_in, n_out: nn.Linear(n_in + 1, n_out))
    with pytest.raises(ValueError, match="first layer takes n_features_in_=4 inputs"):
        clf.fit(X, y)


def test_module_check_leaves_the_network_in_training_mode():
    network = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    check_module_widths(network, network, 4, 3)
    assert network.training and network[1].training


@pytest.mark.parametrize("estimator_class", [TorchMLPClassifier, TorchMLPRegressor])
def test_batch_normalization_with_one_row_batches_raises_before_training(estimator_class):
    X, y_class, y_reg = _data()
    y = y_class if estimator_class is TorchMLPClassifier else y_reg
    est = estimator_class(normalization="batch", batch_size=1)
    with pytest.raises(ValueError, match="at least 2 rows per training batch.*batch_size >= 2"):
        est.fit(X, y)
    assert not hasattr(est, "module_")


def test_batch_normalization_on_a_single_sample_raises():
    X, _, y = _data()
    with pytest.raises(ValueError, match="normalization='layer'"):
        TorchMLPRegressor(normalization="batch").fit(X[:1], y[:1])
    with pytest.raises(ValueError, match="normalization='layer'"):
        TorchMLPRegressor(normalization="batch").partial_fit(X[:1], y[:1])


def test_user_module_with_batch_norm_and_one_row_batches_raises():
    X, y, _ = _data()
    clf = TorchMLPClassifier(
        module=lambda n_in, n_out: nn.Sequential(
            nn.Linear(n_in, 8), nn.BatchNorm1d(8), nn.Linear(8, n_out)
        ),
        batch_size=1,
    )
    with pytest.raises(ValueError, match="Batch normalization needs at least 2 rows"):
        clf.fit(X, y)


@pytest.mark.parametrize("normalization", ["layer", None])
def test_one_row_batches_train_without_batch_normalization(normalization):
    X, _, y = _data(n_samples=10)
    reg = TorchMLPRegressor((4,), normalization=normalization, batch_size=1, max_iter=2)
    assert np.isfinite(reg.fit(X, y).predict(X)).all()
