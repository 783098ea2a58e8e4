"""Training on data streamed in row blocks: ``fit`` on dask collections.

:func:`fit_stream` is ``fit`` and ``partial_fit`` for an ``X`` too large for
memory. One statistics pass over the row blocks (:func:`sk_mlp._scale.blocks.scan`)
gathers what a fit in memory reads off the whole data: the number of rows,
the classes and their counts or the target's moments, the sample-weight
totals, the rows the robust input statistics and the piecewise-linear bins
are estimated on, the validation rows for early stopping, which stay in
memory, and, for a data frame, what its frame stage
(:class:`~sk_mlp._preprocessing.frame.TabularEncoder`) learns: the
categories and missing values of every block, the medians of the sampled
rows. Training then reads the blocks again, epoch after epoch,
through :class:`StreamingData`, which hands the training loop of
:mod:`sk_mlp._engine.training` the batches :class:`~sk_mlp._engine.data.TrainingData`
would, holding a window of a few blocks at a time: the loop runs unchanged.

The blocks come from a source (:class:`sk_mlp._scale.dask_collections.DaskBlocks`) that runs the
functions of :mod:`sk_mlp._scale.blocks` on each block where the block is computed
and returns the results. This module imports no dask.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import functools
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.utils.class_weight import compute_class_weight

from .._engine import defaults
from .._engine.data import CHUNK_ROWS, TrainingData, apply_input_layer, split_input_layer
from .._engine.network import initial_module, network_choices
from .._engine.threads import thread_scope
from .._nn.device import make_generator, resolve_device
from .._preprocessing.frame import MAX_ONEHOT_CATEGORIES, TabularEncoder, check_categorical_features
from .blocks import (
    BlockSpec,
    Rows,
    StreamStatistics,
    block_floats,
    scan,
    training_rows,
    window_blocks,
)
from .dask_collections import DaskBlocks


# ------------------------------------------------------- the streamed data
def release_freed_memory() -> None:
    """Hand the heap memory freed with the last window back to the system.

    glibc keeps freed memory in the arena of the thread that allocated it;
    blocks are computed in dask's threads and windows built in the loading
    thread, so each arena kept a window's worth: the prototype's 2,000,000 x
    50 fit peaked at +535 MiB without this, +320 MiB with it. Elsewhere (not
    Linux, or not glibc) this does nothing.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # musl and other C libraries have none
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def batch_sizes(n: int, batch_size: int) -> list[int]:
    """Sizes of an epoch's batches, as :meth:`TrainingData.batches` cuts them:
    a trailing batch of one sample is merged into the one before."""
    sizes = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    if len(sizes) > 1 and sizes[-1] == 1:
        sizes.pop()
        sizes[-1] += 1
    return sizes


class StreamingData:
    """:class:`~sk_mlp._engine.data.TrainingData`'s batches protocol over row blocks.

    Each epoch visits the blocks in a new random order, ``window`` blocks at
    a time: ``load(blocks)`` returns their training rows as CPU tensors (X as
    float32), which move to ``device``, pass once through the fixed input
    layer ``transform`` and are drawn in a random order, so that batches mix
    the rows of several blocks. The next window is loaded in a background
    thread while this one trains: at most two windows are in memory. A batch
    may span two windows, so that batches keep their size; ``generator``
    draws every order.
    """

    def __init__(self, load, n_blocks, window, n_rows, mean_weight, device, generator, transform):
        self.load, self.n_blocks, self.window = load, n_blocks, window
        self.n_rows, self.mean_weight = n_rows, mean_weight
        self.device, self.generator, self.transform = device, generator, transform

    def __len__(self) -> int:
        return self.n_rows

    def chunk_rows(self) -> int:
        return CHUNK_ROWS

    def _windows(self, shuffle: bool):
        """Yield each window's ``(X, y, weight, order)`` on the device."""
        if shuffle:
            order = torch.randperm(self.n_blocks, generator=self.generator, device=self.device)
            order = order.tolist()
        else:
            order = list(range(self.n_blocks))
        groups = [order[i : i + self.window] for i in range(0, self.n_blocks, self.window)]
        with ThreadPoolExecutor(1, thread_name_prefix="sk_mlp-stream") as pool:
            pending = pool.submit(self.load, groups[0])
            for k in range(len(groups)):
                X, y, w = pending.result()
                if k + 1 < len(groups):
                    pending = pool.submit(self.load, groups[k + 1])
                X, y = X.to(self.device), y.to(self.device)
                w = None if w is None else w.to(self.device)
                if self.transform is not None:  # X is the window's own copy
                    X = apply_input_layer(self.transform, X, owned=True)
                rows = None
                if shuffle:
                    rows = torch.randperm(len(X), generator=self.generator, device=self.device)
                yield X, y, w, rows

    def batches(self, batch_size: int, shuffle: bool):
        """Yield ``(X, y, weight)`` batches of the sizes :func:`batch_sizes` gives."""
        sizes = iter(batch_sizes(len(self), batch_size))
        size, pieces, have = next(sizes, 0), [], 0
        for X, y, w, rows in self._windows(shuffle):
            start = 0
            while start < len(X):
                take = min(size - have, len(X) - start)
                if take <= 0:
                    _raise_changed_blocks()
                index = slice(start, start + take) if rows is None else rows[start : start + take]
                pieces.append(_select(X, y, w, index))
                have, start = have + take, start + take
                if have == size:
                    yield _join(pieces)
                    size, pieces, have = next(sizes, 0), [], 0
            if rows is None:  # slices would keep the whole window alive
                pieces = [tuple(None if t is None else t.clone() for t in p) for p in pieces]
        if size:
            _raise_changed_blocks()


