"""The frame stage's checks at transform: each column must hold the kind
(numbers or categories) and, for categories, the type of values seen in fit;
a warning where most of a column's values are categories fit never saw.
Functions of a fitted :class:`~sk_mlp._preprocessing.frame.TabularEncoder`."""

from __future__ import annotations

import warnings

import numpy as np

from .columns import (
    CATEGORICAL,
    NUMERIC,
    column_kind,
    is_missing_column,
    loaded_pandas,
    types_match,
    value_type,
)

DTYPES_CHANGED = "The dtypes of the features should match those that were passed during fit.\n"
# Below this many present values in a column, a majority of unknown
# categories is too likely by chance (a few rows to predict) to warn.
MIN_ROWS_TO_WARN = 20


def changed_kinds(encoder, X, numbers_for_categories: bool) -> str:
    """The columns of frame X whose dtype is not of the kind seen in fit,
    one line each (the first five), or ``''``."""
    numeric_categories = set()
    if numbers_for_categories:
        numeric_categories = {
            j
            for j, categories in zip(np.flatnonzero(encoder.is_categorical_), encoder.categories_)
            if all(isinstance(c, (bool, int, float)) for c in categories)
        }
    changed = []
    for j, dtype in enumerate(X.dtypes):
        kind = column_kind(X.iloc[:, j])
        if (
            kind is None
            or kind == encoder.kinds_[j]
            or (
                # Numbers in an object column fitted as categories: the check
                # of value types says whether they can be its categories.
                encoder.kinds_[j] == CATEGORICAL
                and loaded_pandas().api.types.is_object_dtype(dtype)
            )
        ):
            continue
        if not (j in numeric_categories and kind == NUMERIC):
            changed.append(f"- {encoder._name(j)}: {encoder.kinds_[j]} in fit, now {dtype}\n")
    return "".join(changed[:5]) + ("- ...\n" if len(changed) > 5 else "")


def check_value_types(encoder, X) -> None:
    """Categorical columns whose values are of another type than in fit
    (integers as strings, float64 as float32) would match no category of
    fit and silently become missing: an error instead."""
    # None: an encoder from a file saved before the types were recorded
    fitted_types = getattr(encoder, "category_types_", None)
    if fitted_types is None:
        return
    changed = []
    columns = np.flatnonzero(encoder.is_categorical_)
    for j, fitted, categories in zip(columns, fitted_types, encoder.categories_):
        given = value_type(encoder._column(X, j))
        if not types_match(fitted, given, categories):
            changed.append(
                f"- {encoder._name(j)}: categories of type {fitted} in fit, now {given} "
                f"values, which cannot equal them; convert the column to {fitted} "
                "values as in fit\n"
            )
    if changed:
        raise ValueError(DTYPES_CHANGED + "".join(changed))


def warn_unknown(encoder, X, codes: np.ndarray) -> None:
    """Warn where most values of a categorical column are unknown: more
    likely values written differently than in fit than a change in the data."""
    columns = np.flatnonzero(encoder.is_categorical_)
    if len(codes) < MIN_ROWS_TO_WARN or not len(columns):
        return
    zeros = (codes == 0).sum(axis=0)  # unknown or missing
    for i, j in enumerate(columns):
        if zeros[i] * 2 <= len(codes):  # most values known: no need to count
            continue
        missing = int(is_missing_column(encoder._column(X, j)).sum())
        present, unknown = len(codes) - missing, zeros[i] - missing
        if present >= MIN_ROWS_TO_WARN and unknown * 2 > present:
            warnings.warn(
                f"Feature {encoder._name(j)}: {unknown / present:.0%} of its {present} "
                "values (not counting missing ones) were not seen in fit and are "
                "treated as missing. Check that the column holds values written as "
                "in fit.",
                UserWarning,
                stacklevel=4,
            )
