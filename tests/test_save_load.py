"""sk_mlp.save / sk_mlp.load: exact round trips, continued training, versions."""

import json
import pickle
import types
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning

import sk_mlp
from sk_mlp import InconsistentVersionWarning, TorchMLPClassifier, TorchMLPRegressor, load, save
from sk_mlp._persistence import check_versions, record_versions


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def _continue(estimator, X, y):
    """One more step of training: partial_fit where available, else a warm start."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if not hasattr(estimator, "partial_fit"):  # lbfgs, early stopping, balanced weights
            return estimator.set_params(warm_start=True, max_iter=2).fit(X, y)
        return estimator.partial_fit(X, y)


def _round_trip(estimator, tmp_path, **kwargs):
    path = tmp_path / "model.safetensors"
    save(estimator, path)
    return load(path, **kwargs)


def assert_same_value(a, b, path="estimator"):
    """Recursive equality that also requires equal types and dtypes."""
    assert type(a) is type(b), path
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), path
    elif isinstance(a, torch.nn.Module):
        assert repr(a) == repr(b) and a.training == b.training, path
        assert_same_value(a.state_dict(), b.state_dict(), f"{path}.state_dict()")
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for key in a:
            assert_same_value(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_value(x, y, f"{path}[{i}]")
    elif isinstance(a, np.random.RandomState):
        assert_same_value(a.get_state(legacy=False), b.get_state(legacy=False), path)
    elif isinstance(a, types.FunctionType):
        assert a is b, path
    elif hasattr(a, "__dict__"):
        assert_same_value(vars(a), vars(b), path)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), path
    else:
        assert a == b, path


def small_network(n_features, n_outputs):
    return torch.nn.Sequential(
        torch.nn.Linear(n_features, 6), torch.nn.Tanh(), torch.nn.Linear(6, n_outputs)
    )


def _classification(kind):
    rng = np.random.RandomState(0)
    if kind == "multilabel":
        return make_multilabel_classification(n_samples=120, n_features=5, random_state=0)
    X = rng.normal(size=(120, 5))
    y = (X[:, 0] > 0).astype(int) + (kind == "multiclass") * (X[:, 1] > 0.5)
    if kind == "strings":
        y = np.array(["no", "yes", "maybe"], dtype=object)[y + (X[:, 1] > 0.5)]
    return X, y


CLASSIFIERS = {
    "binary-adam": ("binary", {}),
    "multiclass-sgd": ("multiclass", {"solver": "sgd"}),
    "multiclass-adamw-batchnorm-dropout": (
        "multiclass",
        {"solver": "adamw", "normalization": "batch", "dropout": 0.2},
    ),
    "multiclass-lbfgs": ("multiclass", {"solver": "lbfgs"}),
    "multilabel-layernorm": ("multilabel", {"normalization": "layer", "activation": "gelu"}),
    "strings-class-weight": ("strings", {"class_weight": "balanced", "preprocessing": None}),
    "binary-early-stopping": ("binary", {"early_stopping": True, "max_iter": 30}),
    "binary-int-class-weight": ("binary", {"class_weight": {0: 1.0, 1: 3.0}}),
    "binary-random-state-object": ("binary", {"random_state": np.random.RandomState(3)}),
    "binary-module": ("binary", {"module": small_network}),
}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_loads_identical_and_continues_training_identically(name, tmp_path):
    kind, params = CLASSIFIERS[name]
    X, y = _classification(kind)
    params = {"max_iter": 5, "random_state": 0, **params}
    clf = _fit(TorchMLPClassifier((8,), **params), X, y)
    restored = _round_trip(clf, tmp_path, module=params.get("module"))
    assert_same_value(vars(restored), vars(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(restored.predict(X), clf.predict(X))
    _continue(clf, X, y)
    _continue(restored, X, y)
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert restored.loss_curve_ == clf.loss_curve_


REGRESSORS = {
    "squared-error-adam": {},
    "poisson-sgd": {"loss": "poisson", "solver": "sgd"},
    "gaussian-nll-adamw": {"loss": "gaussian_nll", "solver": "adamw"},
    "lbfgs-no-preprocessing": {"solver": "lbfgs", "preprocessing": None},
    "early-stopping-batchnorm": {"early_stopping": True, "normalization": "batch"},
    "module": {"module": small_network},
}


@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("name", REGRESSORS)
def test_regressor_loads_identical_and_continues_training_identically(name, n_outputs, tmp_path):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 4))
    y = np.abs(X[:, :n_outputs] * 3 + 1).squeeze()
    params = {"max_iter": 5, "random_state": 0, **REGRESSORS[name]}
    reg = _fit(TorchMLPRegressor((8,), **params), X, y)
    restored = _round_trip(reg, tmp_path, module=params.get("module"))
    assert_same_value(vars(restored), vars(reg))
    np.testing.assert_array_equal(restored.predict(X), reg.predict(X))
    if reg.loss == "gaussian_nll":
        np.testing.assert_array_equal(
            restored.predict(X, return_std=True)[1], reg.predict(X, return_std=True)[1]
        )
    _continue(reg, X, y)
    _continue(restored, X, y)
    np.testing.assert_array_equal(restored.predict(X), reg.predict(X))


def test_sparse_trained_model_round_trips(tmp_path):
    rng = np.random.RandomState(0)
    X = sp.random(150, 10, density=0.3, format="csr", random_state=0)
    y = rng.normal(size=150)
    reg = _fit(TorchMLPRegressor((8,), max_iter=5, random_state=0), X, y)
    restored = _round_trip(reg, tmp_path)
    np.testing.assert_array_equal(restored.predict(X), reg.predict(X))
    reg.partial_fit(X, y)
    restored.partial_fit(X, y)
    np.testing.assert_array_equal(restored.predict(X), reg.predict(X))


def test_warm_start_after_loading_matches_the_original(binary_data, tmp_path):
    X, y = binary_data
    clf = _fit(TorchMLPClassifier((8,), max_iter=3, random_state=0), X, y)
    restored = _round_trip(clf, tmp_path)
    for model in (clf, restored):
        _fit(model.set_params(warm_start=True), X, y)
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert restored.n_iter_ == clf.n_iter_ == 6


def test_unfitted_estimator_round_trips(tmp_path):
    reg = _round_trip(TorchMLPRegressor((3, 2), alpha=0.5, device=torch.device("cpu")), tmp_path)
    expected = TorchMLPRegressor((3, 2), alpha=0.5, device=torch.device("cpu")).get_params()
    assert reg.get_params() == expected
    assert not hasattr(reg, "n_features_in_")


def test_loading_does_not_change_the_global_random_state(binary_data, tmp_path):
    X, y = binary_data
    clf = _fit(TorchMLPClassifier((8,), module=small_network, max_iter=2, random_state=0), X, y)
    path = tmp_path / "model.safetensors"
    save(clf, path)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    load(path, module=small_network)
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)


def test_model_fitted_on_an_absent_device_loads_on_the_cpu_with_a_warning(binary_data, tmp_path):
    X, y = binary_data
    clf = _fit(TorchMLPClassifier((8,), max_iter=2, random_state=0), X, y)
    clf.device_ = "cuda:7"  # as if fitted on a GPU this machine lacks
    path = tmp_path / "model.safetensors"
    save(clf, path)
    clf.device_ = "cpu"
    with pytest.warns(UserWarning, match="'cuda:7', which is not available"):
        restored = load(path)
    assert restored.device_ == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chosen = load(path, device="cpu")
    assert chosen.device_ == "cpu" and chosen.device == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_model_fitted_on_a_gpu_loads_on_the_cpu(binary_data, tmp_path):
    X, y = binary_data
    clf = _fit(TorchMLPClassifier((8,), max_iter=3, random_state=0, device="cuda"), X, y)
    restored = _round_trip(clf, tmp_path, device="cpu")
    assert restored.device_ == "cpu"
    assert next(restored.module_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(
        restored.predict_proba(X), clf.predict_proba(X), rtol=1e-5, atol=1e-6
    )
    restored.partial_fit(X, y)  # its optimizer state moves to the CPU too


def test_module_model_needs_the_callable_to_load(binary_data, tmp_path):
    X, y = binary_data
    clf = _fit(TorchMLPClassifier(module=small_network, max_iter=2, random_state=0), X, y)
    path = tmp_path / "model.safetensors"
    save(clf, path)
    with pytest.raises(
        ValueError, match=r"module=test_save_load\.small_network.*load\(path, module="
    ):
        load(path)

    def wrong_network(n_features, n_outputs):
        return torch.nn.Linear(n_features, n_outputs)

    with pytest.raises(ValueError, match="do not fit the network"):
        load(path, module=wrong_network)
    restored = load(path, module=lambda n_in, n_out: small_network(n_in, n_out))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_module_argument_is_refused_for_a_model_with_its_own_network(binary_data, tmp_path):
    X, y = binary_data
    clf = _fit(TorchMLPClassifier((4,), max_iter=2, random_state=0), X, y)
    with pytest.raises(ValueError, match="own network"):
        _round_trip(clf, tmp_path, module=small_network)


def test_attribute_of_an_unknown_type_is_refused_at_save_naming_it(binary_data, tmp_path):
    X, y = binary_data
    clf = _fit(TorchMLPClassifier((4,), max_iter=2, random_state=0), X, y)
    clf.extra_ = {"stats": [1, object()]}
    with pytest.raises(TypeError, match=r"extra_\['stats'\]\[1\]: a builtins.object"):
        save(clf, tmp_path / "model.safetensors")
    assert not (tmp_path / "model.safetensors").exists()


def test_layer_of_an_unknown_type_is_refused_at_save(binary_data, tmp_path):
    X, y = binary_data
    clf = _fit(TorchMLPClassifier((4,), max_iter=2, random_state=0), X, y)
    clf.module_[1][1] = torch.nn.Hardswish()
    with pytest.raises(TypeError, match=r"module_\.1\.1: a torch.nn.modules.activation.Hardswish"):
        save(clf, tmp_path / "model.safetensors")


def test_layer_changed_beyond_its_constructor_arguments_is_refused(binary_data, tmp_path):
    X, y = binary_data
    clf = _fit(TorchMLPClassifier((4,), max_iter=2, random_state=0), X, y)
    clf.module_[0].note = "fitted on Tuesday"
    with pytest.raises(TypeError, match=r"module_\.0: a RobustInput rebuilt from"):
        save(clf, tmp_path / "model.safetensors")


def test_save_refuses_other_objects(tmp_path):
    from sklearn.pipeline import make_pipeline

    with pytest.raises(TypeError, match="TorchMLPClassifier or TorchMLPRegressor, got Pipeline"):
        save(make_pipeline(TorchMLPClassifier()), tmp_path / "model.safetensors")


def test_values_of_every_supported_kind_round_trip(binary_data, tmp_path):
    X, y = binary_data
    clf = _fit(TorchMLPClassifier((4,), max_iter=2, random_state=0), X, y)
    clf.extra_ = {
        "floats": [float("nan"), float("inf"), -0.0, 1e-300],
        "scalars": (np.float32(0.1), np.int8(-3), np.bool_(True), np.str_("é")),
        "arrays": [np.arange(6, dtype=">i4").reshape(2, 3), np.zeros((0, 2)), np.array(2.5)],
        "objects": np.array(["a", 3, None], dtype=object),
        "dtypes": (np.dtype("float32"), torch.float16),
        "generators": [np.random.default_rng(5), torch.Generator().manual_seed(4)],
        2: "int key",
        (1, "a"): "tuple key",
    }
    restored = _round_trip(clf, tmp_path)
    extra = restored.extra_
    assert_same_value(extra["floats"][1:], clf.extra_["floats"][1:])
    assert np.isnan(extra["floats"][0]) and str(extra["floats"][2]) == "-0.0"
    assert_same_value(extra["scalars"], clf.extra_["scalars"])
    assert extra["arrays"][0].dtype == np.dtype("int32")  # stored in native byte order
    np.testing.assert_array_equal(extra["arrays"][0], clf.extra_["arrays"][0])
    assert_same_value(extra["arrays"][1:], clf.extra_["arrays"][1:])
    assert_same_value(extra["objects"], clf.extra_["objects"])
    assert_same_value(extra["dtypes"], clf.extra_["dtypes"])
    assert extra["generators"][0].random() == clf.extra_["generators"][0].random()
    assert torch.equal(extra["generators"][1].get_state(), clf.extra_["generators"][1].get_state())
    assert extra[2] == "int key" and extra[(1, "a")] == "tuple key"


# ------------------------------------------------------------------ versions
def test_loading_with_other_library_versions_warns(binary_data, tmp_path, monkeypatch):
    X, y = binary_data
    clf = _fit(TorchMLPClassifier((4,), max_iter=2, random_state=0), X, y)
    path = tmp_path / "model.safetensors"
    with monkeypatch.context() as patch:
        patch.setattr(sk_mlp, "__version__", "0.0.1")
        save(clf, path)
    with pytest.warns(InconsistentVersionWarning, match=r"sk_mlp 0\.0\.1 -> ") as record:
        load(path)
    warning = record[0].message
    assert warning.estimator_name == "TorchMLPClassifier"
    assert warning.original_versions == {"sk_mlp": "0.0.1"}
    assert warning.current_versions == {"sk_mlp": sk_mlp.__version__}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save(clf, path)
        load(path)


class VersionedRegressor(TorchMLPRegressor):
    """The pickle wiring BaseTorchMLP uses, in a subclass."""

    def __getstate__(self):
        return record_versions(super().__getstate__())

    def __setstate__(self, state):
        check_versions(state, type(self).__name__)
        super().__setstate__(state)


def test_pickle_records_versions_and_warns_when_they_differ(regression_data, monkeypatch):
    X, y = regression_data
    reg = _fit(VersionedRegressor((4,), max_iter=2, random_state=0), X, y)
    state = reg.__getstate__()
    assert state["_sk_mlp_versions"] == {"sk_mlp": sk_mlp.__version__, "torch": torch.__version__}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restored = pickle.loads(pickle.dumps(reg))
    assert "_sk_mlp_versions" not in vars(restored)
    with monkeypatch.context() as patch:
        patch.setattr(torch, "__version__", "1.0")
        data = pickle.dumps(reg)
    with pytest.warns(InconsistentVersionWarning, match=r"torch 1\.0 -> ") as record:
        restored = pickle.loads(data)
    assert record[0].message.original_versions == {"torch": "1.0"}
    np.testing.assert_array_equal(restored.predict(X), reg.predict(X))


def test_pickles_without_a_version_record_load_quietly():
    state = {"alpha": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_versions(state, "TorchMLPRegressor")
    assert state == {"alpha": 1.0}


# ---------------------------------------------------------------- stability
def test_file_written_by_version_one_still_loads_and_predicts(request):
    data = request.path.parent / "data"
    expected = json.loads((data / "saved_models_expected.json").read_text())
    X = np.array(expected["X"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InconsistentVersionWarning)
        clf = load(data / "classifier_v1.safetensors")
        reg = load(data / "regressor_v1.safetensors")
    assert clf.classes_.tolist() == expected["classes"]
    assert clf.predict(X).tolist() == expected["labels"]
    np.testing.assert_allclose(clf.predict_proba(X), expected["proba"], rtol=1e-5, atol=1e-7)
    mean, std = reg.predict(X, return_std=True)
    np.testing.assert_allclose(mean, expected["mean"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, expected["std"], rtol=1e-5, atol=1e-6)
