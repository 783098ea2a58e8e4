"""Each loss's per-sample values against a hand computation, in plain torch."""

import math

import pytest
import torch

from sk_mlp._nn.losses import (
    REGRESSION_LOSSES,
    BinaryLogLoss,
    GaussianNLL,
    MulticlassLogLoss,
    Pinball,
    Poisson,
    SquaredError,
    classification_loss,
)


def _close(actual, expected):
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=actual.dtype))


def test_squared_error_is_half_the_mean_over_targets():
    raw = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    y = torch.tensor([[0.0, 0.0], [2.0, 1.0]])
    _close(SquaredError()(raw, y), [0.5 * (1 + 4) / 2, 0.5 * (4 + 4) / 2])


def test_squared_error_mean_is_the_identity():
    raw = torch.randn(4, 2)
    assert torch.equal(SquaredError().mean(raw), raw)
    assert SquaredError().n_outputs(3) == 3
    assert SquaredError.out_activation == "identity"


def test_mse_is_an_alias_of_squared_error():
    assert REGRESSION_LOSSES["mse"] is REGRESSION_LOSSES["squared_error"] is SquaredError


def test_binary_log_loss_sums_cross_entropy_over_labels():
    raw = torch.tensor([[0.0, 2.0], [-1.0, 3.0]])
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])

    def sigmoid(v):
        return 1 / (1 + math.exp(-v))

    expected = [
        -math.log(sigmoid(0.0)) - math.log(1 - sigmoid(2.0)),
        -math.log(1 - sigmoid(-1.0)) - math.log(sigmoid(3.0)),
    ]
    _close(BinaryLogLoss()(raw, y), expected)


def test_binary_log_loss_probabilities_and_their_logs():
    raw = torch.tensor([[-2.0], [0.0], [5.0]])
    loss = BinaryLogLoss()
    _close(loss.log_proba(raw), torch.log(torch.sigmoid(raw)))
    _close(loss.complement_log_proba(raw), torch.log(1 - torch.sigmoid(raw)))


@pytest.mark.parametrize("logit", [40.0, 1e4, 1e30])
def test_binary_probabilities_stay_strictly_inside_zero_one(logit):
    # In float64, sigmoid(40) is exactly 1 and 1 - sigmoid(1e4) exactly 0:
    # predicted margins are bounded where float64 still tells p from 1 - p.
    loss = BinaryLogLoss()
    raw = torch.tensor([[logit], [-logit]], dtype=torch.float64)
    for log_p in (loss.log_proba(raw), loss.complement_log_proba(raw)):
        p = log_p.exp()
        assert torch.all((p > 0) & (p < 1))
        _close(torch.log(p), log_p)
    assert loss.log_proba(raw)[0].item() == pytest.approx(0.0, abs=1e-15)


def test_multiclass_proba_rows_sum_to_one():
    raw = torch.randn(5, 4, dtype=torch.float64)
    p = MulticlassLogLoss().log_proba(raw).exp()
    _close(p.sum(dim=1), torch.ones(5, dtype=torch.float64))
    _close(p, torch.softmax(raw, dim=1))


def test_multiclass_probabilities_stay_strictly_inside_zero_one():
    raw = torch.tensor([[0.0, 1e4, -1e30], [3.0, 2.0, 1.0]], dtype=torch.float64)
    log_p = MulticlassLogLoss().log_proba(raw)
    p = log_p.exp()
    assert torch.all((p > 0) & (p < 1))
    _close(torch.log(p), log_p)
    _close(p.sum(dim=1), torch.ones(2, dtype=torch.float64))


def test_multiclass_log_loss_is_minus_log_softmax_of_the_true_class():
    raw = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    y = torch.tensor([2, 0])
    z = math.exp(1) + math.exp(2) + math.exp(3)
    _close(MulticlassLogLoss()(raw, y), [-math.log(math.exp(3) / z), math.log(3)])


