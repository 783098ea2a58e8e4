"""The private torch API sk_mlp uses, in one place.

Each use has a public fallback, chosen once at import where the private name
is missing, and a test that compares the two: a torch upgrade can cost speed
but never correctness.
"""

from __future__ import annotations

import functools
import inspect
import io
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.optim import optimizer as _optimizer


def _aten(name: str, overload: str):
    """``torch.ops.aten.<name>.<overload>``, or ``None`` where torch lacks it."""
    try:
        return getattr(getattr(torch.ops.aten, name), overload)
    except (AttributeError, RuntimeError):
        return None


# ---------------------------------------------------------------- foreach ops
def _public_foreach_add_(tensors, other, alpha: float = 1.0) -> None:
    others = other if isinstance(other, (list, tuple)) else [other] * len(tensors)
    for tensor, addend in zip(tensors, others):
        tensor.add_(addend, alpha=alpha)


def _public_foreach_mul_(tensors, scalar: float) -> None:
    for tensor in tensors:
        tensor.mul_(scalar)


# torch.optim's own primitives: one kernel launch for a list of tensors.
foreach_add_ = getattr(torch, "_foreach_add_", None) or _public_foreach_add_
foreach_mul_ = getattr(torch, "_foreach_mul_", None) or _public_foreach_mul_


# --------------------------------------------- activation derivatives, in place
# Each ``*_grad_`` multiplies ``grad`` in place by the activation's derivative,
# from the activation's output (``out``) or input (``z``); each ``*_into``
# writes the activation of ``z`` into ``out``. The private forms are the
# kernels autograd itself runs, writing into the given buffer.


def _vjp_(fn: Callable[[torch.Tensor], torch.Tensor], grad, z) -> torch.Tensor:
    _, vjp = torch.func.vjp(fn, z)
    return grad.copy_(vjp(grad)[0])


PUBLIC = {
    "relu_grad_": lambda g, out: g.mul_(out > 0),
    "tanh_grad_": lambda g, out: g.mul_(1 - out * out),
    "sigmoid_grad_": lambda g, out: g.mul_(out * (1 - out)),
    "leaky_relu_grad_": lambda g, out, slope: g.mul_(torch.where(out > 0, 1.0, slope)),
    "elu_grad_": lambda g, out, alpha: g.mul_(torch.where(out > 0, 1.0, out + alpha)),
    "gelu_into": lambda z, out, approximate: out.copy_(F.gelu(z, approximate=approximate)),
    "gelu_grad_": lambda g, z, approximate: _vjp_(
        lambda t: F.gelu(t, approximate=approximate), g, z
    ),
    "silu_into": lambda z, out: out.copy_(F.silu(z)),
    "silu_grad_": lambda g, z: _vjp_(F.silu, g, z),
}


def _private_kernels() -> dict[str, Callable]:
    """The aten kernels behind :data:`PUBLIC`'s entries, where torch has them."""
    ops = {
        name: _aten(op, overload)
        for name, (op, overload) in {
            "relu_grad_": ("threshold_backward", "grad_input"),
            "tanh_grad_": ("tanh_backward", "grad_input"),
            "sigmoid_grad_": ("sigmoid_backward", "grad_input"),
            "leaky_relu_grad_": ("leaky_relu_backward", "grad_input"),
            "elu_grad_": ("elu_backward", "grad_input"),
            "gelu_into": ("gelu", "out"),
            "gelu_grad_": ("gelu_backward", "grad_input"),
            "silu_into": ("silu", "out"),
            "silu_grad_": ("silu_backward", "grad_input"),
        }.items()
    }
    calls = {
        "relu_grad_": lambda op: lambda g, out: op(g, out, 0, grad_input=g),
        "tanh_grad_": lambda op: lambda g, out: op(g, out, grad_input=g),
        "sigmoid_grad_": lambda op: lambda g, out: op(g, out, grad_input=g),
        "leaky_relu_grad_": lambda op: lambda g, out, slope: op(g, out, slope, True, grad_input=g),
        "elu_grad_": lambda op: lambda g, out, alpha: op(g, alpha, 1, 1, True, out, grad_input=g),
        "gelu_into": lambda op: lambda z, out, approximate: op(z, approximate=approximate, out=out),
        "gelu_grad_": lambda op: (
            lambda g, z, approximate: op(g, z, approximate=approximate, grad_input=g)
        ),
        "silu_into": lambda op: lambda z, out: op(z, out=out),
        "silu_grad_": lambda op: lambda g, z: op(g, z, grad_input=g),
    }
    return {name: calls[name](op) for name, op in ops.items() if op is not None}


PRIVATE = _private_kernels()
# The kernels the hand-written backward pass calls: private where torch has it.
KERNELS = {name: PRIVATE.get(name, public) for name, public in PUBLIC.items()}


def has_autograd_hooks(module: torch.nn.Module) -> bool:
    """Whether computing ``module``'s gradients without autograd would skip
    hooks: forward or backward hooks on its layers (global ones included), or
    hooks on its parameters' gradients. An attribute torch no longer has
    counts as hooks, so that the caller takes the autograd route.

    Not seen: hooks on a parameter's gradient-accumulator node (what
    distributed data parallel uses), which torch does not expose on the
    parameter. The estimators never meet them: they train a copy of the
    network, which leaves such hooks behind.
    """
    layer_hooks = ("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks")
    for name in layer_hooks:
        if getattr(torch.nn.modules.module, "_global" + name, None) != {}:
            return True
    for layer in module.modules():
        if any(getattr(layer, name, None) != {} for name in layer_hooks):
            return True
    for p in module.parameters():
        for name in ("_backward_hooks", "_post_accumulate_grad_hooks"):
            if getattr(p, name, True):  # None or empty when there are none
                return True
    return False


