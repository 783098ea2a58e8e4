"""The ``'auto'`` defaults resolve by the documented rules (sk_mlp/_defaults.py):
early stopping and the piecewise-linear encoding from 1,000 samples of dense
X, eight members for a regressor trained by Adam, and what a first fit chose
kept by a continued one."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from sk_mlp import SKLEARN_MLP_PARAMS, TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._engine.network import fitted_embedding, fitted_members

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n_samples, classifier=False):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_samples, 3))
    y = X[:, 0] - X[:, 1] ** 2
    return X, (y > 0).astype(int) if classifier else y


def _quick(estimator_class, **params):
    return estimator_class(hidden_layer_sizes=(4,), max_iter=2, random_state=0, **params)


@pytest.mark.parametrize("n_samples, on", [(999, False), (1000, True)])
@pytest.mark.parametrize("estimator_class", [TorchMLPClassifier, TorchMLPRegressor])
def test_early_stopping_and_embedding_turn_on_at_1000_samples(estimator_class, n_samples, on):
    X, y = _data(n_samples, estimator_class is TorchMLPClassifier)
    model = _quick(estimator_class).fit(X, y)
    assert (model.validation_scores_ is not None) is on
    assert fitted_embedding(model.module_) == ("piecewise_linear" if on else None)


def test_sparse_input_gets_no_embedding():
    X, y = _data(1000)
    model = _quick(TorchMLPRegressor).fit(sp.csr_matrix(X), y)
    assert model.validation_scores_ is not None
    assert fitted_embedding(model.module_) is None


@pytest.mark.parametrize(
    "estimator_class, params, members",
    [
        (TorchMLPRegressor, {}, 8),
        (TorchMLPRegressor, {"solver": "sgd"}, 1),
        (TorchMLPRegressor, {"solver": "lbfgs"}, 1),
        (TorchMLPRegressor, dict(SKLEARN_MLP_PARAMS), 1),
        (TorchMLPClassifier, {}, 1),
    ],
)
def test_auto_members_follow_the_estimator_and_solver(estimator_class, params, members):
    # at every size: 50 samples, far under the other rules' threshold
    X, y = _data(50, estimator_class is TorchMLPClassifier)
    model = _quick(estimator_class, **params).fit(X, y)
    assert fitted_members(model.module_) == members


def test_weights_assigned_in_scikit_learns_shapes_give_one_network():
    X, y = _data(50)
    rng = np.random.RandomState(0)
    model = _quick(TorchMLPRegressor)
    model.coefs_ = [rng.normal(size=(3, 4)), rng.normal(size=(4, 1))]
    model.intercepts_ = [np.zeros(4), np.zeros(1)]
    model.partial_fit(X, y)
    assert fitted_members(model.module_) == 1
    assert model.coefs_[-1].shape == (4, 1)


def test_a_continued_fit_keeps_what_the_first_fit_resolved():
    X, y = _data(1000)
    model = _quick(TorchMLPRegressor, warm_start=True).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        model.set_params(max_iter=1).fit(X[:100], y[:100])
    assert fitted_members(model.module_) == 8
    assert fitted_embedding(model.module_) == "piecewise_linear"
