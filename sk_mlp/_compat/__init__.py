"""Compatibility: every private torch and scikit-learn name the package uses,
each behind one function or constant with its public fallback chosen once.

Imports nothing of the package. Nothing else in the package reaches private
torch or scikit-learn names directly.
"""
