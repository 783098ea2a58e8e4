"""A user's network passed as ``module=``: a factory, or an ``nn.Module``
instance, which is copied (never trained in place) and must fit the data."""

import copy

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _regression_data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    return X, X[:, 0] - 2 * X[:, 1] + 0.1 * rng.normal(size=60)


def _network(n_features=3, n_outputs=1):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(n_features, 8), nn.Tanh(), nn.Linear(8, n_outputs))


def _same_weights(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_a_module_instance_is_trained_on_a_copy():
    X, y = _regression_data()
    network = _network()
    initial = copy.deepcopy(network)
    reg = TorchMLPRegressor(module=network, max_iter=20, learning_rate_init=0.02, random_state=0)
    reg.fit(X, y)
    assert _same_weights(network, initial)  # the user's instance never trained in place
    assert reg.module is network  # the parameter is left as given
    assert reg.module_ is not network
    assert not any(p is q for p in reg.module_.parameters() for q in network.parameters())
    assert reg.score(X, y) > 0.5


def test_refits_of_a_module_instance_start_from_its_weights():
    X, y = _regression_data()
    reg = TorchMLPRegressor(module=_network(), max_iter=10, random_state=0)
    first = reg.fit(X, y).predict(X)
    np.testing.assert_array_equal(reg.fit(X, y).predict(X), first)
    np.testing.assert_array_equal(clone(reg).fit(X, y).predict(X), first)
    # a rate too small to move the weights shows the ones training started from
    still = TorchMLPRegressor(
        module=_network(), preprocessing=None, learning_rate_init=1e-12, max_iter=1
    ).fit(X, y)
    for p, q in zip(still.module_.state_dict().values(), _network().state_dict().values()):
        torch.testing.assert_close(p, q)


def test_a_module_instance_fits_a_classifier():
    X, y = make_classification(
        n_samples=80,
        n_features=3,
        n_informative=3,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        random_state=0,
    )
    clf = TorchMLPClassifier(module=_network(3, 3), max_iter=30, learning_rate_init=0.02)
    clf.set_params(random_state=0).fit(X, y)
    assert clf.predict_proba(X).shape == (80, 3)


@pytest.fixture
def optimizer_steps():
    steps = []
    handle = register_optimizer_step_post_hook(lambda *args: steps.append(1))
    yield steps
    handle.remove()


@pytest.mark.parametrize("as_factory", [False, True], ids=["instance", "factory"])
def test_a_module_whose_input_width_does_not_fit_x_raises_before_training(
    as_factory, optimizer_steps
):
    X, y = _regression_data()
    network = _network(n_features=5)
    module = (lambda n_features, n_outputs: network) if as_factory else network
    reg = TorchMLPRegressor(module=module, random_state=0)
    with pytest.raises(ValueError, match="module") as excinfo:
        reg.fit(X, y)
    message = str(excinfo.value)
    assert "5" in message and "3" in message  # what the module takes, what X has
    assert optimizer_steps == []
    assert not hasattr(reg, "n_features_in_")


@pytest.mark.parametrize("as_factory", [False, True], ids=["instance", "factory"])
def test_a_module_whose_output_width_does_not_fit_the_classes_raises_before_training(
    as_factory, optimizer_steps
):
    X, y = make_classification(
        n_samples=60,
        n_features=3,
        n_informative=3,
        n_redundant=0,
        n_classes=4,
        n_clusters_per_class=1,
        random_state=0,
    )
    network = _network(n_outputs=2)
    module = (lambda n_features, n_outputs: network) if as_factory else network
    clf = TorchMLPClassifier(module=module, random_state=0)
    with pytest.raises(ValueError, match="module") as excinfo:
        clf.fit(X, y)
    message = str(excinfo.value)
    assert "2" in message and "4" in message  # what the module gives, what is needed
    assert optimizer_steps == []
    assert not hasattr(clf, "classes_")


@pytest.mark.parametrize(
    "params",
    [{"solver": "lbfgs"}, {"solver": "adam", "shuffle": False}],
    ids=["lbfgs-chunks", "unshuffled-batches"],
)
def test_a_module_that_writes_its_input_never_writes_the_callers_array(params):
    def factory(n_features, n_outputs):
        return torch.nn.Sequential(
            torch.nn.ReLU(inplace=True), torch.nn.Linear(n_features, n_outputs)
        )

    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    before = X.copy()
    model = TorchMLPRegressor(module=factory, preprocessing=None, max_iter=2, **params)
    model.fit(X, rng.normal(size=60))
    model.predict(X)
    np.testing.assert_array_equal(X, before)
