"""Checks of what a user passes, made before any training: each failure says
what is wrong and what to do, instead of an error from deep inside torch."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


def check_float32_range(X) -> None:
    """Refuse float64 values that float32, in which sk_mlp computes, cannot hold."""
    if isinstance(X, torch.Tensor):  # computed where X is: one number comes back
        if X.dtype == torch.float64 and X.numel():
            _check_largest(float(X.abs().max()))
        return
    values = X.data if sp.issparse(X) else X
    if values.dtype != np.float64 or values.size == 0:
        return
    _check_largest(max(abs(float(values.max())), abs(float(values.min()))))


def _check_largest(largest: float) -> None:
    if largest > np.finfo(np.float32).max:
        raise ValueError(
            f"X contains values of magnitude up to {largest:.3g}, beyond the float32 "
            f"range ({np.finfo(np.float32).max:.3g}) in which sk_mlp trains and "
            "predicts. Rescale X first, for example divide it by a constant or take "
            "a logarithm."
        )


def describe_module(module) -> str | None:
    """A name for a ``module`` parameter, so that a fitted model can tell when
    it was replaced; plain data, for the safe file format."""
    if module is None:
        return None
    kind = type(module) if isinstance(module, torch.nn.Module) else module
    name = f"{getattr(kind, '__module__', '')}.{getattr(kind, '__qualname__', repr(kind))}"
    return f"instance of {name}" if isinstance(module, torch.nn.Module) else name


def drop_zero_weight_rows(X, y, sample_weight):
    """Leave out rows of weight zero: they change nothing but could still
    overflow float32 arithmetic (a huge target times a zero weight is NaN)."""
    keep = sample_weight > 0
    if keep.all():
        return X, y, sample_weight
    if not keep.any():
        raise ValueError(
            "sample_weight (times class_weight) is zero for every sample: there is "
            "nothing to fit. Give some samples a positive weight."
        )
    rows = torch.from_numpy(keep).to(X.device) if isinstance(X, torch.Tensor) else keep
    return X[rows], y[keep], sample_weight[keep]
