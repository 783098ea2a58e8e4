"""TorchMLPClassifier: label encoding, class weights and probabilities."""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from .._compat.sklearn_private import Interval, StrOptions, _fit_context
from .._engine import defaults
from .._engine.training import predict_raw
from .._io.estimator_types import register_estimator
from .._nn.device import widest_float
from .._nn.losses import CLASSIFICATION_LOSSES, classification_loss, weighted_mean
from .._preprocessing.checks import is_dask_collection
from .._scale.dask_collections import predict_lazily
from . import calibration, docstrings
from .base import BaseTorchMLP
from .partial_fit import _supports_partial_fit, partial_fit_if_supported


def _classifier_supports_partial_fit(estimator) -> bool:
    if estimator.class_weight == "balanced":
        raise AttributeError(
            "partial_fit does not support class_weight='balanced': one batch's class "
            "frequencies are not the data's. Compute the weights once from a large "
            "enough sample y_sample of the targets, e.g. dict(zip(classes, "
            "compute_class_weight('balanced', classes=classes, y=y_sample))), and pass "
            "that dict as class_weight."
        )
    if estimator.uncertainty_calibration == "temperature":
        raise AttributeError(
            "partial_fit holds out no rows to fit uncertainty_calibration='temperature' "
            "on; use uncertainty_calibration='auto' (partial_fit then resets "
            "temperature_ to 1) or None."
        )
    return _supports_partial_fit(estimator)


