"""Preprocessing before torch: the frame stage (columns of a data frame to
numbers), which rows estimate statistics, and the checks of X's values.

Never imports torch. May import ``_compat.sklearn_private`` only.
"""
