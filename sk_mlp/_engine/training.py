"""The training loop, cut into short steps: batches, one epoch, stopping rules.

Plain torch, no scikit-learn. The estimator turns validated data into
:class:`~sk_mlp._engine.data.TrainingData`, its parameters into
:class:`TrainingParams`, and reads the outcome back from :class:`History`.

The hot path keeps to what a hand-written torch loop does: data already on the
device as one tensor, batches taken by indexing a per-epoch permutation, the
optimizer in its fused form, and one host-device synchronisation per epoch.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import torch
from torch import nn

from .._compat.torch_private import foreach_add_, foreach_mul_, fused_adam_update
from .._nn.mlp import forward, penalised_weights, squared_weight_norm
from .backprop import Backprop
from .data import TrainingData
from .gpu_step import graphed_epoch, hand_written_on
from .progress import EpochWatcher

# scikit-learn's adaptive schedule divides the rate by 5 and gives up below this.
_MIN_ADAPTIVE_LR = 1e-6
# The 'warmup_cosine' schedule's linear warm-up lasts this share of max_iter.
WARMUP_FRACTION = 0.05


@dataclass
class TrainingParams:
    """The estimator parameters the loop needs, already validated."""

    solver: str
    learning_rate: str
    learning_rate_init: float
    power_t: float
    momentum: float
    nesterovs_momentum: bool
    beta_1: float
    beta_2: float
    epsilon: float
    alpha: float
    max_iter: int
    max_fun: int
    tol: float
    n_iter_no_change: int
    shuffle: bool
    verbose: int

    @classmethod
    def from_estimator_params(cls, params: dict) -> TrainingParams:
        return cls(**{f.name: params[f.name] for f in fields(cls)})


@dataclass
class History:
    """What the loop records; mirrors scikit-learn's fitted MLP attributes."""

    early_stopping: bool
    loss_curve: list[float] = field(default_factory=list)
    validation_scores: list[float] = field(default_factory=list)
    best_loss: float = math.inf
    best_validation_score: float = -math.inf
    best_state: dict | None = None
    no_improvement_count: int = 0
    n_iter: int = 0
    start_iter: int = 0
    schedule_start: int = 0
    t: int = 0
    func_evals: int = 0
    converged: bool = False
    interrupted: bool = False
    # Why an early-stopped fit ended on a non-finite loss, keeping its best epoch.
    diverged: str | None = None
    # Why training ended: a key of sk_mlp._engine.progress.STOP_REASONS.
    stop_reason: str = "completed"

    def record(self, loss: float, score: float | None, module: nn.Module, tol: float):
        """Update the curves and the no-improvement counter, as scikit-learn does."""
        self.loss_curve.append(loss)
        if self.early_stopping:
            self.validation_scores.append(score)
            stalled = score < self.best_validation_score + tol
            if score > self.best_validation_score:
                self.best_validation_score = score
                self.best_state = copy.deepcopy(module.state_dict())
        else:
            stalled = loss > self.best_loss - tol
            self.best_loss = min(self.best_loss, loss)
        self.no_improvement_count = self.no_improvement_count + 1 if stalled else 0


def make_optimizer(module: nn.Module, params: TrainingParams) -> torch.optim.Optimizer:
    """The optimizer for ``params.solver``, fused where torch supports it.

    It never decays parameters itself: scikit-learn's ``alpha`` touches the
    connection weights only, which :func:`make_step` applies.
    """
    if params.solver == "lbfgs":
        return torch.optim.LBFGS(
            module.parameters(),
            lr=1.0,
            max_iter=1,
            max_eval=params.max_fun,
            tolerance_grad=params.tol,
            line_search_fn="strong_wolfe",
        )
    if params.solver == "sgd":
        cls = torch.optim.SGD
        kwargs = {
            "momentum": params.momentum,
            "nesterov": params.nesterovs_momentum and params.momentum > 0,
        }
    else:
        cls = torch.optim.AdamW if params.solver == "adamw" else torch.optim.Adam
        kwargs = {"betas": (params.beta_1, params.beta_2), "eps": params.epsilon}
    # One parameter group, so that the fused kernel runs once per step.
    parameters = list(module.parameters())
    kwargs["weight_decay"] = 0.0  # AdamW's default would decay every parameter
    try:
        return cls(parameters, lr=params.learning_rate_init, fused=True, **kwargs)
    except (RuntimeError, ValueError):  # no fused kernel for this device or dtype
        return cls(parameters, lr=params.learning_rate_init, **kwargs)


