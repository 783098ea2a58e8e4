"""What a column of a user's table holds: numbers or categories, the type of
its values, which values are missing; and the ``categorical_features`` spec.
Read by the frame stage (:mod:`sk_mlp._preprocessing.frame`); pandas is never
imported here, only used where the caller has imported it."""

from __future__ import annotations

import sys
from numbers import Integral

import numpy as np

NUMERIC, CATEGORICAL = "numeric", "categorical"


def loaded_pandas():
    """The pandas module if the caller has imported it (only then can X be a frame)."""
    return sys.modules.get("pandas")


def is_data_frame(X) -> bool:
    """Whether X is a pandas DataFrame (without importing pandas)."""
    # getattr: a module another thread is still importing may lack the class.
    frame = getattr(loaded_pandas(), "DataFrame", None)
    return isinstance(frame, type) and isinstance(X, frame)


# What infer_dtype calls an object column of numbers: numbers are numbers,
# whatever holds them (database drivers give decimal.Decimal, for example).
_NUMBERS = frozenset({"integer", "floating", "mixed-integer-float", "decimal", "boolean"})


def column_kind(column) -> str | None:
    """``'numeric'`` for bool, integer and float columns (numpy or pandas
    nullable) and object columns of numbers; ``'categorical'`` for category,
    string and other object columns; None for an object column with no value
    (nothing says what it holds)."""
    pd = loaded_pandas()
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
        if not pd.api.types.is_object_dtype(dtype):
            return CATEGORICAL
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(column, skipna=True)
        if inferred == "empty":
            return None
        return NUMERIC if inferred in _NUMBERS else CATEGORICAL
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_complex_dtype(dtype):
            raise TypeError(f"Complex data not supported; got a column of dtype {dtype}.")
        return NUMERIC
    raise TypeError(
        f"Columns of dtype {dtype} are not supported: convert them to numbers or "
        "to a 'category' column first (for dates, for example, to the year, month "
        "and day of week)."
    )


def value_type(column) -> str | None:
    """What the values of a categorical column are, for the check at transform.

    ``'integer'`` (bool included), a float dtype's name (``'float64'``,
    ``'float32'``, ...), ``'string'``, another type name from
    :func:`pandas.api.types.infer_dtype` (``'decimal'``, ``'mixed'``, ...), or
    None where no value says (an object column with every value missing).
    Read from the dtype where it tells (O(1)), else from the values.
    """
    pd = loaded_pandas()
    dtype = column.dtype
    if pd is not None and isinstance(dtype, pd.CategoricalDtype):
        column, dtype = dtype.categories, dtype.categories.dtype
    dtype = getattr(dtype, "numpy_dtype", dtype)  # pandas' nullable Int64, Float32, ...
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        return "integer" if dtype.kind in "biu" else dtype.name
    if isinstance(dtype, np.dtype) and dtype.kind in "US":
        return "string"
    if pd is not None and pd.api.types.is_string_dtype(dtype) and not isinstance(dtype, np.dtype):
        return "string"
    if pd is not None:
        inferred = pd.api.types.infer_dtype(column, skipna=True)
    else:
        inferred = infer_type(column)
    return _INFERRED_TYPES.get(inferred, inferred)


# pandas' infer_dtype names, as value_type reports them.
_INFERRED_TYPES = {
    "empty": None,
    "boolean": "integer",
    "floating": "float64",
    "mixed-integer-float": "float64",
}


def infer_type(values: np.ndarray) -> str:
    """:func:`pandas.api.types.infer_dtype` of an object array, for the names
    :func:`value_type` reads, without pandas."""
    types = {type(v) for v in values if not is_missing(v)}
    if not types:
        return "empty"
    if all(issubclass(t, str) for t in types):
        return "string"
    if all(issubclass(t, (bool, np.bool_, Integral)) for t in types):
        return "integer"
    if all(issubclass(t, (bool, np.bool_, Integral, float, np.floating)) for t in types):
        return "floating"
    return "mixed"


