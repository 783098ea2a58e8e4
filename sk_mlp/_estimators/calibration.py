"""Calibration on rows the network did not train on: the regressor's predicted
std (cross-fitted), and the classifier's temperature (:func:`fit_temperature`).

A network trained for many epochs on every row fits its variance head to the
training residuals, which are smaller than the residuals on new rows, and it
does so unevenly: some rows get a far too small std. The calibration measures
this on held-out rows: auxiliary copies of the estimator are fitted on folds
of the training data, and the rows each copy did not see give residuals ``r``
and raw stds ``s``. From them:

- per target, ``variance_scale_`` (a) and ``variance_offset_`` (b) of the
  calibrated variance ``a * s**2 + b``, the pair that minimises the held-out
  Gaussian NLL: ``a`` rescales the network's variance, ``b`` is a floor of
  homoscedastic noise that keeps overconfident rows in check;
- the quantiles of the absolute normalised residuals ``|r| / sqrt(a s**2 + b)``,
  from which ``predict_interval`` takes its half-widths (split-conformal
  intervals: their coverage holds whatever the shape of the residuals).

The final network itself is trained on every row, as without calibration, so
the mean is the same. The classifier's temperature is fitted on the rows early
stopping held out, after the best epoch is restored.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from scipy.optimize import minimize
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold
from sklearn.utils import _safe_indexing

# Folds of the cross-fit, of which only as many are fitted as give about
# MIN_CALIBRATION_ROWS held-out rows: one auxiliary fit on 80% of the rows
# from 5,000 rows up, all five below 1,000.
N_FOLDS = 5
MIN_CALIBRATION_ROWS = 1000
# Fewer rows than this leave too few held-out residuals to estimate a scale.
MIN_ROWS = 20
# Levels at which the absolute normalised residuals' quantiles are stored.
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 201)


def n_calibration_fits(n_samples: int) -> int:
    """How many folds are fitted: enough for ``MIN_CALIBRATION_ROWS`` held-out rows."""
    fold_size = n_samples / N_FOLDS
    return min(N_FOLDS, math.ceil(MIN_CALIBRATION_ROWS / fold_size))


def held_out_residuals(estimator, X, y, sample_weight, seed: int):
    """Residuals ``y - mean`` and raw stds of held-out rows, and their weights.

    Parameters
    ----------
    estimator : TorchMLPRegressor
        The estimator being fitted (with ``loss='gaussian_nll'``); unfitted
        copies of it are trained on the folds.

    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The training input, as passed to ``fit``.

    y : ndarray of shape (n_samples, n_outputs)
        The training targets.

    sample_weight : ndarray of shape (n_samples,)
        The training weights; rows of weight zero are neither trained on nor
        held out.

    seed : int
        Seed of the folds and of the auxiliary fits.

    Returns
    -------
    residual : ndarray of shape (n_held_out, n_outputs)
        Held-out residuals, in the units of y.

    std : ndarray of shape (n_held_out, n_outputs)
        The std the auxiliary network predicts for them, before calibration.

    weight : ndarray of shape (n_held_out,)
        Their sample weights.
    """
    rows = np.flatnonzero(sample_weight > 0)
    folds = KFold(N_FOLDS, shuffle=True, random_state=seed).split(rows)
    seeds = np.random.SeedSequence(seed).generate_state(N_FOLDS)
    residuals, stds, weight = [], [], []
    for k, (train, held_out) in zip(range(n_calibration_fits(len(rows))), folds):
        train, held_out = rows[train], rows[held_out]
        auxiliary = clone(estimator).set_params(
            uncertainty_calibration=None,
            warm_start=False,
            verbose=False,
            random_state=int(seeds[k]),
        )
        with warnings.catch_warnings():
            # The final fit reports on convergence; the copies would repeat it.
            warnings.simplefilter("ignore", ConvergenceWarning)
            auxiliary.fit(_safe_indexing(X, train), y[train], sample_weight=sample_weight[train])
        mean, std = auxiliary.predict(_safe_indexing(X, held_out), return_std=True)
        residuals.append(y[held_out] - np.asarray(mean).reshape(len(held_out), -1))
        stds.append(np.asarray(std).reshape(len(held_out), -1))
        weight.append(sample_weight[held_out])
    return np.concatenate(residuals), np.concatenate(stds), np.concatenate(weight)


def variance_calibration(residual, std, weight) -> tuple[np.ndarray, np.ndarray]:
    """Per target, ``(a, b)`` of the variance ``a * std**2 + b`` that minimises
    the weighted Gaussian NLL of the held-out residuals."""
    a, b = np.empty(residual.shape[1]), np.empty(residual.shape[1])
    for j in range(residual.shape[1]):
        # In units of the residuals' mean square, the optimum is of order 1.
        base = max(np.average(residual[:, j] ** 2, weights=weight), np.finfo(float).tiny)
        r2, v = residual[:, j] ** 2 / base, std[:, j] ** 2 / base
        w = weight / weight.sum()

        def nll(log_ab, r2=r2, v=v, w=w):
            variance = np.exp(log_ab[0]) * v + np.exp(log_ab[1])
            return w @ (np.log(variance) + r2 / variance)

        # Start from "the network's variance, rescaled" with a small floor.
        start = [np.log(max(w @ (r2 / np.maximum(v, 1e-12)), 1e-6)), np.log(0.01)]
        bounds = [(-30.0, 30.0), (-30.0, 5.0)]
        log_a, log_b = minimize(nll, start, method="L-BFGS-B", bounds=bounds).x
        a[j], b[j] = np.exp(log_a), np.exp(log_b) * base
    return a, b


def abs_quantiles(z: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted quantiles of ``|z|`` at ``QUANTILE_LEVELS``, of shape (n_levels, n_outputs)."""
    out = np.empty((len(QUANTILE_LEVELS), z.shape[1]))
    for j in range(z.shape[1]):
        order = np.argsort(np.abs(z[:, j]))
        values, w = np.abs(z[order, j]), weight[order]
        # The inverse of the weighted empirical distribution function.
        cumulative = np.cumsum(w) / w.sum()
        index = np.searchsorted(cumulative, QUANTILE_LEVELS * (1 - 1e-12), side="left")
        out[:, j] = values[np.minimum(index, len(values) - 1)]
    return out


