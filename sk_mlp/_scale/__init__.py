"""Scaling out: dask collections (fit streams their blocks, predict maps over
them) and the streamed fit over blocks of rows.

May import ``_engine``, ``_nn``, ``_preprocessing`` and ``_compat``; never
``_estimators`` or ``_io``. dask is imported inside functions (it is optional).
"""