class TorchMLPClassifier(ClassifierMixin, BaseTorchMLP):
    _parameter_constraints: dict = {
        **BaseTorchMLP._parameter_constraints,
        "loss": [StrOptions(set(CLASSIFICATION_LOSSES))],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "uncertainty_calibration": [StrOptions({"auto", "temperature"}), None],
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
        loss="log_loss",
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
        class_weight=None,
        label_smoothing=0.0,
        dropout="auto",
        normalization=None,
        n_ensemble=1,
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
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.uncertainty_calibration = uncertainty_calibration

    # ------------------------------------------------------------ target hooks
    def _encode_targets(self, y, sample_weight, *, first_pass, classes=None):
        multilabel = type_of_target(y).startswith("multilabel")
        if not multilabel:
            y = column_or_1d(y, warn=True)
        if first_pass:
            self._fit_labels(y, classes, multilabel)
        if not first_pass or classes is not None:
            self._check_known_labels(y, classes, multilabel)
        if self._target_type == "multiclass":
            return np.searchsorted(self.classes_, y).astype(np.int64)
        return self._label_binarizer.transform(y).astype(np.float32)

    def _fit_labels(self, y, classes, multilabel):
        check_classification_targets(y)
        binarizer = LabelBinarizer()
        binarizer.fit(y if classes is None or multilabel else classes)
        if len(binarizer.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the "
                f"data, but the data contains only one class: {binarizer.classes_[0]!r}."
            )
        self._label_binarizer = binarizer
        self.classes_ = binarizer.classes_
        if multilabel:
            self._target_type = "multilabel-indicator"
        else:
            self._target_type = "multiclass" if len(self.classes_) > 2 else "binary"
        self.n_outputs_ = 1 if self._target_type == "binary" else len(self.classes_)

    def _check_known_labels(self, y, classes, multilabel):
        if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"`classes={classes!r}` is not the same as on the first call to "
                f"partial_fit, which was {self.classes_!r}."
            )
        if multilabel != (self._target_type == "multilabel-indicator"):
            raise ValueError(
                "The type of target changed since the model was fitted: it was "
                f"{self._target_type!r}; fit from scratch (warm_start=False)."
            )
        if multilabel:
            if y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"y has {y.shape[1]} labels; the model was fitted with {len(self.classes_)}."
                )
            return
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if len(unknown):
            raise ValueError(
                f"y contains classes {unknown!r} not seen when the model was first "
                f"fitted; known classes are {self.classes_!r}. Pass every class with "
                "partial_fit(..., classes=...) or refit with warm_start=False."
            )

    def _check_warm_start_targets(self, y):
        if type_of_target(y).startswith("multilabel"):
            return  # _check_known_labels compares the label columns
        classes = np.unique(column_or_1d(y))
        if set(classes) != set(self.classes_):
            # scikit-learn's message: a warm start keeps the output layer, one
            # unit per class, so it needs the classes of the previous fit.
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the "
                f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
            )

    def _class_sample_weight(self, y, sample_weight):
        if self.class_weight is None:
            return sample_weight
        return sample_weight * compute_sample_weight(self.class_weight, y)

    def _stratify(self, y_train):
        if self._target_type == "multilabel-indicator":
            return None
        if self._target_type == "binary":
            # scikit-learn's stratification (and its error message) is over
            # the binarized target.
            return y_train.astype(bool)
        return self.classes_[y_train]

    def _loss_function(self):
        return classification_loss(self._target_type, self.label_smoothing)

    def _loss_kind(self) -> str:
        return "log_loss"  # 'cross_entropy' is an alias; the targets decide the form

    def _validation_score(self, loss, raw, y, weight) -> float:
        """Minus the validation log loss, weighted when weights are given.

        Accuracy, which scikit-learn's MLP uses here, plateaus on small
        validation sets and stops training long before the model is good; the
        log loss keeps improving as long as the model does. It is the log
        loss against the true labels, label smoothing or not.
        """
        return float(-weighted_mean(loss.log_loss(raw, y), weight))

    # --------------------------------------------------------------- fitting
    def _run_training(self, module, network, loss, data, val_data, *args):
        """Train, then fit ``temperature_`` on the validation rows, if any."""
        held_out = val_data is not None
        if self.uncertainty_calibration == "temperature" and not held_out:
            raise ValueError(
                "uncertainty_calibration='temperature' fits the temperature on the "
                "rows early stopping holds out, but this fit holds out none "
                f"(early_stopping={self.early_stopping!r}, solver={self.solver!r}; "
                f"'auto' holds rows out from {defaults.AUTO_MIN_SAMPLES:,} samples, "
                "L-BFGS never). Set early_stopping=True with a stochastic solver, or "
                "use uncertainty_calibration='auto', which calibrates where rows are "
                "held out, or None."
            )
        history = super()._run_training(module, network, loss, data, val_data, *args)
        if defaults.temperature_scaling(self, held_out):
            # The validation rows chose the best epoch too; one scalar fitted
            # on them overfits them little.
            raw = predict_raw(network, val_data)
            y, weight = val_data.targets()
            self.temperature_ = calibration.fit_temperature(
                raw, y, weight, softmax=self._target_type == "multiclass"
            )
        return history

    def _fitted_state(self, module, optimizer, history, device, loss) -> dict:
        # Uncalibrated until training ends (and after partial_fit, whose
        # network is no longer the one a temperature was fitted for).
        state = super()._fitted_state(module, optimizer, history, device, loss)
        return {**state, "temperature_": 1.0}

    @partial_fit_if_supported(_classifier_supports_partial_fit)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data. A dask array or data frame is streamed: one
            epoch over its blocks.

        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit. Required on the first
            call for single-label targets, since ``y`` may not contain all
            classes; can be omitted in later calls, and for a dask ``X``,
            whose statistics pass sees every label.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        if not hasattr(self, "classes_") and classes is None and not is_dask_collection(X):
            if not type_of_target(y).startswith("multilabel"):
                raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._partial_fit(X, y, sample_weight, classes=classes)

    # ------------------------------------------------------------ prediction
    def predict(self, X):
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes (an indicator matrix for multilabel targets).
        """
        if is_dask_collection(X):
            return predict_lazily(self, "predict", X)
        output = self._output(X, "predict")
        # Untempered: dividing logits by T > 0 keeps their order and signs.
        proba = self._log_proba(X, tempered=False).exp()
        if self._target_type == "multilabel-indicator":
            return output((proba > 0.5).to(torch.int64))
        return output.labels(self.classes_, proba.argmax(dim=1))

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The predicted probability of the sample for each class in the
            model, where classes are ordered as they are in `self.classes_`.
        """
        if is_dask_collection(X):
            return predict_lazily(self, "predict_proba", X)
        return self._output(X, "predict_proba")(self._log_proba(X).exp())

    def predict_log_proba(self, X):
        """Return the log of probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            The predicted log-probability of the sample for each class
            in the model, where classes are ordered as they are in
            `self.classes_`.
        """
        if is_dask_collection(X):
            return predict_lazily(self, "predict_log_proba", X)
        return self._output(X, "predict_log_proba")(self._log_proba(X))

    def _log_proba(self, X, tempered: bool = True) -> torch.Tensor:
        """Log-probabilities, computed where the network is, of the logits
        divided by ``temperature_`` if ``tempered``."""
        raw = self._forward(X)
        # float64 for the link, so that probabilities sum to one to float64
        # precision, as scikit-learn's metrics check.
        raw = raw.to(widest_float(raw.device))
        if tempered and self.temperature_ != 1.0:
            raw = raw / self.temperature_
        log_proba = self._loss.log_proba(raw)
        if self._target_type == "binary":
            log_proba = torch.cat([self._loss.complement_log_proba(raw), log_proba], dim=1)
        return log_proba

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