def interval_half_width_factor(quantiles, n_held_out: int, confidence: float, fallback):
    """The multiple of the raw std that makes a central interval of ``confidence``.

    The split-conformal quantile of the held-out ``|z|``: at level
    ``confidence * (1 + 1 / n)``, which covers at least ``confidence`` of new
    rows that resemble the held-out ones. Beyond what ``n`` rows resolve, the
    Gaussian quantile (``fallback``) is used.
    """
    level = confidence * (1 + 1 / n_held_out)
    if level > 1:
        return fallback
    return np.array([np.interp(level, QUANTILE_LEVELS, q) for q in quantiles.T])


# ------------------------------------------------- the classifier's temperature
# The std of the prior on log(T): a temperature within a factor e of 1 is
# likely. It weighs as one held-out row does: it decides only where the rows say
# little, as where the network classifies every held-out row right, whose log
# loss keeps falling as T -> 0 (ever sharper probabilities, which a single
# later mistake would make cost without limit).
LOG_TEMPERATURE_PRIOR_STD = 1.0
# Bounds of the fitted log-temperature: T from 1/20 to 20.
LOG_TEMPERATURE_BOUND = math.log(20.0)


def fit_temperature(
    raw: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None, *, softmax: bool
) -> float:
    """The temperature ``T > 0`` whose logits ``raw / T`` minimise the weighted
    log loss of held-out rows, under a weak prior that keeps ``T`` near 1.

    The posterior mode of ``log T`` given the rows' log likelihood and a
    normal prior of std ``LOG_TEMPERATURE_PRIOR_STD``. Computed where the
    tensors are, in float64: only scalars reach the host.

    Parameters
    ----------
    raw : torch.Tensor of shape (n_held_out, n_outputs)
        The network's logits on rows it did not train on (for an ensemble,
        the log of the members' mean probabilities).

    y : torch.Tensor of shape (n_held_out,) or (n_held_out, n_outputs)
        Class indices (``softmax``), or 0/1 labels, one column per sigmoid.

    weight : torch.Tensor of shape (n_held_out,) or None
        Sample weights (class weights included), each counting as that many
        rows, as scikit-learn's ``sample_weight`` does: in units of rows, such
        as the training weights normalised to mean one. None: one each.

    softmax : bool
        Whether the outputs are one softmax over classes, else a sigmoid each
        (binary and multilabel targets).

    Returns
    -------
    temperature : float
        1.0 when there are no rows of positive weight or a logit is not finite.
    """
    raw = raw.to(torch.float64)
    if weight is None:
        weight = torch.ones(len(raw), dtype=torch.float64, device=raw.device)
    weight = weight.to(torch.float64)
    total = float(weight.sum())
    if len(raw) == 0 or not total > 0 or not bool(torch.isfinite(raw).all()):
        return 1.0  # nothing to fit on, or a network that diverged
    # The prior against the mean log loss: divided by the number of rows.
    prior = 1 / (2 * LOG_TEMPERATURE_PRIOR_STD**2 * total)
    weight = weight / total
    if softmax:
        y = y.reshape(-1, 1).to(torch.int64)
        true = raw.gather(1, y)[:, 0]
    else:
        y = y.reshape(raw.shape).to(torch.float64)

    def objective(log_temperature):
        # The log loss of the logits times beta = 1 / T is convex in beta;
        # d/du with u = log T is -beta d/dbeta.
        u = float(log_temperature[0])
        beta = math.exp(-u)
        z = beta * raw
        if softmax:
            log_proba = torch.log_softmax(z, dim=1)
            loss = -log_proba.gather(1, y)[:, 0]
            slope = (log_proba.exp() * raw).sum(dim=1) - true
        else:
            loss = (torch.logaddexp(torch.zeros_like(z), z) - y * z).sum(dim=1)
            slope = ((torch.sigmoid(z) - y) * raw).sum(dim=1)
        value, derivative = torch.stack([weight @ loss, weight @ slope]).tolist()
        return value + prior * u**2, np.array([-beta * derivative + 2 * prior * u])

    bound = LOG_TEMPERATURE_BOUND
    result = minimize(
        objective,
        [0.0],
        jac=True,
        method="L-BFGS-B",
        bounds=[(-bound, bound)],
        options={"ftol": 1e-15, "gtol": 1e-12},
    )
    return float(math.exp(result.x[0]))
