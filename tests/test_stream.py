"""fit and partial_fit on dask arrays and data frames: blocks streamed out of core."""

import logging
import threading
import warnings
import weakref

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_sample_weight

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._scale import blocks as _blocks
from sk_mlp._scale.blocks import BlockSpec, validation_mask
from sk_mlp._scale.stream import batch_sizes

# Embeddings need columns of more than 1,000 categories, which in these small
# tables are mostly distinct: the warning about such columns is tested in
# test_tabular.py.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Categorical feature .* distinct values in:UserWarning"),
    pytest.mark.filterwarnings("ignore:Feature .* were not seen in fit:UserWarning"),
]


N_ROWS, BLOCK_ROWS, N_FEATURES = 5000, 500, 8


@pytest.fixture(autouse=True)
def _never_materialised(monkeypatch):
    """Fail a test whose fit turns a dask collection into one numpy array,
    as an in-memory fit would (check_array calls np.asarray)."""

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"a dask {type(self).__name__} was computed whole")

    for cls in (da.Array, dd.DataFrame, dd.Series):
        monkeypatch.setattr(cls, "__array__", refuse)


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(n=N_ROWS, n_features=N_FEATURES, seed=0):
    return make_classification(
        n, n_features, n_informative=5, n_classes=3, class_sep=1.5, random_state=seed
    )


def _dask(*arrays, block_rows=BLOCK_ROWS):
    return [da.from_array(a, chunks=(block_rows, *a.shape[1:])) for a in arrays]


def _classifier(**params):
    # Early stopping off unless a test turns it on: a streamed fit holds out
    # other validation rows than an in-memory one, which these tests compare.
    defaults = {"hidden_layer_sizes": (16,), "max_iter": 5, "random_state": 0}
    return TorchMLPClassifier(**{**defaults, "early_stopping": False, **params})


def _assert_same_weights(a, b, rtol=1e-5, atol=1e-6):
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_allclose(wa, wb, rtol=rtol, atol=atol)


def test_seeded_streamed_fit_is_reproducible():
    dX, dy = _dask(*_data())
    first = _classifier().fit(dX, dy)
    again = _classifier().fit(dX, dy)
    other = _classifier(random_state=1).fit(dX, dy)
    for a, b in zip(first.coefs_, again.coefs_):
        assert_array_equal(a, b)
    assert not np.allclose(first.coefs_[0], other.coefs_[0])


def test_unshuffled_streamed_fit_is_the_in_memory_fit(monkeypatch):
    # Without shuffling, the blocks arrive in order and batches are cut where
    # the in-memory fit cuts them (one spans two windows here): the same
    # batches, the same dropout masks from the same generator, the same model.
    X, y = _data()
    monkeypatch.setattr(_blocks, "WINDOW_BYTES", 3 * BLOCK_ROWS * N_FEATURES * 4)
    streamed = _classifier(shuffle=False, batch_size=400).fit(*_dask(X, y))
    in_memory = _classifier(shuffle=False, batch_size=400).fit(X, y)
    _assert_same_weights(streamed, in_memory)
    assert_allclose(streamed.loss_curve_, in_memory.loss_curve_, rtol=1e-5)
    assert (streamed.n_iter_, streamed.t_) == (in_memory.n_iter_, in_memory.t_)


@pytest.mark.parametrize("preprocessing", ["robust", None])
def test_streamed_piecewise_linear_fit_is_the_in_memory_fit(preprocessing):
    # The bins are fitted on the rows the robust statistics are: every row here.
    X, y = _data()
    params = dict(
        numeric_embedding="piecewise_linear",
        preprocessing=preprocessing,
        shuffle=False,
        batch_size=400,
    )
    streamed = _classifier(**params).fit(*_dask(X, y))
    in_memory = _classifier(**params).fit(X, y)
    encodings = [
        next(m for m in model.module_.modules() if hasattr(m, "n_bins"))
        for model in (streamed, in_memory)
    ]
    assert encodings[0].n_bins == encodings[1].n_bins
    for a, b in zip(encodings[0].buffers(), encodings[1].buffers()):
        assert_array_equal(a, b)
    _assert_same_weights(streamed, in_memory)
    partial = _classifier(**params).partial_fit(*_dask(X, y))
    assert_array_equal(partial.predict(X[:50]), partial.predict(_dask(X[:50])[0]).compute())


