"""Checks of what a user passes, made before torch sees it: what kind of input
it is (a dask collection?), whether float32 can hold its values, and the rows
its weights leave out. Each failure says what is wrong and what to do."""

from __future__ import annotations

import sys

import numpy as np
import scipy.sparse as sp

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_float32_range(X) -> None:
    """Refuse float64 values that float32, in which sk_mlp computes, cannot
    hold (X a NumPy array or a SciPy sparse matrix; a tensor under array API
    dispatch is checked where it is, by :mod:`sk_mlp._engine.array_space`)."""
    values = X.data if sp.issparse(X) else X
    if values.dtype != np.float64 or values.size == 0:
        return
    check_largest(max(abs(float(values.max())), abs(float(values.min()))))


def check_largest(largest: float) -> None:
    """Refuse a largest magnitude beyond the float32 range."""
    if largest > _FLOAT32_MAX:
        raise ValueError(
            f"X contains values of magnitude up to {largest:.3g}, beyond the float32 "
            f"range ({_FLOAT32_MAX:.3g}) in which sk_mlp trains and "
            "predicts. Rescale X first, for example divide it by a constant or take "
            "a logarithm."
        )


def drop_zero_weight_rows(X, y, sample_weight):
    """Leave out rows of weight zero: they change nothing but could still
    overflow float32 arithmetic (a huge target times a zero weight is NaN)."""
    keep = sample_weight > 0
    if keep.all():
        return X, y, sample_weight
    if not keep.any():
        raise ValueError(
            "sample_weight (times class_weight) is zero for every sample: there is "
            "nothing to fit. Give some samples a positive weight."
        )
    return X[keep], y[keep], sample_weight[keep]


def is_dask_collection(X) -> bool:
    """Whether ``X`` is a dask array, data frame or series.

    Costs no import: an input of those types has imported its dask module
    already. Other objects that hold dask data (an xarray ``DataArray``, say)
    take the in-memory path, as before.
    """
    types = loaded_types("dask.array", "Array") + loaded_types(
        "dask.dataframe", "DataFrame", "Series"
    )
    return isinstance(X, types)


def loaded_types(module: str, *names: str) -> tuple[type, ...]:
    """The named classes of ``module`` if it is imported already. A module
    that another thread is still importing (a dask worker imports in threads
    of its own) may lack them yet: then no input can be of those types."""
    found = (getattr(sys.modules.get(module), name, None) for name in names)
    return tuple(cls for cls in found if isinstance(cls, type))
