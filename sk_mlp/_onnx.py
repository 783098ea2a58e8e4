"""ONNX export of a whole fitted estimator: input scaling, network, link, labels.

sk_mlp's own networks are written straight from their weights with
``onnx.helper``: each layer maps to one or a few standard operators, so the
graph computes what torch computes and needs no exporter. A network from
``module=`` that uses other layers goes through ``torch.onnx.export`` and is
spliced between the same input and output stages.

The frame stage (missing values, categories) and sk_mlp's tabular input
layer are written by :mod:`sk_mlp._onnx_tabular`, which also decides the
graph's inputs.

Precision follows the input: the network runs in float32, as in sk_mlp, and
the output stage (softmax, sigmoid, target scaling) in float64, then is cast
to the input's type.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._array_api import to_host
from ._layers import unsupported_layer
from ._losses import MAX_LOGIT_MARGIN
from ._module import Dropout, RobustInput
from ._onnx_layers import CONVERTERS
from ._onnx_tabular import encoded_input, graph_inputs, has_categories, tabular_input
from ._persistence_modules import user_network_inputs, user_network_path
from ._tabular import is_data_frame
from ._tabular_module import TabularInput
from ._torch_private import export_onnx

_DEFAULT_OPSET = 17  # LayerNormalization
_MIN_OPSET = 13  # Softmax over one axis, Squeeze/Unsqueeze axes as inputs


def import_onnx():
    try:
        import onnx
        import onnx.compose
        import onnx.helper
        import onnx.inliner
        import onnx.numpy_helper
    except ImportError as exc:
        raise ImportError(
            "ONNX export needs the onnx package; install it with `pip install onnx` "
            "(or, in a checkout of sk_mlp, `pip install -e '.[onnx]'` for onnx, "
            "onnxruntime, skl2onnx and onnxscript)."
        ) from exc
    return onnx


class Graph:
    """Nodes and initializers of a graph under construction, with unique names."""

    def __init__(self, opset: int, reserved=()):
        self.onnx = import_onnx()
        self.opset = opset
        self.nodes: list = []
        self.initializers: list = []
        self.opset_imports: dict[str, int] = {"": opset}
        self._count = 0
        self._reserved = set(reserved)  # the graph's input names
        self.inputs: list = []  # sk_mlp._onnx_tabular.Input entries, set by estimator_graph

    def name(self, hint: str) -> str:
        self._count += 1
        while f"{hint}_{self._count}" in self._reserved:
            self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, hint: str = "const") -> str:
        name = self.name(hint)
        value = np.asarray(value)
        if value.dtype.kind in "UO":
            tensor = self.onnx.helper.make_tensor(
                name,
                self.onnx.TensorProto.STRING,
                value.shape,
                [str(v).encode("utf-8") for v in value.ravel()],
            )
        else:
            tensor = self.onnx.numpy_helper.from_array(value, name)
        self.initializers.append(tensor)
        return name

    def op(self, op_type: str, *inputs: str, hint: str | None = None, **attrs) -> str:
        output = self.name(hint or op_type.lower())
        self.nodes.append(
            self.onnx.helper.make_node(
                op_type, list(inputs), [output], name=self.name(op_type), **attrs
            )
        )
        return output

    def cast(self, x: str, dtype) -> str:
        return self.op("Cast", x, to=self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    def columns(self, x: str, start: int, stop: int) -> str:
        """Columns ``start:stop`` of a matrix."""
        starts, stops, axes = (self.const(np.array([v])) for v in (start, stop, 1))
        return self.op("Slice", x, starts, stops, axes)


# ------------------------------------------------------------------ the network
def _robust_input(g: Graph, x: str, layer: RobustInput) -> str:
    """``z / sqrt(1 + (z / clip)^2)`` of ``z = x * inv_scale + shift``, as torch does."""
    inv_scale, shift = (t.detach().cpu().numpy()[None, :] for t in (layer.inv_scale, layer.shift))
    z = g.op("Add", g.op("Mul", x, g.const(inv_scale, "inv_scale")), g.const(shift, "shift"))
    bound = np.float32(1e18 * layer.clip)
    z = g.op("Clip", z, g.const(-bound), g.const(bound))
    squared = g.op("Mul", g.op("Mul", z, z), g.const(np.float32(1.0 / layer.clip**2)))
    root = g.op("Sqrt", g.op("Add", squared, g.const(np.float32(1.0))))
    return g.op("Div", z, root)


def _linear(g: Graph, x: str, layer: nn.Linear) -> str:
    inputs = [x, g.const(layer.weight.detach().cpu().numpy(), "weight")]
    if layer.bias is not None:
        inputs.append(g.const(layer.bias.detach().cpu().numpy(), "bias"))
    return g.op("Gemm", *inputs, transB=1)


def _batch_norm(g: Graph, x: str, layer: nn.BatchNorm1d) -> str:
    if layer.running_mean is None:
        raise ValueError("BatchNorm1d without running statistics cannot be exported.")
    n = layer.num_features
    weight = layer.weight.detach().cpu().numpy() if layer.affine else np.ones(n, np.float32)
    bias = layer.bias.detach().cpu().numpy() if layer.affine else np.zeros(n, np.float32)
    stats = (layer.running_mean.cpu().numpy(), layer.running_var.cpu().numpy())
    inputs = [g.const(a, "bn") for a in (weight, bias, *stats)]
    return g.op("BatchNormalization", x, *inputs, epsilon=float(layer.eps))


def _layer_norm(g: Graph, x: str, layer: nn.LayerNorm) -> str:
    if len(layer.normalized_shape) != 1 or g.opset < 17:
        raise ValueError("LayerNorm exports over the last axis only, with target_opset >= 17.")
    n = layer.normalized_shape[0]
    weight = layer.weight.detach().cpu().numpy() if layer.weight is not None else np.ones(n)
    bias = layer.bias.detach().cpu().numpy() if layer.bias is not None else np.zeros(n)
    scale, shift = (g.const(np.asarray(a, np.float32), "ln") for a in (weight, bias))
    return g.op("LayerNormalization", x, scale, shift, axis=-1, epsilon=float(layer.eps))


def _gelu(g: Graph, x: str, layer: nn.GELU) -> str:
    if g.opset >= 20:
        return g.op("Gelu", x, approximate=layer.approximate)
    half = g.op("Mul", x, g.const(np.float32(0.5)))
    if layer.approximate == "tanh":
        cube = g.op("Mul", g.op("Mul", x, x), x)
        inner = g.op("Add", x, g.op("Mul", cube, g.const(np.float32(0.044715))))
        scaled = g.op("Mul", inner, g.const(np.float32(math.sqrt(2 / math.pi))))
        return g.op("Mul", half, g.op("Add", g.op("Tanh", scaled), g.const(np.float32(1))))
    erf = g.op("Erf", g.op("Div", x, g.const(np.float32(math.sqrt(2)))))
    return g.op("Mul", half, g.op("Add", erf, g.const(np.float32(1))))


_LAYERS = {
    RobustInput: _robust_input,
    nn.Linear: _linear,
    nn.BatchNorm1d: _batch_norm,
    nn.LayerNorm: _layer_norm,
    nn.GELU: _gelu,
    nn.Identity: lambda g, x, layer: x,
    nn.Dropout: lambda g, x, layer: x,  # prediction runs in eval mode
    Dropout: lambda g, x, layer: x,
    nn.Sigmoid: lambda g, x, layer: g.op("Sigmoid", x),
    nn.Tanh: lambda g, x, layer: g.op("Tanh", x),
    nn.ReLU: lambda g, x, layer: g.op("Relu", x),
    nn.LeakyReLU: lambda g, x, layer: g.op("LeakyRelu", x, alpha=float(layer.negative_slope)),
    nn.ELU: lambda g, x, layer: g.op("Elu", x, alpha=float(layer.alpha)),
    nn.SiLU: lambda g, x, layer: g.op("Mul", x, g.op("Sigmoid", x)),
    TabularInput: lambda g, x, layer: tabular_input(g, x, layer, _write),
    **CONVERTERS,  # the scale and ensemble layers
}


def _write(g: Graph, x: str, network: nn.Module) -> str:
    """``network``'s output from ``x``, if it is made of layers in _LAYERS."""
    layers = _flat_layers(network)
    if layers is None:
        raise ValueError(f"module_ holds a layer that ONNX export does not know: {network}")
    for layer in layers:
        x = _LAYERS[type(layer)](g, x, layer)
    return x


