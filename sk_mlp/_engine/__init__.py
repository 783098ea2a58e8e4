"""The engine of a fit: the defaults' rules, the network a fit builds, the
training data and its chunks, the loop, hand-written backprop, the CUDA step,
losses, progress, threads, and the array API bridge between an input's
namespace and torch.

May import ``_nn``, ``_preprocessing`` and ``_compat``; never ``_estimators``,
``_io`` or ``_scale``.
"""