def l2_penalty(alpha: float, batch_weight: float) -> float:
    """scikit-learn's L2 coefficient: a batch's loss gains ``penalty * ||W||^2``
    with ``penalty = alpha / (2 * batch_weight)``, ``batch_weight`` being the
    sum of a batch's sample weights (its size, for unit weights)."""
    return 0.5 * alpha / batch_weight


def make_step(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    params: TrainingParams,
    batch_weight: float,
) -> Callable[[], None]:
    """One update of ``optimizer`` from the gradients in ``module``.

    ``alpha`` applies to the connection weights alone (scikit-learn's never
    touches biases): as the gradient of :func:`l2_penalty`'s term for every
    solver but ``adamw``, where it is the decoupled weight decay. One foreach
    operation per share of the penalty (one without an ensemble), torch.optim's
    own primitive, rather than a second parameter group and a second kernel.
    """
    decoupled = params.solver == "adamw"
    decay = params.alpha if decoupled else 2 * l2_penalty(params.alpha, batch_weight)
    groups: dict[float, list[torch.Tensor]] = {}
    for weight, share in penalised_weights(module) if decay else []:
        # Decoupled decay shrinks every weight at one rate: Adam's steps do
        # not scale with a member's share of the loss, so a member's output
        # layer then decays as a single network's does.
        groups.setdefault(1.0 if decoupled else share, []).append(weight)
    update = None

    @torch.no_grad()
    def step() -> None:
        nonlocal update
        for share, weights in groups.items():
            live = [w for w in weights if w.grad is not None]  # torch skips the others too
            if live and decoupled:
                foreach_mul_(live, 1.0 - optimizer.param_groups[0]["lr"] * decay)
            elif live:
                foreach_add_([w.grad for w in live], live, alpha=decay * share)
        if update is None:
            optimizer.step()  # creates the optimizer state
            device = optimizer.param_groups[0]["params"][0].device
            direct = fused_adam_update(optimizer) if hand_written_on(device) else None
            update = direct or optimizer.step
        else:
            update()

    return step


def scheduled_lr(params: TrainingParams, epoch: int, samples_seen: int) -> float | None:
    """The learning rate for the coming epoch, or ``None`` to leave it as it is.

    ``invscaling`` follows scikit-learn (decay in samples seen); ``cosine``
    anneals from ``learning_rate_init`` to zero over ``max_iter`` epochs;
    ``warmup_cosine`` first rises linearly over ``WARMUP_FRACTION`` of them.
    """
    if params.learning_rate == "invscaling":
        return params.learning_rate_init / (samples_seen + 1) ** params.power_t
    if params.learning_rate == "cosine":
        progress = min(epoch / max(params.max_iter, 1), 1.0)
        return params.learning_rate_init * 0.5 * (1 + math.cos(math.pi * progress))
    if params.learning_rate == "warmup_cosine":
        warmup = max(1, round(WARMUP_FRACTION * params.max_iter))
        if epoch < warmup:
            return params.learning_rate_init * (epoch + 1) / (warmup + 1)
        progress = min((epoch - warmup) / max(params.max_iter - warmup, 1), 1.0)
        return params.learning_rate_init * 0.5 * (1 + math.cos(math.pi * progress))
    return None


