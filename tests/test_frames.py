"""Raw pandas frames: categorical columns and missing values, inside the estimators."""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _frame(n=300, seed=0):
    """Numbers with gaps, strings, a category column with missing entries, booleans."""
    rng = np.random.RandomState(seed)
    frame = pd.DataFrame(
        {
            "size": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "grade": pd.Series(rng.choice(["a", "b", None], n), dtype="category"),
            "flag": rng.rand(n) < 0.5,
            "count": pd.Series(rng.poisson(3, n)).astype("Int64"),
        }
    )
    frame.loc[rng.rand(n) < 0.2, "size"] = np.nan
    frame.loc[rng.rand(n) < 0.1, "count"] = pd.NA
    # The label depends on a category, on a number and on whether it is missing.
    label = (frame.colour == "red") ^ (frame["size"].fillna(5) > 0.5)
    return frame, label.astype(int).to_numpy()


def _fit(estimator, X, y):
    return estimator.set_params(max_iter=60, random_state=0).fit(X, y)


def test_a_raw_frame_with_categories_and_missing_values_fits_and_predicts():
    X, y = _frame()
    clf = _fit(TorchMLPClassifier(), X, y)
    assert clf.score(X, y) > 0.9  # the missing-value indicator carries signal
    np.testing.assert_array_equal(clf.is_categorical_, [False, True, True, False, False])
    assert list(clf.feature_names_in_) == list(X.columns)
    assert clf.predict_proba(X.iloc[:5]).shape == (5, 2)


def test_frame_regressor_uses_the_categories():
    X, _ = _frame()
    y = (X.colour == "blue") * 3.0 + X["size"].fillna(0).to_numpy()
    reg = _fit(TorchMLPRegressor(), X, y)
    assert reg.score(X, y) > 0.9


def test_unseen_and_missing_categories_at_predict_are_treated_as_missing():
    X, y = _frame()
    clf = _fit(TorchMLPClassifier(), X, y)
    changed = X.iloc[:4].copy()
    changed["colour"] = ["purple", None, "red", np.nan]
    as_missing = X.iloc[:4].copy()
    as_missing["colour"] = [None, None, "red", None]
    np.testing.assert_array_equal(clf.predict_proba(changed), clf.predict_proba(as_missing))


def test_missing_numbers_at_predict_need_not_have_been_seen_in_fit():
    X, y = _frame()
    X["count"] = X["count"].fillna(0)  # no missing count in fit
    clf = _fit(TorchMLPClassifier(), X, y)
    gap = X.iloc[:3].copy()
    gap["count"] = pd.array([pd.NA, 1, pd.NA], dtype="Int64")
    assert np.isfinite(clf.predict_proba(gap)).all()


def test_feature_names_and_dtypes_are_checked_with_scikit_learns_wording():
    X, y = _frame()
    clf = _fit(TorchMLPClassifier(), X, y)
    with pytest.raises(ValueError, match="The feature names should match"):
        clf.predict(X.rename(columns={"size": "length"}))
    wrong = X.copy()
    wrong["size"] = "big"
    with pytest.raises(ValueError, match="dtypes of the features should match"):
        clf.predict(wrong)


def test_the_frame_stage_is_fixed_at_the_first_fit():
    X, y = _frame()
    clf = _fit(TorchMLPClassifier(warm_start=True), X, y)
    encoder = clf._tabular
    other, _ = _frame(seed=1)
    other["colour"] = "yellow"  # a category the first fit never saw
    with pytest.warns(UserWarning, match="'colour': 100% of its 300 values"):
        clf.fit(other, y)
    assert clf._tabular is encoder and encoder.categories_[0] == ["blue", "green", "red"]
    stream = TorchMLPClassifier(random_state=0).partial_fit(X, y, classes=[0, 1])
    with pytest.warns(UserWarning, match="were not seen in fit"):
        stream.partial_fit(other, y)
    assert stream._tabular.categories_[0] == ["blue", "green", "red"]


@pytest.mark.parametrize(
    "spec", [["colour", "grade"], [1, 2], [False, True, True, False, False]], ids=str
)
def test_categorical_features_by_name_index_or_mask(spec):
    X, y = _frame()
    X["grade"] = X["grade"].astype(object)
    clf = _fit(TorchMLPClassifier(categorical_features=spec), X, y)
    np.testing.assert_array_equal(clf.is_categorical_, [False, True, True, False, False])


def test_string_columns_of_a_numpy_array_need_categorical_features():
    X, y = _frame()
    array = X[["size", "colour"]].to_numpy(dtype=object)
    with pytest.raises(ValueError, match="categorical_features"):
        TorchMLPClassifier(max_iter=2).fit(array, y)
    clf = _fit(TorchMLPClassifier(categorical_features=[1]), array, y)
    assert clf.score(array, y) > 0.8


