"""The encoder and decoder of sk_mlp's safe file format: allow-lists only.

Every value that is not plain JSON becomes a node ``{"$type": ..., ...}``;
numeric arrays and tensors go to safetensors, named by their path in the
estimator. The decoder builds only the types in the tables below: a name in a
file is looked up in these dicts, never imported.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.preprocessing import (
    LabelBinarizer,
    LabelEncoder,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)

from .._nn import losses
from .._preprocessing.frame import TabularEncoder
from .layer_tree import decode_module, encode_module

# ----------------------------------------------------------------- allow-lists
# Classes rebuilt from their encoded ``__dict__``, by a name fixed here. Only
# plain data holders belong here: fitted scikit-learn transformers whose state
# is arrays and numbers, sk_mlp's frame stage (arrays, lists of Python scalars
# and strings) and sk_mlp's losses.
_TRUSTED_CLASSES = {
    "sklearn.preprocessing.LabelBinarizer": LabelBinarizer,
    "sklearn.preprocessing.LabelEncoder": LabelEncoder,
    "sklearn.preprocessing.OrdinalEncoder": OrdinalEncoder,
    "sklearn.preprocessing.OneHotEncoder": OneHotEncoder,
    "sklearn.preprocessing.StandardScaler": StandardScaler,
    "sklearn.impute.SimpleImputer": SimpleImputer,
    "sklearn.impute.MissingIndicator": MissingIndicator,
    "sk_mlp.TabularEncoder": TabularEncoder,
    **{
        f"sk_mlp.losses.{cls.__name__}": cls
        for cls in (
            losses.SquaredError,
            losses.Poisson,
            losses.GaussianNLL,
            losses.Pinball,
            losses.BinaryLogLoss,
            losses.MulticlassLogLoss,
        )
    },
}
_TRUSTED_NAMES = {cls: name for name, cls in _TRUSTED_CLASSES.items()}

_BIT_GENERATORS = {
    cls.__name__: cls
    for cls in (
        np.random.PCG64,
        np.random.PCG64DXSM,
        np.random.MT19937,
        np.random.Philox,
        np.random.SFC64,
    )
}
_TORCH_DTYPES = {
    str(dtype).removeprefix("torch."): dtype
    for dtype in (
        torch.bool,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
    )
}
# numpy dtypes by their ``dtype.str``: booleans, integers, floats, unicode, and
# object arrays whose elements are themselves encodable values.
_NUMPY_DTYPE = re.compile(r"[<>|=]?(b1|[iuf][1248]|U\d+|O)")
_TENSOR_KINDS = "biuf"


def _check_dtype(text, path: str) -> np.dtype:
    if not isinstance(text, str) or not _NUMPY_DTYPE.fullmatch(text):
        raise ValueError(f"{path}: {text!r} is not an allowed numpy dtype.")
    return np.dtype(text)


# -------------------------------------------------------------------- encoding
class Encoder:
    """Turns a value into a JSON node, collecting tensors in ``self.tensors``."""

    def __init__(self, estimator):
        self.estimator = estimator
        self.tensors: dict[str, torch.Tensor] = {}

    def tensor(self, value: torch.Tensor, path: str) -> str:
        """Store a tensor under a name made from its path; return the name."""
        if value.layout != torch.strided or value.is_complex():
            raise TypeError(f"Cannot save {path}: only dense real tensors are supported.")
        key, n = path, 1
        while key in self.tensors:
            key, n = f"{path}#{n}", n + 1
        # A copy on the host: safetensors refuses tensors that share memory.
        self.tensors[key] = value.detach().to("cpu", copy=True).contiguous()
        return key

    def encode(self, value, path: str):
        kind = type(value)
        if value is None or kind in (bool, int, str):
            return value
        if kind is float:
            return value if math.isfinite(value) else {"$type": "float", "value": repr(value)}
        if kind is list:
            return [self.encode(item, f"{path}[{i}]") for i, item in enumerate(value)]
        if kind is tuple:
            items = [self.encode(item, f"{path}[{i}]") for i, item in enumerate(value)]
            return {"$type": "tuple", "items": items}
        if kind is dict:
            return self.encode_dict(value, path)
        if kind is np.ndarray:
            return self.encode_array(value, path)
        if isinstance(value, np.generic) and value.dtype.kind in "biufU":
            return {
                "$type": "numpy.scalar",
                "dtype": value.dtype.str,
                "value": self.encode(value.item(), path),
            }
        if isinstance(value, np.dtype) and _NUMPY_DTYPE.fullmatch(value.str):
            return {"$type": "numpy.dtype", "value": value.str}
        if kind is torch.Tensor or kind is torch.nn.Parameter:
            return {"$type": "torch.Tensor", "tensor": self.tensor(value, path)}
        if kind is torch.dtype and str(value).removeprefix("torch.") in _TORCH_DTYPES:
            return {"$type": "torch.dtype", "value": str(value).removeprefix("torch.")}
        if kind is torch.device:
            return {"$type": "torch.device", "value": str(value)}
        if isinstance(value, torch.nn.Module):
            return encode_module(self, value, path)
        if kind in _TRUSTED_NAMES:
            attributes = {
                key: self.encode(item, f"{path}.{key}") for key, item in vars(value).items()
            }
            return {"$type": "object", "class": _TRUSTED_NAMES[kind], "attributes": attributes}
        return self.encode_random_state(value, path)

    def encode_dict(self, value: dict, path: str):
        if all(type(key) is str for key in value):
            items = {key: self.encode(item, f"{path}[{key!r}]") for key, item in value.items()}
            return {"$type": "dict", "value": items}
        pairs = [
            [self.encode(key, f"{path} key {key!r}"), self.encode(item, f"{path}[{key!r}]")]
            for key, item in value.items()
        ]
        return {"$type": "dict", "items": pairs}

    def encode_array(self, value: np.ndarray, path: str):
        dtype = value.dtype
        if dtype.kind in _TENSOR_KINDS and _NUMPY_DTYPE.fullmatch(dtype.str):
            native = np.ascontiguousarray(value, dtype=dtype.newbyteorder("="))
            key = self.tensor(torch.from_numpy(native), path)
            return {"$type": "numpy.ndarray", "dtype": native.dtype.str, "tensor": key}
        if dtype.kind in "UO":
            items = value.ravel().tolist()  # Python str for unicode arrays
            values = [self.encode(item, f"{path}[{i}]") for i, item in enumerate(items)]
            return {
                "$type": "numpy.ndarray",
                "dtype": "|O" if dtype.kind == "O" else dtype.str,
                "shape": list(value.shape),
                "values": values,
            }
        raise TypeError(f"Cannot save {path}: numpy arrays of dtype {dtype} are not supported.")

    def encode_random_state(self, value, path: str):
        if type(value) is np.random.RandomState:
            state = value.get_state(legacy=False)
            return {"$type": "numpy.random.RandomState", "state": self.encode(state, path)}
        if type(value) is np.random.Generator:
            bit_generator = value.bit_generator
            name = type(bit_generator).__name__
            if _BIT_GENERATORS.get(name) is type(bit_generator):
                state = self.encode(bit_generator.state, path)
                return {"$type": "numpy.random.Generator", "bit_generator": name, "state": state}
        if type(value) is torch.Generator and value.device.type == "cpu":
            key = self.tensor(value.get_state(), path)
            return {"$type": "torch.Generator", "tensor": key}
        raise TypeError(
            f"Cannot save {path}: a {type(value).__module__}.{type(value).__qualname__} "
            "is not on sk_mlp's list of types a file may hold. Use pickle for this "
            "model, or add the type to the allow-lists in sk_mlp/_io/codec.py."
        )


# -------------------------------------------------------------------- decoding
class Decoder:
    """Turns JSON nodes back into values, building only allow-listed types."""

    def __init__(self, tensors, module_factory):
        self.tensors = tensors
        self.module_factory = module_factory
        self.used: set[str] = set()

    def tensor(self, key, path: str) -> torch.Tensor:
        if not isinstance(key, str) or key not in self.tensors:
            raise ValueError(f"{path}: names a tensor {key!r} that the file does not contain.")
        self.used.add(key)
        return self.tensors[key]

    def decode(self, node, path: str):
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return [self.decode(item, f"{path}[{i}]") for i, item in enumerate(node)]
        if type(node) is not dict or not isinstance(node.get("$type"), str):
            raise ValueError(f"{path}: malformed node {_excerpt(node)}.")
        method = _DECODERS.get(node["$type"])
        if method is None:
            raise ValueError(f"{path}: type {node['$type']!r} is not one sk_mlp files may hold.")
        return method(self, node, path)

    def fields(self, node: dict, path: str, *names) -> list:
        """The node's fields ``names``, checking that it has exactly those."""
        if set(node) != {"$type", *names}:
            raise ValueError(f"{path}: a {node['$type']!r} node has fields {sorted(node)}.")
        return [node[name] for name in names]

    def decode_float(self, node, path):
        (text,) = self.fields(node, path, "value")
        if text not in ("nan", "inf", "-inf"):
            raise ValueError(f"{path}: {text!r} is not a non-finite float.")
        return float(text)

    def decode_tuple(self, node, path):
        (items,) = self.fields(node, path, "items")
        return tuple(self.decode(_expect(items, list, path), path))

    def decode_dict(self, node, path):
        if "value" in node:
            (items,) = self.fields(node, path, "value")
            items = _expect(items, dict, path)
            return {key: self.decode(item, f"{path}[{key!r}]") for key, item in items.items()}
        (pairs,) = self.fields(node, path, "items")
        out = {}
        for pair in _expect(pairs, list, path):
            if type(pair) is not list or len(pair) != 2:
                raise ValueError(f"{path}: dict items must be [key, value] pairs.")
            key = self.decode(pair[0], f"{path} key")
            if isinstance(key, (list, dict)):
                raise ValueError(f"{path}: a dict key cannot be a {type(key).__name__}.")
            out[key] = self.decode(pair[1], f"{path}[{key!r}]")
        return out

    def decode_array(self, node, path):
        if "tensor" in node:
            dtype, key = self.fields(node, path, "dtype", "tensor")
            dtype = _check_dtype(dtype, path)
            array = self.tensor(key, path).numpy()
            if array.dtype != dtype:
                raise ValueError(
                    f"{path}: the tensor holds {array.dtype}, the header says {dtype}."
                )
            return array
        dtype, shape, values = self.fields(node, path, "dtype", "shape", "values")
        dtype = _check_dtype(dtype, path)
        shape = tuple(_expect(shape, list, path))
        values = self.decode(_expect(values, list, path), path)
        if not all(type(n) is int and n >= 0 for n in shape) or math.prod(shape) != len(values):
            raise ValueError(f"{path}: shape {list(shape)} does not fit {len(values)} values.")
        if dtype.kind == "U":
            if not all(type(v) is str for v in values):
                raise ValueError(f"{path}: a string array holds values that are not strings.")
            _check_string_width(dtype, values, path)
            return np.array(values, dtype=dtype).reshape(shape)
        array = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):  # element-wise: a list element stays one element
            array[i] = value
        return array.reshape(shape)

    def decode_scalar(self, node, path):
        dtype, value = self.fields(node, path, "dtype", "value")
        dtype = _check_dtype(dtype, path)
        value = self.decode(value, path)
        if dtype.kind == "O" or type(value) not in (bool, int, float, str):
            raise ValueError(f"{path}: malformed numpy scalar.")
        if dtype.kind == "U":
            _check_string_width(dtype, [value] if type(value) is str else [], path)
        return np.array(value, dtype=dtype)[()]

    def decode_numpy_dtype(self, node, path):
        (text,) = self.fields(node, path, "value")
        return _check_dtype(text, path)

    def decode_tensor(self, node, path):
        (key,) = self.fields(node, path, "tensor")
        return self.tensor(key, path)

    def decode_torch_dtype(self, node, path):
        (name,) = self.fields(node, path, "value")
        if name not in _TORCH_DTYPES:
            raise ValueError(f"{path}: {name!r} is not an allowed torch dtype.")
        return _TORCH_DTYPES[name]

    def decode_device(self, node, path):
        (name,) = self.fields(node, path, "value")
        try:
            return torch.device(_expect(name, str, path))
        except RuntimeError as exc:
            raise ValueError(f"{path}: {name!r} is not a torch device name.") from exc

    def decode_object(self, node, path):
        name, attributes = self.fields(node, path, "class", "attributes")
        cls = _TRUSTED_CLASSES.get(name) if isinstance(name, str) else None
        if cls is None:
            raise ValueError(f"{path}: class {name!r} is not one sk_mlp files may hold.")
        obj = cls.__new__(cls)
        obj.__dict__.update(self.decode_dict({"$type": "dict", "value": attributes}, path))
        return obj

    def decode_random_state(self, node, path):
        (state,) = self.fields(node, path, "state")
        random_state = np.random.RandomState()
        try:
            random_state.set_state(self.decode(state, path))
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: malformed RandomState state: {exc}") from exc
        return random_state

    def decode_generator(self, node, path):
        name, state = self.fields(node, path, "bit_generator", "state")
        if name not in _BIT_GENERATORS:
            raise ValueError(f"{path}: bit generator {name!r} is not allowed.")
        bit_generator = _BIT_GENERATORS[name]()
        try:
            bit_generator.state = self.decode(state, path)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: malformed {name} state: {exc}") from exc
        return np.random.Generator(bit_generator)

    def decode_torch_generator(self, node, path):
        (key,) = self.fields(node, path, "tensor")
        generator = torch.Generator()
        try:
            generator.set_state(self.tensor(key, path))
        except RuntimeError as exc:
            raise ValueError(f"{path}: malformed torch.Generator state: {exc}") from exc
        return generator

    def decode_module_param(self, node, path):
        (name,) = self.fields(node, path, "name")
        if self.module_factory is None:
            raise ValueError(
                f"This model was fitted with module={name}, a callable that the file "
                "does not contain (it stores no code). Pass it to load: "
                "sk_mlp.load(path, module=<that callable>)."
            )
        return self.module_factory


