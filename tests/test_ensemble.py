"""n_ensemble: k networks trained in one pass, members stacked along the batch,
averaged through the loss's link at prediction."""

import copy
import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._engine.backprop import Backprop
from sk_mlp._engine.training import TrainingParams, l2_penalty, make_step
from sk_mlp._nn.layers import FeatureScale, MemberAverage, MemberLinear, MemberScale
from sk_mlp._nn.losses import (
    BinaryLogLoss,
    GaussianNLL,
    MulticlassLogLoss,
    Poisson,
    SquaredError,
    average_members,
)
from sk_mlp._nn.mlp import build_mlp, build_network, squared_weight_norm

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_FEATURES, N_SAMPLES = 6, 33


def _fit(estimator, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **kwargs)


def _members(model, X):
    """Each member's raw outputs, shape (k, n, n_out), read from the fitted
    network in training mode (which stacks the members) without dropout."""
    module = copy.deepcopy(model.module_).train()
    for layer in module.modules():
        if isinstance(layer, torch.nn.Dropout):
            layer.p = 0.0
    with torch.no_grad():
        raw = module(torch.as_tensor(X, dtype=torch.float32))
    return raw.reshape(model.n_ensemble, len(X), -1).double()


# ------------------------------------------------------------ the averaging
def test_members_average_probabilities_in_a_multiclass_classifier(classification_data):
    X, y = classification_data
    model = _fit(TorchMLPClassifier(n_ensemble=3, max_iter=30, random_state=0), X, y)
    expected = torch.softmax(_members(model, X), dim=-1).mean(dim=0).numpy()
    np.testing.assert_allclose(model.predict_proba(X), expected, rtol=1e-5, atol=1e-6)


def test_members_average_probabilities_in_a_binary_classifier(binary_data):
    X, y = binary_data
    model = _fit(TorchMLPClassifier(n_ensemble=4, max_iter=30, random_state=0), X, y)
    expected = torch.sigmoid(_members(model, X)).mean(dim=0).ravel().numpy()
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], expected, rtol=1e-5, atol=1e-6)


def test_members_average_means_in_a_regressor(regression_data):
    X, y = regression_data
    model = _fit(TorchMLPRegressor(n_ensemble=3, max_iter=30, random_state=0), X, y)
    expected = _members(model, X).mean(dim=0).ravel().numpy() * model._y_scale + model._y_loc
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-4)


def test_members_average_rates_under_the_poisson_log_link(regression_data):
    X, y = regression_data
    y = np.abs(y)
    model = _fit(TorchMLPRegressor(loss="poisson", n_ensemble=3, max_iter=30, random_state=0), X, y)
    expected = _members(model, X).exp().mean(dim=0).ravel().numpy() * model._y_scale
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-6)


