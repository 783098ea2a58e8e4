"""ONNX converters for the layers of :mod:`sk_mlp._nn.layers`: feature scales,
ensembles and numeric embeddings.

Each converter takes the graph under construction (:class:`sk_mlp._io.onnx.graph.Graph`),
the name of its float32 input and the layer, and returns the name of its
output, computing what the layer computes in evaluation mode. The members of
an ensemble stay stacked along the batch, as in torch, so the shared hidden
layers between :class:`~sk_mlp._nn.layers.MemberScale` and
:class:`~sk_mlp._nn.layers.MemberLinear` are written as for a single network.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..._nn.layers import (
    FeatureScale,
    MemberAverage,
    MemberLinear,
    MemberScale,
    PeriodicEmbedding,
    PiecewiseLinearEncoding,
)
from ..._nn.registry import register_capability
from .graph import Graph


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32)


def _ints(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _feature_scale(g: Graph, x: str, layer: FeatureScale) -> str:
    return g.op("Mul", x, g.const(_array(layer.weight)[None, :], "feature_scale"))


def _member_scale(g: Graph, x: str, layer: MemberScale) -> str:
    """``(n, d) -> (k * n, d)``: member ``i``'s block of rows is ``x * weight[i]``."""
    weight = _array(layer.weight)
    rows = g.op("Unsqueeze", x, g.const(_ints(0)))  # (1, n, d)
    scaled = g.op("Mul", rows, g.const(weight[:, None, :], "member_scale"))
    return g.op("Reshape", scaled, g.const(_ints(-1, weight.shape[1])))


def _member_linear(g: Graph, x: str, layer: MemberLinear) -> str:
    """``(k * n, d_in) -> (k * n, d_out)``, each block of rows through its member's layer."""
    n_members, n_out, n_in = layer.weight.shape
    blocks = g.op("Reshape", x, g.const(_ints(n_members, -1, n_in)))
    weight = g.const(np.ascontiguousarray(_array(layer.weight).transpose(0, 2, 1)), "weight")
    bias = g.const(_array(layer.bias)[:, None, :], "bias")
    out = g.op("Add", g.op("MatMul", blocks, weight), bias)
    return g.op("Reshape", out, g.const(_ints(-1, n_out)))


def _member_average(g: Graph, x: str, layer: MemberAverage) -> str:
    """:func:`sk_mlp._nn.losses.average_members` of the ``(k * n, d)`` stacked rows."""
    k = layer.n_members
    width = _dimension(g, x, 1)
    members = g.op("Reshape", x, g.op("Concat", g.const(_ints(k, -1)), width, axis=0))
    if layer.out_activation == "softmax":
        return _log_mean_exp(g, g.op("LogSoftmax", members, axis=2))
    if layer.out_activation == "logistic":
        # logit(mean p) = log(mean p) - log(mean (1 - p)), as in torch.
        positive = _log_mean_exp(g, g.op("Neg", _softplus(g, g.op("Neg", members))))
        negative = _log_mean_exp(g, g.op("Neg", _softplus(g, members)))
        return g.op("Sub", positive, negative)
    if layer.out_activation == "exp":
        return _log_mean_exp(g, members)
    if layer.out_activation == "gaussian":
        return _gaussian_mixture(g, members)
    return _reduce(g, "ReduceMean", members)


def _gaussian_mixture(g: Graph, members: str) -> str:
    """Mean and raw variance of the members' equal mixture.

    The variance goes through softplus and its inverse: in float64, where
    ``log(1 - exp(-v))`` keeps the small variances that float32 would round
    to zero (torch uses ``expm1``, which ONNX lacks).
    """
    means, raw_variances = _halves(g, g.cast(members, np.float64))
    mean = _reduce(g, "ReduceMean", means)
    deviation = g.op("Sub", means, g.op("Unsqueeze", mean, g.const(_ints(0))))
    spread = _reduce(g, "ReduceMean", g.op("Mul", deviation, deviation))
    # torch adds the variance floor to each member's variance and takes it off
    # the mixture's: it cancels.
    variances = _softplus(g, raw_variances, np.float64)
    variance = g.op("Add", _reduce(g, "ReduceMean", variances), spread)
    one = g.const(np.float64(1.0))
    tail = g.op("Log", g.op("Sub", one, g.op("Exp", g.op("Neg", variance))))
    raw_variance = g.op("Add", variance, tail)
    return g.op("Concat", g.cast(mean, np.float32), g.cast(raw_variance, np.float32), axis=1)


