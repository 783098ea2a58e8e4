"""The estimators inside scikit-learn's tooling: pipelines, column
transformers, searches, ensembles, calibration, displays and sparse input."""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import torch  # noqa: E402
from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.inspection import DecisionBoundaryDisplay  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _clf(**params):
    defaults = dict(hidden_layer_sizes=(8,), max_iter=30, learning_rate_init=0.02, random_state=0)
    return TorchMLPClassifier(**{**defaults, **params})


def _reg(**params):
    defaults = dict(hidden_layer_sizes=(8,), max_iter=30, learning_rate_init=0.02, random_state=0)
    return TorchMLPRegressor(**{**defaults, **params})


@pytest.fixture
def mixed_frame():
    """A DataFrame with numeric and categorical columns and a binary target."""
    rng = np.random.RandomState(0)
    n = 120
    frame = pd.DataFrame(
        {
            "age": rng.uniform(20, 70, n),
            "income": rng.lognormal(10, 1, n),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "plan": pd.Categorical(rng.choice(["basic", "pro"], n)),
        }
    )
    y = ((frame["age"] > 45) ^ (frame["city"] == "nice")).astype(int).to_numpy()
    return frame, y


def test_pipeline_with_column_transformer_on_a_dataframe(mixed_frame):
    frame, y = mixed_frame
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
        ]
    )
    model = make_pipeline(columns, _clf(hidden_layer_sizes=(16,), max_iter=100)).fit(frame, y)
    assert model.score(frame, y) > 0.9
    assert model.predict_proba(frame.iloc[:5]).shape == (5, 2)
    assert model[-1].n_features_in_ == 2 + 3 + 2


def test_fitting_on_a_dataframe_records_feature_names(mixed_frame):
    frame, y = mixed_frame
    numeric = frame[["age", "income"]]
    clf = _clf(max_iter=2).fit(numeric, y)
    np.testing.assert_array_equal(clf.feature_names_in_, ["age", "income"])
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(numeric.to_numpy())
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(numeric[["income", "age"]])


def test_fitting_on_an_array_records_no_feature_names(binary_data):
    X, y = binary_data
    assert not hasattr(_clf(max_iter=2).fit(X, y), "feature_names_in_")


def test_grid_search_in_parallel_over_mlp_and_torch_parameters(binary_data):
    # n_jobs=2: every candidate is pickled to a worker process and fitted there;
    # error_score='raise' makes a candidate that fails there fail the test
    X, y = binary_data
    grid = {
        "hidden_layer_sizes": [(4,)],
        "alpha": [1e-4],
        "learning_rate_init": [0.05],
        "dropout": [0.0, 0.2],
    }
    search = GridSearchCV(_clf(max_iter=10), grid, cv=2, n_jobs=2, error_score="raise")
    search.fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.score(X, y) > 0.8
    # the refitted best model has the network its parameters describe
    best = search.best_estimator_
    assert best.coefs_[0].shape == (X.shape[1], 4)
    rates = [m.p for m in best.module_.modules() if isinstance(m, torch.nn.Dropout)]
    assert rates == ([search.best_params_["dropout"]] if search.best_params_["dropout"] else [])


def test_a_grid_written_for_mlp_classifier_runs_unchanged():
    """The grid and the search, unchanged; only the estimator is swapped. Every
    candidate must fit (error_score='raise') and the parameters reach the network."""
    X, y = make_classification(n_samples=80, n_features=4, random_state=0)
    grid = {"hidden_layer_sizes": [(4,), (8,)], "alpha": [1e-4, 1e-2], "learning_rate_init": [0.01]}
    for estimator in (MLPClassifier(max_iter=5, random_state=0), _clf(max_iter=5)):
        search = GridSearchCV(estimator, grid, cv=2, error_score="raise").fit(X, y)
        assert np.isfinite(search.cv_results_["mean_test_score"]).all()
        width = search.best_params_["hidden_layer_sizes"][0]
        assert [c.shape for c in search.best_estimator_.coefs_] == [(4, width), (width, 1)]


