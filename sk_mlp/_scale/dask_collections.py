"""dask arrays and data frames: lazy prediction, and the blocks a fit streams.

The estimators hand a dask input to :func:`predict_lazily`, which returns a
dask array whose blocks are the in-memory predictions of the input's blocks
(row blocks of an array, partitions of a data frame): nothing is computed at
call time, and each block is predicted where it is computed, on a dask
worker or in a local thread, with at most one block in memory per task.

``fit`` on a dask ``X`` streams its blocks (:mod:`sk_mlp._scale.stream`) from a
:class:`DaskBlocks`, which lines ``y`` and ``sample_weight`` up with them.

dask itself is imported only when an input is a dask collection, so that
``import sk_mlp`` never imports it.
"""

from __future__ import annotations

import copy
from numbers import Real

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted, validate_data

from .._preprocessing.checks import is_dask_collection, loaded_types


def _predict_block(block, estimator, method: str, kwargs: dict, empty: np.ndarray):
    # A block without rows (a filtered data frame's partition) predicts
    # nothing; the estimator refuses empty input.
    if not len(block):
        return empty
    return getattr(estimator, method)(block, **kwargs)


def _predict_block_stacked(block, estimator, method: str, kwargs: dict, empty: np.ndarray):
    """A method returning a tuple of same-shaped arrays, stacked on a new last
    axis, so that one task computes them all."""
    if not len(block):
        return empty
    return np.stack(getattr(estimator, method)(block, **kwargs), axis=-1)


def _is_dask_frame(X) -> bool:
    # dask.dataframe needs more than dask.array does (pandas, pyarrow); an
    # input that is one has imported it already.
    return isinstance(X, loaded_types("dask.dataframe", "DataFrame"))


def _check_input(estimator, X):
    """Raise now, not at compute time, for an input the estimator cannot take."""
    import dask.array as da

    if _is_dask_frame(X):
        return
    if not isinstance(X, da.Array):
        raise TypeError(
            f"{type(estimator).__name__} takes dask arrays and dask data frames as X; "
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

        # A category column's row is missing: 0 need not be one of its categories.
        row = pd.DataFrame(
            {
                name: pd.Series([None], dtype=dtype)
                if isinstance(dtype, pd.CategoricalDtype)
                else pd.Series([0]).astype(dtype)
                for name, dtype in X.dtypes.items()
            }
        )
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
    task_args = {"estimator": model, "method": method, "kwargs": kwargs, "empty": meta}
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


# ------------------------------------------------------------ streamed fits
def _empty_frame(X):
    """An empty pandas frame with the columns and dtypes of dask frame ``X``."""
    import pandas as pd

    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in X.dtypes.items()})


def _fit_dtype(X, frame_stage: bool) -> str:
    """The dtype X's numbers convert to, as ``validate_data`` converts arrays:
    float32 stays, any other number becomes float64. A data frame's other
    columns are for its ``frame_stage``, and refused without one."""
    columns = dict(X.dtypes.items()) if _is_dask_frame(X) else {"X": X.dtype}
    # pandas' nullable dtypes (Int64, Float32, boolean) have a numpy kind too.
    refused = [f"{name!r} ({dtype})" for name, dtype in columns.items() if dtype.kind not in "biuf"]
    if refused and not (frame_stage and _is_dask_frame(X)):
        raise TypeError(
            f"fit on a dask collection needs numeric columns; got {', '.join(refused)}. "
            "Only a model first fitted on a dask DataFrame encodes categorical and "
            "text columns; encode them first otherwise, for example as their "
            "category codes (X[column].cat.codes)."
        )
    return "float32" if all(dtype == np.float32 for dtype in columns.values()) else "float64"


