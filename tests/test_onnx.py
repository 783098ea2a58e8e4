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
    register_skl2onnx_converters,
    to_onnx,
)
from sk_mlp._compat import torch_private as _torch_private
from sk_mlp._nn.layers import FeatureScale, MemberLinear

# Embeddings need columns of more than 1,000 categories, which in these small
# tables are mostly distinct: the warning about such columns is tested in
# test_tabular.py.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Categorical feature .* distinct values in:UserWarning")
]


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
    """Relative agreement, with an absolute floor at the outputs' scale: an
    output near zero is a difference of terms as large as the largest
    outputs, each a few float32 roundings (1.2e-7 relative) apart."""
    atol = 1e-6 * max(1.0, float(np.abs(expected).max()))
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


@pytest.mark.parametrize("n_ensemble", [1, 3])
@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("quantile", [0.3, [0.9, 0.1, 0.5]])
def test_quantile_regressor_graph_reproduces_predict(quantile, n_outputs, n_ensemble):
    X = _features()
    y = np.squeeze(X[:, :n_outputs] * 20 + 50)
    reg = TorchMLPRegressor(
        (16,), loss="quantile", quantile=quantile, n_ensemble=n_ensemble, max_iter=30
    )
    reg = _fit(reg.set_params(random_state=0), X, y)
    outputs = _run(to_onnx(reg), X=X.astype(np.float32))
    assert len(outputs) == 1
    assert outputs[0].shape == reg.predict(X).shape
    assert_close(outputs[0], reg.predict(X))


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_default_quantile_regressor_graph_gives_the_median_and_every_fitted_quantile(n_outputs):
    X = _features()
    y = np.squeeze(X[:, :n_outputs] * 20 + 50)
    reg = _fit(TorchMLPRegressor((16,), loss="quantile", max_iter=30, random_state=0), X, y)
    model = to_onnx(reg)
    assert [output.name for output in model.graph.output] == ["variable", "quantiles"]
    median, quantiles = _run(model, X=X.astype(np.float32))
    assert_close(median, reg.predict(X))
    assert quantiles.shape == (*y.shape, 9)
    # The bounds of predict_interval are among them, at their index in quantiles_.
    lower, upper = reg.predict_interval(X, confidence=0.9)
    levels = list(reg.quantiles_)
    assert_close(quantiles[..., levels.index(0.05)], lower)
    assert_close(quantiles[..., levels.index(0.95)], upper)


def test_quantile_pipeline_converts_with_skl2onnx_each_targets_quantiles_side_by_side():
    X = _features(n=200)
    y = X[:, :2] * 3 + 1
    reg = TorchMLPRegressor((16,), loss="quantile", quantile=[0.2, 0.8], max_iter=30)
    pipe = _fit(make_pipeline(StandardScaler(), reg.set_params(random_state=0)), X, y)
    (quantiles,) = _run(to_onnx(pipe, X[:1].astype(np.float32)), X=X.astype(np.float32))
    assert quantiles.shape == (200, 4)
    assert_close(quantiles, pipe.predict(X).reshape(200, 4))


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


# ------------------------------------------------------- ensembles and scales
def _ensemble_data(target):
    if target == "multilabel":
        return make_multilabel_classification(n_samples=200, n_features=6, random_state=0)
    X = _features()
    return X, LABELS[target](X)


def _layers_of(model, layer_type):
    return [m for m in model.module_.modules() if isinstance(m, layer_type)]


@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_ensemble_classifier_graph_averages_the_members_probabilities(target):
    X, y = _ensemble_data(target)
    clf = _fit(TorchMLPClassifier((16,), n_ensemble=3, max_iter=30, random_state=0), X, y)
    label, proba = _run(to_onnx(clf), X=X.astype(np.float32))
    expected = clf.predict_proba(X)
    assert_close(proba, expected)
    if target == "multilabel":
        clear = np.abs(expected - 0.5) > 1e-5
        np.testing.assert_array_equal(label[clear], clf.predict(X)[clear])
    else:
        assert_same_labels(label, clf.predict(X), expected)


