"""The frame stage: TabularEncoder (mixed-type tables in, float32 matrix out)
and TabularInput (codes to one-hot vectors and embeddings)."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_array_equal

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._nn.mlp import build_mlp
from sk_mlp._nn.tabular import TabularInput, build_tabular_input
from sk_mlp._preprocessing.frame import TabularEncoder


def mixed_frame():
    return pd.DataFrame(
        {
            "size": [1.0, np.nan, 3.0, 5.0],
            "colour": ["red", None, "blue", "red"],
            "count": pd.array([1, pd.NA, 3, 2], dtype="Int64"),
            "flag": [True, False, True, False],
            "shape": pd.Categorical(["a", "b", "a", "c"]),
            "label": pd.array(["x", "y", pd.NA, "x"], dtype="string"),
        }
    )


def test_frame_becomes_numbers_indicators_then_codes():
    encoder = TabularEncoder().fit(mixed_frame())
    # numeric: size, count, flag; indicators: size, count; codes: colour, shape, label
    expected = [
        [1, 1, 1, 0, 0, 2, 1, 1],
        [3, 2, 0, 1, 1, 0, 2, 2],
        [3, 3, 1, 0, 0, 1, 1, 0],
        [5, 2, 0, 0, 0, 2, 3, 1],
    ]
    X_encoded = encoder.transform(mixed_frame())
    assert X_encoded.dtype == np.float32
    assert_array_equal(X_encoded, expected)
    assert encoder.categories_ == [["blue", "red"], ["a", "b", "c"], ["x", "y"]]
    assert_array_equal(encoder.is_categorical_, [False, True, False, False, True, True])
    assert_array_equal(encoder.numeric_missing_, [True, True, False])
    assert_array_equal(encoder.categorical_missing_, [True, False, True])
    assert encoder.n_numeric_ == 5
    assert encoder.cardinalities_ == [3, 4, 3]


def test_every_missing_marker_is_missing():
    X = pd.DataFrame({"c": pd.Series(["a", None, np.nan, pd.NA, "b"], dtype=object)})
    codes = TabularEncoder().fit_transform(X)[:, 0]
    assert_array_equal(codes, [1, 0, 0, 0, 2])


def test_unseen_categories_and_missing_values_map_to_code_zero():
    encoder = TabularEncoder().fit(pd.DataFrame({"c": ["a", "b", "a"]}))
    X_new = pd.DataFrame({"c": ["b", "never seen", None]})
    assert_array_equal(encoder.transform(X_new)[:, 0], [2, 0, 0])


def test_category_dtype_and_strings_give_the_same_codes():
    strings = pd.DataFrame({"c": ["b", "a", None, "c"]})
    categories = strings.astype({"c": "category"})
    encoder = TabularEncoder().fit(strings)
    assert_array_equal(encoder.transform(categories), encoder.transform(strings))
    # a category dtype that lists categories never seen in fit
    wider = pd.DataFrame({"c": pd.Categorical(["z", "a"], categories=["a", "z"])})
    assert_array_equal(encoder.transform(wider)[:, 0], [0, 1])
    # a dtype that lists its categories in another order than sorted: codes
    # are read through the dtype's own order
    unsorted = pd.Categorical(["b", "a", None, "c"], categories=["c", "a", "b"], ordered=True)
    assert_array_equal(encoder.transform(pd.DataFrame({"c": unsorted})), encoder.transform(strings))
    assert_array_equal(
        TabularEncoder().fit_transform(pd.DataFrame({"c": unsorted}))[:, 0], [2, 1, 0, 3]
    )


def test_statistics_are_those_of_the_first_fit():
    encoder = TabularEncoder().fit(pd.DataFrame({"x": [1.0, 2.0, 9.0], "c": ["a", "a", "b"]}))
    other = pd.DataFrame({"x": [np.nan, 100.0], "c": ["z", "b"]})
    # no indicator: "x" had no missing value in fit
    assert_array_equal(encoder.transform(other), [[2.0, 0.0], [100.0, 2.0]])
    assert_array_equal(encoder.medians_, [2.0])
    assert encoder.categories_ == [["a", "b"]]


def test_weighted_medians_equal_the_medians_of_repeated_rows():
    # Integer weights are repetitions: the median of an even number of rows is
    # the mean of the two middle ones, as np.nanmedian and SimpleImputer give.
    rng = np.random.RandomState(0)
    X = rng.lognormal(size=(41, 4))
    X[rng.rand(41, 4) < 0.2] = np.nan
    weight = rng.randint(0, 4, size=41)
    weighted = TabularEncoder().fit(X, sample_weight=weight.astype(float))
    repeated = TabularEncoder().fit(np.repeat(X, weight, axis=0))
    assert_array_equal(weighted.medians_, repeated.medians_)
    assert_array_equal(weighted.numeric_missing_, repeated.numeric_missing_)
    unweighted = TabularEncoder().fit(X)
    np.testing.assert_array_equal(unweighted.medians_, np.nanmedian(X, axis=0))


def test_weighted_medians_of_scaled_counts_break_exact_ties_as_repetition():
    # Weights w / 3 are the counts w scaled: an exact tie at half the total
    # must not round to one side (repetition gives the mean 5.5 here).
    X = np.array([[7.0], [9.0], [4.0], [4.0], [4.0]])
    counts = np.array([4, 1, 2, 1, 2])
    repeated = TabularEncoder().fit(np.repeat(X, counts, axis=0)).medians_
    for scale in (1.0, 1 / 3, 0.1, 0.7):
        scaled = TabularEncoder().fit(X, sample_weight=counts * scale).medians_
        assert_array_equal(scaled, repeated)


def test_medians_of_a_summary_leave_out_rows_of_weight_zero():
    # The streamed fit hands fit_summary a sample that may hold rows of
    # weight zero: a column with values only there has none that count.
    X = pd.DataFrame({"a": [np.nan, np.nan, 7.0], "b": [1.0, 2.0, 30.0]})
    encoder = TabularEncoder().fit_columns(X)
    encoder.fit_summary(encoder.summarise(X.iloc[:2]), X, np.array([1.0, 1.0, 0.0]))
    assert_array_equal(encoder.medians_, [0.0, 1.5])


def test_rows_of_weight_zero_are_unknown_to_the_fitted_encoder():
    X = pd.DataFrame({"x": [1.0, 2.0, np.nan, 4.0], "c": ["a", "b", "z", None]})
    weight = np.array([1.0, 1.0, 0.0, 0.0])
    encoder = TabularEncoder().fit(X, sample_weight=weight)
    assert encoder.categories_ == [["a", "b"]]
    assert not encoder.numeric_missing_.any() and not encoder.categorical_missing_.any()
    assert_array_equal(encoder.medians_, [1.5])


def test_numeric_array_passes_through_with_imputation():
    X = np.array([[1.0, 10.0], [np.nan, 20.0], [3.0, 30.0]])
    X_encoded = TabularEncoder().fit_transform(X)
    assert_array_equal(X_encoded, [[1, 10, 0], [2, 20, 1], [3, 30, 0]])
    assert not hasattr(TabularEncoder().fit(X), "feature_names_in_")


def test_complete_float_arrays_pass_without_a_copy():
    X = np.random.RandomState(0).normal(size=(10, 3))
    encoder = TabularEncoder().fit(X)
    assert encoder.is_identity_
    assert encoder.transform(X) is X
    X_missing = X.copy()
    X_missing[0, 2] = np.nan
    X_encoded = encoder.transform(X_missing)  # imputed, without an indicator
    assert X_encoded.dtype == np.float32
    assert X_encoded[0, 2] == np.float32(encoder.medians_[2])
    assert not TabularEncoder().fit(X_missing).is_identity_


def test_array_and_frame_give_the_same_matrix():
    X = np.random.RandomState(0).normal(size=(20, 3))
    X[3, 1] = np.nan
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    assert_array_equal(TabularEncoder().fit_transform(X), TabularEncoder().fit_transform(frame))
    assert_array_equal(
        TabularEncoder().fit_transform(np.asfortranarray(X)), TabularEncoder().fit_transform(X)
    )


@pytest.mark.parametrize("spec", [["colour"], [1], [False, True, False]])
def test_categorical_features_by_name_index_or_mask(spec):
    X = pd.DataFrame({"n": [1.0, 2.0], "colour": [3, 4], "m": [5.0, 6.0]})
    encoder = TabularEncoder(categorical_features=spec).fit(X)
    assert_array_equal(encoder.is_categorical_, [False, True, False])
    assert encoder.categories_ == [[3, 4]]


def test_array_with_categorical_indices():
    X = np.array([["a", 1.5], ["b", np.nan], ["a", 2.5]], dtype=object)
    X_encoded = TabularEncoder(categorical_features=[0]).fit_transform(X)
    assert_array_equal(X_encoded, [[1.5, 0, 1], [2.0, 1, 2], [2.5, 0, 1]])


def test_from_dtype_on_an_array_marks_nothing_categorical():
    X = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert not TabularEncoder().fit(X).is_categorical_.any()


@pytest.mark.parametrize(
    "spec, X, message",
    [
        (["nope"], pd.DataFrame({"a": [1, 2]}), "which is not a valid feature name"),
        ([3], pd.DataFrame({"a": [1, 2]}), r"must be in \[0, n_features - 1\]"),
        ([True, False], pd.DataFrame({"a": [1, 2]}), "must have shape"),
        ([0.5], pd.DataFrame({"a": [1, 2]}), "array-like of bool, int or str, got: float64"),
        (["a"], np.array([[1.0], [2.0]]), "without feature names"),
        ("from_dtype", np.array([["a"], ["b"]], dtype=object), "not numbers"),
        (None, pd.DataFrame({"s": ["a", "b"]}), "does not mark it categorical"),
    ],
)
def test_bad_categorical_specs_say_what_is_wrong(spec, X, message):
    with pytest.raises(ValueError, match=message):
        TabularEncoder(categorical_features=spec).fit(X)


def test_unsupported_dtypes_and_infinity_are_refused():
    with pytest.raises(TypeError, match="dtype datetime64"):
        TabularEncoder().fit(pd.DataFrame({"d": pd.to_datetime(["2020-01-01", "2021-01-01"])}))
    with pytest.raises(ValueError, match="infinity"):
        TabularEncoder().fit(np.array([[1.0], [np.inf]]))


def test_feature_names_are_checked_with_scikit_learns_message():
    encoder = TabularEncoder().fit(pd.DataFrame({"a": [1.0], "b": ["x"]}))
    with pytest.raises(ValueError, match="The feature names should match those that were passed"):
        encoder.transform(pd.DataFrame({"b": ["x"], "a": [1.0]}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        encoder.transform(np.array([[1.0, "x"]], dtype=object))


def test_a_changed_dtype_kind_is_an_error():
    encoder = TabularEncoder().fit(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}))
    with pytest.raises(ValueError, match="(?s)dtypes of the features should match.*'a': numeric"):
        encoder.transform(pd.DataFrame({"a": ["1", "2"], "b": ["x", "y"]}))
    # category and strings are the same kind; so are int and float
    encoder.transform(pd.DataFrame({"a": [1, 2], "b": pd.Categorical(["x", "z"])}))


def test_pickles_and_keeps_plain_learned_maps():
    encoder = TabularEncoder().fit(mixed_frame())
    restored = pickle.loads(pickle.dumps(encoder))
    assert_array_equal(restored.transform(mixed_frame()), encoder.transform(mixed_frame()))
    for categories in encoder.categories_:
        assert all(type(c) in (str, int, float, bool) for c in categories)
    for name in ("medians_", "numeric_missing_", "categorical_missing_", "is_categorical_"):
        assert type(getattr(encoder, name)) is np.ndarray
        assert getattr(encoder, name).dtype.kind in "bf"


def test_numeric_categories_keep_python_types():
    encoder = TabularEncoder(categorical_features=[0]).fit(np.array([[2], [1], [2]]))
    assert encoder.categories_ == [[1, 2]]
    assert type(encoder.categories_[0][0]) is int
    assert_array_equal(encoder.transform(np.array([[1.0], [2.0], [3.0]]))[:, 0], [1, 2, 0])


# ------------------------------------------------------------------ TabularInput
def test_one_hot_slots_and_unknown_codes():
    # feature 0: 2 categories, missing seen -> 3 slots; feature 1: 2 categories, no missing
    layer = TabularInput(1, [3, 3], one_hot=[True, True], missing_slot=[True, False])
    x = torch.tensor([[7.0, 0, 0], [8.0, 1, 2], [9.0, 2, 1]])
    expected = [
        [7, 1, 0, 0, 0, 0],
        [8, 0, 1, 0, 0, 1],
        [9, 0, 0, 1, 1, 0],
    ]
    assert layer.n_outputs == 6
    assert_array_equal(layer(x).numpy(), expected)


def test_embeddings_start_unknown_at_zero_and_learn():
    layer = TabularInput(0, [20], one_hot=[False], missing_slot=[False], embedding_dims=[4])
    x = torch.tensor([[0.0], [5.0]])
    out = layer(x)
    assert out.shape == (2, 4) and layer.n_outputs == 4
    assert_array_equal(out[0].detach().numpy(), np.zeros(4))
    out[1].sum().backward()
    assert layer.embeddings[0].weight.grad[5].abs().sum() > 0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_input_layer_follows_the_encoder_and_trains():
    X = pd.DataFrame(
        {
            "x": np.linspace(-1, 1, 60),
            "few": ["a", "b", "c"] * 20,
            "many": [f"k{i % 12}" for i in range(60)],
        }
    )
    y = (X["x"] > 0).astype(int) ^ (X["few"] == "a")
    encoder = TabularEncoder(max_onehot_categories=8).fit(X)
    X_encoded = encoder.transform(X)
    assert_array_equal(encoder.one_hot_, [True, False])

    def module(n_features, n_outputs):
        layer = build_tabular_input(encoder, X_encoded)
        return torch.nn.Sequential(layer, build_mlp(layer.n_outputs, n_outputs, (16,)))

    clf = TorchMLPClassifier(
        module=module,
        preprocessing=None,
        learning_rate_init=0.01,
        max_iter=100,
        random_state=0,
    )
    clf.fit(X_encoded, y)
    assert clf.score(X_encoded, y) > 0.9
    # the numeric block is scaled inside the layer, the codes are not
    layer = clf.module_[0]
    assert layer.numeric is not None and layer.n_outputs == 1 + 3 + len(
        layer.embeddings[0].weight[0]
    )


# ------------------------------------------------- category value types at transform
def test_integer_categories_given_as_strings_are_an_error():
    zips = pd.DataFrame({"zip": pd.Categorical([94110, 10001, 94110, 60601])})
    encoder = TabularEncoder().fit(zips)
    as_strings = zips.astype({"zip": str})
    with pytest.raises(
        ValueError, match="(?s)'zip': categories of type integer in fit, now string"
    ):
        encoder.transform(as_strings)
    with pytest.raises(ValueError, match="'zip': categories of type integer in fit"):
        encoder.transform(as_strings.astype({"zip": "category"}))
    # integers of another width, or as floats, are the same numbers
    assert_array_equal(encoder.transform(zips.astype({"zip": "int32"}))[:, 0], [3, 1, 3, 2])
    assert_array_equal(encoder.transform(zips.astype({"zip": float}))[:, 0], [3, 1, 3, 2])


def test_float_categories_given_at_another_precision_are_an_error():
    X = pd.DataFrame({"rate": [0.1, 0.2, 0.3, 0.1]})
    encoder = TabularEncoder(categorical_features=["rate"]).fit(X)
    with pytest.raises(ValueError, match="'rate': categories of type float64 in fit, now float32"):
        encoder.transform(X.astype(np.float32))
    on_arrays = TabularEncoder(categorical_features=[0]).fit(X.to_numpy())
    with pytest.raises(
        ValueError, match="at index 0: categories of type float64 in fit, now float32"
    ):
        on_arrays.transform(X.to_numpy(dtype=np.float32))
    # whole numbers are exact in float32: no ambiguity
    whole = pd.DataFrame({"n": [1.0, 2.0, 3.0]})
    encoder = TabularEncoder(categorical_features=["n"]).fit(whole)
    assert_array_equal(encoder.transform(whole.astype(np.float32))[:, 0], [1, 2, 3])


def test_strings_given_as_numbers_in_an_object_column_are_an_error():
    encoder = TabularEncoder().fit(pd.DataFrame({"c": ["1", "2", "3"]}))
    with pytest.raises(ValueError, match="'c': categories of type string in fit, now integer"):
        encoder.transform(pd.DataFrame({"c": pd.Series([1, 2, 3], dtype=object)}))


def test_mostly_unknown_categories_warn():
    encoder = TabularEncoder().fit(pd.DataFrame({"c": list("abcde") * 4}))
    with pytest.warns(UserWarning, match="(?s)'c'.*90% of its 20 values.*not seen in fit"):
        encoder.transform(pd.DataFrame({"c": ["a", "b"] + [f"new{i}" for i in range(18)]}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # a minority of new values, a few rows, or missing values: no warning
        encoder.transform(pd.DataFrame({"c": ["a"] * 12 + ["new"] * 8}))
        encoder.transform(pd.DataFrame({"c": ["new"] * 3}))
        encoder.transform(pd.DataFrame({"c": [None] * 30}))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_regressor_refuses_categories_of_another_type_at_predict():
    rng = np.random.default_rng(0)
    zips = rng.choice([94110, 10001, 60601], size=60)
    X = pd.DataFrame({"zip": pd.Categorical(zips)})
    y = (zips == 94110).astype(float)
    model = TorchMLPRegressor(max_iter=5, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="'zip': categories of type integer in fit, now string"):
        model.predict(X.astype({"zip": str}))


def test_files_without_category_types_still_encode():
    # an encoder saved before the value types were recorded
    encoder = TabularEncoder().fit(pd.DataFrame({"c": ["a", "b"]}))
    del encoder.category_types_
    assert_array_equal(encoder.transform(pd.DataFrame({"c": ["b", "a"]}))[:, 0], [2, 1])


# ------------------------------------------------------ object columns of numbers
def test_object_columns_of_numbers_are_numeric():
    from decimal import Decimal

    X = pd.DataFrame(
        {
            "price": pd.Series([Decimal("1.50"), Decimal("2.25"), None, Decimal("4")]),
            "count": pd.Series([1, 2, 3, None], dtype=object),
            "ratio": pd.Series([0.5, 1, None, 2.5], dtype=object),
            "name": ["a", "b", "a", None],
        }
    )
    encoder = TabularEncoder().fit(X)
    assert_array_equal(encoder.is_categorical_, [False, False, False, True])
    assert_array_equal(encoder.medians_, [2.25, 2.0, 1.0])
    as_floats = X.astype({"price": float, "count": float, "ratio": float})
    assert_array_equal(encoder.transform(X), TabularEncoder().fit_transform(as_floats))
    # strings in such a column at transform: the kind changed
    with pytest.raises(ValueError, match="'price': numeric in fit, now object"):
        encoder.transform(X.assign(price=pd.Series(["1.5", "2", "3", "4"], dtype=object)))
    # an object column with every value missing says nothing at transform
    encoder.transform(X.assign(price=pd.Series([None] * 4, dtype=object)))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_model_of_decimal_prices_fits_them_as_numbers():
    from decimal import Decimal

    rng = np.random.default_rng(0)
    price = rng.uniform(1, 100, size=200).round(2)
    X = pd.DataFrame({"price": [Decimal(str(p)) for p in price]})
    model = TorchMLPRegressor(max_iter=50, random_state=0).fit(X, 2 * price)
    assert model.is_categorical_ is None
    expected = model.predict(pd.DataFrame({"price": price}))
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-6, atol=1e-6)


# ------------------------------------------------ ID-like and free-text columns
def test_a_column_of_mostly_distinct_strings_warns_at_fit():
    X = pd.DataFrame({"x": np.arange(200.0), "name": [f"person {i}" for i in range(200)]})
    with pytest.warns(UserWarning, match="(?s)'name' has 200 distinct values in 200 rows.*ID"):
        TabularEncoder().fit(X)
    # rows of weight zero count nowhere, here as for the categories
    weight = np.r_[np.ones(60), np.zeros(140)]
    with pytest.warns(UserWarning, match="'name' has 60 distinct values in 60 rows"):
        TabularEncoder().fit(X, sample_weight=weight)


def test_categories_that_repeat_or_are_few_do_not_warn():
    rng = np.random.default_rng(0)
    repeated = pd.DataFrame({"city": rng.choice([f"c{i}" for i in range(80)], 400)})
    few = pd.DataFrame({"colour": [f"c{i}" for i in range(40)]})  # distinct, but few
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TabularEncoder().fit(repeated)
        TabularEncoder().fit(few)