def _flat_layers(network: nn.Module) -> list[nn.Module] | None:
    """The layers of nested Sequentials in order, or None if one is not in _LAYERS."""
    if type(network) is nn.Sequential:
        layers = []
        for child in network:
            flat = _flat_layers(child)
            if flat is None:
                return None
            layers += flat
        return layers
    return [network] if type(network) in _LAYERS else None


def _network(g: Graph, x: str, network: nn.Module, estimator, X_sample) -> str:
    """Raw network outputs (float32) from float32 inputs ``x``."""
    layers = _flat_layers(network)
    if layers is not None:
        for layer in layers:
            x = _LAYERS[type(layer)](g, x, layer)
        return x
    if estimator.module is None:
        raise ValueError(unsupported_layer(network, _LAYERS, "ONNX export"))
    # Export only the user's part; the input layers sk_mlp put in front are ours.
    path = user_network_path(network)
    prefix = []
    for step in path:
        for layer in list(network)[: int(step)]:
            x = _LAYERS[type(layer)](g, x, layer)
            prefix.append(layer)
        network = network[int(step)]
    sample = _network_sample(estimator, X_sample, prefix)
    return _splice_exported(g, x, network, estimator, sample)


def _network_sample(estimator, X_sample, prefix: list[nn.Module]) -> torch.Tensor:
    """Two or more rows as the ``module=`` network receives them: ``X_sample``
    through the frame stage and the ``prefix`` layers (zeros if None)."""
    device = torch.device(estimator.device_)
    if X_sample is None:
        width = user_network_inputs(estimator.module_, estimator.n_features_in_)
        return torch.zeros(2, width, device=device)
    if estimator._tabular is not None:
        rows = estimator._tabular.encode(X_sample[:2])
    else:
        rows = np.asarray(X_sample)[:2].reshape(-1, estimator.n_features_in_)
    sample = torch.as_tensor(np.asarray(rows, dtype=np.float32), device=device)
    if len(sample) < 2:
        sample = torch.cat([sample, sample])  # a batch of one would fix the batch size
    with torch.no_grad():
        for layer in prefix:
            sample = layer(sample)
    return sample


