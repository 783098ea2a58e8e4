"""Array API inputs under scikit-learn's dispatch: torch tensors and
array-api-strict arrays here, CUDA tensors and CuPy arrays where present."""

import pickle
import warnings

import numpy as np
import pytest
import sklearn
import torch
from sklearn.datasets import make_classification, make_regression
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# scikit-learn's own array API test helpers (they live in a private module).
from sklearn.utils._array_api import (
    get_namespace_and_device,
    move_estimator_to,
    yield_namespace_device_dtype_combinations,
)
from sklearn.utils.estimator_checks import check_array_api_input, check_array_api_input_and_values
from torch.overrides import TorchFunctionMode

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor, load, save
from sk_mlp._engine import data as _data
from sk_mlp._nn.device import resolve_device
from sk_mlp._nn.mlp import fit_robust_input

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def dispatch():
    return sklearn.config_context(array_api_dispatch=True)


def _strict():
    return pytest.importorskip("array_api_strict")


# ------------------------------------------------------- scikit-learn's checks
CHECKED = [
    TorchMLPClassifier((8,), max_iter=5, random_state=0),
    TorchMLPRegressor((8,), loss="gaussian_nll", max_iter=5, random_state=0),
]


def _combinations():
    return [
        pytest.param(namespace, device, dtype, id=f"{namespace}-{device}-{dtype}")
        for namespace, device, dtype in yield_namespace_device_dtype_combinations(
            include_numpy_namespaces=False
        )
    ]