def _has_step_hooks(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``step()`` would call hooks (the user's global ones included)."""
    hook_dicts = (
        getattr(_optimizer, "_global_optimizer_pre_hooks", None),
        getattr(_optimizer, "_global_optimizer_post_hooks", None),
        getattr(optimizer, "_optimizer_step_pre_hooks", None),
        getattr(optimizer, "_optimizer_step_post_hooks", None),
    )
    # An attribute torch no longer has: assume hooks, and take the public route.
    return any(hooks is None or len(hooks) > 0 for hooks in hook_dicts)


def fused_adam_update(optimizer: torch.optim.Optimizer) -> Callable[[], None] | None:
    """The kernel that ``optimizer.step()`` of a fused Adam or AdamW runs, as a
    function without the Python bookkeeping around it; ``None`` where that
    shortcut does not apply. The caller decides on which devices to take it
    (:func:`sk_mlp._engine.gpu_step.hand_written_on`).

    The bookkeeping (grouping tensors by device, hooks, profiling records) is
    a visible share of a small network's step (benchmarks/results-cpu.txt).
    Call it after a first ``step()``, which creates the state. The state stays
    torch.optim's own, so ``state_dict()`` is unchanged; tests check that both
    routes give identical parameters and state.
    """
    if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW) or _has_step_hooks(optimizer):
        return None
    fused_adam = getattr(torch, "_fused_adam_", None)
    if fused_adam is None:
        return None
    group = optimizer.param_groups[0]
    params = group["params"]
    if (
        len(optimizer.param_groups) != 1
        or not group["fused"]
        or group["amsgrad"]
        or group["maximize"]
        or group["capturable"]
        or group["differentiable"]
        or group["weight_decay"]
        or isinstance(group["lr"], torch.Tensor)
        or len(optimizer.state) != len(params)
        or len({p.device for p in params}) != 1
    ):
        return None
    states = [optimizer.state[p] for p in params]
    exp_avgs = [state["exp_avg"] for state in states]
    exp_avg_sqs = [state["exp_avg_sq"] for state in states]
    steps = [state["step"] for state in states]

    def update() -> None:
        grads = [p.grad for p in params]
        if any(grad is None for grad in grads):
            optimizer.step()  # torch skips such parameters; the kernel cannot
            return
        foreach_add_(steps, 1)
        # With weight_decay=0, Adam's and AdamW's kernels are the same update.
        fused_adam(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            [],
            steps,
            amsgrad=False,
            lr=group["lr"],
            beta1=group["betas"][0],
            beta2=group["betas"][1],
            weight_decay=0.0,
            eps=group["eps"],
            maximize=False,
        )

    return update


# ------------------------------------------------------------------ ONNX export
def _captured(network: torch.nn.Module, sample: torch.Tensor) -> torch.export.ExportedProgram:
    """``network`` captured by torch.export, with a dynamic batch size.

    torch.export refuses what a trace would get wrong: branches on the data
    and code that fixes the batch size. Capturing here rather than inside
    torch.onnx.export matters because torch 2.5's exporter falls back to
    TorchScript tracing when torch.export fails. Non-strict first, then
    strict, the order torch.onnx.export itself tries in torch 2.13.
    """
    dynamic_shapes = ({0: torch.export.Dim("batch")},)
    try:
        return torch.export.export(network, (sample,), dynamic_shapes=dynamic_shapes, strict=False)
    except Exception as non_strict:
        try:
            return torch.export.export(
                network, (sample,), dynamic_shapes=dynamic_shapes, strict=True
            )
        except Exception:
            raise non_strict from None


def _onnx_from_program(network: torch.nn.Module, sample: torch.Tensor, opset: int):
    """torch.onnx.export of the captured program (torch >= 2.5)."""
    program = torch.onnx.export(
        _captured(network, sample),
        (sample,),
        dynamo=True,
        input_names=["x"],
        output_names=["raw"],
        opset_version=opset,
        verbose=False,
    )
    return program.model_proto


def _onnx_by_tracing(network: torch.nn.Module, sample: torch.Tensor, opset: int):
    """TorchScript's exporter, for torch 2.4, whose torch.export-based exporter
    does not run with onnxscript >= 0.2. The capture still runs first, so that
    the trace is of a network torch.export has shown to trace faithfully."""
    import onnx

    _captured(network, sample)
    buffer = io.BytesIO()
    torch.onnx.export(
        network,
        (sample,),
        buffer,
        dynamo=False,
        input_names=["x"],
        output_names=["raw"],
        dynamic_axes={"x": {0: "batch"}, "raw": {0: "batch"}},
        opset_version=opset,
    )
    return onnx.load_from_string(buffer.getvalue())


@functools.cache
def _onnx_route() -> Callable:
    # Chosen on first use: importing torch.onnx at sk_mlp's import would cost
    # every user who never exports.
    exporter = inspect.signature(torch.onnx.export).parameters
    return _onnx_from_program if "dynamic_shapes" in exporter else _onnx_by_tracing


def export_onnx(network: torch.nn.Module, sample: torch.Tensor, opset: int):
    """An ONNX ``ModelProto`` of ``network`` in eval mode, with input ``"x"``
    and output ``"raw"`` whose first axis is the batch, at ONNX opset
    ``opset`` or later; raises where torch.export cannot capture it.

    ``sample`` is a batch of two or more rows the export runs on.
    """
    return _onnx_route()(network.eval(), sample, opset)
