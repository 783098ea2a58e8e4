"""The classifier's temperature: fitted on held-out rows, applied to the
probabilities and never to the predicted classes, saved, exported, reset."""

import pickle
import warnings

import dask.array as da
import numpy as np
import onnxruntime as ort
import pytest
import torch
from scipy.special import expit, log_softmax
from sklearn.base import clone
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss

from sk_mlp import TorchMLPClassifier, load, save, to_onnx
from sk_mlp._estimators.calibration import LOG_TEMPERATURE_BOUND, fit_temperature

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Probabilities computed two ways in float64 from the same float32 logits.
RTOL, ATOL = 1e-9, 1e-12


def _data(target="multiclass", n_samples=1500, seed=0):
    if target == "multilabel":
        return make_multilabel_classification(
            n_samples=n_samples, n_features=8, n_classes=3, random_state=seed
        )
    n_classes = 3 if target == "multiclass" else 2
    return make_classification(
        n_samples=n_samples,
        n_features=10,
        n_informative=5,
        n_classes=n_classes,
        flip_y=0.1,
        random_state=seed,
    )


def _classifier(**params):
    defaults = {
        "hidden_layer_sizes": (32,),
        "max_iter": 30,
        "early_stopping": True,
        "random_state": 0,
    }
    return TorchMLPClassifier(**{**defaults, **params})


def _untempered_logits(clf, X):
    """The logits before the temperature: from a copy without it."""
    log_proba = clf.predict_log_proba(X)
    if clf._target_type == "multiclass":
        return log_proba
    if clf._target_type == "binary":
        return log_proba[:, 1] - log_proba[:, 0]
    return np.log(clf.predict_proba(X)) - np.log1p(-clf.predict_proba(X))


# ------------------------------------------------------------- the fit itself
def _temperature(raw, y, weight, *, softmax):
    """:func:`fit_temperature` of NumPy arrays, as tensors on the CPU."""
    tensors = (None if a is None else torch.as_tensor(np.asarray(a)) for a in (raw, y, weight))
    return fit_temperature(*tensors, softmax=softmax)


@pytest.mark.parametrize("softmax", [True, False])
@pytest.mark.parametrize("true_temperature", [0.5, 3.0])
def test_fitted_temperature_undoes_a_known_scaling_of_the_logits(softmax, true_temperature):
    # Labels drawn from softmax(z) (or sigmoid(z)), the logits shown as
    # z * T: the fit recovers T, to the sampling error of 20,000 rows.
    rng = np.random.RandomState(0)
    n = 20_000
    if softmax:
        z = rng.normal(scale=2.0, size=(n, 4))
        proba = np.exp(log_softmax(z, axis=1))
        y = np.array([rng.choice(4, p=p) for p in proba])
    else:
        z = rng.normal(scale=2.0, size=(n, 2))
        y = (rng.uniform(size=z.shape) < expit(z)).astype(float)
    temperature = _temperature(z * true_temperature, y, None, softmax=softmax)
    assert temperature == pytest.approx(true_temperature, rel=0.05)


@pytest.mark.parametrize("softmax", [True, False])
def test_integer_weights_fit_the_temperature_of_repeated_rows(softmax):
    rng = np.random.RandomState(1)
    z = rng.normal(scale=3.0, size=(300, 3))
    y = rng.randint(3, size=300) if softmax else (rng.uniform(size=z.shape) < 0.5).astype(float)
    weight = rng.randint(0, 4, size=300)
    weighted = _temperature(z, y, weight, softmax=softmax)
    repeated = _temperature(
        np.repeat(z, weight, axis=0), np.repeat(y, weight, axis=0), None, softmax=softmax
    )
    assert weighted == pytest.approx(repeated, rel=1e-5)


def test_prior_keeps_the_temperature_of_separable_rows_finite():
    # Every held-out row right: the log loss alone falls as T -> 0; the prior
    # stops it near 1 for a few rows, sharper the more rows there are.
    z = np.array([[3.0, -3.0], [-2.0, 2.0], [4.0, 0.0]])
    y = np.array([0, 1, 0])
    few = _temperature(z, y, None, softmax=True)
    many = _temperature(np.tile(z, (100, 1)), np.tile(y, 100), None, softmax=True)
    assert 0.8 < few < 1.0
    assert np.exp(-LOG_TEMPERATURE_BOUND) < many < 0.6


