"""The network's input layer for mixed-type tables: plain torch, no scikit-learn.

It reads the float32 matrix that :class:`sk_mlp._preprocessing.frame.TabularEncoder`
writes (numeric block, then one integer code per categorical feature) and
produces the input of the hidden layers: the scaled numeric block, one-hot
vectors for low-cardinality features and learned embeddings for the others,
concatenated. :class:`OneHotSplit` and :class:`OneHotLinear` compute the same
network without building the one-hot vectors: the first linear layer looks up
the weight columns they would select.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .layers import PiecewiseLinearEncoding
from .mlp import fit_robust_input, forward_lookup, takes_lookup
from .registry import Saved, attributes, register_layer

# Positions travel as float32 next to the dense columns (see OneHotSplit):
# exact below 2**24.
_MAX_HOT_WIDTH = 2**24
# Narrower one-hot blocks are built: the lookup trains through autograd,
# whose per-step cost over the hand-written gradients (sk_mlp._engine.backprop)
# exceeds the block's product below about this width. 20-epoch fits of 5,000
# rows, hidden (100,), batch 200, one thread: built / looked up 0.15 / 0.36 s
# at 24 one-hot columns, 0.28 / 0.40 s at 255, 0.44 / 0.44 s at 510; at
# 3,000 columns and 100,000 rows, 1.92 / 0.81 s per epoch
# (benchmarks/results-one-hot.txt).
MIN_LOOKUP_WIDTH = 512


def default_embedding_dim(n_categories: int) -> int:
    """Embedding width for a feature with ``n_categories`` categories.

    Grows slowly with the cardinality (a common rule of thumb, about
    ``1.6 * n ** 0.56``) and is capped at 16: wider embeddings only add
    parameters for the few rows that each category has on tabular data.
    """
    return int(min(16, max(2, round(1.6 * n_categories**0.56))))


class TabularInput(nn.Module):
    """Split the encoded matrix and turn category codes into vectors.

    Parameters
    ----------
    n_numeric : int
        Leading columns that are numeric (features and missing indicators).
    cardinalities : sequence of int
        Number of codes of each categorical feature (its categories plus code
        0, which stands for missing or unknown).
    one_hot : sequence of bool
        For each categorical feature: one-hot encode it (True) or embed it.
    missing_slot : sequence of bool
        For each categorical feature: code 0 was seen in fit. A one-hot feature
        then has a "missing" slot; otherwise code 0 (a category unseen in fit)
        maps to all zeros. An embedding starts row 0 at zero either way, so an
        unseen category adds nothing until training has seen a missing value.
    embedding_dims : sequence of int, optional
        Width of each embedded feature's vectors (one entry per embedded
        feature); by default :func:`default_embedding_dim`.
    numeric : nn.Module, optional
        Applied to the numeric block (for example :class:`~sk_mlp._nn.mlp.RobustInput`).
    generator : torch.Generator, optional
        Draws the embeddings' initial vectors (torch's global generator if
        ``None``).
    """

    def __init__(
        self,
        n_numeric: int,
        cardinalities: Sequence[int],
        one_hot: Sequence[bool],
        missing_slot: Sequence[bool],
        embedding_dims: Sequence[int] | None = None,
        numeric: nn.Module | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        # The constructor's arguments, as plain Python values, rebuild the
        # layer (sk_mlp's safe file format) and describe it (ONNX export).
        self.n_numeric = int(n_numeric)
        self.cardinalities = [int(c) for c in cardinalities]
        self.one_hot = [bool(h) for h in one_hot]
        self.missing_slot = [bool(m) for m in missing_slot]
        self.numeric = numeric
        cardinalities = self.cardinalities
        hot = [j for j, h in enumerate(one_hot) if h]
        embedded = [j for j, h in enumerate(one_hot) if not h]
        self.register_buffer("hot_columns", torch.tensor(hot, dtype=torch.int64) + n_numeric)
        # Output position of each (feature, code), one table for all one-hot
        # features; position ``hot_width`` is a dump column, dropped after the
        # scatter, for code 0 of features that never had a missing value.
        positions, bases, width = [], [], 0
        for j in hot:
            bases.append(len(positions))
            if missing_slot[j]:
                positions += range(width, width + cardinalities[j])
                width += cardinalities[j]
            else:
                positions += [-1, *range(width, width + cardinalities[j] - 1)]
                width += cardinalities[j] - 1
        self.hot_width = width
        table = torch.tensor(positions, dtype=torch.int64)
        self.register_buffer("hot_positions", torch.where(table < 0, width, table))
        self.register_buffer("hot_bases", torch.tensor(bases, dtype=torch.int64))
        if embedding_dims is None:
            embedding_dims = [default_embedding_dim(cardinalities[j] - 1) for j in embedded]
        self.embedding_dims = [int(d) for d in embedding_dims]
        self.embedded_columns = [n_numeric + j for j in embedded]
        self.embeddings = nn.ModuleList(
            _embedding(cardinalities[j], dim, generator) for j, dim in zip(embedded, embedding_dims)
        )
        self.n_outputs = n_numeric + width + sum(embedding_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [self.numeric_part(x)]
        if self.hot_width:
            hot = x.new_zeros(len(x), self.hot_width + 1).scatter_(1, self.hot_index(x), 1.0)
            parts.append(hot[:, : self.hot_width])
        parts += self.embedded_parts(x)
        return torch.cat(parts, dim=1)

    def numeric_part(self, x: torch.Tensor) -> torch.Tensor:
        """The numeric block of the output (scaled if there is a numeric layer)."""
        numeric = x[:, : self.n_numeric]
        return numeric if self.numeric is None else self.numeric(numeric)

    def embedded_parts(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The embedded features' vectors, the last block of the output."""
        return [
            embedding(x[:, column].long())
            for column, embedding in zip(self.embedded_columns, self.embeddings)
        ]

    def hot_index(self, x: torch.Tensor) -> torch.Tensor:
        """Where each one-hot feature of each row has its 1 in the one-hot
        block, shape (n_rows, n_one_hot_features), int64; ``hot_width``
        where the row has no 1 for that feature (an unseen code 0)."""
        codes = x.index_select(1, self.hot_columns).long()
        return self.hot_positions[codes + self.hot_bases]