def test_gaussian_members_form_a_mixture(regression_data):
    X, y = regression_data
    # The network's own std: the held-out calibration would rescale it.
    model = TorchMLPRegressor(
        loss="gaussian_nll", n_ensemble=3, max_iter=30, uncertainty_calibration=None, random_state=0
    )
    model = _fit(model, X, y)
    members = _members(model, X)
    means, variances = GaussianNLL().mean_variance(members.flatten(0, 1))
    means, variances = means.reshape(3, len(X)), variances.reshape(3, len(X))
    mixture_mean = means.mean(dim=0)
    mixture_variance = (variances + means**2).mean(dim=0) - mixture_mean**2
    mean, std = model.predict(X, return_std=True)
    scale = float(model._y_scale[0])
    expected_mean = mixture_mean.numpy() * scale + model._y_loc
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(std, mixture_variance.sqrt().numpy() * scale, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("out_activation", ["softmax", "logistic", "exp", "identity"])
def test_average_members_inverts_the_link_of_the_mean_prediction(out_activation):
    raw = torch.randn(5, 7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    raw[0, 0] = 40.0  # a confident member: no overflow, no lost precision
    link = {
        "softmax": lambda r: torch.softmax(r, dim=-1),
        "logistic": torch.sigmoid,
        "exp": torch.exp,
        "identity": lambda r: r,
    }[out_activation]
    averaged = average_members(raw, out_activation)
    torch.testing.assert_close(link(averaged), link(raw).mean(dim=0), rtol=1e-12, atol=1e-12)


def test_one_member_is_the_single_network():
    generator = torch.Generator().manual_seed(0)
    single = build_mlp(5, 3, (7,), "relu", 0.1, generator=generator)
    generator.manual_seed(0)
    network = build_network(5, 3, (7,), "relu", 0.1, n_ensemble=1, generator=generator)
    assert [type(m) for m in network] == [type(m) for m in single]
    for a, b in zip(network.parameters(), single.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# --------------------------------------------------------------- the network
def test_members_share_the_hidden_layers_and_own_their_input_scales_and_heads():
    network = build_network(5, 2, (7, 6), n_ensemble=4, generator=torch.Generator().manual_seed(0))
    kinds = [type(m) for m in network]
    assert kinds[0] is MemberScale and kinds[-2:] == [MemberLinear, MemberAverage]
    assert network[0].weight.shape == (4, 5)
    assert set(network[0].weight.unique().tolist()) == {-1.0, 1.0}  # random signs
    assert network[-2].weight.shape == (4, 2, 6)
    assert network[1].weight.shape == (7, 5)  # one shared first layer
    X = torch.randn(10, 5)
    assert network.train()(X).shape == (40, 2)  # members stacked along the batch
    assert network.eval()(X).shape == (10, 2)


def test_fitted_attributes_of_an_ensemble(classification_data):
    X, y = classification_data
    model = _fit(TorchMLPClassifier((9, 7), n_ensemble=3, max_iter=5, random_state=0), X, y)
    assert [c.shape for c in model.coefs_] == [(8, 9), (9, 7), (3, 7, 3)]
    assert [b.shape for b in model.intercepts_] == [(9,), (7,), (3, 3)]
    assert model.n_layers_ == 4


def test_alpha_penalises_each_member_as_a_single_network():
    # The ensemble's objective is the mean over members of each member's loss
    # and penalty: the shared layers count once, each member's output layer
    # 1 / n_ensemble (the sum would penalise a member's head n_ensemble times
    # as hard as a single network's).
    network = build_network(5, 2, (7,), n_ensemble=3, generator=torch.Generator().manual_seed(0))
    expected = network[1].weight.square().sum() + network[-2].weight.square().sum() / 3
    torch.testing.assert_close(squared_weight_norm(network), expected, rtol=1e-6, atol=0)


@pytest.mark.parametrize("solver", ["sgd", "adamw"])
def test_penalty_steps_treat_each_member_as_a_single_network(solver):
    # Coupled (sgd, adam, lbfgs): the step adds the gradient of the penalty
    # that squared_weight_norm defines. Decoupled (adamw): every weight decays
    # at the same rate, as a single network's, since Adam's steps do not
    # scale with the members' 1 / n_ensemble share of the loss.
    network = build_network(5, 2, (7,), n_ensemble=3, generator=torch.Generator().manual_seed(0))
    weights = [network[1].weight, network[-2].weight]
    params = TrainingParams.from_estimator_params(
        {**TorchMLPClassifier(solver=solver, alpha=0.5).get_params(), "momentum": 0.0}
    )
    if solver == "adamw":
        expected = [0.1 * 0.5 * w.detach() for w in weights]
    else:
        penalty = l2_penalty(params.alpha, 10.0) * squared_weight_norm(network)
        expected = torch.autograd.grad(penalty, weights)
    for p in network.parameters():
        p.grad = torch.zeros_like(p)
    before = [w.detach().clone() for w in weights]
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1 if solver == "adamw" else 1.0)
    make_step(network, optimizer, params, batch_weight=10.0)()
    for old, new, step in zip(before, weights, expected):
        torch.testing.assert_close(old - new.detach(), step, rtol=1e-5, atol=1e-9)


def test_an_ensemble_of_one_fits_the_same_model_as_the_default(binary_data):
    X, y = binary_data
    default = _fit(TorchMLPClassifier(max_iter=10, random_state=0), X, y)
    one = _fit(TorchMLPClassifier(n_ensemble=1, max_iter=10, random_state=0), X, y)
    np.testing.assert_array_equal(one.predict_proba(X), default.predict_proba(X))


def test_members_train_to_different_networks(regression_data):
    X, y = regression_data
    model = _fit(TorchMLPRegressor(n_ensemble=3, max_iter=20, random_state=0), X, y)
    members = _members(model, X)
    assert float((members[0] - members[1]).abs().max()) > 1e-3


# ---------------------------------------------------------------- training
def _batch(loss, n_outputs, g):
    if isinstance(loss, MulticlassLogLoss):
        return torch.randint(0, n_outputs, (N_SAMPLES,), generator=g)
    if isinstance(loss, BinaryLogLoss):
        return torch.randint(0, 2, (N_SAMPLES, n_outputs), generator=g).float()
    return torch.rand(N_SAMPLES, n_outputs, generator=g) * 2


def _autograd(network, loss, X, y, weight):
    value = loss.batch_loss(network(X), y, weight)
    network.zero_grad(set_to_none=True)
    value.backward()
    return value.detach(), [p.grad.clone() for p in network.parameters()]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    "loss", [MulticlassLogLoss(0.1), BinaryLogLoss(0.2), SquaredError(), Poisson()], ids=type
)
@pytest.mark.parametrize(
    "n_ensemble, feature_scaling, hidden, dropout",
    [(3, False, (7,), 0.0), (3, True, (7, 5), 0.3), (1, True, (7,), 0.2), (1, True, (), 0.0)],
)
def test_hand_written_gradients_match_autograd(
    n_ensemble, feature_scaling, hidden, dropout, loss, weighted
):
    g = torch.Generator().manual_seed(0)
    network = build_network(
        N_FEATURES,
        4,
        hidden,
        "tanh",
        dropout,
        n_ensemble=n_ensemble,
        feature_scaling=feature_scaling,
        generator=g,
    ).train()
    with torch.no_grad():  # scales away from one, so that their gradients matter
        for p in network.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.3)
    X = torch.randn(N_SAMPLES, N_FEATURES, generator=g)
    y = _batch(loss, 4, g)
    weight = torch.rand(N_SAMPLES, generator=g) * 2 if weighted else None
    with torch.random.fork_rng():
        expected_value, expected_grads = _autograd(network, loss, X, y, weight)
    backprop = Backprop.for_network(network, loss)
    assert backprop is not None
    # Float32 sums in another order: measured differences reach 1.2e-7 on
    # gradients of order one; a wrong term is off by far more.
    for _ in range(2):  # the second call reuses the buffers of the first
        with torch.random.fork_rng():  # same dropout masks as the autograd pass
            value = backprop(X, y, weight)
        torch.testing.assert_close(value, expected_value, rtol=1e-5, atol=1e-6)
        for p, expected in zip(network.parameters(), expected_grads):
            torch.testing.assert_close(p.grad, expected, rtol=1e-5, atol=1e-6)


