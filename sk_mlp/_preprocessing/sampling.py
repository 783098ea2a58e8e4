"""The rows on which statistics of the data are estimated.

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