def test_mlp_classifier_params_construct_and_fit_a_torch_classifier(binary_data):
    X, y = binary_data
    clf = TorchMLPClassifier(**MLPClassifier().get_params()).set_params(max_iter=3)
    clf.fit(X, y)
    assert clf.predict(X).shape == (len(y),)


def test_mlp_regressor_params_construct_and_fit_a_torch_regressor(regression_data):
    X, y = regression_data
    reg = TorchMLPRegressor(**MLPRegressor().get_params()).set_params(max_iter=3)
    reg.fit(X, y)
    assert reg.predict(X).shape == (len(y),)


def test_cross_val_score(binary_data, regression_data):
    X, y = binary_data
    scores = cross_val_score(_clf(), X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8
    X, y = regression_data
    assert cross_val_score(_reg(max_iter=60), X, y, cv=3).mean() > 0.8


def test_calibrated_classifier_cv(binary_data):
    X, y = binary_data
    calibrated = CalibratedClassifierCV(_clf(), cv=2).fit(X, y)
    proba = calibrated.predict_proba(X)
    assert proba.shape == (len(y), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_soft_voting_classifier(classification_data):
    X, y = classification_data
    voting = VotingClassifier(
        [("mlp", _clf()), ("logreg", LogisticRegression(max_iter=200))], voting="soft"
    ).fit(X, y)
    assert voting.predict_proba(X).shape == (len(y), 3)
    assert voting.score(X, y) > 0.7


def test_stacking_classifier(binary_data):
    X, y = binary_data
    stack = StackingClassifier(
        [("mlp", _clf()), ("logreg", LogisticRegression())], LogisticRegression(), cv=2
    ).fit(X, y)
    assert stack.score(X, y) > 0.8


def test_stacking_regressor(regression_data):
    X, y = regression_data
    stack = StackingRegressor(
        [("mlp", _reg()), ("linear", LinearRegression())], LinearRegression(), cv=2
    ).fit(X, y)
    assert stack.score(X, y) > 0.9


def test_transformed_target_regressor(regression_data):
    X, y = regression_data
    y_positive = np.exp(y / y.std())
    model = TransformedTargetRegressor(_reg(max_iter=60), func=np.log, inverse_func=np.exp)
    model.fit(X, y_positive)
    assert (model.predict(X) > 0).all()
    assert model.score(X, y_positive) > 0.5


def test_decision_boundary_display():
    X, y = make_classification(
        n_samples=100, n_features=2, n_redundant=0, n_informative=2, random_state=0
    )
    clf = _clf().fit(X, y)
    display = DecisionBoundaryDisplay.from_estimator(clf, X, response_method="predict_proba")
    assert display.response.shape == display.xx0.shape
    plt.close("all")


def test_pipeline_predict_passes_return_std_through(regression_data):
    X, y = regression_data
    model = make_pipeline(StandardScaler(), _reg(loss="gaussian_nll")).fit(X, y)
    mean, std = model.predict(X, return_std=True)
    assert mean.shape == std.shape == (len(y),)
    assert (std > 0).all()
    np.testing.assert_array_equal(mean, model.predict(X))


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("estimator_factory", [_clf, _reg], ids=["classifier", "regressor"])
def test_sparse_input_fits_and_predicts_like_its_dense_form(fmt, estimator_factory):
    rng = np.random.RandomState(0)
    dense = rng.binomial(1, 0.3, size=(100, 10)) * rng.uniform(1, 5, size=(100, 10))
    target = dense[:, :3].sum(axis=1)
    y = (target > np.median(target)).astype(int) if estimator_factory is _clf else target
    X = sp.csr_matrix(dense) if fmt == "csr" else sp.csc_matrix(dense)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator = estimator_factory(max_iter=60).fit(X, y)
    assert estimator.score(X, y) > 0.8
    # the dense and sparse forms may reach the network through different
    # float32 operations: equal to float32 rounding (see tests/test_sparse.py)
    np.testing.assert_allclose(
        estimator.predict(X), estimator.predict(dense), rtol=1e-5, atol=1e-6 * y.std()
    )
    lbfgs = estimator_factory(solver="lbfgs", max_iter=20).fit(X, y)
    assert lbfgs.score(X, y) > 0.8