def test_an_ensemble_without_hidden_layers_trains_through_autograd():
    network = build_network(4, 2, (), n_ensemble=3, generator=torch.Generator().manual_seed(0))
    assert Backprop.for_network(network, SquaredError()) is None


def test_the_loss_is_the_mean_of_the_members_losses():
    loss = SquaredError()
    raw, y = torch.randn(12, 2), torch.randn(4, 2)
    members = [loss(raw[4 * k : 4 * k + 4], y).mean() for k in range(3)]
    torch.testing.assert_close(loss.batch_loss(raw, y, None), torch.stack(members).mean())
    per_sample = torch.stack([loss(raw[4 * k : 4 * k + 4], y) for k in range(3)]).mean(dim=0)
    torch.testing.assert_close(loss.member_mean(raw, y), per_sample)


@pytest.mark.parametrize(
    "params",
    [
        {"solver": "lbfgs", "max_iter": 15},
        {"early_stopping": True, "max_iter": 15},
        {"normalization": "batch", "max_iter": 30, "learning_rate_init": 0.01},
        {"solver": "sgd", "max_iter": 30, "learning_rate_init": 0.01},
    ],
    ids=["lbfgs", "early_stopping", "batch-norm", "sgd"],
)
def test_ensembles_train_with_every_solver_and_option(classification_data, params):
    X, y = classification_data
    model = _fit(TorchMLPClassifier(n_ensemble=3, random_state=0, **params), X, y)
    assert model.score(X, y) > 0.6


