"""The training loop reads values back to the host once per epoch, never per
step: on a GPU each read is a synchronisation that stalls the device."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import make_classification, make_regression

# torch's documented hook for seeing every operator (it lives in a private module).
from torch.utils._python_dispatch import TorchDispatchMode

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._nn.losses import GaussianNLL

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# The operators that bring a tensor's value to the host (``item()``,
# ``float()``, ``bool()``, ``if tensor:``), and on a GPU wait for the device.
_HOST_READS = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.is_nonzero.default}


class CountHostReads(TorchDispatchMode):
    """Counts host reads in every operator torch runs, inside torch's own
    functions too."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += func in _HOST_READS
        return func(*args, **(kwargs or {}))


def _reads(estimator, X, y):
    with CountHostReads() as reads:
        estimator.fit(X, y)
    return reads.count


def _mlp(**params):
    return dict(hidden_layer_sizes=(8,), batch_size=16, max_iter=3, tol=0.0, **params)


CONFIGURATIONS = {
    "hand-written backprop": (TorchMLPClassifier, _mlp()),
    "autograd": (TorchMLPClassifier, _mlp(normalization="layer")),
    "gaussian_nll": (TorchMLPRegressor, _mlp(loss="gaussian_nll")),
    "adamw with decay": (TorchMLPRegressor, _mlp(solver="adamw", alpha=0.1)),
    "sgd with dropout": (TorchMLPClassifier, _mlp(solver="sgd", dropout=0.2)),
    "early stopping": (TorchMLPClassifier, _mlp(early_stopping=True)),
    "user module": (TorchMLPRegressor, _mlp(module=torch.nn.Linear)),
    "bfloat16": (TorchMLPClassifier, _mlp(precision="bfloat16")),
}


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_host_reads_do_not_grow_with_the_number_of_steps(name):
    cls, params = CONFIGURATIONS[name]
    make = make_classification if cls is TorchMLPClassifier else make_regression
    X, y = make(n_samples=320, n_features=5, random_state=0)
    few = _reads(cls(**params, random_state=0), X[:160], y[:160])  # 10 steps an epoch
    many = _reads(cls(**params, random_state=0), X, y)  # 20 steps an epoch
    assert many == few


def test_gaussian_nll_is_torchs_without_its_synchronising_check():
    rng = np.random.default_rng(0)
    raw, y = (torch.from_numpy(rng.standard_normal((50, 4)).astype(np.float32)) for _ in "ab")
    loss = GaussianNLL(beta=0.0)
    mean, var = loss.mean_variance(raw)
    expected = F.gaussian_nll_loss(mean, y[:, :2], var, reduction="none")
    torch.testing.assert_close(loss(raw, y[:, :2]), expected.sum(dim=1), rtol=0, atol=0)
    full = F.gaussian_nll_loss(mean, y[:, :2], var, full=True, reduction="none").sum(dim=1)
    torch.testing.assert_close(loss.nll(raw, y[:, :2]), full, rtol=1e-6, atol=1e-6)
    assert math.isfinite(float(full.sum()))
