"""How the host drives a training step on a CUDA device: an internal switch.

``STEP`` chooses the route for the networks that :mod:`sk_mlp._engine.backprop` can
train (``hidden_layer_sizes`` stacks without normalization, float32, Adam or
AdamW for ``'graph'``); every other network trains through autograd whatever
it says:

- ``'autograd'`` (the default): autograd and ``torch.optim``.
- ``'backprop'``: the hand-written backward pass into buffers allocated once,
  and the fused Adam kernel called directly, as on the CPU.
- ``'graph'``: ``'backprop'``, with each full batch's step (gathering the
  batch, forward, backward, optimizer update) captured once in a CUDA graph
  and replayed: one launch per step instead of a few dozen, which is what a
  small network's step costs on a GPU. The last, shorter batch of an epoch
  runs as ``'backprop'`` does. A graph is captured again when the learning
  rate changes (it is part of the captured update).

All routes compute the same updates (tests/test_device.py compares them).
The default stays ``'autograd'`` until benchmarks/gpu_check.sh has measured
the others on a GPU (benchmarks/results-gpu.txt).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# One of 'autograd', 'backprop', 'graph' (see the module docstring).
STEP = "autograd"
# Full-batch steps run eagerly, on a side stream, before the capture: they
# create the optimizer state and the buffers, and initialise cuBLAS.
_WARMUP_STEPS = 3


def hand_written_on(device: torch.device) -> bool:
    """Whether the hand-written backward and the direct fused update apply on
    ``device``: always on the CPU, on CUDA where ``STEP`` says so."""
    return device.type == "cpu" or (device.type == "cuda" and STEP != "autograd")


class GraphedEpoch:
    """A drop-in for :func:`sk_mlp._engine.training.train_epoch` that replays CUDA
    graphs; build it with :func:`graphed_epoch`."""

    def __init__(self, gradients, step, optimizer, data, batch_size: int, generator):
        self.gradients, self.step, self.optimizer = gradients, step, optimizer
        self.data, self.batch_size, self.generator = data, batch_size, generator
        X, y, weight = data.X, data.y, data.weight
        self.index = torch.zeros(batch_size, dtype=torch.long, device=data.device)
        self.X = X.new_empty(batch_size, X.shape[1])
        self.y = y.new_empty((batch_size, *y.shape[1:]))
        self.weight = None if weight is None else weight.new_empty(batch_size)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.graph_lr: float | None = None
        self.loss: torch.Tensor | None = None
        self.eager_steps = 0

    def _full_step(self) -> torch.Tensor:
        """Gather the rows ``self.index`` names into the static buffers, then
        one step on them: what the graph captures."""
        torch.index_select(self.data.X, 0, self.index, out=self.X)
        torch.index_select(self.data.y, 0, self.index, out=self.y)
        if self.weight is not None:
            torch.index_select(self.data.weight, 0, self.index, out=self.weight)
        loss = self.gradients(self.X, self.y, self.weight)
        self.step()
        return loss

    def _capture(self, lr: float) -> None:
        graph = torch.cuda.CUDAGraph()
        if self.generator is not None:
            graph.register_generator_state(self.generator)  # fresh dropout masks per replay
        with torch.cuda.graph(graph):
            self.loss = self._full_step()
        self.graph, self.graph_lr = graph, lr

    def _replay_or_warm_up(self, rows: torch.Tensor) -> torch.Tensor:
        self.index.copy_(rows)
        lr = self.optimizer.param_groups[0]["lr"]
        if self.eager_steps < _WARMUP_STEPS:
            self.eager_steps += 1
            side = torch.cuda.Stream(self.data.device)
            side.wait_stream(torch.cuda.current_stream(self.data.device))
            with torch.cuda.stream(side):
                loss = self._full_step()
            torch.cuda.current_stream(self.data.device).wait_stream(side)
            return loss
        if self.graph is None or lr != self.graph_lr:
            self._capture(lr)
        self.graph.replay()
        return self.loss.clone()  # the graph overwrites it at the next replay

    def __call__(self, module, gradients, step, data, batch_size, shuffle) -> torch.Tensor:
        module.train()
        order, starts, ends = data.plan(batch_size, shuffle)
        if order is None:
            order = torch.arange(len(data), device=data.device)
        losses, sizes = [], []
        for start, end in zip(starts, ends):
            rows = order[start:end]
            if end - start == self.batch_size:
                losses.append(self._replay_or_warm_up(rows))
            else:
                weight = None if data.weight is None else data.weight.index_select(0, rows)
                X, y = data.X.index_select(0, rows), data.y.index_select(0, rows)
                losses.append(gradients(X, y, weight))
                step()
            sizes.append(end - start)
        sizes = torch.tensor(sizes, dtype=losses[0].dtype, device=data.device)
        return torch.stack(losses) @ sizes


def graphed_epoch(gradients, step, optimizer, data, batch_size: int) -> Callable | None:
    """A :class:`GraphedEpoch` where ``STEP == 'graph'`` and the step can be
    captured; ``None`` otherwise (the caller trains eagerly). ``gradients``
    is a :class:`~sk_mlp._engine.backprop.Backprop` (autograd's steps are
    never captured)."""
    if (
        STEP != "graph"
        or data.device.type != "cuda"
        or not isinstance(data.X, torch.Tensor)
        or data.transform is not None
        or data.X.dtype != torch.float32
        or type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW)
        or len(data) < batch_size
    ):
        return None
    generator = None
    if gradients.uses_dropout:
        if not hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
            return None  # this torch cannot advance a generator across replays
        generator = data.generator
    return GraphedEpoch(gradients, step, optimizer, data, batch_size, generator)
