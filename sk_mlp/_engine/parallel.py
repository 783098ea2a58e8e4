"""What the parallel engine running a fit allows it: torch threads on a dask worker.

A dask worker runs ``nthreads`` tasks at once, and its cores are meant to be
shared among them: one core per task thread. A worker started by a nanny
(``LocalCluster(processes=True)``, the ``dask worker`` command) already has
``OMP_NUM_THREADS=1`` and ``MKL_NUM_THREADS=1`` in its environment (distributed's
``distributed.nanny.pre-spawn-environ``), so torch starts with one thread there.
Workers without a nanny (``LocalCluster(processes=False)``, ``--no-nanny``)
share the process with torch's default of one thread per core, and each of
their task threads would run that many: ``nthreads`` times too many.
"""

from __future__ import annotations

import os
import sys


def _usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS says)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def dask_task_thread_limit() -> int | None:
    """The most torch threads a task on the current dask worker should use.

    ``None`` when not called from a task running on a dask worker. On a worker,
    the process's usable cores divided among the worker's task threads (at
    least one). It never imports distributed: a process that has not imported
    it runs no dask worker.

    The caller takes the smaller of this and ``torch.get_num_threads()``, so
    that a limit set by the worker's environment, by threadpoolctl or by the
    user still holds.
    """
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        worker = distributed.get_worker()
    except ValueError:  # not inside a task
        return None
    return max(1, _usable_cores() // max(1, int(worker.state.nthreads)))
