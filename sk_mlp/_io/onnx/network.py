"""A fitted network as ONNX nodes: each layer that sk_mlp knows maps to one
or a few standard operators, so the graph computes what torch computes and
needs no exporter. A network from ``module=`` that uses other layers goes
through ``torch.onnx.export`` and is spliced in after sk_mlp's input layers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..._compat.torch_private import export_onnx
from ..._nn.mlp import Dropout, RobustInput
from ..._nn.registry import Unsupported, entry, register_capability, unsupported_layer
from ..._nn.tabular import TabularInput
from ..layer_tree import user_network_inputs, user_network_path
from . import layers as _sk_mlp_layers  # noqa: F401  (registers their converters)
from .frame import one_hot_lookup, tabular_input
from .graph import Graph


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


# The standard layers' part of the layer registry (sk_mlp._nn.registry); the
# scale and ensemble layers register theirs in sk_mlp._io.onnx.layers.
for _cls, _converter in (
    (RobustInput, _robust_input),
    (nn.Linear, _linear),
    (nn.BatchNorm1d, _batch_norm),
    (nn.LayerNorm, _layer_norm),
    (nn.GELU, _gelu),
    (nn.Identity, lambda g, x, layer: x),
    (nn.Dropout, lambda g, x, layer: x),  # prediction runs in eval mode
    (Dropout, lambda g, x, layer: x),
    (nn.Sigmoid, lambda g, x, layer: g.op("Sigmoid", x)),
    (nn.Tanh, lambda g, x, layer: g.op("Tanh", x)),
    (nn.ReLU, lambda g, x, layer: g.op("Relu", x)),
    (nn.LeakyReLU, lambda g, x, layer: g.op("LeakyRelu", x, alpha=float(layer.negative_slope))),
    (nn.ELU, lambda g, x, layer: g.op("Elu", x, alpha=float(layer.alpha))),
    (nn.SiLU, lambda g, x, layer: g.op("Mul", x, g.op("Sigmoid", x))),
    (TabularInput, lambda g, x, layer: tabular_input(g, x, layer, _write)),
):
    register_capability(_cls, "onnx", _converter)
register_capability(
    nn.Softplus, "onnx", Unsupported("no activation parameter puts it into sk_mlp's networks")
)
register_capability(nn.Sequential, "onnx", Unsupported("written as its layers, in order"))
for _cls in (nn.Embedding, nn.ModuleList):
    register_capability(
        _cls, "onnx", Unsupported("held by a TabularInput, whose converter writes it")
    )


def _converter(layer: nn.Module) -> Callable | None:
    """The ONNX converter of exactly ``layer``'s class, or None."""
    found = entry(type(layer))
    return found.onnx if found is not None and callable(found.onnx) else None


def _write(g: Graph, x: str, network: nn.Module) -> str:
    """``network``'s output from ``x``, if it is made of layers ONNX export knows."""
    layers = _flat_layers(network)
    if layers is None:
        raise ValueError(f"module_ holds a layer that ONNX export does not know: {network}")
    for layer in layers:
        x = _converter(layer)(g, x, layer)
    return x


def _flat_layers(network: nn.Module) -> list[nn.Module] | None:
    """The layers of nested Sequentials in order, or None if ONNX export does not know one."""
    if type(network) is nn.Sequential:
        layers = []
        for child in network:
            flat = _flat_layers(child)
            if flat is None:
                return None
            layers += flat
        return layers
    return [network] if _converter(network) is not None else None


def network_output(g: Graph, x: str, network: nn.Module, estimator, X_sample) -> str:
    """Raw network outputs (float32) from float32 inputs ``x``."""
    layers = _flat_layers(network)
    if layers is not None:
        looked_up = _one_hot_lookup(g, x, network)
        if looked_up is not None:
            return looked_up
        for layer in layers:
            x = _converter(layer)(g, x, layer)
        return x
    if estimator.module is None:
        raise ValueError(unsupported_layer(network, "onnx", "ONNX export"))
    # Export only the user's part; the input layers sk_mlp put in front are ours.
    path = user_network_path(network)
    prefix = []
    for step in path:
        for layer in list(network)[: int(step)]:
            x = _converter(layer)(g, x, layer)
            prefix.append(layer)
        network = network[int(step)]
    sample = _network_sample(estimator, X_sample, prefix)
    return _splice_exported(g, x, network, estimator, sample)


def _one_hot_lookup(g: Graph, x: str, module: nn.Module) -> str | None:
    """``module``'s output without its one-hot block, where ``module`` is a
    frame stage and a network that allow it (see :func:`.frame.one_hot_lookup`)."""
    if type(module) is not nn.Sequential or len(module) != 2:
        return None
    return one_hot_lookup(g, x, module[0], module[1], _write)


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
