"""The same data in another memory layout or container gives the same model:
C- and Fortran-ordered arrays, strided views, DataFrames, CSR and CSC matrices,
on one thread or several."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

DENSE_LAYOUTS = {
    "C": np.ascontiguousarray,
    "F": np.asfortranarray,
    "strided": lambda X: np.repeat(X, 2, axis=1)[:, ::2],
    "pandas": pd.DataFrame,
}
SPARSE_LAYOUTS = {"csr": sp.csr_matrix, "csc": sp.csc_matrix}


def _problem(estimator_class):
    """Mostly-zero inputs (so that sparse containers make sense too)."""
    rng = np.random.RandomState(0)
    X = rng.binomial(1, 0.4, size=(100, 10)) * rng.uniform(-2, 5, size=(100, 10))
    target = X[:, 0] - X[:, 1] + X[:, 2:5].sum(axis=1)
    if estimator_class is TorchMLPClassifier:
        return X, np.digitize(target, np.quantile(target, [0.33, 0.66]))
    return X, target


def _estimator(estimator_class, **params):
    defaults = dict(hidden_layer_sizes=(8,), max_iter=10, batch_size=32, random_state=0)
    return estimator_class(**{**defaults, **params})


def _outputs(estimator, X):
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(X)
    return estimator.predict(X)


def _assert_same_model(a, b, X):
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(wa, wb)
    assert a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(_outputs(a, X), _outputs(b, X))


ESTIMATOR_CLASSES = pytest.mark.parametrize(
    "estimator_class", [TorchMLPClassifier, TorchMLPRegressor], ids=["classifier", "regressor"]
)


@pytest.mark.parametrize("preprocessing", ["robust", None])
@pytest.mark.parametrize("layout", ["F", "strided", "pandas"])
@ESTIMATOR_CLASSES
def test_fit_gives_the_same_model_for_every_dense_layout(estimator_class, layout, preprocessing):
    X, y = _problem(estimator_class)
    expected = _estimator(estimator_class, preprocessing=preprocessing).fit(X, y)
    model = _estimator(estimator_class, preprocessing=preprocessing).fit(
        DENSE_LAYOUTS[layout](X), y
    )
    _assert_same_model(model, expected, X)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@ESTIMATOR_CLASSES
def test_predictions_are_the_same_for_every_dense_layout(estimator_class, solver):
    X, y = _problem(estimator_class)
    model = _estimator(estimator_class, solver=solver).fit(X, y)
    expected = _outputs(model, X)
    for layout, make in DENSE_LAYOUTS.items():
        np.testing.assert_array_equal(_outputs(model, make(X)), expected, err_msg=layout)


@pytest.mark.parametrize("preprocessing", ["robust", None])
@ESTIMATOR_CLASSES
def test_csr_and_csc_input_give_the_same_model_and_predictions(estimator_class, preprocessing):
    X, y = _problem(estimator_class)
    csr = _estimator(estimator_class, preprocessing=preprocessing).fit(sp.csr_matrix(X), y)
    csc = _estimator(estimator_class, preprocessing=preprocessing).fit(sp.csc_matrix(X), y)
    _assert_same_model(csc, csr, sp.csr_matrix(X))
    np.testing.assert_array_equal(_outputs(csr, sp.csc_matrix(X)), _outputs(csr, sp.csr_matrix(X)))


@ESTIMATOR_CLASSES
def test_layouts_give_the_same_model_on_two_threads(estimator_class, two_threads, monkeypatch):
    # Small work runs on one thread by choice (sk_mlp/_engine/threads.py): make every
    # step worth two, so that two threads really compute.
    monkeypatch.setattr("sk_mlp._engine.threads._WORK_PER_THREAD", 1)
    assert torch.get_num_threads() == 2
    X, y = _problem(estimator_class)
    expected = _estimator(estimator_class).fit(X, y)
    for layout in ("F", "pandas"):
        _assert_same_model(
            _estimator(estimator_class).fit(DENSE_LAYOUTS[layout](X), y), expected, X
        )
    reference = _outputs(expected, X)
    for make in DENSE_LAYOUTS.values():
        np.testing.assert_array_equal(_outputs(expected, make(X)), reference)
    np.testing.assert_array_equal(
        _outputs(expected, sp.csc_matrix(X)), _outputs(expected, sp.csr_matrix(X))
    )
    csr = _estimator(estimator_class).fit(sp.csr_matrix(X), y)
    _assert_same_model(_estimator(estimator_class).fit(sp.csc_matrix(X), y), csr, X)
