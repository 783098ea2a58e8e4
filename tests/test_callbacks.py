"""scikit-learn's callbacks (sklearn.callback) on a fit: one task, one subtask per epoch."""

import os
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor

callback = pytest.importorskip("sklearn.callback", reason="scikit-learn >= 1.9 has callbacks")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class Recorder:
    """Records every hook call: the task, and the model the hook was shown."""

    def __init__(self, stop_after=None, interrupt_after=None):
        self.calls = []
        self.stop_after = stop_after
        self.interrupt_after = interrupt_after

    def setup(self, estimator, context):
        self.calls.append(("setup", context.task_name))

    def teardown(self, estimator, context):
        self.calls.append(("teardown", getattr(context, "stop_reason", None)))

    def on_fit_task_begin(self, estimator, context):
        self.calls.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, fitted_estimator=None):
        self.calls.append(("end", context.task_name, context.task_id, fitted_estimator, X))
        if context.task_name == "fit":
            return False
        epochs = len(self.ends(context.task_name))
        if self.interrupt_after is not None and epochs == self.interrupt_after:
            raise KeyboardInterrupt
        return self.stop_after is not None and epochs >= self.stop_after

    def ends(self, task_name):
        return [c for c in self.calls if c[0] == "end" and c[1] == task_name]


def _data(n_samples=80, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int), X[:, 0] - 2 * X[:, 1]


def _fit(estimator, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **fit_params)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("Estimator", [TorchMLPClassifier, TorchMLPRegressor])
def test_each_epoch_is_a_subtask_ending_with_the_model_it_left(Estimator, solver):
    X, y_clf, y_reg = _data()
    y = y_clf if Estimator is TorchMLPClassifier else y_reg
    recorder = Recorder()
    model = Estimator((8,), solver=solver, max_iter=4, tol=0, random_state=0)
    _fit(model.set_callbacks(recorder), X, y)
    task = "lbfgs-iter" if solver == "lbfgs" else "epoch"
    ends = recorder.ends(task)
    assert len(ends) == model.n_iter_ == 4
    assert [c[2] for c in ends] == [0, 1, 2, 3]
    # Every epoch's copy predicts as the network was then; the last is the fitted model.
    predictions = [end[3].predict(X) for end in ends]
    assert_array_equal(predictions[-1], model.predict(X))
    assert not np.array_equal(predictions[0], predictions[-1]) or Estimator is TorchMLPClassifier
    assert recorder.calls[0] == ("setup", "fit")
    assert recorder.calls[-2][:3] == ("end", "fit", 0)  # the fit ends with the fitted model
    assert recorder.calls[-1] == ("teardown", "completed")


def test_epoch_copies_stay_as_the_epoch_left_them():
    X, y, _ = _data()
    recorder = Recorder()
    model = _fit(TorchMLPClassifier((8,), max_iter=3, random_state=0).set_callbacks(recorder), X, y)
    first = recorder.ends("epoch")[0][3]
    assert first.module_ is not model.module_
    assert not np.allclose(first.predict_proba(X), model.predict_proba(X))
    # A copy made during the fit carries none of the fit's callback bookkeeping.
    for name in ("_fit_task", "_callback_fit_ctx", "_skl_callbacks_to_teardown"):
        assert not hasattr(first, name) and not hasattr(model, name)


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="adam", dropout=0.3, early_stopping=True, normalization="batch"),
        dict(solver="sgd", batch_size=16, learning_rate="adaptive", dropout=0.2),
        dict(solver="lbfgs"),
    ],
    ids=["adam-dropout-early-stopping", "sgd-adaptive", "lbfgs"],
)
@pytest.mark.parametrize("Estimator", [TorchMLPClassifier, TorchMLPRegressor])
def test_callbacks_never_change_the_fitted_model(Estimator, params):
    X, y_clf, y_reg = _data(120)
    y = y_clf if Estimator is TorchMLPClassifier else y_reg
    scoring = "accuracy" if Estimator is TorchMLPClassifier else "r2"
    plain = _fit(Estimator((16, 8), max_iter=8, random_state=0, **params), X, y)
    monitor = callback.ScoringMonitor(scoring=scoring)
    watched = Estimator((16, 8), max_iter=8, random_state=0, **params)
    _fit(watched.set_callbacks(monitor, Recorder()), X, y)
    # The same arithmetic in the same order: equal to the last bit.
    assert watched.loss_curve_ == plain.loss_curve_
    assert watched.validation_scores_ == plain.validation_scores_
    for a, b in zip(watched.coefs_ + watched.intercepts_, plain.coefs_ + plain.intercepts_):
        assert_array_equal(a, b)
    assert_array_equal(watched.predict(X), plain.predict(X))
    # and a warm start continues both alike
    for model in (watched, plain):
        _fit(model.set_params(warm_start=True, max_iter=3), X, y)
    assert_array_equal(watched.predict(X), plain.predict(X))


