"""Continuing a fit: warm_start, partial_fit, and what carries over between calls."""

import copy

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._training import NonFiniteLossError

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.rand(200, 3) + 5
    return X, X.sum(axis=1) + 0.1 * rng.normal(size=200)


def test_failed_partial_fit_leaves_the_optimizer_state_unchanged(data):
    X, y = data
    model = TorchMLPRegressor((8,), preprocessing=None, random_state=0).partial_fit(X, y)
    before = copy.deepcopy(model._optimizer_state)
    X_bad = X.copy()
    X_bad[0, 0] = 1e38
    with pytest.raises(NonFiniteLossError):
        model.partial_fit(X_bad, y * 1e30)
    after = model._optimizer_state
    for key, state in before["state"].items():
        for name, value in state.items():
            torch.testing.assert_close(after["state"][key][name], value)


def test_first_partial_fit_rejects_labels_outside_classes():
    rng = np.random.RandomState(0)
    X, y = rng.rand(60, 3), np.array([1, 2, 0] * 20)
    with pytest.raises(ValueError, match="not seen"):
        TorchMLPClassifier(random_state=0).partial_fit(X, y, classes=[1, 2, 3])


def test_sparse_chunks_after_a_dense_first_fit_train_on_the_same_inputs(data):
    X, y = data
    dense, sparse = (TorchMLPRegressor((16,), random_state=0).partial_fit(X, y) for _ in range(2))
    for _ in range(20):
        dense.partial_fit(X, y)
        sparse.partial_fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.predict(X), dense.predict(X), rtol=1e-4, atol=1e-4)


def test_duplicate_sparse_entries_are_summed_before_the_input_clip():
    rng = np.random.RandomState(0)
    values = rng.standard_cauchy(size=(100, 1)) * 10
    y = rng.normal(size=100)
    canonical = sp.csr_matrix(values)
    # the same matrix, each value stored as four parts that densifying sums
    parts = sp.csr_matrix(
        (np.repeat(values.ravel() / 4, 4), np.zeros(400, dtype=int), np.arange(0, 401, 4)),
        shape=(100, 1),
    )
    assert not parts.has_canonical_format
    fits = [
        TorchMLPRegressor((8,), max_iter=5, random_state=0).fit(m, y) for m in (canonical, parts)
    ]
    np.testing.assert_allclose(fits[0].predict(canonical), fits[1].predict(canonical), atol=1e-5)


def test_warm_start_with_early_stopping_continues_curves_and_keeps_the_best_weights():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = TorchMLPClassifier(early_stopping=True, warm_start=True, max_iter=50, random_state=0)
    model.fit(X, y)
    best = model.best_validation_score_
    model.set_params(learning_rate_init=0.5, max_iter=5).fit(X, y)  # epochs worse than before
    assert len(model.validation_scores_) == len(model.loss_curve_) == model.n_iter_
    assert model.best_validation_score_ >= best


def test_cosine_schedule_restarts_on_a_warm_start(data):
    X, y = data
    model = TorchMLPRegressor(
        (8,), learning_rate="cosine", warm_start=True, max_iter=5, tol=0, random_state=0
    ).fit(X, y)
    before = [c.copy() for c in model.coefs_]
    model.fit(X, y)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.coefs_))


def test_partial_fit_after_changing_the_solver_starts_a_fresh_optimizer(data):
    X, y = data
    model = TorchMLPRegressor((8,), random_state=0).partial_fit(X, y)
    model.set_params(solver="sgd").partial_fit(X, y)
    assert model.n_iter_ == 2


def test_n_layers_counts_the_layers_of_the_trained_network(data):
    X, y = data
    model = TorchMLPRegressor((8,), warm_start=True, max_iter=3, random_state=0).fit(X, y)
    model.set_params(hidden_layer_sizes=(8, 8, 8)).fit(X, y)  # warm start keeps the network
    assert model.n_layers_ == len(model.coefs_) + 1 == 3