@pytest.mark.parametrize("loss", ["squared_error", "poisson", "gaussian_nll"])
def test_ensemble_regressor_graph_averages_the_members_in_the_units_of_y(loss):
    X = _features()
    y = np.abs(X[:, :2] * 20 + 50)
    reg = TorchMLPRegressor((16,), loss=loss, n_ensemble=3, max_iter=30, random_state=0)
    reg = _fit(reg, X, y)
    for target_opset in (None, 18):  # 18: the reductions take their axes as an input
        outputs = _run(to_onnx(reg, target_opset=target_opset), X=X.astype(np.float32))
        assert outputs[0].shape == y.shape
        assert_close(outputs[0], reg.predict(X))
        if loss == "gaussian_nll":  # the variance of the members' mixture
            assert_close(outputs[1], reg.predict(X, return_std=True)[1])
        else:
            assert len(outputs) == 1


def test_ensemble_graph_keeps_small_mixture_variances():
    # Members that agree, with variances far below the floor: float32's
    # log(1 - exp(-v)) would lose them.
    X = _features(n=60)
    reg = TorchMLPRegressor((4,), loss="gaussian_nll", n_ensemble=3, max_iter=1, random_state=0)
    reg = _fit(reg, X, X[:, 0])
    with torch.no_grad():
        (head,) = _layers_of(reg, MemberLinear)
        head.weight.zero_()
        head.bias[:, 0] = 1.0
        head.bias[:, 1] = torch.tensor([-14.0, -16.0, -20.0])
    _, std = _run(to_onnx(reg), X=X.astype(np.float32))
    assert_close(std, reg.predict(X, return_std=True)[1])


@pytest.mark.parametrize("estimator", [TorchMLPClassifier, TorchMLPRegressor])
def test_feature_scaling_graph_multiplies_the_learned_scales(estimator):
    X = _features()
    y = LABELS["multiclass"](X) if estimator is TorchMLPClassifier else X[:, 0] * 10 + X[:, 1]
    model = _fit(estimator((16,), feature_scaling=True, max_iter=30, random_state=0), X, y)
    (scale,) = _layers_of(model, FeatureScale)
    assert not np.allclose(scale.weight.detach().numpy(), 1.0)  # trained away from one
    outputs = _run(to_onnx(model), X=X.astype(np.float32))
    if estimator is TorchMLPClassifier:
        assert_close(outputs[1], model.predict_proba(X))
        assert_same_labels(outputs[0], model.predict(X), model.predict_proba(X))
    else:
        assert_close(outputs[0], model.predict(X))


def test_ensemble_in_a_pipeline_converts_with_skl2onnx():
    X = _features()
    reg = TorchMLPRegressor(
        (16,), loss="gaussian_nll", n_ensemble=3, feature_scaling=True, max_iter=30, random_state=0
    )
    pipe = _fit(make_pipeline(StandardScaler(), reg), X, X[:, 0] * 10 + X[:, 1])
    register_skl2onnx_converters()
    options = {TorchMLPRegressor: {"return_std": True}}
    model = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32), options=options)
    mean, std = _run(model, X=X.astype(np.float32))
    expected_mean, expected_std = pipe.predict(X, return_std=True)
    assert_close(mean.ravel(), expected_mean)
    assert_close(std.ravel(), expected_std)


@pytest.mark.parametrize("n_ensemble", [1, 2])
@pytest.mark.parametrize("embedding", ["periodic", "piecewise_linear"])
@pytest.mark.parametrize("estimator", [TorchMLPClassifier, TorchMLPRegressor])
def test_numeric_embedding_graphs_reproduce_predict(estimator, embedding, n_ensemble):
    X = _features()
    X[:, 0] = np.exp(X[:, 0])  # a skewed feature: uneven bins
    classifier = estimator is TorchMLPClassifier
    y = LABELS["multiclass"](X) if classifier else X[:, 0] * 10 + np.sin(3 * X[:, 1])
    model = estimator(
        (16,), numeric_embedding=embedding, n_ensemble=n_ensemble, max_iter=30, random_state=0
    )
    model = _fit(model, X, y)
    # Outside the training range too: the outer bins extend, the cosines repeat.
    rows = np.vstack([X, X[:20] * 5]).astype(np.float32)
    outputs = _run(to_onnx(model), X=rows)
    if classifier:
        assert_close(outputs[1], model.predict_proba(rows))
        assert_same_labels(outputs[0], model.predict(rows), model.predict_proba(rows))
    else:
        assert_close(outputs[0], model.predict(rows))


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
    with pytest.raises(ImportError, match="pip install onnx") as raised:
        to_onnx(reg)
    # sk_mlp is not on the package index: extras are named for a checkout
    assert "sk_mlp[" not in str(raised.value) and "pip install -e '.[onnx]'" in str(raised.value)


