"""The torch networks a saved file may hold, and how they are rebuilt.

A network is saved as a tree of layers, each a name from :data:`_LAYERS` with
its constructor arguments, plus its ``state_dict`` as tensors. Loading builds
the tree from those names alone and then loads the weights. Saving checks that
each layer rebuilt from its arguments has the same attributes and tensors as
the original, so a layer that gains state the table does not know about fails
to save instead of loading wrong.

A container layer (``container=True``) is built from its arguments and then
given the children the file lists, in the file's order, in place of those its
constructor made (or in a slot it left ``None``, such as
:class:`~sk_mlp._nn.tabular.TabularInput`'s optional numeric layer). The
layers and their arguments are the layer registry's
(:mod:`sk_mlp._nn.registry`): to add a layer, register it beside its class
with a function of the layer that returns the constructor arguments (plain
values) and the function that builds it from them.

A network built by the estimator's ``module=`` callable is saved as its
weights and the arguments of that call; loading calls the callable the user
passes to :func:`sk_mlp.load`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .._nn.mlp import RobustInput
from .._nn.registry import LAYERS
from .._nn.tabular import TabularInput

USER_NETWORK = "sk_mlp.module_param"


@dataclass(frozen=True)
class _Layer:
    cls: type
    args: Callable[[nn.Module], dict]
    build: Callable[..., nn.Module]
    container: bool = False


def _layers() -> dict[str, _Layer]:
    """The layers a file may hold, by their names there: the layer registry's
    (every sk_mlp layer module is imported by the time this module is)."""
    return {
        entry.saved.name: _Layer(
            entry.cls, entry.saved.arguments, entry.saved.build, entry.saved.container
        )
        for entry in LAYERS.values()
    }


_LAYERS = _layers()
_LAYER_NAMES = {layer.cls: name for name, layer in _LAYERS.items()}
# Layers sk_mlp puts in front of a ``module=`` network (see user_network_path).
_INPUT_LAYERS = (RobustInput, TabularInput)


def user_network_path(network: nn.Module) -> tuple[str, ...]:
    """Where, inside a fitted ``module_``, the ``module=`` callable's network is.

    sk_mlp wraps that network as ``Sequential(input layers..., network)``;
    the path descends through such wrappers to their last child.
    """
    path: tuple[str, ...] = ()
    while (
        type(network) is nn.Sequential
        and len(network) > 1
        and all(isinstance(layer, _INPUT_LAYERS) for layer in list(network)[:-1])
    ):
        last = str(len(network) - 1)
        path, network = (*path, last), network[len(network) - 1]
    return path


def user_network_inputs(network: nn.Module, n_features_in: int) -> int:
    """The width of the input of the ``module=`` network inside ``network``:
    the features, or what a :class:`TabularInput` in front of it makes of them."""
    n_inputs = n_features_in
    for step in user_network_path(network):
        for layer in list(network)[: int(step)]:
            if isinstance(layer, TabularInput):
                n_inputs = layer.n_outputs
        network = network[int(step)]
    return int(n_inputs)


def user_network_args(estimator) -> dict:
    """The arguments sk_mlp called ``module=`` with when it built the network."""
    n_outputs = estimator._loss_function().n_outputs(estimator.n_outputs_)
    n_features = user_network_inputs(estimator.module_, estimator.n_features_in_)
    return {"n_features": n_features, "n_outputs": int(n_outputs)}


# -------------------------------------------------------------------- encoding
def encode_module(encoder, network: nn.Module, path: str) -> dict:
    """The JSON node of a torch network; its tensors go to ``encoder``."""
    user_path = None
    if getattr(encoder.estimator, "module", None) is not None:
        user_path = user_network_path(network)
    tree = _encode_layer(encoder, network, path, (), user_path)
    state = {
        name: encoder.tensor(tensor, f"{path}.{name}")
        for name, tensor in network.state_dict().items()
    }
    return {"$type": "torch.nn.Module", "tree": tree, "state_dict": state}


def _encode_layer(encoder, layer, path, at, user_path) -> dict:
    if at == user_path:
        args = user_network_args(encoder.estimator)
        return {"class": USER_NETWORK, "args": args, "training": layer.training}
    name = _LAYER_NAMES.get(type(layer))
    if name is None:
        raise TypeError(
            f"Cannot save {path}: a {type(layer).__module__}.{type(layer).__qualname__} "
            "layer is not one sk_mlp files may hold. Networks from module= are "
            "saved as their weights (pass the callable to sk_mlp.load); sk_mlp's own "
            "networks use only the layers of sk_mlp/_nn/registry.py."
        )
    spec = _LAYERS[name]
    args = spec.args(layer)
    _check_rebuilds(layer, spec, args, path)
    node = {"class": name, "args": encoder.encode(args, path), "training": layer.training}
    if spec.container:
        node["children"] = [
            [
                child_name,
                _encode_layer(encoder, child, f"{path}.{child_name}", (*at, child_name), user_path),
            ]
            for child_name, child in layer.named_children()
        ]
    return node


def _public_state(layer: nn.Module) -> dict:
    attributes = {k: v for k, v in vars(layer).items() if not k.startswith("_") and k != "training"}
    tensors = {name: (tuple(t.shape), t.dtype) for name, t in layer.state_dict().items()}
    return {
        "attributes": attributes,
        "tensors": tensors,
        "modules": [type(m) for m in layer.modules()],
    }


def _check_rebuilds(layer: nn.Module, spec: _Layer, args: dict, path: str) -> None:
    """Raise if ``spec.build(**args)`` would not recreate ``layer`` with its weights
    (a container: with its children, which are checked on their own)."""
    if layer._forward_hooks or layer._forward_pre_hooks or layer._non_persistent_buffers_set:
        raise TypeError(
            f"Cannot save {path}: layers with hooks or non-persistent buffers are not supported."
        )
    with torch.device("meta"):
        rebuilt = spec.build(**args)
    if spec.container:
        _adopt(rebuilt, list(layer.named_children()))
    original, copy = _public_state(layer), _public_state(rebuilt)
    if original != copy:
        differ = [key for key in original if original[key] != copy[key]]
        raise TypeError(
            f"Cannot save {path}: a {type(layer).__name__} rebuilt from {args} differs "
            f"in its {differ}; the layer registry (sk_mlp/_nn/registry.py) needs updating."
        )


# -------------------------------------------------------------------- decoding
def decode_module(decoder, node: dict, path: str) -> nn.Module:
    """Build the network a node describes and load its weights.

    A crafted file could declare layers far larger than the tensors it holds
    (a ``Linear(30000, 30000)`` in a few KB). So sk_mlp's layers are built on
    the meta device, which allocates nothing, their sizes checked against the
    file's tensors (``load_state_dict`` on the meta network), and only then
    given memory; the size arguments, which constructors may turn into Python
    lists, are bounded by the number of values the file holds.
    """
    tree, state = decoder.fields(node, path, "tree", "state_dict")
    if type(state) is not dict:
        raise ValueError(f"{path}: the state_dict entry must be a JSON object.")
    weights = {name: decoder.tensor(key, f"{path}.{name}") for name, key in state.items()}
    budget = sum(t.numel() for t in decoder.tensors.values()) + _FREE_SIZE
    # Building layers draws initial weights; the caller's random stream stays as it was.
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        network = _decode_layer(decoder, tree, path, budget)
    _check_shapes(network, weights, path)
    for layer in network.modules():
        own = [*layer._parameters.values(), *layer._buffers.values()]
        if any(t is not None and t.is_meta for t in own):
            layer.to_empty(device="cpu", recurse=False)
    _load_weights(network, weights, path)
    return network


# Sizes up to this many values cost nothing worth checking.
_FREE_SIZE = 4096


def _check_shapes(network: nn.Module, weights: dict, path: str) -> None:
    """Raise unless ``weights`` has a tensor of the right shape for each entry
    of the network's ``state_dict``, and no other."""
    expected = {name: tuple(t.shape) for name, t in network.state_dict().items()}
    given = {name: tuple(t.shape) for name, t in weights.items()}
    if expected != given:
        missing, unexpected = sorted(expected.keys() - given), sorted(given.keys() - expected)
        differ = [
            f"{name}: {given[name]} for {expected[name]}"
            for name in sorted(expected.keys() & given)
            if expected[name] != given[name]
        ]
        raise ValueError(
            f"{path}: the saved weights do not fit the network: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, shapes that differ {differ[:5]}."
        )