def make_gradients(
    module: nn.Module,
    loss_fn: Callable,
    hand_written: bool = True,
    precision: str = "float32",
) -> Callable:
    """``gradients(X, y, weight)``: the batch loss, with the parameter
    gradients left in ``.grad``, computed by :class:`Backprop` where it handles
    the network and the loss (and ``hand_written`` allows it), by autograd
    otherwise. ``precision='bfloat16'`` runs the network under autocast
    (through autograd)."""
    use_backprop = hand_written and precision == "float32"
    backprop = Backprop.for_network(module, loss_fn) if use_backprop else None
    return backprop or autograd_gradients(module, loss_fn, precision)


def autograd_gradients(
    module: nn.Module, loss_fn: Callable, precision: str = "float32"
) -> Callable:
    """``gradients(X, y, weight)``: the batch loss, with the parameter gradients
    left in ``.grad`` by autograd. With ``precision='bfloat16'`` the forward
    pass runs under ``torch.autocast`` (bfloat16 products, float32 weights),
    and the loss is computed in float32 from its outputs."""
    parameter = next(module.parameters(), None)
    device_type = "cpu" if parameter is None else parameter.device.type

    def autocast():
        if precision == "float32":
            return contextlib.nullcontext()
        return torch.autocast(device_type, dtype=torch.bfloat16)

    def gradients(X, y, weight) -> torch.Tensor:
        with autocast():
            raw = forward(module, X)
        loss = loss_fn.batch_loss(raw.float(), y, weight)
        module.zero_grad(set_to_none=True)
        loss.backward()
        return loss.detach()

    return gradients


def train_epoch(
    module: nn.Module,
    gradients: Callable,
    step: Callable[[], None],
    data: TrainingData,
    batch_size: int,
    shuffle: bool,
) -> torch.Tensor:
    """One pass over the data; returns the sample-weighted loss sum on the device."""
    module.train()
    # Batch losses are kept and summed once at the end: no extra kernel per step.
    batch_losses, sizes = [], []
    for X, y, weight in data.batches(batch_size, shuffle):
        batch_losses.append(gradients(X, y, weight))
        step()
        sizes.append(len(X))
    if not batch_losses:
        return torch.zeros((), device=data.device)
    sizes = torch.tensor(sizes, dtype=batch_losses[0].dtype, device=data.device)
    return torch.stack(batch_losses) @ sizes


def lbfgs_iteration(
    module: nn.Module,
    loss_fn: Callable,
    optimizer: torch.optim.LBFGS,
    data: TrainingData,
    penalty: float,
) -> float:
    """One full-batch L-BFGS iteration; returns the data loss it started from.

    Gradients are accumulated chunk by chunk so that sparse or large inputs are
    never densified whole.
    """
    n = len(data)

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), device=data.device)
        for X, y, weight in data.batches(data.chunk_rows(), shuffle=False):
            losses = loss_fn.member_mean(forward(module, X), y)
            if weight is not None:
                losses = losses * weight
            loss = losses.sum() / n
            loss.backward()
            total += loss.detach()
        if penalty:
            reg = penalty * squared_weight_norm(module)
            reg.backward()
            total += reg.detach()
        return total

    module.train()
    return float(optimizer.step(closure))


class NonFiniteLossError(ValueError):
    """Training produced a NaN or infinite loss."""


# scikit-learn's message for a fit whose weights became non-finite.
_NON_FINITE = (
    "Solver produced non-finite parameter weights. The input data may contain large "
    "values and need to be preprocessed."
)
_REMEDY = (
    "Lower learning_rate_init, scale the inputs (for example with StandardScaler), "
    "or raise alpha, then fit again."
)


def check_finite(loss: float, epoch: int) -> None:
    if not math.isfinite(loss):
        raise NonFiniteLossError(
            f"{_NON_FINITE} The training loss became {loss} at epoch {epoch}; the "
            f"model would predict NaN. {_REMEDY}"
        )


