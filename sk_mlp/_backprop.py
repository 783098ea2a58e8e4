"""Backpropagation written out for the networks :func:`build_mlp` makes.

For a stack of ``Linear -> activation -> [dropout]`` blocks the gradient is a
few matrix products and elementwise factors, which this module writes straight
into buffers allocated once per fit. On the CPU that skips what autograd costs
per step (building the graph, allocating every activation and gradient, the
engine's bookkeeping); benchmarks/results-cpu.txt measures what that saves.
Networks with other layers
(normalization, a user's ``module``) and losses without a closed-form gradient
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

from ._gpu_step import hand_written_on
from ._module import Dropout
from ._torch_private import KERNELS, has_autograd_hooks


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


def _activation(layer: nn.Module) -> _Activation | None:
    """The in-place form of an activation module, ``None`` for other layers."""
    kind = type(layer)
    if kind is nn.ReLU:
        return _Activation(lambda z, _: z.relu_(), lambda g, z, out: KERNELS["relu_grad_"](g, out))
    if kind is nn.Tanh:
        return _Activation(lambda z, _: z.tanh_(), lambda g, z, out: KERNELS["tanh_grad_"](g, out))
    if kind is nn.Sigmoid:
        return _Activation(
            lambda z, _: z.sigmoid_(), lambda g, z, out: KERNELS["sigmoid_grad_"](g, out)
        )
    if kind is nn.LeakyReLU and layer.negative_slope > 0:  # the sign survives: use the output
        slope = layer.negative_slope
        return _Activation(
            lambda z, _: F.leaky_relu_(z, slope),
            lambda g, z, out: KERNELS["leaky_relu_grad_"](g, out, slope),
        )
    if kind is nn.ELU and layer.alpha > 0:
        alpha = layer.alpha
        return _Activation(
            lambda z, _: F.elu_(z, alpha), lambda g, z, out: KERNELS["elu_grad_"](g, out, alpha)
        )
    if kind is nn.GELU:
        approximate = layer.approximate
        return _Activation(
            lambda z, spare: KERNELS["gelu_into"](z, spare, approximate),
            lambda g, z, out: KERNELS["gelu_grad_"](g, z, approximate),
            needs_input=True,
        )
    if kind is nn.SiLU:
        return _Activation(
            lambda z, spare: KERNELS["silu_into"](z, spare),
            lambda g, z, out: KERNELS["silu_grad_"](g, z),
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


class _Layer(NamedTuple):
    """What a step reads of one block, looked up once: nn.Module attribute
    access is slow, and the optimizer updates these tensors in place."""

    weight: torch.Tensor
    weight_t: torch.Tensor
    bias: torch.Tensor
    activation: _Activation | None
    dropout: Dropout | None


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
    """

    def __init__(self, blocks: list[_Block], loss):
        self.loss = loss
        self._layers = [
            _Layer(
                b.linear.weight,
                b.linear.weight.t(),
                b.linear.bias,
                b.activation,
                b.dropout if b.dropout is not None and b.dropout.p > 0 else None,
            )
            for b in blocks
        ]
        # Per batch size, per block; an epoch has at most two batch sizes.
        self._buffers: dict[int, list[_Buffers]] = {}
        self.uses_dropout = any(layer.dropout is not None for layer in self._layers)

    @classmethod
    def for_network(cls, network: nn.Module, loss) -> Backprop | None:
        """A :class:`Backprop` for ``network`` on the CPU (and on CUDA where
        :mod:`sk_mlp._gpu_step` says so), or ``None`` where autograd must do
        it: other layers, a layer or parameter used twice, frozen parameters,
        hooks, other devices or dtypes, no closed-form loss."""
        blocks = _blocks(network)
        if blocks is None or not hasattr(loss, "value_and_grad"):
            return None
        if len(list(network.parameters())) != 2 * len(blocks):
            return None  # shared layers or parameters: their gradients would have to add up
        if len({p.device for p in network.parameters()}) != 1 or any(
            not hand_written_on(p.device) or p.dtype != torch.float32 or not p.requires_grad
            for p in network.parameters()
        ):
            return None
        if has_autograd_hooks(network):
            return None
        return cls(blocks, loss)

    def _allocate(self, n: int, like: torch.Tensor) -> list[_Buffers]:
        for layer in self._layers:
            for p in (layer.weight, layer.bias):
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
        buffers = []
        for layer in self._layers:
            n_out, n_in = layer.weight.shape
            spare = layer.activation is not None and layer.activation.needs_input
            buffers.append(
                _Buffers(
                    like.new_empty(n, n_out),
                    like.new_empty(n, n_out) if spare else None,
                    like.new_empty(n, n_out) if layer.dropout is not None else None,
                    like.new_empty(n, n_in),
                )
            )
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
        for layer, buffer in zip(self._layers, buffers):
            inputs.append(h)
            h = torch.addmm(layer.bias, h, layer.weight_t, out=buffer.pre_activation)
            if layer.activation is not None:
                h = layer.activation.forward(h, buffer.activated)
            outputs.append(h)
            mask = None
            if layer.dropout is not None and layer.dropout.training:
                mask = layer.dropout.mask(h)
                h = torch.mul(h, mask, out=buffer.dropped)
            masks.append(mask)
        value, grad = self.loss.value_and_grad(h, y, weight)
        for i in range(len(self._layers) - 1, -1, -1):
            layer, buffer = self._layers[i], buffers[i]
            if masks[i] is not None:
                grad = grad.mul_(masks[i])
            if layer.activation is not None:
                grad = layer.activation.grad(grad, buffer.pre_activation, outputs[i])
            torch.mm(grad.t(), inputs[i], out=layer.weight.grad)
            torch.sum(grad, 0, out=layer.bias.grad)
            if i:
                grad = torch.mm(grad, layer.weight, out=buffer.grad_input)
        return value
