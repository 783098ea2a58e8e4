"""The layer registry: every layer class sk_mlp knows has one entry, and every
entry declares every capability (sk_mlp/_nn/registry.py)."""

import inspect

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import sk_mlp
from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._nn import layers, mlp, tabular
from sk_mlp._nn.registry import (
    CAPABILITIES,
    LAYERS,
    LayerEntry,
    Saved,
    Unsupported,
    entry,
    entry_for,
    is_fixed,
)

# Modules that exist only while a prediction or a fit runs, around a fitted
# network (the one-hot lookup), never inside a model: not registered.
RUNTIME_ONLY = {tabular.OneHotSplit, tabular.OneHotLinear}
SPARSE_ROLES = {"scale", "linear", "front"}
BACKPROP_ROLES = {
    "feature_scale",
    "member_scale",
    "linear",
    "member_linear",
    "member_average",
    "identity",
    "dropout",
}


def missing_capabilities(found: LayerEntry) -> list[str]:
    """The capabilities ``found`` does not declare, or declares wrongly."""
    checks = {
        "saved": isinstance(found.saved, Saved) and callable(found.saved.arguments),
        "onnx": callable(found.onnx) or isinstance(found.onnx, Unsupported),
        "work": callable(found.work),
        "fixed": callable(found.fixed),
        "sparse": found.sparse in SPARSE_ROLES or isinstance(found.sparse, Unsupported),
        "backprop": found.backprop in BACKPROP_ROLES
        or callable(found.backprop)
        or isinstance(found.backprop, Unsupported),
    }
    assert set(checks) == set(CAPABILITIES)
    return [name for name, ok in checks.items() if not ok]


@pytest.mark.parametrize("cls", list(LAYERS), ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_layer_has_every_capability(cls):
    assert missing_capabilities(LAYERS[cls]) == []


def test_a_missing_capability_is_reported():
    found = LAYERS[layers.FeatureScale]
    half_done = LayerEntry(found.cls, found.saved, found.work, found.fixed, found.sparse)
    assert missing_capabilities(half_done) == ["onnx", "backprop"]


def test_every_layer_class_of_sk_mlp_is_registered():
    defined = {
        obj
        for module in (layers, mlp, tabular)
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, nn.Module) and obj.__module__ == module.__name__
    }
    assert defined - RUNTIME_ONLY <= set(LAYERS)
    assert len(defined) >= 9


def test_saved_names_are_unique():
    names = [found.saved.name for found in LAYERS.values()]
    assert len(names) == len(set(names))


def _networks():
    """Fitted networks with every option that puts a layer of its own in."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] > 0).astype(int)
    frame = pd.DataFrame(
        {"a": X[:, 0], "b": X[:, 1], "c": pd.Categorical(rng.choice(list("xyz"), 80))}
    )
    fits = [
        (TorchMLPClassifier((6,), n_ensemble=3, feature_scaling=True, dropout=0.1), X),
        (TorchMLPRegressor((6,), numeric_embedding="periodic", normalization="layer"), X),
        (TorchMLPRegressor((6,), numeric_embedding="piecewise_linear", activation="gelu"), X),
        (TorchMLPClassifier((6,), normalization="batch", preprocessing="robust"), X),
        (TorchMLPClassifier((6,), activation="tanh"), frame),
    ]
    for model, data in fits:
        yield model.set_params(max_iter=2, random_state=0).fit(data, y).module_


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_every_layer_of_sk_mlp_networks_is_registered():
    seen = {type(layer) for network in _networks() for layer in network.modules()}
    assert seen <= set(LAYERS), seen - set(LAYERS)
    assert {layers.MemberScale, layers.PeriodicEmbedding, tabular.TabularInput} <= seen


def test_lookups_by_class_and_by_instance():
    class MyLinear(nn.Linear):
        pass

    layer = MyLinear(2, 3)
    assert entry(MyLinear) is None  # another class: not saved, not hand-written
    assert entry_for(layer) is LAYERS[nn.Linear]  # but costs what a linear layer costs
    assert entry_for(layer).work(layer, 2) == (12, 2)


def test_fixed_layers_are_the_fitted_input_layers():
    robust = mlp.RobustInput(torch.zeros(3), torch.ones(3))
    assert is_fixed(robust)
    assert is_fixed(nn.Sequential(robust))
    assert not is_fixed(nn.Sequential(robust, nn.Linear(3, 2)))
    assert not is_fixed(layers.FeatureScale(3))
    assert not is_fixed(nn.Sequential())


def test_capabilities_are_filled_in_once():
    from sk_mlp._nn.registry import register_capability

    with pytest.raises(ValueError, match="set already"):
        register_capability(nn.ReLU, "onnx", lambda g, x, layer: x)
    with pytest.raises(ValueError, match="declared here"):
        register_capability(nn.ReLU, "work", lambda layer, copies: (0, copies))
    assert sk_mlp.__version__  # the package, importing everything, filled them in
