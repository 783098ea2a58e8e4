"""sk_mlp.load runs no code from the file: crafted and malformed files are refused."""

import base64
import importlib
import json
import pathlib
import pickle
import sys
import warnings

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from sklearn.exceptions import ConvergenceWarning

from sk_mlp import TorchMLPClassifier, load, save


class Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def small_network(n_features, n_outputs):
    return torch.nn.Sequential(torch.nn.Linear(n_features, 3), torch.nn.Linear(3, n_outputs))


@pytest.fixture
def saved(binary_data, tmp_path):
    """Path of a saved classifier with string labels."""
    X, y = binary_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = TorchMLPClassifier((4,), max_iter=2, random_state=0).fit(X, np.array(["a", "b"])[y])
    path = tmp_path / "model.safetensors"
    save(clf, path)
    return path


def _edit_header(path, edit):
    """Rewrite the file's JSON header with ``edit(header)``; keep the tensors."""
    with safe_open(path, framework="pt") as f:
        tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
        header = json.loads(f.metadata()["sk_mlp"])
    edit(header)
    save_file(tensors, path, metadata={"sk_mlp": json.dumps(header)})


def _attributes(header):
    return header["estimator"]["attributes"]


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickle_payload_is_refused_without_running(writer, tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "model.safetensors"
    if writer == "pickle":
        path.write_bytes(pickle.dumps(Payload(marker)))
    else:
        torch.save(Payload(marker), path)
    with pytest.raises(ValueError, match="is not a safetensors file"):
        load(path)
    assert not marker.exists()


def test_pickle_payload_in_the_header_is_refused_without_running(saved, tmp_path):
    marker = tmp_path / "code-ran"
    data = base64.b64encode(pickle.dumps(Payload(marker))).decode()
    _edit_header(saved, lambda h: _attributes(h).update(alpha={"$type": "pickle", "data": data}))
    with pytest.raises(ValueError, match=r"estimator\['alpha'\]: type 'pickle' is not one"):
        load(saved)
    assert not marker.exists()


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda h: h["estimator"].update({"class": "subprocess.Popen"}),
            "class 'subprocess.Popen' is not an sk_mlp estimator",
        ),
        (
            lambda h: _attributes(h)["_label_binarizer"].update({"class": "builtins.eval"}),
            "class 'builtins.eval' is not one sk_mlp files may hold",
        ),
        (
            lambda h: _attributes(h)["_loss"].update({"class": "os.system"}),
            "class 'os.system' is not one sk_mlp files may hold",
        ),
        (
            lambda h: _attributes(h)["module_"]["tree"].update({"class": "torch.nn.Module"}),
            "layer 'torch.nn.Module' is not one sk_mlp files may hold",
        ),
        (
            lambda h: _attributes(h).update(
                module={"$type": "sk_mlp.module_param", "name": "os.system"}
            ),
            r"module=os.system, a callable that the file does not contain",
        ),
    ],
    ids=["estimator", "sklearn-object", "loss", "layer", "module-callable"],
)
def test_names_not_on_the_allow_lists_are_refused(saved, monkeypatch, edit, message):
    def forbidden(*args, **kwargs):
        raise AssertionError("load called code named by the file")

    monkeypatch.setattr("os.system", forbidden)
    monkeypatch.setattr("subprocess.Popen", forbidden)
    _edit_header(saved, edit)
    with pytest.raises(ValueError, match=message):
        load(saved)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda h: h.update(format_version=99), "format version 99, written by a newer sk_mlp"),
        (lambda h: h.update(format_version="1"), "no valid format_version"),
        (lambda h: h.pop("versions"), "the header has fields"),
        (lambda h: h.update(format="pickle"), "header is malformed"),
        (lambda h: _attributes(h).update(alpha={"$type": "float", "value": "1e999"}), "non-finite"),
        (lambda h: _attributes(h).update(alpha={"$type": "tuple"}), "a 'tuple' node has fields"),
        (
            lambda h: _attributes(h)["classes_"].update(dtype="V8"),
            "'V8' is not an allowed numpy dtype",
        ),
        (
            lambda h: _attributes(h).update(
                coefs={"$type": "numpy.ndarray", "dtype": "<f4", "tensor": "nope"}
            ),
            "names a tensor 'nope' that the file does not contain",
        ),
        (
            lambda h: _attributes(h).update(
                x={"$type": "numpy.ndarray", "dtype": "|O", "shape": [5], "values": [1]}
            ),
            "does not fit 1 values",
        ),
        (
            lambda h: _attributes(h).pop("_optimizer_state"),
            "holds tensors the header does not use",
        ),
        (
            lambda h: _attributes(h)["module_"]["tree"]["children"][0][1]["args"]["value"].update(
                n_features=3
            ),
            "saved weights do not fit the network",
        ),
        (
            lambda h: _attributes(h)["module_"]["tree"]["children"][0].__setitem__(0, "training"),
            r"malformed children of torch.nn.Sequential: .*'training' already exists",
        ),
    ],
    ids=[
        "future-version",
        "version-type",
        "missing-field",
        "format-name",
        "float",
        "node-fields",
        "dtype",
        "tensor-name",
        "shape",
        "extra-tensor",
        "weights",
        "child-name",
    ],
)
def test_malformed_headers_are_refused_with_a_clear_error(saved, edit, message):
    _edit_header(saved, edit)
    with pytest.raises(ValueError, match=message):
        load(saved)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        ('{"format": NaN}', "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ("[1, 2]", "header is malformed"),
    ],
    ids=["syntax", "nan", "deep", "array"],
)
def test_header_that_is_not_an_sk_mlp_document_is_refused(tmp_path, text, message):
    path = tmp_path / "model.safetensors"
    save_file({}, path, metadata={"sk_mlp": text})
    with pytest.raises(ValueError, match=message):
        load(path)


