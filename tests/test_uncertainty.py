"""Quality of the regressor's predictive uncertainty: the Gaussian NLL's
std and intervals, and quantile regression's quantiles and intervals.

Seeded synthetic data with a known noise level, held-out evaluation.
"""

import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_mlp import TorchMLPRegressor
from sk_mlp._nn.losses import GaussianNLL, Pinball

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_SAMPLES = 2000


def make_noisy_curve(n_samples, seed, heteroscedastic=True):
    """y = sin(2x) + x/2 on [0, 5], noise std 0.1 + 0.3x (or a constant 0.5)."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(0, 5, size=(n_samples, 1))
    noise_std = 0.1 + 0.3 * X[:, 0] if heteroscedastic else np.full(n_samples, 0.5)
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 0] + rng.normal(scale=noise_std)
    return X, y


def gaussian_nll(y, mean, std):
    return np.mean(0.5 * np.log(2 * np.pi * std**2) + 0.5 * ((y - mean) / std) ** 2)


@pytest.fixture(scope="module")
def heteroscedastic_fit():
    X, y = make_noisy_curve(N_SAMPLES, seed=0)
    X_test, y_test = make_noisy_curve(N_SAMPLES, seed=1)
    gaussian = TorchMLPRegressor(loss="gaussian_nll", random_state=0).fit(X, y)
    squared = TorchMLPRegressor(loss="squared_error", random_state=0).fit(X, y)
    return X, y, X_test, y_test, gaussian, squared


@pytest.mark.parametrize("confidence, low, high", [(0.9, 0.85, 0.95), (0.5, 0.42, 0.58)])
def test_intervals_cover_held_out_targets_at_their_confidence(
    heteroscedastic_fit, confidence, low, high
):
    _, _, X_test, y_test, gaussian, _ = heteroscedastic_fit
    lower, upper = gaussian.predict_interval(X_test, confidence=confidence)
    coverage = np.mean((lower <= y_test) & (y_test <= upper))
    assert low <= coverage <= high


def test_nll_beats_homoscedastic_gaussian_from_squared_error_residuals(heteroscedastic_fit):
    X, y, X_test, y_test, gaussian, squared = heteroscedastic_fit
    mean, std = gaussian.predict(X_test, return_std=True)
    residual_std = np.std(y - squared.predict(X))
    homoscedastic = gaussian_nll(y_test, squared.predict(X_test), residual_std)
    assert gaussian_nll(y_test, mean, std) < homoscedastic - 0.1


def test_mean_is_as_accurate_as_squared_error_model(heteroscedastic_fit):
    _, _, X_test, y_test, gaussian, squared = heteroscedastic_fit
    r2_gaussian = r2_score(y_test, gaussian.predict(X_test))
    r2_squared = r2_score(y_test, squared.predict(X_test))
    assert r2_gaussian >= r2_squared - 0.02


def test_std_grows_with_the_noise(heteroscedastic_fit):
    _, _, _, _, gaussian, _ = heteroscedastic_fit
    grid = np.linspace(0.5, 4.5, 5).reshape(-1, 1)
    _, std = gaussian.predict(grid, return_std=True)
    assert np.all(np.diff(std) > 0)
    # True std goes from 0.25 to 1.45; where the noise is small the predictive
    # std also carries the mean's own error, so only the large end is exact.
    assert std[-1] / std[0] > 3
    assert std[-1] == pytest.approx(1.45, rel=0.15)


def test_homoscedastic_noise_gives_constant_std_of_the_right_size():
    """Where the default network fits the curve (x in [2, 4]; below that it
    still underfits sin(2x), as a squared-error model's residuals show too),
    the predicted std is flat and within 15% of the true 0.5. Everywhere, it
    matches the model's own error: the std includes the mean's misfit."""
    X, y = make_noisy_curve(N_SAMPLES, seed=0, heteroscedastic=False)
    X_test, y_test = make_noisy_curve(N_SAMPLES, seed=1, heteroscedastic=False)
    model = TorchMLPRegressor(loss="gaussian_nll", random_state=0).fit(X, y)
    mean, std = model.predict(X_test, return_std=True)
    assert np.median(std) == pytest.approx(0.5, rel=0.1)
    _, interior_std = model.predict(np.linspace(2, 4, 21).reshape(-1, 1), return_std=True)
    np.testing.assert_allclose(interior_std, 0.5, rtol=0.15)
    for low in range(5):
        rows = (X_test[:, 0] >= low) & (X_test[:, 0] < low + 1)
        error = np.sqrt(np.mean((y_test[rows] - mean[rows]) ** 2))
        assert np.mean(std[rows]) == pytest.approx(error, rel=0.15)


def test_multi_output_std_follows_each_targets_noise():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(N_SAMPLES, 2))
    signal = np.column_stack([np.sin(X[:, 0]), X[:, 1] ** 2])
    noise_std = np.array([0.1, 1.0])
    y = signal + rng.normal(size=signal.shape) * noise_std
    model = TorchMLPRegressor(loss="gaussian_nll", random_state=0).fit(X, y)
    mean, std = model.predict(X[:500], return_std=True)
    assert mean.shape == std.shape == (500, 2)
    np.testing.assert_allclose(np.median(std, axis=0), noise_std, rtol=0.15)


def test_std_is_in_the_units_of_y():
    X, y = make_noisy_curve(500, seed=0)
    params = dict(loss="gaussian_nll", max_iter=30, random_state=0)
    _, std = TorchMLPRegressor(**params).fit(X, y).predict(X, return_std=True)
    _, std_scaled = TorchMLPRegressor(**params).fit(X, 1000 * y + 5).predict(X, return_std=True)
    np.testing.assert_allclose(std_scaled, 1000 * std, rtol=1e-4)


def test_uncalibrated_interval_is_mean_plus_minus_normal_quantile_times_std():
    X, y = make_noisy_curve(300, seed=0)
    model = TorchMLPRegressor(
        loss="gaussian_nll", uncertainty_calibration=None, max_iter=30, random_state=0
    ).fit(X, y)
    mean, std = model.predict(X[:50], return_std=True)
    lower, upper = model.predict_interval(X[:50], confidence=0.8)
    np.testing.assert_allclose(upper - mean, norm.ppf(0.9) * std, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mean - lower, norm.ppf(0.9) * std, rtol=1e-12, atol=1e-12)


def make_overfit_table(n_samples, seed):
    """Ten features, one that moves the mean and one the noise: at the defaults
    on 800 rows the variance head fits the training residuals."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, 10))
    y = X[:, 0] + 0.5 * (1 + np.abs(X[:, 1])) * rng.normal(size=n_samples)
    return X, y


@pytest.fixture(scope="module")
def overfit_fits():
    X, y = make_overfit_table(800, seed=0)
    X_test, y_test = make_overfit_table(4000, seed=1)
    # One network: the default's eight members overfit the variance less
    # (their std is a mixture's), which would hide what calibration repairs.
    params = dict(loss="gaussian_nll", n_ensemble=1, random_state=0)
    raw = TorchMLPRegressor(uncertainty_calibration=None, **params).fit(X, y)
    calibrated = TorchMLPRegressor(**params).fit(X, y)
    return X_test, y_test, raw, calibrated


def coverage(model, X, y, confidence):
    lower, upper = model.predict_interval(X, confidence=confidence)
    return np.mean((lower <= y) & (y <= upper))


@pytest.mark.parametrize("confidence, low, high", [(0.9, 0.86, 0.94), (0.5, 0.44, 0.58)])
def test_default_intervals_cover_new_rows_where_the_variance_head_overfits(
    overfit_fits, confidence, low, high
):
    X_test, y_test, raw, calibrated = overfit_fits
    # Without calibration the network's std is too small on new rows ...
    assert coverage(raw, X_test, y_test, confidence) < low - 0.05
    # ... the held-out calibration restores the promised coverage.
    assert low <= coverage(calibrated, X_test, y_test, confidence) <= high


def test_calibration_lowers_held_out_nll_and_leaves_the_mean_unchanged(overfit_fits):
    X_test, y_test, raw, calibrated = overfit_fits
    raw_mean, raw_std = raw.predict(X_test, return_std=True)
    mean, std = calibrated.predict(X_test, return_std=True)
    np.testing.assert_array_equal(mean, raw_mean)
    assert gaussian_nll(y_test, mean, std) < gaussian_nll(y_test, raw_mean, raw_std) - 0.05
    a, b = calibrated.variance_scale_, calibrated.variance_offset_
    np.testing.assert_allclose(std, np.sqrt(a * raw_std**2 + b), rtol=1e-10, atol=1e-12)


def test_interval_beyond_what_the_held_out_rows_resolve_is_gaussian(overfit_fits):
    X_test, _, _, calibrated = overfit_fits
    mean, std = calibrated.predict(X_test[:20], return_std=True)
    # 160 held-out rows resolve confidences up to 160/161.
    lower, upper = calibrated.predict_interval(X_test[:20], confidence=0.999)
    np.testing.assert_allclose(upper - mean, norm.ppf(0.9995) * std, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mean - lower, norm.ppf(0.9995) * std, rtol=1e-10, atol=1e-12)


def test_calibration_attributes_follow_the_loss_and_the_kind_of_fit():
    X, y = make_noisy_curve(200, seed=0)
    params = dict(max_iter=5, random_state=0)
    squared = TorchMLPRegressor(**params).fit(X, y)
    assert squared.variance_scale_ is None and squared.variance_offset_ is None
    model = TorchMLPRegressor(loss="gaussian_nll", **params).fit(X, np.column_stack([y, 2 * y]))
    assert model.variance_scale_.shape == model.variance_offset_.shape == (2,)
    assert np.all(model.variance_scale_ > 0) and np.all(model.variance_offset_ > 0)
    # One epoch at a time leaves no rows to hold out: the network's own std.
    model.partial_fit(X, np.column_stack([y, 2 * y]))
    np.testing.assert_array_equal(model.variance_scale_, [1.0, 1.0])
    np.testing.assert_array_equal(model.variance_offset_, [0.0, 0.0])
    tiny = TorchMLPRegressor(loss="gaussian_nll", **params).fit(X[:10], y[:10])
    np.testing.assert_array_equal(tiny.variance_scale_, [1.0])


def test_calibration_is_reproducible_and_respects_zero_weights():
    X, y = make_noisy_curve(300, seed=0)
    params = dict(loss="gaussian_nll", max_iter=20, random_state=0)
    first = TorchMLPRegressor(**params).fit(X, y)
    again = TorchMLPRegressor(**params).fit(X, y)
    np.testing.assert_array_equal(first.variance_offset_, again.variance_offset_)
    # Rows of weight zero, with absurd targets, change nothing they could reach.
    weight = np.r_[np.ones(300), np.zeros(50)]
    weighted = TorchMLPRegressor(**params).fit(
        np.r_[X, X[:50]], np.r_[y, np.full(50, 1e6)], sample_weight=weight
    )
    assert weighted.variance_offset_[0] < 10 * first.variance_offset_[0]


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5])
def test_predict_interval_rejects_confidence_outside_zero_one(heteroscedastic_fit, confidence):
    gaussian = heteroscedastic_fit[4]
    with pytest.raises(ValueError, match="confidence"):
        gaussian.predict_interval(heteroscedastic_fit[2], confidence=confidence)


