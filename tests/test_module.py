"""The torch network builder and input preprocessing, tested as plain torch."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from sk_mlp._nn.mlp import (
    ACTIVATIONS,
    Dropout,
    RobustInput,
    build_mlp,
    fit_robust_input,
    linear_layers,
    squared_weight_norm,
)


def _types(module):
    return [type(layer) for layer in module]


def test_build_mlp_stacks_linear_activation_blocks_and_a_linear_head():
    net = build_mlp(5, 3, (7, 4), activation="tanh")
    assert _types(net) == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]


def test_build_mlp_orders_linear_norm_activation_dropout():
    net = build_mlp(5, 3, (7, 4), activation="relu", dropout=0.25, normalization="batch")
    assert _types(net) == [
        nn.Linear,
        nn.BatchNorm1d,
        nn.ReLU,
        Dropout,
        nn.Linear,
        nn.BatchNorm1d,
        nn.ReLU,
        Dropout,
        nn.Linear,
    ]
    assert all(layer.p == 0.25 for layer in net if isinstance(layer, nn.Dropout))


def test_build_mlp_layer_normalization_has_the_hidden_width():
    net = build_mlp(5, 3, (7,), normalization="layer")
    assert _types(net) == [nn.Linear, nn.LayerNorm, nn.ReLU, nn.Linear]
    assert net[1].normalized_shape == (7,)


def test_build_mlp_batch_normalization_has_the_hidden_width():
    net = build_mlp(5, 3, (7,), normalization="batch")
    assert net[1].num_features == 7


def test_build_mlp_widths_chain_from_features_to_outputs():
    net = build_mlp(5, 3, (7, 4, 6))
    shapes = [(layer.in_features, layer.out_features) for layer in linear_layers(net)]
    assert shapes == [(5, 7), (7, 4), (4, 6), (6, 3)]
    assert net(torch.randn(10, 5)).shape == (10, 3)


def test_build_mlp_without_hidden_layers_is_one_linear_layer():
    net = build_mlp(5, 2, ())
    assert _types(net) == [nn.Linear]
    assert (net[0].in_features, net[0].out_features) == (5, 2)


def test_build_mlp_has_no_dropout_layer_when_dropout_is_zero():
    net = build_mlp(5, 2, (4, 4), dropout=0.0)
    assert not any(isinstance(layer, nn.Dropout) for layer in net)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_dropout_zeroes_a_fraction_p_and_rescales_the_rest_exactly(p):
    """The mask drops with the probability ``p_eff``, ``p`` rounded to a multiple
    of 1/65536; kept units are scaled by ``1 / (1 - p_eff)`` so that the
    masked output equals the input in expectation exactly. (For p=0.1 and 0.3,
    ``1 / (1 - p)`` differs from that by 4e-6 to 7e-6 relative: 36 to 57 float32 ulps.)"""
    p_eff = round(p * 65536) / 65536
    torch.manual_seed(0)
    out = Dropout(p)(torch.ones(400, 500))
    kept = out != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.005
    expected = torch.full_like(out[kept], 1 / (1 - p_eff))
    torch.testing.assert_close(out[kept], expected, rtol=2.4e-7, atol=0)  # 2 ulps
    # unbiased: the expected activation is unchanged
    assert abs(out.mean().item() - 1) < 0.01


def test_dropout_masks_are_independent_of_position():
    torch.manual_seed(0)
    kept = (Dropout(0.5)(torch.ones(2000, 64)) != 0).float()
    # every column (and so every 16-bit lane of the random words) keeps half
    assert kept.mean(0).sub(0.5).abs().max() < 0.05
    # neighbouring units are not correlated
    corr = np.corrcoef(kept[:, :-1].flatten(), kept[:, 1:].flatten())[0, 1]
    assert abs(corr) < 0.02


def test_dropout_is_the_identity_in_eval_mode_and_reproducible_under_a_seed():
    x = torch.randn(30, 20)
    layer = Dropout(0.3)
    torch.manual_seed(1)
    first = layer(x)
    torch.manual_seed(1)
    torch.testing.assert_close(layer(x), first)
    assert torch.equal(layer.eval()(x), x)


def test_dropout_gradient_flows_through_the_kept_units_only():
    x = torch.randn(50, 40, requires_grad=True)
    torch.manual_seed(0)
    out = Dropout(0.25)(x)
    out.sum().backward()
    torch.testing.assert_close(x.grad, (out != 0).float() / 0.75)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_build_mlp_uses_the_named_activation(activation):
    net = build_mlp(3, 1, (4,), activation=activation)
    expected = ACTIVATIONS[activation]
    assert isinstance(net[1], expected)
    assert torch.isfinite(net(torch.randn(8, 3))).all()


def test_build_mlp_biases_start_at_zero():
    net = build_mlp(5, 3, (7, 4))
    assert all(torch.count_nonzero(layer.bias) == 0 for layer in linear_layers(net))


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_every_activation_gets_glorot_init(activation):
    n = 400
    weight = build_mlp(n, 1, (n,), activation=activation)[0].weight
    glorot_std = math.sqrt(2.0 / (n + n))  # xavier uniform: bound sqrt(6 / (fan_in + fan_out))
    assert weight.std().item() == pytest.approx(glorot_std, rel=0.03)
    assert weight.abs().max().item() <= math.sqrt(6.0 / (2 * n))


def test_output_head_uses_glorot_init_even_after_relu_layers():
    n = 400
    head = build_mlp(3, n, (n,), activation="relu")[-1].weight
    assert head.std().item() == pytest.approx(math.sqrt(2.0 / (2 * n)), rel=0.03)


def test_squared_weight_norm_sums_squared_weights_without_biases():
    net = build_mlp(2, 1, (2,))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[0].bias.fill_(100.0)
        net[2].weight.fill_(2.0)
    assert squared_weight_norm(net).item() == pytest.approx(4 * 1.0 + 2 * 4.0)


def test_robust_input_centres_and_scales_by_its_statistics():
    center = torch.tensor([10.0, -2.0])
    scale = torch.tensor([4.0, 0.5])
    layer = RobustInput(center, scale, clip=3.0)
    x = torch.tensor([[10.0, -2.0], [11.0, -1.9]])
    z = (x - center) / scale
    expected = z / torch.sqrt(1 + (z / 3.0) ** 2)
    torch.testing.assert_close(layer(x), expected)
    assert layer(x)[0].abs().max().item() < 1e-6  # the median maps to zero
    # near the centre the clipping is close to the identity
    torch.testing.assert_close(layer(x)[1], z[1], rtol=0.01, atol=0.0)


def test_robust_input_maps_extreme_values_to_the_clip_bound():
    # Outliers must saturate at +-clip, not collapse to the median (0) or NaN
    # when (z / clip) ** 2 overflows float32.
    layer = RobustInput(torch.zeros(1), torch.ones(1), clip=3.0)
    x = torch.tensor([[-3e38], [-1e30], [-1e6], [1e6], [1e30], [3e38]])
    expected = torch.tensor([-3.0, -3.0, -3.0, 3.0, 3.0, 3.0])
    torch.testing.assert_close(layer(x).ravel(), expected)


def test_robust_input_clips_smoothly_and_boundedly():
    layer = RobustInput(torch.zeros(1), torch.ones(1), clip=3.0)
    x = torch.linspace(-100, 100, 2001).reshape(-1, 1).requires_grad_()
    out = layer(x)
    assert out.abs().max().item() < 3.0
    assert torch.all(out[1:] > out[:-1])  # strictly increasing: no information lost
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad > 0).all()
    assert x.grad[1000].item() == pytest.approx(1.0)  # the identity's slope at the centre


def test_robust_input_statistics_are_buffers_not_parameters():
    layer = RobustInput(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0]))
    assert list(layer.parameters()) == []
    assert set(layer.state_dict()) == {"shift", "inv_scale"}


def test_fit_robust_input_scales_by_the_mad_as_a_standard_deviation():
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.normal(3.0, 2.0, size=20000), np.full(20000, 5.0)])
    layer = fit_robust_input(X, np.ones(len(X)))
    scale = 1.0 / layer.inv_scale
    center = -layer.shift * scale
    assert center[0].item() == pytest.approx(3.0, abs=0.05)
    assert scale[0].item() == pytest.approx(2.0, rel=0.03)  # a normal's MAD / 0.6745 is its std
    assert center[1].item() == pytest.approx(5.0) and scale[1].item() == 1.0  # constant column


def test_fit_robust_input_treats_integer_weights_as_repetitions():
    rng = np.random.RandomState(0)
    X, weight = rng.lognormal(size=(50, 3)), rng.randint(0, 4, size=50)
    X[rng.rand(50) < 0.6, 1] = 0  # most of the weight on the median
    weighted = fit_robust_input(X, weight.astype(float))
    repeated = fit_robust_input(np.repeat(X, weight, axis=0), np.ones(weight.sum()))
    torch.testing.assert_close(weighted.shift, repeated.shift)
    torch.testing.assert_close(weighted.inv_scale, repeated.inv_scale)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_fit_robust_input_counts_a_sparse_matrix_implicit_zeros(weighted):
    # Mostly-zero columns (median 0), mostly-nonzero ones (a nonzero median)
    # and a column where most values equal the median (scaled by its std).
    rng = np.random.RandomState(0)
    X = rng.lognormal(size=(300, 6))
    X[rng.rand(300, 6) < [0.7, 0.7, 0.2, 0.2, 0.9, 0.0]] = 0
    weight = rng.rand(300) if weighted else np.ones(300)
    dense = fit_robust_input(X, weight)
    for layout in (sp.csr_matrix, sp.csc_matrix):
        sparse = fit_robust_input(layout(X), weight)
        torch.testing.assert_close(sparse.shift, dense.shift, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(sparse.inv_scale, dense.inv_scale, rtol=1e-6, atol=0.0)
    assert torch.any(dense.shift != 0) and torch.any(dense.shift == 0)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_fit_robust_input_medians_are_numpys_inverted_cdf(weighted):
    rng = np.random.RandomState(0)
    X = rng.lognormal(size=(101, 4))
    weight = rng.rand(101) if weighted else np.ones(101)
    layer = fit_robust_input(X, weight)
    center = np.quantile(X, 0.5, axis=0, weights=weight, method="inverted_cdf")
    mad = np.quantile(np.abs(X - center), 0.5, axis=0, weights=weight, method="inverted_cdf")
    scale = mad / 0.6744897501960817  # smaller than the std of these log-normal columns
    np.testing.assert_allclose(1.0 / layer.inv_scale.numpy(), scale, rtol=1e-6)
    np.testing.assert_allclose(-layer.shift.numpy() * scale, center, rtol=1e-6)


def test_fit_robust_input_takes_the_smaller_of_the_robust_scale_and_the_std():
    # Binary and ordinal columns get their standard deviation (an
    # interquartile range would put a 0/1 column at 0.74 or at its std
    # depending on the share of ones); a heavy-tailed column gets the median
    # absolute deviation, which outliers cannot inflate.
    rng = np.random.RandomState(0)
    X = np.column_stack(
        [
            rng.rand(4000) < 0.3,
            rng.rand(4000) < 0.6,
            rng.randint(0, 5, size=4000),
            rng.standard_t(2, size=4000),
        ]
    ).astype(float)
    scale = 1.0 / fit_robust_input(X, np.ones(len(X))).inv_scale.numpy()
    np.testing.assert_allclose(scale[:3], X[:, :3].std(axis=0), rtol=1e-5)
    center = np.quantile(X[:, 3], 0.5, method="inverted_cdf")
    mad = np.quantile(np.abs(X[:, 3] - center), 0.5, method="inverted_cdf")
    assert scale[3] == pytest.approx(mad / 0.6744897501960817, rel=1e-5)
    assert scale[3] < X[:, 3].std() / 2


@pytest.mark.parametrize("layout", [np.asarray, sp.csr_matrix])
def test_a_mostly_zero_heavy_tailed_column_keeps_a_robust_scale(layout):
    # 60% zeros: the median absolute deviation is zero, and the standard
    # deviation is set by the tail's outliers. The median distance of the
    # nonzero values from the median stands in, so that they stay spread out.
    rng = np.random.RandomState(0)
    x = rng.lognormal(0, 2, size=20000) * (rng.rand(20000) < 0.4)
    scale = 1.0 / fit_robust_input(layout(x[:, None]), np.ones(len(x))).inv_scale.item()
    nonzero = x[x > 0]
    expected = np.quantile(nonzero, 0.5, method="inverted_cdf") / 0.6744897501960817
    assert scale == pytest.approx(expected, rel=1e-6)
    assert scale < x.std() / 10


@pytest.mark.parametrize("layout", [sp.csr_matrix, sp.csc_matrix])
def test_sparse_statistics_of_a_fully_stored_column_under_uneven_weights(layout):
    # Every row stores the constant 5: no implicit zero may appear out of the
    # rounding of a difference of weight sums.
    rng = np.random.RandomState(0)
    X = np.column_stack([np.full(40, 5.0), rng.lognormal(size=40)])
    for seed in range(20):
        weight = np.random.RandomState(seed).rand(40) + 0.1
        dense, sparse = fit_robust_input(X, weight), fit_robust_input(layout(X), weight)
        torch.testing.assert_close(sparse.inv_scale, dense.inv_scale, rtol=1e-6, atol=0.0)
        assert sparse.inv_scale[0].item() == 1.0  # a constant column is left unscaled


def test_sparse_and_dense_statistics_break_exact_ties_alike():
    # A 0/1 feature whose zeros hold exactly half the weight (balanced class
    # weights 10/6 and 10/14 on 3 and 7 rows): the median is a tie.
    x = np.array([0.0] * 7 + [1.0] * 3)
    weight = np.where(x == 1, 10 / 6, 10 / 14)
    X = np.column_stack([x, np.arange(10.0)])
    dense, sparse = fit_robust_input(X, weight), fit_robust_input(sp.csr_matrix(X), weight)
    torch.testing.assert_close(sparse.shift, dense.shift, rtol=0.0, atol=0.0)
    torch.testing.assert_close(sparse.inv_scale, dense.inv_scale, rtol=1e-6, atol=0.0)


def test_dropout_close_to_one_still_draws_a_mask():
    layer = Dropout(0.999995).train()
    out = layer(torch.ones(4, 1000))
    assert torch.isfinite(out).all()
