"""Device resolution and array <-> tensor conversion.

This is the only module that knows device names; everything else asks it.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import scipy.sparse as sp
import torch


def available_devices() -> list[str]:
    """Names of the torch devices usable on this machine, best first."""
    names = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    names.append("cpu")
    return names


def resolve_device(device: str, like=None) -> torch.device:
    """Turn a user's ``device`` parameter into a :class:`torch.device`.

    ``"auto"`` picks the device of ``like`` where that is a torch tensor (under
    array API dispatch, the data decide), else the best available device. An
    explicit device always wins. A device that is not present raises a
    ``ValueError`` naming what is available instead.
    """
    available = available_devices()
    if device == "auto" and isinstance(like, torch.Tensor):
        return _normalized(like.device)
    if device == "auto":
        return torch.device(available[0])
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device name; use one of "
            f"{available + ['auto']}."
        ) from exc
    if resolved.type == "cuda" and resolved.index is None and "cuda:0" in available:
        resolved = torch.device("cuda:0")
    if str(resolved) not in available:
        raise ValueError(
            f"device={device!r} is not available on this machine. Available "
            f"devices: {available}; pass device='auto' to pick the best of them."
        )
    return resolved


def _normalized(device: torch.device) -> torch.device:
    """The name :func:`available_devices` uses for a tensor's device."""
    return torch.device("mps") if device.type == "mps" else device


def check_precision(precision: str, device: torch.device, solver: str) -> None:
    """Refuse a ``precision`` that ``device`` or ``solver`` cannot train in."""
    if precision == "float32":
        return
    if solver == "lbfgs":
        raise ValueError(
            f"precision={precision!r} needs a stochastic solver: L-BFGS's line search "
            "compares losses more finely than bfloat16 resolves. Use solver='adam' "
            "or precision='float32'."
        )
    if device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise ValueError(
            f"precision={precision!r}: {torch.cuda.get_device_name(device)} has no "
            "bfloat16 arithmetic (NVIDIA GPUs have it from the Ampere generation "
            "on). Use precision='float32'."
        )
    if not torch.amp.is_autocast_available(device.type):
        raise ValueError(
            f"precision={precision!r} is not available on {device.type!r}; use precision='float32'."
        )


def is_available(device: str) -> bool:
    """Whether a device name, such as a fitted ``device_``, exists here."""
    return device in available_devices()


def to_tensor(X, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    """Copy a dense array to ``device`` as ``dtype`` (``None``: its own), without
    a copy when possible."""
    if sp.issparse(X):
        X = X.toarray()
    with warnings.catch_warnings():
        # Read-only arrays (memory maps) are shared, not copied; torch warns
        # because the tensor could write to them, which sk_mlp never does.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(np.asarray(X), dtype=dtype, device=device)


def float32_rows(rows, device: torch.device) -> torch.Tensor:
    """Dense rows (a NumPy array or a torch tensor) as a C-contiguous float32
    tensor on ``device``: one layout for every input, so that the same rows
    give the same float32 arithmetic whatever container they came in. A
    float32 tensor already there is used as it is."""
    if isinstance(rows, torch.Tensor):
        return rows.detach().to(device=device, dtype=torch.float32).contiguous()
    return to_tensor(np.ascontiguousarray(rows, dtype=np.float32), device)


def widest_float(device: torch.device) -> torch.dtype:
    """float64, or float32 on devices without float64 arithmetic (MPS)."""
    return torch.float32 if device.type == "mps" else torch.float64


def shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two tensors are views of the same storage."""
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def sparse_to_tensor(X: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    """A scipy CSR matrix as a torch sparse CSR tensor on ``device``."""
    with warnings.catch_warnings():
        # torch calls its sparse CSR support beta; the products sk_mlp uses
        # (sparse times dense, and its gradient in the dense factor) are tested.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(X.indptr).long(),
            torch.from_numpy(X.indices).long(),
            torch.from_numpy(X.data),
            size=X.shape,
            device=device,
            check_invariants=False,  # scipy built them; checking costs a pass
        )


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """Bring a tensor back to the host as a numpy array."""
    return tensor.detach().to("cpu").numpy()


def tree_to(obj, device: str):
    """Move every tensor inside nested dicts, lists and tuples to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {key: tree_to(value, device) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(tree_to(value, device) for value in obj)
    return obj


def on_cpu(x: torch.Tensor | torch.device) -> bool:
    """Whether a tensor (or device) is on the CPU, where sk_mlp's hand-written
    training kernels apply."""
    return (x if isinstance(x, torch.device) else x.device).type == "cpu"


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A random generator on ``device`` seeded with ``seed``: each fit draws
    from generators of its own, never from torch's global ones."""
    return torch.Generator(device=device).manual_seed(seed)


@contextlib.contextmanager
def seeded_global_rng(seed: int, device: torch.device):
    """Seed torch's global generators for the CPU and ``device`` (that device
    alone), and restore them afterwards: for code that cannot be given a
    generator, such as a user's module."""
    devices = [] if on_cpu(device) else [device]
    device_type = "cuda" if on_cpu(device) else device.type
    with torch.random.fork_rng(devices=devices, device_type=device_type):
        torch.default_generator.manual_seed(seed)
        if device.type == "cuda":
            torch.cuda.default_generators[device.index or 0].manual_seed(seed)
        elif device.type == "mps":
            torch.mps.manual_seed(seed)
        yield
