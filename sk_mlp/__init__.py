"""scikit-learn MLP estimators trained with PyTorch."""

from ._classifier import TorchMLPClassifier
from ._regressor import TorchMLPRegressor

__all__ = ["TorchMLPClassifier", "TorchMLPRegressor", "__version__"]

__version__ = "0.1.0"