def test_pipeline_passes_return_std_through():
    X, y = make_noisy_curve(300, seed=0)
    pipe = make_pipeline(
        StandardScaler(), TorchMLPRegressor(loss="gaussian_nll", max_iter=20, random_state=0)
    ).fit(X, y)
    mean, std = pipe.predict(X, return_std=True)
    assert mean.shape == std.shape == (300,)
    assert np.all(std > 0)


def test_validation_score_is_minus_the_gaussian_nll():
    """Early stopping with gaussian_nll selects on the validation NLL, not R^2."""
    model, loss = TorchMLPRegressor(loss="gaussian_nll"), GaussianNLL()
    raw = torch.tensor([[0.0, 0.5], [1.0, -0.5], [2.0, 0.0]])
    y = torch.tensor([[0.1], [0.7], [2.5]])
    expected = -loss.nll(raw, y).mean()
    assert model._validation_score(loss, raw, y, None) == pytest.approx(float(expected))


def test_early_stopping_restores_epoch_with_best_validation_nll():
    X, y = make_noisy_curve(1000, seed=0)
    model = TorchMLPRegressor(
        loss="gaussian_nll", early_stopping=True, max_iter=60, random_state=0
    ).fit(X, y)
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert model.best_loss_ is None


def test_beta_weighting_keeps_mean_gradients_alive_where_variance_is_large():
    """The beta-NLL remedy: with beta=0 the mean's gradient shrinks as 1/variance;
    beta=0.5 scales it back by sqrt(variance), so high-noise points keep teaching
    the mean."""
    mean = torch.zeros(2, 1, requires_grad=True)
    raw_variance = torch.tensor([[0.0], [8.0]])  # softplus: ~0.69 and ~8.0
    y = torch.ones(2, 1)
    grads = {}
    for beta in (0.0, 0.5):
        mean.grad = None
        GaussianNLL(beta=beta)(torch.cat([mean, raw_variance], dim=1), y).sum().backward()
        grads[beta] = mean.grad.abs().ravel()
    ratio_plain = grads[0.0][1] / grads[0.0][0]
    ratio_beta = grads[0.5][1] / grads[0.5][0]
    assert ratio_beta > 2 * ratio_plain


