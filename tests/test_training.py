"""The training loop seen through the estimators: weights, seeds, stopping,
schedules, solvers, incremental fitting, failures and progress reports."""

import contextlib
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from torch.optim.optimizer import register_optimizer_step_post_hook

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor

# Short fits are intended here.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _small_classification(n_samples=60):
    return make_classification(n_samples=n_samples, n_features=5, random_state=0)


def _small_regression(n_samples=60):
    return make_regression(n_samples=n_samples, n_features=5, noise=1.0, random_state=0)


def _data_for(estimator_class, n_samples=60):
    if estimator_class is TorchMLPClassifier:
        return _small_classification(n_samples)
    return _small_regression(n_samples)


def _outputs(estimator, X):
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(X)
    return estimator.predict(X)


def _fit_quietly(estimator, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **fit_params)


@pytest.fixture
def lr_trace():
    """The learning rate of every optimizer step taken while the test runs."""
    rates = []
    handle = register_optimizer_step_post_hook(
        lambda optimizer, args, kwargs: rates.append(optimizer.param_groups[0]["lr"])
    )
    yield rates
    handle.remove()


# ------------------------------------------------------------- sample weights
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("alpha", [1e-4, 1.0])
@pytest.mark.parametrize("preprocessing", ["robust", None])
@pytest.mark.parametrize("estimator_class", [TorchMLPClassifier, TorchMLPRegressor])
def test_sample_weight_equals_repetition(estimator_class, preprocessing, alpha, sparse):
    """Integer weights fit the same model as repeating the rows.

    One full batch (at most 200 rows, batch_size='auto') makes both fits take
    the same optimizer steps; only float32 summation order differs. The
    penalty (alpha) and the robust input statistics must count a weight-k row
    as k rows too.
    """
    X, y = _data_for(estimator_class, n_samples=40)
    weight = np.random.RandomState(0).randint(0, 4, size=len(y))
    X_repeated, y_repeated = np.repeat(X, weight, axis=0), np.repeat(y, weight)
    assert weight.sum() <= 200
    if sparse:
        X, X_repeated = sp.csr_matrix(X), sp.csr_matrix(X_repeated)
    params = dict(
        hidden_layer_sizes=(8,),
        solver="adam",
        alpha=alpha,
        preprocessing=preprocessing,
        dropout=0.0,  # masks are drawn per row position, so they differ by design
        max_iter=30,
        random_state=0,
    )
    weighted = _fit_quietly(estimator_class(**params), X, y, sample_weight=weight)
    repeated = _fit_quietly(estimator_class(**params), X_repeated, y_repeated)
    expected = _outputs(repeated, X)
    np.testing.assert_allclose(
        _outputs(weighted, X), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max()
    )


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("preprocessing", ["robust", None])
@pytest.mark.parametrize("estimator_class", [TorchMLPClassifier, TorchMLPRegressor])
def test_zero_weight_rows_fit_the_same_model_as_dropping_them(
    estimator_class, preprocessing, solver
):
    """Whatever their targets: a zero-weight row with y=1e25 must not reach the
    loss (0 * inf is NaN) nor the target statistics.

    One full batch without shuffling or dropout makes both fits take the same
    steps; only float32 summation order differs (measured: 1e-8 to 2e-7 of the
    scale of the outputs, 20x inside the tolerance).
    """
    X, y = _data_for(estimator_class, n_samples=90)
    weight = np.ones(len(y))
    weight[::3] = 0
    y_garbage = y.copy()
    if estimator_class is TorchMLPClassifier:
        y_garbage[::3] = 1 - y[::3]
    else:
        y_garbage[::3] = np.where(np.arange(30) % 2, 1e25, -1e25)
    params = dict(
        hidden_layer_sizes=(8,),
        solver=solver,
        preprocessing=preprocessing,
        dropout=0.0,
        shuffle=False,
        max_iter=20,
        random_state=0,
    )
    weighted = _fit_quietly(estimator_class(**params), X, y_garbage, sample_weight=weight)
    dropped = _fit_quietly(estimator_class(**params), X[weight > 0], y[weight > 0])
    scale = 1.0 if estimator_class is TorchMLPClassifier else y.std()
    np.testing.assert_allclose(weighted.loss_curve_, dropped.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(
        _outputs(weighted, X), _outputs(dropped, X), rtol=1e-5, atol=1e-6 * scale
    )


def test_zero_weight_rows_of_a_frame_fit_the_same_model_as_dropping_them():
    """The frame stage too: the medians that replace missing numbers, the
    missing indicators and the category maps ignore rows of weight zero."""
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        {
            "x": rng.normal(size=60),
            "z": np.where(rng.rand(60) < 0.2, np.nan, rng.lognormal(size=60)),
            "c": rng.choice(["a", "b", "c"], size=60),
        }
    )
    y = (X["x"] > 0).to_numpy().astype(int)
    weight = np.ones(60)
    weight[::4] = 0
    X_garbage = X.copy()
    X_garbage.loc[::4, "z"] = np.nan  # missing only in zero-weight rows...
    X_garbage.loc[::4, "c"] = "unseen"  # ...and a category only there
    X_garbage.loc[::4, "x"] = 1e6
    kept = weight > 0
    params = dict(hidden_layer_sizes=(8,), dropout=0.0, shuffle=False, max_iter=20, random_state=0)
    weighted = _fit_quietly(TorchMLPClassifier(**params), X_garbage, y, sample_weight=weight)
    dropped = _fit_quietly(TorchMLPClassifier(**params), X[kept], y[kept])
    np.testing.assert_allclose(weighted.loss_curve_, dropped.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(
        weighted.predict_proba(X), dropped.predict_proba(X), rtol=1e-5, atol=1e-6
    )


# ------------------------------------------------------------- early stopping
def _overfitting_classifier(**params):
    """Noisy labels and a wide network: validation log loss rises after a while."""
    return TorchMLPClassifier(
        hidden_layer_sizes=(64,),
        learning_rate_init=0.01,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=1000,  # never stop early: run past the best epoch
        random_state=0,
        **params,
    )


def test_early_stopping_best_validation_score_is_the_max_of_the_curve():
    X, y = make_classification(n_samples=150, n_features=8, flip_y=0.3, random_state=0)
    clf = _fit_quietly(_overfitting_classifier(max_iter=40), X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ == 40
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None


def test_early_stopping_restores_the_weights_of_the_best_epoch():
    """Training is deterministic, so a second fit stopped right after the best
    epoch ends on that epoch's weights; the first fit, which ran on past its
    best epoch, must predict exactly as the second does."""
    X, y = make_classification(n_samples=150, n_features=8, flip_y=0.3, random_state=0)
    long_run = _fit_quietly(_overfitting_classifier(max_iter=40), X, y)
    scores = np.asarray(long_run.validation_scores_)
    best_epoch = int(scores.argmax()) + 1
    assert best_epoch < len(scores), "the setup must overfit for the test to mean anything"
    assert scores[-1] < scores.max()

    truncated = _fit_quietly(_overfitting_classifier(max_iter=best_epoch), X, y)
    np.testing.assert_array_equal(truncated.validation_scores_, scores[:best_epoch])
    np.testing.assert_array_equal(long_run.predict_proba(X), truncated.predict_proba(X))
    # loss_curve_ still records every epoch that ran
    assert len(long_run.loss_curve_) == len(scores)


def _validation_rows_seen(estimator, X, y):
    """Fit ``estimator`` with a ``module=`` whose first layer records the rows
    of the first evaluation-mode pass after training began: the validation split."""
    seen, trained = [], []

    def factory(n_features, n_outputs):
        network = torch.nn.Sequential(
            torch.nn.Linear(n_features, 4), torch.nn.ReLU(), torch.nn.Linear(4, n_outputs)
        )

        def record(layer, args):
            if layer.training:
                trained.append(True)
            elif trained and not seen:
                seen.append(args[0][:, 0].detach().numpy().astype(int))

        network[0].register_forward_pre_hook(record)
        return network

    X = np.column_stack([np.arange(len(X), dtype=float), X])  # column 0: the row id
    estimator.set_params(module=factory, preprocessing=None, max_iter=1)
    _fit_quietly(estimator, X, y)
    return seen[0]


@pytest.mark.parametrize("random_state", range(5))
def test_early_stopping_split_is_stratified_for_classification(random_state):
    """Each class gets its share of the validation rows, to within one row (a
    plain random split misses the shares by several rows)."""
    rng = np.random.RandomState(0)
    y = rng.permutation(np.repeat([0, 1, 2], [180, 90, 30]))
    X = rng.normal(size=(300, 2))
    clf = TorchMLPClassifier(
        early_stopping=True, validation_fraction=0.2, random_state=random_state
    )
    rows = _validation_rows_seen(clf, X, y)
    assert len(rows) == len(set(rows)) == 60
    counts = np.bincount(y[rows], minlength=3)
    np.testing.assert_allclose(counts, [36, 18, 6], atol=1)


def test_early_stopping_on_a_constant_target_stalls_and_stops():
    # R^2 of a constant target is 0 (1 if predicted exactly), as in r2_score:
    # no epoch improves on it, so training stops after n_iter_no_change.
    X, _ = _small_regression(40)
    reg = TorchMLPRegressor((4,), early_stopping=True, n_iter_no_change=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg.fit(X, np.full(40, 3.0))
    assert reg.n_iter_ == 5
    assert set(reg.validation_scores_) <= {0.0, 1.0}


def test_early_stopping_stops_after_n_iter_no_change_epochs_without_improvement():
    X, y = _small_regression(100)
    reg = TorchMLPRegressor(
        (8,), early_stopping=True, tol=1e6, n_iter_no_change=3, max_iter=100, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg.fit(X, y)
    # epoch 1 sets the best score; epochs 2..5 fail to beat it by tol: 4 > 3
    assert reg.n_iter_ == 5


# ---------------------------------------------------- n_iter_no_change / tol
@pytest.mark.parametrize("n_iter_no_change", [2, 5])
def test_training_stops_when_loss_does_not_improve_by_tol(n_iter_no_change):
    from sklearn.neural_network import MLPClassifier

    X, y = _small_classification()
    params = dict(hidden_layer_sizes=(8,), tol=1e3, n_iter_no_change=n_iter_no_change, max_iter=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = TorchMLPClassifier(random_state=0, **params).fit(X, y)
    reference = MLPClassifier(random_state=0, **params).fit(X, y)
    assert ours.n_iter_ == n_iter_no_change + 2 == reference.n_iter_
    assert len(ours.loss_curve_) == ours.n_iter_


def test_infinite_n_iter_no_change_never_stops_early():
    X, y = _small_classification()
    clf = TorchMLPClassifier((8,), tol=1e3, n_iter_no_change=np.inf, max_iter=12, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.n_iter_ == 12


def test_convergence_warning_when_max_iter_is_reached():
    X, y = _small_regression()
    reg = TorchMLPRegressor((8,), max_iter=3, tol=0.0, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\)"):
        reg.fit(X, y)
    assert reg.n_iter_ == 3


def test_best_loss_tracks_the_minimum_training_loss():
    X, y = _small_regression()
    reg = _fit_quietly(TorchMLPRegressor((8,), max_iter=10, random_state=0), X, y)
    assert reg.best_loss_ == min(reg.loss_curve_)
    assert reg.loss_ == reg.loss_curve_[-1]
    assert reg.validation_scores_ is None and reg.best_validation_score_ is None


# ------------------------------------------------------ learning-rate schedules
def _schedule_fit(learning_rate, n_samples=50, **params):
    X, y = _small_regression(n_samples)
    reg = TorchMLPRegressor(
        (4,),
        solver="sgd",
        learning_rate=learning_rate,
        learning_rate_init=0.01,
        batch_size=n_samples,  # one step per epoch: the trace is per epoch
        random_state=0,
        **params,
    )
    return _fit_quietly(reg, X, y)


def test_constant_learning_rate_never_changes(lr_trace):
    _schedule_fit("constant", max_iter=6)
    assert lr_trace == [0.01] * 6


def test_invscaling_decays_with_samples_seen(lr_trace):
    n = 50
    _schedule_fit("invscaling", n_samples=n, max_iter=6, power_t=0.5)
    expected = [0.01 / (epoch * n + 1) ** 0.5 for epoch in range(6)]
    np.testing.assert_allclose(lr_trace, expected, rtol=1e-12)


def test_cosine_anneals_from_learning_rate_init_towards_zero_over_max_iter(lr_trace):
    _schedule_fit("cosine", max_iter=8, tol=0.0)
    expected = [0.01 * 0.5 * (1 + np.cos(np.pi * epoch / 8)) for epoch in range(8)]
    np.testing.assert_allclose(lr_trace, expected, rtol=1e-12)
    assert lr_trace[0] == 0.01 and all(np.diff(lr_trace) < 0)


def test_adaptive_divides_the_rate_by_five_when_training_stalls(lr_trace):
    # tol so large that every epoch counts as no improvement
    reg = _schedule_fit("adaptive", max_iter=12, tol=1e6, n_iter_no_change=2)
    distinct = sorted(set(lr_trace), reverse=True)
    assert len(distinct) >= 3
    np.testing.assert_allclose(np.array(distinct[:-1]) / np.array(distinct[1:]), 5.0)
    # the first reduction comes once n_iter_no_change is exceeded (epoch 4)
    assert lr_trace[:4] == [0.01] * 4 and lr_trace[4] == pytest.approx(0.002)
    assert reg.n_iter_ == 12  # adaptive reduces the rate instead of stopping


def test_adaptive_stops_once_the_rate_falls_below_1e_6(lr_trace):
    reg = _schedule_fit("adaptive", max_iter=200, tol=1e6, n_iter_no_change=1)
    assert reg.n_iter_ < 200
    assert min(lr_trace) <= 1e-6 < min(lr_trace) * 5


@pytest.mark.parametrize("solver", ["adam", "adamw"])
def test_schedules_apply_to_adaptive_optimizers_too(solver, lr_trace):
    X, y = _small_regression(50)
    reg = TorchMLPRegressor(
        (4,), solver=solver, learning_rate="cosine", max_iter=4, batch_size=50, random_state=0
    )
    _fit_quietly(reg, X, y)
    assert lr_trace[0] == reg.learning_rate_init and lr_trace[-1] < lr_trace[0]


# --------------------------------------------------------------------- lbfgs
def test_lbfgs_converges_on_a_small_separable_problem():
    X, y = make_classification(
        n_samples=100, n_features=4, n_informative=2, n_redundant=0, class_sep=2, random_state=0
    )
    clf = TorchMLPClassifier((8,), solver="lbfgs", max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.n_iter_ < 300
    assert clf.score(X, y) == 1.0
    assert clf.loss_ < 0.01


def test_lbfgs_honours_max_iter_and_warns():
    X, y = _small_regression()
    reg = TorchMLPRegressor((8,), solver="lbfgs", max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning):
        reg.fit(X, y)
    assert reg.n_iter_ == 3 == len(reg.loss_curve_)


def test_lbfgs_honours_max_fun():
    X, y = _small_classification(150)
    calls = []

    def counting_module(n_features, n_outputs):
        net = torch.nn.Sequential(
            torch.nn.Linear(n_features, 8), torch.nn.ReLU(), torch.nn.Linear(8, n_outputs)
        )
        net.register_forward_hook(lambda module, args, output: calls.append(1))
        return net

    clf = TorchMLPClassifier(
        solver="lbfgs", max_fun=10, max_iter=1000, module=counting_module, random_state=0
    )
    _fit_quietly(clf, X, y)
    assert clf.n_iter_ <= 10
    # each function evaluation is one forward pass (the data is one chunk);
    # a single L-BFGS step may finish its line search past the budget
    assert len(calls) <= 10 + 25


def test_lbfgs_warns_when_max_fun_is_reached():
    """As scikit-learn's MLP does: running out of function evaluations is not
    convergence."""
    X, y = _small_classification(150)
    clf = TorchMLPClassifier((8,), solver="lbfgs", max_fun=5, max_iter=1000, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.n_iter_ < 1000


# ------------------------------------------------- partial_fit and warm_start
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_warm_start_n_iter_counts_the_last_fit_only(solver):
    X, y = _small_regression()
    reg = TorchMLPRegressor(
        (8,), solver=solver, warm_start=True, max_iter=3, n_iter_no_change=np.inf, random_state=0
    )
    _fit_quietly(reg, X, y)
    _fit_quietly(reg, X, y)
    assert (reg.n_iter_, len(reg.loss_curve_), reg.t_) == (3, 6, 6 * len(y))
    _fit_quietly(reg.set_params(max_iter=5), X, y)
    assert (reg.n_iter_, len(reg.loss_curve_)) == (5, 11)


def test_partial_fit_runs_one_epoch_per_call_and_continues_the_history():
    X, y = _small_regression()
    reg = TorchMLPRegressor((8,), dropout=0.0, random_state=0)
    reg.partial_fit(X, y)
    first_curve = list(reg.loss_curve_)
    assert (reg.n_iter_, reg.t_, len(reg.loss_curve_)) == (1, len(y), 1)
    reg.partial_fit(X, y)
    reg.partial_fit(X, y)
    # n_iter_ counts the last call's epochs, as in scikit-learn.
    assert (reg.n_iter_, reg.t_, len(reg.loss_curve_)) == (1, 3 * len(y), 3)
    assert reg.loss_curve_[:1] == first_curve
    assert reg.loss_curve_[-1] < reg.loss_curve_[0]


@pytest.mark.parametrize("estimator_class", [TorchMLPClassifier, TorchMLPRegressor])
def test_partial_fit_calls_match_fit_epochs_with_optimizer_state_carried_over(estimator_class):
    X, y = _data_for(estimator_class)
    params = dict(hidden_layer_sizes=(8,), shuffle=False, dropout=0.0, random_state=0)
    incremental = estimator_class(**params)
    fit_params = {"classes": np.unique(y)} if estimator_class is TorchMLPClassifier else {}
    for _ in range(3):
        incremental.partial_fit(X, y, **fit_params)
    full = _fit_quietly(estimator_class(max_iter=3, **params), X, y)
    np.testing.assert_allclose(incremental.loss_curve_, full.loss_curve_, rtol=1e-6)
    np.testing.assert_allclose(_outputs(incremental, X), _outputs(full, X), rtol=1e-5, atol=1e-6)


def test_partial_fit_does_not_warn_about_convergence():
    X, y = _small_regression()
    reg = TorchMLPRegressor((8,), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg.partial_fit(X, y)
        reg.partial_fit(X, y)


def test_partial_fit_is_unavailable_for_lbfgs():
    assert not hasattr(TorchMLPRegressor(solver="lbfgs"), "partial_fit")
    assert not hasattr(TorchMLPClassifier(solver="lbfgs"), "partial_fit")
    assert hasattr(TorchMLPRegressor(solver="sgd"), "partial_fit")


def test_warm_start_continues_from_the_previous_weights():
    X, y = _small_regression()
    # No dropout: its noise would blur the comparison of successive losses.
    reg = TorchMLPRegressor((8,), max_iter=5, warm_start=True, dropout=0.0, random_state=0)
    reg = _fit_quietly(reg, X, y)
    first_curve = list(reg.loss_curve_)
    coefs = reg.coefs_
    _fit_quietly(reg, X, y)
    assert reg.n_iter_ == 5 and len(reg.loss_curve_) == 10
    assert reg.loss_curve_[:5] == first_curve
    # a fresh start would begin at the first curve's initial loss again
    assert reg.loss_curve_[5] < first_curve[0]
    assert reg.loss_curve_[5] < first_curve[-1] * 1.01
    assert not np.array_equal(coefs[0], reg.coefs_[0])


def test_without_warm_start_refit_starts_from_scratch():
    X, y = _small_regression()
    reg = _fit_quietly(TorchMLPRegressor((8,), max_iter=5, random_state=0), X, y)
    first = (list(reg.loss_curve_), reg.predict(X))
    _fit_quietly(reg, X, y)
    assert reg.n_iter_ == 5
    assert reg.loss_curve_ == first[0]
    np.testing.assert_array_equal(reg.predict(X), first[1])


# ------------------------------------------------------ non-finite training loss
def _assert_unchanged(estimator, coefs, intercepts, n_iter, X, prediction):
    for before, after in zip(coefs + intercepts, estimator.coefs_ + estimator.intercepts_):
        np.testing.assert_array_equal(before, after)
    assert estimator.n_iter_ == n_iter
    np.testing.assert_array_equal(estimator.predict(X), prediction)


@pytest.mark.parametrize(
    "bad_params, scale_X",
    [
        ({"solver": "sgd", "learning_rate_init": 1e10}, 1.0),
        ({"learning_rate_init": 1e10}, 1.0),
        ({"preprocessing": None}, 1e30),
    ],
    ids=["sgd-huge-lr", "adam-huge-lr", "unscaled-huge-X"],
)
def test_non_finite_loss_raises_and_leaves_the_fitted_estimator_unchanged(bad_params, scale_X):
    X, y = _small_regression()
    y = y * 1e4
    reg = _fit_quietly(TorchMLPRegressor((8,), max_iter=5, random_state=0), X, y)
    state = (reg.coefs_, reg.intercepts_, reg.n_iter_, X, reg.predict(X))
    reg.set_params(**bad_params)
    with pytest.raises(ValueError, match="loss became") as excinfo:
        _fit_quietly(reg, X * scale_X, y)
    message = str(excinfo.value)
    assert "learning_rate_init" in message and "scale the inputs" in message
    _assert_unchanged(reg, *state)


def test_non_finite_loss_message_starts_with_scikit_learns():
    X, y = _small_regression()
    reg = TorchMLPRegressor((8,), solver="sgd", learning_rate_init=1e10, random_state=0)
    with pytest.raises(ValueError, match="^Solver produced non-finite parameter weights"):
        _fit_quietly(reg, X, y * 1e4)


def test_divergence_under_early_stopping_keeps_the_best_epoch_and_warns():
    # As scikit-learn's MLP since its issue 29504: the fit ends at the first
    # non-finite epoch, scored NaN, with the weights of the best epoch.
    X, y = _small_regression(200)
    params = dict(solver="sgd", early_stopping=True, preprocessing=None, random_state=0)
    params.update(hidden_layer_sizes=(32,), activation="identity", learning_rate_init=0.3)
    with pytest.warns(ConvergenceWarning, match="loss became .* best validation score"):
        reg = TorchMLPRegressor(max_iter=50, **params).fit(X, y / 10)
    scores = reg.validation_scores_
    assert np.isnan(scores[-1]) and not np.isfinite(reg.loss_curve_[-1])
    assert len(scores) == len(reg.loss_curve_) == reg.n_iter_ < 50
    assert reg.best_validation_score_ == np.nanmax(scores) > 0.9
    best_epoch = int(np.nanargmax(scores)) + 1
    # The same fit, stopped before it diverged.
    best = TorchMLPRegressor(max_iter=best_epoch, n_iter_no_change=np.inf, **params)
    _fit_quietly(best, X, y / 10)
    np.testing.assert_allclose(reg.predict(X), best.predict(X), rtol=1e-6, atol=1e-6)


def test_non_finite_loss_during_partial_fit_leaves_the_estimator_unchanged():
    X, y = _small_regression()
    # (the optimizer, its rate included, carries over between partial_fit
    # calls as in scikit-learn, so the rate is set from the start)
    reg = TorchMLPRegressor((8,), solver="sgd", learning_rate_init=1e10, random_state=0)
    reg.partial_fit(X, y)  # the first epoch's loss is taken before the step explodes
    with pytest.raises(ValueError, match="learning_rate_init"):
        for _ in range(10):
            # the call that fails must leave the state of the last call that worked
            state = (reg.coefs_, reg.intercepts_, reg.n_iter_, X, reg.predict(X))
            curve = list(reg.loss_curve_)
            reg.partial_fit(X, y)
    _assert_unchanged(reg, *state)
    assert reg.loss_curve_ == curve


def test_non_finite_loss_on_first_fit_leaves_the_estimator_unfitted():
    from sklearn.utils.validation import check_is_fitted

    X, y = _small_regression()
    reg = TorchMLPRegressor((8,), solver="sgd", learning_rate_init=1e10, random_state=0)
    with pytest.raises(ValueError, match="learning_rate_init"):
        reg.fit(X, y)
    assert not hasattr(reg, "n_features_in_")
    with pytest.raises(Exception, match="not fitted"):
        check_is_fitted(reg)


# ------------------------------------------------------------------- Ctrl-C
INTERRUPTED = "Training interrupted by user."  # scikit-learn's MLP warning


@contextlib.contextmanager
def _ctrl_c_at_optimizer_step(step):
    """Raise KeyboardInterrupt right after the ``step``-th optimizer step."""
    count = []

    def hook(optimizer, args, kwargs):
        count.append(1)
        if len(count) == step:
            raise KeyboardInterrupt

    handle = register_optimizer_step_post_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _fit_through_ctrl_c(model, X, y):
    """Fit, expecting the interruption to be caught and reported by a warning.
    A KeyboardInterrupt that escapes fails the test, not the whole session."""
    try:
        with pytest.warns(UserWarning, match=re.escape(INTERRUPTED)):
            _fit_quietly(model, X, y)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped fit")
    return model


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("estimator_class", [TorchMLPClassifier, TorchMLPRegressor])
def test_ctrl_c_keeps_the_epochs_trained_so_far(estimator_class, solver):
    """As scikit-learn's MLP: fit warns and returns a fitted model. One step per
    epoch (or L-BFGS iteration): Ctrl-C in step 5 leaves four epochs done."""
    X, y = _data_for(estimator_class)
    params = dict(hidden_layer_sizes=(8,), solver=solver, batch_size=len(y), random_state=0)
    reference = _fit_quietly(estimator_class(max_iter=8, **params), X, y)
    model = estimator_class(max_iter=8, **params)
    with _ctrl_c_at_optimizer_step(5):
        _fit_through_ctrl_c(model, X, y)
    assert model.n_iter_ == len(model.loss_curve_) == 4
    np.testing.assert_allclose(model.loss_curve_, reference.loss_curve_[:4], rtol=1e-6)
    assert model.loss_ == model.loss_curve_[-1]
    assert np.isfinite(_outputs(model, X)).all()
    model.set_params(warm_start=True, max_iter=2)
    _fit_quietly(model, X, y)  # and it can go on training
    assert (model.n_iter_, len(model.loss_curve_)) == (2, 6)


def test_ctrl_c_with_early_stopping_restores_the_best_weights_so_far():
    X, y = make_classification(n_samples=150, n_features=8, flip_y=0.3, random_state=0)
    model = _overfitting_classifier(max_iter=100)
    with _ctrl_c_at_optimizer_step(41):
        _fit_through_ctrl_c(model, X, y)  # one step per epoch: 40 epochs done
    assert model.n_iter_ == len(model.validation_scores_) == 40
    scores = np.asarray(model.validation_scores_)
    best_epoch = int(scores.argmax()) + 1
    assert best_epoch < 40, "the setup must overfit for the test to mean anything"
    assert model.best_validation_score_ == scores.max()
    truncated = _fit_quietly(_overfitting_classifier(max_iter=best_epoch), X, y)
    np.testing.assert_array_equal(model.predict_proba(X), truncated.predict_proba(X))


@pytest.mark.parametrize("early_stopping", [False, True])
def test_ctrl_c_in_the_first_epoch_leaves_a_usable_estimator(early_stopping):
    """scikit-learn keeps whatever weights it has, with no epoch recorded."""
    X, y = _small_classification(100)
    model = TorchMLPClassifier((8,), batch_size=10, early_stopping=early_stopping, random_state=0)
    with _ctrl_c_at_optimizer_step(2):
        _fit_through_ctrl_c(model, X, y)
    assert model.n_iter_ == 0 and model.loss_curve_ == []
    proba = model.predict_proba(X)
    assert proba.shape == (100, 2) and np.isfinite(proba).all()
    np.testing.assert_array_equal(model.classes_, [0, 1])


class _InterruptedNetwork(torch.nn.Module):
    """Raises KeyboardInterrupt on its ``at``-th forward pass in training mode
    (never for ``at=0``)."""

    def __init__(self, n_features, n_outputs, at):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(n_features, 8), torch.nn.Tanh(), torch.nn.Linear(8, n_outputs)
        )
        self.at, self.calls = at, 0

    def forward(self, X):
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                raise KeyboardInterrupt
        return self.layers(X)


def _lbfgs_with_interrupted_network(at, max_iter=50):
    return TorchMLPClassifier(
        solver="lbfgs",
        alpha=0.0,
        max_iter=max_iter,
        module=lambda n_features, n_outputs: _InterruptedNetwork(n_features, n_outputs, at),
        random_state=0,
    )


@pytest.mark.parametrize("at", [6, 9, 10, 14])
def test_ctrl_c_within_an_lbfgs_iteration_keeps_the_last_completed_iteration(at):
    """Ctrl-C may come while the line search tries a step; the weights kept are
    those the last completed iteration reached, not the trial point."""
    X, y = _small_classification(100)
    model = _fit_through_ctrl_c(_lbfgs_with_interrupted_network(at), X, y)
    assert 1 <= model.n_iter_ == len(model.loss_curve_)
    completed = _fit_quietly(_lbfgs_with_interrupted_network(0, max_iter=model.n_iter_), X, y)
    assert model.loss_curve_ == completed.loss_curve_
    np.testing.assert_array_equal(model.predict_proba(X), completed.predict_proba(X))


# ------------------------------------------------------------------ verbosity
def test_verbose_prints_one_iteration_line_per_epoch(capsys):
    X, y = _small_regression()
    reg = _fit_quietly(TorchMLPRegressor((8,), max_iter=4, verbose=1, random_state=0), X, y)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Iteration")]
    assert len(lines) == reg.n_iter_ == 4
    for epoch, (line, loss) in enumerate(zip(lines, reg.loss_curve_), start=1):
        match = re.match(rf"Iteration {epoch}, loss = ([0-9.eE+-]+)", line)
        assert match, line
        assert float(match.group(1)) == pytest.approx(loss, rel=1e-6)


def test_verbose_with_early_stopping_reports_the_validation_score(capsys):
    X, y = _small_classification(100)
    clf = TorchMLPClassifier((8,), max_iter=3, verbose=True, early_stopping=True, random_state=0)
    _fit_quietly(clf, X, y)
    lines = capsys.readouterr().out.splitlines()
    scores = [float(ln.split(": ")[1]) for ln in lines if ln.startswith("Validation score: ")]
    assert len(scores) == 3
    np.testing.assert_allclose(scores, clf.validation_scores_, rtol=0, atol=1e-6)


@pytest.mark.parametrize("verbose", [True, 3, 10])
def test_verbose_other_than_2_prints_scikit_learns_lines(capsys, verbose):
    X, y = _small_regression()
    reg = _fit_quietly(TorchMLPRegressor((8,), max_iter=2, verbose=verbose, random_state=0), X, y)
    reg.partial_fit(X, y)  # counts its own epochs, as n_iter_ does
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(",")[0] for ln in lines] == ["Iteration 1", "Iteration 2", "Iteration 1"]


def test_not_verbose_prints_nothing(capsys):
    X, y = _small_regression()
    _fit_quietly(TorchMLPRegressor((8,), max_iter=3, random_state=0), X, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_verbose_2_shows_a_progress_bar(capsys):
    X, y = _small_regression()
    _fit_quietly(TorchMLPRegressor((8,), max_iter=4, verbose=2, random_state=0), X, y)
    captured = capsys.readouterr()
    assert "4/4" in captured.err and "epoch" in captured.err
    assert "Iteration 1" not in captured.out


@pytest.fixture(params=["copy", "read-in-place"])
def copy_limit(request, monkeypatch):
    """Small X is copied to float32 and transformed once; past a size limit
    (here zero) the caller's array is read in place and transformed per batch."""
    if request.param == "read-in-place":
        monkeypatch.setattr("sk_mlp._engine.data.COPY_LIMIT_BYTES", 0)
    return request.param


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("make_input", [np.asarray, sp.csr_matrix], ids=["dense", "csr"])
def test_fit_never_writes_to_the_callers_float32_arrays(make_input, solver, shuffle, copy_limit):
    # float32 input is used without a copy where possible; the robust input
    # layer, applied to the training data, must not transform it in place.
    rng = np.random.RandomState(0)
    X = make_input(rng.lognormal(size=(120, 4)).astype(np.float32))
    before = X.copy()
    reg = TorchMLPRegressor(max_iter=3, solver=solver, shuffle=shuffle, random_state=0)
    _fit_quietly(reg, X, rng.normal(size=120))
    after, expected = (X.toarray(), before.toarray()) if sp.issparse(X) else (X, before)
    np.testing.assert_array_equal(after, expected)


@pytest.mark.parametrize(
    "layout",
    [np.ascontiguousarray, np.asfortranarray, lambda X: X.astype(np.float32)],
    ids=["C-float64", "F-float64", "C-float32"],
)
@pytest.mark.parametrize("shuffle", [True, False])
def test_training_data_is_the_same_whether_x_is_copied_or_read_in_place(
    layout, shuffle, copy_limit, monkeypatch
):
    """A large C-ordered array on the CPU is read batch by batch (no copy of X);
    other arrays are copied to float32 once. The batches are the same."""
    rng = np.random.RandomState(0)
    X, y = rng.lognormal(size=(150, 3)), rng.normal(size=150)
    params = dict(max_iter=3, batch_size=32, shuffle=shuffle, random_state=0)
    with monkeypatch.context() as always_copy:
        always_copy.setattr("sk_mlp._engine.data.COPY_LIMIT_BYTES", np.inf)
        expected = _fit_quietly(TorchMLPRegressor(**params), X.astype(np.float32), y)
    model = _fit_quietly(TorchMLPRegressor(**params), layout(X), y)
    np.testing.assert_allclose(model.loss_curve_, expected.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(model.predict(X), expected.predict(X), rtol=1e-5, atol=1e-6)


def test_robust_transform_in_place_is_the_forward_pass():
    from sk_mlp._nn.mlp import fit_robust_input

    rng = np.random.RandomState(0)
    X = rng.lognormal(size=(200, 5)) * [1, 10, 1e3, 1e-3, 1]
    X[0, 0] = 1e30  # beyond the clamp: the smooth clip must still bound it
    layer = fit_robust_input(X, np.ones(200))
    x = torch.as_tensor(X, dtype=torch.float32)
    expected = layer(x)
    out = layer.transform_(x.clone())
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_training_on_preprocessed_data_matches_the_full_module_at_predict():
    rng = np.random.RandomState(0)
    X, y = rng.lognormal(size=(150, 3)), rng.normal(size=150)
    model = TorchMLPRegressor(max_iter=5, random_state=0).fit(X, y)
    with torch.no_grad():
        raw = model.module_(torch.as_tensor(X, dtype=torch.float32)).numpy().ravel()
    np.testing.assert_allclose(
        model.predict(X), raw * model._y_scale + model._y_loc, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw"])
def test_weight_decay_touches_connection_weights_only(solver):
    from sk_mlp._engine.training import TrainingParams, make_optimizer, make_step
    from sk_mlp._nn.mlp import build_mlp, linear_layers

    net = build_mlp(5, 2, (4,), normalization="layer")
    estimator = TorchMLPRegressor(solver=solver, alpha=0.5, learning_rate_init=0.1, momentum=0.0)
    params = TrainingParams.from_estimator_params(estimator.get_params())
    step = make_step(net, make_optimizer(net, params), params, batch_weight=1.0)
    weights = {id(layer.weight) for layer in linear_layers(net)}
    before = {id(p): p.detach().clone() for p in net.parameters()}
    for p in net.parameters():
        p.grad = torch.zeros_like(p)  # only the decay can move a parameter
    step()
    for p in net.parameters():
        moved = not torch.equal(p.detach(), before[id(p)])
        assert moved == (id(p) in weights)


@pytest.mark.parametrize(
    "estimator, expected",
    [
        (TorchMLPClassifier(), [0.1]),
        (TorchMLPRegressor(hidden_layer_sizes=(5, 5)), [0.1, 0.1]),
        (TorchMLPRegressor(dropout=0.3), [0.3]),
        (TorchMLPRegressor(loss="gaussian_nll"), []),
        (TorchMLPClassifier(solver="lbfgs"), []),
        (TorchMLPRegressor(dropout=0.0), []),
    ],
    ids=["classifier", "regressor", "explicit", "gaussian_nll", "lbfgs", "off"],
)
def test_auto_dropout_resolves_per_loss_and_solver(estimator, expected):
    X, y = _small_regression()
    if isinstance(estimator, TorchMLPClassifier):
        y = y > np.median(y)
    model = _fit_quietly(estimator.set_params(max_iter=2, random_state=0), X, y)
    assert [
        layer.p for layer in model.module_.modules() if isinstance(layer, torch.nn.Dropout)
    ] == (expected)


def test_fitted_module_is_left_in_eval_mode_so_direct_calls_are_deterministic():
    X, y = _small_regression()
    model = _fit_quietly(TorchMLPRegressor(dropout=0.5, max_iter=3, random_state=0), X, y)
    assert not any(m.training for m in model.module_.modules())
    x = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(model.module_(x), model.module_(x))


# ------------------------------------------------------- assignable weights
def test_weights_assigned_to_an_unfitted_estimator_start_its_first_fit():
    X, y = _small_regression()
    rng = np.random.RandomState(0)
    coefs = [rng.normal(size=(5, 3)), rng.normal(size=(3, 1))]
    intercepts = [rng.normal(size=3), rng.normal(size=1)]
    reg = TorchMLPRegressor((3,), dropout=0.0, learning_rate_init=1e-9, random_state=0)
    reg.coefs_ = [None, None]
    reg.coefs_[0], reg.coefs_[1] = coefs  # scikit-learn's users fill the list in place
    reg.intercepts_ = intercepts
    reg.partial_fit(X, y)  # one Adam step of about 1e-9
    for fitted, assigned in zip(reg.coefs_ + reg.intercepts_, coefs + intercepts):
        np.testing.assert_allclose(fitted, assigned, rtol=1e-6, atol=1e-6)


def test_weights_assigned_to_a_fitted_estimator_change_it_at_once():
    X, y = _small_regression()
    # one network, as scikit-learn's (the default's members add an axis)
    reg = _fit_quietly(TorchMLPRegressor((3,), n_ensemble=1, max_iter=5, random_state=0), X, y)
    zeros = [np.zeros_like(c) for c in reg.coefs_]
    with pytest.raises(ValueError, match=r"coefs_\[1\] has shape \(2, 1\).*needs \(3, 1\)"):
        reg.coefs_ = [zeros[0], np.zeros((2, 1))]
    assert np.abs(reg.coefs_[0]).sum() > 0  # a refused assignment changes nothing
    reg.coefs_ = zeros
    reg.intercepts_ = [np.zeros(3), np.zeros(1)]
    prediction = reg.predict(X)
    np.testing.assert_allclose(prediction, prediction[0], rtol=0, atol=1e-6)  # a constant
