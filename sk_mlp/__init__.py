"""scikit-learn MLP estimators trained with PyTorch."""

from ._classifier import TorchMLPClassifier
from ._defaults import SKLEARN_MLP_PARAMS
from ._onnx import to_onnx
from ._persistence import InconsistentVersionWarning, load, save
from ._regressor import TorchMLPRegressor
from ._skl2onnx import register_skl2onnx_converters

__all__ = [
    "InconsistentVersionWarning",
    "SKLEARN_MLP_PARAMS",
    "TorchMLPClassifier",
    "TorchMLPRegressor",
    "__version__",
    "load",
    "register_skl2onnx_converters",
    "save",
    "to_onnx",
]

__version__ = "0.1.0"