class OneHotSplit(nn.Module):
    """A frame stage whose one-hot block comes out as positions, not columns.

    ``stage`` is a :class:`TabularInput`, alone or followed by layers that
    encode its leading numeric columns (a piecewise-linear encoding). The
    output is the stage's output without its one-hot block, then
    :meth:`TabularInput.hot_index` as float32 (exact: positions are below
    ``2**24``): one column per one-hot feature rather than one per category,
    which :class:`OneHotLinear` reads. Built around a fitted module for
    training and prediction; never saved (the module keeps its layers).
    """

    def __init__(self, stage: nn.Module):
        super().__init__()
        self.stage = stage

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layers = list(self.stage) if type(self.stage) is nn.Sequential else [self.stage]
        tabular = layers[0]
        dense = torch.cat([tabular.numeric_part(x), *tabular.embedded_parts(x)], dim=1)
        for layer in layers[1:]:
            dense = layer(dense)
        return torch.cat([dense.float(), tabular.hot_index(x).float()], dim=1)


class OneHotLinear(nn.Module):
    """``network`` on the rows :class:`OneHotSplit` writes: its first linear
    layer looks up and adds the columns of its weight that the one-hot
    positions select (:func:`~sk_mlp._nn.mlp.forward_lookup`), so that the
    one-hot block, rows times categories wide, never exists.

    Parameters
    ----------
    network : nn.Sequential
        The trained network after the frame stage.
    n_hot : int
        The one-hot features: the last ``n_hot`` input columns are positions.
    hot_width : int
        Width of the one-hot block in the network's input.
    n_after : int
        Columns of the network's input after the one-hot block (embeddings).
    """

    def __init__(self, network: nn.Module, n_hot: int, hot_width: int, n_after: int):
        super().__init__()
        self.network = network
        self.n_hot, self.hot_width, self.n_after = n_hot, hot_width, n_after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dense, index = x[:, : -self.n_hot], x[:, -self.n_hot :].long()
        return forward_lookup(self.network, dense, index, self.hot_width, self.n_after)


