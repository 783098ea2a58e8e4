"""What a fitted estimator exposes and carries: the weights as scikit-learn's
MLP shows them (``coefs_``, ``intercepts_``, assignable), the arrays that
follow X's namespace under array API dispatch, and copying and pickling
(which never move the live network off its device)."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from .._engine.array_space import moved, to_host
from .._engine.network import assign_weights
from .._io.safe_format import (
    check_versions,
    fitted_state_defaults,
    parameter_defaults,
    record_versions,
)
from .._nn.device import is_available, on_cpu, to_numpy, tree_to
from .._nn.mlp import weight_layers


class FittedStateMixin:
    """The fitted weights' views, and copying and pickling, of
    :class:`~sk_mlp._estimators.base.BaseTorchMLP`."""

    # Fitted arrays that follow X's namespace and device (see sk_mlp._engine.array_space).
    _arrays_following_X: tuple[str, ...] = ()

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices of the linear layers, each of shape (n_in, n_out).

        As in scikit-learn's MLP. These are numpy copies; ``module_`` holds
        the live weights. With ``n_ensemble > 1`` the last entry holds the
        members' output layers, of shape (n_ensemble, n_in, n_out).

        Assignable, as in scikit-learn: on a fitted estimator, a list of one
        array per layer replaces the weights at once; on an unfitted one, it
        is kept (and returned, so that its items can still be replaced) until
        the first fit, whose network starts from it instead of random weights.
        """
        if "_assigned_coefs" in vars(self):
            return self._assigned_coefs
        check_is_fitted(self)
        return [
            to_numpy(layer.weight).swapaxes(-1, -2).copy() for layer in weight_layers(self.module_)
        ]

    @coefs_.setter
    def coefs_(self, value):
        self._assign_weights(value, "coefs_")

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors of the linear layers (numpy copies).

        With ``n_ensemble > 1`` the last is of shape (n_ensemble, n_out).
        Assignable as ``coefs_`` is.
        """
        if "_assigned_intercepts" in vars(self):
            return self._assigned_intercepts
        check_is_fitted(self)
        return [to_numpy(layer.bias).copy() for layer in weight_layers(self.module_)]

    @intercepts_.setter
    def intercepts_(self, value):
        self._assign_weights(value, "intercepts_")

    def _assign_weights(self, arrays, name: str) -> None:
        if "module_" in vars(self):
            assign_weights(self.module_, arrays, name)
        else:  # the first fit builds the network, then starts from these
            setattr(self, f"_assigned_{name[:-1]}", arrays)

    def __sklearn_array_api_convert__(self, converter):
        # scikit-learn's move_estimator_to: the arrays that follow X move.
        return moved(self, converter)

    # What a fit holds while it runs, which a copy made meanwhile is not part of.
    _running_fit_state = (
        "_fit_task",
        "_callback_fit_ctx",
        "_skl_callbacks_to_teardown",
        "_parent_callback_ctx",
    )

    def __copy__(self):
        # A shallow copy shares the live network, as copy.copy means; the
        # default would go through __getstate__, which copies a GPU network
        # to the host (scikit-learn's callbacks copy the estimator each epoch).
        new = type(self).__new__(type(self))
        state = vars(self)
        vars(new).update({k: v for k, v in state.items() if k not in self._running_fit_state})
        return new

    def __getstate__(self):
        # A copy: on Python >= 3.11 scikit-learn returns the live __dict__,
        # and pickling must never move the live network off its device.
        state = dict(super().__getstate__())
        for name in self._arrays_following_X:  # a pickle holds host arrays
            if name in state:
                state[name] = to_host(state[name])
        if "module_" in state and not on_cpu(torch.device(self.device_)):
            state["module_"] = copy.deepcopy(self.module_).to("cpu")
            state["_optimizer_state"] = tree_to(self._optimizer_state, "cpu")
        return record_versions(state)

    def __setstate__(self, state):
        check_versions(state, type(self).__name__)  # warns when the versions differ
        state = {**state, **parameter_defaults(type(self), missing_from=state)}  # added since
        super().__setstate__(state)
        fitted_state_defaults(self)
        device = getattr(self, "device_", "cpu")
        if on_cpu(torch.device(device)):
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
