"""Write the saved-model fixtures that test_save_load.py loads.

Run once, from the repository root, when a new file format version is added
(keep the old files: they prove old files still load):

    python tests/data/make_saved_models.py

It fits two tiny models, saves them with ``sk_mlp.save`` and records their
predictions on a few rows in ``saved_models_expected.json``.
"""

import json
from pathlib import Path

import numpy as np


def main():
    import sk_mlp

    here = Path(__file__).parent
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    labels = np.array(["cat", "dog", "eel"], dtype=object)[
        (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    ]
    clf = sk_mlp.TorchMLPClassifier((5,), max_iter=30, random_state=0).fit(X, labels)
    y = X[:, 0] * 2 + rng.normal(scale=0.1 + np.abs(X[:, 1]), size=60)
    reg = sk_mlp.TorchMLPRegressor(
        (5,), loss="gaussian_nll", normalization="layer", max_iter=30, random_state=0
    ).fit(X, y)
    sk_mlp.save(clf, here / "classifier_v1.safetensors")
    sk_mlp.save(reg, here / "regressor_v1.safetensors")
    X_test = X[:5]
    mean, std = reg.predict(X_test, return_std=True)
    expected = {
        "X": X_test.tolist(),
        "classes": clf.classes_.tolist(),
        "labels": clf.predict(X_test).tolist(),
        "proba": clf.predict_proba(X_test).tolist(),
        "mean": mean.tolist(),
        "std": std.tolist(),
    }
    (here / "saved_models_expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
