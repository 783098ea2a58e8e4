"""A whole fitted estimator as one ONNX graph and model: the frame stage's
inputs (:mod:`sk_mlp._io.onnx.frame`), input scaling, the network
(:mod:`sk_mlp._io.onnx.network`) and the outputs
(:mod:`sk_mlp._io.onnx.outputs`).

Precision follows the input: the network runs in float32, as in sk_mlp, and
the output stage (softmax, sigmoid, target scaling) in float64, then is cast
to the input's type.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ... import _version
from ..estimator_types import estimator_class
from .frame import encoded_input, graph_inputs, has_categories
from .graph import Graph
from .network import network_output
from .outputs import class_labels, classifier_outputs, quantile_outputs, regressor_outputs

DEFAULT_OPSET = 17  # LayerNormalization
MIN_OPSET = 13  # Softmax over one axis, Squeeze/Unsqueeze axes as inputs


def estimator_graph(estimator, dtype, opset: int, X_sample=None, *, skl2onnx_layout=False):
    """The whole estimator as a :class:`Graph` from its inputs to its outputs.

    Returns the graph, whose ``inputs`` lists the graph's inputs
    (:class:`sk_mlp._io.onnx.frame.Input`), and a list of ``(name, output name,
    elem dtype, shape)``. ``skl2onnx_layout``: one input ``"X"`` and outputs as
    skl2onnx's pipelines expect them (regressors always 2-D, integer or string
    labels); otherwise a model with categorical features takes one input per
    column.
    """
    check_is_fitted(estimator)
    per_column = has_categories(estimator) and not skl2onnx_layout
    inputs = graph_inputs(estimator, dtype, per_column)
    g = Graph(max(opset, MIN_OPSET), reserved=[i.name for i in inputs])
    g.inputs = inputs
    x = encoded_input(g, estimator, inputs, dtype, per_column)
    raw = network_output(g, x, estimator.module_, estimator, X_sample)
    if isinstance(estimator, estimator_class("classifier")):
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


def _tensor_type(onnx, dtype) -> int:
    if dtype is str or np.dtype(dtype).kind in "UO":
        return onnx.TensorProto.STRING
    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def estimator_model(estimator, dtype=np.float32, target_opset=None, X_sample=None):
    """The estimator as an ``onnx.ModelProto`` with input ``"X"``."""
    g, outputs = estimator_graph(estimator, dtype, target_opset or DEFAULT_OPSET, X_sample)
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
        producer_version=_version.__version__,
        ir_version=helper.find_min_ir_version_for(opsets),
    )
    helper.set_model_props(model, {"estimator": type(estimator).__name__})
    onnx.checker.check_model(model)
    return model
