"""The engine of a fit: the rules that resolve the ``'auto'`` defaults, the
network a fit builds, the training data and its chunks, the loop, the
hand-written backprop, the CUDA step, progress, threads, and the array API
bridge between an input's namespace and torch.

May import ``_nn``, ``_preprocessing`` and ``_compat``; never ``_estimators``,
``_io`` or ``_scale``.
"""
