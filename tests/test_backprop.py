"""Backpropagation written out (sk_mlp._engine.backprop) and the direct fused Adam
update, each against what autograd and torch.optim compute. Plain torch."""

import copy
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._compat.torch_private import fused_adam_update
from sk_mlp._engine.backprop import Backprop
from sk_mlp._nn.losses import (
    BinaryLogLoss,
    GaussianNLL,
    MulticlassLogLoss,
    Pinball,
    Poisson,
    SquaredError,
)
from sk_mlp._nn.mlp import build_mlp

N_FEATURES, N_SAMPLES = 6, 33

LOSSES = {
    "multiclass": (MulticlassLogLoss(), lambda g: torch.randint(0, 4, (N_SAMPLES,), generator=g)),
    "multilabel": (
        BinaryLogLoss(),
        lambda g: torch.randint(0, 2, (N_SAMPLES, 4), generator=g).float(),
    ),
    "squared_error": (SquaredError(), lambda g: torch.randn(N_SAMPLES, 4, generator=g)),
    "poisson": (Poisson(), lambda g: torch.rand(N_SAMPLES, 4, generator=g) * 3),
    # Two targets of two quantiles each: four outputs.
    "quantile": (Pinball([0.25, 0.75]), lambda g: torch.randn(N_SAMPLES, 2, generator=g)),
}


def _batch(loss_name, weighted):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(N_SAMPLES, N_FEATURES, generator=g)
    y = LOSSES[loss_name][1](g)
    weight = torch.rand(N_SAMPLES, generator=g) * 2 if weighted else None
    return X, y, weight


def _autograd(network, loss, X, y, weight):
    raw = network(X)
    value = loss.batch_mean(raw, y) if weight is None else (loss(raw, y) * weight).mean()
    network.zero_grad(set_to_none=True)
    value.backward()
    return value.detach(), [p.grad.clone() for p in network.parameters()]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("loss_name", list(LOSSES))
@pytest.mark.parametrize(
    "activation", ["relu", "tanh", "logistic", "identity", "leaky_relu", "elu", "gelu", "silu"]
)
@pytest.mark.parametrize("hidden, dropout", [((), 0.0), ((7,), 0.0), ((7, 5), 0.3)])
def test_gradients_and_loss_match_autograd(hidden, dropout, activation, loss_name, weighted):
    torch.manual_seed(0)
    network = build_mlp(N_FEATURES, 4, hidden, activation, dropout).train()
    loss = LOSSES[loss_name][0]
    X, y, weight = _batch(loss_name, weighted)
    with torch.random.fork_rng():
        expected_value, expected_grads = _autograd(network, loss, X, y, weight)
    backprop = Backprop.for_network(network, loss)
    assert backprop is not None
    for _ in range(2):  # the second call reuses the buffers of the first
        with torch.random.fork_rng():  # same dropout masks as the autograd pass
            value = backprop(X, y, weight)
        torch.testing.assert_close(value, expected_value)
        for p, expected in zip(network.parameters(), expected_grads):
            torch.testing.assert_close(p.grad, expected)


@pytest.mark.parametrize(
    "activation",
    [nn.GELU(approximate="tanh"), nn.LeakyReLU(0.2), nn.ELU(alpha=0.5)],
    ids=["gelu-tanh", "leaky-0.2", "elu-0.5"],
)
def test_activation_settings_are_honoured(activation):
    torch.manual_seed(0)
    network = nn.Sequential(nn.Linear(N_FEATURES, 7), activation, nn.Linear(7, 4))
    loss, (X, y, _) = SquaredError(), _batch("squared_error", False)
    expected_value, expected_grads = _autograd(network, loss, X, y, None)
    torch.testing.assert_close(Backprop.for_network(network, loss)(X, y, None), expected_value)
    for p, expected in zip(network.parameters(), expected_grads):
        torch.testing.assert_close(p.grad, expected)


