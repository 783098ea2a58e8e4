"""sk_mlp's converters for skl2onnx, so that pipelines ending in an sk_mlp
estimator convert with ``skl2onnx.to_onnx`` in one call.

The converter builds the same graph as :func:`sk_mlp.to_onnx` and copies its
nodes into skl2onnx's container, renaming every tensor into skl2onnx's scope.
The estimator's inputs (several for a DataFrame: one per column) are joined
into one float matrix, which the graph takes: missing values (NaN) are filled
in as ``predict`` fills them, and categorical features map to codes if their
categories are numbers (a string column is encoded before the estimator in
such a pipeline).
"""

from __future__ import annotations

import numpy as np

from ..estimator_types import estimator_class
from .graph import import_onnx
from .model import estimator_graph
from .outputs import class_labels

_ALIASES = {
    "TorchMLPClassifier": "SkMlpTorchMLPClassifier",
    "TorchMLPRegressor": "SkMlpTorchMLPRegressor",
}


def _import_skl2onnx():
    import_onnx()
    try:
        import skl2onnx
    except ImportError as exc:
        raise ImportError(
            "Converting pipelines needs skl2onnx; install it with `pip install skl2onnx` "
            "(or, in a checkout of sk_mlp, `pip install -e '.[onnx]'`)."
        ) from exc
    return skl2onnx


def _input_dtype(operator):
    """float64 if an input is a double tensor, else float32; the inputs (the
    columns of a DataFrame, for example) are joined into one matrix."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, Int64TensorType

    kinds = {type(variable.type) for variable in operator.inputs}
    if not kinds <= {FloatTensorType, DoubleTensorType, Int64TensorType}:
        raise ValueError(
            f"{type(operator.raw_operator).__name__} takes numeric tensors in ONNX "
            f"through skl2onnx, got {sorted(kind.__name__ for kind in kinds)}. A model "
            "fitted on a DataFrame with string columns exports with "
            "sk_mlp.to_onnx(estimator), which takes one input per column."
        )
    return np.float64 if DoubleTensorType in kinds else np.float32


def _features(scope, operator, container, dtype) -> str:
    """The operator's inputs as one matrix of ``dtype``."""
    onnx = import_onnx()
    names = []
    for variable in operator.inputs:
        name = variable.full_name
        if variable.type.to_onnx_type().tensor_type.elem_type != _elem_type(onnx, dtype):
            cast = scope.get_unique_variable_name("cast")
            container.add_node(
                "Cast",
                [name],
                [cast],
                name=scope.get_unique_operator_name("Cast"),
                to=_elem_type(onnx, dtype),
            )
            name = cast
        names.append(name)
    if len(names) == 1:
        return names[0]
    joined = scope.get_unique_variable_name("features")
    container.add_node(
        "Concat", names, [joined], name=scope.get_unique_operator_name("Concat"), axis=1
    )
    return joined


def _elem_type(onnx, dtype) -> int:
    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _shape_calculator(operator):
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    estimator = operator.raw_operator
    float_type = DoubleTensorType if _input_dtype(operator) == np.float64 else FloatTensorType
    n_rows = operator.inputs[0].get_first_dimension()
    if isinstance(estimator, estimator_class("classifier")):
        n_classes = len(estimator.classes_)
        if estimator._target_type == "multilabel-indicator":
            operator.outputs[0].type = Int64TensorType([n_rows, n_classes])
        elif class_labels(estimator, integer_labels=True).dtype.kind == "U":
            operator.outputs[0].type = StringTensorType([n_rows])
        else:
            operator.outputs[0].type = Int64TensorType([n_rows])
        operator.outputs[1].type = float_type([n_rows, n_classes])
        return
    width = estimator.n_outputs_
    if estimator.out_activation_ == "quantile" and estimator._quantile_index is None:
        width *= len(estimator.quantiles_)  # each target's quantiles side by side
    for output in operator.outputs:
        output.type = float_type([n_rows, width])


