"""torch's intra-op threads per fit and prediction: chosen from the work per
step, never above the caller's setting, and the caller's setting restored."""

import threading

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._engine import threads as _threads
from sk_mlp._engine.threads import threads_for, work_per_row
from sk_mlp._nn.mlp import build_network

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class Probe(nn.Module):
    """Records the thread count of each forward pass in training mode
    (``seen``) and in eval mode (``seen_eval``)."""

    def __init__(self):
        super().__init__()
        self.seen, self.seen_eval = [], []

    def forward(self, x):
        (self.seen if self.training else self.seen_eval).append(torch.get_num_threads())
        return x


def probed(hidden=8):
    """A ``module=`` callable whose network records its thread counts in ``probe.seen``."""
    probe = Probe()

    def build(n_in, n_out):
        return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), probe, nn.Linear(hidden, n_out))

    return build, probe


def test_work_per_row_counts_the_linear_layers_multiply_adds():
    net = nn.Sequential(
        nn.Linear(10, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 3)
    )
    assert work_per_row(net) == 10 * 32 + 32 * 3


def test_work_per_row_counts_each_ensemble_members_copy_of_a_row():
    net = build_network(10, 3, (32,), feature_scaling=True, n_ensemble=4)
    assert work_per_row(net) == 4 * (10 * 32 + 32 * 3)


def test_work_per_row_is_unknown_for_layers_whose_cost_their_shape_hides():
    net = nn.Sequential(nn.Unflatten(1, (1, 8)), nn.Conv1d(1, 4, 3), nn.Flatten(), nn.Linear(24, 1))
    assert work_per_row(net) is None


def test_work_per_row_counts_sk_mlps_own_input_layers():
    from sk_mlp._nn.layers import PeriodicEmbedding, PiecewiseLinearEncoding
    from sk_mlp._nn.tabular import TabularInput

    periodic = nn.Sequential(
        PeriodicEmbedding(4, 3, n_frequencies=8, n_embedding=2), nn.Linear(4 + 3 * 2, 5)
    )
    # per encoded feature: 8 frequencies, then 8 x 2 multiply-adds
    assert work_per_row(periodic) == 3 * (8 + 8 * 2) + (4 + 3 * 2) * 5
    piecewise = nn.Sequential(PiecewiseLinearEncoding(4, [3, 2]), nn.Linear(7, 5))
    assert work_per_row(piecewise) == 7 * 5
    tabular = TabularInput(2, [6, 3], one_hot=[False, True], missing_slot=[True, True])
    embedded = nn.Sequential(tabular, nn.Linear(tabular.n_outputs, 5))
    assert work_per_row(embedded) == tabular.n_outputs * 5  # a lookup is no product


@pytest.mark.parametrize("numeric_embedding", ["periodic", "piecewise_linear"])
def test_small_fit_with_a_numeric_embedding_runs_on_one_thread(
    two_threads, monkeypatch, numeric_embedding
):
    chosen, set_num_threads = [], torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (chosen.append(n), set_num_threads(n)))
    X, y = np.random.rand(60, 4), np.random.rand(60)
    reg = TorchMLPRegressor((8,), numeric_embedding=numeric_embedding, max_iter=2, random_state=0)
    reg.fit(X, y)
    assert work_per_row(reg.module_) is not None
    assert chosen[0] == 1 and torch.get_num_threads() == 2


def test_threads_grow_with_the_work_and_never_pass_what_is_available():
    w = _threads._WORK_PER_THREAD
    assert threads_for(1, 8) == 1
    assert threads_for(w - 1, 8) == 1
    assert threads_for(2 * w, 8) == 2
    assert threads_for(100 * w, 8) == 8
    assert threads_for(100 * w, 1) == 1
    assert threads_for(None, 3) == 3


def test_small_fit_runs_on_one_thread_and_restores_the_callers_setting(two_threads):
    X, y = np.random.rand(60, 4), np.random.rand(60)
    build, probe = probed()
    TorchMLPRegressor(module=build, max_iter=2, random_state=0).fit(X, y)
    assert set(probe.seen) == {1}
    assert torch.get_num_threads() == 2


def test_large_work_keeps_the_callers_threads(two_threads, monkeypatch):
    monkeypatch.setattr(_threads, "_WORK_PER_THREAD", 1)
    X, y = np.random.rand(60, 4), np.random.rand(60)
    build, probe = probed()
    TorchMLPRegressor(module=build, max_iter=2, random_state=0).fit(X, y)
    assert set(probe.seen) == {2}


@pytest.mark.parametrize("limit", ["torch", "threadpoolctl"])
def test_a_lower_limit_of_the_caller_is_never_raised(two_threads, monkeypatch, limit):
    monkeypatch.setattr(_threads, "_WORK_PER_THREAD", 1)  # the work would justify all threads
    X, y = np.random.rand(60, 4), np.random.rand(60)
    build, probe = probed()
    reg = TorchMLPRegressor(module=build, max_iter=2, random_state=0)
    if limit == "torch":
        torch.set_num_threads(1)
        reg.fit(X, y).predict(X)
    else:
        with threadpool_limits(limits=1, user_api="openmp"):
            reg.fit(X, y).predict(X)
    assert set(probe.seen) == {1}


