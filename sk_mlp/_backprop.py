"""Backpropagation written out for the networks :func:`build_mlp` makes.

For a stack of ``Linear -> activation -> [dropout]`` blocks the gradient is a
few matrix products and elementwise factors, which this module writes straight
into buffers allocated once per fit. On the CPU that skips what autograd costs
per step (building the graph, allocating every activation and gradient, the
engine's bookkeeping): on the speed benchmark's network a training step takes
about 15% less time than through autograd. Networks with other layers
(normalization, a user's ``module``) and losses without a closed-form gradient
train through autograd instead; tests check that both give the same gradients.
Plain torch, no scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ._module import Dropout
from ._torch_private import has_autograd_hooks


def _relu_grad(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten.threshold_backward.grad_input(grad, out, 0, grad_input=grad)


def _tanh_grad(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten.tanh_backward.grad_input(grad, out, grad_input=grad)


def _sigmoid_grad(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten.sigmoid_backward.grad_input(grad, out, grad_input=grad)


# Activation module -> (in-place forward, in-place gradient from the output).
_ACTIVATIONS = {
    nn.ReLU: (torch.Tensor.relu_, _relu_grad),
    nn.Tanh: (torch.Tensor.tanh_, _tanh_grad),
    nn.Sigmoid: (torch.Tensor.sigmoid_, _sigmoid_grad),
}


@dataclass
class _Block:
    linear: nn.Linear
    activation: type[nn.Module] | None = None
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
        elif kind in _ACTIVATIONS and blocks[-1].activation is None:
            blocks[-1].activation = kind
        elif kind is nn.Identity and blocks[-1].activation is None:
            continue
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
        self.blocks = blocks
        self.loss = loss
        # What each step reads, looked up once: nn.Module attribute access is
        # slow, and the optimizer updates these tensors in place.
        self._layers = []
        for b in blocks:
            weight, bias = b.linear.weight, b.linear.bias
            forward, backward = _ACTIVATIONS.get(b.activation, (None, None))
            dropout = b.dropout if b.dropout is not None and b.dropout.p > 0 else None
            self._layers.append((weight, weight.t(), bias, forward, backward, dropout))
        # Per batch size: each block's output, output after dropout, and the
        # gradient at its input. An epoch has at most two batch sizes.
        self._buffers: dict[int, list[tuple]] = {}

    @classmethod
    def for_network(cls, network: nn.Module, loss) -> Backprop | None:
        """A :class:`Backprop` for ``network`` on the CPU, or ``None`` where
        autograd must do it: other layers, a layer used twice, frozen
        parameters, hooks, other devices or dtypes, no closed-form loss."""
        blocks = _blocks(network)
        if blocks is None or not hasattr(loss, "value_and_grad"):
            return None
        if len({id(b.linear) for b in blocks}) != len(blocks):
            return None  # shared layers: their gradients would have to add up
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
        for b in self.blocks:
            width = b.linear.out_features
            dropped = like.new_empty(n, width) if b.dropout is not None else None
            buffers.append(
                (like.new_empty(n, width), dropped, like.new_empty(n, b.linear.in_features))
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
        inputs, masks, h = [], [], X
        for (_, weight_t, bias, forward, _, dropout), (out, dropped, _) in zip(
            self._layers, buffers
        ):
            inputs.append(h)
            h = torch.addmm(bias, h, weight_t, out=out)
            if forward is not None:
                forward(h)
            mask = None
            if dropout is not None:
                mask = dropout.mask(h)
                h = torch.mul(h, mask, out=dropped)
            masks.append(mask)
        value, grad = self.loss.value_and_grad(h, y, weight)
        for i in range(len(self._layers) - 1, -1, -1):
            weight_, _, bias, _, backward, _ = self._layers[i]
            out, _, grad_in = buffers[i]
            if masks[i] is not None:
                grad = grad.mul_(masks[i])
            if backward is not None:
                grad = backward(grad, out)
            torch.mm(grad.t(), inputs[i], out=weight_.grad)
            torch.sum(grad, 0, out=bias.grad)
            if i:
                grad = torch.mm(grad, weight_, out=grad_in)
        return value
