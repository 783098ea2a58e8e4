"""The torch network that both estimators train: plain torch, no scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from .._preprocessing.statistics import statistics_rows
from .device import on_cpu, to_numpy
from .layers import FeatureScale, MemberAverage, MemberLinear, MemberScale, PeriodicEmbedding
from .registry import LayerEntry, Saved, always, attributes, entry, entry_for, register_layer

ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}

# Names that mean the same activation as another.
ACTIVATION_ALIASES = {"sigmoid": "logistic"}

# Median absolute deviation of a standard normal (its upper quartile):
# dividing by it makes the robust scale a standard deviation, so standardized
# data passes nearly unchanged.
_NORMAL_MAD = 0.6744897501960817
# Entries per block of columns when fitting those statistics.
_STATISTICS_BLOCK = 2_000_000
# Columns per block of a sparse matrix: a running sum of weights over the
# block's columns rounds by about its length times 1e-16 of a column's total,
# which must stay well inside _TIE_TOLERANCE for ties to be decided alike.
_FLAT_COLUMNS = 65_536

NORMALIZATIONS = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}

_INT64 = torch.iinfo(torch.int64)


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` that draws its masks from a generator of its own.

    During a fit the estimator sets ``generator`` so that masks come from the
    fit's random stream, never from torch's global one (concurrent fits in
    threads stay independent and reproducible); without one, the global
    generator is used, as by torch's Dropout.

    On the CPU, torch draws a dropout mask with one Mersenne-Twister call per
    element and builds it through boolean tensors, which made dropout cost as
    much as the rest of a small network's training step. This draws 64 random
    bits per four elements and keeps an element when its 16 bits reach a
    threshold, so the drop probability is ``p`` rounded to a multiple of
    1/65536, and kept units are scaled by ``1 / (1 - that probability)``: the
    mask's expectation is exactly one.
    """

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * self.mask(x)

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """A fresh mask shaped like ``x``: ``1 / (1 - p)`` for kept units, 0 for dropped."""
        # At least float32, so that the scale is exact under bfloat16 autocast.
        dtype = torch.promote_types(x.dtype, torch.float32)
        if not on_cpu(x):
            keep = 1.0 - self.p
            mask = torch.empty_like(x, dtype=dtype)
            return mask.bernoulli_(keep, generator=self.generator).div_(keep)
        n = x.numel()
        words = torch.randint(
            _INT64.min, _INT64.max, ((n + 3) // 4,), dtype=torch.int64, generator=self.generator
        )
        # Uniform integers in [-32768, 32767]; P(value < threshold) = drop / 65536.
        lanes = words.view(torch.int16)[:n].view(x.shape).to(dtype)
        drop = min(round(self.p * 65536), 65535)  # p < 1: keep at least one lane value
        # (value - threshold + 1) is >= 1 for a kept unit and <= 0 for a dropped one.
        keep_scale = 65536 / (65536 - drop)
        return lanes.sub_(drop - 32768 - 1).clamp_(0, 1).mul_(keep_scale)


def _linear(n_in: int, n_out: int, generator: torch.Generator | None) -> nn.Linear:
    """A linear layer with Glorot (Xavier) uniform weights and zero biases,
    for every activation, drawn from ``generator`` alone (torch's own
    initialisation, which would draw from the global generator, is skipped).

    scikit-learn's MLP does the same. He initialisation, the textbook choice
    for rectifiers, scored lower with Adam on the accuracy benchmark
    (docs/accuracy.rst) and on the speed benchmark's 10-epoch workloads.
    """
    layer = torch.nn.utils.skip_init(nn.Linear, n_in, n_out)
    with torch.no_grad():
        nn.init.xavier_uniform_(layer.weight, generator=generator)
        nn.init.zeros_(layer.bias)
    return layer


def build_mlp(
    n_features: int,
    n_outputs: int,
    hidden_layer_sizes: Sequence[int] = (100,),
    activation: str = "relu",
    dropout: float = 0.0,
    normalization: str | None = None,
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    """Stack ``Linear -> [norm] -> activation -> [dropout]`` blocks and a linear head.

    The head has no output non-linearity: the loss owns the link (softmax,
    sigmoid, exp, ...) so that training uses the numerically stable fused forms.
    ``generator`` draws the initial weights (torch's global generator if ``None``).
    """
    make_activation = ACTIVATIONS[activation]
    layers: list[nn.Module] = []
    fan_in = n_features
    for width in hidden_layer_sizes:
        linear = _linear(fan_in, width, generator)
        layers.append(linear)
        if normalization is not None:
            layers.append(NORMALIZATIONS[normalization](width))
        layers.append(make_activation())
        if dropout > 0:
            layers.append(Dropout(dropout))
        fan_in = width
    head = _linear(fan_in, n_outputs, generator)
    layers.append(head)
    return nn.Sequential(*layers)


@dataclass
class SparseRows:
    """Sparse input rows as a network sees them: ``values + offset``, with
    ``values`` a sparse CSR tensor and ``offset`` a dense row added to every
    row (``None`` for zero). Memory stays in proportion to the stored values."""

    values: torch.Tensor
    offset: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.values.shape[0]

    def to_dense(self) -> torch.Tensor:
        dense = self.values.to_dense()
        return dense if self.offset is None else dense.add_(self.offset)


def build_network(
    n_features: int,
    n_outputs: int,
    hidden_layer_sizes: Sequence[int] = (100,),
    activation: str = "relu",
    dropout: float = 0.0,
    normalization: str | None = None,
    *,
    n_ensemble: int = 1,
    feature_scaling: bool = False,
    periodic_features: int = 0,
    out_activation: str = "identity",
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    """:func:`build_mlp`'s network with the optional layers of
    :mod:`sk_mlp._nn.layers` in front and at the end.

    In order: a :class:`~sk_mlp._nn.layers.PeriodicEmbedding` of the first
    ``periodic_features`` inputs, a :class:`~sk_mlp._nn.layers.FeatureScale`,
    and for ``n_ensemble > 1`` a :class:`~sk_mlp._nn.layers.MemberScale`; then
    the hidden blocks, shared by the members; then the output layer, one per
    member (:class:`~sk_mlp._nn.layers.MemberLinear`) followed by a
    :class:`~sk_mlp._nn.layers.MemberAverage` that averages the members'
    predictions through the loss's link (``out_activation``) outside
    training. Without any of them it is :func:`build_mlp`'s network, with
    the same initial weights.
    """
    front: list[nn.Module] = []
    width = n_features
    if periodic_features:
        embedding = PeriodicEmbedding(n_features, periodic_features, generator=generator)
        front.append(embedding)
        width = embedding.n_outputs
    if feature_scaling:
        front.append(FeatureScale(width))
    if n_ensemble > 1:
        front.append(MemberScale(n_ensemble, width, generator))
    mlp = build_mlp(
        width, n_outputs, hidden_layer_sizes, activation, dropout, normalization, generator
    )
    if not front and n_ensemble == 1:
        return mlp
    layers = [*front, *mlp]
    if n_ensemble > 1:
        fan_in = mlp[-1].in_features
        layers[-1] = MemberLinear(n_ensemble, fan_in, n_outputs, generator)
        layers.append(MemberAverage(n_ensemble, out_activation))
    return nn.Sequential(*layers)


def _first_layer_weights(layers: list[nn.Module]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The first linear layer's weight and bias, one per member, shapes
    ``(n_members, out, in)`` and ``(n_members, out)``, with the scale layers in
    front of it folded into the weight: ``(x * s) W^T = x (W * s)^T``. Also
    the number of layers they cover."""
    factor, n_front = None, 0
    for layer in layers:
        if _sparse_role(entry_for(layer)) != "scale":
            break
        factor = layer.weight if factor is None else factor * layer.weight
        n_front += 1
    first = layers[n_front]
    weight, bias = first.weight, first.bias
    if weight.ndim == 2:  # nn.Linear: one weight for every member
        weight, bias = weight.unsqueeze(0), bias.unsqueeze(0)
    if factor is not None:
        weight = weight * factor.reshape(-1, 1, weight.shape[2])
        bias = bias.expand(len(weight), -1)
    return weight, bias, n_front + 1


def _sparse_first_layer(layers: list[nn.Module], X: SparseRows) -> tuple[torch.Tensor, int]:
    """The output of the first linear layer (plain or one per member) for
    sparse rows, with the scale layers in front of it folded into its weights,
    so that no row is densified. Returns that output, stacked by member, and
    the number of layers it covers."""
    weight, bias, n_done = _first_layer_weights(layers)
    outputs = []
    for member_weight, member_bias in zip(weight, bias):
        if X.offset is not None:
            member_bias = torch.addmv(member_bias, member_weight, X.offset)
        outputs.append(torch.addmm(member_bias, X.values, member_weight.t()))
    return torch.cat(outputs), n_done


def takes_lookup(network: nn.Module) -> bool:
    """Whether :func:`forward_lookup` can run ``network``: a stack that
    :func:`build_network` made (an optional periodic embedding and input
    scales, then a linear layer)."""
    if type(network) is not nn.Sequential:
        return False
    roles = [_sparse_role(entry(type(layer))) for layer in network]
    n = int(bool(roles) and roles[0] == "front")
    while n < len(roles) and roles[n] == "scale":
        n += 1
    return n < len(roles) and roles[n] == "linear"


def forward_lookup(
    network: nn.Module, dense: torch.Tensor, index: torch.Tensor, hot_width: int, n_after: int
) -> torch.Tensor:
    """``network(x)`` for rows ``x`` made of ``dense`` with a one-hot block
    inserted before its last ``n_after`` columns: ``hot_width`` columns, row
    ``i`` holding a 1 at each position ``index[i]`` (none for ``hot_width``).

    That block is never built: its product with the first linear layer's
    weight is a sum of columns of the weight, an embedding-bag lookup whose
    gradient is the exact gradient of the product. Memory and time then grow
    with the rows and the one-hot features, not with rows times categories.
    ``network`` is a stack :func:`takes_lookup` accepts; a periodic embedding
    in front reads the leading (numeric) columns, which ``dense`` holds.
    """
    front, weight, bias, rest = first_linear(network)
    for layer in front:
        dense = layer(dense)
    start = dense.shape[1] - n_after
    stop = start + hot_width
    outputs = []
    for member_weight, member_bias in zip(weight, bias):
        # Row hot_width of the table is zero: a feature without a 1 adds nothing.
        table = F.pad(member_weight[:, start:stop].t(), (0, 0, 0, 1))
        others = torch.cat([member_weight[:, :start], member_weight[:, stop:]], dim=1)
        looked_up = F.embedding_bag(index, table, mode="sum", padding_idx=hot_width)
        outputs.append(torch.addmm(member_bias, dense, others.t()) + looked_up)
    h = outputs[0] if len(outputs) == 1 else torch.cat(outputs)
    for layer in rest:
        h = layer(h)
    return h


def first_linear(
    network: nn.Module,
) -> tuple[list[nn.Module], torch.Tensor, torch.Tensor, list[nn.Module]]:
    """A stack :func:`takes_lookup` accepts, around its first linear layer:
    the layers before it that read their input column by column (a periodic
    embedding), that layer's weight and bias, one per member, shapes
    ``(n_members, out, in)`` and ``(n_members, out)``, with the scale layers
    in front of it folded in, and the layers after it, which read its
    outputs stacked by member. :func:`forward_lookup` computes with these, and
    ONNX export writes the same lookup."""
    layers = list(network)
    n_front = int(_sparse_role(entry(type(layers[0]))) == "front")
    weight, bias, n_done = _first_layer_weights(layers[n_front:])
    return layers[:n_front], weight, bias, layers[n_front + n_done :]


def _sparse_role(found: LayerEntry | None) -> str | None:
    """A layer's part in the sparse fold (its registry entry's ``sparse``):
    ``'scale'``, ``'linear'``, ``'front'``, or None."""
    role = None if found is None else found.sparse
    return role if isinstance(role, str) else None


def forward(network: nn.Module, X: torch.Tensor | SparseRows) -> torch.Tensor:
    """``network(X)``. For :class:`SparseRows`, ``network`` is a stack that
    :func:`build_network` made: its first linear layer multiplies the sparse
    values and folds the offset into its bias (and the scale layers in front
    of it into its weights), so no row is densified."""
    if not isinstance(X, SparseRows):
        return network(X)
    layers = list(network)
    # Sparse products have no bfloat16 kernels: in float32 under autocast too.
    with torch.autocast(X.values.device.type, enabled=False):
        h, n_done = _sparse_first_layer(layers, X)
    for layer in layers[n_done:]:
        h = layer(h)
    return h


def set_dropout(module: nn.Module, p: float, built: bool) -> nn.Module:
    """``module`` with every sk_mlp dropout layer at rate ``p``; where
    ``built`` (a network :func:`build_mlp` made, behind its input layer if
    any) has none and ``p > 0``, a dropout layer is added after each hidden
    activation, where :func:`build_mlp` puts them."""
    layers = [m for m in module.modules() if isinstance(m, Dropout)]
    for layer in layers:
        layer.p = p
    if layers or p == 0 or not built or not isinstance(module, nn.Sequential):
        return module
    activations = tuple(ACTIVATIONS.values())
    if len(module) == 2 and isinstance(module[1], nn.Sequential):  # behind an input layer
        return nn.Sequential(module[0], set_dropout(module[1], p, built))
    stack = []
    for layer in module:
        stack.append(layer)
        if isinstance(layer, activations):
            stack.append(Dropout(p))
    return nn.Sequential(*stack)


def linear_layers(module: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of ``module`` in registration order."""
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def weight_layers(module: nn.Module) -> list[nn.Module]:
    """The layers with connection weights (``nn.Linear`` and the members'
    output layers), in registration order: those ``alpha`` penalises, and
    those ``coefs_`` and ``intercepts_`` show."""
    return [m for m in module.modules() if isinstance(m, (nn.Linear, MemberLinear))]


def penalised_weights(module: nn.Module) -> list[tuple[torch.Tensor, float]]:
    """The connection weights ``alpha`` penalises, each with its share of the
    penalty: 1, and ``1 / n_members`` for the members' output layers. An
    ensemble's objective is the mean over its members of each one's loss and
    penalty, so that a member is penalised as a single network would be."""
    return [
        (layer.weight, 1.0 / len(layer.weight) if isinstance(layer, MemberLinear) else 1.0)
        for layer in weight_layers(module)
    ]


def squared_weight_norm(module: nn.Module) -> torch.Tensor:
    """Sum of squared connection weights times their shares (see
    :func:`penalised_weights`), the quantity ``alpha`` penalises."""
    return sum(share * weight.square().sum() for weight, share in penalised_weights(module))


class RobustInput(nn.Module):
    """Robust centring and scaling followed by smooth clipping of outliers.

    ``z = (x - center) / scale`` then ``z / sqrt(1 + (z / clip) ** 2)``: close to
    the identity for typical values and bounded by ``clip`` in magnitude, so a
    single extreme value cannot dominate a hidden unit (the input treatment of
    RealMLP, Holzmüller et al., NeurIPS 2024). The statistics are buffers: they
    move with the module between devices and are saved with it, never trained.
    """

    def __init__(self, center, scale, clip: float = 4.0):
        super().__init__()
        # In float64, then stored as float32: the ratios are moderate even
        # where the statistics themselves are not.
        center = torch.as_tensor(center, dtype=torch.float64)
        scale = torch.as_tensor(scale, dtype=torch.float64)
        self.register_buffer("shift", (-center / scale).float())
        self.register_buffer("inv_scale", (1.0 / scale).float())
        self.clip = clip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.squash(torch.addcmul(self.shift, x, self.inv_scale))

    @torch.no_grad()
    def transform_(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` computed in place in ``x``, a batch the caller owns: the
        same operations in the same order, with one temporary instead of five."""
        z = torch.addcmul(self.shift, x, self.inv_scale, out=x)
        bound = 1e18 * self.clip
        factor = torch.addcmul(z.new_ones(()), z.clamp_(-bound, bound), z, value=1.0 / self.clip**2)
        return z.mul_(factor.rsqrt_())

    def squash(self, z: torch.Tensor) -> torch.Tensor:
        """The smooth clip. The clamp keeps ``(z / clip) ** 2`` finite in
        float32; beyond it the output is +-clip to float32 precision anyway."""
        bound = 1e18 * self.clip
        z = z.clamp(-bound, bound)
        return z * torch.addcmul(z.new_ones(()), z, z, value=1.0 / self.clip**2).rsqrt()

    @torch.no_grad()
    def transform_sparse_(self, X: sp.csr_matrix) -> torch.Tensor | None:
        """Apply the layer to a float32 CSR matrix with summed duplicates.

        The result is ``X + offset`` with ``offset`` a dense row added to every
        row: the stored values are overwritten in place with their output minus
        the offset, and the offset (the output for an implicit zero, ``None``
        where every column maps zero to zero) is returned. Memory stays in
        proportion to the stored values; the first linear layer folds the
        offset into its bias (see :func:`forward`).
        """
        columns = torch.from_numpy(X.indices).long()
        values = torch.from_numpy(X.data)
        shift, inv_scale = self.shift.cpu(), self.inv_scale.cpu()
        out = self.squash(torch.addcmul(shift[columns], values, inv_scale[columns]))
        if not bool(torch.any(shift != 0)):
            values.copy_(out)  # zero maps to zero: no offset
            return None
        offset = self.squash(shift)
        values.copy_(out - offset[columns])
        return offset


# Cumulative weights within this fraction of a quantile's target count as
# reaching it: sums of the same weights in another order (a sparse column's
# zeros are one entry, a dense column's are many) then decide an exact tie the
# same way, towards the lower value.
_TIE_TOLERANCE = 1e-10


def _sparse_entries(X, weights: np.ndarray):
    """Every column's entries of a sparse matrix as flat ``(values, weights,
    columns)``. A column's implicit zeros are one entry holding their total
    weight, so that sparse and dense forms of the same data give the same
    statistics."""
    n, d = X.shape
    X = sp.csc_matrix(X)
    X.sum_duplicates()
    stored = np.diff(X.indptr)
    columns = np.repeat(np.arange(d), stored)
    stored_weights = weights[X.indices]
    total = weights.sum()
    zero_weight = total - np.bincount(columns, stored_weights, minlength=d)
    # A column stored in every row has no implicit zero; a difference of sums
    # that is only rounding is none either.
    zero_weight[(stored == n) | (zero_weight < _TIE_TOLERANCE * total)] = 0.0
    return (
        np.concatenate([X.data.astype(np.float64), np.zeros(d)]),
        np.concatenate([stored_weights, zero_weight]),
        np.concatenate([columns, np.arange(d)]),
    )


def _flat_medians(values, entry_weights, columns, d: int) -> np.ndarray:
    """Each column's weighted median of flat entries (see
    :func:`_sparse_entries`), as numpy's ``'inverted_cdf'``: the smallest value
    whose cumulative weight reaches half of the column's total. Every column
    must have an entry."""
    order = np.lexsort((values, columns))
    values, entry_weights, columns = values[order], entry_weights[order], columns[order]
    # One running sum over the block's columns, less each column's start: its
    # rounding grows with the columns of a block (see _FLAT_COLUMNS).
    cumulative = np.cumsum(entry_weights)
    starts = np.searchsorted(columns, np.arange(d))
    cumulative -= np.concatenate([[0.0], cumulative])[starts][columns]  # per column
    total = np.bincount(columns, entry_weights, minlength=d)
    reached = np.flatnonzero(cumulative >= (0.5 - _TIE_TOLERANCE) * total[columns])
    return values[reached[np.searchsorted(reached, starts)]]


def _dense_medians(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each column's weighted median of a dense block, as numpy's
    ``'inverted_cdf'``; ``weights`` per row, or per entry."""
    weights = np.broadcast_to(weights.reshape(len(values), -1), values.shape)
    order = np.argsort(values, axis=0)
    cumulative = np.cumsum(np.take_along_axis(weights, order, axis=0), axis=0)
    first = np.argmax(cumulative >= (0.5 - _TIE_TOLERANCE) * cumulative[-1], axis=0)
    columns = np.arange(values.shape[1])
    return values[order[first, columns], columns]


def _column_statistics(X, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted median and robust scale of each column of ``X`` (see
    :func:`fit_robust_input`)."""
    d = X.shape[1]
    total = weights.sum()
    if sp.issparse(X):
        values, entry_weights, columns = _sparse_entries(X, weights)
        center = _flat_medians(values, entry_weights, columns, d)
        distance = np.abs(values - center[columns])
        mad = _flat_medians(distance, entry_weights, columns, d)
    else:
        values = np.asarray(X, dtype=np.float64)
        if np.all(weights == 1.0):
            # Unweighted: the same medians by partial sorts (the cumulative
            # counts are exact integers), several times faster.
            center = np.quantile(values, 0.5, axis=0, method="inverted_cdf")
            distance = np.abs(values - center)
            mad = np.quantile(distance, 0.5, axis=0, method="inverted_cdf")
        else:
            center = _dense_medians(values, weights)
            distance = np.abs(values - center)
            mad = _dense_medians(distance, weights)
        entry_weights = np.repeat(weights, d)
        columns = np.broadcast_to(np.arange(d), values.shape).ravel()
    # The standard deviation, from the deviations about the median divided by
    # their largest, so that squares of float64 values near its range cannot
    # overflow (rows of weight zero count nowhere).
    deviation = np.where(entry_weights > 0, values.ravel() - center[columns], 0.0)
    largest = np.zeros(d)
    np.maximum.at(largest, columns, np.abs(deviation))
    largest[largest == 0] = 1.0
    deviation /= largest[columns]
    mean = np.bincount(columns, entry_weights * deviation, minlength=d) / total
    square = np.bincount(columns, entry_weights * deviation**2, minlength=d) / total
    std = largest * np.sqrt(np.maximum(square - mean**2, 0.0))
    # Where at least half of the weight sits on the median, the median
    # distance of the other values: a column of zeros and a heavy tail keeps
    # a robust scale rather than one its outliers set.
    if (tied := np.flatnonzero((mad == 0) & (std > 0))).size:
        if sp.issparse(X):
            off = (entry_weights > 0) & (distance > 0) & np.isin(columns, tied)
            mad[tied] = _flat_medians(
                distance[off], entry_weights[off], np.searchsorted(tied, columns[off]), len(tied)
            )
        else:
            distance = distance[:, tied]
            mad[tied] = _dense_medians(distance, weights[:, None] * (distance > 0))
    scale = np.where(mad > 0, np.minimum(mad / _NORMAL_MAD, std), np.where(std > 0, std, 1.0))
    return center, scale


def fit_robust_input(X, sample_weight: np.ndarray) -> RobustInput:
    """Fit each column's weighted median and robust scale on (a subsample of) X.

    The scale is the smaller of the column's standard deviation and its
    median absolute deviation from the median divided by that of a standard
    normal (a robust standard deviation): the robust one where heavy tails
    would inflate the standard deviation, the standard deviation on
    light-tailed columns such as ordinal ones, whose median absolute
    deviation overstates their spread. Where at least half of the weight sits
    on the median (a binary or a mostly-zero column), the median absolute
    deviation of the other values stands in for it; a constant column is left
    unscaled. Sample weights count as repetitions, as everywhere in fitting
    (rows of weight zero are absent); a sparse matrix's implicit zeros count
    as the values they are, so that ``X`` and ``X.toarray()`` give the same
    layer.

    ``X`` may be a torch tensor on any device: the subsample is taken there
    and comes to the host one block of columns at a time, where the same
    code as for NumPy arrays computes the same statistics.
    """
    if (rows := statistics_rows(X.shape[0])) is not None:
        if isinstance(X, torch.Tensor):
            X = X.index_select(0, torch.from_numpy(rows).to(X.device))
        else:
            X = X[rows]
        sample_weight = sample_weight[rows]
    # Equal weights as ones: exact integer sums, whatever the layout.
    weights = sample_weight if np.ptp(sample_weight) > 0 else np.ones(len(sample_weight))
    weights = np.asarray(weights, dtype=np.float64)
    if sp.issparse(X):
        X = sp.csc_matrix(X)  # column blocks of a CSC matrix are cheap slices
    # Column blocks keep the sort's temporaries to a few tens of MB.
    step = max(1, _STATISTICS_BLOCK // max(X.shape[0], 1))
    if sp.issparse(X):
        step = min(step, _FLAT_COLUMNS)
    tensor = isinstance(X, torch.Tensor)
    blocks = [
        _column_statistics(to_numpy(block) if tensor else block, weights)
        for block in (X[:, start : start + step] for start in range(0, X.shape[1], step))
    ]
    center = np.concatenate([c for c, _ in blocks])
    scale = np.concatenate([s for _, s in blocks])
    return RobustInput(center, scale)


# ------------------------------------------------------------------- registry
def _robust_input(n_features: int, clip: float) -> RobustInput:
    # The statistics are buffers, filled by load_state_dict.
    return RobustInput(torch.zeros(n_features), torch.ones(n_features), clip)


register_layer(
    Dropout, Saved("sk_mlp.Dropout", attributes("p", "inplace"), Dropout), backprop="dropout"
)
register_layer(
    RobustInput,
    Saved(
        "sk_mlp.RobustInput",
        lambda layer: {"n_features": layer.shift.shape[0], "clip": layer.clip},
        _robust_input,
    ),
    fixed=always,
)
