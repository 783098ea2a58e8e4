"""The estimators' outputs in ONNX, computed from the network's raw outputs as
``predict``, ``predict_proba`` and the regressors' uncertainty compute them:
class labels and probabilities, means and standard deviations in the units of
y, quantiles. The output stage computes in float64, then casts to the
input's type."""

from __future__ import annotations

import numpy as np

from ..._engine.array_space import to_host
from ..._nn.losses import MAX_LOGIT_MARGIN
from .graph import Graph


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