def diverged(history: History, loss: float, module: nn.Module, tol: float) -> bool:
    """Record a non-finite epoch of an early-stopped fit that has a best epoch
    to fall back on, as scikit-learn does (its validation score is NaN), and
    say so; training then stops and the best weights are restored."""
    if math.isfinite(loss) or history.best_state is None:
        return False
    history.record(loss, math.nan, module, tol)
    history.diverged = (
        f"The training loss became {loss} at epoch {history.n_iter - history.start_iter}; "
        "training stopped there and the weights of the best validation score were "
        f"restored. {_REMEDY}"
    )
    history.stop_reason = "diverged"
    return True


def convergence_message(history: History, solver: str, max_iter: int, max_fun: int) -> str | None:
    """scikit-learn's ConvergenceWarning text when a budget (``max_iter``,
    or ``max_fun`` for L-BFGS) ran out, else None."""
    if history.converged:
        return None
    if solver == "lbfgs" and history.func_evals >= max_fun:
        return (
            f"lbfgs: Maximum number of function evaluations (max_fun={max_fun}) "
            "reached and the optimization hasn't converged yet."
        )
    if history.n_iter - history.start_iter >= max_iter:
        solver = "lbfgs" if solver == "lbfgs" else "Stochastic Optimizer"
        return (
            f"{solver}: Maximum iterations ({max_iter}) reached and the "
            "optimization hasn't converged yet."
        )
    return None


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def reduce_lr(optimizer: torch.optim.Optimizer, params: TrainingParams) -> bool:
    """scikit-learn's adaptive rule: divide the rate by 5 until it is tiny."""
    lr = optimizer.param_groups[0]["lr"]
    if params.learning_rate != "adaptive" or lr <= _MIN_ADAPTIVE_LR:
        return False
    set_lr(optimizer, lr / 5)
    if params.verbose:
        print(f"Setting learning rate to {lr / 5:f}")
    return True


@torch.no_grad()
def predict_raw(module: nn.Module, data: TrainingData) -> torch.Tensor:
    """Raw outputs for every row of ``data``, in eval mode, in chunks."""
    was_training = module.training
    module.eval()
    batches = data.batches(data.chunk_rows(), shuffle=False)
    raw = torch.cat([forward(module, X) for X, _, _ in batches])
    module.train(was_training)
    return raw


def run_epochs(
    module: nn.Module,
    gradients: Callable,
    optimizer: torch.optim.Optimizer,
    step: Callable[[], None],
    data: TrainingData,
    params: TrainingParams,
    history: History,
    batch_size: int,
    n_epochs: int,
    validate: Callable[[nn.Module], float] | None = None,
    watcher: EpochWatcher | None = None,
) -> None:
    """The stochastic solvers: epochs under scikit-learn's stopping rules.

    ``gradients`` (see :func:`make_gradients`) computes each batch's loss and
    gradients; ``step()`` (see :func:`make_step`) applies them.
    ``validate(module)`` scores the validation split after each epoch when
    early stopping is on; the weights of the best epoch are restored at the
    end. ``watcher`` hears of each epoch's begin and end, between steps (it
    may ask to stop), and of the end of training, whose reason
    ``history.stop_reason`` gives. A ``KeyboardInterrupt`` ends training as
    scikit-learn's MLP does: the model keeps what it has learnt
    (``history.interrupted`` is set).
    """
    batch_weight = batch_size * data.mean_weight
    penalty = 0.0 if params.solver == "adamw" else l2_penalty(params.alpha, batch_weight)
    # CUDA graphs where sk_mlp._engine.gpu_step's switch asks for them (only
    # the hand-written steps are captured, never autograd's).
    graphed = None
    if isinstance(gradients, Backprop):
        graphed = graphed_epoch(gradients, step, optimizer, data, batch_size)
    epoch = graphed or train_epoch
    with watching(watcher, history) as watcher:
        try:
            for _ in range(n_epochs):
                watcher.begin(history)
                lr = scheduled_lr(params, history.n_iter - history.schedule_start, history.t)
                if lr is not None:
                    set_lr(optimizer, lr)
                total = epoch(module, gradients, step, data, batch_size, params.shuffle)
                history.n_iter += 1
                history.t += len(data)
                loss = total.item() / len(data)  # the epoch's one host-device sync
                if diverged(history, loss, module, params.tol):
                    break
                check_finite(loss, history.n_iter)
                if penalty:
                    with torch.no_grad():
                        loss += penalty * float(squared_weight_norm(module))
                score = None if validate is None else validate(module)
                history.record(loss, score, module, params.tol)
                if _watcher_stops(watcher, history) or _stalled(history, optimizer, params):
                    break
        except KeyboardInterrupt:
            history.interrupted = True
            history.stop_reason = "interrupted"
        if history.best_state is not None:
            module.load_state_dict(history.best_state)


