"""Training on data streamed in row blocks: ``fit`` on dask collections.

:func:`fit_stream` is ``fit`` and ``partial_fit`` for an ``X`` too large for
memory. One statistics pass over the row blocks (:func:`scan`) gathers what a
fit in memory reads off the whole data: the number of rows, the classes and
their counts or the target's moments, the sample-weight totals, the rows the
robust input statistics are estimated on, and the validation rows for early
stopping, which stay in memory. Training then reads the blocks again, epoch
after epoch, through :class:`StreamingData`, which hands the training loop of
:mod:`sk_mlp._training` the batches :class:`~sk_mlp._data.TrainingData` would,
holding a window of a few blocks at a time: the loop runs unchanged.

The blocks come from a source (:class:`sk_mlp._dask.DaskBlocks`) that runs a
function on each block where the block is computed and returns the results;
the functions here that it runs (:func:`summarise_block`,
:func:`training_rows`) see numpy arrays or pandas partitions only. This module
imports no dask.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import is_classifier
from sklearn.model_selection import train_test_split
from sklearn.utils import assert_all_finite
from sklearn.utils.class_weight import compute_class_weight

from ._checks import check_float32_range
from ._data import CHUNK_ROWS, TrainingData, split_input_layer
from ._device import make_generator, resolve_device
from ._module import _PREPROCESSING_SUBSAMPLE
from ._sklearn_private import _check_sample_weight

# The rows of one window, as float32, take about this much memory: at most
# two windows are held at once (one training, the next being computed).
WINDOW_BYTES = 64 * 2**20


# ------------------------------------------------------------ in the tasks
@dataclass(frozen=True)
class BlockSpec:
    """What the functions run on each block need to know; sent with each task."""

    n_features: int
    dtype: str  # X's blocks as validated arrays: 'float32' or 'float64'
    classification: bool
    fraction: float = 0.0  # validation_fraction under early stopping
    seed: int = 0  # the fit's split seed


def block_arrays(X, y, w, index: int, spec: BlockSpec):
    """One block's ``X``, ``y`` and weights as checked numpy arrays."""
    try:
        if sp.issparse(X):
            raise TypeError(
                "fit on a dask array needs dense blocks; densify them first "
                "(X.map_blocks(lambda b: b.toarray()))."
            )
        if isinstance(X, np.ndarray):
            X = X.astype(spec.dtype, copy=False)
        else:  # a pandas partition; nullable columns give NaN for missing values
            X = X.to_numpy(dtype=spec.dtype, na_value=np.nan)
        y = np.asarray(y)
        if X.ndim != 2 or X.shape[1] != spec.n_features:
            raise ValueError(f"X has shape {X.shape}; expected {spec.n_features} columns.")
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}.")
        assert_all_finite(X, input_name="X")
        check_float32_range(X)
        if not spec.classification:
            y = np.asarray(y, dtype=np.float64)
            y = y.reshape(-1, 1) if y.ndim == 1 else y
            assert_all_finite(y, input_name="y")
        w = _check_sample_weight(w, X, dtype=np.float64, ensure_non_negative=True)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"In row block {index} of the dask input: {exc}") from exc
    return X, y, w


def validation_mask(y: np.ndarray, index: int, spec: BlockSpec) -> np.ndarray:
    """The block's validation rows: a ``fraction`` of them, stratified by
    class where the block allows, drawn from ``(seed, index)`` so that the
    statistics pass and every epoch pick the same rows."""
    n = len(y)
    mask = np.zeros(n, dtype=bool)
    if not spec.fraction or not n:
        return mask
    rng = np.random.default_rng([spec.seed, index])
    # Rounded at random, so that small blocks give the fraction on average.
    exact = spec.fraction * n
    n_val = int(exact) + int(rng.random() < exact - int(exact))
    if n_val == n:
        mask[:] = True
        return mask
    stratify = None
    if spec.classification and n_val:
        _, counts = np.unique(y, return_counts=True)
        if counts.min() >= 2 and len(counts) <= min(n_val, n - n_val):
            stratify = y
    if stratify is None:
        mask[rng.choice(n, n_val, replace=False)] = True
    elif n_val:
        seed = int(rng.integers(np.iinfo(np.int32).max))
        _, rows = train_test_split(np.arange(n), test_size=n_val, random_state=seed, stratify=y)
        mask[rows] = True
    return mask


