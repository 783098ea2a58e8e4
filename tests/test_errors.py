"""The errors scikit-learn users expect, raised clearly and early."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor

ESTIMATORS = [TorchMLPClassifier, TorchMLPRegressor]


def _data(estimator_class, n_samples=40):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_samples, 3))
    y = (X[:, 0] > 0).astype(int) if estimator_class is TorchMLPClassifier else X[:, 0]
    return X, y


def _fitted(estimator_class):
    X, y = _data(estimator_class)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator_class((4,), max_iter=2, random_state=0).fit(X, y), X, y


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba", "score"])
def test_methods_before_fit_raise_not_fitted_error(estimator_class, method):
    X, y = _data(estimator_class)
    estimator = estimator_class()
    if not hasattr(estimator, method):
        assert estimator_class is TorchMLPRegressor and method.startswith("predict_")
        return
    args = (X, y) if method == "score" else (X,)
    with pytest.raises(NotFittedError):
        getattr(estimator, method)(*args)


@pytest.mark.parametrize("attribute", ["coefs_", "intercepts_"])
def test_weight_views_before_fit_raise_not_fitted_error(attribute):
    with pytest.raises(NotFittedError):
        getattr(TorchMLPRegressor(), attribute)


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_wrong_number_of_features_at_predict_raises(estimator_class):
    estimator, X, _ = _fitted(estimator_class)
    with pytest.raises(ValueError, match="features"):
        estimator.predict(X[:, :2])


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_wrong_number_of_features_in_partial_fit_raises(estimator_class):
    X, y = _data(estimator_class)
    estimator = estimator_class((4,), random_state=0)
    extra = {"classes": [0, 1]} if estimator_class is TorchMLPClassifier else {}
    estimator.partial_fit(X, y, **extra)
    with pytest.raises(ValueError, match="features"):
        estimator.partial_fit(X[:, :2], y)


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_infinite_X_raises(estimator_class):
    # Missing values (NaN) are imputed by the estimator; infinity is an error.
    X, y = _data(estimator_class)
    X[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        estimator_class().fit(X, y)
    fitted, X_ok, _ = _fitted(estimator_class)
    X_ok[0, 0] = -np.inf
    with pytest.raises(ValueError, match="infinity"):
        fitted.predict(X_ok)


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_nan_in_sparse_X_raises(estimator_class):
    # A sparse matrix has no room for "missing": densify it to impute.
    X, y = _data(estimator_class)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        estimator_class().fit(sp.csr_matrix(X), y)


def test_nan_in_regression_target_raises():
    X, y = _data(TorchMLPRegressor)
    y[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        TorchMLPRegressor().fit(X, y)


@pytest.mark.parametrize("partial", [False, True])
def test_nan_among_string_class_labels_names_y(partial):
    X = np.random.RandomState(0).normal(size=(6, 2))
    y = np.array(["a", "b", np.nan, "a", "b", "a"], dtype=object)
    clf = TorchMLPClassifier(max_iter=2)
    with pytest.raises(ValueError, match="Input y contains NaN"):
        clf.partial_fit(X, y, classes=["a", "b"]) if partial else clf.fit(X, y)
    assert not hasattr(clf, "classes_")


def test_continuous_target_for_the_classifier_raises():
    X, y = _data(TorchMLPRegressor)
    with pytest.raises(ValueError, match="Unknown label type"):
        TorchMLPClassifier().fit(X, y)


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_negative_sample_weight_raises(estimator_class):
    X, y = _data(estimator_class)
    weight = np.ones(len(y))
    weight[0] = -1
    with pytest.raises(ValueError, match="(?i)negative"):
        estimator_class().fit(X, y, sample_weight=weight)


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
@pytest.mark.parametrize(
    "params",
    [
        {"activation": "foo"},
        {"solver": "foo"},
        {"dropout": 1.5},
        {"dropout": -0.1},
        {"alpha": -1.0},
        {"learning_rate": "foo"},
        {"learning_rate_init": 0.0},
        {"batch_size": 0},
        {"max_iter": 0},
        {"normalization": "group"},
        {"preprocessing": "standard"},
        {"loss": "hinge"},
        {"hidden_layer_sizes": 0},
        {"validation_fraction": 1.0},
        {"module": "not callable"},
    ],
    ids=lambda params: "-".join(f"{k}={v}" for k, v in params.items()),
)
def test_invalid_parameters_raise_invalid_parameter_error(estimator_class, params):
    X, y = _data(estimator_class)
    with pytest.raises(InvalidParameterError, match=list(params)[0]):
        estimator_class(**params).fit(X, y)


@pytest.mark.parametrize("sizes", [(0,), (4, 0), (-3,), (2.5,)])
def test_non_positive_hidden_layer_sizes_raise_value_error(sizes):
    X, y = _data(TorchMLPRegressor)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        TorchMLPRegressor(hidden_layer_sizes=sizes).fit(X, y)


def test_module_returning_a_non_module_raises_type_error():
    X, y = _data(TorchMLPRegressor)
    reg = TorchMLPRegressor(module=lambda n_features, n_outputs: "not a module")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        reg.fit(X, y)
    assert not hasattr(reg, "n_features_in_")


def test_module_receives_feature_and_output_counts():
    X, y = _data(TorchMLPClassifier)
    seen = []

    def factory(n_features, n_outputs):
        seen.append((n_features, n_outputs))
        return torch.nn.Linear(n_features, n_outputs)

    y3 = np.arange(len(y)) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        TorchMLPClassifier(module=factory, max_iter=1).fit(X, y3)
        TorchMLPRegressor(
            module=factory, loss="gaussian_nll", uncertainty_calibration=None, max_iter=1
        ).fit(X, X[:, :2])
    assert seen == [(3, 3), (3, 4)]


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_early_stopping_without_room_for_a_validation_split_raises(estimator_class):
    X, y = _data(estimator_class, n_samples=10)
    estimator = estimator_class(early_stopping=True, validation_fraction=0.95)
    with pytest.raises(ValueError, match="early_stopping"):
        estimator.fit(X, y)


def test_early_stopping_on_a_single_sample_raises():
    X, y = _data(TorchMLPRegressor)
    with pytest.raises(ValueError, match="early_stopping"):
        TorchMLPRegressor(early_stopping=True).fit(X[:1], y[:1])


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_early_stopping_with_zero_validation_fraction_raises_a_clear_error(estimator_class):
    X, y = _data(estimator_class)
    estimator = estimator_class(early_stopping=True, validation_fraction=0.0)
    with pytest.raises(ValueError, match="validation_fraction"):
        estimator.fit(X, y)


def test_single_class_target_raises():
    X, _ = _data(TorchMLPClassifier)
    with pytest.raises(ValueError, match="one class"):
        TorchMLPClassifier().fit(X, np.zeros(len(X)))


def test_poisson_with_negative_targets_raises():
    X, y = _data(TorchMLPRegressor)
    with pytest.raises(ValueError, match="poisson"):
        TorchMLPRegressor(loss="poisson").fit(X, y)


def test_partial_fit_with_a_different_number_of_targets_raises():
    X, _ = _data(TorchMLPRegressor)
    reg = TorchMLPRegressor((4,), random_state=0).partial_fit(X, X[:, :2])
    with pytest.raises(ValueError, match="outputs"):
        reg.partial_fit(X, X[:, 0])


def test_switching_between_multilabel_and_multiclass_in_partial_fit_raises():
    X, y = _data(TorchMLPClassifier)
    clf = TorchMLPClassifier((4,), random_state=0).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="type of target"):
        clf.partial_fit(X, np.column_stack([y, 1 - y]))


def test_return_std_with_squared_error_raises_before_predicting():
    reg, X, _ = _fitted(TorchMLPRegressor)
    with pytest.raises(ValueError, match="return_std=True needs a model fitted with"):
        reg.predict(X, return_std=True)


def test_batch_size_larger_than_the_data_warns_and_is_clipped():
    X, y = _data(TorchMLPRegressor, n_samples=20)
    with pytest.warns(UserWarning, match="batch_size"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reg = TorchMLPRegressor((4,), batch_size=500, max_iter=2).fit(X, y)
    assert reg.t_ == 2 * 20


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_batch_normalization_with_batches_of_one_row_raises_a_clear_error(solver):
    X, y = _data(TorchMLPRegressor)
    reg = TorchMLPRegressor((4,), normalization="batch", batch_size=1, solver=solver)
    with pytest.raises(ValueError, match="batch_size") as excinfo:
        reg.fit(X, y)
    assert "normalization" in str(excinfo.value)
    assert not hasattr(reg, "n_features_in_")


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_batch_normalization_on_a_single_sample_raises_a_clear_error(solver):
    """In scikit-learn's words for one sample (check_fit2d_1sample accepts
    '1 sample', 'n_samples=1', 'one sample')."""
    X, y = _data(TorchMLPRegressor)
    reg = TorchMLPRegressor((4,), normalization="batch", solver=solver)
    with pytest.raises(ValueError, match="normalization") as excinfo:
        reg.fit(X[:1], y[:1])
    assert any(words in str(excinfo.value) for words in ("1 sample", "n_samples=1", "one sample"))


def _outputs(estimator, X):
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(X)
    return estimator.predict(X)


def _assert_clear_float32_range_error(message):
    assert "float32" in message, message
    assert "preprocessing" in message or "scale" in message, message


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_unpreprocessed_x_beyond_float32_range_raises_or_fits_at_fit(estimator_class, solver):
    """The network computes in float32: 1e300 becomes infinity there. Either a
    ValueError says so, or the fit copes; never a misleading message, a
    RuntimeError, or NaN predictions."""
    X, y = _data(estimator_class)
    X, y = X.copy(), y.copy()  # y may be a view of X
    X[0, 0] = 1e300
    estimator = estimator_class((4,), preprocessing=None, solver=solver, max_iter=5)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y)
    except ValueError as exc:
        _assert_clear_float32_range_error(str(exc))
        assert not hasattr(estimator, "n_features_in_")
    else:
        assert np.isfinite(_outputs(estimator, X)).all()


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_unpreprocessed_x_beyond_float32_range_raises_or_predicts_at_predict(estimator_class):
    X, y = _data(estimator_class)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = estimator_class((4,), preprocessing=None, max_iter=2, random_state=0).fit(X, y)
    X_far = X.copy()
    X_far[0, 0] = -1e300
    try:
        outputs = _outputs(fitted, X_far)
    except ValueError as exc:
        _assert_clear_float32_range_error(str(exc))
    else:
        assert np.isfinite(outputs).all()


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_sparse_x_beyond_float32_range_raises(estimator_class):
    X, y = _data(estimator_class)
    X[0, 0] = 1e39
    with pytest.raises(ValueError, match="float32"):
        estimator_class(max_iter=2).fit(sp.csr_matrix(X), y)
    fitted, X_ok, _ = _fitted(estimator_class)
    X_ok[0, 0] = 1e39
    with pytest.raises(ValueError, match="float32"):
        fitted.predict(sp.csr_matrix(X_ok))
