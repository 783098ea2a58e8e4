"""What a streamed fit reads from each row block, and the statistics pass.

The functions that take ``(X, y, w, index, spec)`` run where a block is
computed (a dask worker, or a thread of dask's local scheduler) and see numpy
arrays or pandas partitions only: :func:`block_arrays` checks a block as
``validate_data`` checks arrays in memory (a data frame's block goes through
the frame stage, :class:`~sk_mlp._preprocessing.frame.TabularEncoder`), :func:`summarise_block`
returns what the fit needs to know of it, :func:`training_rows` its rows for
training.
:func:`scan` runs the first over every block, a window of blocks at a time, and
merges the results (:class:`StreamStatistics`). No dask import here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import train_test_split
from sklearn.utils import assert_all_finite

from .._preprocessing.checks import check_float32_range
from .._preprocessing.frame import TableSummary, TabularEncoder, is_data_frame
from .._preprocessing.statistics import STATISTICS_ROWS, statistics_rows

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
    # The frame stage, or None. Fitted, it encodes each block; on a first
    # pass it knows the columns only (summarise_frame): the statistics pass
    # summarises each block for it and keeps the sampled rows raw.
    encoder: TabularEncoder | None = None
    summarise_frame: bool = False


def block_arrays(X, y, w, index: int, spec: BlockSpec):
    """One block's ``X`` (as the network reads it: the frame stage's output
    where ``spec`` has one), ``y`` and weights as checked numpy arrays."""
    try:
        if sp.issparse(X):
            raise TypeError(
                "fit on a dask array needs dense blocks; densify them first "
                "(X.map_blocks(lambda b: b.toarray()))."
            )
        if X.ndim != 2 or X.shape[1] != spec.n_features:
            raise ValueError(f"X has shape {X.shape}; expected {spec.n_features} columns.")
        X = block_floats(X, spec)
        y, w = _block_targets(y, w, len(X), spec)
        assert_all_finite(X, input_name="X")
        check_float32_range(X)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"In row block {index} of the dask input: {exc}") from exc
    return X, y, w


def block_floats(X, spec: BlockSpec) -> np.ndarray:
    """Rows of X as the float array the network reads.

    Through the fitted frame stage where it changes them; otherwise as
    ``validate_data`` converts numbers (a frame stage that learned nothing
    still fills a missing number with its median, as in memory).
    """
    encoder = spec.encoder
    if encoder is not None and not encoder.is_identity_:
        if not len(X):  # the encoder refuses empty data
            return np.empty((0, encoder.n_numeric_ + len(encoder.categories_)), np.float32)
        return encoder.encode(X)
    if isinstance(X, np.ndarray):
        floats = X.astype(spec.dtype, copy=False)
    else:  # a pandas partition; nullable columns give NaN for missing values
        floats = X.to_numpy(dtype=spec.dtype, na_value=np.nan)
    if encoder is not None and len(X) and np.isnan(floats).any():
        return encoder.encode(X)
    return floats


def _block_targets(y, w, n: int, spec: BlockSpec):
    """A block's ``y`` and weights, checked for a block of ``n`` rows."""
    y = np.asarray(y)
    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)}.")
    if not spec.classification:
        y = np.asarray(y, dtype=np.float64)
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        assert_all_finite(y, input_name="y")
    return y, _block_weights(w, n)


def _frame_block(X, y, w, index: int, spec: BlockSpec):
    """A data frame's block on the first pass: X as it is, with the
    :class:`~sk_mlp._preprocessing.frame.TableSummary` of its rows; ``y`` and weights
    checked."""
    try:
        if X.shape[1] != spec.n_features:
            raise ValueError(f"X has shape {X.shape}; expected {spec.n_features} columns.")
        y, w = _block_targets(y, w, len(X), spec)
        # Checks the dtypes and infinite numbers; rows of weight zero count
        # nowhere, as in an in-memory fit.
        table = spec.encoder.summarise(X, None if np.all(w > 0) else w > 0)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"In row block {index} of the dask input: {exc}") from exc
    return X, y, w, table


