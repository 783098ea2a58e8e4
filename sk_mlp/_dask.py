"""Prediction on dask arrays and data frames: lazy, block by block.

The estimators hand a dask input to :func:`predict_lazily`, which returns a
dask array whose blocks are the in-memory predictions of the input's blocks
(row blocks of an array, partitions of a data frame): nothing is computed at
call time, and each block is predicted where it is computed, on a dask
worker or in a local thread, with at most one block in memory per task.

dask itself is imported only when an input is a dask collection, so that
``import sk_mlp`` never imports it.
"""

from __future__ import annotations

import copy
import sys

import numpy as np
from sklearn.utils.validation import check_is_fitted


def is_dask_collection(X) -> bool:
    """Whether ``X`` is a dask array, data frame or series.

    Costs no import: an input of those types has imported its dask module
    already. Other objects that hold dask data (an xarray ``DataArray``, say)
    take the in-memory path, as before.
    """
    da = sys.modules.get("dask.array")
    if da is not None and isinstance(X, da.Array):
        return True
    dd = sys.modules.get("dask.dataframe")
    return dd is not None and isinstance(X, (dd.DataFrame, dd.Series))


def _predict_block(block, estimator, method: str, kwargs: dict):
    return getattr(estimator, method)(block, **kwargs)


def _predict_block_stacked(block, estimator, method: str, kwargs: dict):
    """A method returning a tuple of same-shaped arrays, stacked on a new last
    axis, so that one task computes them all."""
    return np.stack(getattr(estimator, method)(block, **kwargs), axis=-1)


def _is_dask_frame(X) -> bool:
    # dask.dataframe needs more than dask.array does (pandas, pyarrow); an
    # input that is one has imported it already.
    dd = sys.modules.get("dask.dataframe")
    return dd is not None and isinstance(X, dd.DataFrame)


def _check_input(estimator, X):
    """Raise now, not at compute time, for an input the estimator cannot take."""
    import dask.array as da

    if _is_dask_frame(X):
        return
    if not isinstance(X, da.Array):
        raise TypeError(
            f"{type(estimator).__name__} predicts on dask arrays and dask data frames; "
            f"got a {type(X).__module__}.{type(X).__name__}. Convert it with "
            "to_dask_array() or to_frame(), or compute it first."
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D dask array of shape (n_samples, n_features), got shape "
            f"{X.shape}. Reshape your data with X.reshape(-1, 1) if it has a single "
            "feature, or X.reshape(1, -1) if it contains a single sample."
        )


def _probe(estimator, X, method: str, kwargs: dict):
    """The method's output on one row of zeros: its dtype and trailing shape.

    It also runs the estimator's checks (fitted, number of features and, for
    data frames, their names) on the input's columns before anything is computed.
    """
    if _is_dask_frame(X):
        import pandas as pd

        row = pd.DataFrame({name: pd.Series([0]).astype(dtype) for name, dtype in X.dtypes.items()})
    else:
        row = np.zeros((1, X.shape[1]), dtype=X.dtype)
    return getattr(estimator, method)(row, **kwargs)


def predict_lazily(estimator, method: str, X, **kwargs):
    """``estimator.<method>(X, **kwargs)`` for a dask ``X``, as a lazy dask array.

    Parameters
    ----------
    estimator : fitted sk_mlp estimator
        The model that predicts; a copy of it as it is now goes into the
        task graph, so that refitting the estimator later does not change a
        result not yet computed.

    method : str
        ``'predict'``, ``'predict_proba'`` or ``'predict_log_proba'``.

    X : dask array of shape (n_samples, n_features) or dask DataFrame
        Chunked along rows only (columns are merged into one chunk if not).

    **kwargs : dict
        Passed to the method; ``return_std=True`` returns two dask arrays.

    Returns
    -------
    y : dask array, or a tuple of dask arrays for ``return_std=True``
        Rows chunked as ``X`` (unknown chunk sizes for a data frame).
    """
    import dask

    check_is_fitted(estimator)
    _check_input(estimator, X)
    sample = _probe(estimator, X, method, kwargs)
    stacked = isinstance(sample, tuple)
    if stacked:
        sample = np.stack(sample, axis=-1)
    # One copy of the model in the graph, shared by every block's task: a
    # distributed scheduler sends it to each worker once.
    model = dask.delayed(copy.deepcopy(estimator), pure=True)
    function = _predict_block_stacked if stacked else _predict_block
    meta = np.empty((0, *sample.shape[1:]), dtype=sample.dtype)
    task_args = {"estimator": model, "method": method, "kwargs": kwargs}
    if not _is_dask_frame(X):
        if X.numblocks[1] > 1:
            X = X.rechunk({1: -1})
        out = X.map_blocks(
            function,
            **task_args,
            chunks=(X.chunks[0], *sample.shape[1:]),
            drop_axis=[1] if sample.ndim == 1 else [],
            new_axis=list(range(2, sample.ndim)),
            dtype=sample.dtype,
            meta=meta,
        )
    else:
        out = X.map_partitions(function, **task_args, meta=meta)
    if not stacked:
        return out
    return tuple(out[..., i] for i in range(sample.shape[-1]))