@pytest.mark.parametrize("estimator", CHECKED, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("namespace, device, dtype", _combinations())
def test_scikit_learn_array_api_check(estimator, namespace, device, dtype):
    """scikit-learn's check of namespaces, devices, shapes and dtypes, with
    sample weights."""
    check_array_api_input(
        type(estimator).__name__,
        estimator,
        array_namespace=namespace,
        device_name=device,
        dtype_name=dtype,
        check_sample_weight=True,
    )


@pytest.mark.parametrize(
    "namespace, device, dtype",
    [
        ("torch", "cpu", "float32"),
        ("torch", "cpu", "float64"),
        ("array_api_strict", None, "float64"),
    ],
)
def test_scikit_learn_array_api_check_of_values(namespace, device, dtype):
    """Where the arithmetic is the host's, fitted arrays, outputs and score
    equal the NumPy fit's. (The classifier's score is left out: scikit-learn's
    accuracy_score averages torch tensors in float32; its outputs are compared
    in test_fit_on_tensors_is_the_fit_on_numpy.)"""
    check_array_api_input_and_values(
        "TorchMLPRegressor",
        CHECKED[1],
        array_namespace=namespace,
        device_name=device,
        dtype_name=dtype,
        check_sample_weight=True,
    )


# ------------------------------------------------------------------ helpers
class HostTransfers(TorchFunctionMode):
    """Records every tensor that goes to NumPy or to the host (``numpy``,
    ``__array__``, ``__dlpack__``, ``tolist``, ``cpu``, ``to``) with its shape."""

    NAMES = {"numpy", "__array__", "__dlpack__", "tolist", "cpu"}

    def __init__(self):
        super().__init__()
        self.shapes = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        tensor = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if tensor is not None and name in self.NAMES:
            self.shapes.append(tuple(tensor.shape))
        elif tensor is not None and name == "to" and tensor.device.type != "cpu":
            target = kwargs.get("device", args[1] if len(args) > 1 else None)
            if target is not None and not isinstance(target, torch.dtype):
                if torch.device(target).type == "cpu":
                    self.shapes.append(tuple(tensor.shape))
        return func(*args, **kwargs)

    def largest_matrix(self) -> int:
        """Rows of the largest 2-D tensor that reached the host (0 if none)."""
        return max((shape[0] for shape in self.shapes if len(shape) == 2), default=0)


def _data_xy(n=200, n_features=6, regression=False):
    if regression:
        return make_regression(n, n_features, noise=1.0, random_state=0)
    return make_classification(n, n_features, n_informative=4, random_state=0)


# ---------------------------------------------------------- same as NumPy
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("preprocessing", ["robust", None])
@pytest.mark.parametrize("copy_limit", [_data.COPY_LIMIT_BYTES, 0])
def test_fit_on_tensors_is_the_fit_on_numpy(monkeypatch, dtype, preprocessing, copy_limit):
    """The same rows as a CPU tensor under dispatch and as a NumPy array give
    the same model, bit for bit: with the input layer applied once or, where
    a copy would be large (copy_limit=0), batch by batch."""
    monkeypatch.setattr(_data, "COPY_LIMIT_BYTES", copy_limit)
    X, y = _data_xy()
    X = X.astype(dtype)
    params = dict(hidden_layer_sizes=(8,), max_iter=5, preprocessing=preprocessing, random_state=0)
    expected = TorchMLPClassifier(**params).fit(X, y)
    with dispatch():
        fitted = TorchMLPClassifier(**params).fit(torch.from_numpy(X), torch.from_numpy(y))
        proba = fitted.predict_proba(torch.from_numpy(X))
    for a, b in zip(fitted.coefs_, expected.coefs_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(proba.numpy(), expected.predict_proba(X))


@pytest.mark.parametrize("n_samples", [500, 40_000])
@pytest.mark.parametrize("weighted", [False, True])
def test_robust_statistics_are_the_same_from_a_tensor(n_samples, weighted):
    rng = np.random.default_rng(0)
    X = rng.standard_t(2, size=(n_samples, 3)).astype(np.float32)
    X[:, 2] = np.round(X[:, 2])  # an integer column: ties at the median
    weights = rng.uniform(0.5, 2, n_samples) if weighted else np.ones(n_samples)
    expected = fit_robust_input(X, weights)
    layer = fit_robust_input(torch.from_numpy(X), weights)
    torch.testing.assert_close(layer.shift, expected.shift, rtol=0, atol=0)
    torch.testing.assert_close(layer.inv_scale, expected.inv_scale, rtol=0, atol=0)


def test_y_and_sample_weight_follow_X():
    """y and sample_weight from other containers and namespaces than X's."""
    strict = _strict()
    X, y = _data_xy()
    weight = np.linspace(0.5, 2, len(y))
    expected = TorchMLPClassifier((8,), max_iter=5, random_state=0).fit(X, y, weight)
    with dispatch():
        fitted = TorchMLPClassifier((8,), max_iter=5, random_state=0).fit(
            torch.from_numpy(X), list(y), strict.asarray(weight)
        )
        proba = fitted.predict_proba(torch.from_numpy(X))
    np.testing.assert_array_equal(proba.numpy(), expected.predict_proba(X))


def test_partial_fit_on_tensors_is_partial_fit_on_numpy():
    X, y = _data_xy(regression=True)
    expected = TorchMLPRegressor((8,), random_state=0)
    fitted = TorchMLPRegressor((8,), random_state=0)
    for _ in range(2):
        expected.partial_fit(X, y)
        with dispatch():
            fitted.partial_fit(torch.from_numpy(X), torch.from_numpy(y))
    with dispatch():
        prediction = fitted.predict(torch.from_numpy(X))
    assert isinstance(fitted._y_loc, torch.Tensor)
    np.testing.assert_array_equal(prediction.numpy(), expected.predict(X))


# ------------------------------------------------------------------ outputs
def test_regressor_outputs_are_tensors():
    X, y = _data_xy(regression=True)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    with dispatch():
        reg = TorchMLPRegressor((8,), loss="gaussian_nll", max_iter=5, random_state=0).fit(X, y)
        mean, std = reg.predict(X, return_std=True)
        lower, upper = reg.predict_interval(X)
        score = reg.score(X, y)
    for out in (mean, std, lower, upper):
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
        assert out.shape == (len(y),)
    assert isinstance(score, float)
    # Central intervals, as wide as a multiple of the std that its calibration sets.
    torch.testing.assert_close(upper + lower, 2 * mean)
    factor = float(reg._half_width_factor(0.95)[0])
    torch.testing.assert_close(upper - lower, 2 * factor * std)


def test_string_labels_come_back_as_numpy_and_probabilities_as_tensors():
    X, y = _data_xy()
    labels = np.array(["no", "yes"])[y]
    with dispatch():
        clf = TorchMLPClassifier((8,), max_iter=5, random_state=0).fit(torch.from_numpy(X), labels)
        predicted = clf.predict(torch.from_numpy(X))
        proba = clf.predict_proba(torch.from_numpy(X))
    assert isinstance(clf.classes_, np.ndarray) and clf.classes_.tolist() == ["no", "yes"]
    assert isinstance(predicted, np.ndarray) and set(predicted) <= {"no", "yes"}
    assert isinstance(proba, torch.Tensor) and proba.shape == (len(y), 2)


def test_multilabel_predictions_are_integer_tensors():
    X, _ = _data_xy()
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0], axis=1).astype(np.int64)
    with dispatch():
        clf = TorchMLPClassifier((8,), max_iter=5, random_state=0).fit(
            torch.from_numpy(X), torch.from_numpy(Y)
        )
        predicted = clf.predict(torch.from_numpy(X))
    expected = TorchMLPClassifier((8,), max_iter=5, random_state=0).fit(X, Y).predict(X)
    assert isinstance(predicted, torch.Tensor) and predicted.dtype == torch.int64
    np.testing.assert_array_equal(predicted.numpy(), expected)


