"""The data as the training engine sees it: :class:`TrainingData`.

One constructor, :meth:`TrainingData.prepare`, decides how validated arrays
reach the network (a device tensor, the caller's own array read in place, or
sparse rows), applies the fixed input layer once where that pays, and the
object hands out batches; the loop never branches on these modes.
:func:`predict_rows` is prediction's path through the same helpers: validated
rows to raw outputs, in chunks. Plain torch and scipy, no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from .._nn.device import float32_rows, on_cpu, shares_memory, sparse_to_tensor, to_tensor
from .._nn.mlp import RobustInput, SparseRows, forward, linear_layers
from .._nn.registry import is_fixed
from .._nn.tabular import OneHotLinear, one_hot_lookup
from .threads import threads_for_step

# Rows per forward pass outside training (prediction, validation, L-BFGS):
# large enough to amortise per-call overhead, small enough that hidden
# activations stay a few hundred MB at most.
CHUNK_ROWS = 16384
# Float32 activations per layer when predicting on an accelerator, and on
# the CPU (outside training, where CHUNK_ROWS rows would take more).
_DEVICE_CHUNK_BYTES = 256 * 2**20
_CPU_CHUNK_BYTES = 64 * 2**20
# Fewest rows per chunk on the CPU, however wide a layer: per-call overhead.
_MIN_CHUNK_ROWS = 256
# Sparse rows densified for a user's module are chunked to about this size.
_DENSE_CHUNK_BYTES = 64 * 2**20
# On the CPU, the caller's C-ordered X is read in place, batch by batch, rather
# than copied, unless the float32 copy would be at most this large and saves
# per-batch work (the robust input layer).
COPY_LIMIT_BYTES = 64 * 2**20
# Fewer rows than this are padded at prediction (see predict_rows).
_MIN_GEMM_ROWS = 16


def split_input_layer(module: nn.Module) -> tuple[nn.Module | None, nn.Module]:
    """``module``'s fixed input layer, if it has one, and the network after it.

    A fixed layer (:class:`RobustInput`, a :class:`TabularInput` without
    embeddings, a :class:`PiecewiseLinearEncoding`, or a stack of them) has
    nothing to train, so it can be applied to the training data once rather
    than on every step. A frame stage with one-hot features comes as a
    :class:`~sk_mlp._nn.tabular.OneHotSplit` and the network after it as a
    :class:`~sk_mlp._nn.tabular.OneHotLinear` where the network allows:
    the data then hold one position per one-hot feature, not a column per
    category. Together the two compute ``module``.
    """
    if not isinstance(module, nn.Sequential) or len(module) != 2:
        return None, module
    stage, network = module[0], module[1]
    lookup = one_hot_lookup(stage, network)
    if lookup is not None:
        split, lookup_network = lookup
        if is_fixed(stage):
            return split, lookup_network
        return None, nn.Sequential(split, lookup_network)  # the embeddings train
    if is_fixed(stage):
        return stage, network
    return None, module


@torch.no_grad()
def apply_input_layer(layer: nn.Module, X: torch.Tensor, owned: bool) -> torch.Tensor:
    """``layer(X)``, in place where the layer can do that and ``X`` is ours
    (``owned``), in chunks otherwise."""
    if owned and hasattr(layer, "transform_"):
        for start in range(0, len(X), CHUNK_ROWS):
            layer.transform_(X[start : start + CHUNK_ROWS])
        return X
    return torch.cat(
        [layer(X[start : start + CHUNK_ROWS]) for start in range(0, len(X), CHUNK_ROWS)]
    )


def canonical_csr(X) -> sp.csr_matrix:
    """A float32 CSR copy of sparse ``X`` with sorted, summed entries: the
    robust clip sees each entry's total, and CSR and CSC inputs agree."""
    X = sp.csr_matrix(X, dtype=np.float32, copy=True)
    X.sum_duplicates()
    return X


def sparse_rows(X, layer: RobustInput | None, device: torch.device) -> SparseRows:
    """Sparse rows as the network's input, through ``layer`` if given."""
    X = canonical_csr(X)
    offset = None if layer is None else layer.transform_sparse_(X)
    return SparseRows(sparse_to_tensor(X, device), None if offset is None else offset.to(device))