def test_streamed_fit_learns_what_an_in_memory_fit_learns():
    X, y = _data(6000)
    X_test, y_test = X[5000:], y[5000:]
    frame = pd.DataFrame(X[:5000], columns=[f"f{i}" for i in range(N_FEATURES)])
    labels = dd.from_pandas(pd.Series(y[:5000]), npartitions=10)  # partitioned as the frame
    streamed = _classifier(max_iter=20).fit(dd.from_pandas(frame, npartitions=10), labels)
    in_memory = _classifier(max_iter=20).fit(frame, y[:5000])
    assert_array_equal(streamed.classes_, in_memory.classes_)
    assert streamed.n_features_in_ == in_memory.n_features_in_ == N_FEATURES
    assert_array_equal(streamed.feature_names_in_, in_memory.feature_names_in_)
    assert streamed.n_outputs_ == in_memory.n_outputs_
    # Fewer rows than the robust statistics subsample: both use every row.
    assert_allclose(streamed.module_[0].shift, in_memory.module_[0].shift, rtol=1e-6)
    assert_allclose(streamed.module_[0].inv_scale, in_memory.module_[0].inv_scale, rtol=1e-6)
    test_frame = pd.DataFrame(X_test, columns=frame.columns)
    assert streamed.score(test_frame, y_test) > 0.8
    assert abs(streamed.score(test_frame, y_test) - in_memory.score(test_frame, y_test)) < 0.03


def test_robust_statistics_use_the_rows_an_in_memory_fit_samples():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40_000, 3)) * [1, 10, 0.1] + [0, 5, -1]
    X[:, 2] = np.round(X[:, 2], 1)  # ties, where the chosen rows matter most
    y = (X[:, 0] > 0).astype(int)
    params = {"hidden_layer_sizes": (2,), "max_iter": 1, "batch_size": 2000}
    in_memory = _classifier(**params).fit(X, y).module_[0]
    streamed = _classifier(**params).fit(*_dask(X, y, block_rows=6000)).module_[0]
    assert_allclose(streamed.shift, in_memory.shift, rtol=1e-6)
    assert_allclose(streamed.inv_scale, in_memory.inv_scale, rtol=1e-6)
    # Blocks of unknown length: a uniform sample of as many rows instead.
    frame = dd.from_pandas(pd.DataFrame(X), npartitions=7)
    sampled = _classifier(**params).fit(frame, dd.from_pandas(pd.Series(y), npartitions=7))
    center, scale = _center_scale(in_memory)
    sampled_center, sampled_scale = _center_scale(sampled.module_[0])
    assert np.all(np.abs(sampled_center - center) < 0.05 * scale)
    assert_allclose(sampled_scale, scale, rtol=0.05)


def _center_scale(layer):
    shift, inv_scale = layer.shift.numpy(), layer.inv_scale.numpy()
    return -shift / inv_scale, 1 / inv_scale


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor_target_statistics_match_in_memory(loss):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 4))
    y = np.exp(X[:, :2] + [12.0, -9.0])  # positive, at very different scales
    weight = rng.uniform(0, 3, len(X))
    weight[:10] = 0
    reg = TorchMLPRegressor((4,), loss=loss, max_iter=1, random_state=0)
    in_memory = reg.fit(X, y, sample_weight=weight)
    expected = in_memory._y_loc, in_memory._y_scale
    streamed = TorchMLPRegressor(**reg.get_params()).fit(*_dask(X, y, weight, block_rows=700))
    assert streamed.n_outputs_ == 2
    # The location relative to the scale: a mean near zero still has digits to check.
    assert_allclose(streamed._y_loc / expected[1], expected[0] / expected[1], atol=1e-10)
    assert_allclose(streamed._y_scale, expected[1], rtol=1e-10)