# ------------------------------------------------------------------ frames
def _mixed_frame(n=1200, seed=0):
    """Numbers with gaps, strings and a category with missing entries (one-hot
    encoded), an identifier with 1050 categories (embedded), integer categories."""
    rng = np.random.RandomState(seed)
    frame = pd.DataFrame(
        {
            "size": rng.normal(size=n),
            "colour": rng.choice(np.array(["red", "green", "blue", None], dtype=object), n),
            "grade": pd.Series(rng.choice(["a", "b", None], n), dtype="category"),
            "id": [f"u{i}" for i in rng.permutation(n) % 1050],
            "floor": rng.randint(0, 4, n),
            "count": rng.poisson(3, n).astype(float),
        }
    )
    frame.loc[rng.rand(n) < 0.2, "size"] = np.nan
    return frame


def _unseen_rows(frame):
    """Rows with categories unseen in fit, missing ones, and gaps where fit had none."""
    rows = frame.iloc[:6].copy()
    rows["colour"] = ["purple", None, "red", np.nan, "", "blue"]
    rows["grade"] = pd.Categorical(["c", None, "a", "b", "a", None])
    rows["id"] = ["new", "u3", None, "u9999", "u1049", "u0"]
    rows["floor"] = [7, -1, 0, 3, 2, 1]
    rows["count"] = [np.nan, 1.0, np.nan, 0.5, 2.0, np.nan]
    return rows


def _frame_inputs(session, frame, dtype=np.float32):
    """One (N, 1) array per graph input; a missing category as a value unseen
    in fit ("nan" or "None" for strings, -1 for integers)."""
    feeds = {}
    for graph_input in session.get_inputs():
        column = frame[[graph_input.name]]
        if graph_input.type == "tensor(string)":
            feeds[graph_input.name] = column.astype(str).to_numpy()
        elif graph_input.type == "tensor(int64)":
            feeds[graph_input.name] = column.fillna(-1).to_numpy(np.int64)
        else:
            feeds[graph_input.name] = column.to_numpy(dtype, na_value=np.nan)
    return feeds


def _frame_session(estimator, X_sample):
    model = to_onnx(estimator, X_sample)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


FRAME_PARAMS = {
    "plain": {},
    "no-preprocessing-layernorm": {"preprocessing": None, "normalization": "layer"},
    "module": {"module": small_network},
    "traced-module": {"module": Residual},
    "ensemble-feature-scaling": {"n_ensemble": 3, "feature_scaling": True},
    "piecewise-linear": {"numeric_embedding": "piecewise_linear"},
    "periodic-ensemble": {"numeric_embedding": "periodic", "n_ensemble": 2},
}


@pytest.mark.parametrize("params", FRAME_PARAMS)
def test_frame_classifier_graph_reproduces_predict_proba_from_raw_columns(params):
    X = _mixed_frame()
    y = (X.colour == "red").astype(int) + (X["size"].fillna(5) > 0.5)
    y = np.array(["no", "yes", "maybe"])[y]
    clf = TorchMLPClassifier(
        (16,), max_iter=5, random_state=0, categorical_features=["colour", "grade", "id", "floor"]
    )
    clf = _fit(clf.set_params(**FRAME_PARAMS[params]), X, y)
    session = _frame_session(clf, X[:2].astype({"size": np.float32, "count": np.float32}))
    assert [(i.name, i.type, i.shape) for i in session.get_inputs()] == [
        ("size", "tensor(float)", ["N", 1]),
        ("colour", "tensor(string)", ["N", 1]),
        ("grade", "tensor(string)", ["N", 1]),
        ("id", "tensor(string)", ["N", 1]),
        ("floor", "tensor(int64)", ["N", 1]),
        ("count", "tensor(float)", ["N", 1]),
    ]
    if params != "traced-module":  # the lookup needs a first linear layer sk_mlp can see
        assert not _dense_one_hot_ops(to_onnx(clf))
    for rows in (X, _unseen_rows(X)):
        label, proba = session.run(None, _frame_inputs(session, rows))
        expected = clf.predict_proba(rows)
        assert_close(proba, expected)
        assert_same_labels(label, clf.predict(rows), expected)