def _converter(scope, operator, container):
    """Add the estimator's graph to skl2onnx's container, between the
    operator's input and outputs."""
    onnx = import_onnx()
    dtype = _input_dtype(operator)
    opset = container.target_opset
    opset = opset.get("", opset.get("ai.onnx")) if isinstance(opset, dict) else opset
    g, outputs = estimator_graph(operator.raw_operator, dtype, opset, skl2onnx_layout=True)
    names = {"X": _features(scope, operator, container, dtype)}
    for variable, (_, source, _, _) in zip(operator.outputs, outputs):
        names[source] = variable.full_name

    def rename(name: str) -> str:
        if name and name not in names:
            names[name] = scope.get_unique_variable_name(name)
        return names.get(name, name)

    for tensor in g.initializers:
        values = onnx.numpy_helper.to_array(tensor)
        content = values.ravel().tolist() if values.dtype.kind in "OUS" else tensor
        container.add_initializer(rename(tensor.name), tensor.data_type, list(tensor.dims), content)
    for node in g.nodes:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        container.add_node(
            node.op_type,
            [rename(name) for name in node.input],
            [rename(name) for name in node.output],
            op_domain=node.domain,
            op_version=g.opset_imports.get(node.domain, g.opset),
            name=scope.get_unique_operator_name(node.op_type),
            **attributes,
        )


def _parse_regressor(scope, model, inputs, custom_parsers=None):
    """One output, the prediction; a second, the std, with option return_std."""
    options = scope.get_options(model, {"return_std": False})
    if options["return_std"] and model.out_activation_ != "gaussian":
        raise ValueError("Option return_std needs a regressor fitted with loss='gaussian_nll'.")
    operator = scope.declare_local_operator(_ALIASES["TorchMLPRegressor"], model)
    operator.inputs = inputs
    names = ["variable", "std"] if options["return_std"] else ["variable"]
    for name in names:
        operator.outputs.append(scope.declare_local_variable(name, inputs[0].type.__class__()))
    return operator.outputs


def register_skl2onnx_converters():
    """Register sk_mlp's estimators with skl2onnx.

    Afterwards ``skl2onnx.to_onnx`` converts pipelines that hold a
    :class:`TorchMLPClassifier` or :class:`TorchMLPRegressor` (after a
    ``StandardScaler``, a ``ColumnTransformer`` with a ``OneHotEncoder``, ...)
    in one call. The classifier supports skl2onnx's ``zipmap`` option (pass
    ``options={TorchMLPClassifier: {"zipmap": False}}`` for a plain
    probability matrix); the regressor has an option ``return_std`` that adds
    a ``std`` output for ``loss='gaussian_nll'``. A regressor fitted with
    ``loss='quantile'`` and a sequence of quantiles gives, in each row, each
    target's quantiles side by side (n_outputs * n_quantiles columns).
    :func:`to_onnx` calls this itself. Calling it again does nothing more.

    The estimator receives the pipeline's features as one float matrix: NaN
    in it is a missing value, filled in as ``predict`` does, and categorical
    features (``categorical_features``) need numeric categories; to export a
    model fitted on a DataFrame with string categories, use :func:`to_onnx`
    on the estimator itself, which takes one input per column.

    Examples
    --------
    >>> import numpy as np
    >>> import skl2onnx
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sk_mlp import TorchMLPClassifier, register_skl2onnx_converters
    >>> X, y = make_classification(n_samples=100, random_state=0)
    >>> pipe = make_pipeline(StandardScaler(), TorchMLPClassifier((8,), random_state=0))
    >>> pipe = pipe.fit(X, y)
    >>> register_skl2onnx_converters()
    >>> options = {TorchMLPClassifier: {"zipmap": False}}
    >>> model = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32), options=options)
    >>> [output.name for output in model.graph.output]
    ['label', 'probabilities']
    """
    skl2onnx = _import_skl2onnx()
    skl2onnx.update_registered_converter(
        estimator_class("classifier"),
        _ALIASES["TorchMLPClassifier"],
        _shape_calculator,
        _converter,
        # skl2onnx's ZipMap reads "nocl" (class indices instead of labels),
        # which this converter does not offer.
        options={"zipmap": [True, False, "columns"], "nocl": [False]},
    )
    skl2onnx.update_registered_converter(
        estimator_class("regressor"),
        _ALIASES["TorchMLPRegressor"],
        _shape_calculator,
        _converter,
        parser=_parse_regressor,
        options={"return_std": [False, True]},
    )


def convert_with_skl2onnx(estimator, X_sample, target_opset):
    """``skl2onnx.to_onnx`` with sk_mlp's converters and plain probability outputs."""
    skl2onnx = _import_skl2onnx()
    if X_sample is None:
        raise ValueError(
            f"Converting a {type(estimator).__name__} needs X_sample: a few input rows "
            "that tell skl2onnx the input columns and types."
        )
    register_skl2onnx_converters()
    options = {estimator_class("classifier"): {"zipmap": False}}
    return skl2onnx.to_onnx(estimator, X_sample, target_opset=target_opset, options=options)
