"""scikit-learn MLP estimators trained with PyTorch.

The public names only; the code lives in private subpackages by role
(``docs/architecture.rst``).
"""

from ._engine.defaults import SKLEARN_MLP_PARAMS
from ._estimators.classifier import TorchMLPClassifier
from ._estimators.regressor import TorchMLPRegressor
from ._io.onnx.export import to_onnx
from ._io.onnx.skl2onnx import register_skl2onnx_converters
from ._io.safe_format import InconsistentVersionWarning, load, save
from ._version import __version__

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