def test_a_numeric_frame_gives_the_model_of_its_array():
    X, y = _frame()
    numbers = X[["size", "count"]].fillna(0).astype(float)
    from_frame = _fit(TorchMLPClassifier(), numbers, y)
    from_array = _fit(TorchMLPClassifier(), numbers.to_numpy(), y)
    np.testing.assert_array_equal(
        from_frame.predict_proba(numbers), from_array.predict_proba(numbers.to_numpy())
    )
    assert from_frame.is_categorical_ is None


def test_nan_in_a_numeric_array_is_imputed_with_an_indicator():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3))
    y = (rng.rand(300) < 0.5).astype(int)
    X[y == 1, 0] = np.nan  # "missing" is the whole signal
    clf = _fit(TorchMLPClassifier(), X, y)
    assert clf.score(X, y) > 0.97


def test_changing_categorical_features_refits_from_scratch():
    X, y = _frame()
    clf = _fit(TorchMLPClassifier(warm_start=True), X, y)
    first_curve = list(clf.loss_curve_)
    clf.set_params(categorical_features=["colour", "grade", "flag"]).fit(X, y)
    np.testing.assert_array_equal(clf.is_categorical_, [False, True, True, True, False])
    assert clf.loss_curve_[: len(first_curve)] != first_curve  # a new fit, not a continuation


def test_frame_model_pickles_and_clones():
    X, y = _frame()
    clf = _fit(TorchMLPClassifier(), X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    fresh = clone(clf)
    assert not hasattr(fresh, "_tabular") and not hasattr(fresh, "is_categorical_")


def test_many_categories_get_an_embedding():
    rng = np.random.RandomState(0)
    codes = rng.randint(0, 1500, 3000)
    X = pd.DataFrame({"id": pd.Categorical([f"c{c}" for c in codes]), "x": rng.normal(size=3000)})
    y = (codes % 2 == 0).astype(int)
    clf = TorchMLPClassifier(max_iter=3, random_state=0).fit(X, y)
    embeddings = [m for m in clf.module_.modules() if isinstance(m, torch.nn.Embedding)]
    n_categories = len(np.unique(codes))
    assert n_categories > 1000
    assert len(embeddings) == 1 and embeddings[0].num_embeddings == n_categories + 1


def test_numbers_where_strings_were_in_fit_are_an_error():
    X, y = _frame()
    clf = _fit(TorchMLPClassifier(), X, y)
    wrong = X.copy()
    wrong["colour"] = np.arange(len(X))
    with pytest.raises(ValueError, match="'colour': categorical in fit"):
        clf.predict(wrong)


def test_numbers_may_stand_for_categories_that_were_numbers():
    X, y = _frame()
    X["level"] = pd.Categorical(np.arange(len(X)) % 3)
    clf = _fit(TorchMLPClassifier(), X, y)
    numbers = X.copy()
    numbers["level"] = (np.arange(len(X)) % 3).astype(np.int64)
    np.testing.assert_array_equal(clf.predict_proba(numbers), clf.predict_proba(X))


def test_integer_arrays_and_frames_give_the_model_of_their_floats():
    rng = np.random.RandomState(0)
    X = rng.randint(-5000, 5000, size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    reference = _fit(TorchMLPClassifier(), X.astype(np.float64), y)
    for same in (X, pd.DataFrame(X, columns=list("abc"))):
        model = _fit(TorchMLPClassifier(), same, y)
        np.testing.assert_array_equal(model.predict_proba(same), reference.predict_proba(X))


def test_a_frame_of_sparse_columns_is_a_sparse_matrix_with_names():
    rng = np.random.RandomState(0)
    X = rng.binomial(1, 0.3, (120, 4)) * rng.rand(120, 4)
    y = (X[:, 0] > 0.1).astype(int)
    frame = pd.DataFrame.sparse.from_spmatrix(sp.csr_matrix(X), columns=list("abcd"))
    from_frame = _fit(TorchMLPClassifier(), frame, y)
    from_matrix = _fit(TorchMLPClassifier(), sp.csr_matrix(X), y)
    assert list(from_frame.feature_names_in_) == list("abcd")
    np.testing.assert_array_equal(
        from_frame.predict_proba(frame), from_matrix.predict_proba(sp.csr_matrix(X))
    )


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_a_frame_model_refuses_sparse_input_at_predict():
    X, y = _frame()
    clf = _fit(TorchMLPClassifier(), X, y)
    numbers = sp.csr_matrix(np.ones((3, X.shape[1])))
    with pytest.raises(
        ValueError, match="which a sparse matrix cannot hold; pass the same columns"
    ):
        clf.predict(numbers)
    # a frame with no category and no gap has nothing a sparse matrix lacks
    numeric = X[["size"]].fillna(0.0)
    plain = _fit(TorchMLPClassifier(), numeric, y)
    assert plain.predict(sp.csr_matrix(numeric.to_numpy())).shape == (len(y),)
