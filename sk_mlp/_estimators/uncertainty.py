"""The regressor's uncertainty: the quantile levels ``loss='quantile'`` fits,
the variance calibration and interval quantiles fitted on held-out rows
(:mod:`sk_mlp._estimators.calibration`), and ``predict_interval``."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
import sklearn
import torch
from scipy.stats import norm
from sklearn.utils.metaestimators import available_if

from .._engine.array_space import input_space, to_host
from .._nn.losses import GaussianNLL, Pinball
from .._preprocessing.checks import is_dask_collection
from .._scale.dask_collections import predict_lazily
from . import calibration

# With quantile=None, loss='quantile' fits the median, which predict returns,
# and the bounds of the central 50%, 80%, 90% and 95% intervals, which
# predict_interval needs.
DEFAULT_QUANTILES = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975)


def _predicts_a_distribution(estimator) -> bool:
    """Whether the fitted model (or, unfitted, the ``loss`` parameter) predicts
    intervals: Gaussian or quantile regression."""
    if hasattr(estimator, "_loss"):
        return isinstance(estimator._loss, GaussianNLL | Pinball)
    return estimator.loss in ("gaussian_nll", "quantile")


def quantile_levels(quantile) -> list[float]:
    """The levels ``loss='quantile'`` fits for the ``quantile`` parameter, or
    a ValueError that says what is wrong with it."""
    if quantile is None:
        return list(DEFAULT_QUANTILES)
    if isinstance(quantile, numbers.Real):
        return [float(quantile)]  # in (0, 1): checked by _parameter_constraints
    try:
        levels = np.asarray(quantile, dtype=np.float64)
    except (TypeError, ValueError):
        levels = None
    if levels is None or levels.ndim != 1 or len(levels) == 0:
        raise ValueError(
            "quantile must be a float in (0, 1) or a non-empty 1-D sequence of such "
            f"floats, got {quantile!r}."
        )
    if not np.all((levels > 0) & (levels < 1)):
        raise ValueError(f"Every quantile must be strictly between 0 and 1, got {levels.tolist()}.")
    if len(np.unique(levels)) != len(levels):
        raise ValueError(f"quantile lists a level twice ({levels.tolist()}); give each level once.")
    return levels.tolist()


class UncertaintyMixin:
    """Intervals and calibrated standard deviations of
    :class:`~sk_mlp.TorchMLPRegressor`: fitted after the network (``_fit``
    calls :meth:`_set_quantile_output` and the calibration), read by
    ``predict(return_std=True)`` and :meth:`predict_interval`."""

    def _set_quantile_output(self):
        """``quantiles_``, and which of them ``predict`` returns: all of them
        (``_quantile_index`` None) for a sequence, else the one asked for or
        the median. Fixed at fit, so that ``set_params`` cannot change them."""
        if not isinstance(self._loss, Pinball):
            self.quantiles_, self._quantile_index = None, None
            return
        self.quantiles_ = np.asarray(self._loss.quantiles)
        quantile = self.quantile
        if quantile is None:
            self._quantile_index = DEFAULT_QUANTILES.index(0.5)
        elif isinstance(quantile, numbers.Real):
            self._quantile_index = 0
        else:
            self._quantile_index = None

    def _calibrates(self) -> bool:
        return self.uncertainty_calibration == "auto" and isinstance(self._loss, GaussianNLL)

    def _calibrate_std(self, X, y, sample_weight):
        """Fit the variance calibration and the interval quantiles on held-out
        rows (:mod:`sk_mlp._estimators.calibration`)."""
        space = input_space(X)
        if space is not None:  # the copies fit on host copies, in NumPy
            X, y = (space.to_torch(value).cpu().numpy() for value in (X, y))
            if sample_weight is not None:
                sample_weight = space.to_torch(sample_weight).cpu().numpy()
        elif sp.issparse(X):
            X = sp.csr_matrix(X)  # rows can be taken from any sparse format
        elif not hasattr(X, "iloc"):
            X = np.asarray(X)  # lists and other array-likes, as arrays
        y = np.asarray(y, dtype=np.float64)
        y = y.reshape(len(y), -1)
        weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        if np.count_nonzero(weight > 0) < calibration.MIN_ROWS:
            self._set_std_calibration(None, None, None)
            return
        seed = int(np.random.SeedSequence([self._random_seed, 22]).generate_state(1)[0])
        with sklearn.config_context(array_api_dispatch=False):
            residual, std, held_out_weight = calibration.held_out_residuals(
                self, X, y, weight, seed
            )
        self._set_std_calibration(residual, std, held_out_weight)

    def _set_std_calibration(self, residual, std, weight):
        if residual is None:
            gaussian = isinstance(self._loss, GaussianNLL)
            self.variance_scale_ = np.ones(self.n_outputs_) if gaussian else None
            self.variance_offset_ = np.zeros(self.n_outputs_) if gaussian else None
            self._abs_z_quantiles, self._n_held_out = None, 0
            return
        a, b = calibration.variance_calibration(residual, std, weight)
        self.variance_scale_, self.variance_offset_ = a, b
        z = residual / np.sqrt(a * std**2 + b)
        self._abs_z_quantiles = calibration.abs_quantiles(z, weight)
        self._n_held_out = len(z)

    def _quantiles(self, X, index=None) -> torch.Tensor:
        """The fitted quantiles in the units of y, of shape (n_samples,
        n_outputs, n_quantiles) (n_outputs 1 dropped), or only the one at
        ``index``."""
        # Standardizing y is increasing: quantiles map back like values.
        values = self._loss.quantile_values(self._forward(X))
        return self._to_y_units(values if index is None else values[..., index])

    def _mean_std(self, X) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and the calibrated std, in the units of y."""
        mean, variance = self._loss.mean_variance(self._forward(X))
        raw_std = self._to_y_units(variance.sqrt(), shift=False)
        scale = getattr(self, "variance_scale_", None)
        if scale is None:  # saved by an sk_mlp from before the calibration
            return self._to_y_units(mean), raw_std

        def like_std(value):  # NumPy, or X's namespace (sk_mlp._engine.array_space)
            value = value if isinstance(value, torch.Tensor) else to_host(value)
            return torch.as_tensor(value, dtype=raw_std.dtype, device=raw_std.device)

        std = (like_std(scale) * raw_std.square() + like_std(self.variance_offset_)).sqrt()
        return self._to_y_units(mean), std

    @available_if(_predicts_a_distribution)
    def predict_interval(self, X, confidence=0.95):
        """Central prediction interval.

        Only available with ``loss='gaussian_nll'`` or ``loss='quantile'``.

        With ``loss='gaussian_nll'``, the interval is centred on the predicted
        mean. With the default ``uncertainty_calibration='auto'``, the
        half-width is the predicted std times the ``confidence`` quantile of
        the absolute residuals, divided by their std, of rows held out of
        training (split-conformal); otherwise (and for confidences beyond what
        the held-out rows resolve) the Gaussian quantile.

        With ``loss='quantile'``, the bounds are the predicted quantiles
        ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``, which must be
        among the fitted ``quantiles_``: with ``quantile=None``, confidences
        0.5, 0.8, 0.9 and 0.95.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        confidence : float, default=0.95
            Probability mass inside the interval, in (0, 1). For example 0.9
            gives the 5% and 95% quantiles.

        Returns
        -------
        lower : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Lower bound of the interval.

        upper : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Upper bound of the interval.
        """
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {confidence!r}.")
        if isinstance(self._loss, Pinball):
            return self._quantile_interval(X, confidence)
        factor = self._half_width_factor(confidence)
        if is_dask_collection(X):
            mean, std = self.predict(X, return_std=True)
            half_width = std * (factor if self.n_outputs_ > 1 else float(factor[0]))
            return mean - half_width, mean + half_width
        output = self._output(X, "predict_interval")
        mean, std = self._mean_std(X)
        half_width = std * torch.as_tensor(factor, dtype=std.dtype, device=std.device)
        return output(mean - half_width), output(mean + half_width)

    def _quantile_interval(self, X, confidence: float):
        """The fitted quantiles that bound the central ``confidence`` interval."""
        levels = np.asarray(self._loss.quantiles)
        bounds = (0.5 - confidence / 2, 0.5 + confidence / 2)
        # (1 - 0.9) / 2 is 0.04999999999999999 in floats: levels match to 1e-9.
        found = [np.flatnonzero(np.isclose(levels, bound, rtol=0, atol=1e-9)) for bound in bounds]
        if not all(len(index) for index in found):
            raise ValueError(
                f"predict_interval(confidence={confidence:g}) needs the quantiles "
                f"{bounds[0]:g} and {bounds[1]:g}, but the model was fitted with "
                f"quantile={sorted(levels.tolist())}; refit with both among the "
                "quantiles, or with quantile=None (the bounds of the 50%, 80%, 90% "
                "and 95% intervals)."
            )
        if is_dask_collection(X):
            return predict_lazily(self, "predict_interval", X, confidence=confidence)
        values = self._quantiles(X)
        output = self._output(X, "predict_interval")
        return tuple(output(values[..., int(index[0])]) for index in found)

    def _half_width_factor(self, confidence: float) -> np.ndarray:
        """Per target, the multiple of the std that makes the interval."""
        gaussian = np.full(self.n_outputs_, norm.ppf(0.5 + confidence / 2))
        quantiles = getattr(self, "_abs_z_quantiles", None)
        if quantiles is None:
            return gaussian
        return calibration.interval_half_width_factor(
            to_host(quantiles), self._n_held_out, confidence, gaussian
        )
