"""Searches on a dask cluster, and lazy prediction on dask arrays and data frames."""

import logging
import os
import subprocess
import sys
import warnings

import cloudpickle
import dask
import dask.array as da
import dask.dataframe as dd
import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from dask.callbacks import Callback
from distributed import Client, LocalCluster
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_validate

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._engine.parallel import dask_task_thread_limit

N_WORKERS = 2


def _quiet_cluster(*, processes, **kwargs):
    """A cluster without log output, reached through the loopback interface
    (worker processes) or inside this process (worker threads). The
    scheduler's HTTP server, which distributed always starts, takes a free
    loopback port."""
    if processes:
        kwargs["host"] = "127.0.0.1"
    return LocalCluster(
        processes=processes,
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
        **kwargs,
    )


@pytest.fixture(scope="module")
def client():
    # The workers unpickle this module's functions and classes (the recording
    # network below), which they could not import by name.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cluster = _quiet_cluster(n_workers=N_WORKERS, threads_per_worker=1, processes=True)
    with cluster, Client(cluster) as client:
        yield client
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


class _RecordingNetwork(torch.nn.Sequential):
    """A small network that records, on each training forward pass, the torch
    threads available, the dask limit, and the shapes of the arrays the worker
    holds as data."""

    def __init__(self, n_features, n_outputs):
        super().__init__(
            torch.nn.Linear(n_features, 8), torch.nn.ReLU(), torch.nn.Linear(8, n_outputs)
        )
        self.seen = None

    def forward(self, X):
        if self.training and self.seen is None:
            from distributed import get_worker

            worker = get_worker()
            self.seen = {
                "torch_threads": torch.get_num_threads(),
                "limit": dask_task_thread_limit(),
                "worker_threads": worker.state.nthreads,
                "held_shapes": [getattr(v, "shape", None) for v in worker.data.values()],
            }
        return super().forward(X)


def _classification(n_samples=150):
    return make_classification(n_samples=n_samples, n_features=8, random_state=0)


def test_grid_search_on_dask_cluster_scores_as_in_one_process(client):
    X, y = _classification()
    grid = {"alpha": [1e-4, 1e-2], "hidden_layer_sizes": [(8,), (16,)]}
    estimator = TorchMLPClassifier(max_iter=15, learning_rate_init=0.01, random_state=0)
    scoring = ["neg_log_loss", "accuracy"]
    with warnings.catch_warnings():  # scikit-learn passes the filter to the workers
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = GridSearchCV(estimator, grid, cv=3, scoring=scoring, refit=False, n_jobs=1)
        local.fit(X, y)
        with joblib.parallel_config(backend="dask"):
            remote = GridSearchCV(estimator, grid, cv=3, scoring=scoring, refit=False)
            remote.fit(X, y)
    # The workers run torch on one thread (the nanny sets OMP_NUM_THREADS=1), as
    # this process does (conftest): with the same seeds the arithmetic is the
    # same, and the scores agree to float32 rounding. The tolerance leaves room
    # for a BLAS that picks another kernel in another process; it is far below
    # one changed prediction in a fold's accuracy (1/50).
    for key in ("neg_log_loss", "accuracy"):
        for split in range(3):
            name = f"split{split}_test_{key}"
            assert_allclose(remote.cv_results_[name], local.cv_results_[name], rtol=1e-5, atol=1e-7)