def _dense_one_hot_ops(model):
    """The nodes that could build a one-hot block: an Equal against the codes, a OneHot."""
    return [node.op_type for node in model.graph.node if node.op_type in ("Equal", "OneHot")]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"n_ensemble": 3, "feature_scaling": True},
        {"numeric_embedding": "periodic", "n_ensemble": 2},
        {"numeric_embedding": "piecewise_linear", "n_ensemble": 2},
    ],
    ids=["plain", "ensemble-feature-scaling", "periodic-ensemble", "piecewise-ensemble"],
)
def test_wide_one_hot_block_is_a_lookup_of_the_first_layer_in_the_graph(params):
    """600 and 3 levels one-hot (torch's predict looks the weights up too at
    this width), an integer column whose fit saw no missing value (unseen
    codes select nothing), 1,050 levels embedded; unseen and missing values."""
    rng = np.random.RandomState(0)
    n = 1500
    X = pd.DataFrame(
        {
            "size": rng.normal(size=n),
            "shop": rng.choice(np.array([f"s{i}" for i in range(600)] + [None], object), n),
            "colour": rng.choice(np.array(["red", "green", None], dtype=object), n),
            "floor": rng.randint(0, 4, n),
            "id": [f"u{i}" for i in rng.permutation(n) % 1050],
        }
    )
    y = X["size"] + (X.colour == "red") + X.floor * 0.5 + X.shop.str[1:].fillna("0").astype(int) % 3
    reg = TorchMLPRegressor((16,), max_iter=3, random_state=0, **params)
    reg = _fit(reg.set_params(categorical_features=["shop", "colour", "floor", "id"]), X, y)
    assert list(reg._tabular.one_hot_) == [True, True, True, False]
    model = to_onnx(reg, X[:2].astype({"size": np.float32}))
    assert not _dense_one_hot_ops(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    unseen = X.iloc[:6].copy()
    unseen["shop"] = ["s5", None, "s9999", "", "s599", "s0"]
    unseen["colour"] = ["purple", None, "red", np.nan, "", "green"]
    unseen["floor"] = [7, -1, 0, 3, 2, 1]
    for rows in (X, unseen):
        (prediction,) = session.run(None, _frame_inputs(session, rows))
        assert_close(prediction, reg.predict(rows))


def test_frame_regressor_graph_reproduces_mean_and_std_in_float64():
    X = _mixed_frame()
    y = (X.colour == "blue") * 3.0 + X["size"].fillna(-1).to_numpy() + X.floor
    reg = _fit(TorchMLPRegressor((16,), loss="gaussian_nll", max_iter=5, random_state=0), X, y)
    session = _frame_session(reg, X[:2])  # float64 numeric columns: a float64 graph
    assert session.get_inputs()[0].type == "tensor(double)"
    for rows in (X, _unseen_rows(X)):
        mean, std = session.run(None, _frame_inputs(session, rows, np.float64))
        expected_mean, expected_std = reg.predict(rows, return_std=True)
        assert mean.dtype == np.float64
        assert_close(mean, expected_mean)
        assert_close(std, expected_std)


@pytest.mark.parametrize("columns", [["c", "flag", "empty"], ["c"]])
def test_frame_of_only_categories_booleans_and_an_empty_column_exports(columns):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        {
            "c": rng.choice(["a", "b", "c"], 200),
            "flag": rng.rand(200) < 0.5,
            "empty": pd.Series([None] * 200, dtype=object),  # no category seen in fit
        }
    )[columns]
    y = (X.c == "a") | X.get("flag", False)
    clf = TorchMLPClassifier((8,), max_iter=20, random_state=0, categorical_features=columns)
    clf = _fit(clf, X, y)
    session = _frame_session(clf, None)
    assert [i.type for i in session.get_inputs()] == [
        {"c": "tensor(string)", "flag": "tensor(int64)", "empty": "tensor(string)"}[c]
        for c in columns
    ]
    label, proba = session.run(None, _frame_inputs(session, X))
    assert_close(proba, clf.predict_proba(X))
    assert_same_labels(label, clf.predict(X), clf.predict_proba(X))


def test_array_with_missing_values_keeps_one_input_and_fills_gaps_as_predict_does():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    X[rng.rand(300) < 0.3, 1] = np.nan  # column 1 has gaps in fit; the others not
    reg = _fit(TorchMLPRegressor((16,), max_iter=20, random_state=0), X, np.nan_to_num(X[:, 1]))
    model = to_onnx(reg)
    assert [i.name for i in model.graph.input] == ["X"]
    test = X[:50].copy()
    test[::3, 0] = np.nan  # a gap where fit saw none: the median, no indicator
    assert_close(_run(model, X=test.astype(np.float32))[0], reg.predict(test))


