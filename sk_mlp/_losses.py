"""Loss registry: each loss says how many network outputs it needs, how it
scores a batch, and how raw outputs become predictions (its link).

Losses return one value per sample so that sample weights apply uniformly;
``batch_mean`` is the unweighted mean over a batch, in torch's fused form where
one exists (one kernel less per training step).
Plain torch, no scikit-learn.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Probabilities closer to 0 or 1 than float64's machine epsilon (2.2e-16) are
# not representable beside their complement: predicted logit margins are
# bounded at log(1 / eps) ~ 36, which keeps every probability strictly inside
# (0, 1) and predict_log_proba equal to the log of predict_proba. Metrics such
# as scikit-learn's log_loss clip probabilities at the same epsilon.
MAX_LOGIT_MARGIN = 36.0


def weighted_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Column means of ``values`` (one row per sample), weighted by ``weight``
    when given: the mean each sample counts in as often as its weight says."""
    if weight is None:
        return values.mean(dim=0)
    weight = weight.reshape(-1, *([1] * (values.ndim - 1)))
    return (values * weight).sum(dim=0) / weight.sum()


class _Loss:
    def batch_mean(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self(raw, y).mean()

    def batch_loss(
        self, raw: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None
    ) -> torch.Tensor:
        """The training loss of a batch: the mean of each sample's loss times its
        weight (weights are normalised to mean one over the whole data)."""
        if weight is None:
            return self.batch_mean(raw, y)
        return (self(raw, y) * weight).mean()


def _batch_loss_and_grad(
    per_sample: torch.Tensor, grad: torch.Tensor, weight: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """:meth:`_Loss.batch_loss` from each sample's loss and, from ``grad``
    (the gradient of each sample's loss, overwritten), its gradient."""
    n = len(per_sample)
    if weight is None:
        return per_sample.mean(), grad.mul_(1.0 / n)
    return (per_sample * weight).mean(), grad.mul_(weight[:, None] / n)


class SquaredError(_Loss):
    """Half the mean squared error over targets, as scikit-learn's MLP reports it."""

    out_activation = "identity"

    def n_outputs(self, n_targets: int) -> int:
        return n_targets

    def __call__(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 0.5 * (raw - y).square().mean(dim=1)

    def batch_mean(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 0.5 * F.mse_loss(raw, y)

    def value_and_grad(self, raw, y, weight):
        """The batch loss (weighted mean over samples) and its gradient in ``raw``."""
        diff = raw - y
        per_sample = 0.5 * diff.square().mean(dim=1)
        return _batch_loss_and_grad(per_sample, diff.mul_(1.0 / raw.shape[1]), weight)

    def mean(self, raw: torch.Tensor) -> torch.Tensor:
        return raw


class Poisson(_Loss):
    """Poisson deviance (up to a constant) with a log link."""

    out_activation = "exp"

    def n_outputs(self, n_targets: int) -> int:
        return n_targets

    def __call__(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = F.poisson_nll_loss(raw, y, log_input=True, full=False, reduction="none")
        return loss.mean(dim=1)

    def batch_mean(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.poisson_nll_loss(raw, y, log_input=True, full=False)

    def value_and_grad(self, raw, y, weight):
        """The batch loss (weighted mean over samples) and its gradient in ``raw``."""
        rate = raw.exp()
        per_sample = (rate - y * raw).mean(dim=1)
        return _batch_loss_and_grad(per_sample, rate.sub_(y).mul_(1.0 / raw.shape[1]), weight)

    def mean(self, raw: torch.Tensor) -> torch.Tensor:
        return raw.exp()


def _gaussian_nll(mean: torch.Tensor, y: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """``F.gaussian_nll_loss(mean, y, var, reduction='none')``, the same
    operations without its check that the variance is positive, which costs a
    host-device synchronisation per step on a GPU (here the variance is
    positive by construction)."""
    return 0.5 * (torch.log(var) + (mean - y) ** 2 / var)


class GaussianNLL(_Loss):
    """Heteroscedastic Gaussian negative log-likelihood with the beta-NLL remedy.

    The network outputs a mean and a raw variance per target. The variance is
    ``softplus(raw) + min_variance``: smooth, positive, and bounded away from
    zero so that the likelihood cannot diverge on a perfectly fitted point.

    Plain Gaussian NLL weights each residual by ``1 / variance``, so points the
    network already calls noisy stop teaching the mean, and the mean fits worse
    than with squared error. Following Seitzer et al. (ICLR 2022, "On the
    Pitfalls of Heteroscedastic Uncertainty Estimation"), each sample's NLL is
    multiplied by ``variance.detach() ** beta``; ``beta=0.5`` interpolates
    between NLL (``beta=0``) and squared-error-like mean gradients (``beta=1``)
    while the variance still converges to the residual variance.
    """

    out_activation = "gaussian"

    def __init__(self, beta: float = 0.5, min_variance: float = 1e-6):
        self.beta = beta
        self.min_variance = min_variance

    def n_outputs(self, n_targets: int) -> int:
        return 2 * n_targets

    def mean_variance(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw_var = raw.chunk(2, dim=1)
        return mean, F.softplus(raw_var) + self.min_variance

    def nll(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample Gaussian NLL summed over targets, without the beta weight."""
        mean, var = self.mean_variance(raw)
        return (_gaussian_nll(mean, y, var) + 0.5 * math.log(2 * math.pi)).sum(dim=1)

    def __call__(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mean, var = self.mean_variance(raw)
        nll = _gaussian_nll(mean, y, var)
        if self.beta:
            # The value stays the NLL (what loss_curve_ reports and the tol
            # rule watches); only the gradient carries the beta weight.
            weighted = nll * var.detach() ** self.beta
            nll = nll.detach() + (weighted - weighted.detach())
        return nll.sum(dim=1)

    def mean(self, raw: torch.Tensor) -> torch.Tensor:
        return raw.chunk(2, dim=1)[0]


class BinaryLogLoss(_Loss):
    """Sigmoid cross-entropy per column: binary and multilabel targets."""

    out_activation = "logistic"

    def n_outputs(self, n_targets: int) -> int:
        return n_targets

    def __call__(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = F.binary_cross_entropy_with_logits(raw, y, reduction="none")
        return loss.sum(dim=1)

    def batch_mean(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(raw, y) * raw.shape[1]

    def value_and_grad(self, raw, y, weight):
        """The batch loss (weighted mean over samples) and its gradient in ``raw``."""
        per_sample = self(raw, y)
        return _batch_loss_and_grad(per_sample, torch.sigmoid(raw).sub_(y), weight)

    def log_proba(self, raw: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of the positive class, margins bounded (see
        ``MAX_LOGIT_MARGIN``)."""
        return F.logsigmoid(raw.clamp(-MAX_LOGIT_MARGIN, MAX_LOGIT_MARGIN))

    def complement_log_proba(self, raw: torch.Tensor) -> torch.Tensor:
        """``log(1 - p)``, computed without cancellation."""
        return self.log_proba(-raw)


class MulticlassLogLoss(_Loss):
    """Softmax cross-entropy over mutually exclusive classes."""

    out_activation = "softmax"

    def n_outputs(self, n_classes: int) -> int:
        return n_classes

    def __call__(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(raw, y, reduction="none")

    def batch_mean(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(raw, y)

    def value_and_grad(self, raw, y, weight):
        """The batch loss (weighted mean over samples) and its gradient in ``raw``:
        softmax minus the one-hot target, per sample."""
        log_proba = F.log_softmax(raw, dim=1)
        if weight is None:
            value = F.nll_loss(log_proba, y)
        else:
            value = (F.nll_loss(log_proba, y, reduction="none") * weight).mean()
        grad = log_proba.exp_().scatter_add_(1, y[:, None], raw.new_full((len(y), 1), -1.0))
        scale = 1.0 / len(y) if weight is None else weight[:, None] / len(y)
        return value, grad.mul_(scale)

    def log_proba(self, raw: torch.Tensor) -> torch.Tensor:
        """Log-probabilities, margins to the largest logit bounded (see
        ``MAX_LOGIT_MARGIN``)."""
        margin = raw - raw.max(dim=1, keepdim=True).values
        return F.log_softmax(margin.clamp_min(-MAX_LOGIT_MARGIN), dim=1)


REGRESSION_LOSSES = {
    "squared_error": SquaredError,
    "mse": SquaredError,
    "poisson": Poisson,
    "gaussian_nll": GaussianNLL,
}

CLASSIFICATION_LOSSES = ("log_loss", "cross_entropy")


def classification_loss(target_type: str) -> BinaryLogLoss | MulticlassLogLoss:
    """The cross-entropy that fits a scikit-learn ``type_of_target`` result."""
    if target_type == "multiclass":
        return MulticlassLogLoss()
    return BinaryLogLoss()
