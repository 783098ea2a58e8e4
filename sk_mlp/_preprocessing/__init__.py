"""Preprocessing before torch: the frame stage (the columns of a data frame to
numbers), what a column holds, the checks of what a user passes, and weighted
statistics with the rows they are estimated on.

Never imports torch. May import ``_compat`` (its scikit-learn names) only.
"""
