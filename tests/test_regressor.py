"""TorchMLPRegressor: output shapes, target scaling, losses, predictive
uncertainty, and agreement with linear regression."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor

from sk_mlp import TorchMLPRegressor


def _fit(reg, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return reg.fit(X, y, **fit_params)


def _quick(**params):
    defaults = dict(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.02, random_state=0)
    return TorchMLPRegressor(**{**defaults, **params})


@pytest.fixture
def heteroscedastic_data():
    """sin(x) with noise ten times larger for x > 0 than for x < 0."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(200, 1))
    noise = np.where(X.ravel() > 0, 0.4, 0.04)
    return X, np.sin(X).ravel() + rng.normal(scale=noise)


@pytest.fixture
def count_data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(200, 3))
    return X, rng.poisson(np.exp(X @ [1.0, -1.0, 0.5]))


# --------------------------------------------------------------------- shapes
def test_one_dimensional_y_gives_one_dimensional_predictions(regression_data):
    X, y = regression_data
    reg = _fit(_quick(max_iter=5), X, y)
    assert reg.n_outputs_ == 1 and reg.out_activation_ == "identity"
    assert reg.predict(X).shape == (len(y),)


def test_two_dimensional_y_gives_matching_predictions():
    X, Y = make_regression(n_samples=100, n_features=5, n_targets=3, random_state=0)
    reg = _fit(_quick(max_iter=80), X, Y)
    assert reg.n_outputs_ == 3
    assert reg.coefs_[-1].shape == (8, 16, 3)  # eight members (n_ensemble='auto')
    prediction = reg.predict(X)
    assert prediction.shape == (100, 3)
    assert r2_score(Y, prediction) > 0.9


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.DataConversionWarning")
def test_column_vector_y_gives_one_dimensional_predictions_like_scikit_learn(regression_data):
    X, y = regression_data
    Y = y.reshape(-1, 1)
    ours = _fit(_quick(max_iter=5), X, Y)
    theirs = _fit(MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0), X, Y)
    assert ours.predict(X).shape == theirs.predict(X).shape == (len(y),)
    assert ours.n_outputs_ == theirs.n_outputs_ == 1


def test_coefs_and_intercepts_have_scikit_learn_shapes(regression_data):
    X, y = regression_data
    params = dict(hidden_layer_sizes=(7, 3), max_iter=2, random_state=0)
    # n_ensemble=1: one network, as scikit-learn's (the default's members add
    # a leading axis to the output layer)
    ours = _fit(TorchMLPRegressor(n_ensemble=1, **params), X, y)
    theirs = _fit(MLPRegressor(**params), X, y)
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in theirs.intercepts_]
    assert ours.n_layers_ == theirs.n_layers_ == 4


# -------------------------------------------------------------- target scaling
@pytest.mark.parametrize(
    "transform, inverse",
    [
        (lambda y: y + 1e6, lambda p, y: p - 1e6),
        (lambda y: y * 1e4, lambda p, y: p / 1e4),
        (lambda y: y * 1e-4 - 3e3, lambda p, y: (p + 3e3) / 1e-4),
        (lambda y: y / y.std() * 1e-12, lambda p, y: p / 1e-12 * y.std()),
        (lambda y: y / y.std() * 1e200, lambda p, y: p / 1e200 * y.std()),
    ],
    ids=["offset", "scaled", "tiny-and-offset", "std-1e-12", "std-1e200"],
)
def test_target_standardization_fits_shifted_and_scaled_targets_as_well(
    regression_data, transform, inverse
):
    """Targets far from 1 in size are not constant: their spread is what
    standardization divides by, however small or large (R^2 is computed back
    in the original units, where the sums of squares stay finite)."""
    X, y = regression_data
    centred = _fit(_quick(), X, y)
    moved = _fit(_quick(), X, transform(y))
    prediction = moved.predict(X)
    assert np.isfinite(prediction).all()
    centred_r2 = r2_score(y, centred.predict(X))
    assert centred_r2 > 0.95
    assert r2_score(y, inverse(prediction, y)) == pytest.approx(centred_r2, abs=1e-3)


def test_constant_target_fits_without_dividing_by_a_zero_std():
    X = np.random.RandomState(0).normal(size=(50, 3))
    reg = _fit(_quick(), X, np.full(50, 7.5))
    np.testing.assert_allclose(reg.predict(X), 7.5, atol=0.2)