@contextlib.contextmanager
def watching(watcher: EpochWatcher | None, history: History):
    """``watcher`` (or one that does nothing), closed when training ends,
    also when it fails (a progress bar must not stay open)."""
    watcher = watcher or EpochWatcher()
    try:
        yield watcher
    finally:
        watcher.close(history)


def _watcher_stops(watcher: EpochWatcher, history: History) -> bool:
    """End the epoch for ``watcher``; whether it asked training to stop."""
    if not watcher.end(history):
        return False
    history.stop_reason = "callback"
    return True


def _stalled(history: History, optimizer: torch.optim.Optimizer, params: TrainingParams) -> bool:
    """Whether training stops: no improvement for ``n_iter_no_change`` epochs
    and, for the adaptive schedule, no smaller learning rate left to try."""
    if history.no_improvement_count <= params.n_iter_no_change:
        return False
    if reduce_lr(optimizer, params):
        history.no_improvement_count = 0
        return False
    history.converged = True
    history.stop_reason = "early_stopping" if history.early_stopping else "no_improvement"
    return True


def run_lbfgs(
    module: nn.Module,
    loss_fn: Callable,
    optimizer: torch.optim.LBFGS,
    data: TrainingData,
    params: TrainingParams,
    history: History,
    watcher: EpochWatcher | None = None,
) -> None:
    """Full-batch L-BFGS, one iteration per step so that the loss is recorded,
    checked and reported (to ``watcher``, as an epoch) as for the stochastic
    solvers. A ``KeyboardInterrupt`` keeps the iterate reached, as for those."""
    penalty = l2_penalty(params.alpha, len(data) * data.mean_weight)
    state = optimizer.state[next(iter(module.parameters()))]
    loss = None
    parameters = [p for p in module.parameters() if p.requires_grad]
    with watching(watcher, history) as watcher:
        try:
            for _ in range(params.max_iter):
                watcher.begin(history)
                # The line search moves the weights to trial points; an
                # interrupt there must leave the last completed iterate.
                completed = [p.detach().clone() for p in parameters]
                n_before = state.get("n_iter", 0)
                loss = lbfgs_iteration(module, loss_fn, optimizer, data, penalty)
                check_finite(loss, history.n_iter + 1)
                if state.get("n_iter", 0) == n_before:
                    history.converged = True
                    history.stop_reason = "converged"
                    break
                history.n_iter += 1
                history.t += len(data)
                history.record(loss, None, module, params.tol)
                history.func_evals = state.get("func_evals", 0)
                if _watcher_stops(watcher, history):
                    break
                if history.func_evals >= params.max_fun:
                    history.stop_reason = "max_fun"
                    break
        except KeyboardInterrupt:
            history.interrupted = True
            history.stop_reason = "interrupted"
            with torch.no_grad():
                for p, value in zip(parameters, completed):
                    p.copy_(value)
        if not history.loss_curve and loss is not None:
            history.record(loss, None, module, params.tol)