def test_poisson_is_exp_minus_y_times_log_mean_averaged_over_targets():
    raw = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
    y = torch.tensor([[1.0, 3.0], [0.0, 2.0]])
    expected = [
        ((1 - 0.0) + (math.e - 3 * 1.0)) / 2,
        ((math.exp(2) - 0.0) + (math.exp(-1) - 2 * -1.0)) / 2,
    ]
    _close(Poisson()(raw, y), expected)
    _close(Poisson().mean(raw), raw.exp())


def test_gaussian_nll_has_a_mean_and_a_variance_output_per_target():
    assert GaussianNLL().n_outputs(3) == 6


def test_gaussian_variance_is_softplus_plus_floor_and_always_positive():
    loss = GaussianNLL(min_variance=1e-6)
    raw = torch.tensor([[0.5, -1000.0, 0.0, 2.0]])
    mean, var = loss.mean_variance(raw)
    _close(mean, [[0.5, -1000.0]])
    _close(var, [[math.log(1 + math.exp(0.0)) + 1e-6, math.log(1 + math.exp(2.0)) + 1e-6]])
    extreme = loss.mean_variance(torch.tensor([[0.0, -1e4]]))[1]
    assert extreme.item() == pytest.approx(1e-6)  # bounded away from zero


def test_gaussian_nll_is_the_full_negative_log_likelihood_summed_over_targets():
    loss = GaussianNLL()
    raw = torch.tensor([[1.0, -0.5, 0.3, 1.2]])  # means 1, -0.5; raw variances 0.3, 1.2
    y = torch.tensor([[2.0, 0.5]])
    _, var = loss.mean_variance(raw)
    v1, v2 = var[0].tolist()
    expected = sum(
        0.5 * (math.log(2 * math.pi) + math.log(v) + r**2 / v) for r, v in [(1.0, v1), (1.0, v2)]
    )
    _close(loss.nll(raw, y), [expected])


def _half_nll(residual, var):
    return 0.5 * (math.log(var) + residual**2 / var)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_gaussian_training_loss_value_is_the_nll_without_the_constant(beta):
    loss = GaussianNLL(beta=beta)
    raw = torch.tensor([[1.0, 0.7], [0.0, -2.0]])
    y = torch.tensor([[3.0], [0.1]])
    var = loss.mean_variance(raw)[1].ravel().tolist()
    expected = [_half_nll(r, v) for r, v in zip([2.0, 0.1], var, strict=True)]
    _close(loss(raw, y), expected)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_gaussian_training_gradient_is_the_nll_gradient_times_variance_to_the_beta(beta):
    loss = GaussianNLL(beta=beta)
    raw = torch.tensor([[1.0, 0.7], [0.0, -2.0]], requires_grad=True)
    y = torch.tensor([[3.0], [0.1]])
    loss(raw, y).sum().backward()
    mean, raw_var = raw.detach()[:, 0], raw.detach()[:, 1]
    var = torch.nn.functional.softplus(raw_var) + loss.min_variance
    residual = mean - y[:, 0]
    weight = var**beta  # a constant weight: no gradient flows through it
    d_mean = residual / var * weight
    d_var = 0.5 * (1 / var - residual**2 / var**2) * weight * torch.sigmoid(raw_var)
    _close(raw.grad, torch.stack([d_mean, d_var], dim=1))


def test_gaussian_beta_weight_is_detached_so_beta_one_gives_squared_error_mean_gradients():
    loss = GaussianNLL(beta=1.0)
    raw = torch.tensor([[1.0, 0.7], [0.0, -2.0]], requires_grad=True)
    y = torch.tensor([[3.0], [0.1]])
    loss(raw, y).sum().backward()
    # d/dmean of 0.5 * (mean - y)^2 / var * var  (weight held constant) = mean - y
    _close(raw.grad[:, 0], [1.0 - 3.0, 0.0 - 0.1])


def test_gaussian_predictive_mean_is_the_first_half_of_the_outputs():
    raw = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    _close(GaussianNLL().mean(raw), [[1.0, 2.0]])


def test_pinball_has_one_output_per_target_and_quantile():
    assert Pinball([0.1, 0.5, 0.9]).n_outputs(2) == 6
    assert REGRESSION_LOSSES["quantile"] is Pinball


