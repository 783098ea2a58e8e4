"""scikit-learn's estimator checks over both estimators in several configurations."""

import pytest
import torch
from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class SmallNetwork(torch.nn.Module):
    """A user's network class, passed as the ``module=`` factory: module-level,
    so that the estimator pickles (and its repr, hence the test ids, is the
    same in every pytest-xdist worker, which a function's is not)."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(n_features, 16), torch.nn.Tanh(), torch.nn.Linear(16, n_outputs)
        )

    def forward(self, X):
        return self.layers(X)


# Small max_iter keeps the checks fast (with a higher learning rate, enough to
# pass the checks' accuracy bars); random_state makes them deterministic.
# Between them, the configurations cover every solver, every loss (aliases
# included), class weights, temperature scaling, both normalizations, the tabular ingredients
# (ensembles, label smoothing, feature scaling, both numeric embeddings, the
# warm-up schedule) and a user's module.
ESTIMATORS = [
    TorchMLPClassifier(max_iter=100, random_state=0),
    TorchMLPRegressor(max_iter=100, random_state=0),
    TorchMLPRegressor(loss="gaussian_nll", max_iter=100, random_state=0),
    TorchMLPClassifier(
        early_stopping=True,
        uncertainty_calibration="temperature",
        dropout=0.1,
        max_iter=100,
        random_state=0,
    ),
    TorchMLPRegressor(solver="sgd", max_iter=100, random_state=0),
    TorchMLPClassifier(
        solver="adamw", loss="cross_entropy", max_iter=30, learning_rate_init=0.01, random_state=0
    ),
    TorchMLPClassifier(solver="sgd", max_iter=30, learning_rate_init=0.01, random_state=0),
    TorchMLPClassifier(solver="lbfgs", max_iter=30, random_state=0),
    TorchMLPRegressor(
        solver="adamw", loss="mse", max_iter=30, learning_rate_init=0.01, random_state=0
    ),
    TorchMLPRegressor(solver="lbfgs", max_iter=30, random_state=0),
    TorchMLPRegressor(loss="poisson", max_iter=30, learning_rate_init=0.01, random_state=0),
    TorchMLPRegressor(loss="quantile", max_iter=100, random_state=0),
    TorchMLPRegressor(
        loss="quantile", quantile=0.5, n_ensemble=2, max_iter=100, dropout=0.0, random_state=0
    ),
    TorchMLPClassifier(
        class_weight="balanced", max_iter=30, learning_rate_init=0.01, random_state=0
    ),
    TorchMLPClassifier(normalization="batch", max_iter=30, learning_rate_init=0.01, random_state=0),
    TorchMLPRegressor(normalization="layer", max_iter=30, learning_rate_init=0.01, random_state=0),
    TorchMLPClassifier(n_ensemble=3, label_smoothing=0.1, max_iter=100, random_state=0),
    TorchMLPRegressor(
        n_ensemble=3,
        feature_scaling=True,
        learning_rate="warmup_cosine",
        max_iter=100,
        random_state=0,
    ),
    TorchMLPClassifier(numeric_embedding="piecewise_linear", max_iter=30, random_state=0),
    TorchMLPRegressor(
        numeric_embedding="periodic", max_iter=30, learning_rate_init=0.01, random_state=0
    ),
    TorchMLPClassifier(module=SmallNetwork, max_iter=30, learning_rate_init=0.01, random_state=0),
    TorchMLPRegressor(module=SmallNetwork, max_iter=30, learning_rate_init=0.01, random_state=0),
]


# Training runs in float32. Fitting with integer sample weights and
# fitting on the correspondingly repeated rows compute the same objective, the
# same weighted target and input statistics and the same full-batch gradients,
# but sum them in a different order. Measured: predictions agree to 1e-7..1e-5
# relative (3e-4 relative, 6e-7 absolute, for the near-zero means of
# gaussian_nll), not always within the checks' rtol=1e-7, which only float64
# arithmetic could promise. Whether a configuration lands just inside or just
# outside 1e-7 changes with any change to initialisation or data, so these are
# not strict xfails. tests/test_training.py::test_sample_weight_equals_repetition
# asserts the equivalence at float32 tolerance.
FLOAT32_REASON = (
    "float32 training: weighted and repeated fits agree to float32 rounding "
    "(1e-7..1e-5 relative), the check demands rtol=1e-7"
)
# With early stopping, weighted and repeated data are different data sets to
# split: the validation rows differ, and so do the dropout masks drawn per batch.
SPLIT_REASON = (
    "early stopping splits rows (and dropout draws masks) differently for "
    "weighted and repeated data, so the fits differ by design"
)
# Dropout (on by default, dropout='auto') draws one mask per row and step: a row
# repeated k times gets k independent masks, its weighted copy one. Equal in
# expectation, not per fit. With dropout=0 the FLOAT32_REASON applies (the
# gaussian_nll configuration, whose 'auto' is 0, covers it).
DROPOUT_REASON = (
    "dropout draws a mask per row, so repeated rows get several masks where the "
    "weighted row gets one: equal in expectation, different per fit by design"
)


# scikit-learn 1.9's check_regressor_multioutput fits make_regression targets,
# negative values included, without applying target_tags.positive_only as every
# other check does; the Poisson loss rightly refuses negative targets. Not a
# defect of sk_mlp: the debt is scikit-learn's.
POSITIVE_Y_REASON = (
    "check_regressor_multioutput ignores target_tags.positive_only and passes "
    "negative targets, which loss='poisson' refuses"
)


def expected_failed_checks(estimator):
    """Checks expected to fail, each with its reason. Every entry is a debt."""
    # early_stopping='auto' is off on the checks' data (under 1,000 samples).
    if estimator.get_params()["early_stopping"] is True:
        reason = SPLIT_REASON
    elif estimator._dropout_rate() > 0 and estimator.module is None:
        reason = DROPOUT_REASON  # a user's module= network has no dropout of ours
    else:
        reason = FLOAT32_REASON
    expected = {
        "check_sample_weight_equivalence_on_dense_data": reason,
        "check_sample_weight_equivalence_on_sparse_data": reason,
    }
    if estimator.get_params()["loss"] == "poisson":
        expected["check_regressor_multioutput"] = POSITIVE_Y_REASON
    return expected


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=expected_failed_checks, xfail_strict=False
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_param_validation():
    for estimator in (TorchMLPClassifier(), TorchMLPRegressor()):
        check_param_validation(type(estimator).__name__, estimator)