def test_dropout_follows_the_network_mode_as_in_autograd():
    torch.manual_seed(0)
    network = build_mlp(N_FEATURES, 4, (7,), dropout=0.5).eval()
    loss, (X, y, _) = SquaredError(), _batch("squared_error", False)
    expected_value, _ = _autograd(network, loss, X, y, None)
    torch.testing.assert_close(Backprop.for_network(network, loss)(X, y, None), expected_value)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("n", [1, 2, 5])
def test_a_smaller_last_batch_gets_its_own_buffers(n, activation):
    torch.manual_seed(0)
    network = build_mlp(N_FEATURES, 4, (7, 6), activation)
    loss, (X, y, _) = SquaredError(), _batch("squared_error", False)
    backprop = Backprop.for_network(network, loss)
    backprop(X, y, None)
    value = backprop(X[:n], y[:n], None)
    expected_value, expected_grads = _autograd(network, loss, X[:n], y[:n], None)
    torch.testing.assert_close(value, expected_value)
    for p, expected in zip(network.parameters(), expected_grads):
        torch.testing.assert_close(p.grad, expected)


@pytest.mark.parametrize(
    "network, loss",
    [
        (build_mlp(3, 2, (4,), normalization="batch"), SquaredError()),
        (nn.Sequential(nn.Linear(3, 4), nn.Softplus(), nn.Linear(4, 2)), SquaredError()),
        (nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(-0.5), nn.Linear(4, 2)), SquaredError()),
        (nn.Sequential(nn.Linear(3, 4), nn.ELU(alpha=0.0), nn.Linear(4, 2)), SquaredError()),
        (build_mlp(3, 2, (4,)), GaussianNLL()),
        (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.ReLU(), nn.Linear(4, 2)), SquaredError()),
        (nn.Sequential(nn.Linear(3, 4), nn.ReLU()), SquaredError()),
        (nn.Sequential(nn.ReLU(), nn.Linear(3, 2)), SquaredError()),
        (nn.Sequential(nn.Linear(3, 2, bias=False)), SquaredError()),
        (nn.Sequential(nn.Linear(3, 2).double()), SquaredError()),
        (nn.Linear(3, 2), SquaredError()),
    ],
    ids=[
        "normalization",
        "other-activation",
        "non-monotone-leaky-relu",
        "flat-elu",
        "no-closed-form-loss",
        "two-activations",
        "activation-at-the-end",
        "activation-first",
        "no-bias",
        "float64",
        "not-sequential",
    ],
)
def test_other_networks_and_losses_are_left_to_autograd(network, loss):
    assert Backprop.for_network(network, loss) is None


def _tied():
    shared = nn.Linear(4, 4)
    return nn.Sequential(
        nn.Linear(3, 4), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(4, 2)
    )


def _shared_parameter():
    first, second = nn.Linear(4, 4), nn.Linear(4, 4)
    second.weight = first.weight
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), first, nn.Tanh(), second, nn.Linear(4, 2))


def _frozen():
    network = build_mlp(3, 2, (4,))
    network[0].requires_grad_(False)
    return network


def _with_layer_hook():
    network = build_mlp(3, 2, (4,))
    network[1].register_forward_hook(lambda module, args, output: None)
    return network


def _with_gradient_hook():
    network = build_mlp(3, 2, (4,))
    network[2].weight.register_hook(lambda grad: grad.clamp(-1, 1))
    return network


def _with_backward_hook():
    network = build_mlp(3, 2, (4,))
    network[0].register_full_backward_hook(lambda module, grad_input, grad_output: None)
    return network


def _with_accumulate_hook():
    network = build_mlp(3, 2, (4,))
    network[0].bias.register_post_accumulate_grad_hook(lambda p: None)
    return network


@pytest.mark.parametrize(
    "make_network",
    [
        _tied,
        _shared_parameter,
        _frozen,
        _with_layer_hook,
        _with_gradient_hook,
        _with_backward_hook,
        _with_accumulate_hook,
    ],
)
def test_networks_that_rely_on_autograd_are_left_to_it(make_network):
    assert Backprop.for_network(make_network(), SquaredError()) is None


