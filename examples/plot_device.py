"""
=================
Choosing a device
=================

:class:`~sk_mlp.TorchMLPClassifier` and :class:`~sk_mlp.TorchMLPRegressor`
train where ``device`` says: ``'cpu'`` (the default), ``'cuda'`` or
``'cuda:N'``, ``'mps'`` on Apple silicon, or ``'auto'`` for the best one
available. The outputs below come from the machine that built this page;
where it had no GPU, everything ran on the CPU. The code is the same with one,
and the text says what changes.
"""

# %%
# What torch sees
# ---------------
import torch

print("CUDA available:", torch.cuda.is_available())
print("MPS available: ", torch.backends.mps.is_available())

# %%
# ``device='auto'``
# -----------------
# ``'auto'`` picks the first CUDA GPU if there is one, else MPS, else the CPU.
# The device actually used is recorded in the fitted attribute ``device_``:
# ``'cpu'`` here, ``'cuda:0'`` on a machine with a GPU. Code written with
# ``device='auto'`` runs unchanged on a laptop and on a GPU server.
import warnings

from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from sk_mlp import TorchMLPClassifier

# The models below train for a few epochs only, on purpose.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = make_classification(n_samples=2000, n_features=20, random_state=0)
clf = TorchMLPClassifier(device="auto", max_iter=20, random_state=0).fit(X, y)
print("device_ =", clf.device_)

# %%
# Asking for a device that is not there is an error that names the ones that
# are, rather than a silent fallback to the CPU:
try:
    TorchMLPClassifier(device="cuda:7", max_iter=1).fit(X, y)
except ValueError as error:
    print(error)

# %%
# What changes on a GPU
# ---------------------
# - The data are copied to the GPU once per ``fit`` and stay there; each epoch
#   synchronises with the host once, to read the loss. Predictions come back
#   as NumPy arrays, as always.
# - Large batches and wide layers gain the most; tiny models like the ones in
#   this gallery are often as fast on the CPU, where there is no transfer and
#   no kernel-launch overhead.
# - Results are reproducible for a given ``random_state`` on a given device,
#   but not bit for bit across devices: GPU kernels sum in a different order.
#
# Models trained on a GPU load anywhere
# -------------------------------------
# A fitted estimator pickles with its network moved to the CPU. Loading it on a
# machine with the same GPU puts it back there; on a machine without one it
# warns and predicts on the CPU, with ``device_`` set to ``'cpu'``. On this
# machine the round trip is CPU to CPU:
import pickle

restored = pickle.loads(pickle.dumps(clf))
same = (restored.predict(X) == clf.predict(X)).all()
print(f"restored on {restored.device_!r}; same predictions: {same}")

# %%
# Timing the devices you have
# ---------------------------
# The loop below fits the same model on every device available, so on a GPU
# machine it prints one line per device. Sizes are kept small for the
# documentation build; try ``n_samples=200_000`` and ``hidden_layer_sizes=(512,
# 512)`` to see a GPU pull ahead.
import time

devices = ["cpu"]
if torch.cuda.is_available():
    devices.append("cuda")
if torch.backends.mps.is_available():
    devices.append("mps")

X_big, y_big = make_classification(n_samples=20_000, n_features=50, random_state=0)
for device in devices:
    model = TorchMLPClassifier(
        hidden_layer_sizes=(256, 256),
        batch_size=1000,
        max_iter=5,
        tol=0,
        device=device,
        random_state=0,
    )
    start = time.perf_counter()
    model.fit(X_big, y_big)
    print(f"{device:>7}: {time.perf_counter() - start:.2f} s for 5 epochs")
