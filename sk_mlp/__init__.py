"""scikit-learn MLP estimators trained with PyTorch."""

from ._classifier import TorchMLPClassifier
from ._persistence import InconsistentVersionWarning, load, save
from ._regressor import TorchMLPRegressor

__all__ = [
    "InconsistentVersionWarning",
    "TorchMLPClassifier",
    "TorchMLPRegressor",
    "__version__",
    "load",
    "save",
]

__version__ = "0.1.0"