def test_a_global_module_hook_sends_every_network_to_autograd():
    from torch.nn.modules.module import register_module_forward_hook

    handle = register_module_forward_hook(lambda module, args, output: None)
    try:
        assert Backprop.for_network(build_mlp(3, 2, (4,)), SquaredError()) is None
    finally:
        handle.remove()
    assert Backprop.for_network(build_mlp(3, 2, (4,)), SquaredError()) is not None


def test_a_users_module_trains_through_autograd_so_frozen_layers_stay_frozen():
    def frozen_first_layer(n_features, n_outputs):
        torch.manual_seed(0)
        network = nn.Sequential(nn.Linear(n_features, 8), nn.ReLU(), nn.Linear(8, n_outputs))
        network[0].requires_grad_(False)
        return network

    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(60, 3)), rng.normal(size=60)
    initial = frozen_first_layer(3, 1)[0].weight.detach().clone()
    model = _fit(TorchMLPRegressor(module=frozen_first_layer, max_iter=3, preprocessing=None), X, y)
    torch.testing.assert_close(model.module_[0].weight, initial, rtol=0, atol=0)
    assert not torch.equal(model.module_[2].weight, frozen_first_layer(3, 1)[2].weight)


def test_a_users_plain_module_still_trains_through_autograd(monkeypatch):
    # Nothing in the network says so, but a user's module may rely on autograd
    # (hooks added in forward, custom autograd functions in subclasses...).
    calls = []
    monkeypatch.setattr(Backprop, "__call__", lambda *args: calls.append(1))
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(60, 3)), rng.normal(size=60)

    def plain(n_features, n_outputs):
        return nn.Sequential(nn.Linear(n_features, 8), nn.ReLU(), nn.Linear(8, n_outputs))

    assert Backprop.for_network(plain(3, 1), SquaredError()) is not None
    _fit(TorchMLPRegressor(module=plain, max_iter=2), X, y)
    assert calls == []


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
@pytest.mark.parametrize("normalization", [None, "layer"])
def test_fit_trains_even_when_the_caller_disabled_autograd(context, normalization):
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(60, 3)), rng.normal(size=60)
    params = dict(hidden_layer_sizes=(5,), normalization=normalization, max_iter=3)
    expected = _fit(TorchMLPRegressor(**params, random_state=0), X, y)
    with context():
        model = _fit(TorchMLPRegressor(**params, random_state=0), X, y)
    np.testing.assert_allclose(model.loss_curve_, expected.loss_curve_)
    model.partial_fit(X, y)  # the fitted network is usable outside the context


# Every epoch counts as no improvement, so the adaptive schedule cuts the rate.
STALLING = {"tol": 1e3, "n_iter_no_change": 1}


def _fit(estimator, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X, y, **fit_params)