def test_search_on_dask_cluster_draws_every_fit_and_scores_as_without_callbacks(
    client, capsys, monkeypatch
):
    callback = pytest.importorskip("sklearn.callback", reason="scikit-learn >= 1.9")
    pytest.importorskip("rich", reason="scikit-learn's ProgressBar draws with rich")
    monkeypatch.setenv("COLUMNS", "200")  # rich draws whole lines, percentages included
    X, y = _classification(60)
    network = TorchMLPClassifier((8,), max_iter=2, random_state=0)
    results = []
    for callbacks in ([], [callback.ProgressBar()]):
        search = GridSearchCV(network, {"alpha": [1e-4, 1e-2]}, cv=2, refit=False)
        with warnings.catch_warnings(), joblib.parallel_config(backend="dask"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            results.append(search.set_callbacks(*callbacks).fit(X, y).cv_results_)
    # The workers' fits reached the bar in this process, each finished.
    bars = [line for line in capsys.readouterr().out.splitlines() if "TorchMLPClassifier" in line]
    assert len(bars) == 4 and all("100%" in line for line in bars)
    for split in range(2):
        name = f"split{split}_test_score"
        assert_array_equal(results[1][name], results[0][name])


def test_fits_on_dask_workers_use_at_most_their_share_of_cores(client):
    X, y = _classification()
    estimator = TorchMLPClassifier(
        module=_RecordingNetwork, preprocessing=None, max_iter=2, random_state=0
    )
    with warnings.catch_warnings(), joblib.parallel_config(backend="dask"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = cross_validate(estimator, X, y, cv=4, return_estimator=True, error_score="raise")
    share = max(1, os.cpu_count() // N_WORKERS)
    for fitted in result["estimator"]:
        seen = fitted.module_.seen
        assert seen["worker_threads"] == 1
        assert 1 <= seen["torch_threads"] <= min(share, seen["limit"])


def test_search_sends_X_to_the_workers_as_data_not_with_each_task(client):
    # joblib's dask backend scatters arguments larger than 1 kB once per call
    # and passes each task a reference: the workers then hold X in their data,
    # and every fit reads that one copy.
    X, y = _classification(n_samples=200)
    estimator = TorchMLPClassifier(
        module=_RecordingNetwork, preprocessing=None, max_iter=1, random_state=0
    )
    with warnings.catch_warnings(), joblib.parallel_config(backend="dask"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = cross_validate(estimator, X, y, cv=4, return_estimator=True, error_score="raise")
    for fitted in result["estimator"]:
        assert fitted.module_.seen["held_shapes"].count(X.shape) == 1


def test_dask_thread_limit_divides_cores_among_a_workers_task_threads():
    assert dask_task_thread_limit() is None  # not in a dask task
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with _quiet_cluster(n_workers=1, threads_per_worker=2, processes=False) as cluster:
        with Client(cluster) as client:
            limit = client.submit(dask_task_thread_limit, pure=False).result()
            outside_tasks = client.run(dask_task_thread_limit)
    assert limit == max(1, cores // 2)
    assert list(outside_tasks.values()) == [None]


# ---------------------------------------------------------------- lazy predict
class _CountTasks(Callback):
    """Counts the tasks dask's local schedulers run."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def _pretask(self, key, dask, state):
        self.count += 1


@pytest.fixture(scope="module")
def fitted_classifier():
    X, y = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return TorchMLPClassifier((8,), max_iter=20, random_state=0).fit(X, y), X


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba"])
def test_classifier_predicts_lazily_on_a_dask_array(fitted_classifier, method):
    clf, X = fitted_classifier
    dX = da.from_array(X, chunks=(64, 3))
    with _CountTasks() as tasks:
        lazy = getattr(clf, method)(dX)
    assert isinstance(lazy, da.Array)
    assert tasks.count == 0  # X not computed
    assert lazy.chunks[0] == dX.chunks[0]
    expected = getattr(clf, method)(X)
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
    # Each block is predicted as in memory; rtol/atol absorb a BLAS kernel
    # chosen by the number of rows.
    with dask.config.set(scheduler="sync"):
        computed = lazy.compute()
    if method == "predict":
        assert_array_equal(computed, expected)
    else:
        assert_allclose(computed, expected, rtol=1e-5, atol=1e-6)


def test_regressor_predicts_mean_and_std_lazily():
    X, y = make_regression(n_samples=200, n_features=5, random_state=0)
    Y = np.c_[y, 2 * y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = TorchMLPRegressor((8,), loss="gaussian_nll", max_iter=20, random_state=0).fit(X, Y)
    dX = da.from_array(X, chunks=70)
    with _CountTasks() as tasks:
        mean, std = reg.predict(dX, return_std=True)
        only_mean = reg.predict(dX)
        lower, upper = reg.predict_interval(dX)
    assert tasks.count == 0
    assert all(isinstance(a, da.Array) for a in (mean, std, only_mean, lower, upper))
    expected_mean, expected_std = reg.predict(X, return_std=True)
    computed = dask.compute(mean, std, only_mean, lower, scheduler="sync")
    for got, expected in zip(computed, [expected_mean, expected_std, expected_mean]):
        assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(Y).max())
    assert_allclose(computed[3], reg.predict_interval(X)[0], rtol=1e-5, atol=1e-6 * np.abs(Y).max())


@pytest.mark.parametrize("quantile", [None, [0.9, 0.05, 0.95]])
def test_quantile_regressor_predicts_quantiles_and_intervals_lazily(quantile):
    X, y = make_regression(n_samples=200, n_features=5, random_state=0)
    Y = np.c_[y, 2 * y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = TorchMLPRegressor((8,), loss="quantile", quantile=quantile, max_iter=20)
        reg = reg.set_params(random_state=0).fit(X, Y)
    dX = da.from_array(X, chunks=70)
    with _CountTasks() as tasks:
        lazy = [reg.predict(dX), *reg.predict_interval(dX, confidence=0.9)]
    assert tasks.count == 0
    assert all(isinstance(a, da.Array) for a in lazy)
    expected = [reg.predict(X), *reg.predict_interval(X, confidence=0.9)]
    for got, want in zip(dask.compute(*lazy, scheduler="sync"), expected, strict=True):
        assert got.shape == want.shape
        assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(Y).max())


def test_predict_on_a_dask_data_frame_keeps_feature_names():
    X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a feature-name warning would fail the test
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = TorchMLPClassifier((8,), max_iter=10, random_state=0).fit(frame, y)
        with _CountTasks() as tasks:
            lazy = clf.predict_proba(dd.from_pandas(frame, npartitions=3))
        assert tasks.count == 0
        assert isinstance(lazy, da.Array)
        computed = lazy.compute(scheduler="sync")
    assert_allclose(computed, clf.predict_proba(frame), rtol=1e-5, atol=1e-6)


def test_importing_sk_mlp_does_not_import_dask():
    code = "import sys, sk_mlp; print(sorted(m for m in sys.modules if m.split('.')[0] in "
    code += "('dask', 'distributed')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_predict_checks_the_input_before_computing(fitted_classifier):
    clf, X = fitted_classifier
    with pytest.raises(ValueError, match="X has 5 features"):
        clf.predict(da.from_array(X[:, :5], chunks=50))
    with pytest.raises(ValueError, match="2D"):
        clf.predict(da.from_array(X[:, 0], chunks=50))
    with pytest.raises(TypeError, match="dask arrays and dask data frames"):
        clf.predict(dd.from_pandas(pd.Series(X[:, 0]), npartitions=2))


def test_lazy_prediction_is_of_the_model_at_call_time(classification_data):
    X, y = classification_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = TorchMLPClassifier((8,), max_iter=10, random_state=0).fit(X, y)
        expected = clf.predict_proba(X)
        lazy = clf.predict_proba(da.from_array(X, chunks=100))
        clf.set_params(random_state=1, max_iter=3).fit(X, y)
    assert not np.allclose(clf.predict_proba(X), expected)
    assert_allclose(lazy.compute(scheduler="sync"), expected, rtol=1e-5, atol=1e-6)


def test_lazy_predictions_compute_on_the_cluster(client, fitted_classifier):
    clf, X = fitted_classifier
    lazy = clf.predict_proba(da.from_array(X, chunks=100))
    computed = client.compute(lazy).result()
    assert_allclose(computed, clf.predict_proba(X), rtol=1e-5, atol=1e-6)
