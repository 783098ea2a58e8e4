"""sk_mlp.save / sk_mlp.load: exact round trips, continued training, versions."""

import json
import pickle
import types
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning

import sk_mlp
from sk_mlp import InconsistentVersionWarning, TorchMLPClassifier, TorchMLPRegressor, load, save
from sk_mlp._io.safe_format import check_versions, record_versions

# Embeddings need columns of more than 1,000 categories, which in these small
# tables are mostly distinct: the warning about such columns is tested in
# test_tabular.py.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Categorical feature .* distinct values in:UserWarning")
]


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
    "multiclass-ensemble-feature-scaling": (
        "multiclass",
        {"n_ensemble": 3, "feature_scaling": True},
    ),
    "multilabel-ensemble": ("multilabel", {"n_ensemble": 2}),
    "multiclass-ensemble-label-smoothing-feature-scaling": (
        "multiclass",
        {"n_ensemble": 3, "label_smoothing": 0.1, "feature_scaling": True},
    ),
    "multilabel-piecewise-linear-warmup-cosine": (
        "multilabel",
        {"numeric_embedding": "piecewise_linear", "learning_rate": "warmup_cosine"},
    ),
    "binary-periodic-ensemble-lbfgs": (
        "binary",
        {"numeric_embedding": "periodic", "n_ensemble": 2, "solver": "lbfgs"},
    ),
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
    "gaussian-nll-ensemble-feature-scaling": {
        "loss": "gaussian_nll",
        "n_ensemble": 3,
        "feature_scaling": True,
    },
    "gaussian-nll-ensemble-piecewise-linear": {
        "loss": "gaussian_nll",
        "n_ensemble": 3,
        "numeric_embedding": "piecewise_linear",
    },
    "quantile-default": {"loss": "quantile"},
    "quantiles-ensemble-early-stopping": {
        "loss": "quantile",
        "quantile": [0.9, 0.1, 0.5],
        "n_ensemble": 3,
        "early_stopping": True,
    },
    "poisson-periodic-feature-scaling-early-stopping": {
        "loss": "poisson",
        "numeric_embedding": "periodic",
        "feature_scaling": True,
        "early_stopping": True,
    },
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
    if reg.loss in ("gaussian_nll", "quantile"):
        for a, b in zip(restored.predict_interval(X, 0.8), reg.predict_interval(X, 0.8)):
            np.testing.assert_array_equal(a, b)
    _continue(reg, X, y)
    _continue(restored, X, y)
    np.testing.assert_array_equal(restored.predict(X), reg.predict(X))


def _mixed_frame(n=1200, seed=0):
    """Numbers with gaps, strings and a category with missing entries (one-hot
    encoded), an identifier with 1050 categories (embedded), nullable integers."""
    rng = np.random.RandomState(seed)
    frame = pd.DataFrame(
        {
            "size": rng.normal(size=n),
            "colour": rng.choice(np.array(["red", "green", "blue", None], dtype=object), n),
            "grade": pd.Series(rng.choice(["a", "b", None], n), dtype="category"),
            "id": [f"u{i}" for i in rng.permutation(n) % 1050],
            "count": pd.Series(rng.poisson(3, n)).astype("Int64"),
        }
    )
    frame.loc[rng.rand(n) < 0.2, "size"] = np.nan
    frame.loc[rng.rand(n) < 0.1, "count"] = pd.NA
    return frame


def _unseen_rows(frame):
    """Rows with categories unseen in fit and gaps where fit had none."""
    rows = frame.iloc[:4].copy()
    rows["colour"] = ["purple", None, "red", np.nan]
    rows["grade"] = pd.Categorical(["c", None, "a", "b"])
    rows["id"] = ["new", "u3", None, "u9999"]
    rows["size"] = [np.nan, 1.0, np.nan, 0.5]
    return rows


