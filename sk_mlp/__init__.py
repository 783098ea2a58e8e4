"""scikit-learn MLP estimators trained with PyTorch."""

from ._classifier import TorchMLPClassifier
from ._onnx import to_onnx
from ._persistence import InconsistentVersionWarning, load, save
from ._regressor import TorchMLPRegressor
from ._skl2onnx import register_skl2onnx_converters

__all__ = [
    "InconsistentVersionWarning",
    "TorchMLPClassifier",
    "TorchMLPRegressor",
    "__version__",
    "load",
    "register_skl2onnx_converters",
    "save",
    "to_onnx",
]

__version__ = "0.1.0"
