"""Randomness: random_state makes fits reproducible, fits never touch torch's
global generator (so fits in threads do not disturb each other), and
successive partial_fit calls draw fresh randomness."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_regression
from torch import nn

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor

# Embeddings need columns of more than 1,000 categories, which in these small
# tables are mostly distinct: the warning about such columns is tested in
# test_tabular.py.
pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:Categorical feature .* distinct values in:UserWarning"),
]


def _small_classification(n_samples=60):
    return make_classification(n_samples=n_samples, n_features=5, random_state=0)


def _small_regression(n_samples=60):
    return make_regression(n_samples=n_samples, n_features=5, noise=1.0, random_state=0)


# ------------------------------------------------------------ reproducibility
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"dropout": 0.3},
        {"early_stopping": True, "dropout": 0.2},
        {"normalization": "batch", "batch_size": 16},
    ],
    ids=["plain", "dropout", "early_stopping", "batchnorm"],
)
def test_same_random_state_gives_identical_predictions(params):
    X, y = _small_classification(100)
    make = lambda: TorchMLPClassifier(  # noqa: E731
        hidden_layer_sizes=(16,), max_iter=15, random_state=3, **params
    )
    a, b = make().fit(X, y), make().fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.loss_curve_ == b.loss_curve_


def test_different_random_states_give_different_models():
    X, y = _small_classification(100)
    a = TorchMLPClassifier((16,), max_iter=5, random_state=0).fit(X, y)
    b = TorchMLPClassifier((16,), max_iter=5, random_state=1).fit(X, y)
    assert not np.allclose(a.predict_proba(X), b.predict_proba(X))


def test_random_state_instance_is_accepted_and_reproducible():
    X, y = _small_regression()
    make = lambda: TorchMLPRegressor(  # noqa: E731
        (8,), max_iter=5, random_state=np.random.RandomState(7)
    )
    np.testing.assert_array_equal(make().fit(X, y).predict(X), make().fit(X, y).predict(X))


def test_global_torch_seed_does_not_affect_a_seeded_fit():
    X, y = _small_regression()
    torch.manual_seed(1)
    a = TorchMLPRegressor((8,), max_iter=3, random_state=0).fit(X, y)
    torch.manual_seed(2)
    b = TorchMLPRegressor((8,), max_iter=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


# ------------------------------------------------- torch's global generator
FIT_CONFIGURATIONS = pytest.mark.parametrize(
    "params",
    [
        {},
        {"dropout": 0.3, "early_stopping": True},
        {"dropout": 0.3, "random_state": None},
        {"solver": "lbfgs"},
    ],
    ids=["plain", "dropout-early-stopping", "unseeded", "lbfgs"],
)


@FIT_CONFIGURATIONS
def test_fit_leaves_torch_global_rng_state_unchanged(params):
    X, y = _small_classification()
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    params = {"random_state": 0, **params}
    TorchMLPClassifier((8,), max_iter=3, **params).fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.fixture
def global_seeding_forbidden(monkeypatch):
    """Make every way of seeding torch's global generators raise."""
    # torch initialises lazily, on the first optimizer, tables that list its
    # own functions; build them before any of those functions is replaced.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])

    def forbidding(name):
        def forbidden(*args, **kwargs):
            raise AssertionError(f"fit called {name}: it touches torch's global generator")

        return forbidden

    for target in (
        "torch.manual_seed",
        "torch.random.manual_seed",
        "torch.seed",
        "torch.random.seed",
        "torch.cuda.manual_seed",
        "torch.cuda.manual_seed_all",
        "torch.random.set_rng_state",
        "torch.set_rng_state",
    ):
        monkeypatch.setattr(target, forbidding(target))


@FIT_CONFIGURATIONS
def test_fit_never_seeds_torch_global_rng(params, global_seeding_forbidden):
    X, y = _small_classification()
    params = {"random_state": 0, **params}
    model = TorchMLPClassifier((8,), max_iter=3, **params).fit(X, y)
    if model.solver != "lbfgs" and not model.early_stopping:
        model.partial_fit(X, y)