_DECODERS = {
    "float": Decoder.decode_float,
    "tuple": Decoder.decode_tuple,
    "dict": Decoder.decode_dict,
    "numpy.ndarray": Decoder.decode_array,
    "numpy.scalar": Decoder.decode_scalar,
    "numpy.dtype": Decoder.decode_numpy_dtype,
    "torch.Tensor": Decoder.decode_tensor,
    "torch.dtype": Decoder.decode_torch_dtype,
    "torch.device": Decoder.decode_device,
    "torch.nn.Module": decode_module,
    "object": Decoder.decode_object,
    "numpy.random.RandomState": Decoder.decode_random_state,
    "numpy.random.Generator": Decoder.decode_generator,
    "torch.Generator": Decoder.decode_torch_generator,
    "sk_mlp.module_param": Decoder.decode_module_param,
}


# A numpy string array takes width x length x 4 bytes, whatever its strings
# hold: a header could declare a width that its few bytes would make gigabytes.
# Arrays sk_mlp saves (class labels, category names) are as wide as their
# longest string; a width up to this many characters is accepted in any case.
_FREE_STRING_WIDTH = 64


def _check_string_width(dtype: np.dtype, values: list, path: str) -> None:
    """Refuse a string dtype wider than the strings it holds, and an array of
    many short strings made wide by one long one (beyond 64 times the room its
    strings take): sizes that only a crafted file declares."""
    width = dtype.itemsize // 4
    longest = max((len(v) for v in values), default=0)
    room = sum(len(v) + 1 for v in values)
    if width > max(longest, _FREE_STRING_WIDTH) or width * len(values) > 64 * room + 2**16:
        raise ValueError(
            f"{path}: string dtype {dtype.str} for {len(values)} string(s) of at most "
            f"{longest} characters; sk_mlp.save never writes such a file."
        )


def _expect(value, kind, path):
    if type(value) is not kind:
        raise ValueError(f"{path}: expected a JSON {kind.__name__}, got {_excerpt(value)}.")
    return value


def _excerpt(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
