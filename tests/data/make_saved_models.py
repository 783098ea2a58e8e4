"""Write the saved-model fixtures that test_save_load.py loads.

Run once, from the repository root, when a new file format version is added
(keep the old files: they prove that old files still load):

    python tests/data/make_saved_models.py

It fits a few tiny models, saves them with ``sk_mlp.save`` as
``<name>_v<format version>.safetensors`` and records their predictions on a
few rows in ``saved_models_expected_v<format version>.json``. Version 1 wrote
a classifier and a regressor on numeric arrays; version 2 adds a classifier
fitted on a data frame with categorical columns and missing values.
"""

import json
from pathlib import Path

import numpy as np


def frame_rows(rng, n):
    """Columns of a small mixed frame as JSON-ready lists (None: missing)."""
    size = rng.normal(size=n).round(3)
    return {
        "size": [None if rng.rand() < 0.2 else float(v) for v in size],
        "colour": [None if rng.rand() < 0.1 else str(v) for v in rng.choice(["red", "blue"], n)],
        "grade": [str(v) for v in rng.choice(["a", "b", "c"], n)],
    }


def as_frame(rows):
    """The frame of :func:`frame_rows`' columns, with the dtypes of the fit."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    return frame.astype({"size": "float64", "colour": "object", "grade": "category"})


def main():
    import sk_mlp
    from sk_mlp._io.safe_format import FORMAT_VERSION

    here = Path(__file__).parent
    version = f"v{FORMAT_VERSION}"
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
    rows = frame_rows(rng, 80)
    frame = as_frame(rows)
    y_frame = np.where((frame["colour"] == "red") ^ (frame["size"].fillna(2) > 0.5), "yes", "no")
    frame_clf = sk_mlp.TorchMLPClassifier((5,), max_iter=30, random_state=0).fit(frame, y_frame)
    sk_mlp.save(clf, here / f"classifier_{version}.safetensors")
    sk_mlp.save(reg, here / f"regressor_{version}.safetensors")
    sk_mlp.save(frame_clf, here / f"frame_classifier_{version}.safetensors")
    X_test = X[:5]
    mean, std = reg.predict(X_test, return_std=True)
    # The first rows, then rows with a category unseen in fit and a gap.
    test_rows = {name: values[:5] for name, values in rows.items()}
    test_rows["size"] += [None, 0.25]
    test_rows["colour"] += ["green", None]
    test_rows["grade"] += ["d", "a"]
    test_frame = as_frame(test_rows)
    expected = {
        "X": X_test.tolist(),
        "classes": clf.classes_.tolist(),
        "labels": clf.predict(X_test).tolist(),
        "proba": clf.predict_proba(X_test).tolist(),
        "mean": mean.tolist(),
        "std": std.tolist(),
        "frame": test_rows,
        "frame_labels": frame_clf.predict(test_frame).tolist(),
        "frame_proba": frame_clf.predict_proba(test_frame).tolist(),
    }
    path = here / f"saved_models_expected_{version}.json"
    path.write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
