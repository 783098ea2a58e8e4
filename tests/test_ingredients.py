"""The tabular ingredients other than the ensemble: label_smoothing,
numeric_embedding, feature_scaling and learning_rate='warmup_cosine'."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._engine.training import TrainingParams, scheduled_lr
from sk_mlp._nn.layers import FeatureScale, PeriodicEmbedding, PiecewiseLinearEncoding
from sk_mlp._nn.losses import BinaryLogLoss, MulticlassLogLoss

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


# ---------------------------------------------------------- label smoothing
def test_multiclass_smoothing_is_torchs_and_its_gradient_is_softmax_minus_target():
    g = torch.Generator().manual_seed(0)
    raw = torch.randn(9, 4, generator=g, requires_grad=True)
    y = torch.randint(0, 4, (9,), generator=g)
    weight = torch.rand(9, generator=g)
    loss = MulticlassLogLoss(label_smoothing=0.2)
    expected = F.cross_entropy(raw, y, label_smoothing=0.2, reduction="none")
    torch.testing.assert_close(loss(raw, y), expected)
    value, grad = loss.value_and_grad(raw.detach().clone(), y, weight)
    (expected * weight).mean().backward()
    torch.testing.assert_close(value, (expected * weight).mean().detach())
    torch.testing.assert_close(grad, raw.grad)


def test_binary_smoothing_pulls_targets_towards_one_half():
    g = torch.Generator().manual_seed(0)
    raw = torch.randn(9, 2, generator=g, requires_grad=True)
    y = torch.randint(0, 2, (9, 2), generator=g).float()
    loss = BinaryLogLoss(label_smoothing=0.2)
    target = y * 0.8 + 0.1
    expected = F.binary_cross_entropy_with_logits(raw, target, reduction="none").sum(dim=1)
    torch.testing.assert_close(loss(raw, y), expected)
    value, grad = loss.value_and_grad(raw.detach().clone(), y, None)
    expected.mean().backward()
    torch.testing.assert_close(value, expected.mean().detach())
    torch.testing.assert_close(grad, raw.grad)
    torch.testing.assert_close(loss.log_loss(raw, y), BinaryLogLoss()(raw, y))


def test_label_smoothing_makes_predict_proba_less_confident(binary_data):
    X, y = binary_data
    params = dict(max_iter=300, random_state=0, dropout=0.0, n_iter_no_change=np.inf)
    sharp = _fit(TorchMLPClassifier(**params), X, y).predict_proba(X).max(axis=1)
    smooth = _fit(TorchMLPClassifier(label_smoothing=0.2, **params), X, y).predict_proba(X)
    smooth = smooth.max(axis=1)
    # The smoothed loss is lowest at 1 - 0.2 + 0.2 / 2 = 0.9 for a certain label.
    assert np.percentile(sharp, 90) > 0.99
    assert np.percentile(smooth, 90) < 0.96
    assert np.median(smooth) < np.median(sharp) - 0.05


def test_early_stopping_scores_the_true_log_loss_under_label_smoothing(classification_data):
    X, y = classification_data
    model = TorchMLPClassifier(label_smoothing=0.3, early_stopping=True, max_iter=5)
    model = _fit(model.set_params(random_state=0), X, y)
    raw = torch.randn(10, 3)
    labels = torch.randint(0, 3, (10,))
    score = model._validation_score(model._loss, raw, labels, None)
    assert math.isclose(score, -float(F.cross_entropy(raw, labels)), rel_tol=1e-6)


def test_a_warm_start_takes_the_new_label_smoothing(binary_data):
    X, y = binary_data
    model = _fit(TorchMLPClassifier(warm_start=True, max_iter=3, random_state=0), X, y)
    _fit(model.set_params(label_smoothing=0.2), X, y)
    assert len(model.loss_curve_) == 6 and model._loss.label_smoothing == 0.2


@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_label_smoothing_outside_zero_one_is_refused(binary_data, value):
    X, y = binary_data
    with pytest.raises(ValueError, match="label_smoothing"):
        TorchMLPClassifier(label_smoothing=value).fit(X, y)


# ------------------------------------------------------- numeric embeddings
def test_piecewise_linear_encoding_is_zero_below_one_above_linear_within():
    X = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0]])
    layer = PiecewiseLinearEncoding.fit(X, n_encoded=1, max_bins=2)  # edges 0, 2, 4
    assert layer.n_bins == [2] and layer.n_outputs == 3
    x = torch.tensor([[-1.0, 7.0], [0.5, 7.0], [2.0, 7.0], [3.0, 7.0], [6.0, 7.0]])
    expected = torch.tensor(
        [
            [-0.5, 0.0, 7.0],  # the first bin extends below the data
            [0.25, 0.0, 7.0],
            [1.0, 0.0, 7.0],
            [1.0, 0.5, 7.0],
            [1.0, 2.0, 7.0],  # and the last above it
        ]
    )
    torch.testing.assert_close(layer(x), expected)


def test_piecewise_linear_bins_follow_the_distinct_values():
    X = np.column_stack([np.arange(100.0), np.tile([0.0, 1.0], 50), np.full(100, 3.0)])
    layer = PiecewiseLinearEncoding.fit(X, n_encoded=3, max_bins=16)
    assert layer.n_bins == [16, 1, 1]
    out = layer(torch.tensor([[50.0, 1.0, 3.0]]))
    assert out.shape == (1, 18)
    assert float(out[0, 16]) == 1.0 and float(out[0, 17]) == 0.0  # binary: as is; constant: 0


@pytest.mark.parametrize("value", [-1e17, 1.7e18])
def test_piecewise_linear_encodes_a_constant_column_of_any_magnitude_finitely(value):
    # One bin of width at least 1 and |value|: 1 alone vanishes beside 1e17.
    X = np.column_stack([np.arange(40.0), np.full(40, value)])
    layer = PiecewiseLinearEncoding.fit(X, n_encoded=2)
    assert layer.n_bins[1] == 1
    out = layer(torch.tensor([[1.0, value], [2.0, 2 * value]], dtype=torch.float32))
    assert torch.isfinite(out).all()
    assert float(out[0, -1]) == 0.0 and abs(float(out[1, -1])) <= 1.0
    model = TorchMLPRegressor(numeric_embedding="piecewise_linear", preprocessing=None)
    model = _fit(model.set_params(max_iter=2, random_state=0), X, X[:, 0])
    assert np.isfinite(model.predict(X)).all()


def _encoding(model):
    return next(m for m in model.module_.modules() if isinstance(m, PiecewiseLinearEncoding))


@pytest.mark.parametrize("preprocessing", ["robust", None])
def test_piecewise_linear_bins_count_sample_weights_as_repetitions(preprocessing):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 2))
    y = (X[:, 0] > 0).astype(int)
    weight = np.where(X[:, 1] > 0, 5, 1)  # the upper half of feature 1 counts 5 times
    params = dict(numeric_embedding="piecewise_linear", preprocessing=preprocessing, max_iter=1)
    weighted = TorchMLPClassifier(**params).fit(X, y, sample_weight=weight)
    repeated = TorchMLPClassifier(**params).fit(np.repeat(X, weight, axis=0), np.repeat(y, weight))
    assert _encoding(weighted).n_bins == _encoding(repeated).n_bins
    for a, b in zip(_encoding(weighted).buffers(), _encoding(repeated).buffers()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # A uniform weight is no weight.
    uniform = TorchMLPClassifier(**params).fit(X, y, sample_weight=np.full(80, 0.3))
    unweighted = TorchMLPClassifier(**params).fit(X, y)
    for a, b in zip(_encoding(uniform).buffers(), _encoding(unweighted).buffers()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_piecewise_linear_encodes_only_the_numeric_features_of_a_frame():
    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=120),
            "b": np.where(rng.rand(120) < 0.2, np.nan, rng.normal(size=120)),
            "c": pd.Categorical(rng.choice(["x", "y", "z"], 120)),
        }
    )
    y = X["a"].to_numpy() > 0
    model = _fit(
        TorchMLPClassifier(numeric_embedding="piecewise_linear", max_iter=30, random_state=0), X, y
    )
    encoding = model.module_[0][1]
    assert isinstance(encoding, PiecewiseLinearEncoding)
    # a and b; b's median imputation repeats a value, which merges bins
    assert len(encoding.n_bins) == 2 and encoding.n_bins[0] == 16
    # the bins + b's missing indicator + 3 one-hot categories
    assert model.coefs_[0].shape[0] == sum(encoding.n_bins) + 1 + 3
    assert model.score(X, y) > 0.8


def test_periodic_embedding_keeps_the_value_and_adds_learned_features():
    layer = PeriodicEmbedding(n_features=4, n_encoded=2, generator=torch.Generator().manual_seed(0))
    x = torch.randn(5, 4)
    out = layer(x)
    assert out.shape == (5, 2 * 4 + 2) == (5, layer.n_outputs)
    torch.testing.assert_close(out[:, [0, 4]], x[:, :2])
    torch.testing.assert_close(out[:, 8:], x[:, 2:])
    assert len(list(layer.parameters())) == 4


@pytest.mark.parametrize("embedding", ["piecewise_linear", "periodic"])
def test_numeric_embeddings_fit_nonlinear_targets(embedding):
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(400, 2))
    y = np.sin(2 * X[:, 0]) + 0.1 * X[:, 1]
    params = dict(hidden_layer_sizes=(32,), max_iter=150, random_state=0)
    model = _fit(TorchMLPRegressor(numeric_embedding=embedding, **params), X, y)
    assert model.score(X, y) > 0.9


@pytest.mark.parametrize("embedding", ["piecewise_linear", "periodic"])
def test_numeric_embeddings_refuse_sparse_training_data(embedding, binary_data):
    X, y = binary_data
    model = TorchMLPClassifier(numeric_embedding=embedding)
    with pytest.raises(ValueError, match=r"needs dense X.*X.toarray\(\)"):
        model.fit(sp.csr_matrix(X), y)
    assert not hasattr(model, "module_")


@pytest.mark.parametrize("preprocessing", ["robust", None])
@pytest.mark.parametrize("embedding", ["piecewise_linear", "periodic"])
@pytest.mark.parametrize("continuation", ["warm_start", "partial_fit"])
def test_continued_fits_of_numeric_embeddings_refuse_sparse_data(
    continuation, embedding, preprocessing, binary_data
):
    X, y = binary_data
    model = TorchMLPClassifier(
        numeric_embedding=embedding, preprocessing=preprocessing, warm_start=True, max_iter=2
    )
    model = _fit(model.set_params(random_state=0), X, y)
    coefs, n_iter = model.coefs_, model.n_iter_
    proceed = model.partial_fit if continuation == "partial_fit" else model.fit
    with pytest.raises(ValueError, match=r"needs dense X.*X.toarray\(\)"):
        proceed(sp.csr_matrix(X), y)
    assert model.n_iter_ == n_iter
    for before, after in zip(coefs, model.coefs_):
        np.testing.assert_array_equal(after, before)


def test_a_dense_fitted_embedding_predicts_sparse_rows(binary_data):
    X, y = binary_data
    model = _fit(TorchMLPClassifier(numeric_embedding="piecewise_linear", max_iter=5), X, y)
    np.testing.assert_allclose(
        model.predict_proba(sp.csr_matrix(X)), model.predict_proba(X), rtol=1e-6, atol=1e-7
    )


# -------------------------------------------------------- feature scaling
def test_feature_scales_are_learned(regression_data):
    X, y = regression_data
    model = _fit(TorchMLPRegressor(feature_scaling=True, max_iter=20, random_state=0), X, y)
    scale = model.module_[1][0]
    assert isinstance(scale, FeatureScale)
    assert scale.weight.shape == (X.shape[1],)
    assert not torch.allclose(scale.weight, torch.ones(X.shape[1]))


@pytest.mark.parametrize(
    "params",
    [
        {"feature_scaling": True},
        {"numeric_embedding": "piecewise_linear"},
        {"numeric_embedding": "periodic"},
    ],
)
def test_a_changed_input_layer_refits_from_scratch(binary_data, params):
    X, y = binary_data
    model = _fit(TorchMLPClassifier(warm_start=True, max_iter=3, random_state=0), X, y)
    _fit(model.set_params(**params), X, y)
    assert model.n_iter_ == 3
    assert model._fitted_architecture[next(iter(params))] == next(iter(params.values()))


def test_models_fitted_before_the_ingredients_keep_warm_starting(binary_data):
    X, y = binary_data
    model = _fit(TorchMLPClassifier(warm_start=True, max_iter=3, random_state=0), X, y)
    assert not {"n_ensemble", "numeric_embedding", "feature_scaling"} & set(
        model._fitted_architecture
    )
    _fit(model, X, y)
    assert len(model.loss_curve_) == 6


# ------------------------------------------------------ warm-up and cosine
def _params(**changes):
    """The training parameters of a 'warmup_cosine' estimator, as fit reads them."""
    estimator = TorchMLPRegressor(
        learning_rate="warmup_cosine", learning_rate_init=0.01, max_iter=100
    )
    return TrainingParams.from_estimator_params(estimator.set_params(**changes).get_params())


def test_warmup_cosine_rises_linearly_then_anneals_to_zero():
    params = _params()  # 5 warm-up epochs
    rates = [scheduled_lr(params, epoch, 0) for epoch in range(101)]
    np.testing.assert_allclose(rates[:6], 0.01 * np.array([1, 2, 3, 4, 5, 6]) / 6)
    assert rates[5] == 0.01
    assert all(a > b for a, b in zip(rates[5:100], rates[6:101]))
    assert rates[100] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(rates[5 + 95 // 2 + 1], 0.005, rtol=0.05)


def test_warmup_lasts_at_least_one_epoch():
    params = _params(max_iter=3)
    assert scheduled_lr(params, 0, 0) == pytest.approx(0.005)
    assert scheduled_lr(params, 1, 0) == pytest.approx(0.01)


def test_warmup_cosine_trains(classification_data):
    X, y = classification_data
    model = TorchMLPClassifier(
        learning_rate="warmup_cosine", learning_rate_init=0.01, max_iter=60, random_state=0
    )
    assert _fit(model, X, y).score(X, y) > 0.8


# ------------------------------------------------------------ safe format
def _ingredient_layers():
    import sk_mlp._nn.layers as layers

    g = torch.Generator().manual_seed(0)
    X = np.random.RandomState(0).normal(size=(50, 5))
    return [
        layers.FeatureScale(5),
        layers.MemberScale(3, 5, g),
        layers.MemberLinear(3, 5, 2, g),
        layers.MemberAverage(3, "softmax"),
        layers.PiecewiseLinearEncoding.fit(X, 3),
        layers.PeriodicEmbedding(5, 3, generator=g),
    ]


@pytest.mark.parametrize("layer", _ingredient_layers(), ids=lambda layer: type(layer).__name__)
def test_ingredient_layers_rebuild_from_the_safe_format_table(layer):
    import json

    from sk_mlp._io.layer_tree import _LAYER_NAMES, _LAYERS, _check_rebuilds

    spec = _LAYERS[_LAYER_NAMES[type(layer)]]
    args = spec.args(layer)
    _check_rebuilds(layer, spec, args, "module_")  # raises if the rebuild differs
    rebuilt = spec.build(**json.loads(json.dumps(args)))
    rebuilt.load_state_dict(layer.state_dict())
    # Members' layers read 3 stacked blocks of 4 rows.
    width = 2 if type(layer).__name__ == "MemberAverage" else 5
    x = torch.randn(12, width)
    for mode in (True, False):
        with torch.no_grad():
            torch.testing.assert_close(rebuilt.train(mode)(x), layer.train(mode)(x))
