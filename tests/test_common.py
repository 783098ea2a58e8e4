"""scikit-learn's estimator checks over both estimators in several configurations."""

from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor

# Small max_iter keeps the checks fast; random_state makes them deterministic.
ESTIMATORS = [
    TorchMLPClassifier(max_iter=100, random_state=0),
    TorchMLPRegressor(max_iter=100, random_state=0),
    TorchMLPRegressor(loss="gaussian_nll", max_iter=100, random_state=0),
    TorchMLPClassifier(early_stopping=True, dropout=0.1, max_iter=100, random_state=0),
    TorchMLPRegressor(solver="sgd", max_iter=100, random_state=0),
]


def expected_failed_checks(estimator):
    """Checks expected to fail, each with its reason. Every entry is a debt."""
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_param_validation():
    for estimator in (TorchMLPClassifier(), TorchMLPRegressor()):
        check_param_validation(type(estimator).__name__, estimator)
