"""Every private or version-dependent scikit-learn name sk_mlp relies on, in one place.

scikit-learn has no public equivalents for parameter-constraint validation
(what ``check_param_validation`` expects), for sample-weight validation, or
for its array API helpers (the namespace and device of an input, and moving
arrays between namespaces and devices). Its callback API (``sklearn.callback``)
is public but new in 1.9. If a release moves them, this is the only file to
change.
"""

from sklearn.base import _fit_context
from sklearn.externals.array_api_compat import array_namespace, is_array_api_obj
from sklearn.utils._array_api import _convert_to_numpy, get_namespace_and_device
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight

try:  # scikit-learn >= 1.8
    from sklearn.utils._array_api import move_to
except ImportError:  # pragma: no cover - older scikit-learn

    def move_to(array, *, xp, device):
        """The public-API route of scikit-learn's ``move_to``: through NumPy."""
        source, _, _ = get_namespace_and_device(array)
        return xp.asarray(_convert_to_numpy(array, source), device=device)


try:  # scikit-learn >= 1.9: fits that callbacks can watch (sk_mlp._estimators.callbacks)
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # older scikit-learn: estimators without set_callbacks

    class CallbackSupportMixin:
        """Stands in for scikit-learn's mixin where it has no callback API."""


__all__ = [
    "CallbackSupportMixin",
    "Interval",
    "Options",
    "StrOptions",
    "_check_sample_weight",
    "_convert_to_numpy",
    "_fit_context",
    "array_namespace",
    "get_namespace_and_device",
    "is_array_api_obj",
    "move_to",
]