def _select(X, y, w, index):
    if isinstance(index, slice):
        return X[index], y[index], None if w is None else w[index]
    return (
        X.index_select(0, index),
        y.index_select(0, index),
        (None if w is None else w.index_select(0, index)),
    )


def _join(pieces):
    if len(pieces) == 1:
        return pieces[0]
    X, y, w = zip(*pieces)
    return torch.cat(X), torch.cat(y), None if w[0] is None else torch.cat(w)


def _raise_changed_blocks():
    raise RuntimeError(
        "The blocks of the dask input gave another number of rows than when "
        "they were first computed. Blocks must compute to the same values "
        "every time: seed random data (da.random.default_rng(seed)), or "
        "persist() the collection."
    )


# ------------------------------------------------------------------ the fit
@dataclass
class Plan:
    """What the statistics pass decided for training."""

    n_rows: int  # training rows (validation rows and rows of weight zero left out)
    mean_weight: float  # of the final sample weights (class weights included)
    weighted: bool  # whether those weights differ
    labels: np.ndarray | None = None  # labels the class weights apply to
    class_weights: np.ndarray | None = None
    window: int = 1  # blocks per window
    sample: Rows | None = None  # rows for the robust statistics and the bins
    validation: Rows | None = None


def fit_stream(estimator, X, y, sample_weight, incremental: bool, classes=None):
    """``estimator._fit`` for a dask ``X``; returns the training history.

    As in memory: a failed call leaves the estimator as it was, a first pass
    fits the target statistics, the classes and the network from scratch,
    later ``partial_fit`` and warm-start calls continue the fitted model.
    """
    with estimator._unchanged_on_error():
        estimator._check_hidden_layer_sizes()
        if estimator.solver == "lbfgs":
            raise ValueError(
                "solver='lbfgs' cannot stream a dask X: each of its function "
                "evaluations is a pass over all the data. Use solver='adam', "
                "'adamw' or 'sgd', or compute X if it fits in memory."
            )
        first_pass = estimator._is_first_pass(incremental)
        source = DaskBlocks(estimator, X, y, sample_weight, reset=first_pass)
        encoder = _frame_stage(estimator, source, first_pass)
        seed, train_seed = estimator._next_seeds(first_pass)
        n_samples = _rows_that_count(source)
        early_stopping = defaults.early_stopping(estimator, n_samples, incremental=incremental)
        embedding, n_ensemble = network_choices(
            estimator, n_samples, dense=True, early_stopping=early_stopping, first_pass=first_pass
        )
        spec = BlockSpec(
            source.n_features,
            source.dtype,
            is_classifier(estimator),
            estimator.validation_fraction if early_stopping else 0.0,
            seed,
            encoder,
            summarise_frame=first_pass and encoder is not None,
        )
        plan, spec = _plan(estimator, source, spec, first_pass, classes, embedding)
        # Training needs autograd even when the caller runs under no_grad
        # or inference_mode.
        with torch.inference_mode(False), torch.enable_grad(), thread_scope():
            return _train(
                estimator,
                source,
                spec,
                plan,
                train_seed,
                first_pass,
                incremental,
                (embedding, n_ensemble),
            )


