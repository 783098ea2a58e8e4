"""The private torch API sk_mlp uses, in one place.

Each use has a public fallback and a test that compares the two, so a change
in torch shows up as a failing test rather than as wrong training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.optim import optimizer as _optimizer


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
    """The kernel that ``optimizer.step()`` of a fused CPU Adam or AdamW runs,
    as a function without the Python bookkeeping around it; ``None`` where that
    shortcut does not apply.

    The bookkeeping (grouping tensors by device, hooks, profiling records) cost
    about 100 µs a step on the speed benchmark's network, a tenth of the step.
    Call it after a first ``step()``, which creates the state. The state stays
    torch.optim's own, so ``state_dict()`` is unchanged; tests check that both
    routes give identical parameters and state.
    """
    if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW) or _has_step_hooks(optimizer):
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
        or any(p.device.type != "cpu" for p in params)
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
        torch._foreach_add_(steps, 1)
        # With weight_decay=0, Adam's and AdamW's kernels are the same update.
        torch._fused_adam_(
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