def test_no_rows_to_fit_on_leave_the_temperature_at_one():
    z = np.ones((3, 2))
    assert _temperature(z, np.array([0, 1, 0]), np.zeros(3), softmax=True) == 1.0
    assert _temperature(z[:0], np.array([], dtype=int), None, softmax=True) == 1.0
    z[1, 0] = np.nan
    assert _temperature(z, np.array([0, 1, 0]), None, softmax=True) == 1.0


# ------------------------------------------------------------ in the estimator
def test_temperature_corrects_underconfident_probabilities_on_new_rows():
    # Label smoothing keeps the network's probabilities away from 0 and 1 by
    # design; the temperature fitted on the held-out rows sharpens them, and
    # the log loss on rows used for nothing drops.
    X, y = _data(n_samples=4000)
    X_train, y_train, X_test, y_test = X[:2000], y[:2000], X[2000:], y[2000:]
    params = {"label_smoothing": 0.3, "max_iter": 60}
    tempered = _classifier(**params).fit(X_train, y_train)
    raw = _classifier(uncertainty_calibration=None, **params).fit(X_train, y_train)
    assert tempered.temperature_ < 0.9
    assert raw.temperature_ == 1.0
    loss_tempered = log_loss(y_test, tempered.predict_proba(X_test))
    loss_raw = log_loss(y_test, raw.predict_proba(X_test))
    assert loss_tempered < loss_raw - 0.01


def test_temperature_minimises_the_log_loss_of_the_validation_rows():
    X, y = _data("binary")
    clf = _classifier(max_iter=40).fit(X, y)
    _, val_rows = clf._validation_rows(y, clf._random_seed)
    raw = _classifier(max_iter=40, uncertainty_calibration=None).fit(X, y)
    logits = _untempered_logits(raw, X[val_rows])

    def val_loss(temperature):
        return log_loss(y[val_rows], expit(logits / temperature))

    best = val_loss(clf.temperature_)
    assert best <= val_loss(1.0)
    assert best <= min(val_loss(clf.temperature_ * 1.05), val_loss(clf.temperature_ / 1.05))


@pytest.mark.parametrize("n_ensemble", [1, 3])
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_probabilities_are_the_logits_divided_by_the_temperature(target, n_ensemble):
    # For an ensemble, the logits are the log of the members' mean
    # probabilities; predict keeps its classes.
    X, y = _data(target)
    tempered = _classifier(n_ensemble=n_ensemble).fit(X, y)
    raw = _classifier(n_ensemble=n_ensemble, uncertainty_calibration=None).fit(X, y)
    T = tempered.temperature_
    assert abs(np.log(T)) > 0.01  # a temperature that changes something
    logits = _untempered_logits(raw, X)
    if target == "multiclass":
        expected = np.exp(log_softmax(logits / T, axis=1))
    elif target == "binary":
        positive = expit(logits / T)
        expected = np.column_stack([1 - positive, positive])
    else:
        expected = expit(logits / T)
    np.testing.assert_allclose(tempered.predict_proba(X), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        tempered.predict_log_proba(X), np.log(expected), rtol=1e-9, atol=1e-9
    )
    np.testing.assert_array_equal(tempered.predict(X), raw.predict(X))


def test_sample_weights_enter_the_held_out_log_loss():
    X, y = _data("binary")
    # Rows of class 1 weighted ten times: a different held-out loss to minimise.
    weight = np.where(y == 1, 10.0, 1.0)
    plain = _classifier().fit(X, y)
    weighted = _classifier().fit(X, y, sample_weight=weight)
    by_class = _classifier(class_weight={0: 1.0, 1: 10.0}).fit(X, y)
    assert weighted.temperature_ != pytest.approx(plain.temperature_, rel=1e-3)
    # class_weight multiplies sample_weight: the same fit.
    assert by_class.temperature_ == pytest.approx(weighted.temperature_, rel=1e-6)


def test_auto_calibrates_only_where_the_fit_holds_rows_out():
    X, y = _data(n_samples=1500)
    # early_stopping='auto' holds out rows from 1,000 samples.
    assert TorchMLPClassifier((16,), max_iter=20, random_state=0).fit(X, y).temperature_ != 1.0
    small = TorchMLPClassifier((16,), max_iter=20, random_state=0).fit(X[:500], y[:500])
    assert small.temperature_ == 1.0
    lbfgs = TorchMLPClassifier((16,), solver="lbfgs", max_iter=20, random_state=0).fit(X, y)
    assert lbfgs.temperature_ == 1.0