@dataclass
class Rows:
    """Rows kept from blocks: ``X``, raw ``y``, sample weights, and the random
    keys of a bottom-k sample (``None`` where the rows were chosen by index)."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    keys: np.ndarray | None = None

    def take(self, rows) -> Rows:
        keys = None if self.keys is None else self.keys[rows]
        return Rows(self.X[rows], self.y[rows], self.w[rows], keys)

    @classmethod
    def concatenate(cls, parts: list[Rows]) -> Rows:
        keys = None if parts[0].keys is None else np.concatenate([p.keys for p in parts])
        return cls(*(np.concatenate([getattr(p, a) for p in parts]) for a in "Xyw"), keys)


@dataclass
class Moments:
    """Weighted moments of a regression target, per output: its largest
    magnitude, and the total weight, mean and sum of squared deviations of
    ``y`` divided by that magnitude (finite at any scale, as the in-memory
    fit computes them). Blocks merge with Chan et al.'s pairwise formula."""

    magnitude: np.ndarray
    weight: float
    mean: np.ndarray
    m2: np.ndarray
    minimum: np.ndarray

    @classmethod
    def of(cls, y: np.ndarray, w: np.ndarray) -> Moments:
        magnitude = np.abs(y).max(axis=0, initial=0.0)
        unit = y / _nonzero(magnitude)
        weight = float(w.sum())
        mean = w @ unit / weight if weight > 0 else np.zeros(y.shape[1])
        m2 = w @ (unit - mean) ** 2
        return cls(magnitude, weight, mean, m2, y.min(axis=0, initial=np.inf))

    def merge(self, other: Moments) -> Moments:
        magnitude = np.maximum(self.magnitude, other.magnitude)
        ratio_a = _nonzero(self.magnitude) / _nonzero(magnitude)
        ratio_b = _nonzero(other.magnitude) / _nonzero(magnitude)
        mean_a, mean_b = self.mean * ratio_a, other.mean * ratio_b
        weight = self.weight + other.weight
        share = other.weight / weight if weight > 0 else 0.0
        delta = mean_b - mean_a
        mean = mean_a + delta * share
        m2 = self.m2 * ratio_a**2 + other.m2 * ratio_b**2 + delta**2 * self.weight * share
        return Moments(magnitude, weight, mean, m2, np.minimum(self.minimum, other.minimum))

    def scaling(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(magnitude, unit_mean, unit_std)`` for ``_set_target_scaling``."""
        return _nonzero(self.magnitude), self.mean, np.sqrt(self.m2 / self.weight)


def _nonzero(magnitude: np.ndarray) -> np.ndarray:
    return np.where(magnitude > 0, magnitude, 1.0)


@dataclass
class BlockSummary:
    """What the fit needs to know of one block; small enough to send back.

    Per label (one group for a regressor): rows, rows of positive weight, and
    the sum, least positive and largest weight.
    """

    n_rows: int
    labels: np.ndarray
    counts: np.ndarray
    positive: np.ndarray
    weight_sum: np.ndarray
    weight_min: np.ndarray
    weight_max: np.ndarray
    moments: Moments | None = None
    sample: Rows | None = None
    validation: Rows | None = None


def summarise_block(X, y, w, index: int, spec: BlockSpec, rows=None, bottom_k: int = 0):
    """One block's :class:`BlockSummary`. ``rows`` are the block's rows for the
    robust input statistics, or ``bottom_k`` asks for the rows of the smallest
    random keys (blocks of unknown length); neither: no sample."""
    X, y, w = block_arrays(X, y, w, index, spec)
    n = len(X)
    if spec.classification:
        labels, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    else:
        labels, inverse, counts = np.zeros(1), np.zeros(n, dtype=np.intp), np.array([n])
    positive = w > 0
    k = len(labels)
    weight_min = np.full(k, np.inf)
    weight_max = np.zeros(k)
    np.minimum.at(weight_min, inverse[positive], w[positive])
    np.maximum.at(weight_max, inverse[positive], w[positive])
    summary = BlockSummary(
        n,
        labels,
        counts,
        np.bincount(inverse[positive], minlength=k),
        np.bincount(inverse, weights=w, minlength=k),
        weight_min,
        weight_max,
        None if spec.classification else Moments.of(y, w),
    )
    if rows is not None:
        summary.sample = Rows(X, y, w).take(rows)
    elif bottom_k:
        # Seeded by the block alone: the statistics depend on the data, not
        # on random_state, as in memory.
        keys = np.random.default_rng([0, index]).random(n)
        if n > bottom_k:
            keep = np.sort(np.argpartition(keys, bottom_k - 1)[:bottom_k])
        else:
            keep = np.arange(n)
        summary.sample = Rows(X[keep], y[keep], w[keep], keys[keep])
    if spec.fraction:
        summary.validation = Rows(X, y, w).take(validation_mask(y, index, spec))
    return summary


def training_rows(X, y, w, index: int, spec: BlockSpec):
    """One block's training rows (its validation rows left out): float32
    ``X``, raw ``y`` and sample weights."""
    X, y, w = block_arrays(X, y, w, index, spec)
    if spec.fraction:
        keep = ~validation_mask(y, index, spec)
        X, y, w = X[keep], y[keep], w[keep]
    return X.astype(np.float32, copy=False), y, w


# ------------------------------------------------------ the statistics pass
@dataclass
class StreamStatistics:
    """:class:`BlockSummary` objects merged over the blocks seen so far."""

    sample_size: int = 0  # bottom-k sample size; 0: rows chosen by index
    n_rows: int = 0
    max_block_rows: int = 0
    labels: np.ndarray | None = None
    counts: np.ndarray | None = None
    positive: np.ndarray | None = None
    weight_sum: np.ndarray | None = None
    weight_min: np.ndarray | None = None
    weight_max: np.ndarray | None = None
    moments: Moments | None = None
    sample: list[Rows] = field(default_factory=list)
    validation: list[Rows] = field(default_factory=list)

    def add(self, s: BlockSummary) -> None:
        self.n_rows += s.n_rows
        self.max_block_rows = max(self.max_block_rows, s.n_rows)
        if self.labels is None:
            self.labels = s.labels[:0]
            self.counts, self.positive, self.weight_sum = (np.zeros(0) for _ in range(3))
            self.weight_min, self.weight_max = np.zeros(0), np.zeros(0)
        labels = np.union1d(self.labels, s.labels)
        mine, theirs = np.searchsorted(labels, self.labels), np.searchsorted(labels, s.labels)
        for name, fill, combine in [
            ("counts", 0, np.add),
            ("positive", 0, np.add),
            ("weight_sum", 0.0, np.add),
            ("weight_min", np.inf, np.minimum),
            ("weight_max", 0.0, np.maximum),
        ]:
            merged = np.full(len(labels), fill, dtype=np.float64)
            merged[mine] = getattr(self, name)
            merged[theirs] = combine(merged[theirs], getattr(s, name))
            setattr(self, name, merged)
        self.labels = labels
        if s.moments is not None:
            self.moments = s.moments if self.moments is None else self.moments.merge(s.moments)
        if s.sample is not None and len(s.sample.X):
            self.sample.append(s.sample)
        if s.validation is not None and len(s.validation.X):
            self.validation.append(s.validation)

    def trim_sample(self) -> None:
        """Keep the bottom-k sample at its size: the rows of the smallest keys."""
        if not self.sample_size or not self.sample:
            return
        rows = Rows.concatenate(self.sample)
        if len(rows.X) > self.sample_size:
            rows = rows.take(np.sort(np.argsort(rows.keys, kind="stable")[: self.sample_size]))
        self.sample = [rows]


def window_blocks(block_rows: int, n_features: int) -> int:
    """Blocks per window: as many as :data:`WINDOW_BYTES` holds, at least one."""
    return max(1, WINDOW_BYTES // max(1, 4 * block_rows * n_features))


def scan(source, spec: BlockSpec, sample: bool) -> StreamStatistics:
    """The statistics pass: every block once, a window of blocks at a time.

    ``sample``: gather the rows for the robust input statistics, the same
    rows the in-memory fit subsamples where the block lengths are known
    (``_PREPROCESSING_SUBSAMPLE`` of them drawn from ``default_rng(0)``), a
    uniform bottom-k sample of as many where they are not.
    """
    lengths = source.lengths
    stats = StreamStatistics(sample_size=_PREPROCESSING_SUBSAMPLE if lengths is None else 0)
    rows = {}
    if sample and lengths is not None:
        n, starts = sum(lengths), np.cumsum([0, *lengths])
        chosen = np.arange(n)
        if n > _PREPROCESSING_SUBSAMPLE:
            chosen = np.random.default_rng(0).choice(n, _PREPROCESSING_SUBSAMPLE, replace=False)
            chosen = np.sort(chosen)
        bounds = np.searchsorted(chosen, starts)
        rows = {i: chosen[bounds[i] : bounds[i + 1]] - starts[i] for i in range(len(lengths))}
    bottom_k = stats.sample_size if sample else 0
    first = 0
    while first < source.n_blocks:
        block_rows = max(lengths) if lengths is not None else stats.max_block_rows
        # Blocks of unknown length: one at first, then as many as fit.
        window = window_blocks(block_rows, spec.n_features) if block_rows else 1
        group = range(first, min(first + window, source.n_blocks))
        tasks = [(i, (spec, rows.get(i), bottom_k)) for i in group]
        for summary in source.compute(summarise_block, tasks):
            stats.add(summary)
        stats.trim_sample()
        first += len(group)
    return stats


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
    """:class:`~sk_mlp._data.TrainingData`'s batches protocol over row blocks.

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
                if self.transform is not None:
                    self.transform.transform_(X)  # X is the window's own copy
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
    window: int  # blocks per window
    labels: np.ndarray | None = None  # labels the class weights apply to
    class_weights: np.ndarray | None = None
    sample: Rows | None = None  # rows for the robust input statistics
    validation: Rows | None = None


def fit_stream(estimator, X, y, sample_weight, incremental: bool, classes=None):
    """``estimator._fit`` for a dask ``X``; returns the training history.

    As in memory: a failed call leaves the estimator as it was, a first pass
    fits the target statistics, the classes and the network from scratch,
    later ``partial_fit`` and warm-start calls continue the fitted model.
    """
    from ._dask import DaskBlocks  # a dask input has imported dask already

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
        seed, train_seed = estimator._next_seeds(first_pass)
        spec = BlockSpec(
            source.n_features,
            source.dtype,
            is_classifier(estimator),
            estimator.validation_fraction if estimator.early_stopping else 0.0,
            seed,
        )
        plan = _plan(estimator, source, spec, first_pass, classes)
        # Training needs autograd even when the caller runs under no_grad
        # or inference_mode.
        with torch.inference_mode(False), torch.enable_grad():
            return _train(estimator, source, spec, plan, train_seed, first_pass, incremental)


def _plan(estimator, source, spec: BlockSpec, first_pass: bool, classes) -> Plan:
    """Run the statistics pass where this fit needs one, and fit the target
    statistics from it on the first pass."""
    class_weight = getattr(estimator, "class_weight", None)
    if not (first_pass or spec.fraction or source.lengths is None or source.weighted) and (
        class_weight is None
    ):
        # A later partial_fit or warm start on unweighted blocks of known
        # length: each block is checked as it is loaded.
        window = window_blocks(max(source.lengths), spec.n_features)
        return Plan(sum(source.lengths), 1.0, False, window)
    stats = scan(source, spec, sample=first_pass and estimator.preprocessing == "robust")
    if spec.classification:
        estimator._encode_targets(stats.labels, None, first_pass=first_pass, classes=classes)
    plan = _weights(estimator, stats, class_weight)
    plan.window = window_blocks(stats.max_block_rows, spec.n_features)
    if not spec.classification:
        if first_pass:
            estimator._set_target_scaling(*stats.moments.scaling())
        # A row of each output's least value checks the number of outputs
        # and the sign that loss='poisson' needs.
        estimator._encode_targets(stats.moments.minimum[None, :], None, first_pass=False)
    if stats.sample:
        plan.sample = _final_weights(plan, Rows.concatenate(stats.sample))
    if spec.fraction:
        validation = _final_weights(plan, Rows.concatenate(stats.validation or []))
        if not 0 < len(validation.X) < plan.n_rows:
            raise ValueError(
                f"early_stopping needs at least one training and one validation "
                f"sample, but validation_fraction={spec.fraction} of "
                f"n_samples={plan.n_rows} leaves none; use more data or "
                f"early_stopping=False."
            )
        plan.n_rows -= len(validation.X)
        plan.validation = validation
    return plan


def _weights(estimator, stats: StreamStatistics, class_weight) -> Plan:
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
    return Plan(n_rows, mean_weight, weighted, 0, labels, None if labels is None else weights)


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


def _train(estimator, source, spec, plan: Plan, seed: int, first_pass, incremental):
    device = resolve_device(estimator.device)
    loss = estimator._loss_function() if first_pass else estimator._loss
    sample = plan.sample
    module = estimator._initial_module(
        None if sample is None else sample.X,
        None if sample is None else sample.w,
        loss,
        spec.seed,
        first_pass,
    ).to(device)
    transform, network = split_input_layer(module)
    load = _WindowLoader(estimator, source, spec, plan)
    val_data = None
    if plan.validation is not None:
        X_val, y_val, w_val = load.encode(plan.validation)
        w_val = np.ones(len(X_val)) if w_val is None else w_val
        val_data, _ = TrainingData.prepare(X_val, y_val, w_val, module, device)
        plan.sample = plan.validation = None  # held by val_data only
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