def one_hot_lookup(stage: nn.Module, network: nn.Module) -> tuple[OneHotSplit, OneHotLinear] | None:
    """``stage`` and ``network`` (a fitted module's frame stage and the network
    after it) as :class:`OneHotSplit` and :class:`OneHotLinear`, computing
    what they compute without a one-hot matrix; None where the stage's
    one-hot block is narrower than ``MIN_LOOKUP_WIDTH`` (cheaper built) or
    the network is not a stack that
    :func:`~sk_mlp._nn.mlp.takes_lookup` accepts (a user's module gets the
    one-hot columns it was built for)."""
    tabular = lookup_input(stage, network)
    if tabular is None or not MIN_LOOKUP_WIDTH <= tabular.hot_width < _MAX_HOT_WIDTH:
        return None
    n_after = sum(tabular.embedding_dims)
    return OneHotSplit(stage), OneHotLinear(
        network, len(tabular.hot_bases), tabular.hot_width, n_after
    )


def lookup_input(stage: nn.Module, network: nn.Module) -> TabularInput | None:
    """The :class:`TabularInput` of ``stage`` where its one-hot block times
    ``network``'s first linear layer can be a lookup of that layer's weight
    (:func:`~sk_mlp._nn.mlp.forward_lookup`), at any width; else None.

    That needs a stage made of a :class:`TabularInput` with one-hot features,
    then only layers that encode its leading numeric columns (a
    piecewise-linear encoding), and a network that
    :func:`~sk_mlp._nn.mlp.takes_lookup` accepts."""
    layers = list(stage) if type(stage) is nn.Sequential else [stage]
    tabular = layers[0] if layers else None
    if (
        not isinstance(tabular, TabularInput)
        or not tabular.hot_width
        or not all(type(layer) is PiecewiseLinearEncoding for layer in layers[1:])
        or not takes_lookup(network)
    ):
        return None
    return tabular


def _embedding(n_codes: int, dim: int, generator: torch.Generator | None) -> nn.Embedding:
    """Unit-variance vectors, like one-hot inputs and scaled numeric ones; row 0
    (missing or unknown) starts at zero. Drawn from ``generator`` alone
    (torch's own initialisation, from the global generator, is skipped)."""
    embedding = torch.nn.utils.skip_init(nn.Embedding, n_codes, dim)
    with torch.no_grad():
        nn.init.normal_(embedding.weight, generator=generator)
        embedding.weight[0].zero_()
    return embedding


def build_tabular_input(
    encoder, X_encoded: np.ndarray, sample_weight=None, robust=True, generator=None
):
    """A :class:`TabularInput` for a fitted :class:`~sk_mlp._preprocessing.frame.TabularEncoder`.

    ``X_encoded`` is the encoder's output on the training rows; with ``robust``,
    the numeric block is scaled by a :class:`~sk_mlp._nn.mlp.RobustInput` fitted
    on it (the category codes are left out of that layer).
    """
    n_numeric = encoder.n_numeric_
    numeric = None
    if robust and n_numeric:
        if sample_weight is None:
            sample_weight = np.ones(len(X_encoded))
        numeric = fit_robust_input(X_encoded[:, :n_numeric], np.asarray(sample_weight))
    return TabularInput(
        n_numeric,
        encoder.cardinalities_,
        encoder.one_hot_,
        encoder.categorical_missing_,
        numeric=numeric,
        generator=generator,
    )


# ------------------------------------------------------------------- registry
def _untrained(layer: TabularInput) -> bool:
    return not any(True for _ in layer.parameters())  # no embeddings to learn


# Its numeric layer and its embeddings are children, saved as layers.
register_layer(
    TabularInput,
    Saved(
        "sk_mlp.TabularInput",
        attributes("n_numeric", "cardinalities", "one_hot", "missing_slot", "embedding_dims"),
        TabularInput,
        container=True,
    ),
    fixed=_untrained,
)