def test_array_with_categorical_indices_takes_one_input_per_column():
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.normal(size=300), rng.choice([0.5, 1.0, 2.0], 300)])
    clf = _fit(
        TorchMLPClassifier((8,), max_iter=20, random_state=0, categorical_features=[1]),
        X,
        X[:, 1] > 0.7,
    )
    model = to_onnx(clf)
    assert [i.name for i in model.graph.input] == ["x0", "x1"]
    test = np.vstack([X[:20], [[0.1, 3.0], [np.nan, np.nan]]]).astype(np.float32)
    label, proba = _run(model, x0=test[:, :1], x1=test[:, 1:])
    assert_close(proba, clf.predict_proba(test))
    assert_same_labels(label, clf.predict(test), clf.predict_proba(test))
    # skl2onnx passes the estimator one matrix: numeric categories still map.
    register_skl2onnx_converters()
    options = {TorchMLPClassifier: {"zipmap": False}}
    piped = skl2onnx.to_onnx(make_pipeline(clf), X[:1].astype(np.float32), options=options)
    label, proba = _run(piped, X=test)
    assert_close(proba, clf.predict_proba(test))


def test_categories_mixing_strings_and_numbers_cannot_be_exported():
    X = pd.DataFrame({"a": np.arange(40.0), "mixed": np.array(["x", 1, "y", 2] * 10, object)})
    clf = _fit(TorchMLPClassifier((4,), max_iter=2, random_state=0), X, np.arange(40) % 2)
    with pytest.raises(ValueError, match=r"'mixed' has categories of types \['int', 'str'\]"):
        to_onnx(clf)


def test_feature_named_like_an_output_is_refused():
    X = pd.DataFrame({"label": ["a", "b"] * 20, "x": np.arange(40.0)})
    clf = _fit(TorchMLPClassifier((4,), max_iter=2, random_state=0), X, np.arange(40) % 2)
    with pytest.raises(ValueError, match="Feature 'label' has the name of an output"):
        to_onnx(clf)


def test_pipeline_passing_missing_values_converts_with_skl2onnx():
    X = _features()
    X[::4, 2] = np.nan
    pipe = make_pipeline(StandardScaler(), TorchMLPRegressor((8,), max_iter=10, random_state=0))
    pipe = _fit(pipe, X, np.nan_to_num(X[:, 2]) + X[:, 0])
    register_skl2onnx_converters()
    model = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32))
    (prediction,) = _run(model, X=X.astype(np.float32))
    assert_close(prediction.ravel(), pipe.predict(X))


def test_pipeline_on_a_frame_joins_its_columns_in_the_converter():
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    X["n"] = rng.randint(0, 5, 200)  # int64: skl2onnx makes it an int64 input
    X.loc[::5, "a"] = np.nan
    y = X["a"].fillna(1).to_numpy() + X.b + X.n
    pipe = _fit(make_pipeline(TorchMLPRegressor((8,), max_iter=10, random_state=0)), X, y)
    register_skl2onnx_converters()
    model = skl2onnx.to_onnx(pipe, X[:1])
    inputs = {name: X[[name]].to_numpy() for name in X.columns}
    (prediction,) = _run(model, **inputs)
    assert prediction.dtype == np.float64
    assert_close(prediction.ravel(), pipe.predict(X))


def test_skl2onnx_refuses_string_columns_naming_why():
    X = pd.DataFrame({"colour": ["red", "blue"] * 20, "x": np.arange(40.0)})
    clf = _fit(TorchMLPClassifier((4,), max_iter=2, random_state=0), X, np.arange(40) % 2)
    register_skl2onnx_converters()
    with pytest.raises(ValueError, match=r"StringTensorType.*sk_mlp.to_onnx\(estimator\)"):
        skl2onnx.to_onnx(make_pipeline(clf), X[:1])


def test_skl2onnx_refuses_string_categories_naming_why():
    X = pd.DataFrame({"colour": ["red", "blue"] * 20, "x": np.arange(40.0)})
    clf = _fit(TorchMLPClassifier((4,), max_iter=2, random_state=0), X, np.arange(40) % 2)
    register_skl2onnx_converters()
    with pytest.raises(ValueError, match="'colour' has string categories.*one float matrix"):
        skl2onnx.to_onnx(make_pipeline(clf), X[["x"]][:1].to_numpy(np.float32))