def _load_weights(network: nn.Module, weights: dict, path: str) -> None:
    try:
        network.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path}: the saved weights do not fit the network: {exc}") from exc


def _check_sizes(args: dict, budget: int, name: str, path: str) -> None:
    """Refuse integer arguments (or lists of them, summed) beyond ``budget``,
    the number of values the file holds: a layer of sk_mlp's holds at least
    as many values as any of its sizes."""
    for key, value in args.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        sizes = [v for v in values if type(v) is int]
        if sum(abs(v) for v in sizes) > budget:
            raise ValueError(
                f"{path}: a {name} with {key}={_short(value)} is larger than the "
                f"{budget - _FREE_SIZE} values the file holds; sk_mlp.save never writes "
                "such a file."
            )


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _decode_layer(decoder, node, path: str, budget: int) -> nn.Module:
    if type(node) is not dict or not isinstance(node.get("class"), str):
        raise ValueError(f"{path}: malformed layer entry.")
    name = node["class"]
    if name == USER_NETWORK:
        with torch.device("cpu"):  # the user's code builds it as in fit
            return _build_user_network(decoder, node, path)
    spec = _LAYERS.get(name)
    if spec is None:
        raise ValueError(f"{path}: layer {name!r} is not one sk_mlp files may hold.")
    fields = (
        ("class", "args", "training", "children")
        if spec.container
        else ("class", "args", "training")
    )
    if set(node) != set(fields):
        raise ValueError(f"{path}: a {name} entry has fields {sorted(node)}.")
    args = decoder.decode(node["args"], path)
    if type(args) is not dict or type(node["training"]) is not bool:
        raise ValueError(f"{path}: malformed {name} entry.")
    _check_sizes(args, budget, name, path)
    try:
        layer = spec.build(**args)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path}: cannot build {name} from {args}: {exc}") from exc
    if spec.container:
        children = []
        for child in node["children"] if type(node["children"]) is list else [None]:
            if type(child) is not list or len(child) != 2 or type(child[0]) is not str:
                raise ValueError(f"{path}: malformed children of {name}.")
            child_path = f"{path}.{child[0]}"
            children.append((child[0], _decode_layer(decoder, child[1], child_path, budget)))
        try:
            _adopt(layer, children)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: malformed children of {name}: {exc}") from exc
    layer.training = node["training"]
    return layer


