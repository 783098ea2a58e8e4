"""The scikit-learn boundary: the estimators, their parameters, validation of
what users pass, docstrings, callbacks and the regressor's calibration.

May import every other subpackage (``_io``, ``_scale``, ``_engine``, ``_nn``,
``_preprocessing``, ``_compat``); nothing in the package imports it but the
package's ``__init__``.
"""