@pytest.mark.parametrize(
    "estimator",
    [
        TorchMLPClassifier((9, 7), dropout=0.2, alpha=0.1),
        TorchMLPRegressor((9,), activation="tanh", solver="adamw", alpha=0.1),
        TorchMLPRegressor((9,), learning_rate="adaptive", tol=1e3, n_iter_no_change=1),
        TorchMLPRegressor(
            (9,), solver="sgd", learning_rate="adaptive", tol=1e3, n_iter_no_change=1
        ),
    ],
    ids=["classifier-dropout", "regressor-adamw", "regressor-adam-adaptive", "regressor-sgd"],
)
def test_a_fit_is_the_same_with_and_without_the_fast_routes(estimator, monkeypatch):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 4))
    y = X[:, 0] - X[:, 1] ** 2 + 0.1 * rng.normal(size=120)
    if isinstance(estimator, TorchMLPClassifier):
        y = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    weight = rng.uniform(0.5, 2.0, size=120)
    params = dict(max_iter=4, batch_size=32, random_state=0)
    calls, updates = [], []
    backprop_call = Backprop.__call__
    monkeypatch.setattr(Backprop, "__call__", lambda *args: calls.append(1) or backprop_call(*args))

    def spy(optimizer):
        update = fused_adam_update(optimizer)
        updates.append(update is not None)
        return update

    monkeypatch.setattr("sk_mlp._engine.training.fused_adam_update", spy)
    fast = _fit(clone(estimator).set_params(**params), X, y, sample_weight=weight)
    assert len(calls) == 4 * 4  # every step of every epoch took the fast route
    assert updates == [estimator.solver != "sgd"]  # Adam and AdamW update directly
    monkeypatch.setattr(Backprop, "for_network", classmethod(lambda cls, network, loss: None))
    monkeypatch.setattr("sk_mlp._engine.training.fused_adam_update", lambda optimizer: None)
    slow = _fit(clone(estimator).set_params(**params), X, y, sample_weight=weight)
    np.testing.assert_allclose(fast.loss_curve_, slow.loss_curve_, rtol=1e-5)
    if estimator.learning_rate == "adaptive":  # the rate changed, and both routes followed
        assert fast._optimizer_state["param_groups"][0]["lr"] < estimator.learning_rate_init
    for a, b in zip(fast.coefs_ + fast.intercepts_, slow.coefs_ + slow.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def _adam_pair(cls):
    torch.manual_seed(0)
    net = build_mlp(5, 3, (8,))
    twin = copy.deepcopy(net)
    make = lambda m: cls(m.parameters(), lr=0.01, weight_decay=0.0, fused=True)  # noqa: E731
    return net, make(net), twin, make(twin)


def _set_grads(*nets, seed):
    g = torch.Generator().manual_seed(seed)
    grads = [torch.randn(p.shape, generator=g) for p in nets[0].parameters()]
    for net in nets:
        for p, grad in zip(net.parameters(), grads):
            p.grad = grad.clone()


@pytest.mark.parametrize("cls", [torch.optim.Adam, torch.optim.AdamW])
def test_the_direct_fused_update_is_torch_optims_step(cls):
    net, optimizer, twin, twin_optimizer = _adam_pair(cls)
    _set_grads(net, twin, seed=0)
    optimizer.step()
    twin_optimizer.step()
    update = fused_adam_update(optimizer)
    assert update is not None
    for seed in range(1, 4):
        _set_grads(net, twin, seed=seed)
        update()
        twin_optimizer.step()
    for p, q in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    state, twin_state = optimizer.state_dict()["state"], twin_optimizer.state_dict()["state"]
    for key in state:
        for name in ("step", "exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(state[key][name], twin_state[key][name], rtol=0, atol=0)


def test_the_direct_update_is_declined_where_step_would_do_more():
    net, optimizer, *_ = _adam_pair(torch.optim.Adam)
    assert fused_adam_update(optimizer) is None  # no state yet
    _set_grads(net, seed=0)
    optimizer.step()
    assert fused_adam_update(optimizer) is not None
    handle = register_optimizer_step_post_hook(lambda *args: None)
    try:
        assert fused_adam_update(optimizer) is None  # the user's hooks must run
    finally:
        handle.remove()
    sgd = torch.optim.SGD(net.parameters(), lr=0.1)
    assert fused_adam_update(sgd) is None


@pytest.mark.parametrize(
    "options",
    [
        {"amsgrad": True},
        {"maximize": True},
        {"weight_decay": 0.1},
        {"lr": torch.tensor(0.01)},
        {"fused": False},
        {"groups": 2},
    ],
    ids=lambda options: next(iter(options)),
)
def test_the_direct_update_is_declined_for_options_it_does_not_implement(options):
    options = {"lr": 0.01, "fused": True, **options}
    net = build_mlp(5, 3, (8,))
    params = list(net.parameters())
    if options.pop("groups", 1) == 2:
        params = [{"params": params[:2]}, {"params": params[2:]}]
    optimizer = torch.optim.Adam(params, **options)
    _set_grads(net, seed=0)
    optimizer.step()
    assert fused_adam_update(optimizer) is None