def test_mse_is_an_alias_of_squared_error(regression_data):
    X, y = regression_data
    a = _fit(_quick(max_iter=10, loss="mse"), X, y)
    b = _fit(_quick(max_iter=10, loss="squared_error"), X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_loss_curve_is_half_the_mean_squared_error_of_standardized_targets():
    X, y = make_regression(n_samples=50, n_features=3, random_state=0)
    reg = _fit(
        _quick(
            max_iter=1, alpha=0.0, dropout=0.0, batch_size=50, learning_rate_init=1e-9, n_ensemble=1
        ),
        X,
        y,
    )
    # one step with a negligible rate: the epoch loss is the initial model's
    # loss on y standardized with the population standard deviation
    z = (y - y.mean()) / y.std()
    raw = (reg.predict(X) - y.mean()) / y.std()
    assert reg.loss_curve_[0] == pytest.approx(0.5 * np.mean((raw - z) ** 2), rel=1e-3)


# ------------------------------------------------------------------- poisson
def test_poisson_predicts_positive_means(count_data):
    X, y = count_data
    reg = _fit(_quick(hidden_layer_sizes=(8,), loss="poisson", max_iter=50), X, y)
    assert reg.out_activation_ == "exp"
    prediction = reg.predict(X)
    assert (prediction > 0).all()
    assert prediction.mean() == pytest.approx(y.mean(), rel=0.1)
    # a log link on a log-linear truth: beats the constant model clearly
    assert r2_score(y, prediction) > 0.2


def test_poisson_requires_non_negative_targets(count_data):
    X, y = count_data
    with pytest.raises(ValueError, match="non-negative"):
        _quick(loss="poisson").fit(X, y - 1.0)


# ------------------------------------------------------- gaussian uncertainty
def test_return_std_needs_the_gaussian_loss(regression_data):
    X, y = regression_data
    reg = _fit(_quick(max_iter=2), X, y)
    with pytest.raises(ValueError, match="gaussian_nll"):
        reg.predict(X, return_std=True)


def test_gaussian_nll_std_follows_the_noise_level(heteroscedastic_data):
    X, y = heteroscedastic_data
    reg = _fit(_quick(hidden_layer_sizes=(32,), loss="gaussian_nll", max_iter=150), X, y)
    assert reg.out_activation_ == "gaussian"
    assert reg.coefs_[-1].shape == (8, 32, 2)  # a mean and a variance per target and member
    mean, std = reg.predict(X, return_std=True)
    assert mean.shape == std.shape == (len(y),)
    assert (std > 0).all()
    np.testing.assert_array_equal(mean, reg.predict(X))
    assert std[X.ravel() > 0.5].mean() > 1.5 * std[X.ravel() < -0.5].mean()


def test_gaussian_nll_std_is_in_the_units_of_y(heteroscedastic_data):
    X, y = heteroscedastic_data
    params = dict(hidden_layer_sizes=(8,), loss="gaussian_nll", max_iter=20)
    small = _fit(_quick(**params), X, y)
    large = _fit(_quick(**params), X, 1000 * y + 5)
    np.testing.assert_allclose(
        large.predict(X, return_std=True)[1], 1000 * small.predict(X, return_std=True)[1], rtol=1e-4
    )


def test_gaussian_nll_multi_output_std_shape():
    X, Y = make_regression(n_samples=80, n_features=4, n_targets=2, noise=1.0, random_state=0)
    reg = _fit(_quick(hidden_layer_sizes=(8,), loss="gaussian_nll", max_iter=5), X, Y)
    assert reg.n_outputs_ == 2 and reg.coefs_[-1].shape == (8, 8, 4)  # eight members
    mean, std = reg.predict(X, return_std=True)
    assert mean.shape == std.shape == (80, 2)


def test_predict_interval_exists_only_for_the_gaussian_loss():
    assert hasattr(TorchMLPRegressor(loss="gaussian_nll"), "predict_interval")
    for loss in ("squared_error", "mse", "poisson"):
        assert not hasattr(TorchMLPRegressor(loss=loss), "predict_interval")


def test_predict_interval_brackets_the_mean_and_widens_with_confidence(heteroscedastic_data):
    X, y = heteroscedastic_data
    reg = _fit(_quick(hidden_layer_sizes=(8,), loss="gaussian_nll", max_iter=30), X, y)
    mean, std = reg.predict(X, return_std=True)
    lower, upper = reg.predict_interval(X, confidence=0.9)
    assert (lower < mean).all() and (mean < upper).all()
    # A multiple of the std: the Gaussian quantile, or the held-out calibration's.
    factor = reg._half_width_factor(0.9)[0]
    np.testing.assert_allclose(upper - mean, factor * std, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mean - lower, factor * std, rtol=1e-10, atol=1e-12)
    wide_lower, wide_upper = reg.predict_interval(X, confidence=0.99)
    assert (wide_upper - wide_lower > upper - lower).all()
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="confidence"):
            reg.predict_interval(X, confidence=bad)


