"""Array API inputs: one place converts between an input's namespace and torch.

Under ``sklearn.config_context(array_api_dispatch=True)`` the estimators take
X from any array library that scikit-learn's dispatch supports (torch tensors
on any device, CuPy arrays, array-api-strict arrays) and follow scikit-learn's
rules:

- everything follows X: ``y`` and ``sample_weight`` may come from another
  namespace or device;
- outputs come back in X's namespace and on X's device; class labels that are
  not numbers come back as NumPy arrays, as from scikit-learn's classifiers;
- fitted arrays follow X (the regressor's target statistics); ``classes_``
  stays NumPy, as scikit-learn allows;
- under dispatch, X at prediction must come from the fit's namespace and
  device, as scikit-learn's ``check_same_namespace`` demands; scikit-learn's
  ``move_estimator_to`` moves a fitted estimator (the network stays on
  ``device_``, where it computes).

X never goes through the host on its way to the network: a torch tensor is
used as it is, other libraries' arrays are shared with torch through DLPack
(a CuPy array stays on its GPU). ``y`` and ``sample_weight``, one value per
row, are brought to the host, where the targets are encoded.

Outside dispatch mode nothing here applies: inputs take the NumPy route.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp
import sklearn
import torch
from sklearn.base import is_regressor
from sklearn.utils.validation import validate_data

from .._compat.sklearn_private import (
    _check_sample_weight,
    _convert_to_numpy,
    array_namespace,
    get_namespace_and_device,
    is_array_api_obj,
    move_to,
)
from .._nn.device import to_numpy
from .._preprocessing.checks import check_largest, is_dask_collection

# Where a fitted estimator records the namespace and device of its fit's X
# (absent for NumPy and other array-likes).
RECORD = "_input_namespace"


def dispatching() -> bool:
    """Whether scikit-learn's array API dispatch is on."""
    return bool(sklearn.get_config()["array_api_dispatch"])


def to_host(array):
    """A NumPy copy of an array from another array library (torch, CuPy,
    array-api-strict, ...); anything else is returned unchanged."""
    if isinstance(array, np.ndarray) or sp.issparse(array) or not is_array_api_obj(array):
        return array
    if isinstance(array, torch.Tensor):
        return to_numpy(array)
    return _convert_to_numpy(array, array_namespace(array))


@dataclass(frozen=True)
class ArraySpace:
    """An array namespace and a device: where an input lives."""

    xp: ModuleType
    device: Any

    @property
    def library(self) -> str:
        """The array library: ``'torch'``, ``'cupy'``, ``'array_api_strict'``, ..."""
        return self.xp.__name__.rsplit(".", 1)[-1]

    def record(self) -> tuple[str, str]:
        """Plain strings that name the space, for a fitted estimator to keep."""
        return self.library, str(self.device)

    def float_dtypes(self) -> tuple:
        return self.xp.float64, self.xp.float32

    def to_torch(self, X) -> torch.Tensor:
        """X as a torch tensor sharing its memory where DLPack allows (on the
        same device), through the host otherwise."""
        if isinstance(X, torch.Tensor):
            return X.detach()
        try:
            return torch.from_dlpack(X)
        except (AttributeError, BufferError, RuntimeError, TypeError, ValueError):
            return torch.as_tensor(to_host(X))

    def from_torch(self, tensor: torch.Tensor):
        """An output tensor as an array of this space."""
        if self.library == "torch":
            return tensor.to(self.device)
        return move_to(tensor, xp=self.xp, device=self.device)

    def from_host(self, array: np.ndarray):
        return move_to(array, xp=self.xp, device=self.device)


def input_space(X) -> ArraySpace | None:
    """Where X lives under array API dispatch; ``None`` when X takes the NumPy
    route: dispatch is off, or X is a NumPy array, a sparse matrix, a data
    frame, a list or a dask collection."""
    if (
        not dispatching()
        or isinstance(X, np.ndarray)
        or sp.issparse(X)
        or not is_array_api_obj(X)
        or is_dask_collection(X)
    ):
        return None
    xp, _, device = get_namespace_and_device(X)
    return ArraySpace(xp, device)


def validate_fit(estimator, space: ArraySpace, X, y, sample_weight, *, reset: bool):
    """``fit``'s validation for an array API X: X stays in its namespace and
    on its device and becomes a torch tensor; ``y`` and ``sample_weight`` are
    validated on the host. Returns ``(X, y, sample_weight)``."""
    X, y = validate_data(
        estimator,
        X,
        to_host(y),
        dtype=space.float_dtypes(),
        multi_output=True,
        y_numeric=is_regressor(estimator),
        ensure_all_finite="allow-nan",
        reset=reset,
    )
    X = space.to_torch(X)
    _check_no_nan(X)
    _check_float32_range(X)
    with sklearn.config_context(array_api_dispatch=False):  # X is read for its length only
        sample_weight = _check_sample_weight(
            to_host(sample_weight), X, dtype=np.float64, ensure_non_negative=True
        )
    return X, y, sample_weight


