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
# The variance of :class:`GaussianNLL` is bounded below by this.
MIN_VARIANCE = 1e-6


def stack_members(
    y: torch.Tensor, weight: torch.Tensor | None, n_members: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Targets and weights repeated for ``n_members`` blocks of stacked rows:
    an ensemble's training outputs hold each member's rows one block after
    another (see :class:`sk_mlp._nn.layers.MemberScale`)."""
    if n_members == 1:
        return y, weight
    y = y.repeat(n_members, *([1] * (y.ndim - 1)))
    return y, None if weight is None else weight.repeat(n_members)


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

    def member_mean(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each sample's loss, averaged over the ensemble members whose
        outputs ``raw`` stacks (``len(raw)`` is a multiple of ``len(y)``)."""
        n_members = len(raw) // len(y)
        if n_members == 1:
            return self(raw, y)
        y, _ = stack_members(y, None, n_members)
        return self(raw, y).view(n_members, -1).mean(dim=0)

    def batch_loss(
        self, raw: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None
    ) -> torch.Tensor:
        """The training loss of a batch: the mean of each sample's loss times its
        weight (weights are normalised to mean one over the whole data). For
        an ensemble's stacked outputs, the mean over members too."""
        if len(raw) != len(y):
            y, weight = stack_members(y, weight, len(raw) // len(y))
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

    def __init__(self, beta: float = 0.5, min_variance: float = MIN_VARIANCE):
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


class Pinball(_Loss):
    """Pinball (quantile) loss of one or several quantiles per target.

    The network has one output per target and quantile, target-major: output
    ``t * n_quantiles + k`` estimates the quantile ``quantiles[k]`` of target
    ``t``. Each sample's loss is the mean over targets and quantiles of
    ``max(tau * r, (tau - 1) * r)``, ``r = y - q``: minimised by the
    ``tau``-quantile of y given x, as in scikit-learn's ``PinballLoss``.

    Each output is trained for its own quantile; the link sorts a target's
    outputs (the rearrangement of Chernozhukov, Fernandez-Val and Galichon,
    Econometrica 2010, which can only bring estimated quantile curves closer
    to the true ones), so the predicted quantiles never cross.
    """

    out_activation = "quantile"

    def __init__(self, quantiles=(0.5,)):
        self.quantiles = [float(q) for q in quantiles]

    def n_outputs(self, n_targets: int) -> int:
        return n_targets * len(self.quantiles)

    def _levels(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.quantiles, dtype=raw.dtype, device=raw.device)

    def __call__(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        residual = y[:, :, None] - raw.unflatten(1, (-1, len(self.quantiles)))
        tau = self._levels(raw)
        loss = torch.where(residual >= 0, tau * residual, (tau - 1) * residual)
        return loss.mean(dim=(1, 2))

    def value_and_grad(self, raw, y, weight):
        """The batch loss (weighted mean over samples) and its gradient in ``raw``."""
        residual = y[:, :, None] - raw.unflatten(1, (-1, len(self.quantiles)))
        tau = self._levels(raw)
        above = residual >= 0
        per_sample = torch.where(above, tau * residual, (tau - 1) * residual).mean(dim=(1, 2))
        grad = torch.where(above, -tau, 1 - tau).flatten(1) / raw.shape[1]
        return _batch_loss_and_grad(per_sample, grad, weight)

    def quantile_values(self, raw: torch.Tensor) -> torch.Tensor:
        """The predicted quantiles, of shape (n_samples, n_targets,
        n_quantiles) in the order of ``quantiles``: each target's outputs
        sorted, so that a higher level never gets a lower value."""
        ranks = self._levels(raw).argsort().argsort()
        ordered = raw.unflatten(1, (-1, len(self.quantiles))).sort(dim=-1).values
        return ordered[:, :, ranks]


class BinaryLogLoss(_Loss):
    """Sigmoid cross-entropy per column: binary and multilabel targets.

    With ``label_smoothing=eps`` each column's target is ``y * (1 - eps) +
    eps / 2``: the two-class case of :class:`MulticlassLogLoss`'s smoothing.
    """

    out_activation = "logistic"

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    def n_outputs(self, n_targets: int) -> int:
        return n_targets

    def _target(self, y: torch.Tensor) -> torch.Tensor:
        if not self.label_smoothing:
            return y
        return y * (1 - self.label_smoothing) + 0.5 * self.label_smoothing

    def __call__(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = F.binary_cross_entropy_with_logits(raw, self._target(y), reduction="none")
        return loss.sum(dim=1)

    def log_loss(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each sample's cross-entropy against the true labels (no smoothing)."""
        return F.binary_cross_entropy_with_logits(raw, y, reduction="none").sum(dim=1)

    def batch_mean(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(raw, self._target(y)) * raw.shape[1]

    def value_and_grad(self, raw, y, weight):
        """The batch loss (weighted mean over samples) and its gradient in ``raw``."""
        per_sample = self(raw, y)
        return _batch_loss_and_grad(per_sample, torch.sigmoid(raw).sub_(self._target(y)), weight)

    def log_proba(self, raw: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of the positive class, margins bounded (see
        ``MAX_LOGIT_MARGIN``)."""
        return F.logsigmoid(raw.clamp(-MAX_LOGIT_MARGIN, MAX_LOGIT_MARGIN))

    def complement_log_proba(self, raw: torch.Tensor) -> torch.Tensor:
        """``log(1 - p)``, computed without cancellation."""
        return self.log_proba(-raw)


class MulticlassLogLoss(_Loss):
    """Softmax cross-entropy over mutually exclusive classes.

    With ``label_smoothing=eps`` the target is ``(1 - eps)`` times the one-hot
    vector plus ``eps / n_classes`` for every class, as in
    :func:`torch.nn.functional.cross_entropy`.
    """

    out_activation = "softmax"

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    def n_outputs(self, n_classes: int) -> int:
        return n_classes

    def __call__(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(raw, y, reduction="none", label_smoothing=self.label_smoothing)

    def log_loss(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each sample's cross-entropy against the true labels (no smoothing)."""
        return F.cross_entropy(raw, y, reduction="none")

    def batch_mean(self, raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(raw, y, label_smoothing=self.label_smoothing)

    def value_and_grad(self, raw, y, weight):
        """The batch loss (weighted mean over samples) and its gradient in ``raw``:
        softmax minus the (smoothed) one-hot target, per sample."""
        log_proba = F.log_softmax(raw, dim=1)
        eps = self.label_smoothing
        per_sample = F.nll_loss(log_proba, y, reduction="none")
        if eps:
            per_sample = (1 - eps) * per_sample - eps * log_proba.mean(dim=1)
        value = per_sample.mean() if weight is None else (per_sample * weight).mean()
        grad = log_proba.exp_()
        if eps:
            grad.sub_(eps / raw.shape[1])
        grad.scatter_add_(1, y[:, None], raw.new_full((len(y), 1), -(1.0 - eps)))
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
    "quantile": Pinball,
}

CLASSIFICATION_LOSSES = ("log_loss", "cross_entropy")


def classification_loss(
    target_type: str, label_smoothing: float = 0.0
) -> BinaryLogLoss | MulticlassLogLoss:
    """The cross-entropy that fits a scikit-learn ``type_of_target`` result."""
    if target_type == "multiclass":
        return MulticlassLogLoss(label_smoothing)
    return BinaryLogLoss(label_smoothing)


# ---------------------------------------------------------------- ensembles
def _log_mean_exp(values: torch.Tensor) -> torch.Tensor:
    """``log(mean(exp(values), dim=0))``, without overflow."""
    return torch.logsumexp(values, dim=0) - math.log(len(values))


def average_members(raw: torch.Tensor, out_activation: str) -> torch.Tensor:
    """One raw output per sample from the raw outputs of ensemble members,
    ``raw`` of shape (n_members, n_samples, n_outputs): the raw output whose
    link gives the members' average prediction.

    Probabilities are averaged for classifiers (logistic and softmax links),
    means for regressors (the rate of the Poisson loss's log link). For the
    Gaussian loss the members form an equal mixture: its mean is the mean of
    the members' means and its variance their mean variance plus the
    variance of their means.
    """
    if out_activation == "softmax":
        # Log mean probabilities: logits whose softmax is that mean.
        return _log_mean_exp(F.log_softmax(raw, dim=-1))
    if out_activation == "logistic":
        # logit(mean p) = log(mean p) - log(mean (1 - p)), without cancellation.
        return _log_mean_exp(F.logsigmoid(raw)) - _log_mean_exp(F.logsigmoid(-raw))
    if out_activation == "exp":
        return _log_mean_exp(raw)
    if out_activation == "gaussian":
        means, raw_variances = raw.chunk(2, dim=-1)
        mean = means.mean(dim=0)
        variance = (F.softplus(raw_variances) + MIN_VARIANCE).mean(dim=0)
        excess = variance + (means - mean).square().mean(dim=0) - MIN_VARIANCE
        # The inverse of softplus, stable for small and large arguments.
        raw_variance = excess + torch.log(-torch.expm1(-excess))
        return torch.cat([mean, raw_variance], dim=-1)
    return raw.mean(dim=0)
