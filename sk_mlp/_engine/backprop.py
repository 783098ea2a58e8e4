"""Backpropagation written out for the networks :func:`build_network` makes.

For a stack of ``Linear -> activation -> [dropout]`` blocks the gradient is a
few matrix products and elementwise factors, which this module writes straight
into buffers allocated once per fit. The learned input scales in front
(:class:`~sk_mlp._nn.layers.FeatureScale`, an ensemble's
:class:`~sk_mlp._nn.layers.MemberScale`) and the members' output layers
(:class:`~sk_mlp._nn.layers.MemberLinear`) add a few batched products. On the
CPU that skips what autograd costs per step (building the graph, allocating
every activation and gradient, the engine's bookkeeping);
benchmarks/results-cpu.txt measures what that saves. Networks with other
layers (normalization, a user's ``module``) and losses without a closed-form gradient
train through autograd instead; tests check that both give the same gradients.
Plain torch, no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .._compat.torch_private import KERNELS, has_autograd_hooks
from .._nn.layers import FeatureScale, MemberLinear, MemberScale
from .._nn.losses import stack_members
from .._nn.mlp import Dropout
from .._nn.registry import entry, register_capability
from .gpu_step import hand_written_on


@dataclass(frozen=True)
class _Activation:
    """An activation as two in-place steps. ``forward(z, spare)`` returns the
    activation of the pre-activation ``z``: written over ``z`` where the
    derivative can be computed from the output, into ``spare`` otherwise
    (``needs_input``). ``grad(grad, z, out)`` multiplies ``grad`` in place by
    the derivative."""

    forward: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
    grad: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    needs_input: bool = False


def _relu(layer: nn.ReLU) -> _Activation:
    return _Activation(lambda z, _: z.relu_(), lambda g, z, out: KERNELS["relu_grad_"](g, out))


def _tanh(layer: nn.Tanh) -> _Activation:
    return _Activation(lambda z, _: z.tanh_(), lambda g, z, out: KERNELS["tanh_grad_"](g, out))


def _sigmoid(layer: nn.Sigmoid) -> _Activation:
    return _Activation(
        lambda z, _: z.sigmoid_(), lambda g, z, out: KERNELS["sigmoid_grad_"](g, out)
    )


def _leaky_relu(layer: nn.LeakyReLU) -> _Activation | None:
    if layer.negative_slope <= 0:  # the sign must survive: the derivative reads the output
        return None
    slope = layer.negative_slope
    return _Activation(
        lambda z, _: F.leaky_relu_(z, slope),
        lambda g, z, out: KERNELS["leaky_relu_grad_"](g, out, slope),
    )


def _elu(layer: nn.ELU) -> _Activation | None:
    if layer.alpha <= 0:
        return None
    alpha = layer.alpha
    return _Activation(
        lambda z, _: F.elu_(z, alpha), lambda g, z, out: KERNELS["elu_grad_"](g, out, alpha)
    )


def _gelu(layer: nn.GELU) -> _Activation:
    approximate = layer.approximate
    return _Activation(
        lambda z, spare: KERNELS["gelu_into"](z, spare, approximate),
        lambda g, z, out: KERNELS["gelu_grad_"](g, z, approximate),
        needs_input=True,
    )


def _silu(layer: nn.SiLU) -> _Activation:
    return _Activation(
        lambda z, spare: KERNELS["silu_into"](z, spare),
        lambda g, z, out: KERNELS["silu_grad_"](g, z),
        needs_input=True,
    )


# The activations' in-place forms are this module's part of the layer registry.
for _cls, _form in (
    (nn.ReLU, _relu),
    (nn.Tanh, _tanh),
    (nn.Sigmoid, _sigmoid),
    (nn.LeakyReLU, _leaky_relu),
    (nn.ELU, _elu),
    (nn.GELU, _gelu),
    (nn.SiLU, _silu),
):
    register_capability(_cls, "backprop", _form)


def _role(layer: nn.Module):
    """The layer's part in the hand-written gradients, from the registry entry
    of exactly its class: a role name, an activation's form, or None."""
    found = entry(type(layer))
    role = None if found is None else found.backprop
    return role if isinstance(role, str) or callable(role) else None