def _block_weights(w, n: int) -> np.ndarray:
    """A block's sample weights, checked as ``_check_sample_weight`` checks
    them, except that a block may be empty or weigh nothing: only all the
    blocks together must weigh something."""
    if w is None:
        return np.ones(n)
    w = np.full(n, w, dtype=np.float64) if np.ndim(w) == 0 else np.asarray(w, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n,)}!")
    assert_all_finite(w, input_name="sample_weight")
    if np.any(w < 0):
        raise ValueError("Negative values in data passed to `sample_weight`")
    return w


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
    """Rows kept from blocks: ``X`` (an array, or a data frame's rows before
    the frame stage is fitted), raw ``y``, sample weights, and the random
    keys of a bottom-k sample (``None`` where the rows were chosen by index)."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    keys: np.ndarray | None = None

    def take(self, rows) -> Rows:
        keys = None if self.keys is None else self.keys[rows]
        X = self.X.iloc[rows] if is_data_frame(self.X) else self.X[rows]
        return Rows(X, self.y[rows], self.w[rows], keys)

    @classmethod
    def concatenate(cls, parts: list[Rows]) -> Rows:
        keys = None if parts[0].keys is None else np.concatenate([p.keys for p in parts])
        if is_data_frame(parts[0].X):
            X = sys.modules["pandas"].concat([p.X for p in parts])
        else:
            X = np.concatenate([p.X for p in parts])
        return cls(X, *(np.concatenate([getattr(p, a) for p in parts]) for a in "yw"), keys)


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
        # Rows of weight zero count nowhere, as in memory: their y (however
        # large) must not set the scale that the others' moments are taken at.
        magnitude = np.abs(y[w > 0]).max(axis=0, initial=0.0)
        with np.errstate(over="ignore"):  # only in rows of weight zero
            unit = np.where((w > 0)[:, None], y / _nonzero(magnitude), 0.0)
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
    table: TableSummary | None = None  # for the frame stage, on its first pass


def summarise_block(X, y, w, index: int, spec: BlockSpec, rows=None, bottom_k: int = 0):
    """One block's :class:`BlockSummary`. ``rows`` are the block's rows for the
    robust input statistics, or ``bottom_k`` asks for the rows of the smallest
    random keys (blocks of unknown length); neither: no sample."""
    table = None
    if spec.summarise_frame:
        X, y, w, table = _frame_block(X, y, w, index, spec)
    else:
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
        table=table,
    )
    if rows is not None:
        summary.sample = Rows(X, y, w).take(rows)
    elif bottom_k:
        # Seeded by the block alone: the statistics depend on the data, not
        # on random_state, as in memory.
        keys = np.random.default_rng([0, index]).random(n)
        keys[w <= 0] = np.inf  # a uniform sample of the rows that count
        if n > bottom_k:
            keep = np.sort(np.argpartition(keys, bottom_k - 1)[:bottom_k])
        else:
            keep = np.arange(n)
        summary.sample = Rows(X, y, w, keys).take(keep)
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
    table: TableSummary | None = None
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
        if s.table is not None:
            self.table = s.table if self.table is None else self.table.merge(s.table)
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

    ``sample``: gather the rows for the robust input statistics and the
    piecewise-linear bins, the same rows the in-memory fit subsamples where
    the block lengths are known (``STATISTICS_ROWS`` of them drawn
    from ``default_rng(0)``), a uniform bottom-k sample of as many where
    they are not.
    """
    lengths = source.lengths
    stats = StreamStatistics(sample_size=STATISTICS_ROWS if lengths is None else 0)
    rows = {}
    if sample and lengths is not None:
        n, starts = sum(lengths), np.cumsum([0, *lengths])
        chosen = statistics_rows(n)
        chosen = np.arange(n) if chosen is None else chosen
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
