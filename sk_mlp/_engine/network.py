"""The network an estimator trains: built for the first pass of a fit,
copied from the fitted one after (:func:`initial_module`).

:func:`build_module` reads the estimator's parameters and the data it was
given: the fixed input layer (frame stage, robust scaling, piecewise-linear
encoding) is fitted on that data, then comes the trained network, sk_mlp's
own or the user's ``module=``. :func:`architecture` records the parameters
that shape it, so that a warm start knows whether it may continue a fitted
network. :func:`randomness` says where training's random numbers come from:
a user's module draws from torch's global generators, which its fit seeds
and restores, here and only here.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import torch

from .._nn.checks import check_module_widths, describe_features, describe_module
from .._nn.device import make_generator, seeded_global_rng
from .._nn.layers import MemberLinear, PeriodicEmbedding, PiecewiseLinearEncoding
from .._nn.mlp import (
    ACTIVATION_ALIASES,
    Dropout,
    build_network,
    fit_robust_input,
    set_dropout,
    weight_layers,
)
from .._nn.tabular import TabularInput, build_tabular_input
from .._preprocessing.statistics import statistics_rows
from . import defaults

# A user's module draws its random numbers (initial weights, torch's dropout)
# from torch's global generators, which its fit seeds and restores: such fits
# take turns.
_GLOBAL_RNG_LOCK = threading.Lock()


def architecture(estimator) -> dict:
    """The parameters that decide the network's shape and outputs and the
    target encoding: a model fitted with others cannot be continued."""
    record = {
        "loss": estimator._loss_kind(),
        "preprocessing": estimator.preprocessing,
        "categorical_features": describe_features(estimator.categorical_features),
        "module": describe_module(estimator.module),
    }
    if record["loss"] == "quantile":  # one output per target and quantile
        record["quantile"] = estimator._loss_function().quantiles
    if estimator.module is None:
        record["hidden_layer_sizes"] = list(estimator._hidden_layer_sizes)
        record["activation"] = ACTIVATION_ALIASES.get(estimator.activation, estimator.activation)
        record["normalization"] = estimator.normalization
        # Recorded only when set, so that models fitted before these
        # parameters existed still warm-start.
        if estimator.n_ensemble not in (1, "auto"):  # 'auto': as for the embedding
            record["n_ensemble"] = int(estimator.n_ensemble)
        # 'auto' resolves at the first fit, and a continued fit keeps what the
        # fitted network holds: only an embedding asked for by name is recorded.
        if estimator.numeric_embedding not in (None, "auto"):
            record["numeric_embedding"] = estimator.numeric_embedding
        if estimator.feature_scaling:
            record["feature_scaling"] = True
    return record


def fitted_members(module: torch.nn.Module) -> int:
    """The ensemble members a fitted network holds (``n_ensemble='auto'``
    resolves at the first fit)."""
    for layer in module.modules():
        if isinstance(layer, MemberLinear):
            return layer.weight.shape[0]
    return 1


def fitted_embedding(module: torch.nn.Module) -> str | None:
    """The numeric embedding a fitted network holds, whatever the parameter says
    (``numeric_embedding='auto'`` resolves at the first fit)."""
    for layer in module.modules():
        if isinstance(layer, PiecewiseLinearEncoding):
            return "piecewise_linear"
        if isinstance(layer, PeriodicEmbedding):
            return "periodic"
    return None


def network_choices(
    estimator, n_samples: int | None, *, dense: bool, early_stopping: bool, first_pass: bool
) -> tuple[str | None, int]:
    """The numeric embedding and the ensemble members of the network this
    call trains: resolved from the parameters on the first pass (their
    ``'auto'`` values, :mod:`sk_mlp._engine.defaults`), read off the fitted network
    on a continued fit, which keeps what its first fit chose."""
    if not first_pass:
        return fitted_embedding(estimator.module_), fitted_members(estimator.module_)
    embedding = defaults.numeric_embedding(
        estimator, n_samples, dense=dense, early_stopping=early_stopping
    )
    assigned = vars(estimator).get("_assigned_coefs")
    if estimator.n_ensemble == "auto" and assigned:
        # Weights assigned before the first fit, as scikit-learn's users
        # assign them, say how many members the network has.
        last = np.asarray(assigned[-1])
        return embedding, last.shape[0] if last.ndim == 3 else 1
    return embedding, defaults.n_ensemble(estimator)


def check_numeric_embedding(embedding: str | None, X) -> None:
    """Refuse sparse X where a numeric embedding, fitted on dense data, applies."""
    if embedding is not None and sp.issparse(X):
        raise ValueError(
            f"numeric_embedding={embedding!r} needs dense X, but X is a "
            "sparse matrix; pass X.toarray() or set numeric_embedding=None."
        )


def initial_module(
    estimator,
    X,
    sample_weight,
    loss,
    seed: int,
    first_pass: bool,
    embedding: str | None = None,
    n_ensemble: int = 1,
) -> torch.nn.Module:
    """A fresh network on the first pass, else a copy of the fitted one.

    A fresh network starts from the ``coefs_`` and ``intercepts_`` assigned
    to the unfitted estimator, where there are any, with the numeric
    ``embedding`` and ``n_ensemble`` resolved from the parameters of those
    names (:mod:`sk_mlp._engine.defaults`).
    """
    if first_pass:
        module = build_module(estimator, X, sample_weight, loss, seed, embedding, n_ensemble)
        assigned = vars(estimator)
        assign_weights(module, assigned.get("_assigned_coefs"), "coefs_")
        assign_weights(module, assigned.get("_assigned_intercepts"), "intercepts_")
        return module
    # The rate may have changed with the solver ('auto' is 0 for lbfgs):
    # dropout layers have no parameters, so a network can gain them.
    return set_dropout(
        copy.deepcopy(estimator.module_), estimator._dropout_rate(), estimator.module is None
    )


@torch.no_grad()
def assign_weights(module: torch.nn.Module, arrays, name: str) -> None:
    """Copy ``arrays`` (as ``coefs_`` or ``intercepts_`` show them) into the
    weights or biases of ``module``'s linear layers; ``None`` leaves them."""
    if arrays is None:
        return
    layers = weight_layers(module)
    if len(arrays) != len(layers):
        raise ValueError(
            f"{name} was assigned {len(arrays)} arrays, but the network has "
            f"{len(layers)} linear layers; assign one array per layer."
        )
    targets = [layer.weight if name == "coefs_" else layer.bias for layer in layers]
    values = []
    for i, (array, target) in enumerate(zip(arrays, targets)):
        value = torch.as_tensor(np.asarray(array, dtype=np.float32))
        if name == "coefs_":
            value = value.swapaxes(-1, -2)  # coefs_ are (n_in, n_out), as in scikit-learn
        if value.shape != target.shape:
            expected = tuple(target.swapaxes(-1, -2).shape if name == "coefs_" else target.shape)
            raise ValueError(
                f"{name}[{i}] has shape {tuple(np.shape(array))}, but the network's "
                f"layer {i} needs {expected}."
            )
        values.append(value)
    # Every array checked first: a refused assignment changes nothing.
    for value, target in zip(values, targets):
        target.copy_(value.to(target.device, target.dtype))


