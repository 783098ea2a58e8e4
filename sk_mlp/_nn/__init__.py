"""The network: torch layers (sk_mlp's own, the MLP, the frame stage's input
layer), the losses and their links, devices and tensors, and the checks of a
user's network.

Imports torch; never scikit-learn. May import ``_preprocessing`` (its
torch-free helpers) and ``_compat``; never ``_engine``, ``_io``, ``_scale`` or
``_estimators``.
"""
