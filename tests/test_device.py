"""Device selection, and models that move between machines with and without CUDA."""

import io
import pickle
import subprocess
import sys
import textwrap
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._compat.torch_private import fused_adam_update
from sk_mlp._engine import gpu_step as _gpu_step
from sk_mlp._engine.data import chunk_rows
from sk_mlp._nn.device import available_devices, resolve_device
from sk_mlp._nn.mlp import build_mlp

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def test_fit_and_predict_on_each_available_device(device, classification_data):
    X, y = classification_data
    clf = _fit(TorchMLPClassifier((8,), max_iter=20, device=device, random_state=0), X, y)
    assert clf.device_ == str(torch.device(device))
    assert next(clf.module_.parameters()).device == torch.device(device)
    proba = clf.predict_proba(X)
    assert isinstance(proba, np.ndarray) and proba.shape == (len(y), 3)


def test_cpu_device_sets_device_(regression_data):
    X, y = regression_data
    reg = _fit(TorchMLPRegressor((4,), max_iter=2, device="cpu"), X, y)
    assert reg.device_ == "cpu"


def test_auto_device_picks_the_best_available_device(regression_data):
    X, y = regression_data
    reg = _fit(TorchMLPRegressor((4,), max_iter=2, device="auto"), X, y)
    assert reg.device_ == available_devices()[0]
    assert reg.predict(X).shape == (len(y),)


def test_torch_device_object_is_accepted(regression_data):
    X, y = regression_data
    reg = _fit(TorchMLPRegressor((4,), max_iter=2, device=torch.device("cpu")), X, y)
    assert reg.device_ == "cpu"


def _absent_devices():
    """Valid torch device names that this machine does not have."""
    absent = [f"cuda:{torch.cuda.device_count() + 7}"]
    if not torch.cuda.is_available():
        absent.append("cuda")
    if not torch.backends.mps.is_available():
        absent.append("mps")
    return absent


@pytest.mark.parametrize("device", _absent_devices())
def test_unavailable_device_raises_naming_the_available_ones(device, regression_data):
    X, y = regression_data
    with pytest.raises(ValueError, match="not available") as excinfo:
        TorchMLPRegressor(device=device).fit(X, y)
    assert "'cpu'" in str(excinfo.value) and "auto" in str(excinfo.value)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu:0:1", ""])
def test_invalid_device_string_raises_value_error(device, regression_data):
    X, y = regression_data
    with pytest.raises(ValueError, match="device"):
        TorchMLPRegressor(device=device).fit(X, y)


def test_unavailable_device_error_leaves_the_estimator_unfitted(regression_data):
    X, y = regression_data
    reg = TorchMLPRegressor(device="cuda:99")
    with pytest.raises(ValueError):
        reg.fit(X, y)
    assert not hasattr(reg, "module_") and not hasattr(reg, "n_features_in_")


def test_cuda_pickle_loads_on_cpu_with_a_warning(classification_data):
    """Simulates unpickling a model fitted on 'cuda:0' on a machine without it:
    the state says cuda:0 while the tensors are on the CPU, as
    __getstate__ leaves them."""
    X, y = classification_data
    clf = _fit(TorchMLPClassifier((8,), max_iter=5, random_state=0), X, y)
    expected = clf.predict_proba(X)
    state = clf.__getstate__()
    state["device_"] = "cuda:99" if torch.cuda.is_available() else "cuda:0"
    restored = TorchMLPClassifier.__new__(TorchMLPClassifier)
    with pytest.warns(UserWarning, match="not available here"):
        restored.__setstate__(state)
    assert restored.device_ == "cpu"
    np.testing.assert_allclose(restored.predict_proba(X), expected, rtol=1e-6)
    restored.set_params(warm_start=True, max_iter=1)
    _fit(restored, X, y)  # and it keeps training on the CPU


@requires_cuda
def test_pickle_on_cuda_moves_tensors_to_the_host_and_back(regression_data):
    X, y = regression_data
    reg = _fit(TorchMLPRegressor((8,), max_iter=5, device="cuda", random_state=0), X, y)
    payload = pickle.dumps(reg)
    assert next(reg.module_.parameters()).is_cuda  # pickling leaves the live model alone
    restored = pickle.loads(payload)
    assert restored.device_ == "cuda:0" and next(restored.module_.parameters()).is_cuda
    np.testing.assert_allclose(restored.predict(X), reg.predict(X), rtol=1e-6)


@requires_cuda
def test_pickling_a_cuda_model_leaves_the_live_model_on_cuda(regression_data):
    X, y = regression_data
    reg = TorchMLPRegressor((8,), device="cuda", random_state=0).partial_fit(X, y)
    module, optimizer_state = reg.module_, reg._optimizer_state
    for dump in (pickle.dumps, lambda obj: joblib.dump(obj, io.BytesIO())):
        dump(reg)
        assert reg.module_ is module and reg._optimizer_state is optimizer_state
        assert reg.device_ == "cuda:0"
        assert all(p.is_cuda for p in reg.module_.parameters())
        assert all(b.is_cuda for b in reg.module_.buffers())
        moments = [v for s in optimizer_state["state"].values() for v in s.values()]
        assert all(v.is_cuda for v in moments if isinstance(v, torch.Tensor) and v.dim() > 0)
    reg.partial_fit(X, y)  # and it keeps training there
    assert all(p.is_cuda for p in reg.module_.parameters())


