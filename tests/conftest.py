"""Shared fixtures: fixed seeds, small data made on demand, devices to test."""

import os

# scikit-learn's array API dispatch needs SciPy's array API support, which
# SciPy reads when it is first imported: before anything below imports it.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402

from sk_mlp._nn.device import available_devices  # noqa: E402

# pytest-xdist runs one worker per core; torch's own thread pool in each
# worker would oversubscribe the cores, and tiny test models are fastest on
# one thread anyway.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def classification_data():
    return make_classification(
        n_samples=200, n_features=8, n_informative=5, n_classes=3, random_state=0
    )


@pytest.fixture
def binary_data():
    return make_classification(n_samples=200, n_features=6, random_state=0)


@pytest.fixture
def regression_data():
    return make_regression(n_samples=200, n_features=6, noise=1.0, random_state=0)


@pytest.fixture(params=[d for d in available_devices() if d.startswith(("cpu", "cuda"))])
def device(request):
    """``'cpu'``, plus ``'cuda:N'`` where CUDA is present."""
    return request.param


@pytest.fixture
def two_threads():
    """torch on two threads for the test (the suite itself runs with one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)