@pytest.mark.parametrize("Estimator", [TorchMLPClassifier, TorchMLPRegressor])
def test_scoring_monitor_scores_every_epoch_on_the_fit_data(Estimator):
    X, y_clf, y_reg = _data()
    is_clf = Estimator is TorchMLPClassifier
    y = y_clf if is_clf else y_reg
    monitor = callback.ScoringMonitor(scoring="accuracy" if is_clf else "r2")
    model = _fit(Estimator((8,), max_iter=5, random_state=0).set_callbacks(monitor), X, y)
    rows = monitor.get_logs().data
    epochs = [row for row in rows if row["task_name"] == "epoch"]
    assert len(epochs) == model.n_iter_ == 5
    score = accuracy_score(y, model.predict(X)) if is_clf else r2_score(y, model.predict(X))
    final = [row for row in rows if row["task_name"] == "fit"]
    key = "accuracy" if is_clf else "r2"
    assert_allclose([epochs[-1][key], final[0][key]], [score, score], rtol=1e-12, atol=1e-12)


def test_partial_fit_is_a_task_of_one_epoch_and_sample_weight_reaches_the_scorer():
    X, y, _ = _data()
    weight = np.linspace(0.1, 2, len(y))
    monitor = callback.ScoringMonitor(scoring="accuracy")
    recorder = Recorder()
    model = TorchMLPClassifier((8,), random_state=0).set_callbacks(monitor, recorder)
    model.partial_fit(X, y, classes=[0, 1], sample_weight=weight)
    assert len(recorder.ends("epoch")) == 1
    row = [r for r in monitor.get_logs().data if r["task_name"] == "epoch"][0]
    expected = accuracy_score(y, model.predict(X), sample_weight=weight)
    assert_allclose(row["accuracy"], expected, rtol=1e-12, atol=1e-12)


def test_a_callback_can_stop_training_and_the_fit_says_why():
    X, y, _ = _data()
    recorder = Recorder(stop_after=2)
    model = _fit(
        TorchMLPClassifier((8,), max_iter=20, random_state=0).set_callbacks(recorder), X, y
    )
    assert model.n_iter_ == 2 and len(model.loss_curve_) == 2
    assert recorder.calls[-1] == ("teardown", "callback")


@pytest.mark.parametrize(
    "params, reason",
    [
        (dict(max_iter=3), "completed"),
        (dict(max_iter=50, tol=1e9, n_iter_no_change=2), "no_improvement"),
        (dict(max_iter=50, tol=1e9, n_iter_no_change=2, early_stopping=True), "early_stopping"),
        (dict(solver="lbfgs", max_iter=500, tol=1e-2), "converged"),
        (dict(solver="lbfgs", max_iter=50, max_fun=3), "max_fun"),
    ],
)
def test_the_fit_task_says_why_training_ended(params, reason):
    X, y, _ = _data()
    recorder = Recorder()
    _fit(TorchMLPClassifier((8,), random_state=0, **params).set_callbacks(recorder), X, y)
    assert recorder.calls[-1] == ("teardown", reason)
    # every epoch that began ended, the fit's task last
    begins = [c for c in recorder.calls if c[0] == "begin"]
    ends = [c for c in recorder.calls if c[0] == "end"]
    assert len(begins) == len(ends) and ends[-1][1] == "fit"


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_ctrl_c_ends_the_fit_as_interrupted_and_the_epoch_unscored(solver):
    X, y, _ = _data()
    recorder = Recorder(interrupt_after=2)
    model = TorchMLPClassifier((8,), solver=solver, max_iter=10, random_state=0)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        model.set_callbacks(recorder).fit(X, y)
    assert model.n_iter_ == 2
    assert recorder.calls[-1] == ("teardown", "interrupted")


def test_a_failed_fit_tears_the_callbacks_down_and_changes_nothing():
    X, y, _ = _data()
    recorder = Recorder()
    model = TorchMLPClassifier((8,), max_iter=2, random_state=0).set_callbacks(recorder)
    before = dict(vars(model))
    with pytest.raises(ValueError):
        model.fit(X, y[:-1])
    assert recorder.calls[0][0] == "setup" and recorder.calls[-1][0] == "teardown"
    assert vars(model).keys() == before.keys()