def build_module(
    estimator, X, sample_weight, loss, seed: int, embedding: str | None, n_ensemble: int
) -> torch.nn.Module:
    """A fresh network for the data seen on the first pass, on the CPU:
    the fixed input layer (frame stage, robust scaling, piecewise-linear
    encoding), then the trained network."""
    n_outputs = loss.n_outputs(estimator.n_outputs_)
    fixed, n_inputs = _fixed_input(estimator, X, sample_weight, seed)
    if estimator.module is not None:
        network = _user_network(estimator.module, n_inputs, n_outputs, seed)
        return network if fixed is None else torch.nn.Sequential(fixed, network)
    n_numeric = _n_numeric_inputs(estimator)
    if embedding == "piecewise_linear" and n_numeric:
        inputs, weights = _fixed_output(fixed, X, sample_weight)
        encoding = PiecewiseLinearEncoding.fit(
            inputs, n_numeric, sample_weight=weights, n_features=n_inputs
        )
        fixed = encoding if fixed is None else torch.nn.Sequential(fixed, encoding)
        n_inputs = encoding.n_outputs
    network = build_network(
        n_inputs,
        n_outputs,
        estimator._hidden_layer_sizes,
        estimator.activation,
        estimator._dropout_rate(),
        estimator.normalization,
        n_ensemble=n_ensemble,
        feature_scaling=estimator.feature_scaling,
        periodic_features=n_numeric if embedding == "periodic" else 0,
        out_activation=loss.out_activation,
        generator=make_generator(seed),
    )
    return network if fixed is None else torch.nn.Sequential(fixed, network)


