"""The estimator classes that input/output dispatches on: the safe format
rebuilds them by name, ONNX export and the skl2onnx converters tell a
classifier from a regressor by them.

The estimators register themselves here when :mod:`sk_mlp._estimators` is
imported (the package's ``__init__`` does), so that input/output, which the
estimators import to save, load and export, never imports them back.
"""

from __future__ import annotations

_ROLES = ("base", "classifier", "regressor")
_CLASSES: dict[str, type] = {}


def register_estimator(role: str, cls: type) -> type:
    """Record ``cls`` as the estimators' ``role``: ``'base'`` (the class every
    sk_mlp estimator derives from), ``'classifier'`` or ``'regressor'``."""
    if role not in _ROLES:
        raise ValueError(f"role must be one of {_ROLES}, got {role!r}.")
    _CLASSES[role] = cls
    return cls


def estimator_class(role: str) -> type:
    """The class registered for ``role`` (see :func:`register_estimator`)."""
    try:
        return _CLASSES[role]
    except KeyError:
        raise RuntimeError(
            f"No sk_mlp {role} class is registered: import sk_mlp (its __init__ "
            "imports the estimators, which register themselves)."
        ) from None


def estimator_classes() -> dict[str, type]:
    """The estimators a saved file may name, by class name."""
    return {cls.__name__: cls for cls in map(estimator_class, ("classifier", "regressor"))}
