"""Safe save and load: tensors in safetensors, everything else in a JSON header.

A file is one safetensors file. Its string metadata holds, under the key
``"sk_mlp"``, a JSON document: the format version, the library versions that
wrote it, and the estimator's attributes encoded as JSON nodes. Every value
that is not plain JSON is a node ``{"$type": ..., ...}``; numeric arrays and
tensors are stored as safetensors tensors that the nodes name. Loading builds
objects only from the allow-lists below (types, classes, torch layers): a name
in the file is looked up in those dicts, never imported, and nothing is
unpickled. An attribute whose type is not on an allow-list cannot be saved:
``save`` raises, naming it, rather than dropping it.

The pickle hooks at the end record library versions in pickles and warn when
they differ on load; the estimators' ``__getstate__``/``__setstate__`` call them.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import secrets
import warnings

import numpy as np
import sklearn
import torch
from sklearn.base import is_classifier
from sklearn.utils import check_random_state

from .. import _version
from .._engine.array_space import to_host
from .._engine.network import architecture
from .._nn.device import available_devices, resolve_device
from .._nn.mlp import RobustInput
from .._preprocessing.frame import MAX_ONEHOT_CATEGORIES, TabularEncoder
from .codec import Decoder, Encoder
from .estimator_types import estimator_classes

# 1: the first format. 2: adds the frame stage (an sk_mlp.TabularEncoder, the
# layers sk_mlp.TabularInput, torch.nn.Embedding and torch.nn.ModuleList),
# which a reader of version 1 would refuse. Files of version 1 still load:
# fitted_state_defaults fills in what they lack.
FORMAT_VERSION = 2
_HEADER_KEY = "sk_mlp"
_PICKLE_VERSIONS_KEY = "_sk_mlp_versions"


class InconsistentVersionWarning(UserWarning):
    """Warning raised when a model is loaded with other library versions than
    the ones that saved it.

    A model saved with one version of sk_mlp, PyTorch, scikit-learn or NumPy
    and loaded with another may predict differently or fail; refit it with the
    versions installed, or install the versions that saved it.

    Attributes
    ----------
    estimator_name : str
        Class name of the loaded estimator.

    original_versions : dict
        Library name to the version that saved the model.

    current_versions : dict
        Library name to the version installed now, for the libraries whose
        versions differ.
    """

    def __init__(self, *, estimator_name, original_versions, current_versions):
        self.estimator_name = estimator_name
        self.original_versions = original_versions
        self.current_versions = current_versions

    def __str__(self):
        changes = ", ".join(
            f"{name} {self.original_versions[name]} -> {self.current_versions[name]}"
            for name in self.current_versions
        )
        return (
            f"This {self.estimator_name} was saved with other library versions than "
            f"the ones installed ({changes}). It may predict differently or fail; "
            "refit it, or load it with the versions that saved it."
        )


def _library_versions(names=("sk_mlp", "torch", "scikit-learn", "numpy")) -> dict:
    known = {
        "sk_mlp": _version.__version__,  # read now: tests set another
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
    }
    return {name: known[name] for name in names}


def _warn_on_version_change(saved: dict, estimator_name: str, stacklevel: int) -> None:
    current = _library_versions(tuple(name for name in saved if name in _library_versions()))
    changed = {name: version for name, version in current.items() if saved[name] != version}
    if changed:
        warnings.warn(
            InconsistentVersionWarning(
                estimator_name=estimator_name,
                original_versions={name: saved[name] for name in changed},
                current_versions=changed,
            ),
            stacklevel=stacklevel + 1,
        )


# ------------------------------------------------------------------ public API
def _import_safetensors():
    try:
        import safetensors
        import safetensors.torch
    except ImportError as exc:
        raise ImportError(
            "sk_mlp.save and sk_mlp.load need the safetensors package; install it "
            "with `pip install safetensors` (or, in a checkout of sk_mlp, "
            "`pip install -e '.[safe]'`)."
        ) from exc
    return safetensors


def _qualified_name(function) -> str:
    module = getattr(function, "__module__", None) or "?"
    return f"{module}.{getattr(function, '__qualname__', type(function).__qualname__)}"


def save(estimator, path) -> None:
    """Save a fitted (or unfitted) sk_mlp estimator to a file that loads safely.

    The file is a `safetensors <https://huggingface.co/docs/safetensors>`_
    file: the network weights, the optimizer state and the other numeric
    arrays are tensors, and everything else (parameters, class labels, target
    scaling, training history, library versions) is JSON in its metadata.
    Loading it runs no code from the file; see :func:`load`.

    Parameters
    ----------
    estimator : TorchMLPClassifier or TorchMLPRegressor
        The estimator to save.

    path : str or path-like
        The file to write (conventionally ``*.safetensors``). An existing file
        is replaced only once the new one is complete on the disk: a save that
        fails leaves it as it was.

    Raises
    ------
    TypeError
        If an attribute of the estimator holds a type that the format cannot
        store; the message names the attribute.

    See Also
    --------
    load : Load an estimator saved by this function.
    to_onnx : Export the estimator's predictions as an ONNX graph.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import make_classification
    >>> from sk_mlp import TorchMLPClassifier, load, save
    >>> X, y = make_classification(n_samples=100, random_state=0)
    >>> clf = TorchMLPClassifier((8,), random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> save(clf, path)
    >>> restored = load(path)
    >>> bool((restored.predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    classes = estimator_classes()
    if type(estimator).__name__ not in classes or type(estimator) is not classes.get(
        type(estimator).__name__
    ):
        raise TypeError(
            f"sk_mlp.save takes a TorchMLPClassifier or TorchMLPRegressor, got "
            f"{type(estimator).__name__}. Save pipelines with pickle or skops.io, or "
            "export them with sk_mlp.to_onnx."
        )
    safetensors = _import_safetensors()
    encoder = Encoder(estimator)
    attributes = {}
    for name, value in vars(estimator).items():
        if name == "module" and value is not None:
            attributes[name] = {"$type": "sk_mlp.module_param", "name": _qualified_name(value)}
        else:  # arrays of other libraries (fitted under array API dispatch) as NumPy
            attributes[name] = encoder.encode(to_host(value), name)
    header = {
        "format": "sk_mlp",
        "format_version": FORMAT_VERSION,
        "versions": _library_versions(),
        "estimator": {"class": type(estimator).__name__, "attributes": attributes},
    }
    text = json.dumps(header, allow_nan=False, separators=(",", ":"))
    _write_atomically(
        path,
        lambda temporary: safetensors.torch.save_file(
            encoder.tensors, temporary, metadata={_HEADER_KEY: text}
        ),
    )


def _write_atomically(path, write) -> None:
    """Call ``write(name)`` to write a new file, then put it at ``path``.

    The file is written under a temporary name in the folder of ``path`` (the
    same file system), flushed to the disk, then renamed over ``path``: a save
    that fails, or a machine that stops, leaves the previous file whole
    (some safetensors versions truncate the file they write first).
    """
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    temporary = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never another's file; mode 0o666: the umask applies, as for open().
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(temporary)
        with open(temporary, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    _sync_folder(folder)


def _sync_folder(folder: str) -> None:
    """Flush the folder's entry for a renamed file, where the system allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read(path):
    """The file's JSON header and its tensors (on the CPU)."""
    safetensors = _import_safetensors()
    try:
        with safetensors.safe_open(os.fspath(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
    except safetensors.SafetensorError as exc:
        raise ValueError(
            f"{path!s} is not a safetensors file ({exc}); sk_mlp.load reads only "
            "files written by sk_mlp.save."
        ) from exc
    if _HEADER_KEY not in metadata:
        raise ValueError(
            f"{path!s} is a safetensors file without an sk_mlp header; it was not "
            "written by sk_mlp.save."
        )
    try:
        header = json.loads(metadata[_HEADER_KEY], parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path!s}: the sk_mlp header is not valid JSON ({exc}).") from exc
    if _depth(header) > _MAX_DEPTH:
        # The decoder recurses into nested values: refuse what would exhaust the stack.
        raise ValueError(
            f"{path!s}: the sk_mlp header is nested more than {_MAX_DEPTH} levels deep; "
            "sk_mlp.save never writes such a file."
        )
    if type(header) is not dict or header.get("format") != "sk_mlp":
        raise ValueError(f"{path!s}: the sk_mlp header is malformed.")
    version = header.get("format_version")
    if type(version) is not int or version < 1:
        raise ValueError(f"{path!s}: the header has no valid format_version.")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path!s} has format version {version}, written by a newer sk_mlp; this "
            f"sk_mlp reads versions up to {FORMAT_VERSION}. Upgrade sk_mlp to load it."
        )
    if set(header) != {"format", "format_version", "versions", "estimator"}:
        raise ValueError(f"{path!s}: the header has fields {sorted(header)}.")
    return header, tensors


# Files sk_mlp writes nest to about 20 levels (the deepest: layers in layers).
_MAX_DEPTH = 100


def _depth(value) -> int:
    """How deeply JSON lists and objects nest in ``value``, found without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (list, dict)):
            deepest = max(deepest, depth)
            if deepest > _MAX_DEPTH:
                break
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return deepest


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def load(path, *, device=None, module=None):
    """Load an estimator saved by :func:`save`, without running code from the file.

    Only the types on sk_mlp's allow-lists are built (numbers, strings,
    arrays, tensors, the torch layers sk_mlp's networks use, sk_mlp's losses
    and frame stage, and a few scikit-learn label encoders); names in the file are looked up
    in those lists, never imported, and nothing is unpickled. A file naming
    anything else is refused with a ``ValueError``.

    Parameters
    ----------
    path : str or path-like
        The file written by :func:`save`.

    device : str, torch.device or None, default=None
        Where the loaded model predicts and trains: sets both the ``device``
        parameter and the fitted ``device_``. ``None`` keeps the device the
        model was fitted on where it exists here, and otherwise uses the CPU
        with a warning (as unpickling does).

    module : callable, torch.nn.Module or None, default=None
        For a model fitted with ``module=``: the same callable (or module),
        which the file does not store. A callable is called as
        ``module(n_inputs, n_outputs)``, as in fit, to build the network (a
        module is copied), whose weights are then loaded from the file.

    Returns
    -------
    estimator : TorchMLPClassifier or TorchMLPRegressor
        The estimator, fitted as it was saved (network, optimizer state and
        training history included), so ``partial_fit`` and ``warm_start``
        continue as they would have on the original.

    Warns
    -----
    InconsistentVersionWarning
        If sk_mlp, PyTorch, scikit-learn or NumPy have other versions than
        when the file was saved.

    See Also
    --------
    save : Save an estimator to such a file.
    """
    header, tensors = _read(path)
    estimator_node = header["estimator"]
    if type(estimator_node) is not dict or set(estimator_node) != {"class", "attributes"}:
        raise ValueError(f"{path!s}: the header's estimator entry is malformed.")
    cls = (
        estimator_classes().get(estimator_node["class"])
        if isinstance(estimator_node["class"], str)
        else None
    )
    if cls is None:
        raise ValueError(f"{path!s}: class {estimator_node['class']!r} is not an sk_mlp estimator.")
    versions = header["versions"]
    if type(versions) is not dict or not all(type(v) is str for v in versions.values()):
        raise ValueError(f"{path!s}: the header's versions entry is malformed.")
    decoder = Decoder(tensors, module)
    attributes = decoder.decode(
        {"$type": "dict", "value": estimator_node["attributes"]}, "estimator"
    )
    if module is not None and attributes.get("module") is None:
        raise ValueError(
            "module= was given, but this model was fitted with sk_mlp's own network "
            "(module=None); load it without module=."
        )
    unused = set(tensors) - decoder.used
    if unused:
        raise ValueError(
            f"{path!s}: the file holds tensors the header does not use: {sorted(unused)[:5]}."
        )
    _warn_on_version_change(versions, cls.__name__, stacklevel=2)
    estimator = cls.__new__(cls)
    estimator.__dict__.update({**attributes, **parameter_defaults(cls, missing_from=attributes)})
    fitted_state_defaults(estimator)
    _place(estimator, device)
    return estimator


def _place(estimator, device) -> None:
    """Move a loaded estimator's network to ``device`` (see :func:`load`)."""
    if device is not None:
        resolved = resolve_device(str(device) if isinstance(device, torch.device) else device)
        estimator.device = device
    elif "device_" in vars(estimator) and estimator.device_ in available_devices():
        resolved = torch.device(estimator.device_)
    elif "device_" in vars(estimator):
        warnings.warn(
            f"This model was fitted on {estimator.device_!r}, which is not available here; "
            "it was loaded on 'cpu' and predicts there. Pass device= to choose.",
            UserWarning,
            stacklevel=3,
        )
        resolved = torch.device("cpu")
    else:
        return
    if "module_" in vars(estimator):
        estimator.module_.to(resolved)
        estimator.device_ = str(resolved)


def parameter_defaults(cls, missing_from: dict) -> dict:
    """The defaults of ``cls``'s parameters that ``missing_from`` lacks: what a
    model saved or pickled before a parameter existed takes for it."""
    parameters = inspect.signature(cls.__init__).parameters
    names = [name for name in cls._get_param_names() if name not in missing_from]
    return {name: parameters[name].default for name in names}


def fitted_state_defaults(estimator) -> None:
    """Give a fitted model saved or pickled by an earlier sk_mlp the private
    state that sk_mlp has added since, with the values that keep its behaviour.

    - ``_tabular`` and ``is_categorical_`` (the frame stage): the numeric
      stage of a model fitted on numbers, which passes finite numbers through
      unchanged, as then. A missing value (which such a model refused) is
      imputed with the centre of the model's robust input scaling, the median
      seen in fit; a model without that scaling (``preprocessing=None``) gets
      no frame stage and still refuses missing values;
    - ``_fitted_architecture``: the architecture of its parameters, so that a
      warm start or ``partial_fit`` continues the model;
    - ``_random_seed`` and ``_n_calls``: the seed stream a fit with its
      ``random_state`` starts, after one call;
    - ``_no_improvement_count``: 0, so that ``partial_fit`` judges improvement
      afresh, as it then did;
    - ``_n_epochs``: the epochs of every call so far, which its ``n_iter_``
      then counted;
    - ``temperature_`` (classifiers): 1, the probabilities of the network as
      they were.
    """
    state = vars(estimator)
    if "module_" not in state:  # not fitted: nothing to fill in
        return
    if "_tabular" not in state:
        state["_tabular"] = _numeric_frame_stage(estimator)
        state["is_categorical_"] = None
    if "_fitted_architecture" not in state:
        state["_fitted_architecture"] = architecture(estimator)
    if "_random_seed" not in state:
        random_state = check_random_state(estimator.random_state)
        state["_random_seed"] = int(random_state.randint(np.iinfo(np.int32).max))
        state["_n_calls"] = 1
    state.setdefault("_no_improvement_count", 0)
    state.setdefault("_n_epochs", estimator.n_iter_)
    if is_classifier(estimator):
        state.setdefault("temperature_", 1.0)


def _numeric_frame_stage(estimator) -> TabularEncoder | None:
    """The frame stage a model fitted on ``n_features_in_`` numeric features
    would have, with the medians its :class:`~sk_mlp._nn.mlp.RobustInput`
    centres on; None if its network does not start with one."""
    network = estimator.module_
    layer = network[0] if isinstance(network, torch.nn.Sequential) and len(network) else None
    n_features = estimator.n_features_in_
    if not isinstance(layer, RobustInput) or layer.shift.shape != (n_features,):
        return None
    shift, inv_scale = (t.detach().cpu().double().numpy() for t in (layer.shift, layer.inv_scale))
    encoder = TabularEncoder(
        estimator.categorical_features, max_onehot_categories=MAX_ONEHOT_CATEGORIES
    )
    encoder.n_features_in_ = n_features
    if hasattr(estimator, "feature_names_in_"):
        encoder.feature_names_in_ = estimator.feature_names_in_
    encoder.kinds_ = ["numeric"] * n_features
    encoder.is_categorical_ = np.zeros(n_features, dtype=bool)
    encoder.medians_ = -shift / inv_scale
    encoder.numeric_missing_ = np.zeros(n_features, dtype=bool)
    encoder.categories_ = []
    encoder.categorical_missing_ = np.zeros(0, dtype=bool)
    return encoder


# ---------------------------------------------------------------- pickle hooks
def record_versions(state: dict) -> dict:
    """Add the sk_mlp and torch versions to an estimator's pickle state.

    Called by ``BaseTorchMLP.__getstate__``; :func:`check_versions` reads them.
    """
    state[_PICKLE_VERSIONS_KEY] = _library_versions(("sk_mlp", "torch"))
    return state


def check_versions(state: dict, estimator_name: str) -> None:
    """Remove the versions :func:`record_versions` stored from ``state`` and warn
    with :class:`InconsistentVersionWarning` if they differ from the installed ones.

    Called by ``BaseTorchMLP.__setstate__`` before the state is applied.
    Pickles written before versions were recorded load without a warning.
    (scikit-learn's own ``__setstate__`` checks the scikit-learn version.)
    """
    saved = state.pop(_PICKLE_VERSIONS_KEY, None)
    if isinstance(saved, dict):
        # stacklevel: check_versions <- __setstate__ <- pickle's loads
        _warn_on_version_change(saved, estimator_name, stacklevel=3)