def _fixed_input(estimator, X, sample_weight, seed: int) -> tuple[torch.nn.Module | None, int]:
    """The fixed input layer the data asks for before any numeric embedding
    (frame stage, robust scaling), or None, and the width of its output."""
    robust = estimator.preprocessing == "robust"
    tabular = estimator._tabular
    if tabular is not None and not tabular.is_identity_:
        fixed = build_tabular_input(
            tabular, X, sample_weight, robust=robust, generator=make_generator(seed)
        )
        return fixed, fixed.n_outputs
    if robust:
        return fit_robust_input(X, sample_weight), estimator.n_features_in_
    return None, estimator.n_features_in_


def _user_network(module, n_inputs: int, n_outputs: int, seed: int) -> torch.nn.Module:
    """The network of the user's ``module=``: a copy of an instance, or what
    a factory returns, checked against the data's widths."""
    if isinstance(module, torch.nn.Module):
        # The user's instance stays untouched: every fit starts from a copy
        # of the same initial weights.
        network = copy.deepcopy(module).cpu()
    else:
        with _GLOBAL_RNG_LOCK, seeded_global_rng(seed, torch.device("cpu")):
            network = module(n_inputs, n_outputs)
        if not isinstance(network, torch.nn.Module):
            raise TypeError(f"module must return a torch.nn.Module, got {type(network).__name__}.")
    check_module_widths(network, module, n_inputs, n_outputs)
    return network


def _n_numeric_inputs(estimator) -> int:
    """How many leading columns of the network's input are numeric
    features (the frame stage puts its missing indicators and categories
    after them): those ``numeric_embedding`` encodes."""
    if estimator._tabular is None or estimator._tabular.is_identity_:
        return estimator.n_features_in_
    return int((~estimator._tabular.is_categorical_).sum())


def _fixed_output(
    layer: torch.nn.Module | None, X, sample_weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``layer(X)`` as a float array (``X`` if there is no layer) and the
    sample weights, on a subsample of rows: what the fitted piecewise-linear
    encoding sees. Of a frame stage, only the numeric block, which is all
    that encoding reads: its one-hot block would take rows times categories."""
    if (rows := statistics_rows(X.shape[0])) is not None:
        X = X[torch.from_numpy(rows).to(X.device)] if isinstance(X, torch.Tensor) else X[rows]
        sample_weight = sample_weight[rows]
    X = X.detach().cpu().float() if isinstance(X, torch.Tensor) else torch.as_tensor(X).float()
    if layer is None:
        return X.numpy(), sample_weight
    if isinstance(layer, TabularInput):
        layer = layer.numeric_part
    with torch.no_grad():
        return layer(X).numpy(), sample_weight


@contextlib.contextmanager
def randomness(
    network: torch.nn.Module,
    generator: torch.Generator,
    seed: int,
    device: torch.device,
    user_module: bool,
) -> Iterator[None]:
    """Training's random numbers come from ``generator``: sk_mlp's dropout
    layers draw their masks from it. A user's module (``user_module``) draws
    from torch's global generators instead, seeded here and restored
    afterwards."""
    dropouts = [m for m in network.modules() if isinstance(m, Dropout)]
    for layer in dropouts:
        layer.generator = generator
    try:
        if not user_module:
            yield
        else:
            with _GLOBAL_RNG_LOCK, seeded_global_rng(seed, device):
                yield
    finally:
        for layer in dropouts:
            del layer.generator  # back to the class default: no generator
