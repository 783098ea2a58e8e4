"""ONNX export of the frame stage: raw columns in, the network's input out.

Two parts mirror sk_mlp's own: :func:`encoded_input` computes what
:class:`~sk_mlp._preprocessing.frame.TabularEncoder` computes (numeric features with
missing values replaced by the medians of fit, missing indicators, one code
per categorical feature, as float32 columns), and :func:`tabular_input` what
:class:`~sk_mlp._nn.tabular.TabularInput` makes of that matrix (one-hot
vectors and embeddings); :func:`one_hot_lookup` computes that layer and the
first linear layer together, selecting rows of its weight where the one-hot
vectors would select them, as sk_mlp's training and prediction do.
Categories become codes by ``ai.onnx.ml``'s ``LabelEncoder``, whose default
code 0 stands for a missing or unknown value, as in
:meth:`TabularEncoder.encode`.

A model with categorical features takes one input per column, each of shape
(N, 1): numeric columns as floats, categorical columns as strings, int64 or
floats, by the type of their categories (skl2onnx's layout for data frames).
Any other model takes one float matrix ``"X"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from torch import nn

from ..._nn.mlp import first_linear
from ..._nn.tabular import lookup_input

ML_DOMAIN = "ai.onnx.ml"
_ML_OPSET = 2  # LabelEncoder with string, int64 and float keys


@dataclass(frozen=True)
class Input:
    """A graph input: its name, element dtype (``str`` for strings) and shape."""

    name: str
    dtype: object
    shape: tuple


def has_categories(estimator) -> bool:
    encoder = getattr(estimator, "_tabular", None)
    return encoder is not None and bool(encoder.is_categorical_.any())


def graph_inputs(estimator, dtype, per_column: bool) -> list[Input]:
    """The inputs of the exported graph: one per column, or one matrix ``"X"``."""
    n_features = estimator.n_features_in_
    if not per_column:
        return [Input("X", dtype, ("N", n_features))]
    encoder = estimator._tabular
    names = getattr(estimator, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else [f"x{j}" for j in range(n_features)]
    categories = iter(encoder.categories_)
    inputs = []
    for name, categorical in zip(names, encoder.is_categorical_):
        kind = _category_dtype(next(categories), name, dtype) if categorical else dtype
        inputs.append(Input(name, kind, ("N", 1)))
    return inputs


def _category_dtype(categories: list, name: str, float_dtype):
    """The input type of a categorical column, from the types of its categories."""
    kinds = {_category_kind(value) for value in categories}
    if kinds <= {"str"}:
        return str
    if kinds <= {"int"}:
        return np.int64
    if kinds <= {"int", "float"}:
        return float_dtype
    raise ValueError(
        f"Categorical feature {name!r} has categories of types "
        f"{sorted({type(v).__name__ for v in categories})}; ONNX export needs the "
        "categories of a column to be all strings or all numbers. Convert the column "
        "(for example with .astype(str)) and refit."
    )


def _category_kind(value) -> str:
    if isinstance(value, str):
        return "str"
    if isinstance(value, (bool, int)):
        return "int"
    return "float" if isinstance(value, float) else type(value).__name__


# ------------------------------------------------------------- the frame stage
def encoded_input(g, estimator, inputs: list[Input], dtype, per_column: bool) -> str:
    """The matrix the network reads (float32), from the graph's inputs (one per
    column, or one matrix); ``dtype`` is that of the numeric inputs."""
    encoder = getattr(estimator, "_tabular", None)
    if encoder is None:  # input used as it is (sparse fits, models from before frames)
        return _float32(g, inputs[0].name, dtype)
    numeric_columns = np.flatnonzero(~encoder.is_categorical_)
    columns = _column_getter(g, inputs, dtype, per_column)
    parts = []
    if len(numeric_columns):
        if per_column:
            numeric = _concat(g, [inputs[j].name for j in numeric_columns])
        elif encoder.is_categorical_.any():
            numeric = g.op("Gather", inputs[0].name, g.const(numeric_columns), axis=1)
        else:
            numeric = inputs[0].name
        missing = g.op("IsNaN", numeric)
        medians = np.asarray(encoder.medians_, dtype=dtype)[None, :]
        imputed = g.op("Where", missing, g.const(medians, "median"), numeric)
        parts.append(_float32(g, imputed, dtype))
        if encoder.numeric_missing_.any():
            indicators = np.flatnonzero(encoder.numeric_missing_)
            parts.append(g.cast(g.op("Gather", missing, g.const(indicators), axis=1), np.float32))
    categorical_columns = np.flatnonzero(encoder.is_categorical_)
    for j, categories in zip(categorical_columns, encoder.categories_):
        codes = _codes(g, *columns(j), categories, _name(estimator, j))
        parts.append(g.cast(codes, np.float32))
    return _concat(g, parts)


def _column_getter(g, inputs, dtype, per_column) -> Callable[[int], tuple[str, object]]:
    """Column ``j`` of the input, (N, 1), with its dtype: an input of its own,
    or a slice of the one matrix."""
    if per_column:
        return lambda j: (inputs[j].name, inputs[j].dtype)
    return lambda j: (g.op("Gather", inputs[0].name, g.const(np.array([j])), axis=1), dtype)


def _codes(g, column: str, dtype, categories: list, name: str) -> str:
    """int64 codes of a column: 1 + the category's index, 0 if missing or unknown."""
    if not categories:  # only missing values in fit: every code is 0
        rows = g.op("Slice", g.op("Shape", column), g.const(np.array([0])), g.const(np.array([1])))
        shape = g.op("Concat", rows, g.const(np.array([1])), axis=0)
        return g.op("ConstantOfShape", shape, value=_int64_zero(g))
    if dtype is str:
        keys = {"keys_strings": [str(c) for c in categories]}
    elif dtype == np.int64:
        keys = {"keys_int64s": [int(c) for c in categories]}
    else:
        if any(isinstance(c, str) for c in categories):
            raise ValueError(
                f"Categorical feature {name!r} has string categories, which a float "
                "input cannot hold. sk_mlp.to_onnx(estimator) takes one input per "
                "column, strings included; skl2onnx passes sk_mlp's estimator one float "
                "matrix, so encode such a column to numbers before it in the pipeline."
            )
        floats = np.asarray(categories, dtype=np.float32)
        if len(np.unique(floats)) < len(floats):
            raise ValueError(
                f"Categorical feature {name!r} has categories that are equal in "
                "float32, which ONNX's LabelEncoder compares; they cannot be exported."
            )
        column = _float32(g, column, dtype)
        keys = {"keys_floats": floats.tolist()}
    g.opset_imports[ML_DOMAIN] = max(g.opset_imports.get(ML_DOMAIN, 0), _ML_OPSET)
    return g.op(
        "LabelEncoder",
        column,
        domain=ML_DOMAIN,
        values_int64s=list(range(1, len(categories) + 1)),
        default_int64=0,
        **keys,
    )


