"""Sparse input: the same model as its dense form, and predictions that never
densify the matrix in large blocks."""

import sys
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _problem(estimator_class):
    """300 x 20, about 30% nonzero: five columns mostly nonzero around a
    positive level (their robust centre is not zero) and fifteen mostly zero."""
    rng = np.random.RandomState(0)
    n = 300
    mostly_nonzero = rng.binomial(1, 0.9, size=(n, 5)) * rng.uniform(1, 5, size=(n, 5))
    mostly_zero = rng.binomial(1, 0.12, size=(n, 15)) * rng.lognormal(size=(n, 15))
    X = np.hstack([mostly_nonzero, mostly_zero])
    score = X[:, 0] - X[:, 1] + X[:, 5:10].sum(axis=1) + 0.5 * rng.normal(size=n)
    if estimator_class is TorchMLPClassifier:
        return X, (score > np.median(score)).astype(int)
    return X, score


def _outputs(estimator, X):
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(X)
    return estimator.predict(X)


# Float32 tolerance. Sparse and dense input may reach the network through
# different float32 operations (1 ulp apart). Measured on this problem, moving
# every input by one float32 ulp, or fitting on float32 instead of float64
# input, changes the predictions of these 10-epoch fits by at most
# rtol=1e-5 plus 1.3e-7 * std(y) (regressor) or nothing beyond rtol
# (classifier probabilities), on one thread or two. The tolerance below leaves
# about 8x margin; the preprocessing defect it guards against moves the
# predictions by 0.03 to 0.9. Longer fits amplify rounding chaotically
# (30 epochs: 3e-4 * std(y)), so the fits are kept short.
RTOL = 1e-5
ATOL_PER_Y_STD = 1e-6


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("preprocessing", ["robust", None])
@pytest.mark.parametrize(
    "estimator_class", [TorchMLPClassifier, TorchMLPRegressor], ids=["classifier", "regressor"]
)
def test_sparse_input_fits_the_model_its_dense_form_fits(estimator_class, preprocessing, fmt):
    """With the default preprocessing too: robust centring and scaling must be
    fitted and applied as on the dense matrix, implicit zeros included."""
    X, y = _problem(estimator_class)
    sparse = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    params = dict(max_iter=10, preprocessing=preprocessing, random_state=0)
    dense_model = estimator_class(**params).fit(X, y)
    sparse_model = estimator_class(**params).fit(sparse, y)
    expected = _outputs(dense_model, X)
    atol = ATOL_PER_Y_STD * (1.0 if estimator_class is TorchMLPClassifier else y.std())
    np.testing.assert_allclose(_outputs(sparse_model, X), expected, rtol=RTOL, atol=atol)
    # and one model predicts the same from either form
    np.testing.assert_allclose(_outputs(dense_model, sparse), expected, rtol=RTOL, atol=atol)


def test_default_classifier_fits_sparse_input_as_its_dense_form():
    """TorchMLPClassifier as a user creates it (preprocessing='robust',
    dropout='auto'), only shorter."""
    X, y = _problem(TorchMLPClassifier)
    dense_model = TorchMLPClassifier(max_iter=10, random_state=0).fit(X, y)
    sparse_model = TorchMLPClassifier(max_iter=10, random_state=0).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(
        sparse_model.predict_proba(X), dense_model.predict_proba(X), rtol=RTOL, atol=1e-6
    )


def _wide_csr(n_samples, n_features, nnz_per_row, seed):
    """A CSR matrix with a fixed number of stored values per row, built
    directly (scipy.sparse.random takes seconds at this size)."""
    rng = np.random.RandomState(seed)
    indices = np.sort(rng.randint(0, n_features, size=(n_samples, nnz_per_row)), axis=1).ravel()
    indptr = np.arange(0, n_samples * nnz_per_row + 1, nnz_per_row)
    data = rng.lognormal(size=n_samples * nnz_per_row)
    return sp.csr_matrix((data, indices, indptr), shape=(n_samples, n_features))


def _peak_rss_reset():
    """Reset the process's peak resident set size (Linux); False where not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _rss(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


# Densifying 20,000 x 5,000 whole would take 800 MB (float64); the chunks
# predict densified before were 650 MB. A prediction that works on the sparse
# matrix, or densifies it a few thousand rows at a time, stays far below this.
_MEMORY_BOUND = 64 * 2**20


@pytest.mark.parametrize(
    "estimator_class", [TorchMLPClassifier, TorchMLPRegressor], ids=["classifier", "regressor"]
)
def test_predict_on_a_wide_sparse_matrix_never_densifies_large_blocks(estimator_class):
    n_features = 5000
    X_small = _wide_csr(200, n_features, 5, seed=0)
    y = np.arange(200) % 2 if estimator_class is TorchMLPClassifier else np.arange(200) / 200
    model = estimator_class((8,), max_iter=2, random_state=0).fit(X_small, y)
    X = _wide_csr(20_000, n_features, 5, seed=1)  # 100,000 stored values
    predict = model.predict_proba if estimator_class is TorchMLPClassifier else model.predict

    # numpy's allocations (densified blocks included) are traced...
    tracemalloc.start()
    try:
        output = predict(X)
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(output) == 20_000
    assert traced_peak < _MEMORY_BOUND, f"numpy peak {traced_peak / 2**20:.0f} MiB"
    # ...torch's are not: the resident set's peak sees both
    if _peak_rss_reset():
        before = _rss("VmRSS")
        predict(X)
        growth = _rss("VmHWM") - before
        assert growth < _MEMORY_BOUND, f"peak RSS grew by {growth / 2**20:.0f} MiB"
