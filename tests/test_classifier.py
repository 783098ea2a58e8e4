"""TorchMLPClassifier: targets, probabilities, class weights, attributes,
configurations, and agreement with logistic regression."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from sk_mlp import TorchMLPClassifier
from sk_mlp._nn.mlp import ACTIVATIONS


def _fit(clf, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(X, y, **fit_params)


def _easy_problem(n_classes=2):
    return make_classification(
        n_samples=150,
        n_features=4,
        n_informative=2,
        n_redundant=0,
        n_clusters_per_class=1,
        n_classes=n_classes,
        class_sep=2.0,
        random_state=0,
    )


@pytest.fixture
def multilabel_data():
    return make_multilabel_classification(n_samples=120, n_features=6, n_classes=3, random_state=0)


# -------------------------------------------------------------------- targets
def test_binary_target_gives_one_logistic_output_and_two_probability_columns(binary_data):
    X, y = binary_data
    clf = _fit(TorchMLPClassifier((8,), max_iter=30, learning_rate_init=0.02, random_state=0), X, y)
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    proba = clf.predict_proba(X)
    assert proba.shape == (len(y), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert clf.predict(X).shape == (len(y),)
    assert clf.score(X, y) > 0.85


def test_multiclass_target_uses_softmax_over_the_classes(classification_data):
    X, y = classification_data
    clf = TorchMLPClassifier((16,), max_iter=50, learning_rate_init=0.02, random_state=0)
    _fit(clf, X, y)
    assert clf.n_outputs_ == 3 and clf.out_activation_ == "softmax"
    proba = clf.predict_proba(X)
    assert proba.shape == (len(y), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, y) > 0.8


def test_multilabel_indicator_target_predicts_an_indicator_matrix(multilabel_data):
    X, Y = multilabel_data
    clf = TorchMLPClassifier((16,), max_iter=80, learning_rate_init=0.02, random_state=0)
    _fit(clf, X, Y)
    assert clf.n_outputs_ == 3 and clf.out_activation_ == "logistic"
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    proba = clf.predict_proba(X)
    assert proba.shape == Y.shape
    # labels are not exclusive: rows need not sum to one
    assert not np.allclose(proba.sum(axis=1), 1.0)
    prediction = clf.predict(X)
    assert prediction.shape == Y.shape
    np.testing.assert_array_equal(prediction, (proba > 0.5).astype(int))
    assert (prediction == Y).mean() > 0.8


@pytest.mark.parametrize(
    "labels",
    [np.array(["cat", "dog", "eel"]), np.array(["no", "yes"], dtype=object)],
    ids=["str-multiclass", "object-binary"],
)
def test_string_and_object_labels_round_trip(labels):
    X, y_int = _easy_problem(len(labels))
    y = labels[y_int]
    clf = TorchMLPClassifier((8,), max_iter=40, learning_rate_init=0.02, random_state=0)
    _fit(clf, X, y)
    np.testing.assert_array_equal(clf.classes_, np.sort(labels))
    prediction = clf.predict(X)
    assert set(prediction) <= set(labels)
    assert (prediction == y).mean() > 0.9


def test_predict_log_proba_is_the_log_of_predict_proba(classification_data, binary_data):
    for X, y in (classification_data, binary_data):
        clf = _fit(TorchMLPClassifier((8,), max_iter=10, random_state=0), X, y)
        np.testing.assert_allclose(
            clf.predict_log_proba(X), np.log(clf.predict_proba(X)), rtol=1e-6, atol=1e-7
        )


def test_confident_binary_log_proba_stays_finite():
    X, y = _easy_problem()
    clf = _fit(TorchMLPClassifier((32,), max_iter=200, learning_rate_init=0.05), X * 50, y)
    log_proba = clf.predict_log_proba(X * 50)
    assert np.isfinite(log_proba).all()


def _saturated_classifier(target, boost):
    """L-BFGS without penalty on separable data (outputs grow large), the last
    layer then multiplied by ``boost`` (logits in the thousands)."""
    X, y = _easy_problem(3 if target == "multiclass" else 2)
    if target == "multilabel":
        y = np.column_stack([y, 1 - y, X[:, 0] > 0]).astype(int)
    clf = _fit(
        TorchMLPClassifier((8,), solver="lbfgs", alpha=0.0, max_iter=50, random_state=0), X, y
    )
    head = [m for m in clf.module_.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        head.weight.mul_(boost)
        head.bias.mul_(boost)
    return clf, X * 3  # further from the decision boundary, too


SATURATION = pytest.mark.parametrize("boost", [1.0, 1e4], ids=["lbfgs", "boosted"])


@SATURATION
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_saturated_log_proba_is_the_log_of_proba(target, boost):
    clf, X = _saturated_classifier(target, boost)
    proba, log_proba = clf.predict_proba(X), clf.predict_log_proba(X)
    # no finite log-probability where the probability is exactly 0
    assert not np.any(np.isfinite(log_proba) & (proba == 0))
    assert not np.any(np.isnan(log_proba)) and not np.any(np.isnan(proba))
    positive = proba > 0
    np.testing.assert_allclose(log_proba[positive], np.log(proba[positive]), rtol=1e-9, atol=1e-12)


@SATURATION
@pytest.mark.parametrize("target", ["binary", "multilabel"])
def test_saturated_logistic_probabilities_stay_strictly_inside_zero_one(target, boost):
    clf, X = _saturated_classifier(target, boost)
    proba = clf.predict_proba(X)
    assert ((proba > 0) & (proba < 1)).all()
    if target == "binary":
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


def test_predict_of_a_single_row_equals_the_batch_prediction(classification_data):
    X, y = classification_data
    clf = _fit(TorchMLPClassifier((8,), max_iter=10, random_state=0), X, y)
    batch = clf.predict_proba(X)
    # Not bit for bit: BLAS may round a one-row product differently from a
    # 200-row one (padding to 16 rows does not make them equal for every width
    # on every CPU). scikit-learn's check_methods_subset_invariance asks atol=1e-7.
    np.testing.assert_allclose(clf.predict_proba(X[3:4]), batch[3:4], rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------- class weights
def _imbalanced():
    return make_classification(
        n_samples=200,
        n_features=4,
        n_informative=2,
        n_redundant=0,
        weights=[0.9, 0.1],
        class_sep=0.5,
        flip_y=0.05,
        random_state=0,
    )


@pytest.mark.parametrize("class_weight", ["balanced", {0: 1.0, 1: 9.0}])
def test_class_weight_shifts_decisions_towards_the_minority_class(class_weight):
    X, y = _imbalanced()
    params = dict(hidden_layer_sizes=(8,), max_iter=100, learning_rate_init=0.02, random_state=0)
    plain = _fit(TorchMLPClassifier(**params), X, y)
    weighted = _fit(TorchMLPClassifier(class_weight=class_weight, **params), X, y)
    n_plain, n_weighted = (plain.predict(X) == 1).sum(), (weighted.predict(X) == 1).sum()
    assert n_weighted > 1.5 * n_plain
    recall = lambda clf: (clf.predict(X)[y == 1] == 1).mean()  # noqa: E731
    assert recall(weighted) > recall(plain)


def test_class_weight_equals_the_matching_sample_weight():
    X, y = _imbalanced()
    params = dict(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    by_class = _fit(TorchMLPClassifier(class_weight={0: 1.0, 1: 3.0}, **params), X, y)
    by_sample = _fit(TorchMLPClassifier(**params), X, y, sample_weight=np.where(y == 1, 3.0, 1.0))
    np.testing.assert_allclose(
        by_class.predict_proba(X), by_sample.predict_proba(X), rtol=1e-5, atol=1e-6
    )


# ---------------------------------------------------------------- partial_fit
def test_balanced_class_weight_with_partial_fit_raises_and_says_what_to_do():
    """One batch cannot tell the class frequencies, so 'balanced' is refused
    and a way to compute them is given. As for solver='lbfgs', partial_fit is
    then unavailable (an AttributeError, so that hasattr tells callers)."""
    X, y = _imbalanced()
    clf = TorchMLPClassifier((8,), class_weight="balanced", random_state=0)
    assert not hasattr(clf, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit") as excinfo:
        clf.partial_fit(X, y, classes=[0, 1])
    # scikit-learn's available_if chains the reason, shown in the traceback
    reason = str(excinfo.value.__cause__)
    assert "class_weight='balanced'" in reason and "compute_class_weight" in reason
    assert not hasattr(clf, "n_iter_")


def test_dict_class_weight_with_partial_fit_equals_the_matching_sample_weight():
    X, y = _imbalanced()
    params = dict(hidden_layer_sizes=(8,), dropout=0.0, shuffle=False, random_state=0)
    by_class = TorchMLPClassifier(class_weight={0: 1.0, 1: 3.0}, **params)
    by_sample = TorchMLPClassifier(**params)
    for _ in range(3):
        by_class.partial_fit(X, y, classes=[0, 1])
        by_sample.partial_fit(X, y, classes=[0, 1], sample_weight=np.where(y == 1, 3.0, 1.0))
    np.testing.assert_allclose(
        by_class.predict_proba(X), by_sample.predict_proba(X), rtol=1e-5, atol=1e-6
    )
    unweighted = TorchMLPClassifier(**params)
    for _ in range(3):
        unweighted.partial_fit(X, y, classes=[0, 1])
    assert not np.allclose(unweighted.predict_proba(X), by_class.predict_proba(X))


def test_partial_fit_requires_classes_on_the_first_call(binary_data):
    X, y = binary_data
    with pytest.raises(ValueError, match="classes"):
        TorchMLPClassifier().partial_fit(X, y)


def test_partial_fit_learns_classes_missing_from_the_first_batch(classification_data):
    X, y = classification_data
    clf = TorchMLPClassifier((8,), random_state=0)
    first = y != 2
    clf.partial_fit(X[first], y[first], classes=[0, 1, 2])
    assert clf.predict_proba(X).shape == (len(y), 3)
    clf.partial_fit(X, y)  # classes may be omitted later
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])


def test_partial_fit_rejects_classes_not_seen_on_the_first_call(classification_data):
    X, y = classification_data
    clf = TorchMLPClassifier((8,), random_state=0)
    clf.partial_fit(X[y != 2], y[y != 2], classes=[0, 1])
    with pytest.raises(ValueError, match="not seen"):
        clf.partial_fit(X, y)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X[y != 2], y[y != 2], classes=[0, 1, 2])


def test_partial_fit_accepts_multilabel_without_classes(multilabel_data):
    X, Y = multilabel_data
    clf = TorchMLPClassifier((8,), random_state=0).partial_fit(X, Y)
    assert clf.predict(X).shape == Y.shape


# ---------------------------------------------- attributes like scikit-learn's
@pytest.mark.parametrize("hidden_layer_sizes", [(), (7,), (5, 4)])
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_coefs_and_intercepts_have_scikit_learn_shapes(hidden_layer_sizes, target):
    if target == "multilabel":
        X, y = make_multilabel_classification(n_samples=60, n_features=6, random_state=0)
    else:
        X, y = make_classification(
            n_samples=60,
            n_features=6,
            n_informative=4,
            n_classes=2 if target == "binary" else 3,
            random_state=0,
        )
    params = dict(hidden_layer_sizes=hidden_layer_sizes, max_iter=2, random_state=0)
    ours = _fit(TorchMLPClassifier(**params), X, y)
    theirs = _fit(MLPClassifier(**params), X, y)
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in theirs.intercepts_]
    assert ours.n_layers_ == theirs.n_layers_ == len(hidden_layer_sizes) + 2
    assert ours.n_outputs_ == theirs.n_outputs_
    assert ours.out_activation_ == theirs.out_activation_
    assert ours.n_features_in_ == 6
    assert ours.t_ == theirs.t_ == 2 * len(X)


def test_coefs_are_copies_of_the_network_weights(binary_data):
    X, y = binary_data
    clf = _fit(TorchMLPClassifier((4,), max_iter=2, random_state=0), X, y)
    clf.coefs_[0][:] = 0.0
    assert np.abs(clf.coefs_[0]).sum() > 0


def test_cross_entropy_is_an_alias_of_log_loss(classification_data):
    X, y = classification_data
    params = dict(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    a = _fit(TorchMLPClassifier(loss="cross_entropy", **params), X, y)
    b = _fit(TorchMLPClassifier(loss="log_loss", **params), X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


# ----------------------------------------------------------- configurations
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_fits_an_easy_problem(activation):
    X, y = _easy_problem()
    clf = TorchMLPClassifier((16,), activation=activation, max_iter=60, learning_rate_init=0.02)
    _fit(clf.set_params(random_state=0), X, y)
    assert clf.score(X, y) > 0.9


@pytest.mark.parametrize("normalization", ["batch", "layer"])
def test_normalization_layers_fit_and_predict_deterministically(normalization):
    X, y = _easy_problem(3)
    clf = TorchMLPClassifier(
        (16,), normalization=normalization, batch_size=32, max_iter=20, learning_rate_init=0.01
    )
    _fit(clf.set_params(random_state=0), X, y)
    assert clf.score(X, y) > 0.9
    # eval mode at prediction: batch statistics do not leak between rows (a leak
    # moves probabilities by far more than float32 rounding)
    np.testing.assert_allclose(
        clf.predict_proba(X[:5]), clf.predict_proba(X)[:5], rtol=1e-5, atol=1e-6
    )


def test_dropout_is_active_in_training_and_off_at_prediction():
    X, y = _easy_problem()
    params = dict(hidden_layer_sizes=(32,), max_iter=60, learning_rate_init=0.02, random_state=0)
    clf = _fit(TorchMLPClassifier(dropout=0.5, **params), X, y)
    assert clf.score(X, y) > 0.9
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))
    no_dropout = _fit(TorchMLPClassifier(dropout=0.0, **params), X, y)
    # dropout noise makes the training loss higher than without it
    assert clf.loss_ > no_dropout.loss_


@pytest.mark.parametrize(
    "solver, params",
    [
        ("adam", {"learning_rate_init": 0.01}),
        ("adamw", {"learning_rate_init": 0.01}),
        ("sgd", {"learning_rate_init": 0.1}),
        ("lbfgs", {}),
    ],
)
def test_every_solver_reaches_good_accuracy_on_an_easy_problem(solver, params):
    X, y = _easy_problem(3)
    clf = _fit(
        TorchMLPClassifier((16,), solver=solver, max_iter=50, random_state=0, **params), X, y
    )
    assert clf.score(X, y) > 0.95


# --------------------------------------------------------------------- oracle
def _logistic_data(n_classes):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    logits = X @ rng.normal(size=(3, n_classes)) + rng.normal(size=n_classes)
    if n_classes == 1:
        y = (rng.uniform(size=200) < 1 / (1 + np.exp(-logits[:, 0]))).astype(int)
    else:
        y = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)
    return X, y


@pytest.mark.parametrize("n_classes", [1, 3], ids=["binary", "multinomial"])
def test_no_hidden_layer_matches_unpenalised_logistic_regression(n_classes):
    X, y = _logistic_data(n_classes)
    clf = TorchMLPClassifier(
        hidden_layer_sizes=(),
        preprocessing=None,
        alpha=0.0,
        solver="lbfgs",
        max_iter=300,
        random_state=0,
    )
    _fit(clf, X, y)
    reference = LogisticRegression(C=1e8, tol=1e-10, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), reference.predict_proba(X), atol=1e-3)
    if n_classes == 1:
        np.testing.assert_allclose(
            clf.coefs_[0].ravel(), reference.coef_.ravel(), rtol=1e-3, atol=1e-3
        )
        np.testing.assert_allclose(clf.intercepts_[0], reference.intercept_, atol=1e-3)


def test_no_hidden_layer_trained_by_adam_matches_logistic_regression():
    X, y = _logistic_data(1)
    clf = TorchMLPClassifier(
        hidden_layer_sizes=(),
        preprocessing=None,
        alpha=0.0,
        learning_rate_init=0.05,
        batch_size=200,
        max_iter=300,
        n_iter_no_change=np.inf,
        random_state=0,
    )
    _fit(clf, X, y)
    reference = LogisticRegression(C=1e8, tol=1e-10, max_iter=1000).fit(X, y)
    # measured: 5e-8 (float32 training)
    np.testing.assert_allclose(clf.predict_proba(X), reference.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("other_classes", [[0, 1], [0, 1, 3], [0, 1, 2, 3]])
def test_warm_start_on_other_classes_raises_and_changes_nothing(other_classes):
    X, y = make_classification(
        n_samples=120, n_features=5, n_informative=3, n_classes=3, random_state=0
    )
    clf = _fit(TorchMLPClassifier((8,), warm_start=True, max_iter=3, random_state=0), X, y)
    curve, proba = list(clf.loss_curve_), clf.predict_proba(X)
    y_other = np.asarray(other_classes)[np.arange(len(y)) % len(other_classes)]
    message = "warm_start can only be used where `y` has the same classes as in the previous"
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y_other)
    assert clf.loss_curve_ == curve
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    _fit(clf, X, y[::-1])  # the same classes in another order continue
    assert len(clf.loss_curve_) == 6
