"""The ``verbose=2`` progress bar: loss, validation score, and why it stopped."""

import numpy as np
import pytest

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor

pytest.importorskip("tqdm")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n_samples=60):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_samples, 3))
    return X, X[:, 0] - X[:, 1], (X[:, 0] > 0).astype(int)


def test_bar_shows_the_validation_score_with_early_stopping(capsys):
    X, _, y = _data()
    clf = TorchMLPClassifier((8,), max_iter=3, verbose=2, early_stopping=True, random_state=0)
    clf.fit(X, y)
    err = capsys.readouterr().err
    assert f"validation score={clf.validation_scores_[-1]:.4g}" in err
    assert f"loss={clf.loss_curve_[-1]:.4g}" in err


def test_bar_without_early_stopping_shows_no_validation_score(capsys):
    X, y, _ = _data()
    TorchMLPRegressor((8,), max_iter=3, verbose=2, random_state=0).fit(X, y)
    err = capsys.readouterr().err
    assert "loss=" in err and "validation score" not in err


@pytest.mark.parametrize("early_stopping", [True, False])
def test_early_stop_closes_the_bar_and_says_why(capsys, early_stopping):
    X, y, _ = _data()
    reg = TorchMLPRegressor(
        (8,),
        max_iter=50,
        tol=1e9,  # nothing counts as an improvement
        n_iter_no_change=2,
        early_stopping=early_stopping,
        verbose=2,
        random_state=0,
    ).fit(X, y)
    captured = capsys.readouterr()
    assert reg.n_iter_ < 50
    assert "stopped early:" in captured.err and f"{reg.n_iter_}/50" in captured.err
    watched = "Validation score" if early_stopping else "Training loss"
    assert captured.out.splitlines() == [
        f"{watched} did not improve more than tol=1000000000.0 for 2 consecutive epochs. Stopping."
    ]


def test_a_fit_that_uses_all_its_epochs_is_not_reported_as_stopped(capsys):
    X, y, _ = _data()
    TorchMLPRegressor((8,), max_iter=3, verbose=2, random_state=0).fit(X, y)
    captured = capsys.readouterr()
    assert "3/3" in captured.err and "stopped" not in captured.err
    assert captured.out == ""
