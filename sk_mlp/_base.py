"""The estimator base both TorchMLPClassifier and TorchMLPRegressor share.

It owns the scikit-learn boundary: parameter constraints, data validation,
fit/partial_fit plumbing, early-stopping splits, prediction in chunks, the
fitted attributes scikit-learn's MLP exposes, tags and pickling. Subclasses
only say how targets are encoded, which loss applies and how outputs become
predictions.
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
from sklearn.base import BaseEstimator, is_regressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._device import (
    fork_rng,
    is_available,
    resolve_device,
    to_numpy,
    to_tensor,
    tree_to,
)
from ._module import ACTIVATIONS, RobustInput, build_mlp, fit_robust_input, linear_layers
from ._sklearn_private import (
    Interval,
    Options,
    StrOptions,
    _check_sample_weight,
    _fit_context,
)
from ._threads import limit_threads, thread_scope, threads_for_step
from ._training import (
    History,
    TrainingData,
    TrainingParams,
    make_gradients,
    make_optimizer,
    make_step,
    penalty_scale,
    predict_raw,
    run_epochs,
    run_lbfgs,
)

# Rows per forward pass at prediction: large enough to amortise per-call
# overhead, small enough that hidden activations stay a few hundred MB at most.
_PREDICT_CHUNK = 16384
# On the CPU, the caller's C-ordered X is read in place, batch by batch, rather
# than copied, unless the float32 copy would be at most this large and saves
# per-batch work (the robust input layer).
_COPY_LIMIT_BYTES = 64 * 2**20
# Fewer rows than this are padded at prediction (see _forward).
_MIN_GEMM_ROWS = 16


def _supports_partial_fit(estimator) -> bool:
    if estimator.solver == "lbfgs":
        raise AttributeError(
            f"partial_fit is only available for stochastic solvers; "
            f"solver={estimator.solver!r} is full-batch."
        )
    return True


def _check_module_output(network: torch.nn.Module, n_features: int, n_outputs: int) -> None:
    """Raise a ValueError saying what to change when ``network``, built by a
    ``module=`` callable, does not map ``n_features`` inputs to ``n_outputs``
    columns; found by one forward pass on two rows of zeros, in eval mode.

    A wrong width would otherwise fail deep in torch, or worse, broadcast
    against the targets and train on a meaningless loss.
    """
    expected = f"module(n_features_in_, n_outputs) = module({n_features}, {n_outputs})"
    parameter = next(network.parameters(), None)
    device = parameter.device if parameter is not None else None
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            out = network(torch.zeros(2, n_features, device=device))
    except Exception as exc:
        raise ValueError(
            f"The network built by {expected} fails on a batch of shape (2, {n_features}): "
            f"{exc}. Check that its first layer takes n_features_in_={n_features} inputs."
        ) from exc
    finally:
        network.train(was_training)
    shape = tuple(getattr(out, "shape", ()))
    if not isinstance(out, torch.Tensor) or shape != (2, n_outputs):
        got = f"shape {shape}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"The network built by {expected} returns {got} for a batch of 2 rows; this "
            f"task needs a tensor of shape (2, {n_outputs}). Give the last layer n_outputs "
            f"units and keep the output two-dimensional."
        )


def _check_batch_statistics(network: torch.nn.Module, batch_size: int) -> None:
    """Raise a ValueError when batch normalization would meet a 1-row batch,
    whose statistics do not exist (torch's own error names no parameter)."""
    if batch_size >= 2:
        return
    nn = torch.nn
    batch_norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
    if any(isinstance(layer, batch_norms) for layer in network.modules()):
        raise ValueError(
            "Batch normalization needs at least 2 rows per training batch to compute "
            f"batch statistics, but batches here have {batch_size} row. Use batch_size >= 2 "
            "and at least 2 training samples, or normalization='layer' (or None)."
        )


class BaseTorchMLP(BaseEstimator, metaclass=ABCMeta):
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
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive", "cosine"})],
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
        "early_stopping": ["boolean"],
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
        "preprocessing": [StrOptions({"robust"}), None],
        "device": [str, torch.device],
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
        preprocessing,
        device,
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
        self.preprocessing = preprocessing
        self.device = device
        self.module = module

    # ----------------------------------------------------------- subclass hooks
    @abstractmethod
    def _encode_targets(self, y, sample_weight, *, first_pass: bool, classes=None):
        """Validate ``y``, fit target statistics on the first pass (setting
        ``n_outputs_``), and return the training target: float32 of shape
        (n_samples, n_targets), or int64 class indices."""

    @abstractmethod
    def _loss_function(self):
        """The loss object from :mod:`sk_mlp._losses` for the fitted targets."""

    @abstractmethod
    def _validation_score(self, raw: torch.Tensor, y: torch.Tensor, weight) -> float:
        """Score of raw network outputs on the validation split; higher is better."""

    def _stratify(self, y_train: np.ndarray):
        return None

    def _dropout_rate(self) -> float:
        """The dropout probability, with ``'auto'`` resolved (docs/accuracy.rst)."""
        if self.dropout != "auto":
            return self.dropout
        # L-BFGS's line search needs a deterministic loss.
        return 0.0 if self.solver == "lbfgs" else 0.1

    def _class_sample_weight(self, y, sample_weight):
        return sample_weight

    # ------------------------------------------------------------------- fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in
            regression).

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
        with self._unchanged_on_error():
            self._check_hidden_layer_sizes()
            first_pass = not hasattr(self, "module_") or (not self.warm_start and not incremental)
            X, y = validate_data(
                self,
                X,
                y,
                accept_sparse=["csr", "csc"],
                dtype=(np.float64, np.float32),
                multi_output=True,
                y_numeric=is_regressor(self),
                reset=first_pass,
            )
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
            y_train = self._encode_targets(y, sample_weight, first_pass=first_pass, classes=classes)
            sample_weight = self._class_sample_weight(y, sample_weight)
            device = resolve_device(self.device)
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            # Training needs autograd even when the caller runs under no_grad
            # or inference_mode.
            with fork_rng(device), torch.inference_mode(False), torch.enable_grad(), thread_scope():
                torch.manual_seed(seed)
                history = self._train(
                    X, y_train, sample_weight, device, seed, first_pass, incremental
                )
        message = self._convergence_message(history, incremental)
        if message:
            # stacklevel: _fit <- fit <- _fit_context's wrapper <- caller
            warnings.warn(message, ConvergenceWarning, stacklevel=4)
        return self

    def _convergence_message(self, history: History, incremental: bool) -> str | None:
        """scikit-learn's ConvergenceWarning text when a budget ran out, else None."""
        if history.converged or incremental:
            return None
        if self.solver == "lbfgs" and history.func_evals >= self.max_fun:
            return (
                f"lbfgs: Maximum number of function evaluations (max_fun={self.max_fun}) "
                "reached and the optimization hasn't converged yet."
            )
        if history.n_iter - history.start_iter >= self.max_iter:
            solver = "lbfgs" if self.solver == "lbfgs" else "Stochastic Optimizer"
            return (
                f"{solver}: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet."
            )
        return None

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

    def _build_module(self, X, sample_weight, device: torch.device) -> torch.nn.Module:
        """A fresh network for the data seen on the first pass."""
        n_outputs = self._loss_function().n_outputs(self.n_outputs_)
        if self.module is not None:
            network = self.module(self.n_features_in_, n_outputs)
            if not isinstance(network, torch.nn.Module):
                raise TypeError(
                    f"module must return a torch.nn.Module, got {type(network).__name__}."
                )
            _check_module_output(network, self.n_features_in_, n_outputs)
        else:
            network = build_mlp(
                self.n_features_in_,
                n_outputs,
                self._hidden_layer_sizes,
                self.activation,
                self._dropout_rate(),
                self.normalization,
            )
        if self.preprocessing == "robust":
            network = torch.nn.Sequential(fit_robust_input(X, sample_weight), network)
        return network.to(device)

    def _training_data(self, X, y, sample_weight, device) -> TrainingData:
        """Convert once: X to a float32 device tensor (sparse stays CSR on the
        host and is densified batch by batch), weights normalised to mean 1.

        On the CPU a C-ordered array is used as it is, float64 included, and
        batches are converted as they are drawn: the fit holds no copy of X
        (but see ``_preprocess_once``).
        """
        if sp.issparse(X):
            X = sp.csr_matrix(X, dtype=np.float32)
        elif device.type == "cpu":
            if not X.flags.c_contiguous:  # rows would be gathered from strided memory
                X = np.ascontiguousarray(X, dtype=np.float32)
            X = to_tensor(X, device, dtype=None)
        else:
            X = to_tensor(X, device)
        target_dtype = torch.int64 if y.dtype == np.int64 else torch.float32
        mean_weight = float(sample_weight.mean())
        weight = None
        if np.ptp(sample_weight) > 0:
            weight = to_tensor(sample_weight / mean_weight, device)
        return TrainingData(X, to_tensor(y, device, target_dtype), weight, device, mean_weight)

    def _preprocess_once(self, module, X, data: TrainingData) -> torch.nn.Module:
        """Take the fixed input layer out of ``module`` and apply it to the
        training data instead; return the part of ``module`` that training updates.

        The robust input layer has no trained parameters, so transforming a
        float32 copy of X once saves its cost (about 4% of a step of the speed
        benchmark's network) on every step. Where X is the caller's own array
        and such a copy would be large, X is transformed batch by batch instead,
        so that the fit holds no copy of it. The caller's array is never written.
        """
        if not (isinstance(module, torch.nn.Sequential) and isinstance(module[0], RobustInput)):
            return module
        layer, network = module[0], module[1]
        if sp.issparse(data.X):
            if bool(torch.any(layer.shift != 0)):
                return module  # a layer fitted on dense data centres: apply it per batch
            data.X = data.X.copy() if np.shares_memory(data.X.data, X.data) else data.X
            data.X.sum_duplicates()  # the clip must see each entry's total
            layer.transform_sparse_(data.X)
            return network
        source = data.X
        if source.device.type == "cpu" and np.shares_memory(source.numpy(), X):
            if source.numel() * 4 > _COPY_LIMIT_BYTES:
                data.transform = layer
                return network
            data.X = torch.empty(source.shape, dtype=torch.float32)
        with torch.no_grad():
            for start in range(0, len(source), _PREDICT_CHUNK):
                rows = slice(start, start + _PREDICT_CHUNK)
                data.X[rows] = layer(source[rows].to(torch.float32))
        return network

    def _validation_rows(self, y, seed):
        """Train and validation row indices for early stopping.

        Classification splits are stratified where every class can appear on
        both sides; on data too small for that, the split is plain.
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
            _, counts = np.unique(stratify, return_counts=True)
            if counts.min() < 2 or n_val < len(counts) or n_samples - n_val < len(counts):
                stratify = None
        return train_test_split(
            np.arange(n_samples), test_size=n_val, random_state=seed, stratify=stratify
        )

    def _train(self, X, y, sample_weight, device, seed, first_pass, incremental):
        early_stopping = self.early_stopping and not incremental and self.solver != "lbfgs"
        if first_pass:
            module = self._build_module(X, sample_weight, device)
            history = History(early_stopping)
        else:
            module = copy.deepcopy(self.module_).to(device)
            history = self._resume_history(early_stopping)
        data = self._training_data(X, y, sample_weight, device)
        network = self._preprocess_once(module, X, data)
        if history.validation_scores:  # warm start: the weights to beat are these
            history.best_state = copy.deepcopy(network.state_dict())
        if not (first_pass or incremental):
            history.schedule_start = history.n_iter  # a warm start begins a new schedule
        val_data = None
        if early_stopping:
            train_rows, val_rows = self._validation_rows(y, seed)
            data, val_data = data.subset(train_rows), data.subset(val_rows)
        batch_size = self._batch_size(len(data))
        _check_batch_statistics(network, batch_size)
        limit_threads(network, batch_size, device)
        params = TrainingParams.from_estimator_params(self.get_params())
        optimizer = make_optimizer(network, params)
        if incremental and not first_pass and self._optimizer_solver == self.solver:
            # A copy: the optimizer updates loaded state in place, and a failed
            # call must leave the fitted estimator's state untouched.
            optimizer.load_state_dict(copy.deepcopy(self._optimizer_state))
        loss_fn = self._loss_function()
        if self.solver == "lbfgs":
            run_lbfgs(network, loss_fn, optimizer, data, params, history, _PREDICT_CHUNK)
        else:
            validate = None
            if val_data is not None:

                def validate(network):
                    raw = predict_raw(network, val_data, _PREDICT_CHUNK)
                    return self._validation_score(raw, *val_data.targets())

            n_epochs = 1 if incremental else self.max_iter
            weight_decay = 2 * penalty_scale(self.alpha, batch_size, data)
            if self.solver == "adamw":
                weight_decay = self.alpha
            step = make_step(network, optimizer, self.solver, weight_decay)
            # A user's module may rely on autograd in ways a plain stack cannot show.
            gradients = make_gradients(network, loss_fn, hand_written=self.module is None)
            run_epochs(
                network,
                gradients,
                optimizer,
                step,
                data,
                params,
                history,
                batch_size,
                n_epochs,
                validate,
            )
        self._store_fit(module, optimizer, history, device, loss_fn)
        return history

    def _resume_history(self, early_stopping) -> History:
        """Continue the curves of a previous fit (warm start or partial_fit)."""
        history = History(early_stopping)
        history.loss_curve = list(self.loss_curve_)
        history.best_loss = self.best_loss_ if self.best_loss_ is not None else math.inf
        history.n_iter = self.n_iter_
        history.t = self.t_
        history.start_iter = self.n_iter_
        if early_stopping and self.validation_scores_ is not None:
            history.validation_scores = list(self.validation_scores_)
            history.best_validation_score = self.best_validation_score_
        return history

    def _store_fit(self, module, optimizer, history, device, loss_fn):
        # Hand the network over ready for inference: no dropout, running statistics.
        self.module_ = module.eval()
        self.device_ = str(device)
        self._optimizer_state = None if self.solver == "lbfgs" else optimizer.state_dict()
        self._optimizer_solver = None if self.solver == "lbfgs" else self.solver
        self.n_iter_ = history.n_iter
        self.t_ = history.t
        self.loss_curve_ = history.loss_curve
        self.loss_ = history.loss_curve[-1]
        self.n_layers_ = len(linear_layers(module)) + 1
        self.out_activation_ = loss_fn.out_activation
        self._loss = loss_fn
        if history.early_stopping:
            self.validation_scores_ = history.validation_scores
            self.best_validation_score_ = history.best_validation_score
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = history.best_loss

    # ---------------------------------------------------------------- prediction
    def _forward(self, X) -> torch.Tensor:
        """Validate X for prediction and return the raw network outputs."""
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            dtype=(np.float32, np.float64),
            reset=False,
        )
        device = torch.device(self.device_)
        module = self.module_
        module.eval()
        chunks = []
        rows = min(X.shape[0], _PREDICT_CHUNK)
        with torch.inference_mode(), threads_for_step(module, rows, device):
            for start in range(0, X.shape[0], _PREDICT_CHUNK):
                chunk = to_tensor(X[start : start + _PREDICT_CHUNK], device)
                n_rows = len(chunk)
                if n_rows < _MIN_GEMM_ROWS:
                    # BLAS picks other kernels for very few rows, whose float32
                    # rounding differs; padding makes a row's prediction the
                    # same alone as in a batch.
                    chunk = torch.cat(
                        [
                            chunk,
                            chunk.new_zeros(_MIN_GEMM_ROWS - n_rows, chunk.shape[1]),
                        ]
                    )
                chunks.append(module(chunk)[:n_rows])
        return torch.cat(chunks)

    # ------------------------------------------------------------ fitted views
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices of the linear layers, each of shape (n_in, n_out).

        As in scikit-learn's MLP. These are numpy copies; ``module_`` holds
        the live weights.
        """
        check_is_fitted(self)
        return [to_numpy(layer.weight).T.copy() for layer in linear_layers(self.module_)]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors of the linear layers (numpy copies)."""
        check_is_fitted(self)
        return [to_numpy(layer.bias).copy() for layer in linear_layers(self.module_)]

    # ---------------------------------------------------------- tags & pickling
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        if "module_" in state and self.device_ != "cpu":
            state["module_"] = copy.deepcopy(self.module_).to("cpu")
            state["_optimizer_state"] = tree_to(self._optimizer_state, "cpu")
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        device = getattr(self, "device_", "cpu")
        if device == "cpu":
            return
        if is_available(device):
            self.module_.to(device)
        else:
            warnings.warn(
                f"This model was fitted on {device!r}, which is not available here; "
                "it was loaded on 'cpu' and predicts there.",
                UserWarning,
                stacklevel=2,
            )
            self.device_ = "cpu"