FRAME_MODELS = {
    "classifier": (TorchMLPClassifier, {}),
    "classifier-module": (TorchMLPClassifier, {"module": small_network}),
    "classifier-no-preprocessing-sgd": (
        TorchMLPClassifier,
        {"preprocessing": None, "solver": "sgd"},
    ),
    "regressor-gaussian-nll": (TorchMLPRegressor, {"loss": "gaussian_nll"}),
    "regressor-module": (TorchMLPRegressor, {"module": small_network}),
    "classifier-ensemble-feature-scaling": (
        TorchMLPClassifier,
        {"n_ensemble": 3, "feature_scaling": True},
    ),
    "classifier-ensemble-piecewise-linear": (
        TorchMLPClassifier,
        {"n_ensemble": 2, "numeric_embedding": "piecewise_linear", "feature_scaling": True},
    ),
    "regressor-periodic": (TorchMLPRegressor, {"numeric_embedding": "periodic"}),
}


@pytest.mark.parametrize("name", FRAME_MODELS)
def test_frame_model_loads_identical_and_continues_training_identically(name, tmp_path):
    cls, params = FRAME_MODELS[name]
    X = _mixed_frame()
    y = ((X.colour == "red") ^ (X["size"].fillna(5) > 0.5)).astype(int).to_numpy()
    if cls is TorchMLPRegressor:
        y = y * 2.0 + X["count"].fillna(0).to_numpy(dtype=float)
    model = _fit(cls((8,), max_iter=3, random_state=0, **params), X, y)
    assert any(isinstance(m, torch.nn.Embedding) for m in model.module_.modules())
    restored = _round_trip(model, tmp_path, module=params.get("module"))
    assert_same_value(vars(restored), vars(model))
    method = "predict_proba" if cls is TorchMLPClassifier else "predict"
    for rows in (X, _unseen_rows(X)):
        expected = getattr(model, method)(rows)
        assert np.isfinite(expected).all()
        np.testing.assert_array_equal(getattr(restored, method)(rows), expected)
    _continue(model, X, y)
    _continue(restored, X, y)
    np.testing.assert_array_equal(getattr(restored, method)(X), getattr(model, method)(X))
    assert restored.loss_curve_ == model.loss_curve_


def test_array_with_missing_values_round_trips(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(150, 4))
    X[rng.rand(*X.shape) < 0.1] = np.nan
    y = np.nan_to_num(X[:, 0]) + rng.normal(size=150)
    reg = _fit(TorchMLPRegressor((8,), max_iter=5, random_state=0), X, y)
    restored = _round_trip(reg, tmp_path)
    assert_same_value(vars(restored), vars(reg))
    np.testing.assert_array_equal(restored.predict(X), reg.predict(X))
    reg.partial_fit(X, y)
    restored.partial_fit(X, y)
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
    assert len(restored.loss_curve_) == len(clf.loss_curve_) == 6


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


def test_model_fitted_with_a_module_instance_loads_with_that_module(binary_data, tmp_path):
    X, y = binary_data
    network = small_network(X.shape[1], 1)
    clf = _fit(TorchMLPClassifier(module=network, max_iter=2, random_state=0), X, y)
    restored = _round_trip(clf, tmp_path, module=network)
    assert restored.module is network
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    _continue(clf, X, y)
    _continue(restored, X, y)
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
        patch.setattr(sk_mlp._version, "__version__", "0.0.1")
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
def _load_fixture(data, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InconsistentVersionWarning)
        return load(data / name)