def _int64_zero(g):
    return g.onnx.numpy_helper.from_array(np.zeros(1, dtype=np.int64))


def _name(estimator, j: int) -> str:
    names = getattr(estimator, "feature_names_in_", None)
    return str(names[j]) if names is not None else f"x{j}"


def _float32(g, x: str, dtype) -> str:
    return x if dtype == np.float32 else g.cast(x, np.float32)


def _concat(g, parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=1)


# ----------------------------------------------------------------- TabularInput
def tabular_input(g, x: str, layer, write: Callable[[object, str, nn.Module], str]) -> str:
    """What :class:`~sk_mlp._nn.tabular.TabularInput` computes from ``x``:
    the numeric block through ``layer.numeric`` (written by ``write``), then
    the one-hot block, then the embeddings. Written only where the next
    linear layer cannot look its weights up (see :func:`one_hot_lookup`)."""
    parts = _numeric_part(g, x, layer, write)
    n = layer.n_numeric
    features = list(zip(layer.cardinalities, layer.one_hot, layer.missing_slot))
    if features:
        codes = g.cast(g.columns(x, n, n + len(features)), np.int64)
    for j, (cardinality, hot, slot) in enumerate(features):
        # Code 0 has a column only where fit saw missing values (the slot).
        if hot and cardinality > (0 if slot else 1):
            values = np.arange(0 if slot else 1, cardinality, dtype=np.int64)[None, :]
            equal = g.op("Equal", g.columns(codes, j, j + 1), g.const(values, "codes"))
            parts.append(g.cast(equal, np.float32))
    return _concat(g, parts + _embedded_parts(g, x, layer))