def _activation(layer: nn.Module) -> _Activation | None:
    """The in-place form of an activation module, ``None`` for other layers."""
    role = _role(layer)
    return role(layer) if callable(role) else None


@dataclass
class _Block:
    linear: nn.Linear | MemberLinear
    activation: _Activation | None = None
    dropout: Dropout | None = None


@dataclass
class _Network:
    """A network as Backprop sees it: the learned input scales, the blocks,
    and the ensemble's size (1 for a single network)."""

    feature_scale: FeatureScale | None
    member_scale: MemberScale | None
    blocks: list[_Block]
    n_members: int


def _front(layers: list[nn.Module]) -> tuple[FeatureScale | None, MemberScale | None, int]:
    """The scale layers a network starts with, and how many there are."""
    feature_scale = member_scale = None
    n = 0
    if n < len(layers) and _role(layers[n]) == "feature_scale":
        feature_scale, n = layers[n], n + 1
    if n < len(layers) and _role(layers[n]) == "member_scale":
        member_scale, n = layers[n], n + 1
    return feature_scale, member_scale, n


def _network(network: nn.Module) -> _Network | None:
    """``network`` as scales and blocks, or ``None`` if it holds anything else."""
    if type(network) is not nn.Sequential:
        return None
    layers = list(network)
    feature_scale, member_scale, n_front = _front(layers)
    n_members = 1 if member_scale is None else member_scale.weight.shape[0]
    if n_members > 1:  # ends with the members' output layer and their average
        if not layers or _role(layers[-1]) != "member_average":
            return None
        layers = layers[:-1]
        if _role(layers[-1]) != "member_linear" or n_front == len(layers) - 1:
            return None  # no hidden layer: the scales would meet the members' weights
    blocks = _blocks(layers[n_front:], allow_member_head=n_members > 1)
    if blocks is None:
        return None
    return _Network(feature_scale, member_scale, blocks, n_members)


def _blocks(layers: list[nn.Module], allow_member_head: bool = False) -> list[_Block] | None:
    """``layers`` as blocks, or ``None`` if they hold anything else."""
    blocks: list[_Block] = []
    for index, layer in enumerate(layers):
        role = _role(layer)
        if role == "linear" and layer.bias is not None:
            blocks.append(_Block(layer))
        elif role == "member_linear" and allow_member_head and index == len(layers) - 1:
            blocks.append(_Block(layer))
        elif not blocks or blocks[-1].dropout is not None:
            return None
        elif role == "identity" and blocks[-1].activation is None:
            continue
        elif (activation := _activation(layer)) and blocks[-1].activation is None:
            blocks[-1].activation = activation
        elif role == "dropout":
            blocks[-1].dropout = layer
        else:
            return None
    if not blocks or blocks[-1].activation is not None or blocks[-1].dropout is not None:
        return None
    return blocks


def _weight(layer: nn.Module | None) -> torch.Tensor | None:
    return None if layer is None else layer.weight


class _Layer(NamedTuple):
    """What a step reads of one block, looked up once: nn.Module attribute
    access is slow, and the optimizer updates these tensors in place."""

    weight: torch.Tensor
    weight_t: torch.Tensor
    bias: torch.Tensor
    activation: _Activation | None
    dropout: Dropout | None
    members: bool  # the members' output layers (weight of shape (k, out, in))


class _Buffers(NamedTuple):
    """One block's buffers for one batch size."""

    pre_activation: torch.Tensor
    activated: torch.Tensor | None  # where the activation cannot overwrite its input
    dropped: torch.Tensor | None  # the output after dropout
    grad_input: torch.Tensor  # the gradient at the block's input