def test_verbose_lines_and_callbacks_see_the_same_epochs(capsys):
    X, y, _ = _data()
    recorder = Recorder()
    model = TorchMLPClassifier((8,), max_iter=3, verbose=1, random_state=0)
    _fit(model.set_callbacks(recorder), X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(recorder.ends("epoch")) == 3


def test_without_scikit_learns_callback_api_fits_run_as_before():
    """scikit-learn < 1.9 has no sklearn.callback: no set_callbacks, same fits."""
    code = textwrap.dedent(
        """
        import sys, types
        # scikit-learn's own modules that use callbacks first; then a
        # sklearn.callback without its names, as before 1.9, for sk_mlp.
        import sklearn.linear_model, sklearn.model_selection, sklearn.pipeline
        sys.modules["sklearn.callback"] = types.ModuleType("sklearn.callback")
        import numpy as np
        from sk_mlp import TorchMLPClassifier
        X = np.random.RandomState(0).normal(size=(40, 3))
        clf = TorchMLPClassifier((4,), max_iter=2, verbose=1, random_state=0)
        clf.fit(X, X[:, 0] > 0)
        print(hasattr(clf, "set_callbacks"), clf.n_iter_, clf.predict(X[:3]).tolist())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},  # as this process runs torch
    )
    X = np.random.RandomState(0).normal(size=(40, 3))
    expected = _fit(TorchMLPClassifier((4,), max_iter=2, random_state=0), X, X[:, 0] > 0)
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"Iteration {i}, loss = {expected.loss_curve_[i - 1]:.8f}" for i in (1, 2)]
    assert lines[2] == f"False 2 {expected.predict(X[:3]).tolist()}"


def test_epoch_copies_pickle_and_load_as_fitted_models():
    X, y, _ = _data()
    recorder = Recorder()
    _fit(TorchMLPClassifier((8,), max_iter=3, random_state=0).set_callbacks(recorder), X, y)
    second = recorder.ends("epoch")[1][3]
    loaded = pickle.loads(pickle.dumps(second))
    assert loaded.n_iter_ == 2 and len(loaded.loss_curve_) == 2
    assert_array_equal(loaded.predict_proba(X), second.predict_proba(X))


def test_streamed_dask_fit_reports_every_epoch_and_scores_the_dask_data():
    da = pytest.importorskip("dask.array")
    X, y, _ = _data()
    X_dask, y_dask = da.from_array(X, chunks=20), da.from_array(y, chunks=20)
    monitor = callback.ScoringMonitor(scoring="accuracy")
    params = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    watched = _fit(TorchMLPClassifier(**params).set_callbacks(monitor), X_dask, y_dask)
    plain = _fit(TorchMLPClassifier(**params), X_dask, y_dask)
    assert watched.loss_curve_ == plain.loss_curve_
    epochs = [row for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    assert len(epochs) == 3
    assert_allclose(epochs[-1]["accuracy"], accuracy_score(y, watched.predict(X)), rtol=0, atol=0)


def test_under_array_api_dispatch_epoch_copies_predict_in_the_input_namespace():
    torch = pytest.importorskip("torch")
    X, y, _ = _data()
    recorder = Recorder()
    with sklearn.config_context(array_api_dispatch=True):
        model = TorchMLPClassifier((8,), max_iter=2, random_state=0).set_callbacks(recorder)
        _fit(model, torch.from_numpy(X), torch.from_numpy(y))
        last = recorder.ends("epoch")[-1][3].predict_proba(torch.from_numpy(X))
        expected = model.predict_proba(torch.from_numpy(X))
    assert isinstance(last, torch.Tensor)
    assert_array_equal(last.numpy(), expected.numpy())


# ------------------------------------------------------------ meta-estimators
def _search(n_jobs):
    """A search over a pipeline, the bar set on the search; the monitor on the
    network, as scikit-learn's ScoringMonitor is not propagated by a search."""
    monitor = callback.ScoringMonitor(scoring="accuracy")
    network = TorchMLPClassifier((8,), max_iter=3, tol=0, random_state=0).set_callbacks(monitor)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), network),
        {"torchmlpclassifier__alpha": [1e-4, 1e-2]},
        cv=2,
        n_jobs=n_jobs,
    )
    return search, monitor


@pytest.mark.parametrize("n_jobs", [1, 2], ids=["one-process", "process-pool"])
def test_a_search_reports_every_epoch_of_every_fit(n_jobs, capsys, monkeypatch):
    pytest.importorskip("rich", reason="scikit-learn's ProgressBar draws with rich")
    monkeypatch.setenv("COLUMNS", "200")  # rich draws whole lines, percentages included
    X, y, _ = _data(40)
    search, monitor = _search(n_jobs)
    _fit(search.set_callbacks(callback.ProgressBar(max_propagation_depth=None)), X, y)
    rows = monitor.get_logs().data
    assert {row["estimator_name"] for row in rows} == {"TorchMLPClassifier"}
    fits = [row["task_id_path"] for row in rows if row["task_name"] == "fit"]
    assert len(fits) == 2 * 2 + 1  # two candidates on two folds, then the refit
    for fit in fits:
        epochs = [row["task_id"] for row in rows if row["parent_task_id_path"] == fit]
        assert sorted(epochs) == [0, 1, 2]
    # The nested bars: one per fit of the network, each finished.
    bars = [line for line in capsys.readouterr().out.splitlines() if "TorchMLPClassifier" in line]
    assert len(bars) == len(fits) and all("100%" in line for line in bars)
