"""Checks of a network and of the ``module`` parameter, made before any
training: each failure says what is wrong and what to do, instead of an error
from deep inside torch."""

from __future__ import annotations

import functools

import numpy as np
import torch


def describe_module(module) -> str | None:
    """A description of a ``module`` parameter, plain data (for the safe file
    format), that changes when the module is replaced by another: the class
    and layers of an instance, the function of a callable with what it closes
    over (the arguments of ``functools.partial`` or of a factory's closure)."""
    if module is None:
        return None
    if isinstance(module, torch.nn.Module):
        return f"instance of {_qualified_name(type(module))}: {module!r}"
    if isinstance(module, functools.partial):
        return repr(module)
    cells = getattr(module, "__closure__", None) or ()
    captured = ", ".join(_short_repr(cell.cell_contents) for cell in cells if _has_contents(cell))
    return f"{_qualified_name(module)}({captured})" if captured else _qualified_name(module)


def _qualified_name(obj) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}"


def _has_contents(cell) -> bool:
    try:
        _ = cell.cell_contents
    except ValueError:  # an empty cell
        return False
    return True


def _short_repr(value) -> str:
    text = repr(value)
    return text if len(text) <= 200 else f"{text[:200]}..."


def describe_features(categorical_features):
    """``categorical_features`` as plain data, comparable with ``==``."""
    if categorical_features is None or isinstance(categorical_features, str):
        return categorical_features
    return np.asarray(categorical_features).tolist()


def check_module_widths(network: torch.nn.Module, module, n_features: int, n_outputs: int) -> None:
    """Raise a ValueError saying what to change when a user's ``network`` does
    not map ``n_features`` inputs to ``n_outputs`` columns; found by one
    forward pass on two rows of zeros, in eval mode.

    A wrong width would otherwise fail deep in torch, or worse, broadcast
    against the targets and train on a meaningless loss.
    """
    if isinstance(module, torch.nn.Module):
        source = f"The module instance {type(module).__name__}"
    else:
        source = f"The network built by module({n_features}, {n_outputs})"
    parameter = next(network.parameters(), None)
    device = parameter.device if parameter is not None else None
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            out = network(torch.zeros(2, n_features, device=device))
    except Exception as exc:
        raise ValueError(
            f"{source} fails on a batch of shape (2, {n_features}): {exc}. Check that "
            f"its first layer takes n_features_in_={n_features} inputs."
        ) from exc
    finally:
        network.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, n_outputs):
        got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"{source} returns {got} for a batch of 2 rows; this task needs a tensor "
            f"of shape (2, {n_outputs}). Give the last layer n_outputs={n_outputs} units and keep "
            "the output two-dimensional."
        )


_BATCH_NORMS = (
    torch.nn.BatchNorm1d,
    torch.nn.BatchNorm2d,
    torch.nn.BatchNorm3d,
    torch.nn.SyncBatchNorm,
)


def check_batch_statistics(network: torch.nn.Module, batch_size: int) -> None:
    """Raise a ValueError when batch normalization would meet a 1-row batch,
    whose statistics do not exist (torch's own error names no parameter)."""
    if batch_size >= 2 or not any(isinstance(m, _BATCH_NORMS) for m in network.modules()):
        return
    raise ValueError(
        "Batch normalization needs at least 2 rows per training batch to compute "
        f"batch statistics, but batches here have {batch_size} row (n_samples={batch_size} "
        "or batch_size=1). Use batch_size >= 2 and at least 2 training samples, or "
        "normalization='layer' (or None)."
    )