def test_rows_of_weight_zero_do_not_set_the_targets_magnitude():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1500, 3))
    y = X @ [1.0, -2.0, 0.5] + 3.0
    weight = np.ones(len(X))
    y[7], weight[7] = 1e200, 0.0  # a row that counts nowhere, with an absurd target
    reg = TorchMLPRegressor((8,), max_iter=3, random_state=0)
    in_memory = reg.fit(X, y, sample_weight=weight)
    streamed = TorchMLPRegressor(**reg.get_params()).fit(*_dask(X, y, weight, block_rows=500))
    # Divided by a magnitude of 1e200, the target's spread vanished below
    # float64's resolution: the scale came out as 1 and the location as 0.
    assert_allclose(streamed._y_loc, in_memory._y_loc, rtol=1e-10, atol=0)
    assert_allclose(streamed._y_scale, in_memory._y_scale, rtol=1e-10, atol=0)


def test_poisson_refuses_negative_targets_before_training():
    X = np.random.default_rng(0).standard_normal((600, 3))
    y = X[:, 0] + 5
    y[550] = -1.0  # in the last block
    with pytest.raises(ValueError, match="non-negative targets"):
        TorchMLPRegressor(loss="poisson").fit(*_dask(X, y, block_rows=100))


class _LiveBlocks:
    """Generates X's blocks and records how many are alive at once."""

    def __init__(self, X):
        self.X, self.lock = X, threading.Lock()
        self.live = self.most = self.made = 0

    def __call__(self, block_id=None):
        start = block_id[0] * BLOCK_ROWS
        block = self.X[start : start + BLOCK_ROWS].astype(np.float32)
        with self.lock:
            self.live += 1
            self.made += 1
            self.most = max(self.most, self.live)
        weakref.finalize(block, self._freed)
        return block

    def _freed(self):
        with self.lock:
            self.live -= 1


def test_at_most_a_window_of_blocks_is_in_memory(monkeypatch):
    X, y = _data()
    blocks = _LiveBlocks(X)
    n_blocks = N_ROWS // BLOCK_ROWS
    dX = da.map_blocks(blocks, chunks=((BLOCK_ROWS,) * n_blocks, (N_FEATURES,)), dtype=np.float32)
    monkeypatch.setattr(_blocks, "WINDOW_BYTES", 2 * BLOCK_ROWS * N_FEATURES * 4)
    with dask.config.set(scheduler="threads", num_workers=4):
        clf = _classifier(max_iter=3).fit(dX, da.from_array(y, chunks=BLOCK_ROWS))
    # Windows of 2 blocks: the statistics pass and each load compute two at
    # a time; a window's rows are copied out, and its blocks freed, at once.
    assert blocks.most <= 2
    assert blocks.made == n_blocks * (1 + clf.n_iter_)  # one pass, then one per epoch
    with dask.config.set(scheduler="threads", num_workers=4):
        same = _classifier(max_iter=3).fit(*_dask(X.astype(np.float32), y))
    _assert_same_weights(clf, same, rtol=0, atol=0)


def test_early_stopping_scores_validation_rows_drawn_from_the_blocks():
    dX, dy = _dask(*_data(2000))
    clf = _classifier(
        max_iter=50, learning_rate_init=0.01, early_stopping=True, n_iter_no_change=2, tol=1e-3
    )
    clf.fit(dX, dy)
    assert clf.n_iter_ < 50
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    again = _classifier(**clf.get_params()).fit(dX, dy)
    assert again.validation_scores_ == clf.validation_scores_


def test_validation_rows_are_stratified_within_blocks_and_drawn_again_alike():
    y = np.repeat([0, 1, 2], [300, 150, 50])
    spec = BlockSpec(N_FEATURES, "float64", True, fraction=0.1, seed=7)
    mask = validation_mask(y, 3, spec)
    assert mask.sum() == 50
    assert_array_equal(np.bincount(y[mask]), [30, 15, 5])
    assert_array_equal(validation_mask(y, 3, spec), mask)  # same block, same rows
    assert not np.array_equal(validation_mask(y, 4, spec), mask)


def test_batches_keep_their_size_and_never_leave_one_sample_alone():
    assert batch_sizes(10, 4) == [4, 4, 2]
    assert batch_sizes(9, 4) == [4, 5]
    assert batch_sizes(1, 4) == [1]