@pytest.mark.parametrize("version", [1, 2])
def test_files_of_each_format_version_still_load_and_predict(request, version):
    data = request.path.parent / "data"
    expected = json.loads((data / f"saved_models_expected_v{version}.json").read_text())
    X = np.array(expected["X"])
    clf = _load_fixture(data, f"classifier_v{version}.safetensors")
    reg = _load_fixture(data, f"regressor_v{version}.safetensors")
    assert clf.classes_.tolist() == expected["classes"]
    assert clf.predict(X).tolist() == expected["labels"]
    np.testing.assert_allclose(clf.predict_proba(X), expected["proba"], rtol=1e-5, atol=1e-7)
    mean, std = reg.predict(X, return_std=True)
    np.testing.assert_allclose(mean, expected["mean"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, expected["std"], rtol=1e-5, atol=1e-6)
    if version >= 2:
        # The dtypes of the fit (tests/data/make_saved_models.py, as_frame).
        frame = pd.DataFrame(expected["frame"]).astype(
            {"size": "float64", "colour": "object", "grade": "category"}
        )
        frame_clf = _load_fixture(data, f"frame_classifier_v{version}.safetensors")
        assert frame_clf.predict(frame).tolist() == expected["frame_labels"]
        np.testing.assert_allclose(
            frame_clf.predict_proba(frame), expected["frame_proba"], rtol=1e-5, atol=1e-7
        )
    # Models of every version continue training.
    clf.partial_fit(X, clf.predict(X))
    reg.set_params(warm_start=True, max_iter=2)
    _fit(reg, X, mean)
    assert len(clf.loss_curve_) == len(reg.loss_curve_) - 1 == 31
    assert (clf.n_iter_, reg.n_iter_) == (1, 2)  # the epochs of the last call


def test_model_from_before_the_frame_stage_fills_gaps_with_its_input_centre(request):
    data = request.path.parent / "data"
    X = np.array(json.loads((data / "saved_models_expected_v1.json").read_text())["X"])
    clf = _load_fixture(data, "classifier_v1.safetensors")
    scaling = clf.module_[0]
    centre = (-scaling.shift.double() / scaling.inv_scale.double()).numpy()
    gaps = X.copy()
    gaps[[0, 2], [1, 0]] = np.nan
    filled = np.where(np.isnan(gaps), centre, gaps)
    np.testing.assert_array_equal(clf.predict_proba(gaps), clf.predict_proba(filled))


# Fitted state sk_mlp has added since the first format version.
_ADDED_SINCE_V1 = (
    "_tabular",
    "is_categorical_",
    "_fitted_architecture",
    "_random_seed",
    "_n_calls",
    "categorical_features",
    "precision",
    "uncertainty_calibration",
    "temperature_",
)


@pytest.mark.parametrize("preprocessing", ["robust", None])
def test_old_pickles_load_with_the_state_added_since(binary_data, preprocessing):
    X, y = binary_data
    clf = _fit(
        TorchMLPClassifier((4,), max_iter=2, random_state=0, preprocessing=preprocessing), X, y
    )
    state = clf.__getstate__()
    for name in _ADDED_SINCE_V1:
        del state[name]
    old = TorchMLPClassifier.__new__(TorchMLPClassifier)
    old.__setstate__(state)
    assert old.get_params() == clf.get_params()
    assert old._fitted_architecture == clf._fitted_architecture
    np.testing.assert_array_equal(old.predict_proba(X), clf.predict_proba(X))
    gaps = X.copy()
    gaps[0, 0] = np.nan
    if preprocessing is None:  # nothing to fill a gap with: refused, as before
        with pytest.raises(ValueError, match="contains NaN"):
            old.predict(gaps)
    else:
        assert np.isfinite(old.predict_proba(gaps)).all()
    old.partial_fit(X, y)
    assert len(old.loss_curve_) == len(clf.loss_curve_) + 1


def test_a_failed_save_leaves_the_previous_file_whole(binary_data, tmp_path, monkeypatch):
    import safetensors.torch

    X, y = binary_data
    clf = _fit(TorchMLPClassifier((4,), max_iter=3, random_state=0), X, y)
    path = tmp_path / "model.safetensors"
    save(clf, path)
    saved = path.read_bytes()

    def write_half_then_fail(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", write_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        save(clf, path)
    assert path.read_bytes() == saved
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temporary left
    np.testing.assert_array_equal(load(path).predict_proba(X), clf.predict_proba(X))


def test_save_writes_beside_the_target_and_replaces_it(binary_data, tmp_path, monkeypatch):
    import os

    X, y = binary_data
    clf = _fit(TorchMLPClassifier((4,), max_iter=3, random_state=0), X, y)
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"an older file")
    events = []
    real_replace, real_fsync = os.replace, os.fsync
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append((a, b)), real_replace(a, b)))
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd)))
    save(clf, path)
    # flushed to the disk before it replaces the old file, from the same folder
    source, target = events[1]
    assert events[0] == "fsync"
    assert os.path.dirname(source) == str(tmp_path) and target == str(path)
    np.testing.assert_array_equal(load(path).predict_proba(X), clf.predict_proba(X))