def test_pinball_is_the_mean_over_targets_and_quantiles_of_the_tilted_residual():
    loss = Pinball([0.1, 0.9])
    # Target-major outputs: (target 0: q0.1, q0.9), (target 1: q0.1, q0.9).
    raw = torch.tensor([[1.0, 3.0, 0.0, 0.0]])
    y = torch.tensor([[2.0, -1.0]])

    def tilted(tau, residual):
        return tau * residual if residual >= 0 else (tau - 1) * residual

    expected = (tilted(0.1, 1.0) + tilted(0.9, -1.0) + tilted(0.1, -1.0) + tilted(0.9, -1.0)) / 4
    _close(loss(raw, y), [expected])


def test_pinball_is_minimised_by_the_empirical_quantile():
    y = torch.arange(1.0, 101.0)[:, None]  # 1, ..., 100
    loss = Pinball([0.25])
    candidates = torch.linspace(0.0, 101.0, 1011)
    values = torch.stack([loss(torch.full((100, 1), float(c)), y).mean() for c in candidates])
    assert 25.0 <= candidates[values.argmin()] <= 26.0


def test_pinball_quantile_values_are_sorted_per_target_in_the_order_of_the_levels():
    loss = Pinball([0.9, 0.1, 0.5])  # levels given out of order
    raw = torch.tensor([[0.0, 2.0, 1.0, 5.0, -5.0, 0.0]])  # target 1 crossed
    values = loss.quantile_values(raw)
    assert values.shape == (1, 2, 3)
    _close(values, [[[2.0, 0.0, 1.0], [5.0, -5.0, 0.0]]])


@pytest.mark.parametrize("weighted", [False, True])
def test_pinball_value_and_grad_match_autograd(weighted):
    loss = Pinball([0.2, 0.5, 0.7])
    g = torch.Generator().manual_seed(0)
    raw = torch.randn(9, 6, generator=g, requires_grad=True)
    y = torch.randn(9, 2, generator=g)
    weight = torch.rand(9, generator=g) if weighted else None
    loss.batch_loss(raw, y, weight).backward()
    value, grad = loss.value_and_grad(raw.detach(), y, weight)
    torch.testing.assert_close(value, loss.batch_loss(raw.detach(), y, weight))
    torch.testing.assert_close(grad, raw.grad)


def test_classification_loss_is_softmax_for_multiclass_and_sigmoid_otherwise():
    assert isinstance(classification_loss("multiclass"), MulticlassLogLoss)
    assert classification_loss("multiclass").out_activation == "softmax"
    for target_type in ("binary", "multilabel-indicator"):
        assert isinstance(classification_loss(target_type), BinaryLogLoss)
        assert classification_loss(target_type).out_activation == "logistic"


def test_losses_return_one_value_per_sample():
    y_float = torch.rand(6, 2)
    for loss in (SquaredError(), Poisson(), BinaryLogLoss()):
        assert loss(torch.randn(6, 2), y_float).shape == (6,)
    assert GaussianNLL()(torch.randn(6, 4), y_float).shape == (6,)
    assert MulticlassLogLoss()(torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])).shape == (6,)


@pytest.mark.parametrize(
    "loss, target",
    [
        (SquaredError(), lambda n: torch.randn(n, 3)),
        (Poisson(), lambda n: torch.rand(n, 2) * 5),
        (GaussianNLL(), lambda n: torch.randn(n, 2)),
        (Pinball([0.1, 0.5, 0.9]), lambda n: torch.randn(n, 2)),
        (BinaryLogLoss(), lambda n: torch.randint(0, 2, (n, 3)).float()),
        (MulticlassLogLoss(), lambda n: torch.randint(0, 4, (n,))),
    ],
    ids=["squared_error", "poisson", "gaussian_nll", "quantile", "binary", "multiclass"],
)
def test_batch_mean_is_the_mean_of_the_per_sample_losses(loss, target):
    y = target(16)
    width = 4 if isinstance(loss, MulticlassLogLoss) else loss.n_outputs(y.shape[1])
    raw = torch.randn(16, width)
    torch.testing.assert_close(loss.batch_mean(raw, y), loss(raw, y).mean())