def test_partial_fit_streams_one_epoch_per_call():
    X, y = _data()
    dX, dy = _dask(X, y)
    clf = _classifier()
    clf.partial_fit(dX, dy)  # the statistics pass sees every class
    assert_array_equal(clf.classes_, [0, 1, 2])
    clf.partial_fit(dX, dy)
    assert (clf.n_iter_, len(clf.loss_curve_), clf.t_) == (1, 2, 2 * N_ROWS)
    coefs = clf.coefs_
    y_unknown = y.copy()
    y_unknown[-1] = 5
    with pytest.raises(ValueError, match="not seen"):
        clf.partial_fit(dX, da.from_array(y_unknown, chunks=BLOCK_ROWS))
    assert len(clf.loss_curve_) == 2
    for before, after in zip(coefs, clf.coefs_):
        assert_array_equal(before, after)


def test_class_weights_come_from_the_whole_datas_counts():
    X, y = _data()
    y[y == 2] = np.where(np.arange((y == 2).sum()) % 4 == 0, 2, 0)  # a rare class
    dX, dy = _dask(X, y)
    balanced = _classifier(class_weight="balanced").fit(dX, dy)
    weights = da.from_array(compute_sample_weight("balanced", y), chunks=BLOCK_ROWS)
    weighted = _classifier().fit(dX, dy, sample_weight=weights)
    _assert_same_weights(balanced, weighted)


def test_failed_streamed_fit_leaves_the_estimator_unchanged():
    X, y = _data()
    clf = _classifier(warm_start=True).fit(*_dask(X, y))
    coefs, n_iter = clf.coefs_, clf.n_iter_
    X_bad = X.copy()
    X_bad[4321, 3] = np.nan
    with pytest.raises(ValueError, match="row block 8 .*NaN"):
        clf.fit(*_dask(X_bad, y))
    assert clf.n_iter_ == n_iter
    for before, after in zip(coefs, clf.coefs_):
        assert_array_equal(before, after)


def test_refused_inputs_say_what_to_do():
    X, y = _data(600)
    dX, dy = _dask(X, y, block_rows=100)
    with pytest.raises(ValueError, match="solver='lbfgs' cannot stream"):
        _classifier(solver="lbfgs").fit(dX, dy)
    frame = pd.DataFrame({"a": X[:, 0], "b": pd.date_range("2020-01-01", periods=len(X))})
    labels = dd.from_pandas(pd.Series(y), npartitions=3)
    with pytest.raises(TypeError, match="dtype datetime64.* not supported: convert them"):
        _classifier().fit(dd.from_pandas(frame, npartitions=3), labels)
    with pytest.raises(ValueError, match="must be a dask collection with the same partitions"):
        _classifier().fit(dd.from_pandas(pd.DataFrame(X), npartitions=3), y)
    with pytest.raises(ValueError, match="y has 2 blocks but X has 6"):
        _classifier().fit(dX.to_dask_dataframe(), dd.from_pandas(pd.Series(y), npartitions=2))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _classifier().fit(dX, y[:-1])
    with pytest.raises(ValueError, match=r"y must have shape \(n_samples,\)"):
        _classifier().fit(dX, da.stack([dy, dy], axis=1))


def test_warm_start_continues_a_streamed_fit():
    dX, dy = _dask(*_data())
    clf = _classifier(warm_start=True, max_iter=2).fit(dX, dy)
    shift = clf.module_[0].shift.clone()
    clf.fit(dX, dy)
    assert (clf.n_iter_, len(clf.loss_curve_)) == (2, 4)
    assert_array_equal(clf.module_[0].shift, shift)  # the input statistics are kept


@pytest.mark.parametrize("continuation", ["warm_start", "partial_fit"])
def test_a_continued_streamed_fit_takes_the_new_label_smoothing(continuation):
    X, y = _data()
    models = []
    for data in ((X, y), _dask(X, y)):
        model = _classifier(shuffle=False, batch_size=400, warm_start=True).fit(*data)
        model.set_params(label_smoothing=0.2)
        if continuation == "partial_fit":
            model.partial_fit(*data)
        else:
            model.fit(*data)
        models.append(model)
    in_memory, streamed = models
    assert_allclose(streamed.loss_curve_, in_memory.loss_curve_, rtol=1e-5, atol=1e-7)
    _assert_same_weights(streamed, in_memory)


