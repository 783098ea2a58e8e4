"""ONNX export: onnxruntime reproduces predict and predict_proba."""

import inspect
import subprocess
import sys
import warnings

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import skl2onnx
import torch
from sklearn.compose import make_column_transformer
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sk_mlp import (
    TorchMLPClassifier,
    TorchMLPRegressor,
    _torch_private,
    register_skl2onnx_converters,
    to_onnx,
)

# onnxruntime and torch sum in different orders: a few float32 roundings apart.
RTOL = 1e-5


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def _run(model, **inputs):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def assert_close(actual, expected):
    """Relative agreement, with an absolute floor at the outputs' scale."""
    atol = 1e-7 * max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=atol)


def assert_same_labels(labels, expected, proba):
    """Equal labels wherever the model is not torn between two classes."""
    top_two = np.sort(proba, axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 1e-5
    assert clear.mean() > 0.95
    np.testing.assert_array_equal(labels[clear], expected[clear])


def _features(n=300, n_features=5):
    return np.random.RandomState(0).normal(size=(n, n_features))


LABELS = {
    "binary": lambda X: (X[:, 0] + X[:, 1] > 0).astype(int),
    "multiclass": lambda X: (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5) * 2,
    "strings": lambda X: np.array(["bee", "cat", "dog"], dtype=object)[(X[:, 0] > 0) + 0],
    "string-multiclass": lambda X: np.array(["bee", "cat", "dog"])[
        (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    ],
}
NETWORKS = {
    "plain": {},
    "batchnorm-tanh": {"normalization": "batch", "activation": "tanh"},
    "layernorm-gelu-dropout": {"normalization": "layer", "activation": "gelu", "dropout": 0.1},
    "silu-no-preprocessing": {"activation": "silu", "preprocessing": None},
    "elu": {"activation": "elu"},
    "leaky-relu-logistic": {"hidden_layer_sizes": (8, 8), "activation": "leaky_relu"},
}


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("target", LABELS)
def test_classifier_graph_reproduces_predict_and_predict_proba(target, network):
    X = _features()
    y = LABELS[target](X)
    params = {"hidden_layer_sizes": (16,), **NETWORKS[network]}
    clf = _fit(TorchMLPClassifier(max_iter=30, random_state=0, **params), X, y)
    label, proba = _run(to_onnx(clf), X=X.astype(np.float32))
    expected_proba = clf.predict_proba(X)
    assert proba.dtype == np.float32
    assert_close(proba, expected_proba)
    assert_same_labels(label, clf.predict(X), expected_proba)


def test_float64_rows_give_a_float64_graph_closer_to_sk_mlp():
    X = _features()
    clf = _fit(TorchMLPClassifier((16,), max_iter=30, random_state=0), X, LABELS["multiclass"](X))
    label, proba = _run(to_onnx(clf, X[:2]), X=X)
    assert proba.dtype == np.float64
    assert_close(proba, clf.predict_proba(X))
    assert_same_labels(label, clf.predict(X), clf.predict_proba(X))


def test_multilabel_graph_predicts_the_indicator_matrix():
    X, Y = make_multilabel_classification(n_samples=200, n_features=6, random_state=0)
    clf = _fit(TorchMLPClassifier((16,), max_iter=30, random_state=0), X, Y)
    label, proba = _run(to_onnx(clf), X=X.astype(np.float32))
    expected = clf.predict_proba(X)
    assert_close(proba, expected)
    assert label.shape == Y.shape and label.dtype == np.int64
    clear = np.abs(expected - 0.5) > 1e-5
    np.testing.assert_array_equal(label[clear], clf.predict(X)[clear])


@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("loss", ["squared_error", "poisson", "gaussian_nll"])
def test_regressor_graph_reproduces_predict_in_the_units_of_y(loss, n_outputs):
    X = _features()
    y = np.squeeze(np.abs(X[:, :n_outputs] * 20 + 50))
    reg = _fit(TorchMLPRegressor((16,), loss=loss, max_iter=30, random_state=0), X, y)
    outputs = _run(to_onnx(reg), X=X.astype(np.float32))
    assert outputs[0].shape == y.shape
    assert_close(outputs[0], reg.predict(X))
    if loss == "gaussian_nll":
        assert_close(outputs[1], reg.predict(X, return_std=True)[1])
    else:
        assert len(outputs) == 1


def test_batch_size_is_dynamic():
    X = _features(n=40)
    reg = _fit(TorchMLPRegressor((8,), max_iter=10, random_state=0), X, X[:, 0])
    model = to_onnx(reg)
    for rows in (X[:1], X[:7], np.tile(X, (50, 1))):
        assert_close(_run(model, X=rows.astype(np.float32))[0], reg.predict(rows))


def small_network(n_features, n_outputs):
    return torch.nn.Sequential(
        torch.nn.Linear(n_features, 8), torch.nn.ReLU(), torch.nn.Linear(8, n_outputs)
    )


class Residual(torch.nn.Module):
    """A network sk_mlp cannot write itself: torch.onnx.export traces it."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.hidden = torch.nn.Linear(n_features, 8)
        self.out = torch.nn.Linear(8, n_outputs)
        self.skip = torch.nn.Linear(n_features, n_outputs)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x))) + self.skip(x)


class Branching(Residual):
    """Control flow on the data: torch.export refuses it."""

    def forward(self, x):
        return self.skip(x) if x.sum() > 0 else -self.skip(x)


@pytest.mark.parametrize("module", [small_network, Residual])
def test_module_network_is_exported_between_the_input_and_output_stages(module):
    X = _features()
    clf = _fit(
        TorchMLPClassifier(module=module, max_iter=30, random_state=0), X, LABELS["binary"](X)
    )
    label, proba = _run(to_onnx(clf, X[:4].astype(np.float32)), X=X.astype(np.float32))
    assert_close(proba, clf.predict_proba(X))
    assert_same_labels(label, clf.predict(X), clf.predict_proba(X))


def test_module_network_that_cannot_be_exported_raises_naming_why():
    X = _features(n=60)
    clf = _fit(TorchMLPClassifier(module=Branching, max_iter=2, random_state=0), X, X[:, 0] > 0)
    with pytest.raises(ValueError, match="module=Branching cannot be exported to ONNX: torch"):
        to_onnx(clf)


def _has_parameter(function, name):
    return name in inspect.signature(function).parameters


# Where torch.export captured the network (torch >= 2.5), and TorchScript's
# exporter after the same capture (torch 2.4); each runs where torch has it.
EXPORT_ROUTES = [
    pytest.param(
        _torch_private._onnx_from_program,
        marks=pytest.mark.skipif(
            not _has_parameter(torch.onnx.export, "dynamic_shapes"),
            reason="torch < 2.5 exports no torch.export program with onnxscript >= 0.2",
        ),
        id="from-program",
    ),
    pytest.param(
        _torch_private._onnx_by_tracing,
        marks=pytest.mark.skipif(
            not _has_parameter(torch.onnx.export, "dynamic_axes"),
            reason="this torch no longer has TorchScript's ONNX exporter",
        ),
        id="by-tracing",
    ),
]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("route", EXPORT_ROUTES)
def test_each_export_route_reproduces_the_network_at_any_batch_size(route):
    torch.manual_seed(0)
    network = Residual(5, 3).eval()
    X = _features(n=300).astype(np.float32)
    model = route(network, torch.as_tensor(X[:2]), 18)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 18
    for rows in (X[:1], X[:7], X):
        with torch.no_grad():
            expected = network(torch.as_tensor(rows)).numpy()
        assert_close(_run(model, x=rows)[0], expected)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("route", EXPORT_ROUTES)
def test_each_export_route_refuses_branches_on_the_data(route):
    with pytest.raises(Exception, match="(?i)data-dependent|control flow"):
        route(Branching(5, 3).eval(), torch.ones(2, 5), 18)


def test_target_opset_below_13_is_refused():
    X = _features(n=30)
    reg = _fit(TorchMLPRegressor((4,), max_iter=2, random_state=0), X, X[:, 0])
    with pytest.raises(ValueError, match="target_opset must be at least 13"):
        to_onnx(reg, target_opset=12)


# -------------------------------------------------------------------- skl2onnx
@pytest.mark.parametrize("zipmap", [False, True])
def test_scaler_pipeline_converts_with_skl2onnx(zipmap):
    X = _features()
    y = LABELS["string-multiclass"](X)
    pipe = make_pipeline(StandardScaler(), TorchMLPClassifier((16,), max_iter=30, random_state=0))
    pipe = _fit(pipe, X, y)
    register_skl2onnx_converters()
    options = {TorchMLPClassifier: {"zipmap": zipmap}}
    model = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32), options=options)
    label, proba = _run(model, X=X.astype(np.float32))
    if zipmap:  # one {class: probability} dict per row
        proba = np.array([[row[c] for c in pipe.classes_] for row in proba])
    assert_close(proba, pipe.predict_proba(X))
    assert_same_labels(label, pipe.predict(X), pipe.predict_proba(X))


def test_column_transformer_pipeline_converts_with_its_std():
    X = _features(n=200, n_features=2)
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1]})
    frame["color"] = np.array(["red", "green", "blue"])[np.arange(200) % 3]
    y = X[:, 0] * 3 + (frame["color"] == "red") * 2
    columns = make_column_transformer((OneHotEncoder(), ["color"]), (StandardScaler(), ["a", "b"]))
    reg = TorchMLPRegressor((16,), loss="gaussian_nll", max_iter=30, random_state=0)
    pipe = _fit(make_pipeline(columns, reg), frame, y)
    register_skl2onnx_converters()
    options = {TorchMLPRegressor: {"return_std": True}}
    model = skl2onnx.to_onnx(pipe, frame[:1], options=options)
    inputs = {name: frame[[name]].to_numpy() for name in ("a", "b")}
    mean, std = _run(model, color=frame[["color"]].to_numpy(object), **inputs)
    expected_mean, expected_std = pipe.predict(frame, return_std=True)
    assert_close(mean.ravel(), expected_mean)
    assert_close(std.ravel(), expected_std)


def test_to_onnx_converts_a_pipeline_through_skl2onnx():
    X = _features()
    pipe = make_pipeline(StandardScaler(), TorchMLPRegressor((8,), max_iter=10, random_state=0))
    pipe = _fit(pipe, X, X[:, 0] * 10)
    (prediction,) = _run(to_onnx(pipe, X[:1].astype(np.float32)), X=X.astype(np.float32))
    assert_close(prediction.ravel(), pipe.predict(X))
    with pytest.raises(ValueError, match="needs X_sample"):
        to_onnx(pipe)


# ------------------------------------------------------------- dependencies
def test_importing_sk_mlp_imports_no_export_dependency():
    code = (
        "import sys, sk_mlp; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'onnx', 'onnxruntime', 'skl2onnx', 'onnxscript', 'safetensors'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_onnx_names_the_pip_install(monkeypatch):
    X = _features(n=30)
    reg = _fit(TorchMLPRegressor((4,), max_iter=2, random_state=0), X, X[:, 0])
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match="pip install onnx"):
        to_onnx(reg)
