"""Every public class, method and attribute of sk_mlp is documented in numpydoc style."""

import inspect
import warnings

import numpy as np
import pytest
from numpydoc.docscrape import ClassDoc
from numpydoc.validate import validate
from sklearn.exceptions import ConvergenceWarning

import sk_mlp
from sk_mlp._compat.sklearn_private import StrOptions

CLASSES = [sk_mlp.TorchMLPClassifier, sk_mlp.TorchMLPRegressor]

# numpydoc checks ignored, and why:
IGNORED_EVERYWHERE = {
    # RT02: "the first line of the Returns section should contain only the
    # type". scikit-learn's convention names returned values
    # ("self : object", "y_prob : ndarray of shape ..."); the estimators are
    # drop-ins for scikit-learn's and keep its wording.
    "RT02",
}
IGNORED_FOR_MEMBERS = {
    # ES01 (extended summary), SA01 (See Also) and EX01 (Examples) on methods
    # and properties: as in scikit-learn, a method's behaviour is documented on
    # its class, whose docstring must have all three (they are checked there).
    "ES01",
    "SA01",
    "EX01",
}


def _public_members(cls):
    """Methods and properties defined by sk_mlp, not inherited from scikit-learn.

    Inherited scikit-learn members (get_params, score, set_*_request, ...)
    are scikit-learn's docstrings, validated by scikit-learn's own tests.
    """
    for name in dir(cls):
        if name.startswith("_"):
            continue
        owner = next(klass for klass in cls.__mro__ if name in vars(klass))
        if owner.__module__.startswith("sk_mlp"):
            yield name


def _errors(name, ignored):
    result = validate(name)
    return [f"{code}: {message}" for code, message in result["errors"] if code not in ignored]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_class_docstring(cls):
    assert _errors(f"sk_mlp.{cls.__name__}", IGNORED_EVERYWHERE) == []


@pytest.mark.parametrize(
    "name",
    [f"sk_mlp.{cls.__name__}.{member}" for cls in CLASSES for member in _public_members(cls)],
)
def test_member_docstring(name):
    assert _errors(name, IGNORED_EVERYWHERE | IGNORED_FOR_MEMBERS) == []


def test_every_public_method_is_checked():
    """The members above include what users call; a new method is picked up."""
    names = {member for cls in CLASSES for member in _public_members(cls)}
    expected = {"fit", "partial_fit", "predict", "predict_proba", "predict_log_proba"}
    assert expected | {"predict_interval", "coefs_", "intercepts_"} <= names


def _fitted(cls):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int) if cls is sk_mlp.TorchMLPClassifier else X[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(hidden_layer_sizes=(4,), max_iter=2, early_stopping=True).fit(X, y)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_fitted_attributes_documented(cls):
    """Every public attribute a fit sets appears in the Attributes section."""
    documented = {param.name for param in ClassDoc(cls)["Attributes"]}
    estimator = _fitted(cls)
    fitted = {name for name in vars(estimator) if name.endswith("_") and not name.startswith("_")}
    fitted |= {
        name
        for name, member in inspect.getmembers(cls)
        if isinstance(member, property) and name.endswith("_") and not name.startswith("_")
    }
    assert fitted - documented == set()


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_parameters_documented_in_order(cls):
    """The Parameters section lists exactly the constructor's parameters, in order."""
    documented = [param.name for param in ClassDoc(cls)["Parameters"]]
    assert documented == list(inspect.signature(cls).parameters)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_accepted_string_option_is_documented(cls):
    """The type line of each parameter names every string its constraints accept."""
    types = {param.name: param.type for param in ClassDoc(cls)["Parameters"]}
    missing = {
        (name, option)
        for name, constraints in cls._parameter_constraints.items()
        for constraint in constraints
        if isinstance(constraint, StrOptions)
        for option in constraint.options
        if repr(option) not in types[name]
    }
    assert missing == set()
