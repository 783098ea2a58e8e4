"""Input and output: the safe file format (``save``/``load``: format, codec,
layer tree, trusted types) and ONNX export (``onnx/``, with the skl2onnx
converters).

May import ``_engine``, ``_nn``, ``_preprocessing`` and ``_compat``; never
``_estimators`` (the estimator classes are registered here by the estimators,
see :mod:`sk_mlp._io.estimator_types`) or ``_scale``. The optional libraries
(safetensors, onnx, skl2onnx) are imported inside the functions that need them.
"""
