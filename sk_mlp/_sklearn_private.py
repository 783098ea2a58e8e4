"""Every private scikit-learn name sk_mlp relies on, imported in one place.

scikit-learn has no public equivalents for parameter-constraint validation
(what ``check_param_validation`` expects) or for sample-weight validation.
If a release moves them, this is the only file to change.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight

__all__ = ["Interval", "Options", "StrOptions", "_check_sample_weight", "_fit_context"]