@requires_cuda
def test_cuda_pickle_loads_where_cuda_is_hidden(tmp_path, regression_data):
    X, y = regression_data
    reg = _fit(TorchMLPRegressor((8,), max_iter=5, device="cuda", random_state=0), X, y)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "expected.npy", reg.predict(X))
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(reg))
    script = textwrap.dedent(
        f"""
        import pickle, warnings
        import numpy as np
        import torch
        assert not torch.cuda.is_available()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reg = pickle.loads(open({str(tmp_path / "model.pkl")!r}, "rb").read())
        assert any("not available" in str(w.message) for w in caught)
        assert reg.device_ == "cpu"
        X = np.load({str(tmp_path / "X.npy")!r})
        np.testing.assert_allclose(
            reg.predict(X), np.load({str(tmp_path / "expected.npy")!r}), rtol=1e-4, atol=1e-4
        )
        """
    )
    env = {"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr


@requires_cuda
def test_cuda_and_cpu_fits_agree(regression_data):
    X, y = regression_data
    params = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50, random_state=0)
    cpu = _fit(TorchMLPRegressor(device="cpu", **params), X, y)
    gpu = _fit(TorchMLPRegressor(device="cuda", **params), X, y)
    assert gpu.device_.startswith("cuda")
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=0.05, atol=0.05 * y.std())


@pytest.mark.parametrize("device", ["auto", "cuda"])
def test_gpu_worker_uses_the_first_gpu_it_sees(monkeypatch, device):
    """dask-cuda starts worker i with CUDA_VISIBLE_DEVICES rotated to put GPU i
    first ('2,3,0,1' for worker 2), and torch numbers the visible GPUs in that
    order: the worker's own GPU is cuda:0, which 'auto' and 'cuda' choose."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3,0,1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device(device) == torch.device("cuda:0")
    assert available_devices()[:4] == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]


# ----------------------------------------------------- CUDA training routes
ROUTE_PARAMS = {
    "plain": dict(),
    "dropout": dict(dropout=0.2),
    "adamw, weights, schedule": dict(solver="adamw", alpha=0.1, learning_rate="invscaling"),
    "early stopping": dict(early_stopping=True),
}


def _route_fit(monkeypatch, route, params, X, y, sample_weight=None):
    monkeypatch.setattr(_gpu_step, "STEP", route)
    clf = TorchMLPClassifier(
        (32, 32), batch_size=64, max_iter=6, tol=0.0, device="cuda", random_state=0, **params
    )
    return _fit_weighted(clf, X, y, sample_weight)


def _fit_weighted(estimator, X, y, sample_weight):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, sample_weight=sample_weight)


@requires_cuda
@pytest.mark.parametrize("route", ["backprop", "graph"])
@pytest.mark.parametrize("name", ROUTE_PARAMS)
def test_cuda_step_routes_train_as_autograd_does(monkeypatch, route, name):
    """The hand-written step and its CUDA graph compute autograd's updates;
    with dropout, the masks come from the same generator in the same order."""
    X, y = make_classification(1000, 10, n_informative=6, n_classes=3, random_state=0)
    weight = np.linspace(0.5, 2, len(y)) if "weights" in name else None
    params = ROUTE_PARAMS[name]
    expected = _route_fit(monkeypatch, "autograd", params, X, y, weight)
    fitted = _route_fit(monkeypatch, route, params, X, y, weight)
    np.testing.assert_allclose(fitted.loss_curve_, expected.loss_curve_, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(
        fitted.predict_proba(X), expected.predict_proba(X), rtol=1e-3, atol=1e-4
    )


@requires_cuda
@pytest.mark.parametrize("route", ["autograd", "backprop", "graph"])
def test_cuda_training_does_not_synchronise_per_step(monkeypatch, route):
    X, y = make_classification(4096, 10, random_state=0)

    def synchronisations(n_rows):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                _route_fit(monkeypatch, route, dict(dropout=0.1), X[:n_rows], y[:n_rows])
            finally:
                torch.cuda.set_sync_debug_mode(0)
        return sum("synchroniz" in str(w.message).lower() for w in caught)

    assert synchronisations(2048) == synchronisations(4096)  # 32 vs 64 steps an epoch


@requires_cuda
def test_fused_adam_kernel_on_cuda_matches_optimizer_step(monkeypatch):
    monkeypatch.setattr(_gpu_step, "STEP", "backprop")
    torch.manual_seed(0)
    params = [torch.randn(5, 3, device="cuda"), torch.randn(3, device="cuda")]
    copies = [p.clone() for p in params]
    optimizers = [torch.optim.Adam(ps, lr=1e-2, fused=True) for ps in (params, copies)]
    for p, q in zip(params, copies):
        p.grad = q.grad = torch.randn_like(p)
    for optimizer in optimizers:
        optimizer.step()
    update = fused_adam_update(optimizers[0])
    assert update is not None
    for _ in range(3):
        update()
        optimizers[1].step()
    for p, q in zip(params, copies):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


@requires_cuda
def test_predictions_on_cuda_come_in_large_chunks(monkeypatch):
    X, y = make_classification(40_000, 10, random_state=0)
    clf = _fit(TorchMLPClassifier((16,), max_iter=1, device="cuda", random_state=0), X, y)
    calls = []
    clf.module_.register_forward_hook(lambda module, args, out: calls.append(len(out)))
    clf.predict_proba(X)
    assert calls == [40_000]  # one chunk, where the CPU takes three


def test_prediction_chunks_are_larger_on_accelerators():
    network = build_mlp(100, 5, (512, 512, 512))
    assert chunk_rows(100, False) == chunk_rows(100, False, torch.device("cpu"), network) == 16384
    assert chunk_rows(100, False, torch.device("cuda:0"), network) == 256 * 2**20 // (4 * 512)
    assert chunk_rows(100, True, torch.device("cuda:0"), network) <= 16384  # densified rows