def test_calibrated_std_and_intervals_survive_save_and_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime

    from sk_mlp import load, save, to_onnx

    X, y = make_noisy_curve(300, seed=0)
    model = TorchMLPRegressor(loss="gaussian_nll", max_iter=20, random_state=0).fit(X, y)
    assert model.variance_offset_[0] > 0  # the calibration changed the std
    mean, std = model.predict(X[:40], return_std=True)
    save(model, tmp_path / "model.safetensors")
    restored = load(tmp_path / "model.safetensors")
    np.testing.assert_array_equal(restored.predict(X[:40], return_std=True)[1], std)
    for a, b in zip(restored.predict_interval(X[:40], 0.8), model.predict_interval(X[:40], 0.8)):
        np.testing.assert_array_equal(a, b)
    session = onnxruntime.InferenceSession(to_onnx(model, X[:1]).SerializeToString())
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"X": X[:40]})))
    np.testing.assert_allclose(outputs["std"].ravel(), std, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------ quantile regression
@pytest.fixture(scope="module")
def quantile_fit():
    """The default quantile regressor (quantile=None) on the heteroscedastic curve."""
    X, y = make_noisy_curve(N_SAMPLES, seed=0)
    X_test, y_test = make_noisy_curve(N_SAMPLES, seed=1)
    model = TorchMLPRegressor(loss="quantile", random_state=0).fit(X, y)
    return X_test, y_test, model


@pytest.mark.parametrize(
    "confidence, low, high",
    [(0.5, 0.44, 0.58), (0.8, 0.74, 0.86), (0.9, 0.85, 0.95), (0.95, 0.91, 0.98)],
)
def test_quantile_intervals_cover_held_out_targets_at_their_confidence(
    quantile_fit, confidence, low, high
):
    X_test, y_test, model = quantile_fit
    lower, upper = model.predict_interval(X_test, confidence=confidence)
    assert low <= np.mean((lower <= y_test) & (y_test <= upper)) <= high


def test_default_quantile_model_predicts_and_scores_the_median(quantile_fit, heteroscedastic_fit):
    X_test, y_test, model = quantile_fit
    np.testing.assert_array_equal(
        model.quantiles_, [0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975]
    )
    median = model.predict(X_test)
    assert median.shape == (N_SAMPLES,)
    assert 0.45 <= np.mean(y_test < median) <= 0.55
    assert model.score(X_test, y_test) == pytest.approx(r2_score(y_test, median), abs=1e-12)
    # The noise is symmetric: the median is the mean, about as accurate.
    squared = heteroscedastic_fit[5]
    assert model.score(X_test, y_test) >= squared.score(X_test, y_test) - 0.03


def test_quantile_interval_widens_with_the_noise(quantile_fit):
    model = quantile_fit[2]
    lower, upper = model.predict_interval(np.array([[0.5], [4.5]]), confidence=0.9)
    # The true noise std grows from 0.25 to 1.45, a factor of 5.8.
    assert (upper - lower)[1] / (upper - lower)[0] > 3


def test_quantile_predictions_have_a_trailing_axis_for_a_sequence_only():
    X, y = make_noisy_curve(200, seed=0)
    Y = np.column_stack([y, -y])
    params = dict(loss="quantile", max_iter=5, random_state=0)
    for quantile, y_fit, shape in [
        (None, y, (200,)),
        (0.3, y, (200,)),
        (0.3, Y, (200, 2)),
        ([0.2, 0.5, 0.8], y, (200, 3)),
        ([0.2, 0.5, 0.8], Y, (200, 2, 3)),
    ]:
        model = TorchMLPRegressor(quantile=quantile, **params).fit(X, y_fit)
        assert model.predict(X).shape == shape, quantile
        assert model.n_outputs_ == y_fit.reshape(200, -1).shape[1]


def test_quantiles_never_cross_and_follow_the_order_given():
    X, y = make_noisy_curve(300, seed=0)
    levels = [0.9, 0.1, 0.5, 0.3]
    model = TorchMLPRegressor(loss="quantile", quantile=levels, max_iter=20, random_state=0).fit(
        X, np.column_stack([y, 3 * y])
    )
    np.testing.assert_array_equal(model.quantiles_, levels)
    # Far outside the training range the unsorted outputs would cross.
    grid = np.linspace(-50, 50, 201).reshape(-1, 1)
    ordered = model.predict(grid)[..., np.argsort(levels)]
    assert np.all(np.diff(ordered, axis=-1) >= 0)


def test_quantiles_are_in_the_units_of_y():
    X, y = make_noisy_curve(500, seed=0)
    params = dict(loss="quantile", quantile=[0.1, 0.9], max_iter=30, random_state=0)
    quantiles = TorchMLPRegressor(**params).fit(X, y).predict(X)
    scaled = TorchMLPRegressor(**params).fit(X, 1000 * y + 5).predict(X)
    np.testing.assert_allclose(scaled, 1000 * quantiles + 5, rtol=1e-4, atol=1e-2)


def test_predict_interval_bounds_are_the_fitted_quantiles():
    X, y = make_noisy_curve(300, seed=0)
    model = TorchMLPRegressor(
        loss="quantile", quantile=[0.9, 0.5, 0.1], max_iter=20, random_state=0
    ).fit(X, y)
    quantiles = model.predict(X)
    lower, upper = model.predict_interval(X, confidence=0.8)
    np.testing.assert_array_equal(lower, quantiles[:, 2])
    np.testing.assert_array_equal(upper, quantiles[:, 0])
    with pytest.raises(ValueError, match=r"0\.05 and 0\.95.*quantile=\[0\.1, 0\.5, 0\.9\]"):
        model.predict_interval(X, confidence=0.9)


@pytest.mark.parametrize("levels, nearest", [([0.1, 0.5, 0.9], 1), ([0.2, 0.7], 1)])
def test_score_of_several_quantiles_is_r2_of_the_one_nearest_the_median(levels, nearest):
    X, y = make_noisy_curve(300, seed=0)
    model = TorchMLPRegressor(loss="quantile", quantile=levels, max_iter=20, random_state=0)
    model.fit(X, y)
    expected = r2_score(y, model.predict(X)[:, nearest])
    assert model.score(X, y) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "quantile, match",
    [
        (0.0, "quantile"),
        (1.0, "quantile"),
        ([], "non-empty 1-D"),
        ([[0.1, 0.9]], "non-empty 1-D"),
        (["low"], "non-empty 1-D"),
        ([0.1, 1.2], "strictly between 0 and 1"),
        ([0.5, float("nan")], "strictly between 0 and 1"),
        ([0.5, 0.5], "twice"),
    ],
)
def test_invalid_quantile_raises_and_leaves_a_fitted_model_unchanged(quantile, match):
    X, y = make_noisy_curve(100, seed=0)
    model = TorchMLPRegressor(loss="quantile", max_iter=5, random_state=0).fit(X, y)
    before = model.predict(X)
    with pytest.raises(ValueError, match=match):
        model.set_params(quantile=quantile).fit(X, y)
    np.testing.assert_array_equal(model.predict(X), before)
    np.testing.assert_array_equal(
        model.quantiles_, [0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975]
    )


