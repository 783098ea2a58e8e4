"""X as the network reads it: the input checks of fit and predict.

Validation at the scikit-learn boundary: scikit-learn's own checks and
messages for shapes and dtypes, the input's fitted attributes
(``n_features_in_``, ``feature_names_in_``, ``is_categorical_``), the frame
stage (:class:`~sk_mlp._preprocessing.frame.TabularEncoder`, fitted on the first pass)
and the float32 range the network computes in. Inputs under array API
dispatch are checked by :mod:`sk_mlp._engine.array_space` and stay where they are.
"""

from __future__ import annotations

import sys

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_regressor
from sklearn.utils.validation import check_array, check_X_y, validate_data

from .._compat.sklearn_private import _check_sample_weight
from .._engine.array_space import input_space, validate_fit, validate_predict
from .._preprocessing.checks import check_float32_range
from .._preprocessing.columns import check_categorical_features
from .._preprocessing.frame import MAX_ONEHOT_CATEGORIES, TabularEncoder, is_data_frame


def check_fit_input(estimator, space, X, y, sample_weight, *, reset: bool):
    """Validated ``X``, ``y`` and ``sample_weight`` for fitting; on the first
    pass (``reset``) also the input's fitted attributes.

    ``space`` is X's array namespace under array API dispatch (see
    :func:`~sk_mlp._engine.array_space.input_space`), or None for NumPy, SciPy and
    pandas inputs.
    """
    if space is not None:  # array API dispatch: X stays put
        _refuse_categorical_features(estimator, space, X)
        X, y, sample_weight = validate_fit(estimator, space, X, y, sample_weight, reset=reset)
        if reset:
            estimator._tabular, estimator.is_categorical_ = None, None  # numeric arrays
        return X, y, sample_weight
    _check_object_y(y)
    X, y = check_X_y(
        _encode_X(estimator, X, reset=reset, sample_weight=sample_weight),
        y,
        accept_sparse=["csr", "csc"],
        dtype=(np.float64, np.float32),
        multi_output=True,
        y_numeric=is_regressor(estimator),
    )
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )
    return X, y, sample_weight


def _refuse_categorical_features(estimator, space, X) -> None:
    """Under dispatch X goes to the network as it is, on its device, with no
    frame stage to encode it: refuse columns marked categorical (as the
    streamed fit of a dask array does) rather than read them as numbers.
    Checked before anything is validated or set."""
    marked = estimator.categorical_features
    if marked is None or isinstance(marked, str) or getattr(X, "ndim", 0) != 2:
        return  # 'from_dtype' finds no dtypes on an array; X's own checks refuse the rest
    kinds = ["numeric"] * int(X.shape[1])
    if check_categorical_features(None, marked, kinds).any():
        raise ValueError(
            f"categorical_features marks columns of X, an array of {space.library}, "
            "which under array API dispatch goes to the network as it is, on its device, "
            "where those columns would be read as numbers. "
            "Pass X as a NumPy array or a pandas DataFrame (outside dispatch), with "
            "the same categorical_features or with 'category' columns, or set "
            "categorical_features=None to read every column as a number."
        )


def _check_object_y(y) -> None:
    """NaN among labels of another type (strings, say): scikit-learn's check of
    an object array says "Input contains NaN" without naming y."""
    if y is None or sp.issparse(y):
        return
    dtype = getattr(y, "dtype", None)
    if dtype is not None and getattr(dtype, "kind", "O") != "O":
        return  # numbers: scikit-learn's own message names y
    y = np.asarray(y, dtype=object)
    try:
        has_nan = bool((y != y).any())  # only NaN differs from itself
    except (TypeError, ValueError):  # values that do not compare: y's own checks say so
        return
    if has_nan:
        raise ValueError("Input y contains NaN.")


def check_predict_input(estimator, X):
    """``X`` validated for prediction by a fitted ``estimator``, encoded as
    the network reads it."""
    if (space := input_space(X)) is not None:  # array API dispatch: X stays put
        return validate_predict(estimator, space, X)
    return check_array(
        _encode_X(estimator, X, reset=False),
        accept_sparse=["csr", "csc"],
        dtype=(np.float32, np.float64),
    )


def _pandas_sparse_dtype() -> type:
    """pandas' sparse column dtype, or a class nothing is an instance of."""
    pd = sys.modules.get("pandas")
    return getattr(pd, "SparseDtype", None) or type("NoSparseDtype", (), {})


def _encode_X(estimator, X, *, reset: bool, sample_weight=None):
    """X as the network reads it; on the first pass (``reset``) also the
    input's fitted attributes (``n_features_in_``, ``feature_names_in_``,
    ``is_categorical_``).

    Dense input goes through the frame stage
    (:class:`~sk_mlp._preprocessing.frame.TabularEncoder`, fitted on the first pass):
    categorical columns become integer codes and missing values are
    imputed, with indicators. A numeric array that needs neither comes back
    as it is, so that large arrays are still read in place. Sparse input is
    numeric and is used as it is.
    """
    sparse_frame = is_data_frame(X) and len(X.columns) > 0
    sparse_frame = sparse_frame and all(
        isinstance(dtype, _pandas_sparse_dtype()) for dtype in X.dtypes
    )
    if not (sp.issparse(X) or is_data_frame(X)):
        # scikit-learn's own checks and messages for shapes and dtypes; NaN
        # and strings (of categorical columns) stay for the frame stage.
        X = check_array(X, dtype=None, ensure_all_finite=False)
    validate_data(estimator, X, skip_check_array=True, reset=reset)
    if sparse_frame:  # a frame of sparse columns is a sparse matrix with names
        X = X.sparse.to_coo().tocsr()
    if sp.issparse(X):
        return _encode_sparse(estimator, X, reset=reset)
    return _encode_dense(estimator, X, reset=reset, sample_weight=sample_weight)


def _encode_sparse(estimator, X, *, reset: bool):
    """Sparse X, numeric and without a frame stage, in CSR or CSC."""
    if reset:
        estimator._tabular, estimator.is_categorical_ = None, None
    elif estimator._tabular is not None and not estimator._tabular.is_identity_:
        raise ValueError(
            "This model was fitted on data with categorical features or missing "
            "values, which a sparse matrix cannot hold; pass the same columns, "
            "dense (for example as a DataFrame), as in fit."
        )
    if X.format not in ("csr", "csc"):  # DOK, LIL, COO, ... as check_array will
        X = X.tocsr()
    check_float32_range(X)
    return X


def _encode_dense(estimator, X, *, reset: bool, sample_weight=None):
    """Dense X through the frame stage, which the first pass fits (rows of
    weight zero count nowhere, there as in training)."""
    if reset:
        estimator._tabular = TabularEncoder(
            estimator.categorical_features, max_onehot_categories=MAX_ONEHOT_CATEGORIES
        ).fit(X, sample_weight=sample_weight)
        mask = estimator._tabular.is_categorical_
        estimator.is_categorical_ = mask if mask.any() else None
    elif estimator._tabular is None:  # fitted on sparse data
        return X
    if estimator._tabular.is_identity_:
        # Numbers only: the float array of a numpy input, whatever the
        # container or integer dtype, so that they all give one model.
        X = check_array(X, dtype=(np.float64, np.float32), ensure_all_finite="allow-nan")
    encoded = estimator._tabular.encode(X)
    check_float32_range(encoded)
    return encoded