def _adopt(layer: nn.Module, children: list[tuple[str, nn.Module]]) -> None:
    """Make ``children`` the children of a container built from its arguments,
    in their order: they replace the children its constructor made, and may
    fill an optional slot it left ``None``."""
    for name, _ in list(layer.named_children()):
        delattr(layer, name)
    for name, child in children:
        if name in vars(layer) and vars(layer)[name] is None:
            delattr(layer, name)
        layer.add_module(name, child)


def _build_user_network(decoder, node, path: str) -> nn.Module:
    if set(node) != {"class", "args", "training"} or type(node["args"]) is not dict:
        raise ValueError(f"{path}: malformed module= network entry.")
    args = node["args"]
    if set(args) != {"n_features", "n_outputs"} or not all(type(v) is int for v in args.values()):
        raise ValueError(f"{path}: malformed module= network arguments.")
    if decoder.module_factory is None:
        raise ValueError(
            "This model was fitted with module=; its network is saved as weights "
            "only. Pass the same callable: sk_mlp.load(path, module=<callable>)."
        )
    if isinstance(decoder.module_factory, nn.Module):
        # The parameter was a module: the estimator fitted a copy of it.
        network = copy.deepcopy(decoder.module_factory).cpu()
    else:
        network = decoder.module_factory(args["n_features"], args["n_outputs"])
    if not isinstance(network, nn.Module):
        raise TypeError(f"module must return a torch.nn.Module, got {type(network).__name__}.")
    network.train(node["training"] is True)
    return network