def test_prediction_chooses_its_threads_and_restores_the_callers_setting(two_threads, monkeypatch):
    X, y = np.random.rand(60, 4), np.random.rand(60)
    build, probe = probed()
    reg = TorchMLPRegressor(module=build, max_iter=2, random_state=0).fit(X, y)
    probe.seen_eval.clear()
    reg.predict(X[:5])
    assert probe.seen_eval == [1]
    monkeypatch.setattr(_threads, "_WORK_PER_THREAD", 1)
    reg.predict(X)
    assert probe.seen_eval == [1, 2]
    assert torch.get_num_threads() == 2


def test_partial_fit_restores_the_callers_setting(two_threads, classification_data):
    X, y = classification_data
    clf = TorchMLPClassifier((8,), random_state=0)
    clf.partial_fit(X, y, classes=np.unique(y))
    clf.partial_fit(X, y)
    assert torch.get_num_threads() == 2


def test_callers_setting_is_restored_when_the_fit_fails(two_threads):
    X, y = np.random.rand(60, 4), np.random.rand(60)
    seen = []

    class Failing(nn.Module):
        def forward(self, x):
            if not self.training:  # let the estimator's check of the output width pass
                return x
            seen.append(torch.get_num_threads())
            raise RuntimeError("broken layer")

    def build(n_in, n_out):
        return nn.Sequential(nn.Linear(n_in, n_out), Failing())

    with pytest.raises(RuntimeError, match="broken layer"):
        TorchMLPRegressor(module=build, random_state=0).fit(X, y)
    assert seen == [1]  # it was lowered, then restored
    assert torch.get_num_threads() == 2


def test_a_fit_in_another_thread_leaves_this_threads_setting_alone(two_threads):
    X, y = np.random.rand(60, 4), np.random.rand(60)
    after = []

    def fit_elsewhere():
        torch.set_num_threads(2)
        TorchMLPRegressor((8,), max_iter=2, random_state=0).fit(X, y)
        after.append(torch.get_num_threads())

    worker = threading.Thread(target=fit_elsewhere)
    worker.start()
    worker.join()
    assert after == [2]
    assert torch.get_num_threads() == 2


# ------------------------------------------- the switch: SK_MLP_CHOOSE_THREADS
def test_the_choice_is_on_by_default_and_with_the_switch_on(two_threads, monkeypatch):
    X, y = np.random.rand(60, 4), np.random.rand(60)
    for value in [None, "1", "true"]:
        if value is None:
            monkeypatch.delenv("SK_MLP_CHOOSE_THREADS", raising=False)
        else:
            monkeypatch.setenv("SK_MLP_CHOOSE_THREADS", value)
        build, probe = probed()
        reg = TorchMLPRegressor(module=build, max_iter=2, random_state=0).fit(X, y)
        probe.seen_eval.clear()  # the fit's own check of the output width ran outside
        reg.predict(X[:5])
        assert set(probe.seen) == {1} and probe.seen_eval == [1], value
        assert torch.get_num_threads() == 2


@pytest.mark.parametrize("value", ["0", "false", "Off", "no"])
def test_with_the_switch_off_fits_and_predictions_use_the_callers_threads(
    two_threads, monkeypatch, value
):
    monkeypatch.setenv("SK_MLP_CHOOSE_THREADS", value)
    chosen, set_num_threads = [], torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (chosen.append(n), set_num_threads(n)))
    X, y = np.random.rand(60, 4), np.random.rand(60)
    build, probe = probed()
    reg = TorchMLPRegressor(module=build, max_iter=2, random_state=0).fit(X, y)
    probe.seen_eval.clear()
    reg.predict(X[:5])
    assert set(probe.seen) == {2} and probe.seen_eval == [2]
    assert chosen == []  # torch's setting is left untouched


def test_an_unknown_value_of_the_switch_is_refused_with_its_name(two_threads, monkeypatch):
    monkeypatch.setenv("SK_MLP_CHOOSE_THREADS", "sometimes")
    X, y = np.random.rand(60, 4), np.random.rand(60)
    with pytest.raises(ValueError, match="SK_MLP_CHOOSE_THREADS.*'sometimes'"):
        TorchMLPRegressor((8,), max_iter=2, random_state=0).fit(X, y)


@pytest.mark.parametrize("switch, expected", [("1", 1), ("0", 2)])
def test_a_thread_that_first_runs_torch_during_a_fit_starts_with_its_count(
    two_threads, monkeypatch, switch, expected
):
    """What the user guide documents: torch.set_num_threads also sets the
    starting count of threads that have not run torch yet, so a thread whose
    first torch call falls inside another thread's lowered fit keeps the
    lowered count; with the choice turned off nothing is lowered."""
    monkeypatch.setenv("SK_MLP_CHOOSE_THREADS", switch)
    seen = []

    class StartsAThread(nn.Module):
        def forward(self, x):
            if self.training and not seen:
                worker = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
                worker.start()
                worker.join()
            return x

    def build(n_in, n_out):
        return nn.Sequential(nn.Linear(n_in, 8), StartsAThread(), nn.Linear(8, n_out))

    X, y = np.random.rand(60, 4), np.random.rand(60)
    TorchMLPRegressor(module=build, max_iter=2, random_state=0).fit(X, y)
    assert seen == [expected]
    assert torch.get_num_threads() == 2