def _piecewise_linear(g: Graph, x: str, layer: PiecewiseLinearEncoding) -> str:
    """Each bin's ``(x - left) / width`` clipped to [0, 1] (the outer bins open
    on their outer side), then the columns that are not encoded."""
    codes = g.op("Gather", x, g.const(layer.columns.cpu().numpy()), axis=1)
    z = g.op("Sub", codes, g.const(_array(layer.left)[None, :], "left"))
    z = g.op("Mul", z, g.const(_array(layer.inv_width)[None, :], "inv_width"))
    z = g.op("Max", z, g.const(_array(layer.lower)[None, :], "lower"))
    z = g.op("Min", z, g.const(_array(layer.upper)[None, :], "upper"))
    return g.op("Concat", z, g.columns(x, len(layer.n_bins), 2**62), axis=1)


def _periodic(g: Graph, x: str, layer: PeriodicEmbedding) -> str:
    """Each encoded column ``v`` as ``[v, cos(2 pi (v w + b)) W + c]``, then the
    columns that are not encoded."""
    n = layer.n_encoded
    values = g.op("Unsqueeze", g.columns(x, 0, n), g.const(_ints(2)))  # (b, n, 1)
    angles = g.op(
        "Add",
        g.op("Mul", values, g.const(_array(layer.frequencies), "frequencies")),
        g.const(_array(layer.phases), "phases"),
    )
    angles = g.op("Mul", angles, g.const(np.float32(2 * math.pi)))
    weight = g.const(_array(layer.weight), "weight")  # (n, frequencies, embedding)
    embedded = g.op("Einsum", g.op("Cos", angles), weight, equation="bnf,nfe->bne")
    embedded = g.op("Add", embedded, g.const(_array(layer.bias), "bias"))
    parts = g.op("Flatten", g.op("Concat", values, embedded, axis=2), axis=1)
    return g.op("Concat", parts, g.columns(x, n, 2**62), axis=1)


# ------------------------------------------------------------------ helpers
def _reduce(g: Graph, op: str, x: str, keepdims: int = 0) -> str:
    """``op`` over the members' axis (0)."""
    if g.opset >= 18:  # the axes became an input
        return g.op(op, x, g.const(_ints(0)), keepdims=keepdims)
    return g.op(op, x, axes=[0], keepdims=keepdims)


def _log_mean_exp(g: Graph, x: str) -> str:
    """``log(mean(exp(x)))`` over the members' axis, shifted by the maximum so
    that no runtime overflows (ReduceLogSumExp's definition does not shift)."""
    top = _reduce(g, "ReduceMax", x, keepdims=1)
    mean = _reduce(g, "ReduceMean", g.op("Exp", g.op("Sub", x, top)))
    return g.op("Add", g.op("Log", mean), g.op("Squeeze", top, g.const(_ints(0))))


def _softplus(g: Graph, x: str, dtype=np.float32) -> str:
    """``log(1 + exp(x))`` as ``max(x, 0) + log(1 + exp(-|x|))`` for ``x`` of
    ``dtype``: no overflow for large ``x``, where the Softplus operator's
    definition overflows."""
    one = g.const(np.ones((), dtype=dtype))
    tail = g.op("Log", g.op("Add", g.op("Exp", g.op("Neg", g.op("Abs", x))), one))
    return g.op("Add", g.op("Relu", x), tail)


def _dimension(g: Graph, x: str, axis: int) -> str:
    """The size of ``x`` along ``axis``, as a 1-D int64 tensor."""
    return g.op("Slice", g.op("Shape", x), g.const(_ints(axis)), g.const(_ints(axis + 1)))


def _halves(g: Graph, members: str) -> tuple[str, str]:
    """The first and second halves of the last axis of ``members``."""
    half = g.op("Div", _dimension(g, members, 2), g.const(_ints(2)))
    axes, start, end = g.const(_ints(2)), g.const(_ints(0)), g.const(_ints(2**62))
    return g.op("Slice", members, start, half, axes), g.op("Slice", members, half, end, axes)


# This module's part of the layer registry (sk_mlp._nn.registry).
for _cls, _converter in (
    (FeatureScale, _feature_scale),
    (MemberScale, _member_scale),
    (MemberLinear, _member_linear),
    (MemberAverage, _member_average),
    (PiecewiseLinearEncoding, _piecewise_linear),
    (PeriodicEmbedding, _periodic),
):
    register_capability(_cls, "onnx", _converter)