def test_concurrent_fits_in_threads_equal_the_same_fits_run_serially():
    """Fits that seeded or drew from torch's global generator would change each
    other's shuffles and dropout masks when they overlap in time."""
    X, y = _small_classification(200)

    def fit(seed):
        model = TorchMLPClassifier(
            (16,), dropout=0.3, shuffle=True, batch_size=16, max_iter=15, random_state=seed
        )
        return model.fit(X, y)

    seeds = [0, 1, 2, 3]
    serial = [fit(seed) for seed in seeds]
    for _ in range(2):
        with ThreadPoolExecutor(max_workers=4) as pool:
            concurrent = list(pool.map(fit, seeds))
        for a, b in zip(concurrent, serial):
            assert a.loss_curve_ == b.loss_curve_
            np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


# ------------------------------------------------------------- partial_fit
def _order_recording_network(batches):
    """A ``module=`` factory whose first layer records the training batches it sees."""

    def factory(n_features, n_outputs):
        network = nn.Sequential(nn.Linear(n_features, 4), nn.ReLU(), nn.Linear(4, n_outputs))

        def record(layer, args):
            if layer.training:
                batches.append(args[0][:, 0].detach().clone())

        network[0].register_forward_pre_hook(record)
        return network

    return factory


def _partial_fit_orders(random_state, n_calls=3):
    """Row orders of ``n_calls`` partial_fit calls on the same data, and the model."""
    rng = np.random.RandomState(0)
    X = np.column_stack([np.arange(40.0), rng.normal(size=(40, 2))])  # column 0: the row id
    y = rng.normal(size=40)
    batches = []
    model = TorchMLPRegressor(
        module=_order_recording_network(batches),
        preprocessing=None,  # the network sees the row ids as they are
        batch_size=10,
        random_state=random_state,
    )
    for _ in range(n_calls):
        model.partial_fit(X, y)
    order = torch.cat(batches).numpy().astype(int)
    assert len(order) == 40 * n_calls
    return order.reshape(n_calls, 40), model.predict(X)


def test_successive_partial_fit_calls_shuffle_differently_with_an_integer_random_state():
    orders, _ = _partial_fit_orders(random_state=0)
    for order in orders:
        assert sorted(order) == list(range(40))
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    assert not np.array_equal(orders[0], orders[2])


def test_partial_fit_sequences_with_the_same_random_state_are_identical():
    orders_a, prediction_a = _partial_fit_orders(random_state=0)
    orders_b, prediction_b = _partial_fit_orders(random_state=0)
    np.testing.assert_array_equal(orders_a, orders_b)
    np.testing.assert_array_equal(prediction_a, prediction_b)
    orders_c, _ = _partial_fit_orders(random_state=1)
    assert not np.array_equal(orders_a, orders_c)


def test_successive_partial_fit_calls_draw_fresh_dropout_masks():
    """The dropout masks of the built-in network, seen through the loss: the
    same data and weights give another batch loss under another mask."""
    X, y = _small_regression(40)
    model = TorchMLPRegressor(
        (32,), dropout=0.5, shuffle=False, batch_size=40, learning_rate_init=1e-12, random_state=0
    )
    for _ in range(3):
        model.partial_fit(X, y)
    # the rate is too small to move the weights: only the masks change the loss
    first, second, third = model.loss_curve_
    assert first != second and second != third and first != third


def test_embeddings_start_from_the_fits_own_generator():
    import pandas as pd

    rng = np.random.RandomState(0)
    codes = rng.randint(0, 3000, 2000)  # over 1000 categories: an embedding
    X = pd.DataFrame({"id": pd.Categorical(codes.astype(str)), "x": rng.normal(size=2000)})
    y = (codes % 2).astype(int)
    # numeric_embedding=None: the frame stage alone is the first layer.
    params = dict(max_iter=2, random_state=0, numeric_embedding=None)
    torch.manual_seed(1)
    before = torch.get_rng_state()
    a = TorchMLPClassifier(**params).fit(X, y)
    assert torch.equal(torch.get_rng_state(), before)  # nothing drawn from it
    torch.manual_seed(2)
    b = TorchMLPClassifier(**params).fit(X, y)
    assert isinstance(a.module_[0].embeddings[0], nn.Embedding)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