def validate_predict(estimator, space: ArraySpace, X) -> torch.Tensor:
    """Prediction's validation for an array API X; returns it as a tensor."""
    X = validate_data(
        estimator, X, dtype=space.float_dtypes(), ensure_all_finite="allow-nan", reset=False
    )
    X = space.to_torch(X)
    _check_no_nan(X)
    _check_float32_range(X)
    return X


def _check_float32_range(X: torch.Tensor) -> None:
    """Refuse float64 values float32 cannot hold, computed where X is (one
    number comes back to the host)."""
    if X.dtype == torch.float64 and X.numel():
        check_largest(float(X.abs().max()))


def _check_no_nan(X: torch.Tensor) -> None:
    """Missing values are imputed by the frame stage, which works on the host:
    an array kept on its device must not have any."""
    if bool(torch.isnan(X).any()):
        raise ValueError(
            "Input X contains NaN. Under array API dispatch X stays where it is and "
            "missing values are not imputed there; pass X as a NumPy array or a "
            "pandas DataFrame (outside dispatch) to have them imputed, or impute "
            "them first (for example with SimpleImputer)."
        )


def follow_inputs(estimator, space: ArraySpace | None) -> None:
    """After a fit: put the fitted arrays that follow X (the estimator's
    ``_arrays_following_X``) in X's namespace and on X's device, and record
    where that is; for NumPy inputs, on the host, with no record."""
    vars(estimator).update(following_inputs(estimator, space))
    if space is None:
        estimator.__dict__.pop(RECORD, None)


def following_inputs(estimator, space: ArraySpace | None) -> dict:
    """The attributes :func:`follow_inputs` sets, without setting them."""
    attributes = {}
    for name in estimator._arrays_following_X:
        value = getattr(estimator, name, None)
        if value is None:  # a statistic this model does not have
            continue
        value = to_host(value)
        attributes[name] = value if space is None else space.from_host(value)
    if space is not None:
        attributes[RECORD] = space.record()
    return attributes


def moved(estimator, converter):
    """A copy of a fitted estimator whose arrays ``converter`` (scikit-learn's
    ``move_estimator_to``) has moved to another namespace or device."""
    probe = converter(np.zeros(1))
    with sklearn.config_context(array_api_dispatch=True):
        space = input_space(probe)
    estimator = copy.deepcopy(estimator)
    if hasattr(estimator, "n_features_in_"):
        follow_inputs(estimator, space)
    return estimator


def check_fit_space(estimator, X, method: str) -> None:
    """Under dispatch, refuse X from another namespace or device than the
    fit's, with scikit-learn's message."""
    if not dispatching():
        return
    space = input_space(X)
    current = None if space is None else space.record()
    fitted = getattr(estimator, RECORD, None)
    if fitted is not None:
        fitted = tuple(fitted)
    if current == fitted:
        return

    def describe(record):
        return "NumPy arrays (or array-likes)" if record is None else "{} on {}".format(*record)

    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the same "
        f"namespace and the same device as those passed to fit(): the model was fitted "
        f"on {describe(fitted)} and got {describe(current)}. Pass X as fit got it, or "
        "move the fitted model with scikit-learn's move_estimator_to(estimator, xp, "
        "device) (from sklearn.utils._array_api)."
    )


class Output:
    """Turns the engine's tensors into a method's return values: NumPy arrays
    on the host, or, for an array API X under dispatch, arrays of X's
    namespace on X's device."""

    def __init__(self, space: ArraySpace | None):
        self.space = space

    def __call__(self, tensor: torch.Tensor):
        return to_numpy(tensor) if self.space is None else self.space.from_torch(tensor)

    def labels(self, classes: np.ndarray, indices: torch.Tensor):
        """``classes[indices]``: looked up where the indices are when the
        labels are numbers torch holds; NumPy labels otherwise."""
        if self.space is not None and classes.dtype.kind in "biuf":
            try:
                labels = torch.as_tensor(classes, device=indices.device)
            except TypeError:  # a dtype torch lacks
                return self.space.from_host(classes[to_numpy(indices)])
            return self(labels[indices])
        return classes[to_numpy(indices)]