def test_streamed_fit_computes_blocks_on_a_distributed_cluster():
    X, y = _data()
    dX, dy = _dask(X, y)
    local = _classifier().fit(dX, dy)
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster),
    ):
        remote = _classifier().fit(dX, dy)
    for a, b in zip(local.coefs_, remote.coefs_):
        assert_array_equal(a, b)


def test_empty_partitions_and_weightless_blocks_are_streamed_past():
    X, y = _data(1000)
    weight = np.ones(len(y))
    weight[250:500] = 0  # the second partition weighs nothing
    frame = dd.from_pandas(pd.DataFrame(X).assign(label=y, weight=weight), npartitions=4)
    # Filtering rows empties the first partition without removing it.
    frame = frame.map_partitions(lambda part: part[part.index >= 250])
    assert frame.npartitions == 4
    features = frame.drop(columns=["label", "weight"])
    clf = _classifier(max_iter=2).fit(features, frame["label"], sample_weight=frame["weight"])
    assert clf.t_ == 2 * 500
    # Predicted lazily, an empty partition predicts nothing.
    assert_array_equal(clf.predict(features).compute(), clf.predict(features.compute()))


# ------------------------------------------- data frames: the frame stage
def _mixed_frames(n=2000, npartitions=5, seed=0):
    """A dask frame with numbers (missing ones too), strings, categories and
    booleans, its labels partitioned alike; "purple" is only in the last block."""
    rng = np.random.default_rng(seed)
    size = rng.normal(size=n)
    size[rng.random(n) < 0.1] = np.nan
    colour = rng.choice(["red", "green", "blue"], n).astype(object)
    colour[rng.random(n) < 0.05] = None
    colour[-30:] = "purple"
    shape = pd.Categorical(rng.choice(["a", "b", "c", None], n), categories=["c", "b", "a", "z"])
    frame = pd.DataFrame(
        {
            "size": size,
            "colour": colour,
            "shape": shape,
            "flag": rng.random(n) < 0.5,
            # Past 1,000 categories: an embedding, trained with the network.
            "city": [f"c{k}" for k in rng.integers(0, 3000, n)],
        }
    )
    y = (np.nan_to_num(size) > 0) ^ (colour == "red") ^ (shape == "a")
    parts = dd.from_pandas(frame.assign(label=y.astype(int)), npartitions=npartitions)
    return parts.drop(columns="label"), parts["label"]


@pytest.mark.parametrize("embedded", [True, False])
def test_unshuffled_streamed_fit_of_a_mixed_frame_is_the_in_memory_fit(monkeypatch, embedded):
    # The frame stage learns from every block what it learns from the whole
    # frame; its medians come from the sampled rows, here every row (fewer
    # than 30,000). So the network gets the same inputs, batches and model.
    # Without an embedding, the input layer is fixed: applied once per window.
    X, y = _mixed_frames()
    X = X if embedded else X.drop(columns="city")
    monkeypatch.setattr(_blocks, "WINDOW_BYTES", 1)  # a block per window: batches span two
    params = {"shuffle": False, "batch_size": 300}
    streamed = _classifier(**params).fit(X, y)
    in_memory = _classifier(**params).fit(X.compute(), y.compute())
    encoder, expected = streamed._tabular, in_memory._tabular
    assert_array_equal(streamed.is_categorical_, [False, True, True, False, True][: X.shape[1]])
    assert_array_equal(streamed.is_categorical_, in_memory.is_categorical_)
    assert encoder.categories_ == expected.categories_
    # The dtype's unused category "z" is left out, as in memory.
    assert encoder.categories_[1] == ["a", "b", "c"]
    assert_allclose(encoder.medians_, expected.medians_, rtol=1e-12)
    assert_array_equal(encoder.numeric_missing_, expected.numeric_missing_)
    assert_array_equal(encoder.categorical_missing_, expected.categorical_missing_)
    assert len(streamed.module_[0].embeddings) == embedded
    _assert_same_weights(streamed, in_memory)
    for a, b in zip(streamed.module_[0].embeddings, in_memory.module_[0].embeddings):
        assert_allclose(a.weight.detach(), b.weight.detach(), rtol=1e-5, atol=1e-6)
    assert_allclose(streamed.loss_curve_, in_memory.loss_curve_, rtol=1e-5)
    assert (streamed.n_iter_, streamed.t_) == (in_memory.n_iter_, in_memory.t_)


