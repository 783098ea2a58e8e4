"""The layer registry: one entry per layer class, with everything the package
knows about that layer.

A network sk_mlp builds, saves, exports or trains by hand is made of the layer
classes registered here, and every part of the package that treats layers
differently reads this one table:

- ``saved``: the layer's name in a saved file and its constructor arguments
  (:mod:`sk_mlp._io.layer_tree`; a class not registered cannot be saved);
- ``onnx``: its ONNX converter, filled in by :mod:`sk_mlp._io.onnx` (this
  package may not import it);
- ``work``: its multiply-adds per row, for the per-fit thread choice
  (:mod:`sk_mlp._engine.threads`);
- ``fixed``: whether it is fitted once and then never trained (an input layer
  that the training data applies once, :mod:`sk_mlp._engine.data`);
- ``sparse``: how sparse rows and one-hot lookups fold into it
  (:func:`sk_mlp._nn.mlp.forward`);
- ``backprop``: its part in the hand-written gradients
  (:mod:`sk_mlp._engine.backprop`, which fills in the activations' in-place
  forms).

Each layer is registered once, beside its class (:func:`register_layer`; the
torch layers here); a capability a layer does not have is declared as
:class:`Unsupported`, with the reason. ``tests/test_layer_registry.py`` checks
that every entry declares every capability, so that a new layer cannot be
forgotten in one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

CAPABILITIES = ("saved", "onnx", "work", "fixed", "sparse", "backprop")


class Unsupported:
    """A capability a layer does not have, and why."""

    __slots__ = ("why",)

    def __init__(self, why: str):
        self.why = why

    def __repr__(self) -> str:
        return f"Unsupported({self.why!r})"


@dataclass(frozen=True)
class Saved:
    """How a layer is written to and rebuilt from a saved file: its ``name``
    there, its constructor ``arguments`` read off an instance, the ``build``
    function that takes them, and whether its children are saved as layers
    of their own (``container``)."""

    name: str
    arguments: Callable[[nn.Module], dict]
    build: Callable[..., nn.Module]
    container: bool = False


@dataclass
class LayerEntry:
    """Everything the package knows about one layer class (see the module
    docstring for each capability)."""

    cls: type
    saved: Saved
    # (layer, row copies so far) -> (multiply-adds per row, row copies after
    # it), or None for the first item when the cost is not known.
    work: Callable[[nn.Module, int], tuple[int | None, int]]
    fixed: Callable[[nn.Module], bool]
    # 'scale' (folds into the first linear layer's weights), 'linear' (the
    # first linear layer, which takes the sparse rows or the lookup), 'front'
    # (in front of the fold, reads the dense columns), or Unsupported.
    sparse: str | Unsupported
    # A role ('feature_scale', 'member_scale', 'linear', 'member_linear',
    # 'member_average', 'identity', 'dropout'), an activation's in-place form
    # (a function of the layer, filled in by the engine), or Unsupported.
    backprop: Any = None
    onnx: Callable | Unsupported | None = None  # filled in by sk_mlp._io.onnx
    # The estimator parameter that puts the layer into sk_mlp's networks, for
    # messages (None: a layer of sk_mlp's MLP, or only of a user's module).
    parameter: str | None = None


LAYERS: dict[type, LayerEntry] = {}


def entry(cls: type) -> LayerEntry | None:
    """The entry of exactly ``cls`` (a subclass is another layer)."""
    return LAYERS.get(cls)


def entry_for(layer: nn.Module) -> LayerEntry | None:
    """The entry of the nearest registered class of ``layer``, as
    ``isinstance`` would find it (a subclass counts as its parent)."""
    for cls in type(layer).__mro__:
        if cls in LAYERS:
            return LAYERS[cls]
    return None


def register_capability(cls: type, capability: str, value) -> None:
    """Fill in ``capability`` of ``cls``'s entry, once: for what another
    package knows (ONNX converters, the activations' hand-written forms)."""
    if capability not in ("onnx", "backprop"):
        raise ValueError(f"{capability!r} is declared here, not filled in later.")
    found = LAYERS[cls]
    if getattr(found, capability) is not None:
        raise ValueError(f"{cls.__name__}'s {capability} capability is set already.")
    setattr(found, capability, value)


def is_fixed(layer: nn.Module) -> bool:
    """Whether ``layer`` is one of sk_mlp's input layers with nothing to train
    (or a stack of them)."""
    found = entry_for(layer)
    return found is not None and found.fixed(layer)


# ------------------------------------------------------------- registering
def attributes(*names: str) -> Callable[[nn.Module], dict]:
    """Constructor arguments read off attributes of the same names."""
    return lambda layer: {name: getattr(layer, name) for name in names}


def shape_arguments(**axes: int) -> Callable[[nn.Module], dict]:
    """Constructor arguments read off the axes of the layer's ``weight``."""
    return lambda layer: {name: int(layer.weight.shape[axis]) for name, axis in axes.items()}


def parameter_free(layer: nn.Module, copies: int) -> tuple[int | None, int]:
    """No multiply-adds, if the layer holds no parameters of its own (a
    subclass that adds some has a cost its shape does not tell)."""
    has_parameters = any(True for _ in layer.parameters(recurse=False))
    return (None if has_parameters else 0), copies


def elementwise(layer: nn.Module, copies: int) -> tuple[int, int]:
    """No multiply-adds counted: small next to a linear layer's and hiding no
    matrix product (an embedding's cost is a lookup, whatever its size)."""
    return 0, copies


def never(layer: nn.Module) -> bool:
    return False


def always(layer: nn.Module) -> bool:
    return True


NOT_BEFORE_THE_FOLD = Unsupported(
    "sparse rows and one-hot lookups reach a network only through its input "
    "scales and first linear layer"
)
NOT_HAND_WRITTEN = Unsupported("the hand-written gradients cover sk_mlp's MLP blocks only")
# An activation's hand-written form is the engine's to fill in.
ENGINE_FILLS = object()


def register_layer(
    cls: type,
    saved: Saved,
    *,
    work: Callable = parameter_free,
    fixed: Callable[[nn.Module], bool] = never,
    sparse: str | Unsupported = NOT_BEFORE_THE_FOLD,
    backprop: Any = NOT_HAND_WRITTEN,
    parameter: str | None = None,
) -> None:
    """Register ``cls`` with what the network package knows of it; the
    defaults: no cost but a parameter-free layer's, trained (or nothing to
    train), not part of the sparse fold nor of the hand-written gradients."""
    if cls in LAYERS:
        raise ValueError(f"{cls.__name__} is registered already.")
    backprop = None if backprop is ENGINE_FILLS else backprop
    LAYERS[cls] = LayerEntry(cls, saved, work, fixed, sparse, backprop, parameter=parameter)


def unsupported_layer(network: nn.Module, capability: str, what: str) -> str:
    """A message naming the first layer of ``network`` (containers aside)
    whose registry entry lacks ``capability``, and the parameter that put it
    there."""
    for layer in network.modules():
        found = entry(type(layer))
        if type(layer) is nn.Sequential or callable(getattr(found, capability, None)):
            continue
        name = type(layer).__name__
        parameter = None if found is None else found.parameter
        if parameter is None:
            return f"{what} does not support the {name} layer of module_."
        return (
            f"{what} does not support the {name} layer that {parameter} puts into "
            f"the network; fit with the default of that parameter to use it."
        )
    return f"{what} does not support a layer of module_."


def _torch(cls: type, *names: str, **capabilities) -> None:
    saved = Saved(f"torch.nn.{cls.__name__}", attributes(*names), cls)
    register_layer(cls, saved, **capabilities)


def _linear_work(layer: nn.Linear, copies: int) -> tuple[int, int]:
    return copies * layer.in_features * layer.out_features, copies


def _fixed_stack(layer: nn.Sequential) -> bool:
    return type(layer) is nn.Sequential and len(layer) > 0 and all(map(is_fixed, layer))


def _linear_arguments(layer: nn.Linear) -> dict:
    return {
        "in_features": layer.in_features,
        "out_features": layer.out_features,
        "bias": layer.bias is not None,
    }


def _layer_norm_arguments(layer: nn.LayerNorm) -> dict:
    return {
        "normalized_shape": layer.normalized_shape,
        "eps": layer.eps,
        "elementwise_affine": layer.elementwise_affine,
        "bias": layer.bias is not None,
    }


# --------------------------------------------------------------- torch layers
# (sk_mlp's own layers are registered beside their classes: sk_mlp._nn.layers,
# sk_mlp._nn.mlp, sk_mlp._nn.tabular.)
_torch(nn.Identity, backprop="identity")
_torch(nn.Sigmoid, backprop=ENGINE_FILLS)
_torch(nn.Tanh, backprop=ENGINE_FILLS)
_torch(nn.ReLU, "inplace", backprop=ENGINE_FILLS)
_torch(nn.LeakyReLU, "negative_slope", "inplace", backprop=ENGINE_FILLS)
_torch(nn.ELU, "alpha", "inplace", backprop=ENGINE_FILLS)
_torch(nn.GELU, "approximate", backprop=ENGINE_FILLS)
_torch(nn.SiLU, "inplace", backprop=ENGINE_FILLS)
_torch(nn.Softplus, "beta", "threshold")
_torch(nn.Dropout, "p", "inplace")
_torch(
    nn.BatchNorm1d,
    *("num_features", "eps", "momentum", "affine", "track_running_stats"),
    work=elementwise,
)
register_layer(
    nn.Sequential,
    Saved("torch.nn.Sequential", lambda _: {}, nn.Sequential, container=True),
    fixed=_fixed_stack,
)
register_layer(
    nn.Linear,
    Saved("torch.nn.Linear", _linear_arguments, nn.Linear),
    work=_linear_work,
    sparse="linear",
    backprop="linear",
)
register_layer(
    nn.LayerNorm, Saved("torch.nn.LayerNorm", _layer_norm_arguments, nn.LayerNorm), work=elementwise
)
_torch(
    nn.Embedding,
    *("num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type"),
    *("scale_grad_by_freq", "sparse"),
    work=elementwise,
)
register_layer(
    nn.ModuleList, Saved("torch.nn.ModuleList", lambda _: {}, nn.ModuleList, container=True)
)
