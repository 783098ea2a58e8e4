"""What a fit tells as it runs: epoch watchers, ``verbose``'s lines and bar.

The training loop (:mod:`sk_mlp._engine.training`) knows one mechanism: it tells a
:class:`Watchers` list when each epoch (or L-BFGS iteration) begins and ends,
and when training ends, with the reason in ``history.stop_reason``. The
``verbose`` lines, the ``verbose=2`` bar and scikit-learn's callbacks
(:mod:`sk_mlp._estimators.callbacks`) are each one watcher. Plain Python and torch, no
scikit-learn.
"""

from __future__ import annotations

# Why training ended (``History.stop_reason``), in words for the progress bar.
STOP_REASONS = {
    "completed": None,  # every epoch asked for ran (max_iter, or partial_fit's one)
    "no_improvement": "stopped early",  # the training loss stalled (tol, n_iter_no_change)
    "early_stopping": "stopped early",  # the validation score stalled
    "converged": "converged",  # L-BFGS: no step left to take
    "max_fun": "max_fun reached",  # L-BFGS: function evaluations ran out
    "diverged": "diverged",  # non-finite loss; the best epoch was restored
    "interrupted": "interrupted",  # Ctrl-C; the model keeps what it learnt
    "callback": "stopped by a callback",
}


class EpochWatcher:
    """Told of each epoch of a fit; every method does nothing here.

    ``history`` is the fit's :class:`~sk_mlp._engine.training.History`: when
    :meth:`end` is called it holds the epoch just recorded.
    """

    def begin(self, history) -> None:
        """An epoch is about to start."""

    def end(self, history) -> bool:
        """An epoch ended; return True to ask training to stop."""
        return False

    def close(self, history) -> None:
        """Training ended, for ``history.stop_reason``; also after an
        epoch that began and did not end (an interrupt, a divergence)."""


class Watchers(EpochWatcher):
    """Several watchers told in turn, in order."""

    def __init__(self, watchers):
        self.watchers = [watcher for watcher in watchers if watcher is not None]

    def begin(self, history) -> None:
        for watcher in self.watchers:
            watcher.begin(history)

    def end(self, history) -> bool:
        # Every watcher hears of the epoch, even after one asked to stop.
        stops = [watcher.end(history) for watcher in self.watchers]
        return any(stops)

    def close(self, history) -> None:
        for watcher in self.watchers:
            watcher.close(history)


class PrintedLines(EpochWatcher):
    """scikit-learn's lines on stdout: any true ``verbose`` but ``2`` (the
    bar) prints one per epoch, as scikit-learn's MLP does; any true
    ``verbose`` says why training stopped early. Epochs count from the start
    of this call, like ``n_iter_``."""

    def __init__(self, verbose: int, tol: float, n_iter_no_change: int):
        self.lines = verbose != 2
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change

    def end(self, history) -> bool:
        if self.lines:
            epoch = history.n_iter - history.start_iter
            print(f"Iteration {epoch}, loss = {history.loss_curve[-1]:.8f}")
            if history.early_stopping:
                print(f"Validation score: {history.validation_scores[-1]:f}")
        return False

    def close(self, history) -> None:
        if history.stop_reason in ("no_improvement", "early_stopping"):
            watched = "Validation score" if history.early_stopping else "Training loss"
            print(
                f"{watched} did not improve more than tol={self.tol} for "
                f"{self.n_iter_no_change} consecutive epochs. Stopping."
            )


class ProgressBar(EpochWatcher):
    """``verbose=2``'s tqdm bar: one step per epoch, showing its loss and,
    with early stopping, its validation score, as the ``verbose=1`` lines
    do; closed with the reason training ended, where it ended early."""

    def __init__(self, total: int):
        try:
            from tqdm.auto import tqdm
        except ImportError as exc:
            raise ImportError(
                "verbose=2 shows a progress bar and needs tqdm: pip install tqdm"
            ) from exc
        self.bar = tqdm(total=total, unit="epoch")

    def end(self, history) -> bool:
        postfix = {"loss": f"{history.loss_curve[-1]:.4g}"}
        if history.early_stopping:
            postfix["validation score"] = f"{history.validation_scores[-1]:.4g}"
        self.bar.set_postfix(postfix)
        self.bar.update()
        return False

    def close(self, history) -> None:
        if description := STOP_REASONS[history.stop_reason]:
            self.bar.set_description(description)
        # Before PrintedLines' message, so that it gets its own line below.
        self.bar.close()


def verbose_watchers(verbose: int, n_epochs: int, tol: float, n_iter_no_change: int) -> list:
    """The watchers ``verbose`` asks for: none, the lines, or the bar and
    the stopping message."""
    if not verbose:
        return []
    bar = ProgressBar(n_epochs) if verbose == 2 else None
    return [bar, PrintedLines(verbose, tol, n_iter_no_change)]
