"""ONNX export of a whole fitted estimator, :func:`sk_mlp.to_onnx`: sk_mlp's
estimators are written by :mod:`sk_mlp._io.onnx.model`, anything else (a
pipeline ending in one) by skl2onnx with sk_mlp's converters registered."""

from __future__ import annotations

import numpy as np

from ..._preprocessing.frame import is_data_frame
from ..estimator_types import estimator_class
from .model import MIN_OPSET, estimator_model
from .skl2onnx import convert_with_skl2onnx


def to_onnx(estimator, X_sample=None, *, target_opset=None):
    """Export a fitted estimator's predictions as an ONNX model.

    The graph takes raw feature rows and reproduces the estimator's
    ``predict`` and ``predict_proba`` (regressors: the prediction and, with
    ``loss='gaussian_nll'``, the standard deviation; with ``loss='quantile'``
    the quantiles), with the input
    preprocessing (missing values, categories, scaling), the class labels and
    the target scaling inside it. The batch size is dynamic. Run it with
    onnxruntime, for example, on any machine, without Python, torch or sk_mlp.

    Parameters
    ----------
    estimator : TorchMLPClassifier, TorchMLPRegressor or scikit-learn pipeline
        The fitted estimator. Anything else, such as a
        :class:`~sklearn.pipeline.Pipeline` that ends with an sk_mlp
        estimator, is converted by ``skl2onnx.to_onnx`` with sk_mlp's
        converters registered (see :func:`register_skl2onnx_converters`);
        ``X_sample`` is then required.

    X_sample : {array-like, DataFrame} of shape (n_samples, n_features), \
            default=None
        A few input rows. Their dtype sets the type of the graph's numeric
        inputs and of its outputs: float64 rows (a DataFrame whose float
        columns among the numeric features are all float64) give a float64
        graph, anything else (or None) float32. A network from ``module=`` with
        layers sk_mlp does not
        write itself is traced by ``torch.onnx.export`` on these rows (zeros if
        None).

    target_opset : int, default=None
        The ONNX operator set to use, at least 13; default 17 for sk_mlp's
        own networks (18 or more when ``torch.onnx.export`` is needed).

    Returns
    -------
    model : onnx.ModelProto
        A model with outputs ``"label"`` (shape (N,), or (N, n_labels) 0/1
        for multilabel targets) and ``"probabilities"`` (N, n_classes) for a
        classifier; ``"variable"`` (shape (N,) or (N, n_outputs), as
        ``predict``; with ``loss='quantile'`` and a sequence of quantiles,
        their last axis too) and, for ``loss='gaussian_nll'``, ``"std"`` for a
        regressor. A regressor fitted with ``loss='quantile'`` and
        ``quantile=None`` has a third output, ``"quantiles"``: every fitted
        quantile (``quantiles_``), along a last axis, from which the bounds
        of ``predict_interval`` are taken. Its inputs:

        - a model without categorical features: one input ``"X"`` of shape
          (N, n_features), float; NaN marks a missing value, replaced by the
          feature's median in fit (with its missing indicator), as ``predict``
          does;
        - a model with categorical features: one input per column, of shape
          (N, 1), named after the column (``feature_names_in_``, or ``"x0"``,
          ``"x1"``, ... for a model fitted on an array). A numeric column is
          float (NaN: missing); a categorical column is a string, int64 or
          float input as its categories in fit are strings, integers (or
          booleans, as 0 and 1) or floats. A category unseen in fit maps to
          the code of missing values, as in ``predict``: pass a missing
          category as any value not seen in fit (an empty string, -1, NaN).

    Raises
    ------
    ValueError
        If the network holds a layer that cannot be exported (a ``module=``
        network that ``torch.onnx.export`` cannot trace), or a categorical
        feature's categories mix strings and numbers; the message says which
        and why.

    See Also
    --------
    save : Save the estimator itself, to continue training or to load in Python.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import make_classification
    >>> from sk_mlp import TorchMLPClassifier, to_onnx
    >>> X, y = make_classification(n_samples=100, random_state=0)
    >>> X = X.astype(np.float32)
    >>> clf = TorchMLPClassifier((8,), random_state=0).fit(X, y)
    >>> model = to_onnx(clf, X[:1])
    >>> session = ort.InferenceSession(model.SerializeToString())
    >>> label, proba = session.run(None, {"X": X[:3]})
    >>> bool((label == clf.predict(X[:3])).all())
    True

    A model fitted on a data frame with a categorical column takes one input
    per column:

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"size": X[:, 0], "colour": np.where(y, "red", "blue")})
    >>> frame.loc[::7, "size"] = np.nan
    >>> clf = TorchMLPClassifier((8,), random_state=0).fit(frame, y)
    >>> session = ort.InferenceSession(to_onnx(clf, frame[:1]).SerializeToString())
    >>> [(i.name, i.type) for i in session.get_inputs()]
    [('size', 'tensor(float)'), ('colour', 'tensor(string)')]
    >>> label, proba = session.run(None, {
    ...     "size": frame[["size"]].to_numpy(np.float32),
    ...     "colour": frame[["colour"]].to_numpy(str),
    ... })
    >>> bool((label == clf.predict(frame)).all())
    True
    """
    if target_opset is not None and target_opset < MIN_OPSET:
        raise ValueError(f"target_opset must be at least {MIN_OPSET}, got {target_opset}.")
    if not isinstance(estimator, estimator_class("base")):
        return convert_with_skl2onnx(estimator, X_sample, target_opset)
    return estimator_model(estimator, _sample_dtype(estimator, X_sample), target_opset, X_sample)


def _sample_dtype(estimator, X_sample):
    """float64 if the float features of ``X_sample`` are float64, else float32."""
    if X_sample is None:
        return np.float32
    if is_data_frame(X_sample):
        encoder = getattr(estimator, "_tabular", None)
        numeric = np.ones(X_sample.shape[1], dtype=bool)
        if encoder is not None and len(encoder.is_categorical_) == len(numeric):
            numeric = ~encoder.is_categorical_
        floats = {d for d in X_sample.dtypes[numeric] if d in (np.float32, np.float64)}
        return np.float64 if floats == {np.dtype(np.float64)} else np.float32
    dtype = getattr(np.asarray(X_sample), "dtype", None)
    return np.float64 if dtype == np.float64 else np.float32
