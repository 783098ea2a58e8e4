"""Weighted statistics of the data, and the rows on which they are estimated.

The robust input statistics, the medians of the frame stage and the quantile
bins of the piecewise-linear encoding are each estimated on at most
``STATISTICS_ROWS`` rows: enough to put a median within 1% of a standard
deviation, at a cost that does not grow with the data. All of them take the
same seeded sample, which a streamed fit draws too (:mod:`sk_mlp._scale.blocks`),
so that streaming the data gives the statistics a fit in memory gives.
"""

from __future__ import annotations

import numpy as np

STATISTICS_ROWS = 30_000


def statistics_rows(n_rows: int) -> np.ndarray | None:
    """The sorted indices of the rows, out of ``n_rows``, on which statistics
    are estimated; ``None`` when that is every row."""
    if n_rows <= STATISTICS_ROWS:
        return None
    return np.sort(np.random.default_rng(0).choice(n_rows, STATISTICS_ROWS, replace=False))


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The mean of the lower and upper weighted medians of ``values`` (positive
    weights): the median of the values repeated as often as their weights
    say, also when the weights are such counts scaled (an exact tie at half
    the total is decided within the rounding of the running sum)."""
    order = np.argsort(values)
    values, cumulative = values[order], np.cumsum(weights[order])
    half = cumulative[-1] / 2
    slack = len(values) * np.finfo(np.float64).eps * cumulative[-1]
    lower = values[np.searchsorted(cumulative, half - slack, side="left")]
    upper = values[np.searchsorted(cumulative, half + slack, side="right")]
    return (lower + upper) / 2