def test_an_ensemble_on_sparse_rows_equals_it_on_dense_rows(classification_data):
    X, y = classification_data
    X = np.where(np.abs(X) > 0.8, X, 0.0)
    params = dict(n_ensemble=3, feature_scaling=True, max_iter=10, random_state=0)
    dense = _fit(TorchMLPClassifier(**params), X, y)
    sparse = _fit(TorchMLPClassifier(**params), sp.csr_matrix(X), y)
    np.testing.assert_allclose(
        sparse.predict_proba(sp.csr_matrix(X)), dense.predict_proba(X), rtol=1e-4, atol=1e-5
    )


def test_a_changed_n_ensemble_refits_from_scratch_and_stops_partial_fit(binary_data):
    X, y = binary_data
    model = _fit(TorchMLPClassifier(warm_start=True, max_iter=5, random_state=0), X, y)
    _fit(model.set_params(n_ensemble=2), X, y)
    assert model.n_iter_ == 5 and model.coefs_[-1].shape == (2, 100, 1)
    with pytest.raises(ValueError, match=r"partial_fit cannot continue.*n_ensemble"):
        model.set_params(n_ensemble=3).partial_fit(X, y)


def test_a_warm_started_ensemble_continues(binary_data):
    X, y = binary_data
    model = TorchMLPClassifier(n_ensemble=2, warm_start=True, max_iter=5, random_state=0)
    model = _fit(model, X, y)
    heads = model.coefs_[-1]
    _fit(model, X, y)
    assert (model.n_iter_, len(model.loss_curve_)) == (5, 10)
    assert not np.array_equal(model.coefs_[-1], heads)


def test_an_ensemble_pickles(binary_data):
    import pickle

    X, y = binary_data
    model = _fit(TorchMLPClassifier(n_ensemble=3, max_iter=5, random_state=0), X, y)
    restored = pickle.loads(pickle.dumps(clone(model).fit(X, y)))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))


def test_feature_scale_starts_at_one():
    torch.testing.assert_close(FeatureScale(3).weight.detach(), torch.ones(3))
    with torch.no_grad():
        assert math.isclose(float(FeatureScale(3)(torch.ones(1, 3)).sum()), 3.0)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_early_stopping_scores_the_averaged_prediction_by_its_true_log_loss(
    classification_data, weighted
):
    X, y = classification_data
    weight = np.linspace(0.5, 2.0, len(y)) if weighted else None
    # Without the temperature, which predict_proba would apply after training.
    model = TorchMLPClassifier(
        n_ensemble=3,
        label_smoothing=0.2,
        early_stopping=True,
        uncertainty_calibration=None,
        max_iter=15,
        random_state=0,
    )
    model = _fit(model, X, y, sample_weight=weight)
    _, val = model._validation_rows(y, model._random_seed)
    expected = -log_loss(
        y[val], model.predict_proba(X[val]), sample_weight=None if weight is None else weight[val]
    )
    # The restored best epoch is the model returned: its score is the best.
    assert math.isclose(model.best_validation_score_, expected, rel_tol=1e-5, abs_tol=1e-6)
