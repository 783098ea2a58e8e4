"""
===================================================
Saving a model safely and serving it with ONNX
===================================================

A fitted :class:`~sk_mlp.TorchMLPClassifier` leaves Python in two safe ways:
:func:`sk_mlp.save` writes a file that :func:`sk_mlp.load` reads back without
running any code from it (and the loaded model can train further), and
:func:`sk_mlp.to_onnx` exports the prediction function, preprocessing and
class labels included, as an ONNX graph that onnxruntime serves without
torch or sk_mlp. This example does both and compares prediction latency.
"""

# %%
# Fit a classifier
# ----------------
# Labels are strings, to show that they travel with the model.
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from sk_mlp import TorchMLPClassifier

X, y = make_classification(
    n_samples=12_000, n_features=20, n_informative=10, n_classes=3, random_state=0
)
y = np.array(["bronze", "silver", "gold"])[y]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=10_000, random_state=0)
clf = TorchMLPClassifier((64, 32), max_iter=200, early_stopping=True, random_state=0)
clf.fit(X_train, y_train)
print(f"test accuracy: {clf.score(X_test, y_test):.3f}")

# %%
# Save and load
# -------------
# The file is a safetensors file: the weights are tensors and the rest
# (parameters, class labels, scaling statistics, optimizer state, library
# versions) is JSON in its header. Loading builds only types on sk_mlp's
# allow-lists.
import tempfile
from pathlib import Path

import sk_mlp

path = Path(tempfile.mkdtemp()) / "classifier.safetensors"
sk_mlp.save(clf, path)
restored = sk_mlp.load(path)
print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")
print(
    "identical probabilities:",
    np.array_equal(restored.predict_proba(X_test), clf.predict_proba(X_test)),
)

# %%
# The loaded model continues training exactly as the original would. With
# ``early_stopping=True`` there is no ``partial_fit`` (one epoch per call
# leaves nothing to stop early), so both continue with a warm start of a few
# more epochs (too few to converge, hence the warning filter):
import warnings

from sklearn.exceptions import ConvergenceWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for model in (restored, clf):
        model.set_params(warm_start=True, max_iter=5).fit(X_train, y_train)
print("identical after a warm start:", restored.loss_curve_ == clf.loss_curve_)
print(
    "identical probabilities:",
    np.array_equal(restored.predict_proba(X_test), clf.predict_proba(X_test)),
)

# %%
# Export to ONNX
# --------------
# The graph takes raw float32 rows; float64 rows would give a float64 graph.
import onnxruntime as ort

onx = sk_mlp.to_onnx(clf, X_test[:1].astype(np.float32))
session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
print("inputs:", [(i.name, i.type, i.shape) for i in session.get_inputs()])
print("outputs:", [(o.name, o.type, o.shape) for o in session.get_outputs()])

X_test32 = X_test.astype(np.float32)
labels, proba = session.run(None, {"X": X_test32})
print("same labels:", np.mean(labels == clf.predict(X_test)))
print(f"largest probability difference: {np.abs(proba - clf.predict_proba(X_test)).max():.1e}")

# %%
# Prediction latency
# ------------------
# One row is the case of a web service answering a request; 10,000 rows a
# batch job. Times are medians of repeated calls (the gallery runs torch on
# one thread; onnxruntime gets one thread too).
import time

import matplotlib.pyplot as plt

options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(onx.SerializeToString(), options, providers=["CPUExecutionProvider"])


def median_seconds(predict, X, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(X)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def onnx_predict(X):
    return session.run(None, {"X": X})


results = {}
for rows, repeats in [(1, 200), (10_000, 10)]:
    results[rows] = {
        "sk_mlp predict_proba": median_seconds(clf.predict_proba, X_test[:rows], repeats),
        "onnxruntime": median_seconds(onnx_predict, X_test32[:rows], repeats),
    }
    for name, seconds in results[rows].items():
        print(f"{rows:>6} rows, {name:>21}: {seconds * 1e3:8.3f} ms")

fig, axes = plt.subplots(1, 2, figsize=(8, 3))
for ax, (rows, timings) in zip(axes, results.items()):
    ax.barh(list(timings), [t * 1e3 for t in timings.values()], color=["C0", "C1"])
    ax.set_xlabel("milliseconds (median)")
    ax.set_title(f"{rows:,} row{'s' if rows > 1 else ''}")
fig.tight_layout()

# %%
# onnxruntime answers a single row with far less overhead than a call
# through scikit-learn's input validation and torch; on large batches the gap
# narrows, as both spend most of their time in the same matrix products. The
# ONNX file needs neither torch nor Python, only an ONNX runtime; the
# safetensors file keeps what is needed to train further.