def one_hot_lookup(g, x: str, stage: nn.Module, network: nn.Module, write) -> str | None:
    """``network(stage(x))``, with no one-hot block, where
    :func:`~sk_mlp._nn.tabular.lookup_input` allows it; else None.

    As :func:`~sk_mlp._nn.mlp.forward_lookup` does in torch, the one-hot
    block's product with the first linear layer is, for each one-hot
    feature, the row of that layer's (transposed) weight that its code
    selects: a ``Gather`` per feature, summed, plus the product of the other
    columns. The graph's memory then grows with rows times features, not
    rows times categories. ``write`` writes a layer, as for
    :func:`tabular_input`.
    """
    tabular = lookup_input(stage, network)
    if tabular is None:
        return None
    front, weight, bias, rest = first_linear(network)
    weight, bias = (t.detach().cpu().float().numpy() for t in (weight, bias))
    n_members, n_out, width = weight.shape
    stop = width - sum(tabular.embedding_dims)
    start = stop - tabular.hot_width
    # Members stay on a leading axis, (k, N, n_out), until the end.
    h = None
    dense = _numeric_part(g, x, tabular, write) + _embedded_parts(g, x, tabular)
    if dense:
        dense = _concat(g, dense)
        encoders = list(stage)[1:] if type(stage) is nn.Sequential else []
        for layer in [*encoders, *front]:
            dense = write(g, dense, layer)
        others = np.concatenate([weight[:, :, :start], weight[:, :, stop:]], axis=2)
        h = g.op("MatMul", dense, g.const(_transposed(others), "weight"))
    # Row hot_width is zero: the position of a code without a column (code 0
    # of a feature whose fit saw no missing value, where unseen categories go).
    table = _transposed(np.pad(weight[:, :, start:stop], ((0, 0), (0, 0), (0, 1))))
    positions = tabular.hot_positions.cpu().numpy()
    ends = [*tabular.hot_bases.tolist()[1:], len(positions)]
    looked_up = []
    for column, base, end in zip(tabular.hot_columns.tolist(), tabular.hot_bases.tolist(), ends):
        rows = g.const(np.ascontiguousarray(table[:, positions[base:end]]), "weight_rows")
        looked_up.append(g.op("Gather", rows, _code(g, x, column), axis=1))
    # Added after all the Gathers in the graph's order: onnxruntime then runs
    # each Add right after its Gather (its default order is a depth-first
    # walk from the outputs, later nodes first), so that one feature's rows,
    # not all, are held at a time.
    for part in looked_up:
        h = part if h is None else g.op("Add", h, part)
    h = g.op("Add", h, g.const(np.ascontiguousarray(bias[:, None, :]), "bias"))
    h = g.op("Reshape", h, g.const(np.array([-1, n_out])))  # stacked by member
    for layer in rest:
        h = write(g, h, layer)
    return h


def _numeric_part(g, x: str, layer, write) -> list[str]:
    """The numeric block of :class:`~sk_mlp._nn.tabular.TabularInput`'s
    output, as a list of none or one part."""
    n = layer.n_numeric
    if not n:
        return []
    numeric = g.columns(x, 0, n)
    return [numeric if layer.numeric is None else write(g, numeric, layer.numeric)]


def _embedded_parts(g, x: str, layer) -> list[str]:
    """The embedded features' vectors, one part per feature."""
    parts = []
    for column, embedding in zip(layer.embedded_columns, layer.embeddings):
        weight = g.const(embedding.weight.detach().cpu().numpy(), "embedding")
        parts.append(g.op("Gather", weight, _code(g, x, column), axis=0))
    return parts


def _code(g, x: str, column: int) -> str:
    """The int64 codes in column ``column`` of ``x``, shape (N,)."""
    index = g.const(np.array(column, dtype=np.int64))
    return g.cast(g.op("Gather", x, index, axis=1), np.int64)


def _transposed(weight: np.ndarray) -> np.ndarray:
    """(k, out, in) weights as (k, in, out), for ``MatMul`` and ``Gather``."""
    return np.ascontiguousarray(weight.transpose(0, 2, 1))
