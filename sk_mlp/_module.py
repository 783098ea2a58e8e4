"""The torch network that both estimators train: plain torch, no scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

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

# Interquartile range of a standard normal: dividing by it makes the robust
# scale a standard deviation, so standardized data passes nearly unchanged.
_IQR_PER_STD = 1.3489795003921634
# Robust input statistics are estimated on at most this many rows: enough to put
# the median within 1% of a standard deviation, and a fixed cost of ~40 ms
# instead of ~150 ms at 100,000 x 50.
_PREPROCESSING_SUBSAMPLE = 30_000

NORMALIZATIONS = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}

_INT64 = torch.iinfo(torch.int64)


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` with a faster mask on the CPU.

    torch draws a CPU dropout mask with one Mersenne-Twister call per element
    and builds it through boolean tensors, which made dropout cost as much as
    the rest of a small network's training step. This draws 64 random bits per
    four elements and keeps an element when its 16 bits reach a threshold, with
    float arithmetic only, so ``p`` is rounded to a multiple of 1/65536. Other
    devices use torch's own fused kernel.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.device.type != "cpu":
            return super().forward(x)
        return x * self.mask(x)

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """A fresh mask shaped like ``x``: ``1 / (1 - p)`` for kept units, 0 for dropped."""
        n = x.numel()
        words = torch.randint(_INT64.min, _INT64.max, ((n + 3) // 4,), dtype=torch.int64)
        # Uniform integers in [-32768, 32767]; P(value < threshold) = p.
        lanes = words.view(torch.int16)[:n].view(x.shape).to(x.dtype)
        threshold = round(self.p * 65536) - 32768
        # (value - threshold + 1) is >= 1 for a kept unit and <= 0 for a dropped one.
        return lanes.sub_(threshold - 1).clamp_(0, 1).mul_(1.0 / (1.0 - self.p))


def _init_linear(layer: nn.Linear) -> None:
    """Glorot (Xavier) uniform weights and zero biases, for every activation.

    scikit-learn's MLP does the same. He initialisation, the textbook choice
    for rectifiers, scored lower with Adam on the accuracy benchmark
    (docs/accuracy.rst) and on the speed benchmark's 10-epoch workloads.
    """
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)


def build_mlp(
    n_features: int,
    n_outputs: int,
    hidden_layer_sizes: Sequence[int] = (100,),
    activation: str = "relu",
    dropout: float = 0.0,
    normalization: str | None = None,
) -> nn.Sequential:
    """Stack ``Linear -> [norm] -> activation -> [dropout]`` blocks and a linear head.

    The head has no output non-linearity: the loss owns the link (softmax,
    sigmoid, exp, ...) so that training uses the numerically stable fused forms.
    """
    make_activation = ACTIVATIONS[activation]
    layers: list[nn.Module] = []
    fan_in = n_features
    for width in hidden_layer_sizes:
        linear = nn.Linear(fan_in, width)
        _init_linear(linear)
        layers.append(linear)
        if normalization is not None:
            layers.append(NORMALIZATIONS[normalization](width))
        layers.append(make_activation())
        if dropout > 0:
            layers.append(Dropout(dropout))
        fan_in = width
    head = nn.Linear(fan_in, n_outputs)
    _init_linear(head)
    layers.append(head)
    return nn.Sequential(*layers)


def linear_layers(module: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of ``module`` in registration order."""
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def squared_weight_norm(module: nn.Module) -> torch.Tensor:
    """Sum of squared connection weights, the quantity ``alpha`` penalises."""
    return sum(layer.weight.square().sum() for layer in linear_layers(module))


class RobustInput(nn.Module):
    """Robust centring and scaling followed by smooth clipping of outliers.

    ``z = (x - center) / scale`` then ``z / sqrt(1 + (z / clip) ** 2)``: close to
    the identity for typical values and bounded by ``clip`` in magnitude, so a
    single extreme value cannot dominate a hidden unit (the input treatment of
    RealMLP, Holzmüller et al., NeurIPS 2024). The statistics are buffers: they
    move with the module between devices and are saved with it, never trained.
    """

    def __init__(self, center: torch.Tensor, scale: torch.Tensor, clip: float = 4.0):
        super().__init__()
        self.register_buffer("shift", -center / scale)
        self.register_buffer("inv_scale", 1.0 / scale)
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
    def transform_sparse_(self, X) -> None:
        """Apply the layer to the stored values of a CSR matrix, in place.

        Valid because sparse input is never centred (``shift`` is zero) and the
        clip maps zero to zero, so implicit zeros stay zero.
        """
        inv_scale = self.inv_scale.cpu()[torch.from_numpy(X.indices).long()]
        X.data[:] = self.squash(torch.from_numpy(X.data) * inv_scale).numpy()


def fit_robust_input(X, sample_weight: np.ndarray) -> RobustInput:
    """Fit weighted median and interquartile range on (a subsample of) X.

    The scale is the interquartile range divided by that of a standard
    normal, a robust standard deviation. A column whose quartiles coincide
    (mostly one value) is scaled by its standard deviation instead; a
    constant column is left unscaled.
    Sample weights count as repetitions, as everywhere in fitting.
    """
    if X.shape[0] > _PREPROCESSING_SUBSAMPLE:
        rows = np.sort(
            np.random.default_rng(0).choice(X.shape[0], _PREPROCESSING_SUBSAMPLE, replace=False)
        )
        X, sample_weight = X[rows], sample_weight[rows]
    if sp.issparse(X):
        # Sparse columns are mostly zeros, whose quartiles say little:
        # scale by the weighted root mean square, without centring, so
        # zeros stay zero.
        mean_square = sample_weight @ X.multiply(X) / sample_weight.sum()
        rms = np.sqrt(np.asarray(mean_square).ravel())
        center, scale = np.zeros(X.shape[1]), np.where(rms > 0, rms, 1.0)
    else:
        # Equal weights give the same quantiles without them, and the
        # unweighted path partitions instead of sorting: ~5x faster, and no
        # temporaries the size of X.
        weights = sample_weight if np.ptp(sample_weight) > 0 else None
        q1, center, q3 = np.quantile(
            X, [0.25, 0.5, 0.75], axis=0, weights=weights, method="inverted_cdf"
        )
        std = np.sqrt(np.average((X - center) ** 2, axis=0, weights=weights))
        scale = np.where(q3 > q1, (q3 - q1) / _IQR_PER_STD, np.where(std > 0, std, 1.0))
    return RobustInput(
        torch.as_tensor(center, dtype=torch.float32),
        torch.as_tensor(scale, dtype=torch.float32),
    )