def _splice_exported(g: Graph, x: str, network: nn.Module, estimator, sample) -> str:
    """Export ``network`` with torch's ONNX exporter on the rows ``sample``
    and add its graph after ``x``."""
    onnx = g.onnx
    try:
        import onnxscript  # noqa: F401  (torch's exporter needs it)
    except ImportError as exc:
        raise ImportError(
            f"Exporting the network from module={estimator.module!r} uses torch.onnx.export, "
            "which needs onnxscript; install it with `pip install onnxscript`."
        ) from exc
    parameter = next(network.parameters(), None)
    sample = sample.to(parameter.device if parameter is not None else "cpu")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exported = export_onnx(network, sample, opset=max(g.opset, 18))
    except Exception as exc:
        name = getattr(estimator.module, "__qualname__", estimator.module)
        raise ValueError(
            f"The network from module={name} cannot be exported to ONNX: "
            f"torch.onnx.export failed with "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    model = onnx.inliner.inline_local_functions(exported)
    model = onnx.compose.add_prefix(model, g.name("module") + "/")
    # Inlined functions leave their domains behind (torch 2.5 imports one of
    # onnxscript's); an unused import of an unknown domain would fail the model.
    used = {node.domain for node in model.graph.node}
    for opset in model.opset_import:
        if opset.domain not in used | {"", "ai.onnx"}:
            continue
        domain = opset.domain if opset.domain != "ai.onnx" else ""
        g.opset_imports[domain] = max(g.opset_imports.get(domain, 0), opset.version)
    g.opset = g.opset_imports[""]
    g.nodes.append(onnx.helper.make_node("Identity", [x], [model.graph.input[0].name]))
    g.nodes.extend(model.graph.node)
    g.initializers.extend(model.graph.initializer)
    return g.op("Identity", model.graph.output[0].name, hint="raw")


# ----------------------------------------------------------------- the outputs
def class_labels(estimator, integer_labels: bool = False) -> np.ndarray:
    """``classes_`` as an ONNX-ready array: int64, float64, bool or str.

    ``integer_labels``: what skl2onnx's pipelines need, integer or string
    labels only (integer-valued floats and booleans become int64).
    """
    classes = np.asarray(estimator.classes_)
    if classes.dtype.kind == "O" and all(isinstance(c, str) for c in classes):
        return classes.astype(str)
    if classes.dtype.kind == "U":
        return classes
    if classes.dtype.kind in "iu" or (integer_labels and classes.dtype.kind == "b"):
        return classes.astype(np.int64)
    if integer_labels and classes.dtype.kind == "f" and np.all(classes == np.round(classes)):
        return classes.astype(np.int64)
    if not integer_labels and classes.dtype.kind in "fb":
        return classes.astype(np.float64 if classes.dtype.kind == "f" else bool)
    raise ValueError(
        f"Class labels of dtype {classes.dtype} cannot be exported to ONNX; use "
        "integer or string labels."
    )


def classifier_outputs(g: Graph, raw: str, estimator, dtype, integer_labels=False):
    """``(label, probabilities)`` names, computed as the classifier's predict does."""
    target_type = estimator._target_type
    logits = g.cast(raw, np.float64)
    if estimator.temperature_ != 1.0:  # labels come from raw: the order is the same
        logits = g.op("Div", logits, g.const(np.float64(estimator.temperature_), "temperature"))
    if target_type == "multiclass":
        # Margins to the largest logit bounded, as predict_proba bounds them.
        top = g.op("ArgMax", logits, axis=1, keepdims=1)
        margin = g.op("Sub", logits, g.op("GatherElements", logits, top, axis=1))
        logits = g.op("Max", margin, g.const(-MAX_LOGIT_MARGIN))
    else:
        bound = MAX_LOGIT_MARGIN
        logits = g.op("Clip", logits, g.const(-bound), g.const(bound))
    if target_type == "multilabel-indicator":
        proba = g.op("Sigmoid", logits)
        label = g.cast(g.op("Greater", raw, g.const(np.float32(0))), np.int64)
        return label, g.cast(proba, dtype)
    classes = g.const(class_labels(estimator, integer_labels), "classes")
    if target_type == "binary":
        p0, p1 = g.op("Sigmoid", g.op("Neg", logits)), g.op("Sigmoid", logits)
        proba = g.op("Concat", p0, p1, axis=1)
        positive = g.op("Greater", raw, g.const(np.float32(0)))
        index = g.op("Reshape", g.cast(positive, np.int64), g.const(np.array([-1])))
    else:
        proba = g.op("Softmax", logits, axis=1)
        index = g.op("ArgMax", raw, axis=1, keepdims=0)
    return g.op("Gather", classes, index, axis=0, hint="label"), g.cast(proba, dtype)


def regressor_outputs(g: Graph, raw: str, estimator, dtype, flatten: bool):
    """``(mean, std or None)`` names in the units of y, as predict computes them."""
    n = estimator.n_outputs_
    scale = g.const(np.asarray(to_host(estimator._y_scale), np.float64)[None, :], "y_scale")
    mean = raw
    std = None
    if estimator.out_activation_ == "gaussian":
        mean = g.columns(raw, 0, n)
        z = g.cast(g.columns(raw, n, 2 * n), np.float64)
        # softplus(z) = max(z, 0) + log(1 + exp(-|z|)): no overflow for large |z|.
        tail = g.op("Log", g.op("Add", g.op("Exp", g.op("Neg", g.op("Abs", z))), g.const(1.0)))
        variance = g.op(
            "Add",
            g.op("Add", g.op("Relu", z), tail),
            g.const(estimator._loss_function().min_variance),
        )
        # In the units of y, calibrated as predict does: a * variance + b
        # (a=1, b=0 on a model saved by an sk_mlp from before the calibration).
        a = getattr(estimator, "variance_scale_", None)
        a, b = (np.ones(n), np.zeros(n)) if a is None else (a, estimator.variance_offset_)
        y_scale = np.asarray(to_host(estimator._y_scale), np.float64)
        a = np.asarray(to_host(a), np.float64) * y_scale**2
        a = g.const(a[None, :], "variance_scale")
        b = g.const(np.asarray(to_host(b), np.float64)[None, :], "variance_offset")
        std = g.op("Sqrt", g.op("Add", g.op("Mul", variance, a), b))
    elif estimator.out_activation_ == "exp":
        mean = g.op("Exp", mean)
    loc = g.const(np.asarray(to_host(estimator._y_loc), np.float64)[None, :])
    mean = g.op("Add", g.op("Mul", g.cast(mean, np.float64), scale), loc)
    outputs = []
    for value in (mean, std):
        if value is not None and flatten and n == 1:
            value = g.op("Reshape", value, g.const(np.array([-1])))
        outputs.append(None if value is None else g.cast(value, dtype))
    return outputs


def quantile_outputs(g: Graph, raw: str, estimator, dtype, skl2onnx_layout: bool):
    """The ``(name, output name, elem dtype, shape)`` of a quantile regressor:
    ``"variable"`` as ``predict`` returns it and, where that is one of several
    fitted quantiles (``quantile=None``), ``"quantiles"``: all of them, in the
    order of ``quantiles_``, along a last axis."""
    levels = np.asarray(estimator._loss.quantiles)
    n, k = estimator.n_outputs_, len(levels)
    values, order = g.name("sorted"), g.name("order")
    # Each target's outputs sorted, ascending, as the loss's link sorts them.
    g.nodes.append(
        g.onnx.helper.make_node(
            "TopK",
            [g.op("Reshape", raw, g.const(np.array([-1, n, k]))), g.const(np.array([k]))],
            [values, order],
            name=g.name("TopK"),
            axis=-1,
            largest=0,
            sorted=1,
        )
    )
    ranks = np.argsort(np.argsort(levels)).astype(np.int64)
    values = g.op("Gather", values, g.const(ranks, "ranks"), axis=2)
    to_y = [
        np.asarray(to_host(getattr(estimator, name)), np.float64) for name in ("_y_scale", "_y_loc")
    ]

    def in_y_units(quantiles: str, trailing_axis: bool) -> str:
        shape = (1, n, 1) if trailing_axis else (1, n)
        scale, loc = (g.const(value.reshape(shape)) for value in to_y)
        out = g.op("Add", g.op("Mul", g.cast(quantiles, np.float64), scale), loc)
        if skl2onnx_layout:  # regressors 2-D: the quantiles of a target side by side
            out = g.op("Reshape", out, g.const(np.array([0, -1])))
        elif n == 1:
            out = g.op("Squeeze", out, g.const(np.array([1])))
        return g.cast(out, dtype)

    index = estimator._quantile_index
    if index is None:
        shape = ["N", n * k] if skl2onnx_layout else ["N", k] if n == 1 else ["N", n, k]
        return [("variable", in_y_units(values, True), dtype, shape)]
    chosen = g.op("Gather", values, g.const(np.int64(index)), axis=2)
    shape = ["N"] if n == 1 and not skl2onnx_layout else ["N", n]
    outputs = [("variable", in_y_units(chosen, False), dtype, shape)]
    if k > 1 and not skl2onnx_layout:
        shape = ["N", k] if n == 1 else ["N", n, k]
        outputs.append(("quantiles", in_y_units(values, True), dtype, shape))
    return outputs


def estimator_graph(estimator, dtype, opset: int, X_sample=None, *, skl2onnx_layout=False):
    """The whole estimator as a :class:`Graph` from its inputs to its outputs.

    Returns the graph, whose ``inputs`` lists the graph's inputs
    (:class:`sk_mlp._onnx_tabular.Input`), and a list of ``(name, output name,
    elem dtype, shape)``. ``skl2onnx_layout``: one input ``"X"`` and outputs as
    skl2onnx's pipelines expect them (regressors always 2-D, integer or string
    labels); otherwise a model with categorical features takes one input per
    column.
    """
    check_is_fitted(estimator)
    from ._classifier import TorchMLPClassifier

    per_column = has_categories(estimator) and not skl2onnx_layout
    inputs = graph_inputs(estimator, dtype, per_column)
    g = Graph(max(opset, _MIN_OPSET), reserved=[i.name for i in inputs])
    g.inputs = inputs
    x = encoded_input(g, estimator, inputs, dtype, per_column)
    raw = _network(g, x, estimator.module_, estimator, X_sample)
    if isinstance(estimator, TorchMLPClassifier):
        label, proba = classifier_outputs(g, raw, estimator, dtype, skl2onnx_layout)
        multilabel = estimator._target_type == "multilabel-indicator"
        n_classes = len(estimator.classes_)
        labels = class_labels(estimator, skl2onnx_layout)
        label_dtype = np.int64 if multilabel else labels.dtype
        label_shape = ["N", n_classes] if multilabel else ["N"]
        return g, [
            ("label", label, label_dtype, label_shape),
            ("probabilities", proba, dtype, ["N", n_classes]),
        ]
    if estimator.out_activation_ == "quantile":
        return g, quantile_outputs(g, raw, estimator, dtype, skl2onnx_layout)
    mean, std = regressor_outputs(g, raw, estimator, dtype, flatten=not skl2onnx_layout)
    n = estimator.n_outputs_
    shape = ["N"] if n == 1 and not skl2onnx_layout else ["N", n]
    outputs = [("variable", mean, dtype, shape)]
    if std is not None:
        outputs.append(("std", std, dtype, shape))
    return g, outputs


# ------------------------------------------------------------------ public API
def _tensor_type(onnx, dtype) -> int:
    if dtype is str or np.dtype(dtype).kind in "UO":
        return onnx.TensorProto.STRING
    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def estimator_model(estimator, dtype=np.float32, target_opset=None, X_sample=None):
    """The estimator as an ``onnx.ModelProto`` with input ``"X"``."""
    from . import __version__

    g, outputs = estimator_graph(estimator, dtype, target_opset or _DEFAULT_OPSET, X_sample)
    onnx, helper = g.onnx, g.onnx.helper
    nodes = list(g.nodes)
    value_infos = []
    for name, source, elem_dtype, shape in outputs:
        if any(i.name == name for i in g.inputs):
            raise ValueError(
                f"Feature {name!r} has the name of an output of the ONNX graph, whose "
                "inputs are named after the features; rename that column and refit."
            )
        nodes.append(helper.make_node("Identity", [source], [name], name=f"output_{name}"))
        value_infos.append(
            helper.make_tensor_value_info(name, _tensor_type(onnx, elem_dtype), shape)
        )
    inputs = [
        helper.make_tensor_value_info(i.name, _tensor_type(onnx, i.dtype), list(i.shape))
        for i in g.inputs
    ]
    graph = helper.make_graph(
        nodes, type(estimator).__name__, inputs, value_infos, initializer=g.initializers
    )
    opsets = [helper.make_opsetid(domain, version) for domain, version in g.opset_imports.items()]
    model = helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="sk_mlp",
        producer_version=__version__,
        ir_version=helper.find_min_ir_version_for(opsets),
    )
    helper.set_model_props(model, {"estimator": type(estimator).__name__})
    onnx.checker.check_model(model)
    return model