# --------------------------------------------------------------------- oracle
@pytest.mark.parametrize(
    "hidden_layer_sizes, max_iter, rtol",
    [((), 200, 1e-3), ((6,), 300, 1e-2)],
    ids=["no_hidden_layer", "identity_hidden_layer"],
)
def test_identity_network_matches_linear_regression(hidden_layer_sizes, max_iter, rtol):
    X, y = make_regression(n_samples=100, n_features=4, noise=5.0, bias=3.0, random_state=0)
    reg = TorchMLPRegressor(
        hidden_layer_sizes=hidden_layer_sizes,
        activation="identity",
        preprocessing=None,
        solver="lbfgs",
        alpha=0.0,
        max_iter=max_iter,
        random_state=0,
    )
    _fit(reg, X, y)
    reference = LinearRegression().fit(X, y)
    np.testing.assert_allclose(reg.predict(X), reference.predict(X), atol=rtol * y.std())


def _linear_regressor(**params):
    """No hidden layer, no input preprocessing, no penalty: a linear model."""
    defaults = dict(hidden_layer_sizes=(), preprocessing=None, alpha=0.0, random_state=0)
    return TorchMLPRegressor(**{**defaults, **params})


def test_no_hidden_layer_trained_by_adam_matches_linear_regression():
    X, y = make_regression(n_samples=100, n_features=4, noise=5.0, bias=3.0, random_state=0)
    reg = _fit(
        _linear_regressor(
            learning_rate_init=0.05, batch_size=100, max_iter=300, n_iter_no_change=np.inf
        ),
        X,
        y,
    )
    reference = LinearRegression().fit(X, y)
    # measured: 7e-7 * std(y) (float32 training)
    np.testing.assert_allclose(reg.predict(X), reference.predict(X), atol=1e-5 * y.std())


def test_no_hidden_layer_matches_multi_output_linear_regression():
    X, Y = make_regression(
        n_samples=100, n_features=4, n_targets=3, noise=5.0, bias=3.0, random_state=0
    )
    reg = _fit(_linear_regressor(solver="lbfgs", max_iter=200), X, Y)
    reference = LinearRegression().fit(X, Y)
    # measured: 6e-5 * std(Y)
    np.testing.assert_allclose(reg.predict(X), reference.predict(X), atol=1e-3 * Y.std())


def test_no_hidden_layer_without_preprocessing_extrapolates_a_linear_target():
    """A linear model, so exact far outside the training range: y = 3x + 1
    learnt on [-1, 1] predicts 301 at x = 100."""
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, size=(50, 1))
    reg = _fit(_linear_regressor(solver="lbfgs", max_iter=100), x, 3 * x.ravel() + 1)
    np.testing.assert_allclose(reg.predict([[100.0], [-50.0]]), [301.0, -149.0], rtol=1e-4)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_rows_of_weight_zero_do_not_enter_the_target_scaling():
    # A huge target at weight zero must not make the others look constant.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -2.0, 0.5] * 1e-3
    kept = TorchMLPRegressor((8,), max_iter=20, random_state=0).fit(X, y)
    X_extra, y_extra = np.vstack([X, X[:1]]), np.append(y, 1e200)
    weight = np.append(np.ones(200), 0.0)
    with_row = TorchMLPRegressor((8,), max_iter=20, random_state=0)
    with_row.fit(X_extra, y_extra, sample_weight=weight)
    np.testing.assert_allclose(with_row._y_scale, kept._y_scale, rtol=1e-12)
    np.testing.assert_allclose(with_row.predict(X), kept.predict(X), rtol=1e-5, atol=1e-9)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
# scikit-learn's finiteness check of y sums it, which overflows to inf - inf.
@pytest.mark.filterwarnings("ignore:invalid value encountered in reduce:RuntimeWarning")
def test_targets_near_the_float64_limit_of_both_signs_fit():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 2))
    y = np.where(X[:, 0] > 0, 1.5e308, -1.0e308) * rng.uniform(0.5, 1.0, 200)
    reg = TorchMLPRegressor((8,), max_iter=20, random_state=0).fit(X, y)
    assert np.all(np.isfinite(reg.predict(X)))
    scaled = TorchMLPRegressor((8,), max_iter=20, random_state=0).fit(X, y / 1e300)
    np.testing.assert_allclose(reg.loss_curve_, scaled.loss_curve_, rtol=1e-5)