def test_streamed_frame_stage_weighs_rows_as_in_memory():
    # Weighted medians, and "purple" (only in the last block) unknown when
    # its rows weigh nothing: the same frame stage as an in-memory fit.
    X, y = _mixed_frames()
    weight = np.random.default_rng(1).integers(1, 4, len(y)).astype(float)
    weight[-30:] = 0.0
    # A column with values only in the rows of weight zero: none that count.
    gauge = pd.Series(np.where(weight > 0, np.nan, 5.0))
    X = X.drop(columns="city").assign(gauge=dd.from_pandas(gauge, npartitions=X.npartitions))
    weights = dd.from_pandas(pd.Series(weight), npartitions=X.npartitions)
    streamed = _classifier(max_iter=1).fit(X, y, sample_weight=weights)
    in_memory = _classifier(max_iter=1).fit(X.compute(), y.compute(), sample_weight=weight)
    encoder, expected = streamed._tabular, in_memory._tabular
    assert encoder.categories_ == expected.categories_
    assert "purple" not in encoder.categories_[0]
    assert_allclose(encoder.medians_, expected.medians_, rtol=1e-12)
    assert encoder.medians_[-1] == 0.0
    unweighted = _classifier(max_iter=1).fit(X.compute(), y.compute())._tabular
    assert encoder.medians_[0] != unweighted.medians_[0]


def test_categories_of_a_later_block_are_learned():
    X, y = _mixed_frames()
    clf = _classifier(max_iter=1).fit(X, y)
    assert "purple" in clf._tabular.categories_[0]
    assert "purple" not in set(X.partitions[0].compute()["colour"].dropna())


def test_partial_fit_keeps_the_frame_stage_of_its_first_pass():
    X, y = _mixed_frames()
    first, later = X.partitions[:4], X.partitions[4:]  # "purple" only in the later one
    streamed = _classifier(shuffle=False)  # batches as in memory
    streamed.partial_fit(first, y.partitions[:4], classes=[0, 1])
    categories, medians = streamed._tabular.categories_, streamed._tabular.medians_
    assert "purple" not in categories[0]
    streamed.partial_fit(later, y.partitions[4:])
    assert streamed._tabular.categories_ == categories
    assert_array_equal(streamed._tabular.medians_, medians)
    assert len(streamed.loss_curve_) == 2
    # As in memory: an unseen category is code 0, as at predict.
    in_memory = _classifier(shuffle=False)
    in_memory.partial_fit(first.compute(), y.partitions[:4].compute(), classes=[0, 1])
    in_memory.partial_fit(later.compute(), y.partitions[4:].compute())
    _assert_same_weights(streamed, in_memory)
    warm = _classifier(warm_start=True, max_iter=1).fit(first, y.partitions[:4])
    warm.fit(later, y.partitions[4:])
    assert warm._tabular.categories_ == categories


def test_lazy_predict_on_a_mixed_frame_is_the_in_memory_predict():
    X, y = _mixed_frames()
    clf = _classifier(max_iter=2).fit(X, y)
    computed = X.compute()
    assert_allclose(
        clf.predict_proba(X).compute(), clf.predict_proba(computed), rtol=1e-6, atol=1e-7
    )
    assert_array_equal(clf.predict(X).compute(), clf.predict(computed))