class DaskBlocks:
    """The row blocks of a dask ``X``, with the rows of ``y`` and
    ``sample_weight`` that belong to each, for a fit that streams them.

    Construction checks what needs no computation: X's type, shape and column
    dtypes, its features against the estimator (``validate_data`` with
    ``reset``, which sets ``n_features_in_`` and ``feature_names_in_``), and
    that ``y`` and ``sample_weight`` line up with X's blocks: dask
    collections with as many blocks (rechunked to X's where lengths are
    known), or arrays in memory where X's block lengths are known.

    Attributes
    ----------
    n_blocks, n_features : int
    lengths : list of int or None
        Rows per block, ``None`` where unknown (data frames).
    dtype : str
        ``'float32'`` or ``'float64'``: X's blocks as validated arrays.
    columns : pandas.DataFrame or None
        A data frame's columns (no rows), for its frame stage; ``None`` for
        an array.
    weighted : bool
        Whether sample weights were given.
    """

    def __init__(self, estimator, X, y, sample_weight, *, reset: bool):
        _check_input(estimator, X)
        frame = _is_dask_frame(X)
        checked = _empty_frame(X) if frame else X
        validate_data(estimator, checked, skip_check_array=True, reset=reset)
        frame_stage = reset or getattr(estimator, "_tabular", None) is not None
        self.dtype = _fit_dtype(X, frame_stage)
        self.columns = checked if frame else None
        if not frame and X.numblocks[1] > 1:
            X = X.rechunk({1: -1})
        self.n_features = len(X.columns) if frame else X.shape[1]
        self.lengths = None
        if not frame and not np.isnan(X.shape[0]):
            self.lengths = [int(n) for n in X.chunks[0]]
        self._X = _delayed_blocks(X)
        self.n_blocks = len(self._X)
        if y is None:
            raise ValueError(f"{type(estimator).__name__} requires y to be passed, but y is None.")
        max_ndim = 1 if is_classifier(estimator) else 2
        self._y = self._align(y, "y", max_ndim)
        self.weighted = sample_weight is not None
        self._w = sample_weight
        if sample_weight is not None and not isinstance(sample_weight, Real):
            self._w = self._align(sample_weight, "sample_weight", 1)

    def _align(self, a, name: str, max_ndim: int) -> list:
        """``a``'s rows as delayed blocks lined up with X's."""
        import dask.array as da

        if not is_dask_collection(a):
            if self.lengths is None:
                raise ValueError(
                    f"X's block lengths are unknown (a dask data frame, or an array "
                    f"made from one), so {name} must be a dask collection with the "
                    f"same partitions as X, not a {type(a).__name__}; use "
                    f"X.to_dask_array(lengths=True) or pass {name} as a dask Series."
                )
            a = np.asarray(a)
            if len(a) != sum(self.lengths):
                raise ValueError(
                    "Found input variables with inconsistent numbers of samples: "
                    f"[{sum(self.lengths)}, {len(a)}]"
                )
            a = da.from_array(a, chunks=(tuple(self.lengths), *a.shape[1:]))
        ndim = 2 if _is_dask_frame(a) else a.ndim
        if not 1 <= ndim <= max_ndim:
            shape = "(n_samples,)" if max_ndim == 1 else "(n_samples,) or (n_samples, n_outputs)"
            raise ValueError(f"{name} must have shape {shape}; got {ndim} dimensions.")
        if isinstance(a, da.Array):
            known = not any(np.isnan(a.chunks[0]))
            if self.lengths is not None and known:
                if a.shape[0] != sum(self.lengths):
                    raise ValueError(
                        "Found input variables with inconsistent numbers of samples: "
                        f"[{sum(self.lengths)}, {a.shape[0]}]"
                    )
                a = a.rechunk({0: tuple(self.lengths)})
            if a.ndim == 2 and a.numblocks[1] > 1:
                a = a.rechunk({1: -1})
        blocks = _delayed_blocks(a)
        if len(blocks) != self.n_blocks:
            raise ValueError(
                f"{name} has {len(blocks)} blocks but X has {self.n_blocks}: they must "
                f"be partitioned alike. Repartition {name} like X, or build both "
                "from one data frame."
            )
        return blocks

    def compute(self, function, tasks) -> list:
        """``function(X_i, y_i, w_i, i, *args)`` for each ``(i, args)`` in
        ``tasks``, computed together on dask's scheduler (on the workers of a
        distributed client): only the results travel back."""
        import dask

        calls = []
        for i, args in tasks:
            w = self._w if self._w is None or isinstance(self._w, Real) else self._w[i]
            calls.append(dask.delayed(function)(self._X[i], self._y[i], w, i, *args))
        return list(dask.compute(*calls))


def _delayed_blocks(a) -> list:
    """One delayed object per row block. The graphs stay unoptimised, so that
    blocks of X and y computed from the same tasks share them once combined."""
    blocks = a.to_delayed(optimize_graph=False)
    return list(np.ravel(blocks)) if isinstance(blocks, np.ndarray) else list(blocks)