def test_outside_dispatch_a_tensor_takes_the_numpy_route():
    X, y = _data_xy()
    clf = TorchMLPClassifier((8,), max_iter=5, random_state=0).fit(torch.from_numpy(X), y)
    assert isinstance(clf.predict_proba(torch.from_numpy(X)), np.ndarray)
    assert "_input_namespace" not in vars(clf)


# ------------------------------------------------------------ no host copy
@pytest.mark.parametrize("preprocessing", ["robust", None])
def test_fit_and_predict_never_bring_X_to_the_host(preprocessing):
    """The only rows of X that reach the host are the robust statistics'
    subsample (30,000 rows); without that layer, none. (A piecewise-linear
    embedding fits its bins on the same subsample: it is left out here.)"""
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.standard_normal((40_000, 4)).astype(np.float32))
    y = torch.from_numpy((rng.standard_normal(40_000) > 0).astype(np.int64))
    clf = TorchMLPClassifier(
        (8,), batch_size=4096, max_iter=1, preprocessing=preprocessing, numeric_embedding=None
    )
    with dispatch(), HostTransfers() as transfers:
        clf.fit(X, y)
        clf.predict(X)
        clf.predict_proba(X)
    assert transfers.largest_matrix() == (30_000 if preprocessing else 0)


# ------------------------------------------------------ namespace discipline
def test_prediction_from_another_namespace_raises_under_dispatch():
    X, y = _data_xy()
    tensor_fit = TorchMLPClassifier((8,), max_iter=5, random_state=0)
    numpy_fit = TorchMLPClassifier((8,), max_iter=5, random_state=0).fit(X, y)
    with dispatch():
        tensor_fit.fit(torch.from_numpy(X), torch.from_numpy(y))
        with pytest.raises(
            ValueError, match=r"TorchMLPClassifier.predict_proba\(\).*same namespace"
        ):
            tensor_fit.predict_proba(X)
        with pytest.raises(ValueError, match="fitted on NumPy arrays"):
            numpy_fit.predict(torch.from_numpy(X))
    # Outside dispatch every input takes the NumPy route.
    np.testing.assert_array_equal(tensor_fit.predict(X), numpy_fit.predict(X))


def test_move_estimator_to_moves_the_fitted_arrays():
    X, y = _data_xy(regression=True)
    reg = TorchMLPRegressor((8,), max_iter=5, random_state=0).fit(X, y)
    with dispatch():
        xp, _, device = get_namespace_and_device(torch.from_numpy(X))  # as the error says
        moved = move_estimator_to(reg, xp, device)
        prediction = moved.predict(torch.from_numpy(X))
    assert isinstance(moved._y_loc, torch.Tensor) and isinstance(reg._y_loc, np.ndarray)
    np.testing.assert_array_equal(prediction.numpy(), reg.predict(X))


def test_models_fitted_on_tensors_pickle_and_save_host_arrays(tmp_path):
    pytest.importorskip("safetensors")
    X, y = _data_xy(regression=True)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    with dispatch():
        reg = TorchMLPRegressor((8,), max_iter=5, random_state=0).fit(X, y)
        expected = reg.predict(X)
    save(reg, tmp_path / "model.safetensors")
    for restored in (pickle.loads(pickle.dumps(reg)), load(tmp_path / "model.safetensors")):
        assert isinstance(restored._y_loc, np.ndarray)
        with dispatch():
            torch.testing.assert_close(restored.predict(X), expected, rtol=0, atol=0)


def test_auto_device_follows_a_tensor(monkeypatch):
    monkeypatch.setattr("sk_mlp._nn.device.available_devices", lambda: ["cuda:0", "cpu"])
    assert resolve_device("auto", like=torch.zeros(1)) == torch.device("cpu")
    assert resolve_device("auto", like=np.zeros(1)) == torch.device("cuda:0")
    assert resolve_device("cpu", like=torch.zeros(1)) == torch.device("cpu")


# ---------------------------------------------------------------- pipelines
def _pipeline():
    return make_pipeline(
        StandardScaler(), PCA(n_components=4), TorchMLPClassifier((8,), max_iter=5, random_state=0)
    )


def test_pipeline_and_grid_search_run_on_tensors():
    X, y = _data_xy(300, n_features=8)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    with dispatch():
        search = GridSearchCV(_pipeline(), {"torchmlpclassifier__alpha": [1e-4, 1e-2]}, cv=2)
        search.fit(X, y)
        predicted = search.predict(X)
        proba = search.predict_proba(X)
    assert isinstance(predicted, torch.Tensor) and predicted.dtype == torch.int64
    assert isinstance(proba, torch.Tensor) and proba.shape == (300, 2)
    assert 0 <= search.best_score_ <= 1