def test_safetensors_file_from_elsewhere_is_refused(tmp_path):
    path = tmp_path / "weights.safetensors"
    save_file({"weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="without an sk_mlp header"):
        load(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.safetensors")


def test_load_never_uses_pickle_or_imports(binary_data, tmp_path, monkeypatch):
    X, y = binary_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        own = TorchMLPClassifier((4,), max_iter=2, random_state=0).fit(X, y)
        custom = TorchMLPClassifier(module=small_network, max_iter=2, random_state=0).fit(X, y)
    save(own, tmp_path / "own.safetensors")
    save(custom, tmp_path / "custom.safetensors")

    def forbidden(*args, **kwargs):
        raise AssertionError("load used pickle or imported a module")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(importlib, "import_module", forbidden)
    restored = load(tmp_path / "own.safetensors")
    restored_custom = load(tmp_path / "custom.safetensors", module=small_network)
    monkeypatch.undo()
    np.testing.assert_array_equal(restored.predict_proba(X), own.predict_proba(X))
    np.testing.assert_array_equal(restored_custom.predict_proba(X), custom.predict_proba(X))


def test_missing_safetensors_names_the_pip_install(saved, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(ImportError, match="pip install safetensors") as raised:
        load(saved)
    # sk_mlp is not on the package index: extras are named for a checkout
    assert "sk_mlp[" not in str(raised.value) and "pip install -e '.[safe]'" in str(raised.value)


# ------------------------------------------------ sizes declared by a hostile header
def _frame_model_file(tmp_path):
    import pandas as pd

    X = pd.DataFrame({"a": np.arange(40.0), "c": list("xyz") * 13 + ["x"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = TorchMLPClassifier((4,), max_iter=2, random_state=0).fit(X, np.arange(40) % 2)
    path = tmp_path / "model.safetensors"
    save(clf, path)
    return path


def _layers(node):
    """Every layer entry of a module node's tree, depth first."""
    stack = [node["tree"]]
    while stack:
        layer = stack.pop()
        yield layer
        stack.extend(child for _, child in layer.get("children", []))


def _inflate_linear(header):
    module = _attributes(header)["module_"]
    linear = next(n for n in _layers(module) if n["class"] == "torch.nn.Linear")
    linear["args"]["value"].update(in_features=12_000, out_features=12_000)


def _inflate_categories(header):
    module = _attributes(header)["module_"]
    tabular = next(n for n in _layers(module) if n["class"] == "sk_mlp.TabularInput")
    tabular["args"]["value"]["cardinalities"] = [4_000_000]


def _inflate_string(header):
    _attributes(header)["alpha"] = {"$type": "numpy.scalar", "dtype": "<U60000000", "value": "a"}


# Loads the file in a fresh interpreter, after an honest file (which imports
# what loading needs): the growth of its peak memory (VmHWM) is that load's.
_PEAK_OF_LOAD = """
import sys
import sk_mlp

sk_mlp.load(sys.argv[1])


def rss(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) * 1024


before = rss("VmRSS:")
try:
    sk_mlp.load(sys.argv[2])
    print("loaded", rss("VmHWM:") - before)
except ValueError as exc:
    print("ValueError", rss("VmHWM:") - before, exc)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("inflate", [_inflate_linear, _inflate_categories, _inflate_string])
def test_sizes_a_header_declares_are_checked_before_anything_is_allocated(inflate, tmp_path):
    import subprocess

    path = _frame_model_file(tmp_path)
    honest = tmp_path / "honest.safetensors"
    honest.write_bytes(path.read_bytes())
    _edit_header(path, inflate)
    assert path.stat().st_size < 20_000
    run = subprocess.run(
        [sys.executable, "-c", _PEAK_OF_LOAD, str(honest), str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    outcome, grown, *message = run.stdout.split(maxsplit=2)
    assert outcome == "ValueError", run.stdout
    # 20 MB: far below what the declared sizes take (200 to 580 MB), far above
    # the file's own size and the decoder's bookkeeping.
    assert int(grown) < 20 * 2**20, message


def test_deeply_nested_header_is_a_value_error(saved):
    nested = "leaf"
    for _ in range(900):
        nested = [nested]
    # json parses this depth; decoding it recursively would not.
    _edit_header(saved, lambda h: _attributes(h).update(alpha=nested))
    with pytest.raises(ValueError, match="nested more than"):
        load(saved)
    deep_dict = {"$type": "dict", "value": {}}
    for _ in range(450):  # two JSON levels each
        deep_dict = {"$type": "dict", "value": {"k": deep_dict}}
    _edit_header(saved, lambda h: _attributes(h).update(alpha=deep_dict))
    with pytest.raises(ValueError, match="nested more than"):
        load(saved)


class Recorder:
    """A class a file might name: building one records it."""

    built = []

    def __new__(cls, *args, **kwargs):
        Recorder.built.append(cls)
        return super().__new__(cls)


@pytest.mark.parametrize(
    "name",
    [
        f"{__name__}.Recorder",
        "sklearn.preprocessing.PolynomialFeatures",  # a plain data holder, yet not listed
        "subprocess.Popen",
    ],
)
def test_importable_classes_not_on_the_allow_list_are_refused(saved, monkeypatch, name):
    # Classes, not functions: an allow-list that falls back on importing
    # what the file names would build these without an error.
    monkeypatch.setattr(Recorder, "built", [])
    _edit_header(saved, lambda h: _attributes(h)["_label_binarizer"].update({"class": name}))
    with pytest.raises(ValueError, match=f"class '{name}' is not one sk_mlp files may hold"):
        load(saved)
    assert Recorder.built == []
