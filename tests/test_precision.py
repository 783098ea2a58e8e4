"""precision='bfloat16': mixed-precision training with float32 weights."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_classification, make_regression

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._nn.mlp import Dropout

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture
def easy_classification():
    return make_classification(600, 10, n_informative=4, class_sep=2.0, random_state=0)


def _clf(**params):
    return TorchMLPClassifier((32,), max_iter=80, random_state=0, **params)


def test_bfloat16_runs_the_layers_in_bfloat16_and_keeps_float32_weights(easy_classification):
    X, y = easy_classification
    seen = set()

    def network(n_in, n_out):
        net = torch.nn.Sequential(
            torch.nn.Linear(n_in, 16), torch.nn.ReLU(), torch.nn.Linear(16, n_out)
        )
        net[0].register_forward_hook(lambda module, args, out: seen.add(out.dtype))
        return net

    clf = TorchMLPClassifier(module=network, max_iter=2, precision="bfloat16", random_state=0)
    clf.fit(X, y)
    assert torch.bfloat16 in seen  # in training
    assert all(p.dtype == torch.float32 for p in clf.module_.parameters())
    state = clf._optimizer_state["state"]
    assert all(s["exp_avg"].dtype == torch.float32 for s in state.values())
    seen.clear()
    clf.predict_proba(X)
    assert seen == {torch.float32}  # prediction is float32


@pytest.mark.parametrize("sparse", [False, True])
def test_bfloat16_accuracy_is_close_to_float32(easy_classification, sparse):
    X, y = easy_classification
    X = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0)) if sparse else X
    full = _clf().fit(X, y).score(X, y)
    mixed = _clf(precision="bfloat16").fit(X, y).score(X, y)
    assert full > 0.9 and abs(full - mixed) <= 0.03


def test_bfloat16_regression_is_close_to_float32():
    X, y = make_regression(600, 8, noise=5.0, random_state=0)
    params = dict(hidden_layer_sizes=(32,), max_iter=60, random_state=0)
    full = TorchMLPRegressor(**params).fit(X, y).score(X, y)
    mixed = TorchMLPRegressor(precision="bfloat16", **params).fit(X, y).score(X, y)
    assert full > 0.9 and abs(full - mixed) <= 0.02


def test_bfloat16_with_lbfgs_is_refused_and_leaves_the_estimator_unfitted(easy_classification):
    X, y = easy_classification
    clf = _clf(solver="lbfgs", precision="bfloat16")
    with pytest.raises(ValueError, match="stochastic solver"):
        clf.fit(X, y)
    assert not hasattr(clf, "module_")


def test_dropout_masks_stay_float32_under_bfloat16():
    layer = Dropout(0.3).train()
    for x in (torch.ones(64, 64, dtype=torch.bfloat16), torch.ones(64, 64)):
        mask = layer.mask(x)
        assert mask.dtype == torch.float32
        kept = mask[mask > 0]
        torch.testing.assert_close(
            kept, torch.full_like(kept, 65536 / (65536 - round(0.3 * 65536)))
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bfloat16_on_cuda_is_close_to_float32(easy_classification):
    X, y = easy_classification
    if not torch.cuda.is_bf16_supported(including_emulation=False):
        with pytest.raises(ValueError, match="no bfloat16"):
            _clf(device="cuda", precision="bfloat16").fit(X, y)
        return
    full = _clf(device="cuda").fit(X, y).score(X, y)
    mixed = _clf(device="cuda", precision="bfloat16").fit(X, y).score(X, y)
    assert abs(full - mixed) <= 0.03


def test_models_from_before_precision_existed_load_with_float32(tmp_path, easy_classification):
    pytest.importorskip("safetensors")
    from sk_mlp import load, save

    X, y = easy_classification
    clf = TorchMLPClassifier((4,), max_iter=2, random_state=0).fit(X, y)
    state = clf.__getstate__()
    del state["precision"], clf.precision
    unpickled = TorchMLPClassifier.__new__(TorchMLPClassifier)
    unpickled.__setstate__(state)
    save(clf, tmp_path / "old.safetensors")
    for restored in (unpickled, load(tmp_path / "old.safetensors")):
        assert restored.get_params()["precision"] == "float32"
