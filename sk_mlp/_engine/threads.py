"""How many intra-op threads torch uses for one fit or one prediction.

A training step of a small network is a handful of kernels each lasting a few
microseconds. Split over two OpenMP threads, every kernel ends at a barrier
that waits for the slower thread; on an idle machine that costs little, but
when another process holds one of the cores the waiting thread is descheduled
and a step takes milliseconds instead of microseconds (a 0.03 s fit became
0.3-4 s on a busy 2-core machine). Below a certain amount of work per step a
second thread never pays, busy machine or not, so the estimators run such fits
on one thread and larger ones on as many threads as the work justifies, never
more than the caller's setting, which they restore afterwards.

The work of a step is counted in multiply-adds of its linear layers
(``rows x sum of in_features x out_features``). ``benchmarks/threads.py``
measures where a second thread starts to pay; ``_WORK_PER_THREAD`` is the
figure it gave on a 2-core machine (see that script's results file).

torch's setting is per thread; the caller's own thread is the one read,
lowered and restored, so the caller's limit is respected whether it came from
``torch.set_num_threads``, ``OMP_NUM_THREADS``, threadpoolctl or joblib's
worker limits. ``torch.set_num_threads`` also sets the starting value of
threads that have not run torch code yet: a thread whose first torch call
falls inside another thread's lowered fit or prediction keeps the lowered
count for its lifetime (fewer threads, never more), which restoring the
caller's thread cannot undo. torch offers no per-thread setting that leaves
new threads alone, so the user guide documents this, and the environment
variable ``SK_MLP_CHOOSE_THREADS=0``, read at each call, turns the choice off:
torch's setting is then left untouched.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import torch
from torch import nn

from .._nn.device import on_cpu
from .._nn.registry import entry_for, parameter_free
from .parallel import dask_task_thread_limit

# Multiply-adds per step from which a second thread pays for its barriers:
# the crossover that benchmarks/threads.py measured (its results file shows
# the table). Each further thread needs as much work again.
_WORK_PER_THREAD = 8_000_000

_scopes = threading.local()

# The switch: an environment variable, so that it also reaches the worker
# processes of joblib and dask, which inherit the environment.
SWITCH = "SK_MLP_CHOOSE_THREADS"
_ON, _OFF = {"", "1", "true", "on", "yes"}, {"0", "false", "off", "no"}


def choosing_threads() -> bool:
    """Whether fits and predictions choose their threads (the default), as
    ``SK_MLP_CHOOSE_THREADS`` says when the call starts."""
    value = os.environ.get(SWITCH, "").strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise ValueError(
        f"The environment variable {SWITCH} must be 1 (fits and predictions choose "
        f"torch's thread count, the default) or 0 (they leave it alone), got "
        f"{os.environ[SWITCH]!r}."
    )


def work_per_row(module: nn.Module) -> int | None:
    """Multiply-adds of one row through ``module``'s linear layers, or ``None``
    when the module has parameters elsewhere (convolutions, recurrences,
    custom layers), whose cost its shape does not tell.

    Each layer's count is its entry's in the layer registry
    (:mod:`sk_mlp._nn.registry`): every layer sk_mlp puts into its own
    networks is counted (input layers, embeddings, ensembles), so that their
    fits choose their threads.
    An ensemble (``n_ensemble``) stacks its members' copies of each row along
    the batch after its :class:`~sk_mlp._nn.layers.MemberScale`: the layers
    after it do their work once per member.
    """
    work, copies = 0, 1
    for layer in module.modules():
        entry = entry_for(layer)  # a subclass of a known layer counts as it
        if entry is None:
            added, copies = parameter_free(layer, copies)
        else:
            added, copies = entry.work(layer, copies)
        if added is None:
            return None
        work += added
    return work


def threads_for(work_per_step: int | None, available: int) -> int:
    """The number of threads for ``work_per_step`` multiply-adds per step,
    at most ``available``; all of them when the work is unknown."""
    if work_per_step is None:
        return available
    return max(1, min(available, work_per_step // _WORK_PER_THREAD))


@contextlib.contextmanager
def thread_scope() -> Iterator[None]:
    """Restore the calling thread's torch thread count on exit, also when the
    body raises; :func:`limit_threads` inside the scope may lower it, unless
    the choice is turned off (:func:`choosing_threads`)."""
    stack = _scopes.__dict__.setdefault("stack", [])
    # None: the choice is off, and limit_threads leaves torch's setting alone.
    caller = torch.get_num_threads() if choosing_threads() else None
    stack.append(caller)
    try:
        yield
    finally:
        stack.pop()
        if caller is not None and torch.get_num_threads() != caller:
            torch.set_num_threads(caller)


def limit_threads(module: nn.Module, rows: int, device: torch.device) -> int:
    """Run the rest of the enclosing :func:`thread_scope` with the threads
    that ``rows`` rows per step through ``module`` justify; return that number.

    Never raises the count above the caller's. Outside a scope, in a scope
    opened with the choice turned off, or on another device than the CPU,
    nothing changes.
    """
    stack = getattr(_scopes, "stack", None)
    current = torch.get_num_threads()
    if not stack or stack[-1] is None or not on_cpu(device):
        return current
    available = stack[-1]
    task_limit = dask_task_thread_limit()  # a task thread's share of a dask worker
    if task_limit is not None:
        available = min(available, task_limit)
    per_row = work_per_row(module)
    n_threads = threads_for(None if per_row is None else per_row * rows, available)
    if n_threads != current:
        torch.set_num_threads(n_threads)
    return n_threads


@contextlib.contextmanager
def threads_for_step(module: nn.Module, rows: int, device: torch.device) -> Iterator[int]:
    """:func:`thread_scope` and :func:`limit_threads` in one: for work whose
    network and rows per step are known at its start (prediction)."""
    with thread_scope():
        yield limit_threads(module, rows, device)