@pytest.mark.parametrize(
    "params",
    [{"early_stopping": False}, {"solver": "lbfgs"}, {"early_stopping": "auto"}],
    ids=["no-early-stopping", "lbfgs", "auto-on-500-rows"],
)
def test_temperature_without_held_out_rows_is_refused_before_training(params):
    X, y = _data(n_samples=500)
    clf = _classifier(uncertainty_calibration="temperature", **params)
    with pytest.raises(ValueError, match="holds out none.*early_stopping=True"):
        clf.fit(X, y)
    assert not hasattr(clf, "module_")


def test_partial_fit_resets_the_temperature():
    # The updated network is not the one the temperature was fitted for.
    X, y = _data()
    clf = _classifier(early_stopping="auto").fit(X, y)
    assert clf.temperature_ != 1.0
    raw = _classifier(early_stopping="auto", uncertainty_calibration=None).fit(X, y)
    clf.partial_fit(X, y)
    raw.partial_fit(X, y)
    assert clf.temperature_ == 1.0
    np.testing.assert_array_equal(clf.predict_proba(X), raw.predict_proba(X))


def test_partial_fit_is_unavailable_with_an_explicit_temperature():
    clf = _classifier(uncertainty_calibration="temperature", early_stopping=False)
    assert not hasattr(clf, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit") as excinfo:
        clf.partial_fit(*_data(n_samples=50), classes=[0, 1, 2])
    # scikit-learn's available_if chains the reason, shown in the traceback
    assert "holds out no rows" in str(excinfo.value.__cause__)
    assert not hasattr(clf, "n_iter_")


def test_warm_start_refits_the_temperature_or_resets_it():
    X, y = _data()
    clf = _classifier(warm_start=True).fit(X, y)
    first = clf.temperature_
    clf.set_params(max_iter=5).fit(X, y)  # early stopping: fitted again
    assert clf.temperature_ != first
    clf.set_params(early_stopping=False).fit(X, y)  # no rows held out
    assert clf.temperature_ == 1.0


def test_streamed_fit_calibrates_on_its_validation_rows():
    X, y = _data(n_samples=2000)
    dX, dy = da.from_array(X, chunks=500), da.from_array(y, chunks=500)
    tempered = _classifier().fit(dX, dy)
    raw = _classifier(uncertainty_calibration=None).fit(dX, dy)
    assert abs(np.log(tempered.temperature_)) > 0.01
    expected = np.exp(log_softmax(raw.predict_log_proba(X) / tempered.temperature_, axis=1))
    np.testing.assert_allclose(tempered.predict_proba(X), expected, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------- copies and formats
def test_clone_is_unfitted_and_pickle_keeps_the_temperature():
    X, y = _data()
    clf = _classifier().fit(X, y)
    assert not hasattr(clone(clf), "temperature_")
    copy = pickle.loads(pickle.dumps(clf))
    assert copy.temperature_ == clf.temperature_
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))


def test_safe_format_keeps_the_temperature(tmp_path):
    X, y = _data()
    clf = _classifier().fit(X, y)
    save(clf, tmp_path / "clf.safetensors")
    loaded = load(tmp_path / "clf.safetensors")
    assert loaded.temperature_ == clf.temperature_ != 1.0
    assert loaded.uncertainty_calibration == "auto"
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_model_saved_before_the_temperature_loads_uncalibrated():
    X, y = _data()
    clf = _classifier(uncertainty_calibration=None).fit(X, y)
    state = clf.__getstate__()
    del state["temperature_"], state["uncertainty_calibration"]
    old = TorchMLPClassifier.__new__(TorchMLPClassifier)
    old.__setstate__(state)
    assert old.temperature_ == 1.0 and old.uncertainty_calibration == "auto"
    np.testing.assert_array_equal(old.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("n_ensemble", [1, 3])
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_onnx_graph_applies_the_temperature(target, n_ensemble):
    X, y = _data(target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = _classifier(n_ensemble=n_ensemble).fit(X, y)
    assert abs(np.log(clf.temperature_)) > 0.01
    session = ort.InferenceSession(
        to_onnx(clf).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    label, proba = session.run(None, {"X": X.astype(np.float32)})
    expected = clf.predict_proba(X)
    # onnxruntime and torch sum in different orders: float32 roundings apart.
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-6)
    # Equal labels wherever the model is not torn between two.
    if target == "multilabel":
        clear = np.abs(expected - 0.5) > 1e-5
    else:
        top_two = np.sort(expected, axis=1)[:, -2:]
        clear = top_two[:, 1] - top_two[:, 0] > 1e-5
    np.testing.assert_array_equal(label[clear], clf.predict(X)[clear])
