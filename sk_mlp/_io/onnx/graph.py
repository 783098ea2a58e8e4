"""The ONNX graph under construction: nodes and initializers with unique
names, and the import of onnx (optional) with a message saying how to get it."""

from __future__ import annotations

import numpy as np


def import_onnx():
    try:
        import onnx
        import onnx.compose
        import onnx.helper
        import onnx.inliner
        import onnx.numpy_helper
    except ImportError as exc:
        raise ImportError(
            "ONNX export needs the onnx package; install it with `pip install onnx` "
            "(or, in a checkout of sk_mlp, `pip install -e '.[onnx]'` for onnx, "
            "onnxruntime, skl2onnx and onnxscript)."
        ) from exc
    return onnx


class Graph:
    """Nodes and initializers of a graph under construction, with unique names."""

    def __init__(self, opset: int, reserved=()):
        self.onnx = import_onnx()
        self.opset = opset
        self.nodes: list = []
        self.initializers: list = []
        self.opset_imports: dict[str, int] = {"": opset}
        self._count = 0
        self._reserved = set(reserved)  # the graph's input names
        self.inputs: list = []  # sk_mlp._io.onnx.frame.Input entries, set by estimator_graph

    def name(self, hint: str) -> str:
        self._count += 1
        while f"{hint}_{self._count}" in self._reserved:
            self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, hint: str = "const") -> str:
        name = self.name(hint)
        value = np.asarray(value)
        if value.dtype.kind in "UO":
            tensor = self.onnx.helper.make_tensor(
                name,
                self.onnx.TensorProto.STRING,
                value.shape,
                [str(v).encode("utf-8") for v in value.ravel()],
            )
        else:
            tensor = self.onnx.numpy_helper.from_array(value, name)
        self.initializers.append(tensor)
        return name

    def op(self, op_type: str, *inputs: str, hint: str | None = None, **attrs) -> str:
        output = self.name(hint or op_type.lower())
        self.nodes.append(
            self.onnx.helper.make_node(
                op_type, list(inputs), [output], name=self.name(op_type), **attrs
            )
        )
        return output

    def cast(self, x: str, dtype) -> str:
        return self.op("Cast", x, to=self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    def columns(self, x: str, start: int, stop: int) -> str:
        """Columns ``start:stop`` of a matrix."""
        starts, stops, axes = (self.const(np.array([v])) for v in (start, stop, 1))
        return self.op("Slice", x, starts, stops, axes)