def _frame_stage(estimator, source, first_pass: bool) -> TabularEncoder | None:
    """The frame stage the blocks go through: the fitted one after the first
    pass; on it, a new one for a data frame, which knows its columns and is
    fitted by the statistics pass, and none for a dask array."""
    if not first_pass:
        encoder = estimator._tabular
        if encoder is not None and source.columns is not None:
            encoder.check_kinds(source.columns)  # before any block is computed
        return encoder
    encoder = None
    if source.columns is not None:
        encoder = TabularEncoder(
            estimator.categorical_features, max_onehot_categories=MAX_ONEHOT_CATEGORIES
        ).fit_columns(source.columns)
    else:
        kinds = ["numeric"] * source.n_features
        if check_categorical_features(None, estimator.categorical_features, kinds).any():
            raise ValueError(
                "categorical_features marks columns of a dask array, whose blocks a "
                "streamed fit reads as numbers. Pass a dask DataFrame instead "
                "(X.to_dask_dataframe()), with the same categorical_features or with "
                "'category' columns, or compute X if it fits in memory."
            )
    estimator._tabular, estimator.is_categorical_ = encoder, None
    return encoder


def _plan(estimator, source, spec: BlockSpec, first_pass: bool, classes, embedding):
    """Run the statistics pass where this fit needs one, and fit the target
    statistics and the frame stage from it on the first pass; return the plan
    and the spec of the training tasks."""
    class_weight = getattr(estimator, "class_weight", None)
    if not (first_pass or spec.fraction or source.lengths is None or source.weighted) and (
        class_weight is None
    ):
        # A later partial_fit or warm start on unweighted blocks of known
        # length: each block is checked as it is loaded.
        _check_rows(sum(source.lengths))
        window = window_blocks(max(source.lengths), _row_width(spec))
        return Plan(sum(source.lengths), 1.0, False, window=window), spec
    # The frame stage's medians come from the sampled rows, as in memory.
    sample = first_pass and (_fits_on_a_sample(estimator, embedding) or spec.summarise_frame)
    stats = scan(source, spec, sample=sample)
    _check_rows(stats.n_rows)
    if spec.summarise_frame:
        spec = _fit_frame_stage(estimator, stats, spec)
    if spec.classification:
        estimator._encode_targets(stats.labels, None, first_pass=first_pass, classes=classes)
    plan = _weights(stats, class_weight)
    plan.window = window_blocks(stats.max_block_rows, _row_width(spec))
    if not spec.classification:
        if first_pass:
            estimator._set_target_scaling(*stats.moments.scaling())
        # A row of each output's least value checks the number of outputs
        # and the sign that loss='poisson' needs.
        estimator._encode_targets(stats.moments.minimum[None, :], None, first_pass=False)
    if stats.sample:
        plan.sample = _final_weights(plan, Rows.concatenate(stats.sample))
    if spec.fraction:
        n_val = 0
        if stats.validation:
            plan.validation = _final_weights(plan, Rows.concatenate(stats.validation))
            n_val = len(plan.validation.X)
        if not 0 < n_val < plan.n_rows:
            raise ValueError(
                f"early_stopping needs at least one training and one validation "
                f"sample, but validation_fraction={spec.fraction} of "
                f"n_samples={plan.n_rows} leaves none; use more data or "
                f"early_stopping=False."
            )
        plan.n_rows -= n_val
    return plan, spec


def _fit_frame_stage(estimator, stats: StreamStatistics, spec: BlockSpec) -> BlockSpec:
    """Fit the frame stage as an in-memory fit fits it on the whole frame:
    categories and missing numbers from every block, medians from the
    sampled rows. Then encode the rows the statistics pass kept raw, and
    return the spec whose tasks encode each block."""
    sample = Rows.concatenate(stats.sample)
    encoder = spec.encoder.fit_summary(stats.table, sample.X, sample.w)
    mask = encoder.is_categorical_
    estimator.is_categorical_ = mask if mask.any() else None
    spec = dataclasses.replace(spec, summarise_frame=False)
    stats.sample = [Rows(block_floats(sample.X, spec), sample.y, sample.w)]
    stats.validation = [Rows(block_floats(r.X, spec), r.y, r.w) for r in stats.validation]
    return spec


def _row_width(spec: BlockSpec) -> int:
    """Floats per row of a window at most: the frame stage's one-hot vectors
    count as made once per window, with the rest of the fixed input layer
    (as for a user's module; sk_mlp's own network holds one position per
    one-hot feature instead, see :class:`~sk_mlp._nn.tabular.OneHotSplit`)."""
    encoder = spec.encoder
    if encoder is None or encoder.is_identity_:
        return spec.n_features
    hot = np.asarray(encoder.cardinalities_)[encoder.one_hot_]
    return encoder.n_numeric_ + int(hot.sum()) + len(encoder.categories_)


def _fits_on_a_sample(estimator, embedding: str | None) -> bool:
    """Whether the first fit's network has a fixed input layer fitted on
    rows of the data: the robust statistics, the piecewise-linear bins."""
    return estimator.preprocessing == "robust" or embedding == "piecewise_linear"


