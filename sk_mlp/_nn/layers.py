"""The optional layers of sk_mlp's network: plain torch, no scikit-learn.

- :class:`FeatureScale`: a learned scale per input feature
  (``feature_scaling=True``);
- :class:`MemberScale`, :class:`MemberLinear`, :class:`MemberAverage`: a
  parameter-efficient ensemble of ``n_ensemble`` networks trained in one pass
  (after BatchEnsemble and TabM-mini): each member multiplies the input by a
  vector of its own, shares the hidden layers with the others and has its own
  output layer. The members' rows are stacked along the batch, so the shared
  layers run one matrix product for all of them;
- :class:`PiecewiseLinearEncoding` and :class:`PeriodicEmbedding`: numerical
  feature embeddings (``numeric_embedding``), the first fixed, the second
  learned.

:func:`sk_mlp._nn.mlp.build_network` assembles them; :mod:`sk_mlp._engine.backprop`
trains the scale and ensemble layers without autograd.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .._preprocessing.statistics import statistics_rows
from .losses import average_members
from .registry import (
    Saved,
    always,
    attributes,
    elementwise,
    register_layer,
    shape_arguments,
)

# Quantile bins per numeric feature of the piecewise-linear encoding.
PIECEWISE_BINS = 16


class FeatureScale(nn.Module):
    """``x * scale``: a learned factor per input feature, starting at one.

    It lets training shrink uninformative features and stretch useful ones
    before the first linear layer mixes them (a RealMLP ingredient).
    """

    def __init__(self, n_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


class MemberScale(nn.Module):
    """The input of every ensemble member, stacked along the batch.

    ``(n, d) -> (n_members * n, d)``: member ``k``'s block of rows is the
    batch multiplied by its vector ``weight[k]``, learned, starting at random
    signs so that the members differ from the first step (TabM-mini's
    adapter).
    """

    def __init__(self, n_members: int, n_features: int, generator: torch.Generator | None = None):
        super().__init__()
        signs = torch.randint(0, 2, (n_members, n_features), generator=generator)
        self.weight = nn.Parameter(signs.to(torch.float32).mul_(2).sub_(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.unsqueeze(0) * self.weight.unsqueeze(1)).flatten(0, 1)


class MemberLinear(nn.Module):
    """One linear layer per ensemble member, applied to the members' stacked
    rows: ``(n_members * n, in_features) -> (n_members * n, out_features)``.

    Weights start as Glorot (Xavier) uniform, as :func:`sk_mlp._nn.mlp.build_mlp`'s
    layers do, drawn from ``generator``; biases at zero.
    """

    def __init__(
        self,
        n_members: int,
        in_features: int,
        out_features: int,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        bound = math.sqrt(6.0 / (in_features + out_features))
        weight = torch.rand(n_members, out_features, in_features, generator=generator)
        self.weight = nn.Parameter(weight.mul_(2 * bound).sub_(bound))
        self.bias = nn.Parameter(torch.zeros(n_members, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_members, n_out, n_in = self.weight.shape
        h = x.reshape(n_members, -1, n_in)
        out = torch.baddbmm(self.bias.unsqueeze(1), h, self.weight.transpose(1, 2))
        return out.flatten(0, 1)


class MemberAverage(nn.Module):
    """The end of an ensemble: in training, the members' stacked raw outputs
    pass unchanged (each member is trained on its own loss); in evaluation,
    one raw output per sample whose link gives the members' average
    prediction (see :func:`sk_mlp._nn.losses.average_members`)."""

    def __init__(self, n_members: int, out_activation: str):
        super().__init__()
        self.n_members = n_members
        self.out_activation = out_activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return x
        members = x.reshape(self.n_members, -1, x.shape[1])
        return average_members(members, self.out_activation)


class PiecewiseLinearEncoding(nn.Module):
    """Each of the first ``len(n_bins)`` columns as its piecewise-linear
    encoding over quantile bins; the other columns pass unchanged.

    For a feature with bin edges ``b_0 < ... < b_T`` the encoding has one
    value per bin: 0 below the bin, 1 above it, and linear in between,
    ``(x - b_{t-1}) / (b_t - b_{t-1})``; the first and last bins extend
    linearly beyond the data's range (Gorishniy et al., NeurIPS 2022, "On
    Embeddings for Numerical Features in Tabular Deep Learning"). The first
    linear layer can then give each range of a feature a slope of its own.
    Nothing is trained: the edges are fitted once (:meth:`fit`), and the
    layer is applied to the training data once, as the robust scaling is.

    Parameters
    ----------
    n_features : int
        Width of the input.
    n_bins : sequence of int
        Number of bins of each encoded feature (the leading columns).
    """

    def __init__(self, n_features: int, n_bins: Sequence[int]):
        super().__init__()
        n_bins = [int(b) for b in n_bins]
        self.n_features = n_features
        self.n_bins = n_bins
        n_codes = sum(n_bins)
        columns = np.repeat(np.arange(len(n_bins)), n_bins)
        self.register_buffer("columns", torch.as_tensor(columns, dtype=torch.int64))
        self.register_buffer("left", torch.zeros(n_codes))
        self.register_buffer("inv_width", torch.ones(n_codes))
        self.register_buffer("lower", torch.zeros(n_codes))
        self.register_buffer("upper", torch.ones(n_codes))
        self.n_outputs = n_features - len(n_bins) + n_codes

    @classmethod
    def fit(
        cls,
        X: np.ndarray,
        n_encoded: int,
        max_bins: int = PIECEWISE_BINS,
        sample_weight: np.ndarray | None = None,
        n_features: int | None = None,
    ):
        """An encoding of the first ``n_encoded`` columns of ``X`` with up to
        ``max_bins`` bins each, at the quantiles of (a subsample of) X; a
        feature with fewer distinct quantiles gets fewer bins. Sample weights
        count as repetitions, as in the robust statistics. ``n_features`` is
        the width of the input the layer will see (``X.shape[1]`` if None):
        ``X`` may hold only its leading columns."""
        if (rows := statistics_rows(len(X))) is not None:
            X = X[rows]
            sample_weight = None if sample_weight is None else sample_weight[rows]
        # Equal weights as none: the same quantiles as without weights.
        if sample_weight is not None and np.ptp(sample_weight) == 0:
            sample_weight = None
        block = np.asarray(X[:, :n_encoded], dtype=np.float64)
        quantiles = np.quantile(
            block,
            np.linspace(0, 1, max_bins + 1),
            axis=0,
            method="inverted_cdf",
            weights=None if sample_weight is None else np.asarray(sample_weight, np.float64),
        )
        edges = [np.unique(quantiles[:, j]) for j in range(n_encoded)]
        # A constant feature gets one bin of width max(1, |value|): a width
        # of 1 alone vanishes beside values from 2**53 on, and a zero width
        # makes the encoding NaN.
        edges = [e if len(e) > 1 else np.array([e[0], e[0] + max(1.0, abs(e[0]))]) for e in edges]
        n_features = X.shape[1] if n_features is None else n_features
        layer = cls(n_features, [len(e) - 1 for e in edges])
        left, width, lower, upper = [], [], [], []
        for e in edges:
            left.append(e[:-1])
            width.append(np.diff(e))
            low, up = np.zeros(len(e) - 1), np.ones(len(e) - 1)
            low[0], up[-1] = -np.inf, np.inf
            lower.append(low)
            upper.append(up)
        with torch.no_grad():
            for name, parts in (("left", left), ("lower", lower), ("upper", upper)):
                getattr(layer, name).copy_(torch.from_numpy(np.concatenate(parts)))
            layer.inv_width.copy_(torch.from_numpy(1.0 / np.concatenate(width)))
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_encoded = len(self.n_bins)
        z = (x.index_select(1, self.columns) - self.left) * self.inv_width
        z = torch.clamp(z, self.lower, self.upper)
        return torch.cat([z, x[:, n_encoded:]], dim=1)


class PeriodicEmbedding(nn.Module):
    """Each of the first ``n_encoded`` columns ``x`` as ``[x, linear(cos(2 pi
    (w x + b)))]``, with ``n_frequencies`` learned frequencies ``w`` and
    phases ``b`` and a learned linear map to ``n_embedding`` values per
    feature; the other columns pass unchanged. After RealMLP's PBLD
    embeddings (Holzmüller et al., NeurIPS 2024) and the periodic embeddings
    of Gorishniy et al. (NeurIPS 2022). Frequencies start small (normal with
    standard deviation ``sigma``), so that the embedding begins close to a
    smooth function of x.
    """

    def __init__(
        self,
        n_features: int,
        n_encoded: int,
        n_frequencies: int = 16,
        n_embedding: int = 3,
        sigma: float = 0.1,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.n_features = n_features
        self.n_encoded = n_encoded
        frequencies = torch.randn(n_encoded, n_frequencies, generator=generator) * sigma
        phases = torch.rand(n_encoded, n_frequencies, generator=generator) * 2 - 1
        bound = 1 / math.sqrt(n_frequencies)
        weight = torch.rand(n_encoded, n_frequencies, n_embedding, generator=generator)
        self.frequencies = nn.Parameter(frequencies)
        self.phases = nn.Parameter(phases)
        self.weight = nn.Parameter(weight.mul_(2 * bound).sub_(bound))
        self.bias = nn.Parameter(torch.zeros(n_encoded, n_embedding))
        self.n_outputs = n_features + n_encoded * n_embedding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = x[:, : self.n_encoded]
        angles = 2 * math.pi * (values.unsqueeze(-1) * self.frequencies + self.phases)
        embedded = torch.einsum("bnf,nfe->bne", torch.cos(angles), self.weight) + self.bias
        parts = [values.unsqueeze(-1), embedded]
        return torch.cat([torch.cat(parts, dim=-1).flatten(1), x[:, self.n_encoded :]], dim=1)


# ------------------------------------------------------------------- registry
def _member_scale_work(layer: MemberScale, copies: int) -> tuple[int, int]:
    # The members' copies of each row are stacked along the batch from here
    # on: the layers after it do their work once per member.
    return 0, layer.weight.shape[0]


def _member_linear_work(layer: MemberLinear, copies: int) -> tuple[int, int]:
    return layer.weight.numel(), copies  # one output layer per member


def _periodic_work(layer: PeriodicEmbedding, copies: int) -> tuple[int, int]:
    n_encoded, n_frequencies, n_embedding = layer.weight.shape  # angles, then a product
    return copies * n_encoded * n_frequencies * (1 + n_embedding), copies


def _periodic_arguments(layer: PeriodicEmbedding) -> dict:
    return {
        "n_features": layer.n_features,
        "n_encoded": layer.n_encoded,
        "n_frequencies": int(layer.frequencies.shape[1]),
        "n_embedding": int(layer.weight.shape[2]),
    }


def _saved(cls: type, arguments) -> Saved:
    # Weights and fitted statistics are parameters and buffers, filled by
    # load_state_dict.
    return Saved(f"sk_mlp.{cls.__name__}", arguments, cls)


register_layer(
    FeatureScale,
    _saved(FeatureScale, shape_arguments(n_features=0)),
    parameter="feature_scaling=True",
    work=elementwise,
    sparse="scale",
    backprop="feature_scale",
)
register_layer(
    MemberScale,
    _saved(MemberScale, shape_arguments(n_members=0, n_features=1)),
    parameter="n_ensemble > 1",
    work=_member_scale_work,
    sparse="scale",
    backprop="member_scale",
)
register_layer(
    MemberLinear,
    _saved(MemberLinear, shape_arguments(n_members=0, out_features=1, in_features=2)),
    parameter="n_ensemble > 1",
    work=_member_linear_work,
    sparse="linear",
    backprop="member_linear",
)
register_layer(
    MemberAverage,
    _saved(MemberAverage, attributes("n_members", "out_activation")),
    parameter="n_ensemble > 1",
    backprop="member_average",
)
register_layer(
    PiecewiseLinearEncoding,
    _saved(PiecewiseLinearEncoding, attributes("n_features", "n_bins")),
    parameter="numeric_embedding='piecewise_linear'",
    fixed=always,
)
register_layer(
    PeriodicEmbedding,
    _saved(PeriodicEmbedding, _periodic_arguments),
    parameter="numeric_embedding='periodic'",
    work=_periodic_work,
    sparse="front",
)
