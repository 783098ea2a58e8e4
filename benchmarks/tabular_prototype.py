"""The planned raw-frame sk_mlp, prototyped outside the package's core files.

``FrameMLP`` is what ``TorchMLPClassifier().fit(df, y)`` / ``TorchMLPRegressor``
will do once the frame stage is wired into the estimators: encode the frame
with :class:`sk_mlp._tabular.TabularEncoder`, then train today's estimator at
its defaults on the encoded matrix, with a network whose first layer is
:class:`sk_mlp._tabular_module.TabularInput` (robust scaling of the numeric
block, one-hot or embedded categories) followed by the default MLP
(hidden (100,), ReLU, dropout 0.1).

It also carries the candidate "modern tabular" ingredients, each off by default,
so that ``tabular.py --variants`` can measure them one at a time:

- ``numeric_embedding='periodic'``: per-feature periodic embeddings
  (``cos(2 pi (w x + b))`` with 16 learned frequencies, a per-feature linear map
  to 3 values, and the scaled value itself), after RealMLP's PBLD;
- ``front_scale``: a learned per-feature scale on the network input;
- ``label_smoothing``: cross-entropy against smoothed targets (classification);
- ``beta_2``, ``early_stopping``: the estimator's own parameters;
- ``n_ensemble=k``: a TabM-mini style ensemble, k members that share the MLP
  and differ by a per-member multiplicative input adapter and their own head,
  trained on the mean of their losses and averaged at prediction.

Differences from the final design, noted for honesty: a ``module=`` network
trains through autograd, not through sk_mlp's hand-written CPU backprop, so
these fit times overstate the cost of the wired-in version (see the
``sk_mlp_ct`` column of ``tabular.py``, which trains the default network on
the fast path).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from torch import nn

from sk_mlp import TorchMLPClassifier, TorchMLPRegressor
from sk_mlp._module import build_mlp
from sk_mlp._tabular import TabularEncoder
from sk_mlp._tabular_module import build_tabular_input


# ----------------------------------------------------------------- ingredients
class PeriodicEmbedding(nn.Module):
    """Each of ``n`` scalar features -> ``[x, linear(cos(2 pi (w x + b)))]``."""

    def __init__(self, n: int, n_frequencies: int = 16, sigma: float = 0.1, out: int = 3):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n, n_frequencies) * sigma)
        self.b = nn.Parameter(torch.rand(n, n_frequencies) * 2 - 1)
        bound = 1 / math.sqrt(n_frequencies)
        self.weight = nn.Parameter(torch.empty(n, n_frequencies, out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(n, out))
        self.n_outputs = n * (out + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.cos(2 * math.pi * (x.unsqueeze(-1) * self.w + self.b))  # (batch, n, m)
        h = torch.einsum("bnm,nmo->bno", z, self.weight) + self.bias
        return torch.cat([x.unsqueeze(-1), h], dim=-1).flatten(1)


class NumericThenRest(nn.Module):
    """Apply ``inner`` to the first ``n`` columns of the input layer's output."""

    def __init__(self, n: int, inner: nn.Module):
        super().__init__()
        self.n, self.inner = n, inner

    def forward(self, x):
        return torch.cat([self.inner(x[:, : self.n]), x[:, self.n :]], dim=1)


class FrontScale(nn.Module):
    def __init__(self, n: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(n))

    def forward(self, x):
        return x * self.scale


class MiniEnsemble(nn.Module):
    """k members: per-member input adapter (random signs), shared hidden
    layers, per-member heads. Training output: (k * batch, n_out), members
    stacked; eval output: the members' average in the loss's link space."""

    def __init__(self, n_in: int, hidden: nn.Module, width: int, n_out: int, k: int, link: str):
        super().__init__()
        self.k, self.link, self.n_out = k, link, n_out
        self.adapter = nn.Parameter(torch.randint(0, 2, (k, 1, n_in)).float() * 2 - 1)
        self.hidden = hidden
        bound = math.sqrt(6 / (width + n_out))
        self.head_w = nn.Parameter(torch.empty(k, width, n_out).uniform_(-bound, bound))
        self.head_b = nn.Parameter(torch.zeros(k, 1, n_out))

    def forward(self, x):
        n = len(x)
        h = self.hidden((x.unsqueeze(0) * self.adapter).reshape(self.k * n, -1))
        out = torch.baddbmm(self.head_b, h.reshape(self.k, n, -1), self.head_w)  # (k, n, o)
        if self.training:
            return out.reshape(self.k * n, self.n_out)
        if self.link == "softmax":
            return torch.logsumexp(F.log_softmax(out, -1), 0) - math.log(self.k)
        if self.link == "logistic":
            p = torch.sigmoid(out).mean(0).clamp(1e-7, 1 - 1e-7)
            return torch.log(p) - torch.log1p(-p)
        return out.mean(0)