def to_onnx(estimator, X_sample=None, *, target_opset=None):
    """Export a fitted estimator's predictions as an ONNX model.

    The graph takes raw feature rows and reproduces the estimator's
    ``predict`` and ``predict_proba`` (regressors: the prediction and, with
    ``loss='gaussian_nll'``, the standard deviation; with ``loss='quantile'``
    the quantiles), with the input
    preprocessing (missing values, categories, scaling), the class labels and
    the target scaling inside it. The batch size is dynamic. Run it with
    onnxruntime, for example, on any machine, without Python, torch or sk_mlp.

    Parameters
    ----------
    estimator : TorchMLPClassifier, TorchMLPRegressor or scikit-learn pipeline
        The fitted estimator. Anything else, such as a
        :class:`~sklearn.pipeline.Pipeline` that ends with an sk_mlp
        estimator, is converted by ``skl2onnx.to_onnx`` with sk_mlp's
        converters registered (see :func:`register_skl2onnx_converters`);
        ``X_sample`` is then required.

    X_sample : {array-like, DataFrame} of shape (n_samples, n_features), \
            default=None
        A few input rows. Their dtype sets the type of the graph's numeric
        inputs and of its outputs: float64 rows (a DataFrame whose float
        columns among the numeric features are all float64) give a float64
        graph, anything else (or None) float32. A network from ``module=`` with
        layers sk_mlp does not
        write itself is traced by ``torch.onnx.export`` on these rows (zeros if
        None).

    target_opset : int, default=None
        The ONNX operator set to use, at least 13; default 17 for sk_mlp's
        own networks (18 or more when ``torch.onnx.export`` is needed).

    Returns
    -------
    model : onnx.ModelProto
        A model with outputs ``"label"`` (shape (N,), or (N, n_labels) 0/1
        for multilabel targets) and ``"probabilities"`` (N, n_classes) for a
        classifier; ``"variable"`` (shape (N,) or (N, n_outputs), as
        ``predict``; with ``loss='quantile'`` and a sequence of quantiles,
        their last axis too) and, for ``loss='gaussian_nll'``, ``"std"`` for a
        regressor. A regressor fitted with ``loss='quantile'`` and
        ``quantile=None`` has a third output, ``"quantiles"``: every fitted
        quantile (``quantiles_``), along a last axis, from which the bounds
        of ``predict_interval`` are taken. Its inputs:

        - a model without categorical features: one input ``"X"`` of shape
          (N, n_features), float; NaN marks a missing value, replaced by the
          feature's median in fit (with its missing indicator), as ``predict``
          does;
        - a model with categorical features: one input per column, of shape
          (N, 1), named after the column (``feature_names_in_``, or ``"x0"``,
          ``"x1"``, ... for a model fitted on an array). A numeric column is
          float (NaN: missing); a categorical column is a string, int64 or
          float input as its categories in fit are strings, integers (or
          booleans, as 0 and 1) or floats. A category unseen in fit maps to
          the code of missing values, as in ``predict``: pass a missing
          category as any value not seen in fit (an empty string, -1, NaN).

    Raises
    ------
    ValueError
        If the network holds a layer that cannot be exported (a ``module=``
        network that ``torch.onnx.export`` cannot trace), or a categorical
        feature's categories mix strings and numbers; the message says which
        and why.

    See Also
    --------
    save : Save the estimator itself, to continue training or to load in Python.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import make_classification
    >>> from sk_mlp import TorchMLPClassifier, to_onnx
    >>> X, y = make_classification(n_samples=100, random_state=0)
    >>> X = X.astype(np.float32)
    >>> clf = TorchMLPClassifier((8,), random_state=0).fit(X, y)
    >>> model = to_onnx(clf, X[:1])
    >>> session = ort.InferenceSession(model.SerializeToString())
    >>> label, proba = session.run(None, {"X": X[:3]})
    >>> bool((label == clf.predict(X[:3])).all())
    True

    A model fitted on a data frame with a categorical column takes one input
    per column:

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"size": X[:, 0], "colour": np.where(y, "red", "blue")})
    >>> frame.loc[::7, "size"] = np.nan
    >>> clf = TorchMLPClassifier((8,), random_state=0).fit(frame, y)
    >>> session = ort.InferenceSession(to_onnx(clf, frame[:1]).SerializeToString())
    >>> [(i.name, i.type) for i in session.get_inputs()]
    [('size', 'tensor(float)'), ('colour', 'tensor(string)')]
    >>> label, proba = session.run(None, {
    ...     "size": frame[["size"]].to_numpy(np.float32),
    ...     "colour": frame[["colour"]].to_numpy(str),
    ... })
    >>> bool((label == clf.predict(frame)).all())
    True
    """
    from ._base import BaseTorchMLP

    if target_opset is not None and target_opset < _MIN_OPSET:
        raise ValueError(f"target_opset must be at least {_MIN_OPSET}, got {target_opset}.")
    if not isinstance(estimator, BaseTorchMLP):
        from ._skl2onnx import convert_with_skl2onnx

        return convert_with_skl2onnx(estimator, X_sample, target_opset)
    return estimator_model(estimator, _sample_dtype(estimator, X_sample), target_opset, X_sample)


def _sample_dtype(estimator, X_sample):
    """float64 if the float features of ``X_sample`` are float64, else float32."""
    if X_sample is None:
        return np.float32
    if is_data_frame(X_sample):
        encoder = getattr(estimator, "_tabular", None)
        numeric = np.ones(X_sample.shape[1], dtype=bool)
        if encoder is not None and len(encoder.is_categorical_) == len(numeric):
            numeric = ~encoder.is_categorical_
        floats = {d for d in X_sample.dtypes[numeric] if d in (np.float32, np.float64)}
        return np.float64 if floats == {np.dtype(np.float64)} else np.float32
    dtype = getattr(np.asarray(X_sample), "dtype", None)
    return np.float64 if dtype == np.float64 else np.float32
