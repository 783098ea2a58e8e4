"""The estimator base both TorchMLPClassifier and TorchMLPRegressor share.

It owns the scikit-learn boundary: parameter constraints, fit/partial_fit
plumbing, early-stopping splits, the fitted attributes scikit-learn's MLP
exposes, tags and pickling. It calls on :mod:`sk_mlp._estimators.validation` to validate X,
:mod:`sk_mlp._engine.network` for the network a fit trains and
:func:`sk_mlp._engine.data.predict_rows` to predict. Subclasses only say how targets
are encoded, which loss applies and how outputs become predictions.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._compat.sklearn_private import (
    CallbackSupportMixin,
    Interval,
    Options,
    StrOptions,
    _fit_context,
)
from .._engine import defaults
from .._engine.array_space import (
    Output,
    check_fit_space,
    follow_inputs,
    input_space,
)
from .._engine.data import TrainingData, predict_rows
from .._engine.network import (
    architecture,
    check_numeric_embedding,
    fitted_embedding,
    initial_module,
    network_choices,
    randomness,
)
from .._engine.progress import Watchers, verbose_watchers
from .._engine.threads import limit_threads, thread_scope
from .._engine.training import (
    History,
    TrainingParams,
    convergence_message,
    make_gradients,
    make_optimizer,
    make_step,
    predict_raw,
    run_epochs,
    run_lbfgs,
)
from .._io.estimator_types import register_estimator
from .._nn.checks import check_batch_statistics
from .._nn.device import (
    check_precision,
    make_generator,
    resolve_device,
)
from .._nn.mlp import ACTIVATIONS, weight_layers
from .._preprocessing.checks import drop_zero_weight_rows, is_dask_collection
from .._scale.stream import fit_stream
from .callbacks import open_fit_task
from .state import FittedStateMixin
from .validation import check_fit_input, check_predict_input


class BaseTorchMLP(FittedStateMixin, CallbackSupportMixin, BaseEstimator, metaclass=ABCMeta):
    """Shared machinery of the sk_mlp estimators; not for direct use."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions({"adam", "adamw", "sgd", "lbfgs"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [
            StrOptions({"constant", "invscaling", "adaptive", "cosine", "warmup_cosine"})
        ],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"})],
        "normalization": [StrOptions({"batch", "layer"}), None],
        "n_ensemble": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "numeric_embedding": [StrOptions({"auto", "piecewise_linear", "periodic"}), None],
        "feature_scaling": ["boolean"],
        "preprocessing": [StrOptions({"robust"}), None],
        "categorical_features": ["array-like", StrOptions({"from_dtype"}), None],
        "device": [str, torch.device],
        "precision": [StrOptions({"float32", "bfloat16"})],
        "module": [callable, None],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        *,
        solver,
        alpha,
        batch_size,
        learning_rate,
        learning_rate_init,
        power_t,
        max_iter,
        loss,
        shuffle,
        random_state,
        tol,
        verbose,
        warm_start,
        momentum,
        nesterovs_momentum,
        early_stopping,
        validation_fraction,
        beta_1,
        beta_2,
        epsilon,
        n_iter_no_change,
        max_fun,
        dropout,
        normalization,
        n_ensemble,
        numeric_embedding,
        feature_scaling,
        preprocessing,
        categorical_features,
        device,
        precision,
        module,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.normalization = normalization
        self.n_ensemble = n_ensemble
        self.numeric_embedding = numeric_embedding
        self.feature_scaling = feature_scaling
        self.preprocessing = preprocessing
        self.categorical_features = categorical_features
        self.device = device
        self.precision = precision
        self.module = module

    # ----------------------------------------------------------- subclass hooks
    @abstractmethod
    def _encode_targets(self, y, sample_weight, *, first_pass: bool, classes=None):
        """Validate ``y``, fit target statistics on the first pass (setting
        ``n_outputs_``), and return the training target: float32 of shape
        (n_samples, n_targets), or int64 class indices."""

    @abstractmethod
    def _loss_function(self):
        """The loss object from :mod:`sk_mlp._nn.losses` for the targets being fitted."""

    @abstractmethod
    def _validation_score(self, loss, raw: torch.Tensor, y: torch.Tensor, weight) -> float:
        """Score of raw network outputs on the validation split; higher is better."""

    def _check_warm_start_targets(self, y) -> None:
        """Refuse targets a warm start cannot continue on (the classifier's
        classes); called before a warm-started ``fit`` changes anything."""

    def _loss_kind(self) -> str:
        """The loss the ``loss`` parameter names, aliases resolved."""
        return self.loss

    def _stratify(self, y_train: np.ndarray):
        return None

    def _dropout_rate(self) -> float:
        """The dropout probability, with ``'auto'`` resolved (docs/accuracy.rst)."""
        return defaults.dropout_rate(self)

    def _class_sample_weight(self, y, sample_weight):
        return sample_weight

    # ------------------------------------------------------------------- fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data. A dask array or data frame is streamed block by
            block and never held whole in memory (see :ref:`scaling`).

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in
            regression). With a dask ``X``, a dask array or series with the
            same blocks.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights. Each sample's loss is multiplied by its weight.

        Returns
        -------
        self : object
            Returns a trained MLP model.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _partial_fit(self, X, y, sample_weight=None, classes=None):
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    @contextlib.contextmanager
    def _unchanged_on_error(self):
        """Restore every attribute if fitting fails: no half-fitted estimator."""
        state = self.__dict__.copy()
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            raise

    def _fit(self, X, y, sample_weight, *, incremental, classes=None):
        dask = is_dask_collection(X)
        space = None if dask else input_space(X)  # array API dispatch when not None
        # Opened outside _unchanged_on_error, whose restore would drop the
        # callback context that _fit_context tears down.
        self._fit_task = open_fit_task(self, X, y, sample_weight, space, incremental=incremental)
        try:
            history = self._fit_data(X, y, sample_weight, space, dask, incremental, classes)
            if self._fit_task is not None:
                self._fit_task.end(history.stop_reason)
        finally:
            del self._fit_task
        return self._report(history, incremental)

    def _fit_data(self, X, y, sample_weight, space, dask, incremental, classes):
        if dask:
            # Data larger than memory: blocks streamed from dask (see _stream).
            return fit_stream(self, X, y, sample_weight, incremental, classes)
        with self._unchanged_on_error():
            self._check_hidden_layer_sizes()
            first_pass = self._is_first_pass(incremental)
            X, y, sample_weight = check_fit_input(
                self, space, X, y, sample_weight, reset=first_pass
            )
            if not first_pass and not incremental:
                self._check_warm_start_targets(y)
            y_train = self._encode_targets(y, sample_weight, first_pass=first_pass, classes=classes)
            sample_weight = self._class_sample_weight(y, sample_weight)
            X, y_train, sample_weight = drop_zero_weight_rows(X, y_train, sample_weight)
            seeds = self._next_seeds(first_pass)
            # Training needs autograd even when the caller runs under no_grad
            # or inference_mode.
            with torch.inference_mode(False), torch.enable_grad(), thread_scope():
                history = self._train(X, y_train, sample_weight, seeds, first_pass, incremental)
            follow_inputs(self, space)  # fitted arrays in X's namespace, on X's device
        return history

    def _report(self, history: History, incremental: bool):
        """Warn about an interrupted or unconverged fit; return the estimator."""
        if history.interrupted:
            warnings.warn("Training interrupted by user.", UserWarning, stacklevel=4)
        elif history.diverged:
            warnings.warn(history.diverged, ConvergenceWarning, stacklevel=5)
        elif not incremental and (
            message := convergence_message(history, self.solver, self.max_iter, self.max_fun)
        ):
            # stacklevel: _report <- _fit <- fit <- _fit_context's wrapper <- caller
            warnings.warn(message, ConvergenceWarning, stacklevel=5)
        return self

    def _is_first_pass(self, incremental: bool) -> bool:
        """Whether this call fits from scratch: a fresh fit, a first call, or
        a warm start after a parameter that shapes the network has changed
        (``partial_fit`` refuses to continue across such a change)."""
        if not hasattr(self, "module_") or not (self.warm_start or incremental):
            return True
        current, fitted = architecture(self), self._fitted_architecture
        changed = [
            name for name in current.keys() | fitted.keys() if current.get(name) != fitted.get(name)
        ]
        if not changed:
            return False
        if incremental:
            raise ValueError(
                f"partial_fit cannot continue this model: {sorted(changed)} changed "
                "since it was fitted, which changes the network or the target "
                "encoding. Call fit (with warm_start=False) to fit from scratch."
            )
        return True

    def _next_seeds(self, first_pass: bool) -> tuple[int, int]:
        """Fresh seeds for this call (initialisation and split; training),
        from a stream that ``random_state`` starts on the first pass:
        successive ``partial_fit`` and warm-start calls draw new shuffles and
        dropout masks, and the same sequence of calls gives the same model."""
        if first_pass:
            self._random_seed = int(
                check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            )
            self._n_calls = 0
        sequence = np.random.SeedSequence([self._random_seed, self._n_calls])
        self._n_calls += 1
        init_seed, train_seed = (int(word >> 1) for word in sequence.generate_state(2))
        return init_seed, train_seed

    def _check_hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if any(not isinstance(s, Integral) or s <= 0 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must contain positive integers, got "
                f"{self.hidden_layer_sizes!r}."
            )
        self._hidden_layer_sizes = tuple(int(s) for s in sizes)

    def _batch_size(self, n_samples: int) -> int:
        if self.solver == "lbfgs":
            return n_samples
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` larger than sample size. It is going to be clipped.",
                UserWarning,
                stacklevel=2,
            )
        return min(self.batch_size, n_samples)

    def _validation_rows(self, y, seed):
        """Train and validation row indices for early stopping.

        Classification splits are stratified where every class can appear on
        both sides; on data too small for that, the split is plain, and one
        validation row is enough. scikit-learn's MLP refuses both (a class of
        one member, fewer than two validation rows); sk_mlp fits them, as
        check_estimator's small data sets ask of every configuration
        (docs/user_guide/from_sklearn.rst).
        """
        n_samples = len(y)
        n_val = math.ceil(self.validation_fraction * n_samples)
        if n_samples < 2 or not 0 < n_val < n_samples:
            raise ValueError(
                f"early_stopping needs at least one training and one validation "
                f"sample, but validation_fraction={self.validation_fraction} of "
                f"n_samples={n_samples} leaves none; use more data or "
                f"early_stopping=False."
            )
        stratify = self._stratify(y)
        if stratify is not None:
            _, counts = np.unique(stratify, axis=0, return_counts=True)
            if counts.min() < 2 or n_val < len(counts) or n_samples - n_val < len(counts):
                stratify = None
        return train_test_split(
            np.arange(n_samples), test_size=n_val, random_state=seed, stratify=stratify
        )

    def _train(self, X, y, sample_weight, seeds, first_pass, incremental):
        seed, train_seed = seeds
        device = resolve_device(self.device, like=X)  # 'auto' follows a tensor X
        check_precision(self.precision, device, self.solver)
        n_samples = X.shape[0]
        early_stopping = defaults.early_stopping(self, n_samples, incremental=incremental)
        embedding, n_ensemble = network_choices(
            self,
            n_samples,
            dense=not sp.issparse(X),
            early_stopping=early_stopping,
            first_pass=first_pass,
        )
        check_numeric_embedding(embedding, X)
        # Rebuilt on warm starts too: label_smoothing may have changed.
        loss = self._loss_function()
        module = initial_module(
            self, X, sample_weight, loss, seed, first_pass, embedding, n_ensemble
        )
        generator = make_generator(train_seed, device)
        data, network = TrainingData.prepare(
            X,
            y,
            sample_weight,
            module.to(device),
            device,
            densify=self.module is not None,
            generator=generator,
        )
        val_data = None
        if early_stopping:
            # The estimator's own seed: warm starts on the same data keep the
            # validation rows of the first fit.
            train_rows, val_rows = self._validation_rows(y, self._random_seed)
            data, val_data = data.subset(train_rows), data.subset(val_rows)
        # A user's module may rely on autograd in ways a plain stack cannot
        # show; sparse batches go through autograd too.
        hand_written = self.module is None and not sp.issparse(X)
        return self._run_training(
            module, network, loss, data, val_data, hand_written, train_seed, first_pass, incremental
        )

    def _run_training(
        self, module, network, loss, data, val_data, hand_written, seed, first_pass, incremental
    ) -> History:
        """Train ``network`` (``module`` after its fixed input layer) on
        ``data``, early-stopping on ``val_data`` if given, and store the fit.

        ``data`` is any object with :class:`~sk_mlp._engine.data.TrainingData`'s
        batches protocol: arrays in memory, or blocks streamed from dask.
        """
        device = data.device
        generator = data.generator
        early_stopping = val_data is not None
        if first_pass:
            history = History(early_stopping)
        else:
            history = self._resume_history(early_stopping, incremental)
        validate = None
        if early_stopping:

            def validate(network):
                return self._validation_score(
                    loss, predict_raw(network, val_data), *val_data.targets()
                )

            if not first_pass:
                # A warm start's bar to beat is its starting point, scored on
                # this fit's validation rows.
                history.best_validation_score = validate(network)
                history.best_state = copy.deepcopy(network.state_dict())
        batch_size = self._batch_size(len(data))
        check_batch_statistics(network, batch_size)
        limit_threads(network, batch_size, device)
        params = TrainingParams.from_estimator_params(self.get_params())
        optimizer = make_optimizer(network, params)
        if incremental and not first_pass and self._optimizer_solver == self.solver:
            # A copy: the optimizer updates loaded state in place, and a failed
            # call must leave the fitted estimator's state untouched.
            optimizer.load_state_dict(copy.deepcopy(self._optimizer_state))
        watcher = Watchers(
            [
                *verbose_watchers(
                    self.verbose,
                    1 if incremental else self.max_iter,
                    self.tol,
                    self.n_iter_no_change,
                ),
                None
                if self._fit_task is None
                else self._fit_task.epochs(module, optimizer, device, loss),
            ]
        )
        with randomness(network, generator, seed, device, self.module is not None):
            if self.solver == "lbfgs":
                run_lbfgs(network, loss, optimizer, data, params, history, watcher)
            else:
                run_epochs(
                    network,
                    make_gradients(network, loss, hand_written, precision=self.precision),
                    optimizer,
                    make_step(network, optimizer, params, batch_size * data.mean_weight),
                    data,
                    params,
                    history,
                    batch_size,
                    1 if incremental else self.max_iter,
                    validate,
                    watcher,
                )
        self._store_fit(module, optimizer, history, device, loss)
        return history

    def _resume_history(self, early_stopping: bool, incremental: bool) -> History:
        """Continue the curves of a previous fit (warm start or partial_fit).

        ``partial_fit`` continues the stopping bookkeeping too; a warm start
        judges improvement afresh on its own data.
        """
        history = History(early_stopping)
        history.loss_curve = list(self.loss_curve_)
        # Epochs count on from every earlier call (the schedules follow them);
        # n_iter_ will count this call's only, as scikit-learn's does.
        history.n_iter = history.start_iter = self._n_epochs
        history.t = self.t_
        if incremental and self.best_loss_ is not None:
            history.best_loss = self.best_loss_
            history.no_improvement_count = self._no_improvement_count
        if not incremental:
            history.schedule_start = history.n_iter  # a warm start begins a new schedule
        if early_stopping and self.validation_scores_ is not None:
            history.validation_scores = list(self.validation_scores_)
        return history

    def _fitted_state(self, module, optimizer, history, device, loss) -> dict:
        """The fitted attributes of ``module``, trained on ``device`` with
        ``loss`` as ``history`` records: what _store_fit sets, and, on copies
        of the network and of the records, the model each epoch hands the
        callbacks (sk_mlp._estimators.callbacks)."""
        stochastic = self.solver != "lbfgs"
        state = {
            # Ready for inference: no dropout, running statistics.
            "module_": module.eval(),
            "device_": str(device),
            "_fitted_architecture": architecture(self),
            "n_layers_": len(weight_layers(module)) + 1,
            "out_activation_": loss.out_activation,
            "_loss": loss,
            "_optimizer_state": optimizer.state_dict() if stochastic else None,
            "_optimizer_solver": self.solver if stochastic else None,
            "n_iter_": history.n_iter - history.start_iter,
            "_n_epochs": history.n_iter,
            "t_": history.t,
            "_no_improvement_count": history.no_improvement_count,
            "loss_curve_": history.loss_curve,
            # None when training was interrupted before its first epoch ended.
            "loss_": history.loss_curve[-1] if history.loss_curve else None,
        }
        if history.early_stopping:
            state["validation_scores_"] = history.validation_scores
            state["best_validation_score_"] = history.best_validation_score
            state["best_loss_"] = None
        else:
            state["validation_scores_"] = None
            state["best_validation_score_"] = None
            state["best_loss_"] = history.best_loss
        return state

    def _store_fit(self, module, optimizer, history, device, loss):
        vars(self).update(self._fitted_state(module, optimizer, history, device, loss))
        # Assigned weights, if any, started this network.
        vars(self).pop("_assigned_coefs", None)
        vars(self).pop("_assigned_intercepts", None)

    # ---------------------------------------------------------------- prediction
    def _output(self, X, method: str) -> Output:
        """How ``method`` returns its results for X: NumPy arrays, or X's
        namespace and device under array API dispatch (sk_mlp._engine.array_space)."""
        check_is_fitted(self)
        check_fit_space(self, X, method)
        return Output(input_space(X))

    def _forward(self, X) -> torch.Tensor:
        """Validate X for prediction and return the raw network outputs."""
        check_is_fitted(self)
        X = check_predict_input(self, X)
        # Sparse rows reach a network sk_mlp built as sparse products; a
        # user's module gets them densified, in chunks bounded in bytes.
        fitted = self._fitted_architecture
        user_module = fitted["module"] is not None
        embedded = fitted_embedding(self.module_) is not None
        sparse = sp.issparse(X) and not user_module and not embedded
        device = torch.device(self.device_)
        module = self.module_.eval()
        return predict_rows(module, X, device, sparse=sparse, user_module=user_module)

    # ---------------------------------------------------------------------- tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The numeric embeddings are fitted on dense data ('auto' goes without
        # one on sparse data).
        tags.input_tags.sparse = self.numeric_embedding in (None, "auto") or self.module is not None
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.array_api_support = True
        return tags


# Saving, loading and export dispatch on the class without importing it.
register_estimator("base", BaseTorchMLP)