def types_match(fitted: str | None, given: str | None, categories: list) -> bool:
    """Whether values of type ``given`` can equal the ``categories`` of fit,
    which were of type ``fitted``: the same type, or numbers of another type
    that holds every category exactly (float32 holds 0.5, not 0.1)."""
    if fitted is None or given is None or fitted == given or given == "mixed":
        return True
    numbers = ("integer", "float")
    if not (fitted.startswith(numbers) and given.startswith(numbers)):
        return False  # a number for a string, or the reverse
    dtype = np.dtype(np.int64 if given == "integer" else given)
    try:
        with np.errstate(all="ignore"):
            return all(dtype.type(c).item() == c for c in categories)
    except OverflowError:
        return False


def is_missing(value) -> bool:
    """``None``, ``pd.NA``, ``pd.NaT`` or a float NaN."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def as_python(value):
    """A numpy scalar as the Python scalar it holds (JSON-friendly category maps)."""
    return value.item() if isinstance(value, np.generic) else value


def sort_key(value):
    # Numbers (bool included) before strings before anything else, so that a
    # column mixing types still gets one deterministic order.
    if isinstance(value, (bool, int, float)):
        return (0, value, "")
    if isinstance(value, str):
        return (1, 0, value)
    return (2, 0, repr(value))


def check_categorical_features(X, categorical_features, kinds) -> np.ndarray:
    """Boolean mask of the categorical features, from HistGradientBoosting's spec.

    ``'from_dtype'`` marks a data frame's category, object and string columns
    (HistGradientBoosting marks only category columns, and refuses strings);
    on an array it marks none. ``None`` marks none. Otherwise a boolean mask of
    shape (n_features,), integer indices, or feature names of a data frame.
    """
    n_features = len(kinds)
    if categorical_features is None:
        return np.zeros(n_features, dtype=bool)
    if isinstance(categorical_features, str) and categorical_features == "from_dtype":
        return np.asarray([k == CATEGORICAL for k in kinds], dtype=bool)
    spec = np.asarray(categorical_features)
    if spec.size == 0:
        return np.zeros(n_features, dtype=bool)
    if spec.dtype.kind == "O" and {type(f) for f in spec.ravel()} != {str}:
        names = ", ".join(sorted({type(f).__name__ for f in spec.ravel()}))
        raise ValueError(
            f"categorical_features must be an array-like of bool, int or str, got: {names}."
        )
    if spec.dtype.kind not in "ibUO":
        raise ValueError(
            "categorical_features must be an array-like of bool, int or str, "
            f"got: {spec.dtype.name}."
        )
    mask = np.zeros(n_features, dtype=bool)
    if spec.dtype.kind in "UO":
        if not is_data_frame(X):
            raise ValueError(
                "categorical_features should be passed as an array of integers or as "
                "a boolean mask when the model is fitted on data without feature names."
            )
        names = [str(c) for c in X.columns]
        for name in spec:
            if name not in names:
                raise ValueError(
                    f"categorical_features has an item value '{name}' which is not a "
                    f"valid feature name of the training data. Observed feature names: "
                    f"{names}"
                )
            mask[names.index(name)] = True
    elif spec.dtype.kind == "i":
        if spec.max() >= n_features or spec.min() < 0:
            raise ValueError(
                "categorical_features set as integer indices must be in [0, n_features - 1]"
            )
        mask[spec] = True
    else:
        if spec.shape != (n_features,):
            raise ValueError(
                "categorical_features set as a boolean mask must have shape "
                f"(n_features,), got: {spec.shape}"
            )
        mask = spec.copy()
    return mask


def is_missing_column(column) -> np.ndarray:
    """Which values of a column (a Series or a 1-D array) are missing."""
    if hasattr(column, "isna"):  # a Series
        return column.isna().to_numpy()
    if column.dtype.kind == "f":
        return np.isnan(column)
    if column.dtype.kind != "O":
        return np.zeros(len(column), dtype=bool)
    return np.fromiter((is_missing(v) for v in column), dtype=bool, count=len(column))
