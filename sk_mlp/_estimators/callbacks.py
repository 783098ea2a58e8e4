"""scikit-learn's callbacks (``sklearn.callback``) told of a fit and its epochs.

A call to ``fit`` or ``partial_fit`` is one task of scikit-learn's callback
context; its subtasks are the epochs (``"epoch"``), or the L-BFGS iterations
(``"lbfgs-iter"``). Under a meta-estimator (``GridSearchCV``, ``Pipeline``)
the fit's task is the meta-estimator's leaf task, so that callbacks set on the
search reach every epoch of every fit. Each epoch's end hands the callbacks a
fitted copy of the estimator as the epoch left it: a copy of the network, so
that nothing a callback does (scoring, keeping it) reaches the training.

With a scikit-learn older than 1.9, or none of this, :func:`open_fit_task`
returns None and a fit runs as it always did.
"""

from __future__ import annotations

import copy

from .._compat.sklearn_private import CallbackSupportMixin
from .._engine.array_space import following_inputs
from .._engine.progress import EpochWatcher

CALLBACKS_SUPPORTED = hasattr(CallbackSupportMixin, "_init_callback_context")


def open_fit_task(estimator, X, y, sample_weight, space, *, incremental: bool) -> FitTask | None:
    """Begin the fit's task for the estimator's callbacks (None without
    scikit-learn's callback API); it ends with :meth:`FitTask.end`, and
    scikit-learn's ``_fit_context`` tears the callbacks down whatever
    happens."""
    if not CALLBACKS_SUPPORTED:
        return None
    if incremental:
        n_subtasks = 1
    else:
        n_subtasks = estimator.max_iter
    return FitTask(estimator, X, y, sample_weight, space, n_subtasks)


class FitTask:
    """The root task of one ``fit`` or ``partial_fit`` call.

    ``X``, ``y`` and ``sample_weight`` are the call's own arguments, as the
    callbacks get them (``ScoringMonitor`` scores on them); ``space`` is
    X's array namespace under array API dispatch, where the fitted copies
    the callbacks get keep their arrays.
    """

    def __init__(self, estimator, X, y, sample_weight, space, n_subtasks: int):
        self.estimator = estimator
        self.space = space
        self.context = estimator._init_callback_context(max_subtasks=n_subtasks)
        metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self.data = {"X": X, "y": y, "metadata": metadata}
        self.context.call_on_fit_task_begin(estimator=estimator, **self.data)

    def epochs(self, module, optimizer, device, loss) -> EpochTasks | None:
        """The watcher that reports the epochs training ``module`` runs;
        None where no callback is set, own or propagated (set_callbacks keeps
        them in ``_skl_callbacks``): then no epoch costs a thing."""
        if not getattr(self.estimator, "_skl_callbacks", None):
            return None
        return EpochTasks(self, module, optimizer, device, loss)

    def end(self, stop_reason: str) -> None:
        """The fit succeeded: the callbacks see the fitted estimator, and the
        task's ``stop_reason`` says why training ended (a key of
        ``sk_mlp._engine.progress.STOP_REASONS``)."""
        self.context.stop_reason = stop_reason
        self.context.call_on_fit_task_end(
            estimator=self.estimator, **self.data, reconstruction_attributes={}
        )


class EpochTasks(EpochWatcher):
    """One subtask of a :class:`FitTask` per epoch (or L-BFGS iteration)."""

    def __init__(self, fit_task: FitTask, module, optimizer, device, loss):
        self.fit = fit_task
        self.module = module
        self.optimizer = optimizer
        self.device = device
        self.loss = loss
        self.task_name = "lbfgs-iter" if fit_task.estimator.solver == "lbfgs" else "epoch"
        self.current = None
        self._fixed = None

    def begin(self, history) -> None:
        self.current = self.fit.context.subcontext(task_name=self.task_name)
        self.current.call_on_fit_task_begin(
            estimator=self.fit.estimator,
            **self.fit.data,
            reconstruction_attributes=lambda: self._fitted(history),
        )

    def end(self, history) -> bool:
        task, self.current = self.current, None
        return task.call_on_fit_task_end(
            estimator=self.fit.estimator,
            **self.fit.data,
            reconstruction_attributes=lambda: self._fitted(history),
        )

    def close(self, history) -> None:
        # An epoch cut short (an interrupt, a non-finite loss) ends without
        # a model to look at, as scikit-learn's LogisticRegression ends its last one.
        if self.current is not None:
            self.current.call_on_fit_task_end(estimator=self.fit.estimator)
            self.current = None

    def _fitted(self, history) -> dict:
        """What makes a copy of the estimator the fitted model that training
        has reached: copies of the network, the optimizer's state and the
        records, so that nothing done to the copy reaches the training, nor
        later epochs the copy. Made only when a callback asks for one."""
        estimator = self.fit.estimator
        if self._fixed is None:  # the same for every epoch of the call
            self._fixed = following_inputs(estimator, self.fit.space)
        live = (self.module, self.optimizer, history)
        module, optimizer, history = copy.deepcopy(live)
        return {
            **estimator._fitted_state(module, optimizer, history, self.device, self.loss),
            **self._fixed,
        }