class Backprop:
    """Loss and parameter gradients of one batch, without autograd.

    Build it with :meth:`for_network`; calling it on ``(X, y, weight)`` writes
    the gradient of the (sample-weighted) mean loss into each parameter's
    ``.grad`` and returns the loss, as ``loss.backward()`` would. Dropout draws
    its masks in the same order as the module's forward pass, so a seeded
    step matches the autograd one.

    An ensemble's members are stacked along the batch, as in the module's
    forward pass: the shared layers see ``n_members * n`` rows, and the loss is
    the mean over members of their own losses. The input scales ``s`` (per
    feature) and ``r_k`` (per member) meet the first layer's weight ``W`` in
    ``(x * s * r_k) W^T``, whose gradients all come from one product per
    member, ``G_k = grad_k^T x``: ``W`` gets ``sum_k G_k * s * r_k``, and the
    scales get ``G_k * W`` summed over the hidden units.
    """

    def __init__(self, network: _Network, loss):
        self.loss = loss
        self.n_members = network.n_members
        self._feature_scale = _weight(network.feature_scale)
        self._member_scale = _weight(network.member_scale)
        self._layers = [
            _Layer(
                b.linear.weight,
                b.linear.weight.transpose(-2, -1),
                b.linear.bias,
                b.activation,
                b.dropout if b.dropout is not None and b.dropout.p > 0 else None,
                _role(b.linear) == "member_linear",
            )
            for b in network.blocks
        ]
        # Per batch size, per block; an epoch has at most two batch sizes.
        self._buffers: dict[int, tuple[torch.Tensor | None, list[_Buffers]]] = {}
        self.uses_dropout = any(layer.dropout is not None for layer in self._layers)

    @classmethod
    def for_network(cls, network: nn.Module, loss) -> Backprop | None:
        """A :class:`Backprop` for ``network`` on the CPU (and on CUDA where
        :mod:`sk_mlp._engine.gpu_step` says so), or ``None`` where autograd must do
        it: other layers, a layer or parameter used twice, frozen parameters,
        hooks, other devices or dtypes, no closed-form loss."""
        parsed = _network(network)
        if parsed is None or not hasattr(loss, "value_and_grad"):
            return None
        n_scales = (parsed.feature_scale is not None) + (parsed.member_scale is not None)
        if len(list(network.parameters())) != 2 * len(parsed.blocks) + n_scales:
            return None  # shared layers or parameters: their gradients would have to add up
        if len({p.device for p in network.parameters()}) != 1 or any(
            not hand_written_on(p.device) or p.dtype != torch.float32 or not p.requires_grad
            for p in network.parameters()
        ):
            return None
        if has_autograd_hooks(network):
            return None
        return cls(parsed, loss)

    @property
    def _scaled(self) -> bool:
        return self._feature_scale is not None or self._member_scale is not None

    def _allocate(self, n: int, like: torch.Tensor) -> tuple[torch.Tensor | None, list[_Buffers]]:
        parameters = [p for layer in self._layers for p in (layer.weight, layer.bias)]
        parameters += [p for p in (self._feature_scale, self._member_scale) if p is not None]
        for p in parameters:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        rows = self.n_members * n
        scaled_input = like.new_empty(self.n_members, n, like.shape[1]) if self._scaled else None
        buffers = []
        for layer in self._layers:
            n_out, n_in = layer.weight.shape[-2:]
            spare = layer.activation is not None and layer.activation.needs_input
            buffers.append(
                _Buffers(
                    like.new_empty(rows, n_out),
                    like.new_empty(rows, n_out) if spare else None,
                    like.new_empty(rows, n_out) if layer.dropout is not None else None,
                    like.new_empty(rows, n_in),
                )
            )
        return scaled_input, buffers

    def _input_factor(self) -> torch.Tensor:
        """The product of the input scales, one row per member."""
        if self._member_scale is None:
            return self._feature_scale.unsqueeze(0)
        if self._feature_scale is None:
            return self._member_scale
        return self._member_scale * self._feature_scale

    @torch.no_grad()
    def __call__(
        self, X: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None
    ) -> torch.Tensor:
        n, k = len(X), self.n_members
        allocated = self._buffers.get(n)
        if allocated is None:
            allocated = self._buffers[n] = self._allocate(n, X)
        scaled_input, buffers = allocated
        h = X
        if scaled_input is not None:
            factor = self._input_factor()
            h = torch.mul(X.unsqueeze(0), factor.unsqueeze(1), out=scaled_input).flatten(0, 1)
        inputs, outputs, masks = [], [], []
        for layer, buffer in zip(self._layers, buffers):
            inputs.append(h)
            if layer.members:
                out = buffer.pre_activation.view(k, n, -1)
                torch.baddbmm(layer.bias.unsqueeze(1), h.view(k, n, -1), layer.weight_t, out=out)
                h = buffer.pre_activation
            else:
                h = torch.addmm(layer.bias, h, layer.weight_t, out=buffer.pre_activation)
            if layer.activation is not None:
                h = layer.activation.forward(h, buffer.activated)
            outputs.append(h)
            mask = None
            if layer.dropout is not None and layer.dropout.training:
                mask = layer.dropout.mask(h)
                h = torch.mul(h, mask, out=buffer.dropped)
            masks.append(mask)
        y, weight = stack_members(y, weight, k)
        value, grad = self.loss.value_and_grad(h, y, weight)
        for i in range(len(self._layers) - 1, -1, -1):
            layer, buffer = self._layers[i], buffers[i]
            if masks[i] is not None:
                grad = grad.mul_(masks[i])
            if layer.activation is not None:
                grad = layer.activation.grad(grad, buffer.pre_activation, outputs[i])
            if layer.members:
                self._member_layer_grads(layer, buffer, grad, inputs[i], k, n, bool(i))
                grad = buffer.grad_input
                continue
            if i == 0 and scaled_input is not None:
                self._scaled_input_grads(layer, grad, X, k, n)
                continue
            torch.mm(grad.t(), inputs[i], out=layer.weight.grad)
            torch.sum(grad, 0, out=layer.bias.grad)
            if i:
                grad = torch.mm(grad, layer.weight, out=buffer.grad_input)
        return value

    @staticmethod
    def _member_layer_grads(layer, buffer, grad, inputs, k: int, n: int, propagate: bool):
        """Gradients of the members' output layers; the gradient at their
        input goes into ``buffer.grad_input`` if ``propagate``."""
        grad = grad.view(k, n, -1)
        torch.bmm(grad.transpose(1, 2), inputs.view(k, n, -1), out=layer.weight.grad)
        torch.sum(grad, 1, out=layer.bias.grad)
        if propagate:
            torch.bmm(grad, layer.weight, out=buffer.grad_input.view(k, n, -1))

    def _scaled_input_grads(self, layer, grad, X, k: int, n: int):
        """Gradients of the first layer and of the input scales in front of it."""
        # G_k = grad_k^T x: one batched product for every member (x is shared).
        products = torch.matmul(grad.view(k, n, -1).transpose(1, 2), X)
        factor = self._input_factor()
        torch.sum(products * factor.unsqueeze(1), 0, out=layer.weight.grad)
        torch.sum(grad, 0, out=layer.bias.grad)
        factor_grad = (products * layer.weight).sum(dim=1)  # (k, n_features)
        if self._member_scale is not None:
            member_grad = factor_grad
            if self._feature_scale is not None:
                member_grad = factor_grad * self._feature_scale
            self._member_scale.grad.copy_(member_grad)
        if self._feature_scale is not None:
            if self._member_scale is not None:
                factor_grad = factor_grad * self._member_scale
            torch.sum(factor_grad, 0, out=self._feature_scale.grad)