def test_quantile_is_ignored_by_the_other_losses():
    X, y = make_noisy_curve(100, seed=0)
    plain = TorchMLPRegressor(max_iter=5, random_state=0).fit(X, y)
    ignored = TorchMLPRegressor(quantile=0.3, max_iter=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(plain.predict(X), ignored.predict(X))
    assert plain.quantiles_ is None


def test_partial_fit_refuses_other_quantiles():
    X, y = make_noisy_curve(100, seed=0)
    model = TorchMLPRegressor(loss="quantile", quantile=[0.1, 0.9], random_state=0)
    model.partial_fit(X, y)
    with pytest.raises(ValueError, match="quantile"):
        model.set_params(quantile=[0.2, 0.8]).partial_fit(X, y)


def test_quantile_model_has_no_std():
    X, y = make_noisy_curve(100, seed=0)
    model = TorchMLPRegressor(loss="quantile", max_iter=5, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="return_std=True needs"):
        model.predict(X, return_std=True)


def test_validation_score_is_minus_the_pinball_loss_of_the_sorted_quantiles():
    model, loss = TorchMLPRegressor(loss="quantile"), Pinball([0.8, 0.2])
    raw = torch.tensor([[0.0, 1.0], [1.0, -0.5], [2.0, 3.0]])  # the first two rows cross
    y = torch.tensor([[0.1], [0.7], [2.5]])
    # Sorted, the 0.2 quantile is the smaller output of each row.
    ordered = torch.stack([raw.max(dim=1).values, raw.min(dim=1).values], dim=1)
    expected = -loss(ordered, y).mean()
    assert model._validation_score(loss, raw, y, None) == pytest.approx(float(expected))


def test_quantile_ensemble_predicts_ordered_quantiles_of_the_shape_asked():
    X, y = make_noisy_curve(300, seed=0)
    model = TorchMLPRegressor(
        loss="quantile", quantile=[0.1, 0.9], n_ensemble=3, max_iter=20, random_state=0
    ).fit(X, y)
    quantiles = model.predict(X)
    assert quantiles.shape == (300, 2)
    assert np.all(quantiles[:, 0] <= quantiles[:, 1])