TorchMLPClassifier.__doc__ = docstrings.fill(
    """Multi-layer perceptron classifier trained with PyTorch.

    A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier`
    (same parameter names and fitted attributes where the meaning is the same)
    that trains on a CPU or GPU, with modern optimizers, dropout,
    normalization, learning-rate schedules, early stopping that restores the
    best weights, and class weights. It minimises the cross-entropy: softmax
    over classes for multiclass targets, a sigmoid per column for binary and
    multilabel targets.

    Parameters
    ----------
    {architecture}
    {training}
    loss : {{'log_loss', 'cross_entropy'}}, default='log_loss'
        The loss minimised: the cross-entropy (``'cross_entropy'`` is an
        alias).

    uncertainty_calibration : {{'auto', 'temperature'}} or None, default='auto'
        Temperature scaling of the probabilities on rows the network did not
        train on: after training, one scalar ``temperature_`` ``T > 0`` is
        fitted to minimise the log loss of the early-stopping validation rows
        (weighted by ``sample_weight`` and ``class_weight``, as the early
        stopping score is), and ``predict_proba`` and ``predict_log_proba``
        divide the logits by it (for an ensemble, the log of the members'
        mean probabilities). ``predict`` is unchanged: dividing by ``T``
        keeps the logits' order and signs. A weak prior keeps ``T`` near 1
        where the held-out rows say little (few rows, all classified right).

        - 'auto': where the fit holds out validation rows
          (``early_stopping='auto'`` from 1,000 samples, or ``True``, with a
          stochastic solver); otherwise ``temperature_`` is 1.
        - 'temperature': the same, but a fit that holds out no rows raises a
          ``ValueError``, and ``partial_fit`` is unavailable.
        - None: the network's own probabilities (``temperature_`` is 1).

        ``partial_fit`` and a warm-started ``fit`` without validation rows
        set ``temperature_`` back to 1: the network they update is no longer
        the one the temperature was fitted for. See :ref:`probabilities`.

    {training_more}
    class_weight : dict, 'balanced' or None, default=None
        Weights associated with classes in the form ``{{class_label: weight}}``.
        ``'balanced'`` uses ``n_samples / (n_classes * np.bincount(y))``.
        Class weights multiply ``sample_weight``. ``partial_fit`` is not
        available with ``'balanced'`` (one batch's class frequencies are not
        the data's); pass a dict computed from the whole target instead.

    label_smoothing : float, default=0.0
        Label smoothing of the training loss, in [0, 1): the target of the
        cross-entropy is ``1 - label_smoothing`` on the true class plus
        ``label_smoothing / n_classes`` on every class (for binary and
        multilabel targets, per label with two classes), as in
        :class:`torch.nn.CrossEntropyLoss`. It regularises the network
        against over-confident logits; ``predict_proba`` is then less
        confident by design: a well-fitted model's probabilities lean
        towards ``1 - label_smoothing + label_smoothing / n_classes`` rather
        than 1, which raises the log loss of confident correct predictions.
        Keep the default 0 where the probabilities themselves are used (log
        loss, calibration, thresholds). ``loss_curve_`` reports the smoothed
        loss; early stopping scores the true log loss.

    {torch}
    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels for each output.

    n_outputs_ : int
        Number of network outputs: 1 for binary targets, else the number of
        classes or labels.

    out_activation_ : str
        Name of the output activation function: ``'logistic'`` or
        ``'softmax'``.

    temperature_ : float
        The temperature the logits are divided by in ``predict_proba`` and
        ``predict_log_proba`` (see ``uncertainty_calibration``); 1.0 where
        none was fitted.

    {fitted}
    See Also
    --------
    TorchMLPRegressor : Multi-layer perceptron regressor trained with PyTorch.
    sklearn.neural_network.MLPClassifier : The scikit-learn implementation, in NumPy.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sk_mlp import TorchMLPClassifier
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = TorchMLPClassifier(max_iter=50, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:1]).shape
    (1, 2)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> bool(clf.score(X, y) > 0.9)
    True
    """
)


# Saving, loading and export dispatch on the class without importing it.
register_estimator("classifier", TorchMLPClassifier)
