"""The contenders of ``tabular.py``: each model at its library's defaults, with
what it needs to accept the raw frame, and the sk_mlp ablations.

Every factory takes ``(task, seed)`` and returns an unfitted estimator that
accepts the raw frame (strings, categories, bools, missing values) and has
``predict`` (and ``predict_proba`` for classification). One thread per fit:
the benchmark runs fits side by side, one per core.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from sk_mlp import SKLEARN_MLP_PARAMS, TorchMLPClassifier, TorchMLPRegressor

CANDIDATE = "sk_mlp"

# Ablations: estimator parameters that differ from sk_mlp's current defaults,
# each turning one ingredient on or off. ``a+b`` combines two. Classifier-only
# parameters are dropped on regression tables.
VARIANTS = {
    "ens1": {"n_ensemble": 1},
    "ens4": {"n_ensemble": 4},
    "ens8": {"n_ensemble": 8},
    "es": {"early_stopping": True},
    "no_es": {"early_stopping": False},
    "label_smooth": {"label_smoothing": 0.1},
    "beta2_095": {"beta_2": 0.95},
    "feature_scaling": {"feature_scaling": True},
    "piecewise": {"numeric_embedding": "piecewise_linear"},
    "periodic": {"numeric_embedding": "periodic"},
    "no_embedding": {"numeric_embedding": None},
    "cosine": {"learning_rate": "warmup_cosine"},
    # the whole schedule: 100 epochs, no stopping on the training loss
    "cosine100": {"learning_rate": "warmup_cosine", "max_iter": 100, "n_iter_no_change": np.inf},
    "constant_lr": {"learning_rate": "constant"},
    "wide": {"hidden_layer_sizes": (256, 256)},
    "deep": {"hidden_layer_sizes": (256, 256, 256)},
    "narrow": {"hidden_layer_sizes": (100,)},
    "alpha_1e-3": {"alpha": 1e-3},
    "dropout_0": {"dropout": 0.0},
    "dropout_0.15": {"dropout": 0.15},
    "batch_64": {"batch_size": 64},
    "batch_256": {"batch_size": 256},
    "patience_20": {"n_iter_no_change": 20},
    "lr_3e-3": {"learning_rate_init": 3e-3},
    "epochs_100": {"max_iter": 100},
    # the classifier's logits as trained, without the temperature fitted on
    # the early-stopping rows
    "no_temperature": {"uncertainty_calibration": None},
    # scikit-learn's MLP, trained by sk_mlp (the documented setting)
    "sklearn": dict(SKLEARN_MLP_PARAMS),
}
CLASSIFIER_ONLY = {"label_smoothing", "class_weight"}


def variant_params(name: str, task: str) -> dict:
    """The parameters of a variant; ``a+b`` combines variants ``a`` and ``b``."""
    params = {}
    for part in name.split("+"):
        params.update(VARIANTS[part])
    if task == "regression":
        params = {k: v for k, v in params.items() if k not in CLASSIFIER_ONLY}
    return params


# ------------------------------------------------------------------ encodings
def categories_as_text(X):
    """Missing categories become the string 'missing'; every value a string."""
    X = pd.DataFrame(X)
    return X.astype(object).where(X.notna(), "missing").astype(str)


def _is_number(column) -> bool:
    return pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def numeric_encoding(scale: bool):
    """One-hot + median imputation (+ standardization): the hand-written pipeline."""
    numeric = [SimpleImputer(strategy="median")] + ([StandardScaler()] if scale else [])
    return ColumnTransformer(
        [
            (
                "num",
                make_pipeline(*numeric),
                make_column_selector(dtype_include=["number", "bool"]),
            ),
            (
                "cat",
                make_pipeline(
                    FunctionTransformer(categories_as_text),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                make_column_selector(dtype_exclude=["number", "bool"]),
            ),
        ],
        sparse_threshold=0,
    )


def as_category(X):
    """String columns as pandas ``category`` (what HGB's 'from_dtype' and
    LightGBM read as categorical)."""
    X = X.copy()
    for column in X.columns:
        if not _is_number(X[column]):
            X[column] = X[column].astype("category")
        elif pd.api.types.is_bool_dtype(X[column]):
            X[column] = X[column].astype(float)
    return X


class ImputedInput(TransformerMixin, BaseEstimator):
    """Median imputation + missing indicators for numbers (pytabkit takes no
    NaN), strings as ``category`` with 'missing' as a category."""

    def fit(self, X, y=None):
        self.numeric_ = [c for c in X.columns if _is_number(X[c])]
        numbers = X[self.numeric_].astype(float)
        self.medians_ = numbers.median().fillna(0.0)
        self.with_nan_ = [c for c in self.numeric_ if numbers[c].isna().any()]
        return self

    def transform(self, X):
        out = {}
        for c in X.columns:
            if c in self.numeric_:
                values = X[c].astype(float)
                out[c] = values.fillna(self.medians_[c])
                if c in self.with_nan_:
                    out[f"{c}__missing"] = values.isna().astype(float)
            else:
                out[c] = categories_as_text(X[[c]])[c].astype("category")
        return pd.DataFrame(out, index=X.index)


class CatBoostRaw(BaseEstimator):
    """CatBoost at its defaults, told which columns are categorical (strings,
    missing ones as 'missing'); numeric NaN is native. One thread."""

    def __init__(self, regression=False, random_state=0):
        self.regression = regression
        self.random_state = random_state

    def _frame(self, X):
        X = X.copy()
        for c in self.cat_columns_:
            X[c] = categories_as_text(X[[c]])[c]
        for c in X.columns:
            if pd.api.types.is_bool_dtype(X[c]):
                X[c] = X[c].astype(float)
        return X

    def fit(self, X, y):
        from catboost import CatBoostClassifier, CatBoostRegressor

        self.cat_columns_ = [c for c in X.columns if not _is_number(X[c])]
        cls = CatBoostRegressor if self.regression else CatBoostClassifier
        self.model_ = cls(
            random_seed=self.random_state,
            thread_count=1,
            verbose=0,
            allow_writing_files=False,
            cat_features=self.cat_columns_,
        )
        self.model_.fit(self._frame(X), y)
        if not self.regression:
            self.classes_ = np.asarray(self.model_.classes_)
        return self

    def predict(self, X):
        pred = self.model_.predict(self._frame(X))
        return np.asarray(pred).ravel()

    def predict_proba(self, X):
        return self.model_.predict_proba(self._frame(X))


# --------------------------------------------------------------------- models
def _sk_mlp(task, seed, **params):
    cls = TorchMLPRegressor if task == "regression" else TorchMLPClassifier
    return cls(random_state=seed, **params)


class CrossFittedBag(BaseEstimator):
    """``k`` sk_mlp fits, each stopped on its own random ``1/k`` of the
    training rows, their predictions averaged: the bag RealMLP and TabM are
    run in on TabArena, screened here as a default for small tables."""

    def __init__(self, task="classification", seed=0, k=5, numeric_embedding="piecewise_linear"):
        self.task = task
        self.seed = seed
        self.k = k
        self.numeric_embedding = numeric_embedding

    def fit(self, X, y):
        self.members_ = [
            _sk_mlp(
                self.task,
                self.seed * 100 + i,
                early_stopping=True,
                validation_fraction=1 / self.k,
                numeric_embedding=self.numeric_embedding,
                n_ensemble=1,
            ).fit(X, y)
            for i in range(self.k)
        ]
        self.classes_ = getattr(self.members_[0], "classes_", None)
        return self

    def predict_proba(self, X):
        return np.mean([m.predict_proba(X) for m in self.members_], axis=0)

    def predict(self, X):
        if self.task == "regression":
            return np.mean([m.predict(X) for m in self.members_], axis=0)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def _pytabkit(name: str, task: str, seed: int):
    try:
        import pytabkit
    except ImportError as exc:
        raise ImportError(
            f"The {name} peer needs pytabkit: pip install -e '.[bench]' "
            "(or leave it out with --models)."
        ) from exc
    suffix = "Regressor" if task == "regression" else "Classifier"
    cls = getattr(pytabkit, f"{name}_{suffix}")
    return make_pipeline(
        ImputedInput(), cls(device="cpu", random_state=seed, n_threads=1, verbosity=0)
    )


def _lightgbm(task: str, seed: int):
    import lightgbm

    cls = lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier
    return make_pipeline(
        FunctionTransformer(as_category), cls(random_state=seed, n_jobs=1, verbose=-1)
    )


def _hgb(task: str, seed: int):
    reg = task == "regression"
    cls = HistGradientBoostingRegressor if reg else HistGradientBoostingClassifier
    return make_pipeline(
        FunctionTransformer(as_category),
        cls(categorical_features="from_dtype", random_state=seed),
    )


def _sklearn_mlp(task: str, seed: int, scale: bool):
    cls = MLPRegressor if task == "regression" else MLPClassifier
    return make_pipeline(numeric_encoding(scale), cls(random_state=seed))


# name -> (what it is, factory(task, seed))
MODELS = {
    "sk_mlp": (
        "TorchMLPClassifier / TorchMLPRegressor at their defaults, on the raw frame",
        _sk_mlp,
    ),
    "sk_mlp_ct": (
        "the same behind ColumnTransformer(OneHotEncoder, SimpleImputer)",
        lambda task, seed: make_pipeline(numeric_encoding(False), _sk_mlp(task, seed)),
    ),
    "sklearn_mlp": (
        "scikit-learn's MLP on one-hot + median imputation, unscaled",
        lambda task, seed: _sklearn_mlp(task, seed, scale=False),
    ),
    "sklearn_mlp_std": (
        "the same, standardized",
        lambda task, seed: _sklearn_mlp(task, seed, scale=True),
    ),
    "hgb": ("HistGradientBoosting, categorical_features='from_dtype', native NaN", _hgb),
    "lightgbm": ("LightGBM defaults, pandas categories, native NaN", _lightgbm),
    "catboost": ("CatBoost defaults (1000 trees), categorical columns declared", CatBoostRaw),
    "realmlp": (
        "RealMLP-TD (pytabkit), NaN imputed by the median + indicators",
        lambda task, seed: _pytabkit("RealMLP_TD", task, seed),
    ),
    "tabm": (
        "TabM-D (pytabkit), the same input",
        lambda task, seed: _pytabkit("TabM_D", task, seed),
    ),
    # screened, not defaults: reported as ablations (their names hold a "+")
    "sk_mlp+bag5": (
        "five sk_mlp fits with the piecewise-linear encoding, each stopped on its "
        "own random 20% of the rows, averaged",
        lambda task, seed: CrossFittedBag(task, seed),
    ),
    "sk_mlp+bag5_no_embedding": (
        "the same bag without the encoding",
        lambda task, seed: CrossFittedBag(task, seed, numeric_embedding=None),
    ),
    "linear": (
        "Ridge / LogisticRegression on the standardized one-hot encoding",
        lambda task, seed: make_pipeline(
            numeric_encoding(True),
            Ridge() if task == "regression" else LogisticRegression(max_iter=1000),
        ),
    ),
}


def make(name: str, task: str, seed: int):
    """An unfitted estimator: a peer of ``MODELS`` or ``sk_mlp+VARIANT``."""
    if name.startswith(CANDIDATE + "+") and name not in MODELS:
        return _sk_mlp(task, seed, **variant_params(name.split("+", 1)[1], task))
    factory = MODELS[name][1]
    if factory is CatBoostRaw:
        return CatBoostRaw(regression=task == "regression", random_state=seed)
    return factory(task, seed)


def describe(name: str) -> str:
    if name in MODELS:
        return MODELS[name][0]
    return "sk_mlp with " + ", ".join(
        f"{k}={v!r}" for k, v in variant_params(name.split("+", 1)[1], "classification").items()
    )


__all__ = ["CANDIDATE", "MODELS", "VARIANTS", "describe", "make", "variant_params"]