# --------------------------------------------------------------- GPU arrays
@requires_cuda
def test_cuda_tensors_train_where_they_are_and_come_back_there():
    X, y = _data_xy()
    X, y = torch.from_numpy(X).cuda(), torch.from_numpy(y).cuda()
    with dispatch():
        clf = TorchMLPClassifier((8,), max_iter=5, device="auto", random_state=0).fit(X, y)
        proba, predicted = clf.predict_proba(X), clf.predict(X)
    assert clf.device_ == str(X.device)
    assert proba.device == X.device and predicted.device == X.device


@requires_cuda
def test_explicit_device_wins_and_outputs_return_to_X():
    X, y = _data_xy()
    with dispatch():
        clf = TorchMLPClassifier((8,), max_iter=5, device="cuda", random_state=0)
        clf.fit(torch.from_numpy(X), torch.from_numpy(y))
        proba = clf.predict_proba(torch.from_numpy(X))
    assert clf.device_.startswith("cuda") and proba.device.type == "cpu"


@requires_cuda
def test_cuda_pipeline_keeps_the_data_on_the_gpu():
    """Nothing of X's size, nor PCA's output, reaches the host: only the
    robust statistics' subsample and per-row vectors."""
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.standard_normal((50_000, 20)).astype(np.float32)).cuda()
    y = (X[:, 0] > 0).long()
    with dispatch(), HostTransfers() as transfers:
        pipeline = _pipeline().fit(X, y)
        predicted = pipeline.predict(X)
    assert predicted.device == X.device
    assert transfers.largest_matrix() <= 30_000


def test_cupy_arrays_stay_cupy():
    cupy = pytest.importorskip("cupy")
    if cupy.cuda.runtime.getDeviceCount() == 0:  # pragma: no cover
        pytest.skip("CuPy needs a CUDA device")
    X, y = _data_xy()
    with dispatch(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = TorchMLPClassifier((8,), max_iter=5, device="auto", random_state=0)
        clf.fit(cupy.asarray(X), cupy.asarray(y))
        proba = clf.predict_proba(cupy.asarray(X))
    assert isinstance(proba, cupy.ndarray) and clf.device_.startswith("cuda")


def test_nan_under_dispatch_says_how_to_have_it_imputed():
    X = torch.zeros(20, 3, dtype=torch.float64)
    X[0, 0] = float("nan")
    y = torch.arange(20) % 2
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(ValueError, match="NumPy array or a pandas DataFrame"):
            TorchMLPClassifier(max_iter=1).fit(X, y)


# ------------------------------------------------------- categorical features
def _with_a_category_column():
    X, y = _data_xy()
    X[:, 2] = np.arange(len(X)) % 4  # four levels, as integer codes
    return torch.from_numpy(X), torch.from_numpy(y)


@pytest.mark.parametrize("categorical_features", [[2], [False, False, True, False, False, False]])
def test_categorical_features_under_dispatch_are_refused_not_ignored(categorical_features):
    """X stays on its device under dispatch, where no frame stage encodes it:
    marked columns would be read as numbers. The refusal says what to do and
    leaves a fitted model as it was."""
    X, y = _with_a_category_column()
    with dispatch():
        clf = TorchMLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
        before = clf.predict_proba(X)
        clf.set_params(categorical_features=categorical_features)
        state = dict(vars(clf))
        message = "categorical_features marks columns of X, an array of torch"
        with pytest.raises(ValueError, match=message):
            clf.fit(X, y)
        with pytest.raises(ValueError, match="NumPy array or a pandas DataFrame"):
            TorchMLPClassifier(max_iter=3, categorical_features=categorical_features).fit(X, y)
        assert vars(clf).keys() == state.keys()
        assert all(vars(clf)[name] is value for name, value in state.items())
        torch.testing.assert_close(clf.predict_proba(X), before, rtol=0, atol=0)


def test_partial_fit_on_tensors_of_a_model_with_categorical_features_is_refused():
    """A model whose frame stage encodes a categorical column (fitted on
    NumPy) cannot go on with tensors its frame stage would never see."""
    X, y = _with_a_category_column()
    clf = TorchMLPClassifier((8,), categorical_features=[2], random_state=0)
    clf.partial_fit(X.numpy(), y.numpy(), classes=[0, 1])
    with dispatch(), pytest.raises(ValueError, match="categorical_features marks columns"):
        clf.partial_fit(X, y)


@pytest.mark.parametrize("categorical_features", ["from_dtype", None, [], [False] * 6])
def test_categorical_features_that_mark_no_column_fit_on_tensors(categorical_features):
    """'from_dtype' (the default) finds no dtypes to read on a tensor, and marks nothing."""
    X, y = _with_a_category_column()
    with dispatch():
        clf = TorchMLPClassifier(
            (8,), max_iter=3, categorical_features=categorical_features, random_state=0
        ).fit(X, y)
        assert isinstance(clf.predict_proba(X), torch.Tensor)
    assert clf.is_categorical_ is None