def test_streamed_frame_stage_refuses_what_it_cannot_encode():
    X, y = _mixed_frames(400, npartitions=2)
    with pytest.raises(ValueError, match="'town' which is not a valid feature name"):
        _classifier(categorical_features=["town"]).fit(X, y)
    with pytest.raises(ValueError, match="'colour' holds strings .* does not mark it"):
        _classifier(categorical_features=["shape"]).fit(X, y)
    numbers = X[["size", "flag"]].fillna(0).astype(float).to_dask_array(lengths=True)
    with pytest.raises(ValueError, match="categorical_features marks columns of a dask array"):
        _classifier(categorical_features=[1]).fit(numbers, y.to_dask_array(lengths=True))
    clf = _classifier(max_iter=1).fit(X, y)
    swapped = X.assign(flag=X["colour"], colour=X["flag"])
    with pytest.raises(ValueError, match="dtypes of the features should match"):
        clf.partial_fit(swapped, y)


def test_missing_numbers_after_a_complete_first_pass_are_filled_as_in_memory():
    X, y = _data(1000)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(N_FEATURES)])
    later = frame.mask(np.random.default_rng(0).random(frame.shape) < 0.05)
    streamed, in_memory = _classifier(shuffle=False), _classifier(shuffle=False)
    for part in (frame, later):
        streamed.partial_fit(dd.from_pandas(part, npartitions=2), dd.from_array(y, chunksize=500))
        in_memory.partial_fit(part, y, classes=[0, 1, 2])
    assert not streamed._tabular.numeric_missing_.any()  # no indicator: none in the first pass
    _assert_same_weights(streamed, in_memory)


# ------------------------------------------- the orders of a streamed epoch, and its checks
def _streaming_ids(n_blocks=10, block_rows=50, window=2, lengths=None, seed=0):
    """A StreamingData whose X holds each row's id (block * block_rows + row)."""
    import torch

    from sk_mlp._scale.stream import StreamingData

    lengths = lengths or [block_rows] * n_blocks

    def load(blocks):
        ids = [torch.arange(b * block_rows, b * block_rows + lengths[b]) for b in blocks]
        X = torch.cat(ids).float()[:, None]
        return X, torch.zeros(len(X), 1), None

    generator = torch.Generator().manual_seed(seed)
    total = n_blocks * block_rows
    return StreamingData(load, n_blocks, window, total, 1.0, torch.device("cpu"), generator, None)


def _epoch(data, batch_size=10):
    return np.concatenate([X[:, 0].numpy() for X, _, _ in data.batches(batch_size, True)])


def test_a_streamed_epoch_mixes_the_rows_of_a_window():
    ids = _epoch(_streaming_ids())
    assert_array_equal(np.sort(ids), np.arange(500))  # every row once
    for window in ids.reshape(5, 100):  # two blocks of 50 rows each
        assert len(np.unique(window // 50)) == 2
        # in block order, 98 of 99 steps would be +1; drawn at random, about 1
        assert np.mean(np.diff(window) == 1) < 0.2


def test_each_streamed_epoch_visits_the_blocks_in_a_new_order():
    data = _streaming_ids()
    first, second = _epoch(data), _epoch(data)
    windows = [[set(w // 50) for w in ids.reshape(5, 100)] for ids in (first, second)]
    assert windows[0] != windows[1]


@pytest.mark.parametrize("lengths", [[50] * 9 + [40], [50] * 9 + [60]], ids=["fewer", "more"])
def test_blocks_that_change_between_passes_are_an_error(lengths):
    data = _streaming_ids(lengths=lengths)
    outcome = []

    def run():
        try:
            outcome.append(_epoch(data))
        except RuntimeError as exc:
            outcome.append(exc)

    # In a thread: without the check, rows past the epoch's count are never
    # consumed and the loop would spin forever.
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert outcome, "the epoch never ended"
    assert isinstance(outcome[0], RuntimeError), f"no error; {len(outcome[0])} rows"
    assert "another number of rows than when they were first" in str(outcome[0])


def test_indicators_of_a_streamed_frame_come_from_every_block():
    frame = pd.DataFrame({"a": np.arange(400.0), "b": np.arange(400.0) % 7})
    frame.loc[350, "a"] = np.nan  # a gap in the last block only
    X = dd.from_pandas(frame, npartitions=4)
    y = dd.from_pandas(pd.Series(np.arange(400) % 2), npartitions=4)
    streamed = _classifier().fit(X, y)
    assert_array_equal(streamed._tabular.numeric_missing_, [True, False])
