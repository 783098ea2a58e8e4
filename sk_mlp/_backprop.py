"""Backpropagation written out for the networks :func:`build_mlp` makes.

For a stack of ``Linear -> activation -> [dropout]`` blocks the gradient is a
few matrix products and elementwise factors, which this module writes straight
into buffers allocated once per fit. On the CPU that skips what autograd costs
per step (building the graph, allocating every activation and gradient, the
engine's bookkeeping). With Adam's fused kernel called directly, a training
step of the speed benchmark's network takes about 30% less time than through
autograd and ``torch.optim``. Networks with other layers
(normalization, a user's ``module``) and losses without a closed-form gradient
train through autograd instead; tests check that both give the same gradients.
Plain torch, no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ._module import Dropout
from ._torch_private import has_autograd_hooks


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


_aten = torch.ops.aten


def _activation(layer: nn.Module) -> _Activation | None:
    """The in-place form of an activation module, ``None`` for other layers."""
    kind = type(layer)
    if kind is nn.ReLU:
        return _Activation(
            lambda z, _: z.relu_(),
            lambda g, z, out: _aten.threshold_backward.grad_input(g, out, 0, grad_input=g),
        )
    if kind is nn.Tanh:
        return _Activation(
            lambda z, _: z.tanh_(),
            lambda g, z, out: _aten.tanh_backward.grad_input(g, out, grad_input=g),
        )
    if kind is nn.Sigmoid:
        return _Activation(
            lambda z, _: z.sigmoid_(),
            lambda g, z, out: _aten.sigmoid_backward.grad_input(g, out, grad_input=g),
        )
    if kind is nn.LeakyReLU and layer.negative_slope > 0:  # the sign survives: use the output
        slope = layer.negative_slope
        return _Activation(
            lambda z, _: torch.nn.functional.leaky_relu_(z, slope),
            lambda g, z, out: _aten.leaky_relu_backward.grad_input(
                g, out, slope, True, grad_input=g
            ),
        )
    if kind is nn.ELU and layer.alpha > 0:
        alpha = layer.alpha
        return _Activation(
            lambda z, _: torch.nn.functional.elu_(z, alpha),
            lambda g, z, out: _aten.elu_backward.grad_input(
                g, alpha, 1, 1, True, out, grad_input=g
            ),
        )
    if kind is nn.GELU:
        approximate = layer.approximate
        return _Activation(
            lambda z, spare: _aten.gelu.out(z, approximate=approximate, out=spare),
            lambda g, z, out: _aten.gelu_backward.grad_input(
                g, z, approximate=approximate, grad_input=g
            ),
            needs_input=True,
        )
    if kind is nn.SiLU:
        return _Activation(
            lambda z, spare: _aten.silu.out(z, out=spare),
            lambda g, z, out: _aten.silu_backward.grad_input(g, z, grad_input=g),
            needs_input=True,
        )
    return None


@dataclass
class _Block:
    linear: nn.Linear
    activation: _Activation | None = None
    dropout: Dropout | None = None


def _blocks(network: nn.Module) -> list[_Block] | None:
    """``network`` as blocks, or ``None`` if it holds anything else."""
    if type(network) is not nn.Sequential:
        return None
    blocks: list[_Block] = []
    for layer in network:
        kind = type(layer)
        if kind is nn.Linear and layer.bias is not None:
            blocks.append(_Block(layer))
        elif not blocks or blocks[-1].dropout is not None:
            return None
        elif kind is nn.Identity and blocks[-1].activation is None:
            continue
        elif (activation := _activation(layer)) and blocks[-1].activation is None:
            blocks[-1].activation = activation
        elif kind is Dropout:
            blocks[-1].dropout = layer
        else:
            return None
    if not blocks or blocks[-1].activation is not None or blocks[-1].dropout is not None:
        return None
    return blocks


class Backprop:
    """Loss and parameter gradients of one batch, without autograd.

    Build it with :meth:`for_network`; calling it on ``(X, y, weight)`` writes
    the gradient of the (sample-weighted) mean loss into each parameter's
    ``.grad`` and returns the loss, as ``loss.backward()`` would. Dropout draws
    its masks in the same order as the module's forward pass, so a seeded
    step matches the autograd one.
    """

    def __init__(self, blocks: list[_Block], loss):
        self.loss = loss
        # What each step reads, looked up once: nn.Module attribute access is
        # slow, and the optimizer updates these tensors in place.
        self._layers = []
        for b in blocks:
            weight, bias = b.linear.weight, b.linear.bias
            dropout = b.dropout if b.dropout is not None and b.dropout.p > 0 else None
            self._layers.append((weight, weight.t(), bias, b.activation, dropout))
        # Per batch size and block: the pre-activation, the activation where it
        # cannot overwrite the pre-activation, the output after dropout, and
        # the gradient at the block's input. An epoch has at most two batch sizes.
        self._buffers: dict[int, list[tuple]] = {}

    @classmethod
    def for_network(cls, network: nn.Module, loss) -> Backprop | None:
        """A :class:`Backprop` for ``network`` on the CPU, or ``None`` where
        autograd must do it: other layers, a layer or parameter used twice,
        frozen parameters, hooks, other devices or dtypes, no closed-form loss."""
        blocks = _blocks(network)
        if blocks is None or not hasattr(loss, "value_and_grad"):
            return None
        if len(list(network.parameters())) != 2 * len(blocks):
            return None  # shared layers or parameters: their gradients would have to add up
        if any(
            p.device.type != "cpu" or p.dtype != torch.float32 or not p.requires_grad
            for p in network.parameters()
        ):
            return None
        if has_autograd_hooks(network):
            return None
        return cls(blocks, loss)

    def _allocate(self, n: int, like: torch.Tensor) -> list[tuple]:
        for weight, _, bias, *_ in self._layers:
            for p in (weight, bias):
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
        buffers = []
        for weight, _, _, activation, dropout in self._layers:
            n_out, n_in = weight.shape
            spare = activation is not None and activation.needs_input
            activated = like.new_empty(n, n_out) if spare else None
            dropped = like.new_empty(n, n_out) if dropout is not None else None
            buffers.append((like.new_empty(n, n_out), activated, dropped, like.new_empty(n, n_in)))
        return buffers

    @torch.no_grad()
    def __call__(
        self, X: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None
    ) -> torch.Tensor:
        n = len(X)
        buffers = self._buffers.get(n)
        if buffers is None:
            buffers = self._buffers[n] = self._allocate(n, X)
        inputs, outputs, masks, h = [], [], [], X
        for (_, weight_t, bias, activation, dropout), (z, activated, dropped, _) in zip(
            self._layers, buffers
        ):
            inputs.append(h)
            h = torch.addmm(bias, h, weight_t, out=z)
            if activation is not None:
                h = activation.forward(z, activated)
            outputs.append(h)
            mask = None
            if dropout is not None and dropout.training:
                mask = dropout.mask(h)
                h = torch.mul(h, mask, out=dropped)
            masks.append(mask)
        value, grad = self.loss.value_and_grad(h, y, weight)
        for i in range(len(self._layers) - 1, -1, -1):
            weight_, _, bias, activation, _ = self._layers[i]
            z, _, _, grad_in = buffers[i]
            if masks[i] is not None:
                grad = grad.mul_(masks[i])
            if activation is not None:
                grad = activation.grad(grad, z, outputs[i])
            torch.mm(grad.t(), inputs[i], out=weight_.grad)
            torch.sum(grad, 0, out=bias.grad)
            if i:
                grad = torch.mm(grad, weight_, out=grad_in)
        return value
