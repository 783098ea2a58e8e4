"""``partial_fit``'s availability: the decorator that makes the method exist
only where the parameters allow it, and says why not otherwise."""

from __future__ import annotations

import functools

from sklearn.utils.metaestimators import available_if


class PartialFitUnavailable(ValueError, AttributeError):
    """``partial_fit`` cannot run with the estimator's parameters.

    A ValueError, as scikit-learn's MLP raises for ``early_stopping=True``,
    and an AttributeError, so that ``hasattr(estimator, "partial_fit")`` says
    so beforehand (as for ``solver='lbfgs'``) and code that probes for
    ``partial_fit``, scikit-learn's estimator checks included, passes it by.
    (scikit-learn's ``NotFittedError`` is both in the same way.)
    """


class partial_fit_if_supported:
    """``available_if(check)`` for ``partial_fit``, except that the check's
    :class:`PartialFitUnavailable` reaches the caller as it is: looking the
    method up raises it, so ``except ValueError`` around the call catches it."""

    def __init__(self, check):
        self.check = check

    def __call__(self, method):
        self.method = available_if(self.check)(method)
        functools.update_wrapper(self, method)
        return self

    def __get__(self, obj, owner=None):
        # early_stopping='auto' is off for partial_fit.
        on = obj is not None and obj.early_stopping != "auto" and obj.early_stopping
        if on and _passes(self.check, obj):
            raise PartialFitUnavailable(
                "partial_fit does not support early_stopping=True; set "
                "early_stopping=False to train incrementally."
            )
        return self.method.__get__(obj, owner)


def _passes(check, estimator) -> bool:
    try:
        return bool(check(estimator))
    except AttributeError:
        return False


def _supports_partial_fit(estimator) -> bool:
    if estimator.solver == "lbfgs":
        raise AttributeError(
            f"partial_fit is only available for stochastic solvers; "
            f"solver={estimator.solver!r} is full-batch."
        )
    return True
