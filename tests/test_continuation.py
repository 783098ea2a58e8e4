"""Continuing a fit: warm_start, partial_fit, and what carries over between calls."""

import copy

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_classification

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._engine.training import NonFiniteLossError

# Short fits are intended here.
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
    y[rng.rand(300) < 0.15] ^= 1  # label noise: no epoch can reach a near-zero loss
    model = TorchMLPClassifier(
        early_stopping=True, warm_start=True, learning_rate_init=0.01, max_iter=50, random_state=0
    )
    model.fit(X, y)
    best, proba = model.best_validation_score_, model.predict_proba(X)
    n_before = len(model.loss_curve_)
    model.set_params(learning_rate_init=5.0, max_iter=5).fit(X, y)  # epochs worse than before
    assert len(model.validation_scores_) == len(model.loss_curve_) == n_before + 5
    assert model.n_iter_ == 5
    new_scores = model.validation_scores_[n_before:]
    assert max(new_scores) < best - 0.1, "the setup needs epochs worse than the start"
    # no new epoch beat the weights the fit started from: those are kept
    np.testing.assert_array_equal(model.predict_proba(X), proba)
    assert model.best_validation_score_ > max(new_scores)


def _two_labellings():
    """Rows labelled by one rule (A), then by the opposite one or another (B)."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(500, 4))
    y_a = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y_a, {"flipped": 1 - y_a, "other-rule": (X[:, 2] - X[:, 3] > 0).astype(int)}


@pytest.mark.parametrize("labelling", ["flipped", "other-rule"])
def test_warm_start_with_early_stopping_on_new_data_learns_the_new_data(labelling):
    """The previous fit's best validation score was measured on other rows with
    other labels: it is no bar for the new fit, whose best epoch must be kept."""
    X, y_a, labellings = _two_labellings()
    y_b = labellings[labelling]
    train, test = slice(0, 400), slice(400, None)
    params = dict(
        hidden_layer_sizes=(16,),
        early_stopping=True,
        learning_rate_init=0.01,
        max_iter=60,
        random_state=0,
    )
    model = TorchMLPClassifier(warm_start=True, **params).fit(X[train], y_a[train])
    n_before = model.n_iter_
    model.fit(X[train], y_b[train])
    fresh = TorchMLPClassifier(**params).fit(X[train], y_b[train])
    assert fresh.score(X[test], y_b[test]) > 0.9
    assert model.score(X[test], y_b[test]) >= fresh.score(X[test], y_b[test]) - 0.05
    assert model.best_validation_score_ == max(model.validation_scores_[n_before:])


@pytest.mark.parametrize("estimator_class", [TorchMLPClassifier, TorchMLPRegressor])
def test_partial_fit_with_early_stopping_raises_scikit_learns_value_error(estimator_class, data):
    """As scikit-learn's MLP, partial_fit refuses early_stopping=True with a
    ValueError at the call, leaving the estimator as it was; the error is an
    AttributeError too, so hasattr tells callers beforehand, as for lbfgs."""
    X, y = data
    if estimator_class is TorchMLPClassifier:
        y = (y > np.median(y)).astype(int)
    fit_params = {"classes": [0, 1]} if estimator_class is TorchMLPClassifier else {}
    model = estimator_class((4,), early_stopping=True, random_state=0)
    assert not hasattr(model, "partial_fit")
    with pytest.raises(ValueError, match="^partial_fit does not support early_stopping=True"):
        model.partial_fit(X, y, **fit_params)
    assert not hasattr(model, "n_iter_")
    # nor on a model fitted before
    model.set_params(early_stopping=False).partial_fit(X, y, **fit_params)
    curve = list(model.loss_curve_)
    model.set_params(early_stopping=True)
    with pytest.raises(ValueError, match="early_stopping=False"):
        model.partial_fit(X, y)
    assert model.loss_curve_ == curve


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
    assert len(model.loss_curve_) == 2


def three_layer_network(n_features, n_outputs):
    """A module-level ``module=`` factory: deeper than ``hidden_layer_sizes`` says."""
    return torch.nn.Sequential(
        torch.nn.Linear(n_features, 6),
        torch.nn.Tanh(),
        torch.nn.Linear(6, 5),
        torch.nn.Tanh(),
        torch.nn.Linear(5, n_outputs),
    )


def test_n_layers_counts_the_layers_of_a_users_network(data):
    X, y = data
    model = TorchMLPRegressor((8,), module=three_layer_network, max_iter=3, random_state=0)
    model.fit(X, y)
    assert model.n_layers_ == len(model.coefs_) + 1 == 4


# ------------------------------------- parameters that change the network or targets
# Changing any of these makes the fitted network meaningless for the new
# setting: a warm-start fit starts over, partial_fit refuses.
STRUCTURAL_CHANGES = [
    {"loss": "poisson"},
    {"loss": "gaussian_nll"},
    {"hidden_layer_sizes": (5, 3)},
    {"activation": "tanh"},
    {"normalization": "layer"},
    {"preprocessing": None},
    {"module": three_layer_network},
]
CHANGE_IDS = [
    "{}={}".format(*next(iter(change.items())))
    if not callable(change.get("module"))
    else "module=factory"
    for change in STRUCTURAL_CHANGES
]


def _regressor(**params):
    return TorchMLPRegressor(
        **{"hidden_layer_sizes": (8,), "max_iter": 5, "random_state": 0, **params}
    )


@pytest.mark.parametrize("change", STRUCTURAL_CHANGES, ids=CHANGE_IDS)
def test_warm_start_fit_after_a_structural_change_fits_from_scratch(data, change):
    X, y = data  # y > 0: valid for every loss
    model = _regressor(warm_start=True).fit(X, y)
    model.set_params(**change).fit(X, y)
    fresh = _regressor(warm_start=True, **change).fit(X, y)
    assert model.n_iter_ == fresh.n_iter_ == 5
    assert model.loss_curve_ == fresh.loss_curve_
    np.testing.assert_array_equal(model.predict(X), fresh.predict(X))
    assert [c.shape for c in model.coefs_] == [c.shape for c in fresh.coefs_]


@pytest.mark.parametrize(
    "change", [{"hidden_layer_sizes": (5, 3)}, {"activation": "tanh"}, {"normalization": "batch"}]
)
def test_classifier_warm_start_fit_after_a_structural_change_fits_from_scratch(change):
    X, y = make_classification(n_samples=80, n_features=4, random_state=0)
    params = dict(hidden_layer_sizes=(8,), max_iter=5, warm_start=True, random_state=0)
    model = TorchMLPClassifier(**params).fit(X, y)
    model.set_params(**change).fit(X, y)
    fresh = TorchMLPClassifier(**{**params, **change}).fit(X, y)
    assert model.n_iter_ == fresh.n_iter_ == 5
    np.testing.assert_array_equal(model.predict_proba(X), fresh.predict_proba(X))


@pytest.mark.parametrize("change", STRUCTURAL_CHANGES, ids=CHANGE_IDS)
def test_partial_fit_after_a_structural_change_raises_and_changes_nothing(data, change):
    X, y = data
    model = _regressor().partial_fit(X, y)
    n_iter, prediction = model.n_iter_, model.predict(X)
    name = next(iter(change))
    model.set_params(**change)
    with pytest.raises(ValueError, match=name) as excinfo:
        model.partial_fit(X, y)
    message = str(excinfo.value)
    assert "fit" in message and ("warm_start=False" in message or "scratch" in message)
    assert model.n_iter_ == n_iter
    model.set_params(**{name: _regressor().get_params()[name]})
    np.testing.assert_array_equal(model.predict(X), prediction)


HARMLESS_CHANGES = {
    "learning_rate_init": 0.01,
    "alpha": 0.01,
    "max_iter": 3,
    "tol": 1e-3,
    "batch_size": 50,
}


def test_warm_start_continues_after_changing_training_parameters(data):
    X, y = data
    model = _regressor(warm_start=True).fit(X, y)
    curve, coefs = list(model.loss_curve_), model.coefs_
    model.set_params(**HARMLESS_CHANGES).fit(X, y)
    assert model.n_iter_ == 3 and model.loss_curve_[:5] == curve
    # it continued from the fitted weights: no return to the initial loss
    assert model.loss_curve_[5] < curve[0]
    assert not np.array_equal(model.coefs_[0], coefs[0])


def test_partial_fit_continues_after_changing_training_parameters(data):
    X, y = data
    model = _regressor().partial_fit(X, y)
    model.set_params(**HARMLESS_CHANGES).partial_fit(X, y)
    assert model.n_iter_ == 1 and len(model.loss_curve_) == 2


def test_n_layers_counts_the_layers_of_the_trained_network(data):
    X, y = data
    model = TorchMLPRegressor((8,), warm_start=True, max_iter=3, random_state=0).fit(X, y)
    assert model.n_layers_ == len(model.coefs_) + 1 == 3
    model.set_params(hidden_layer_sizes=(8, 8, 8)).fit(X, y)  # a new network: from scratch
    assert model.n_layers_ == len(model.coefs_) + 1 == 5


def test_warm_start_from_lbfgs_to_adam_continues_and_adds_dropout(data):
    # dropout='auto' is 0 for lbfgs and 0.1 for adam: the network gains
    # dropout layers (they have no weights) and keeps its training.
    X, y = data
    model = TorchMLPRegressor((8,), solver="lbfgs", max_iter=5, warm_start=True, random_state=0)
    model.fit(X, y)
    weights = model.coefs_
    model.set_params(solver="adam", max_iter=3).fit(X, y)
    assert model.n_iter_ == 3 and len(model.loss_curve_) == 8
    assert [m.p for m in model.module_.modules() if isinstance(m, torch.nn.Dropout)] == [0.1]
    assert [c.shape for c in model.coefs_] == [c.shape for c in weights]


def test_warm_starts_with_early_stopping_keep_the_first_validation_rows(data):
    X, y = data
    seen = []

    def factory(n_features, n_outputs):
        network = torch.nn.Sequential(torch.nn.Linear(n_features, n_outputs))

        def record(layer, args):
            if not layer.training and len(args[0]) > 2:
                seen.append(frozenset(args[0][:, 0].tolist()))

        network[0].register_forward_pre_hook(record)
        return network

    X = np.column_stack([np.arange(len(X), dtype=float), X])  # column 0: the row id
    model = TorchMLPRegressor(
        module=factory,
        preprocessing=None,
        early_stopping=True,
        max_iter=2,
        n_iter_no_change=10,
        warm_start=True,
        random_state=0,
    )
    model.fit(X, y)
    first = seen[-1]
    model.fit(X, y)
    assert seen[-1] == first


class _Wide(torch.nn.Sequential):
    def __init__(self, width):  # for the data fixture's 3 features
        super().__init__(torch.nn.Linear(3, width), torch.nn.ReLU(), torch.nn.Linear(width, 1))


def _factory(width):
    return lambda n_features, n_outputs: _Wide(width)


@pytest.mark.parametrize(
    "first, second",
    [(_Wide(4), _Wide(16)), (_factory(4), _factory(16))],
    ids=["instances", "closures"],
)
def test_a_replaced_module_of_the_same_kind_is_noticed(first, second, data):
    X, y = data
    model = TorchMLPRegressor(module=first, max_iter=2, warm_start=True, random_state=0)
    model.fit(X, y)
    with pytest.raises(ValueError, match="module"):
        model.set_params(module=second).partial_fit(X, y)
    model.fit(X, y)  # a warm start fits the new module from scratch
    assert [c.shape[1] for c in model.coefs_] == [16, 1]


def test_partial_fit_lowers_an_adaptive_learning_rate_across_calls(data):
    # As scikit-learn's MLP: the no-improvement count carries over between calls.
    X, y = data
    model = TorchMLPRegressor(
        (8,),
        solver="sgd",
        learning_rate="adaptive",
        learning_rate_init=0.01,
        tol=1e6,  # no epoch ever improves enough
        n_iter_no_change=1,
        random_state=0,
    )
    for _ in range(6):
        model.partial_fit(X, y)
    assert model._optimizer_state["param_groups"][0]["lr"] < 0.01