class _LossWrapper:
    """Delegates to sk_mlp's loss; adds label smoothing and member stacking."""

    def __init__(self, loss, smoothing: float, k: int):
        self._loss, self.smoothing, self.k = loss, smoothing, k

    def __getattr__(self, name):
        return getattr(self._loss, name)

    def __call__(self, raw, y):
        if len(raw) != len(y):  # ensemble members stacked along the batch
            y = y.repeat(len(raw) // len(y), *([1] * (y.dim() - 1)))
            return self(raw, y).reshape(-1, len(raw) // self.k).mean(0)
        if self.smoothing and self._loss.out_activation == "softmax":
            return F.cross_entropy(raw, y, label_smoothing=self.smoothing, reduction="none")
        if self.smoothing and self._loss.out_activation == "logistic":
            target = y * (1 - self.smoothing) + 0.5 * self.smoothing
            return F.binary_cross_entropy_with_logits(raw, target, reduction="none").sum(1)
        return self._loss(raw, y)

    def batch_mean(self, raw, y):
        return self(raw, y).mean()


class _Classifier(TorchMLPClassifier):
    _smoothing, _k = 0.0, 1

    def _loss_function(self):
        return _LossWrapper(super()._loss_function(), self._smoothing, self._k)


class _Regressor(TorchMLPRegressor):
    _smoothing, _k = 0.0, 1

    def _loss_function(self):
        return _LossWrapper(super()._loss_function(), 0.0, self._k)


# -------------------------------------------------------------------- estimator
class FrameMLP(BaseEstimator):
    """Raw frame in, sk_mlp (planned design) out; see the module docstring."""

    def __init__(
        self,
        task="classification",
        random_state=None,
        max_onehot_categories=8,
        numeric_embedding=None,
        front_scale=False,
        label_smoothing=0.0,
        beta_2=0.999,
        early_stopping=False,
        n_ensemble=1,
        learning_rate="constant",
        max_iter=200,
    ):
        self.task = task
        self.random_state = random_state
        self.max_onehot_categories = max_onehot_categories
        self.numeric_embedding = numeric_embedding
        self.front_scale = front_scale
        self.label_smoothing = label_smoothing
        self.beta_2 = beta_2
        self.early_stopping = early_stopping
        self.n_ensemble = n_ensemble
        self.learning_rate = learning_rate
        self.max_iter = max_iter

    def _network(self, Z, n_outputs, link):
        tab = build_tabular_input(self.encoder_, Z)
        layers, width = [tab], tab.n_outputs
        if self.numeric_embedding == "periodic" and tab.n_numeric:
            emb = PeriodicEmbedding(tab.n_numeric)
            layers.append(NumericThenRest(tab.n_numeric, emb))
            width += emb.n_outputs - tab.n_numeric
        if self.front_scale:
            layers.append(FrontScale(width))
        if self.n_ensemble > 1:
            hidden = build_mlp(width, 100, (), "relu")  # a linear layer...
            hidden = nn.Sequential(hidden, nn.ReLU(), nn.Dropout(0.1))
            layers.append(MiniEnsemble(width, hidden, 100, n_outputs, self.n_ensemble, link))
        else:
            layers.append(build_mlp(width, n_outputs, (100,), "relu", 0.1))
        return nn.Sequential(*layers)

    def fit(self, X, y):
        self.encoder_ = TabularEncoder(max_onehot_categories=self.max_onehot_categories)
        Z = self.encoder_.fit_transform(X)
        classifier = self.task == "classification"
        cls = _Classifier if classifier else _Regressor
        estimator = cls(
            random_state=self.random_state,
            preprocessing=None,  # the numeric block is scaled inside TabularInput
            beta_2=self.beta_2,
            early_stopping=self.early_stopping,
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
        )
        estimator._smoothing = self.label_smoothing if classifier else 0.0
        estimator._k = self.n_ensemble
        n_classes = len(np.unique(y)) if classifier else 1
        link = "identity" if not classifier else ("logistic" if n_classes == 2 else "softmax")

        def module(n_features, n_outputs):
            return self._network(Z, n_outputs, link)

        estimator.module = module
        with torch.random.fork_rng():
            torch.manual_seed(0 if self.random_state is None else self.random_state)
            estimator.fit(Z, y)
        self.estimator_ = estimator
        self.n_iter_ = estimator.n_iter_
        return self

    def predict(self, X):
        return self.estimator_.predict(self.encoder_.transform(X))

    def predict_proba(self, X):
        return self.estimator_.predict_proba(self.encoder_.transform(X))


class FrameMLPClassifier(ClassifierMixin, FrameMLP):
    pass


class FrameMLPRegressor(RegressorMixin, FrameMLP):
    pass