def _rows_that_count(source) -> int | None:
    """The number of samples ``'auto'`` decides by, where it is known before
    the statistics pass: unweighted blocks of known lengths (an in-memory fit
    counts the rows of nonzero weight)."""
    if source.lengths is None or source.weighted:
        return None
    return sum(source.lengths)


def _check_rows(n_rows: int) -> None:
    if not n_rows:
        raise ValueError(
            "Found array with 0 sample(s) (shape=(0, n_features)) while a minimum of 1 "
            "is required: the dask input has no rows."
        )


def _weights(stats: StreamStatistics, class_weight) -> Plan:
    """Training rows and their mean weight, class weights included.

    Class weights come from the whole data's class counts, as scikit-learn's
    ``compute_sample_weight`` computes them from the whole ``y``.
    """
    labels, weights = None, np.ones(len(stats.labels))
    if class_weight is not None:
        labels = stats.labels
        weights = compute_class_weight(
            class_weight, classes=labels, y=labels, sample_weight=stats.counts
        )
    live = (weights > 0) & (stats.positive > 0)
    n_rows = int(stats.positive[live].sum())
    if not n_rows:
        raise ValueError(
            "sample_weight (times class_weight) is zero for every sample: there is "
            "nothing to fit. Give some samples a positive weight."
        )
    mean_weight = float(weights @ stats.weight_sum) / n_rows
    weighted = bool(
        (weights * stats.weight_max)[live].max() > (weights * stats.weight_min)[live].min()
    )
    return Plan(n_rows, mean_weight, weighted, labels, None if labels is None else weights)


def _final_weights(plan: Plan, rows: Rows) -> Rows:
    """``rows`` with class weights applied and rows of weight zero left out."""
    w = rows.w
    if plan.labels is not None:
        w = w * plan.class_weights[np.searchsorted(plan.labels, rows.y)]
    rows = Rows(rows.X, rows.y, w)
    keep = w > 0
    return rows if keep.all() else rows.take(keep)


class _WindowLoader:
    """``load(blocks)`` for :class:`StreamingData`: computes the blocks'
    training rows and encodes them as the estimator encodes targets."""

    def __init__(self, estimator, source, spec: BlockSpec, plan: Plan):
        self.estimator, self.source, self.spec, self.plan = estimator, source, spec, plan

    def encode(self, rows: Rows):
        """``(X, y, weight)`` as numpy arrays ready for training."""
        rows = _final_weights(self.plan, rows)
        y = self.estimator._encode_targets(rows.y, None, first_pass=False)
        w = (rows.w / self.plan.mean_weight) if self.plan.weighted else None
        return rows.X, y, w

    def __call__(self, blocks: list[int]):
        parts = self.source.compute(training_rows, [(i, (self.spec,)) for i in blocks])
        rows = Rows.concatenate([Rows(*part) for part in parts])  # a copy: owned
        del parts
        X, y, w = self.encode(rows)
        del rows
        release_freed_memory()
        weight = None if w is None else torch.from_numpy(w.astype(np.float32))
        return torch.from_numpy(X), torch.from_numpy(y), weight


def _train(estimator, source, spec, plan: Plan, seed: int, first_pass, incremental, choices):
    """Build or copy the network, then train it on the streamed blocks;
    ``choices``: the numeric embedding and the ensemble members of a first fit."""
    device = resolve_device(estimator.device)
    # Rebuilt on continued fits too, as in memory: label_smoothing may have changed.
    loss = estimator._loss_function()
    sample, plan.sample = plan.sample, None
    module = initial_module(
        estimator,
        None if sample is None else sample.X,
        None if sample is None else sample.w,
        loss,
        spec.seed,
        first_pass,
        *choices,
    ).to(device)
    del sample
    transform, network = split_input_layer(module)
    load = _WindowLoader(estimator, source, spec, plan)
    val_data = None
    if plan.validation is not None:
        X_val, y_val, w_val = load.encode(plan.validation)
        plan.validation = None  # held by val_data alone from here
        w_val = np.ones(len(X_val)) if w_val is None else w_val
        val_data, _ = TrainingData.prepare(X_val, y_val, w_val, module, device)
    data = StreamingData(
        load,
        source.n_blocks,
        plan.window,
        plan.n_rows,
        plan.mean_weight,
        device,
        make_generator(seed, device),
        transform,
    )
    hand_written = estimator.module is None
    return estimator._run_training(
        module, network, loss, data, val_data, hand_written, seed, first_pass, incremental
    )
