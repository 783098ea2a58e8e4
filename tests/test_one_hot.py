"""One-hot categories reach the first layer as a lookup of its weights: memory
and time grow with the rows and the categorical columns, never with rows
times categories, and the results are those of the dense one-hot product."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._engine.data import split_input_layer
from sk_mlp._nn.tabular import OneHotLinear, TabularInput

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Fits or predicts on a frame of n_rows x n_columns 1,000-level categories in
# a fresh interpreter, after a small fit that loads what fitting needs, and
# prints the growth of its peak memory (VmHWM, reset just before) in bytes.
_PEAK_OF_CALL = """
import sys
import warnings

import numpy as np
import pandas as pd

from sk_mlp import TorchMLPClassifier

warnings.simplefilter("ignore")
task, n_rows, n_columns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def frame(n_rows, n_columns, seed=0):
    rng = np.random.default_rng(seed)
    levels = np.array([f"v{i}" for i in range(1000)], dtype=object)
    columns = {
        f"c{j}": pd.Categorical.from_codes(rng.integers(0, 1000, n_rows), levels)
        for j in range(n_columns)
    }
    X = pd.DataFrame(columns)
    return X, (X["c0"].cat.codes.to_numpy() % 2)


def rss(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) * 1024


model = TorchMLPClassifier(hidden_layer_sizes=(16,), max_iter=1, random_state=0)
model.fit(*frame(3000, n_columns, seed=1))  # loads what a fit and a prediction need
X, y = frame(n_rows, n_columns)
if task == "predict":
    model.fit(X, y)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM to the current resident size
before = rss("VmRSS:")
if task == "fit":
    model.fit(X, y)
else:
    model.predict_proba(X)
print(rss("VmHWM:") - before)
"""


def _peak_growth(task: str, n_rows: int, n_columns: int) -> int:
    run = subprocess.run(
        [sys.executable, "-c", _PEAK_OF_CALL, task, str(n_rows), str(n_columns)],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    return int(run.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize(
    "task, n_rows, n_columns, limit",
    [
        # A dense one-hot matrix would take 1.2 GB (fit) and 1.6 GB (predict).
        ("fit", 100_000, 3, 300 * 2**20),
        ("predict", 20_000, 20, 200 * 2**20),
    ],
)
def test_one_hot_memory_does_not_grow_with_rows_times_categories(task, n_rows, n_columns, limit):
    grown = _peak_growth(task, n_rows, n_columns)
    assert grown < limit, f"{task} grew the peak memory by {grown / 2**20:.0f} MiB"


def _mixed_frame(n=400, seed=0):
    """Numbers with gaps, two one-hot categories (one with missing values)
    and one with enough levels to be embedded at max_onehot_categories=8."""
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(
        {
            "size": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue", None], n),
            "shape": pd.Categorical(rng.choice(["round", "square"], n)),
            "town": rng.choice([f"t{i}" for i in range(12)], n),
        }
    )
    X.loc[rng.rand(n) < 0.2, "size"] = np.nan
    y = (X["colour"] == "red") ^ (X["size"].fillna(0) > 0) ^ (X["town"] < "t5")
    return X, y.astype(int).to_numpy()


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"max_onehot_categories": 8},  # one-hot and embedded features together
        {"numeric_embedding": "piecewise_linear"},
        {"numeric_embedding": "periodic", "feature_scaling": True},
        {"n_ensemble": 3},
        {"hidden_layer_sizes": ()},
    ],
)
def test_lookup_predicts_what_the_dense_one_hot_network_computes(params, monkeypatch):
    monkeypatch.setattr("sk_mlp._nn.tabular.MIN_LOOKUP_WIDTH", 1)  # narrow blocks too
    if params.pop("max_onehot_categories", None):
        monkeypatch.setattr("sk_mlp._estimators.validation.MAX_ONEHOT_CATEGORIES", 8)
    X, y = _mixed_frame()
    model = TorchMLPClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    model.set_params(**params).fit(X, y)
    # module_ run whole builds the one-hot columns; prediction looks them up.
    encoded = torch.from_numpy(model._tabular.encode(X))
    with torch.no_grad():
        dense = model.module_.eval()(encoded)
    np.testing.assert_allclose(model._forward(X).numpy(), dense.numpy(), rtol=1e-5, atol=1e-5)
    _, network = split_input_layer(model.module_)
    assert any(isinstance(m, OneHotLinear) for m in network.modules())


def test_narrow_one_hot_blocks_are_built_for_the_hand_written_gradients():
    X, y = _mixed_frame()  # 7 one-hot columns
    model = TorchMLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)
    layer, network = split_input_layer(model.module_)
    assert isinstance(layer, TabularInput) and type(network) is torch.nn.Sequential


@pytest.mark.parametrize("params", [{}, {"n_ensemble": 2, "feature_scaling": True}])
def test_lookup_gradients_are_those_of_the_dense_one_hot_product(params, monkeypatch):
    monkeypatch.setattr(
        "sk_mlp._estimators.validation.MAX_ONEHOT_CATEGORIES", 8
    )  # "town" is embedded
    monkeypatch.setattr("sk_mlp._nn.tabular.MIN_LOOKUP_WIDTH", 1)
    X, y = _mixed_frame()
    model = TorchMLPRegressor(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    model.set_params(**params).fit(X, y.astype(float))
    module = model.module_.eval()  # no dropout: both runs see the same network
    encoded = torch.from_numpy(model._tabular.encode(X))
    fixed, network = split_input_layer(module)
    assert fixed is None and isinstance(network[1], OneHotLinear)  # embeddings train
    gradients = []
    for run in (module, network):
        module.zero_grad()
        run(encoded).square().mean().backward()
        gradients.append([p.grad.clone() for p in module.parameters()])
    for dense, looked_up in zip(*gradients):
        torch.testing.assert_close(looked_up, dense, rtol=1e-5, atol=1e-6)


def test_prediction_chunks_are_sized_in_bytes_and_skip_looked_up_columns():
    from torch import nn

    from sk_mlp._engine.data import _CPU_CHUNK_BYTES, CHUNK_ROWS, chunk_rows

    cpu = torch.device("cpu")
    wide = nn.Sequential(nn.Linear(10, 50_000), nn.ReLU(), nn.Linear(50_000, 1))
    rows = chunk_rows(10, densify=False, device=cpu, network=wide)
    assert rows * 50_000 * 4 <= _CPU_CHUNK_BYTES
    assert chunk_rows(10, densify=False, device=cpu, network=nn.Linear(10, 8)) == CHUNK_ROWS
    # 20,000 one-hot columns looked up from 20 positions: never built, not counted.
    lookup = OneHotLinear(nn.Sequential(nn.Linear(20_000, 100)), 20, 20_000, 0)
    assert chunk_rows(20, densify=False, device=cpu, network=lookup) == CHUNK_ROWS
