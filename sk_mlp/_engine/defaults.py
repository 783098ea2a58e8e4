"""The estimators' defaults that depart from scikit-learn's MLP: how each
``'auto'`` value resolves, with the table size it turns on at, and
:data:`SKLEARN_MLP_PARAMS`, the setting that undoes them.

The evidence behind each rule is in ``docs/tabular.rst`` ("Evidence for the
defaults"); scikit-learn's precedent is HistGradientBoosting's
``early_stopping='auto'``, on from 10,000 samples. This module imports nothing
of the package: the estimators, the network builder and the streamed fit read
the rules from here.
"""

from __future__ import annotations

from types import MappingProxyType

from sklearn.base import is_regressor

# The parameters, and their values, that give scikit-learn's MLP: every
# other parameter sk_mlp adds is off by default, every shared one keeps
# scikit-learn's default (docs/user_guide/from_sklearn.rst).
SKLEARN_MLP_PARAMS = MappingProxyType(
    {
        "early_stopping": False,
        "dropout": 0.0,
        "preprocessing": None,
        "numeric_embedding": None,
        "n_ensemble": 1,
        "uncertainty_calibration": None,
    }
)

# From this many samples, early_stopping='auto' holds out validation_fraction
# of them and keeps the best epoch, and numeric_embedding='auto' encodes the
# numeric features piecewise-linearly (which overfits without the best epoch).
AUTO_MIN_SAMPLES = 1_000


def dropout_rate(estimator) -> float:
    """``dropout``, with ``'auto'`` resolved: 0.1, or 0 for L-BFGS, whose
    line search needs a deterministic loss."""
    if estimator.dropout != "auto":
        return estimator.dropout
    return 0.0 if estimator.solver == "lbfgs" else 0.1


def early_stopping(estimator, n_samples: int | None, *, incremental: bool = False) -> bool:
    """Whether this fit holds out a validation split and keeps its best epoch.

    ``'auto'`` is on for a ``fit`` of at least :data:`AUTO_MIN_SAMPLES`
    samples (``n_samples=None``, a streamed fit, counts as fewer), never for
    ``partial_fit``; L-BFGS has no epochs to choose from.
    """
    if estimator.solver == "lbfgs":
        return False
    if estimator.early_stopping == "auto":
        return not incremental and n_samples is not None and n_samples >= AUTO_MIN_SAMPLES
    return bool(estimator.early_stopping)


def numeric_embedding(
    estimator, n_samples: int | None, *, dense: bool, early_stopping: bool
) -> str | None:
    """The numeric embedding a first fit builds: ``'auto'`` is
    ``'piecewise_linear'`` for dense X of at least :data:`AUTO_MIN_SAMPLES`
    samples where the best epoch is kept, else none (a user's ``module``
    takes the inputs as they are)."""
    value = estimator.numeric_embedding
    if value != "auto":
        return value
    enough = n_samples is not None and n_samples >= AUTO_MIN_SAMPLES
    if estimator.module is not None or not dense or not early_stopping or not enough:
        return None
    return "piecewise_linear"


# Members of n_ensemble='auto': eight for the regressor at every size (on the
# tabular benchmark they won on 7 of 18 regression tables, two of them under
# AUTO_MIN_SAMPLES, and lost on none), one for the classifier, where they moved
# none of 15 (docs/tabular.rst). Only under Adam, the solver they were
# measured with: the loss is the members' mean, so under plain SGD each
# member's own parameters get 1/8 of their gradient and learn that much slower.
AUTO_ENSEMBLE_REGRESSOR = 8


def n_ensemble(estimator) -> int:
    """The members a first fit trains: ``'auto'`` is
    :data:`AUTO_ENSEMBLE_REGRESSOR` for a regressor trained by Adam, else
    one (and one for a user's ``module``, which has no members)."""
    value = estimator.n_ensemble
    if value != "auto":
        return value
    if estimator.module is None and estimator.solver == "adam" and is_regressor(estimator):
        return AUTO_ENSEMBLE_REGRESSOR
    return 1


def temperature_scaling(estimator, held_out: bool) -> bool:
    """Whether the classifier's fit scales its logits by a temperature fitted
    on the rows it held out (``held_out``: the early-stopping validation split).

    ``'auto'`` does wherever there are such rows: ``early_stopping='auto'``
    holds them out from :data:`AUTO_MIN_SAMPLES` samples. On the 9 of 15
    classification tables of that size it moved neither log loss nor
    calibration error at the defaults, whose best epoch is chosen by the
    same validation log loss, and with ``label_smoothing=0.1`` lowered the
    log loss on 7 and the calibration error on 6, raising neither anywhere
    (docs/user_guide/losses.rst, "Probabilities on rows the network did not
    train on").
    """
    return estimator.uncertainty_calibration is not None and held_out
