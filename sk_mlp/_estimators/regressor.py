"""TorchMLPRegressor: target scaling, and mean or mean-and-std predictions
(intervals and the calibration of the std: :mod:`sk_mlp._estimators.uncertainty`)."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.validation import check_is_fitted

from .._compat.sklearn_private import Interval, StrOptions, _fit_context
from .._engine.array_space import follow_inputs, input_space, to_host
from .._io.estimator_types import register_estimator
from .._nn.device import widest_float
from .._nn.losses import REGRESSION_LOSSES, GaussianNLL, Pinball, weighted_mean
from .._preprocessing.checks import is_dask_collection
from .._scale.dask_collections import predict_lazily
from . import docstrings
from .base import BaseTorchMLP
from .partial_fit import _supports_partial_fit, partial_fit_if_supported
from .uncertainty import UncertaintyMixin, quantile_levels


class TorchMLPRegressor(UncertaintyMixin, RegressorMixin, BaseTorchMLP):
    _parameter_constraints: dict = {
        **BaseTorchMLP._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
        "quantile": [Interval(numbers.Real, 0, 1, closed="neither"), "array-like", None],
        "uncertainty_calibration": [StrOptions({"auto"}), None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        loss="squared_error",
        quantile=None,
        uncertainty_calibration="auto",
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping="auto",
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout="auto",
        normalization=None,
        n_ensemble="auto",
        numeric_embedding="auto",
        feature_scaling=False,
        preprocessing="robust",
        categorical_features="from_dtype",
        device="cpu",
        precision="float32",
        module=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss=loss,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dropout=dropout,
            normalization=normalization,
            n_ensemble=n_ensemble,
            numeric_embedding=numeric_embedding,
            feature_scaling=feature_scaling,
            preprocessing=preprocessing,
            categorical_features=categorical_features,
            device=device,
            precision=precision,
            module=module,
        )
        self.quantile = quantile
        self.uncertainty_calibration = uncertainty_calibration

    # Target statistics: fitted arrays that follow X (sk_mlp._engine.array_space).
    _arrays_following_X = (
        "_y_loc",
        "_y_scale",
        "variance_scale_",
        "variance_offset_",
        "_abs_z_quantiles",
        "quantiles_",
    )

    # ------------------------------------------------------------ target hooks
    def _encode_targets(self, y, sample_weight, *, first_pass, classes=None):
        """Standardize y per output (Poisson: divide by the mean, keeping the
        log link); the statistics are fitted once, on the first pass."""
        y = np.asarray(y, dtype=np.float64)
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        if first_pass:
            self._fit_target_scaling(y, sample_weight)
        elif y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y.shape[1]} outputs; the model was fitted with "
                f"{self.n_outputs_}. Refit with warm_start=False to change them."
            )
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError(
                "loss='poisson' requires non-negative targets, but y has negative "
                "values; use loss='squared_error' or shift y."
            )
        loc, scale = to_host(self._y_loc), to_host(self._y_scale)
        # Two divisions rather than (y - loc) / scale: the difference of two
        # values near float64's limit could overflow.
        encoded = y / scale - loc / scale
        if sample_weight is not None:
            # Never trained on, and their y may be beyond float32's range.
            encoded[to_host(sample_weight) == 0] = 0.0
        return encoded.astype(np.float32)

    def _fit_target_scaling(self, y, sample_weight):
        # Divided by its largest magnitude, y's moments stay finite (no
        # overflow near float64's range) and keep their precision at any
        # scale (no underflow for y of order 1e-12).
        # Rows of weight zero count nowhere (their y could be anything).
        weighted = sample_weight > 0
        y, sample_weight = y[weighted], sample_weight[weighted]
        magnitude = np.max(np.abs(y), axis=0, initial=0.0)
        magnitude = np.where(magnitude > 0, magnitude, 1.0)
        unit_y = y / magnitude
        unit_mean = np.average(unit_y, axis=0, weights=sample_weight)
        unit_std = np.sqrt(np.average((unit_y - unit_mean) ** 2, axis=0, weights=sample_weight))
        self._set_target_scaling(magnitude, unit_mean, unit_std)

    def _set_target_scaling(self, magnitude, unit_mean, unit_std):
        """The target scaling from y's largest magnitude per output and the
        weighted mean and standard deviation of y divided by it (computed in
        memory above, or merged over the blocks of a streamed fit)."""
        self.n_outputs_ = len(magnitude)
        if self.loss == "poisson":
            self._y_loc = np.zeros(self.n_outputs_)
            self._y_scale = np.where(unit_mean > 0, unit_mean * magnitude, 1.0)
            return
        self._y_loc = unit_mean * magnitude
        # A spread below float64's resolution of the mean is rounding noise:
        # such a target is constant.
        varies = unit_std > 1e-12 * np.abs(unit_mean)
        self._y_scale = np.where(varies, unit_std * magnitude, 1.0)

    def _loss_function(self):
        if self.loss == "quantile":
            return Pinball(quantile_levels(self.quantile))
        return REGRESSION_LOSSES[self.loss]()

    def _loss_kind(self) -> str:
        return "squared_error" if self.loss == "mse" else self.loss

    def _dropout_rate(self) -> float:
        if self.dropout == "auto" and self._loss_kind() == "gaussian_nll":
            # The variance head would learn the dropout noise as noise in y.
            return 0.0
        return super()._dropout_rate()

    def _validation_score(self, loss, raw, y, weight) -> float:
        """R^2 of the mean, or minus the mean Gaussian NLL for ``gaussian_nll``,
        or minus the mean pinball loss of the (sorted) quantiles for ``quantile``."""
        if isinstance(loss, GaussianNLL):
            return float(-weighted_mean(loss.nll(raw, y), weight))
        if isinstance(loss, Pinball):
            return float(-weighted_mean(loss(loss.quantile_values(raw).flatten(1), y), weight))
        residual = weighted_mean((y - loss.mean(raw)).square(), weight)
        deviation = weighted_mean((y - weighted_mean(y, weight)).square(), weight)
        # A constant target scores 1 if predicted exactly and 0 otherwise, as
        # in r2_score: a finite score, so that early stopping can stall on it.
        constant = torch.where(residual == 0, 1.0, 0.0)
        r2 = torch.where(deviation > 0, 1 - residual / deviation, constant)
        return float(r2.mean())

    # --------------------------------------------------------------- fitting
    def _fit(self, X, y, sample_weight, *, incremental, classes=None):
        with self._unchanged_on_error():
            super()._fit(X, y, sample_weight, incremental=incremental, classes=classes)
            self._set_quantile_output()
            if incremental or is_dask_collection(X) or not self._calibrates():
                # A streamed or incremental fit has no rows to hold out.
                self._set_std_calibration(None, None, None)
            else:
                self._calibrate_std(X, y, sample_weight)
            if not is_dask_collection(X):
                follow_inputs(self, input_space(X))  # the arrays set here too
        return self

    @partial_fit_if_supported(_supports_partial_fit)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data. A dask array or data frame is streamed: one
            epoch over its blocks.

        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        return self._partial_fit(X, y, sample_weight)

    # ------------------------------------------------------------ prediction
    def predict(self, X, return_std=False):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        return_std : bool, default=False
            If True, also return the standard deviation of the predictive
            distribution, in the units of y. Requires ``loss='gaussian_nll'``.

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values (the mean of the predictive distribution).
            With ``loss='quantile'``, the predicted quantile (the median for
            ``quantile=None``); for a sequence of quantiles, one per quantile
            along a last axis: of shape (n_samples, n_quantiles) or
            (n_samples, n_outputs, n_quantiles), in the order of ``quantile``.

        y_std : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Standard deviation of the predictive distribution. Only returned
            when ``return_std`` is True.
        """
        check_is_fitted(self)
        if return_std and self.out_activation_ != "gaussian":
            raise ValueError(
                "return_std=True needs a model fitted with loss='gaussian_nll'; "
                f"this one was fitted with a loss that predicts no variance "
                f"(out_activation_={self.out_activation_!r})."
            )
        if is_dask_collection(X):
            return predict_lazily(self, "predict", X, return_std=return_std)
        output = self._output(X, "predict")
        if return_std:
            return tuple(map(output, self._mean_std(X)))
        if isinstance(self._loss, Pinball):
            return output(self._quantiles(X, self._quantile_index))
        return output(self._to_y_units(self._loss.mean(self._forward(X))))

    def _to_y_units(self, values: torch.Tensor, shift: bool = True) -> torch.Tensor:
        """Network outputs in the units of y, in float64 where the device has it."""
        dtype = widest_float(values.device)

        def statistic(name):
            value = getattr(self, name)  # NumPy, or X's namespace (sk_mlp._engine.array_space)
            value = value if isinstance(value, torch.Tensor) else to_host(value)
            return torch.as_tensor(value, dtype=dtype, device=values.device)

        # One statistic per target, the second axis of (n_samples, n_outputs, ...).
        per_target = (slice(None),) + (None,) * (values.ndim - 2)
        out = values.to(dtype) * statistic("_y_scale")[per_target]
        if shift:
            out += statistic("_y_loc")[per_target]
        return out.squeeze(1) if self.n_outputs_ == 1 else out

    def score(self, X, y, sample_weight=None):
        """Return the coefficient of determination of the prediction.

        As :meth:`sklearn.base.RegressorMixin.score`: :math:`R^2` of
        ``predict(X)``. With ``loss='quantile'`` that is the predicted
        quantile (the median for ``quantile=None``), as
        :class:`~sklearn.ensemble.HistGradientBoostingRegressor` scores its
        quantile; for a sequence of quantiles, the one nearest 0.5 (the median
        if fitted).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Test samples.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True values for `X`.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            :math:`R^2` of the prediction w.r.t. `y`.
        """
        if getattr(self, "_quantile_index", None) is not None or not isinstance(
            getattr(self, "_loss", None), Pinball
        ):
            return super().score(X, y, sample_weight=sample_weight)
        nearest = int(np.argmin(np.abs(np.asarray(self._loss.quantiles) - 0.5)))
        return r2_score(y, self.predict(X)[..., nearest], sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags


TorchMLPRegressor.__doc__ = docstrings.fill(
    """Multi-layer perceptron regressor trained with PyTorch.

    A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor`
    (same parameter names and fitted attributes where the meaning is the same)
    that trains on a CPU or GPU, with modern optimizers, dropout,
    normalization, learning-rate schedules and early stopping that restores
    the best weights. Targets are standardized internally and predictions
    returned in the units of y. With ``loss='gaussian_nll'`` it predicts a
    mean and a standard deviation per sample, calibrated on held-out rows;
    with ``loss='quantile'``, one or several quantiles.

    Parameters
    ----------
    {architecture}
    {training}
    loss : {{'squared_error', 'mse', 'gaussian_nll', 'poisson', 'quantile'}}, \
default='squared_error'
        The loss minimised.

        - 'squared_error' (alias 'mse'): half the mean squared error;
          ``predict`` returns the conditional mean.
        - 'gaussian_nll': the Gaussian negative log-likelihood of a mean and a
          variance that both depend on x (with the beta-NLL weighting of
          Seitzer et al., 2022, beta=0.5). ``predict(X, return_std=True)``
          returns the mean and standard deviation; ``predict_interval`` the
          central interval for a given confidence. Early stopping selects on
          the validation NLL.
        - 'poisson': Poisson deviance with a log link, for counts and other
          non-negative targets.
        - 'quantile': the pinball loss of the quantiles ``quantile`` asks
          for, one output per quantile and target from one network; a
          target's quantiles are sorted, so they never cross.
          ``predict_interval`` returns fitted quantiles as bounds. Early
          stopping selects on the validation pinball loss.

    quantile : float, array-like of shape (n_quantiles,) or None, default=None
        The quantiles ``loss='quantile'`` estimates (ignored by the other
        losses), each in (0, 1). The pinball loss is computed on the
        standardized target, whose quantiles map back to those of y.

        - float: that quantile, which ``predict`` returns, as
          :class:`~sklearn.ensemble.HistGradientBoostingRegressor` does.
        - sequence of floats: all of them; ``predict`` returns them along a
          last axis, in the order given.
        - None: the median, which ``predict`` returns, and the quantiles
          0.025, 0.05, 0.1, 0.25, 0.75, 0.9, 0.95 and 0.975, the bounds of
          the central 50%, 80%, 90% and 95% intervals of
          ``predict_interval``. (HistGradientBoostingRegressor requires a
          value.)

        ``score`` is :math:`R^2` of the fitted quantile nearest 0.5.

    uncertainty_calibration : {{'auto'}} or None, default='auto'
        How ``loss='gaussian_nll'`` calibrates its std on rows the network
        did not train on (ignored by the other losses).

        - 'auto': after the fit, copies of the estimator are fitted on folds
          of the training rows (one fit on 80% of them from 5,000 rows up;
          up to five folds below that, enough to hold out about 1,000 rows).
          Their held-out residuals set the variance ``variance_scale_ *
          s**2 + variance_offset_`` (``s`` the network's std) by maximum
          likelihood, and the quantiles of the residuals divided by that std
          set the half-widths of ``predict_interval`` (split-conformal). The
          network itself is trained on all rows, so the mean is unchanged;
          the fit takes about twice as long (more on small data). Not done
          by ``partial_fit``, by streamed (dask) fits, or on fewer than 20
          rows.
        - None: the network's own std, and Gaussian intervals. On real data
          it is often far too small: the variance head learns the training
          residuals, which are smaller than those on new rows.

    {training_more}
    {torch}
    Attributes
    ----------
    n_outputs_ : int
        Number of targets. With ``loss='gaussian_nll'`` the network has twice
        as many output units (a mean and a variance per target); with
        ``loss='quantile'``, one per target and quantile.

    out_activation_ : str
        Name of the output link: ``'identity'``, ``'exp'`` (Poisson),
        ``'gaussian'`` (identity mean and softplus variance) or
        ``'quantile'`` (each target's quantiles sorted).

    quantiles_ : ndarray of shape (n_quantiles,) or None
        With ``loss='quantile'``, the quantiles fitted, in the order of the
        last axis of ``predict`` for a sequence of them; None for the other
        losses.

    variance_scale_ : ndarray of shape (n_outputs,) or None
        With ``loss='gaussian_nll'``, the factor on the network's variance in
        the calibrated variance (1 without calibration); None for the other
        losses.

    variance_offset_ : ndarray of shape (n_outputs,) or None
        With ``loss='gaussian_nll'``, the variance added to it, in the units
        of y squared (0 without calibration); None for the other losses.

    {fitted}
    See Also
    --------
    TorchMLPClassifier : Multi-layer perceptron classifier trained with PyTorch.
    sklearn.neural_network.MLPRegressor : The scikit-learn implementation, in NumPy.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_mlp import TorchMLPRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(300, 1))
    >>> y = np.sin(X).ravel() + rng.normal(scale=0.1 + 0.1 * np.abs(X).ravel())
    >>> reg = TorchMLPRegressor(loss="gaussian_nll", max_iter=100, random_state=0)
    >>> reg = reg.fit(X, y)
    >>> mean, std = reg.predict(X[:2], return_std=True)
    >>> mean.shape, std.shape
    ((2,), (2,))
    """,
    auto_ensemble=True,
)


# Saving, loading and export dispatch on the class without importing it.
register_estimator("regressor", TorchMLPRegressor)