def chunk_rows(
    n_features: int,
    densify: bool,
    device: torch.device | None = None,
    network: nn.Module | None = None,
) -> int:
    """Rows per chunk outside training, sized in bytes: sparse rows densified
    for a user's module stay within ``_DENSE_CHUNK_BYTES``; prediction keeps
    the widest layer of ``network`` (its inputs and outputs) within
    ``_CPU_CHUNK_BYTES`` on the CPU, and takes larger chunks on an
    accelerator (``device``), up to ``_DEVICE_CHUNK_BYTES``: fewer, larger
    kernels."""
    if densify:
        return max(1, min(CHUNK_ROWS, _DENSE_CHUNK_BYTES // (4 * max(n_features, 1))))
    widest = _widest_layer(n_features, network)
    if device is None or on_cpu(device):
        return max(_MIN_CHUNK_ROWS, min(CHUNK_ROWS, _CPU_CHUNK_BYTES // (4 * widest)))
    return max(CHUNK_ROWS, _DEVICE_CHUNK_BYTES // (4 * widest))


def _widest_layer(n_features: int, network: nn.Module | None) -> int:
    """The most floats per row that a layer of ``network`` reads or writes;
    the one-hot columns that a :class:`OneHotLinear` looks up count nowhere,
    as they are never built."""
    if network is None:
        return max(n_features, 1)
    looked_up = {
        id(layers[0])
        for lookup in network.modules()
        if isinstance(lookup, OneHotLinear) and (layers := linear_layers(lookup.network))
    }
    widths = [n_features]
    for layer in linear_layers(network):
        widths.append(layer.out_features)
        if id(layer) not in looked_up:
            widths.append(layer.in_features)
    return max(widths)


def predict_rows(
    module: nn.Module, X, device: torch.device, *, sparse: bool, user_module: bool
) -> torch.Tensor:
    """Raw outputs of the fitted ``module`` for the validated rows ``X``,
    in chunks.

    With ``sparse``, the rows reach the network after the fixed input layer
    as sparse products; other sparse X is densified chunk by chunk.
    ``user_module`` says the network is the user's, which gets chunks of its
    own.
    """
    layer, network = split_input_layer(module)
    step = chunk_rows(
        X.shape[1], densify=sp.issparse(X) and not sparse, device=device, network=network
    )
    chunks = []
    with torch.inference_mode(), threads_for_step(module, min(X.shape[0], step), device):
        for start in range(0, X.shape[0], step):
            chunk = X[start : start + step]
            if sparse:
                chunks.append(forward(network, sparse_rows(chunk, layer, device)))
                continue
            chunk = float32_rows(chunk.toarray() if sp.issparse(chunk) else chunk, device)
            if user_module:  # it may write its input: never into the caller's array
                chunk = chunk.clone()
            n_rows = len(chunk)
            if n_rows < _MIN_GEMM_ROWS:
                # BLAS picks other kernels for very few rows, whose float32
                # rounding differs; padding makes a row's prediction the
                # same alone as in a batch.
                padding = chunk.new_zeros(_MIN_GEMM_ROWS - n_rows, chunk.shape[1])
                chunk = torch.cat([chunk, padding])
            if layer is not None:
                chunk = layer(chunk)
            chunks.append(forward(network, chunk)[:n_rows])
    return torch.cat(chunks)


@dataclass
class TrainingData:
    """Training inputs as the engine sees them, converted once.

    Build it with :meth:`prepare`. ``X`` is a float32 device tensor, or, on
    the CPU, the caller's own C-ordered array (float32 or float64): batches are
    then cast to float32 and passed through ``transform`` (the fixed input
    layer) as they are drawn, so that the fit holds no copy of X. Sparse X is a
    float32 CSR matrix already through the input layer, whose rows are ``X +
    offset``; batches are :class:`SparseRows`, densified where ``densify``
    (a user's module, which gets dense tensors of its own, never views of the
    caller's array, which it might write). ``weight`` holds the sample
    weights normalised to mean one (``None`` when all are equal) and
    ``mean_weight`` their original mean. ``rows`` selects a subset (a train or
    validation split) without copying X. ``generator`` draws the shuffles.
    """

    X: torch.Tensor | sp.csr_matrix
    y: torch.Tensor
    weight: torch.Tensor | None
    device: torch.device
    mean_weight: float = 1.0
    rows: torch.Tensor | None = None
    transform: nn.Module | None = None
    offset: torch.Tensor | None = None
    densify: bool = False
    generator: torch.Generator | None = None

    @classmethod
    def prepare(
        cls,
        X,
        y: np.ndarray,
        sample_weight: np.ndarray,
        module: nn.Module,
        device: torch.device,
        *,
        densify: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[TrainingData, nn.Module]:
        """Convert validated arrays once; return the data and the part of
        ``module`` that training updates.

        The fixed input layer has no trained parameters, so it is applied to
        the data here rather than on every step: to a float32 copy of X, or to
        each batch as it is drawn where X is the caller's array and a copy
        would be large. The caller's array is never written.
        """
        layer, network = split_input_layer(module)
        target_dtype = torch.int64 if y.dtype == np.int64 else torch.float32
        mean_weight = float(sample_weight.mean())
        weight = None
        if np.ptp(sample_weight) > 0:
            weight = to_tensor(sample_weight / mean_weight, device)
        data = cls(
            X,
            to_tensor(y, device, target_dtype),
            weight,
            device,
            mean_weight,
            densify=densify,
            generator=generator,
        )
        if sp.issparse(X):
            data.X = canonical_csr(X)
            if layer is not None:
                offset = layer.transform_sparse_(data.X)
                data.offset = None if offset is None else offset.to(device)
            return data, network
        if isinstance(X, torch.Tensor):  # array API dispatch: the caller's tensor
            data._use_tensor(X, layer)
            return data, network
        owned = True  # data.X is a copy of the caller's array
        if on_cpu(device):
            if not X.flags.c_contiguous:  # rows would be gathered from strided memory
                X = np.ascontiguousarray(X, dtype=np.float32)
            data.X = to_tensor(X, device, dtype=None)
            if layer is not None and np.shares_memory(data.X.numpy(), X):
                if data.X.numel() * 4 > COPY_LIMIT_BYTES:
                    data.transform = layer
                    return data, network
                owned = False
        else:
            data.X = to_tensor(X, device)
        if layer is not None:
            converted = data.X.to(torch.float32)
            owned = owned or converted.data_ptr() != data.X.data_ptr()
            data.X = apply_input_layer(layer, converted, owned)
        return data, network

    def _use_tensor(self, X: torch.Tensor, layer: RobustInput | None) -> None:
        """Take a torch tensor as ``X`` without a trip through the host, and
        never writing it. The rules for NumPy arrays apply: on the CPU, the
        caller's C-ordered rows are read in place in their own dtype (and
        passed through the input layer batch by batch where a transformed copy
        would be large); on other devices the data become a float32 tensor
        there (moved or cast only if they are not one already), transformed
        once, on a copy where the tensor is the caller's."""
        caller = X.detach()
        if on_cpu(self.device):
            X = caller.to(self.device)
            if not X.is_contiguous():
                X = X.to(dtype=torch.float32, memory_format=torch.contiguous_format)
        else:
            X = caller.to(self.device, torch.float32).contiguous()
        self.X = X
        if layer is None:
            return
        owned = not shares_memory(X, caller)
        if not owned and on_cpu(self.device) and X.numel() * 4 > COPY_LIMIT_BYTES:
            self.transform = layer
            return
        self.X = apply_input_layer(layer, X.to(torch.float32), owned or X.dtype != torch.float32)

    def __len__(self) -> int:
        return self.X.shape[0] if self.rows is None else len(self.rows)

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    def subset(self, rows: np.ndarray) -> TrainingData:
        return replace(self, rows=torch.as_tensor(rows, device=self.device))

    def targets(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``y`` and ``weight`` of the selected rows."""
        if self.rows is None:
            return self.y, self.weight
        weight = None if self.weight is None else self.weight[self.rows]
        return self.y[self.rows], weight

    def _sparse_inputs(self, index: torch.Tensor | slice) -> SparseRows | torch.Tensor:
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        rows = SparseRows(sparse_to_tensor(self.X[index], self.device), self.offset)
        return rows.to_dense() if self.densify else rows

    @torch.no_grad()
    def _prepare(self, X: torch.Tensor, owned: bool) -> torch.Tensor:
        """A batch of the caller's array as the network's float32 input;
        ``owned``: ``X`` is a copy, free to be transformed in place."""
        if X.dtype != torch.float32:
            X, owned = X.to(torch.float32), True
        if self.transform is None:
            return X
        return apply_input_layer(self.transform, X, owned)

    def chunk_rows(self) -> int:
        """Rows per forward pass outside training (see :func:`chunk_rows`)."""
        return chunk_rows(self.n_features, sp.issparse(self.X) and self.densify)

    def plan(
        self, batch_size: int, shuffle: bool
    ) -> tuple[torch.Tensor | None, list[int], list[int]]:
        """An epoch's row order (``None``: the rows as stored) and its batches'
        start and end positions in it (see :meth:`batches`)."""
        n = len(self)
        starts = list(range(0, n, batch_size))
        if len(starts) > 1 and n - starts[-1] == 1:
            starts.pop()
        ends = starts[1:] + [n]
        order = None
        if shuffle:
            order = torch.randperm(n, device=self.device, generator=self.generator)
        if self.rows is not None:
            order = self.rows if order is None else self.rows[order]
        return order, starts, ends

    def batches(
        self, batch_size: int, shuffle: bool
    ) -> Iterator[tuple[torch.Tensor | SparseRows, torch.Tensor, torch.Tensor | None]]:
        """Yield ``(X, y, weight)`` batches; a trailing batch of one sample is
        merged into the one before, so batch normalization always sees two."""
        order, starts, ends = self.plan(batch_size, shuffle)
        # Hoisted out of the loop: at small batch sizes the per-step Python
        # work is a visible share of the step.
        X, y, weight = self.X, self.y, self.weight
        dense = isinstance(X, torch.Tensor)
        prepare = dense and (X.dtype != torch.float32 or self.transform is not None)
        for start, end in zip(starts, ends):
            if order is None:
                index = slice(start, end)
                X_batch = X[index] if dense else self._sparse_inputs(index)
                y_batch = y[index]
                w_batch = None if weight is None else weight[index]
            else:
                # index_select: half the dispatch cost of advanced indexing.
                index = order[start:end]
                X_batch = X.index_select(0, index) if dense else self._sparse_inputs(index)
                y_batch = y.index_select(0, index)
                w_batch = None if weight is None else weight.index_select(0, index)
            if prepare:  # a slice is a view of the caller's array; a selection is a copy
                X_batch = self._prepare(X_batch, owned=order is not None)
            elif self.densify and dense and order is None:
                # A user's module may write its input in place: not the caller's array.
                X_batch = X_batch.clone()
            yield X_batch, y_batch, w_batch
