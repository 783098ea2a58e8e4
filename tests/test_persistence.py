"""Pickle, joblib and clone round-trips."""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def small_network(n_features, n_outputs):
    """A module-level factory for ``module=``: importable, hence picklable."""
    return torch.nn.Sequential(
        torch.nn.Linear(n_features, 6), torch.nn.Tanh(), torch.nn.Linear(6, n_outputs)
    )


def _pickle_round_trip(estimator):
    return pickle.loads(pickle.dumps(estimator))


def _joblib_round_trip(estimator):
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


ROUND_TRIPS = [_pickle_round_trip, _joblib_round_trip]


@pytest.mark.parametrize("round_trip", ROUND_TRIPS, ids=["pickle", "joblib"])
def test_classifier_round_trip_predicts_identically(round_trip, classification_data):
    X, y = classification_data
    clf = _fit(TorchMLPClassifier((8,), max_iter=5, random_state=0), X, y)
    restored = round_trip(clf)
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(restored.predict(X), clf.predict(X))
    np.testing.assert_array_equal(restored.classes_, clf.classes_)
    assert restored.loss_curve_ == clf.loss_curve_


@pytest.mark.parametrize("round_trip", ROUND_TRIPS, ids=["pickle", "joblib"])
@pytest.mark.parametrize("loss", ["squared_error", "gaussian_nll", "poisson", "quantile"])
def test_regressor_round_trip_predicts_identically(round_trip, loss, regression_data):
    X, y = regression_data
    y = np.abs(y) if loss == "poisson" else y
    reg = _fit(TorchMLPRegressor((8,), loss=loss, max_iter=5, random_state=0), X, y)
    restored = round_trip(reg)
    np.testing.assert_array_equal(restored.predict(X), reg.predict(X))
    if loss == "gaussian_nll":
        for a, b in zip(restored.predict(X, return_std=True), reg.predict(X, return_std=True)):
            np.testing.assert_array_equal(a, b)
    if loss == "quantile":
        for a, b in zip(restored.predict_interval(X, 0.9), reg.predict_interval(X, 0.9)):
            np.testing.assert_array_equal(a, b)


def test_unpickled_model_continues_training_like_the_original(regression_data):
    X, y = regression_data
    reg = TorchMLPRegressor((8,), solver="sgd", shuffle=False, random_state=0)
    reg.partial_fit(X, y)
    restored = _pickle_round_trip(reg)
    reg.partial_fit(X, y)
    restored.partial_fit(X, y)  # the optimizer state (momentum) travelled too
    np.testing.assert_array_equal(restored.predict(X), reg.predict(X))
    assert restored.loss_curve_ == reg.loss_curve_


def test_unfitted_estimator_round_trips(regression_data):
    reg = _pickle_round_trip(TorchMLPRegressor(hidden_layer_sizes=(3,), alpha=0.5))
    assert reg.get_params()["alpha"] == 0.5
    with pytest.raises(NotFittedError):
        reg.predict(regression_data[0])


def test_clone_gives_an_unfitted_estimator_with_equal_params(classification_data):
    X, y = classification_data
    clf = _fit(
        TorchMLPClassifier((8, 4), activation="tanh", dropout=0.1, max_iter=3, random_state=0), X, y
    )
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "module_") and not hasattr(copy, "classes_")
    with pytest.raises(NotFittedError):
        copy.predict(X)


def test_module_factory_defined_at_module_level_pickles(regression_data):
    X, y = regression_data
    reg = _fit(TorchMLPRegressor(module=small_network, max_iter=5, random_state=0), X, y)
    assert [c.shape for c in reg.coefs_] == [(X.shape[1], 6), (6, 1)]
    for round_trip in ROUND_TRIPS:
        restored = round_trip(reg)
        assert restored.module is small_network
        np.testing.assert_array_equal(restored.predict(X), reg.predict(X))
    assert clone(reg).module is small_network


# ------------------------------------------------ pickling leaves the estimator alone
def _dump(estimator, how):
    if how == "pickle":
        return pickle.dumps(estimator)
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
def test_getstate_returns_a_copy_that_does_not_write_through(fitted, regression_data):
    X, y = regression_data
    reg = TorchMLPRegressor((8,), max_iter=2, random_state=0)
    if fitted:
        _fit(reg, X, y)
    attributes = dict(vars(reg))
    state = reg.__getstate__()
    assert state is not vars(reg)
    for key in list(state):
        state[key] = None
    state["added_by_the_caller"] = 1
    assert vars(reg) == attributes
    assert not hasattr(reg, "added_by_the_caller")


@pytest.mark.parametrize("how", ["pickle", "joblib"])
@pytest.mark.parametrize("fitted_device", ["cpu", "cuda:0"])
def test_pickling_never_replaces_the_live_models_objects(how, fitted_device, regression_data):
    """``fitted_device='cuda:0'``: the estimator says it was fitted on an
    accelerator (its tensors are on the CPU here), so pickling takes the path
    that moves the network and optimizer state to the host, which must work on
    copies."""
    X, y = regression_data
    reg = TorchMLPRegressor((8,), random_state=0).partial_fit(X, y)
    prediction = reg.predict(X)
    reg.device_ = fitted_device
    before = {name: getattr(reg, name) for name in ("module_", "device_", "_optimizer_state")}
    _dump(reg, how)
    for name, value in before.items():
        assert getattr(reg, name) is value, name
    reg.device_ = "cpu"
    np.testing.assert_array_equal(reg.predict(X), prediction)
