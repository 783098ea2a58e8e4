"""Mixed-type tabular input: the stage between a user's data frame and the network.

:class:`TabularEncoder` turns a pandas DataFrame with numeric, ``category``,
``object``/string and ``bool`` columns and missing values anywhere (``NaN``,
``None``, ``pd.NA``), or a numeric array, into one float32 matrix: the data as
the network sees it. Its columns are, in this order:

- the numeric features, a missing value replaced by the feature's median in fit;
- one 0/1 indicator for each numeric feature that had missing values in fit, so
  that "missing" can carry signal, as it does in gradient boosting;
- one column per categorical feature holding an integer code: ``1..n`` for the
  ``n`` categories seen in fit (sorted), ``0`` for a missing value and for any
  category not seen in fit (HistGradientBoosting, too, treats unknown
  categories as missing).

The codes travel in the float32 matrix exactly (cardinalities are below
``2**24``), so batching, devices and prediction chunks need no second array;
:class:`sk_mlp._nn.tabular.TabularInput` splits the matrix again and turns
the codes into one-hot vectors or learned embeddings.

Everything is learned once, in :meth:`TabularEncoder.fit` (or in parts, for
data never in memory whole: :meth:`~TabularEncoder.fit_columns`, a
:class:`TableSummary` of each part, :meth:`~TabularEncoder.fit_summary`): a
warm start or a ``partial_fit`` reuses the medians and category maps of the
first fit. The
learned maps are plain numpy arrays and lists of Python scalars, so that a
file format with an allow-list can store them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from .._compat.sklearn_private import _check_sample_weight
from .columns import (
    CATEGORICAL,
    NUMERIC,
    as_python,
    check_categorical_features,
    column_kind,
    is_data_frame,
    is_missing,
    loaded_pandas,
    sort_key,
    value_type,
)
from .frame_checks import DTYPES_CHANGED, changed_kinds, check_value_types, warn_unknown
from .statistics import statistics_rows, weighted_median

# float32 holds every integer up to 2**24 exactly.
_MAX_CODES = 2**24
# Categorical features with at most this many categories are one-hot encoded,
# the others embedded. One-hot encoding beat embeddings on every benchmark
# table with more than 8 categories, up to the largest one (304 categories;
# docs/tabular.rst); past a thousand, a one-hot block would dominate the
# network's input.
MAX_ONEHOT_CATEGORIES = 1000
# A categorical feature with more distinct values than half the rows is
# warned about from this many values on (fewer: a small table's few
# categories, each in one or two rows, are no sign of an ID column).
_MIN_DISTINCT_TO_WARN = 50


@dataclass
class TableSummary:
    """What :meth:`TabularEncoder.summarise` reads off some rows: per numeric
    feature whether a value is missing; per categorical feature the values
    present and whether one is missing."""

    numeric_missing: np.ndarray
    categories: list[set]
    categorical_missing: np.ndarray
    # per categorical feature, the type of its values (see value_type)
    value_types: list = field(default_factory=list)
    n_rows: int = 0  # the rows summarised (those that count)

    def merge(self, other: TableSummary) -> TableSummary:
        """The summary of both parts' rows."""
        return TableSummary(
            self.numeric_missing | other.numeric_missing,
            [mine | theirs for mine, theirs in zip(self.categories, other.categories)],
            self.categorical_missing | other.categorical_missing,
            [_merge_types(*pair) for pair in zip(self.value_types, other.value_types)],
            self.n_rows + other.n_rows,
        )


def _merge_types(mine: str | None, theirs: str | None) -> str | None:
    """The value type of two parts of a column."""
    if mine is None or theirs is None or mine == theirs:
        return theirs if mine is None else mine
    if {mine, theirs} <= {"integer", "float64"}:  # Python ints and floats: floats
        return "float64"
    return "mixed"


class TabularEncoder(BaseEstimator):
    """Encode a mixed-type table as the float32 matrix the network reads.

    Parameters
    ----------
    categorical_features : array-like of {bool, int, str} or 'from_dtype' or None, \
            default='from_dtype'
        The categorical features, as in
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier`:

        - ``'from_dtype'``: the ``category`` and string columns of a pandas
          DataFrame, and its ``object`` columns of anything but numbers (an
          ``object`` column of numbers, ``decimal.Decimal`` say, is numeric);
          none of a numpy array;
        - ``None``: no categorical feature;
        - a boolean mask of shape (n_features,), integer indices, or the names
          of the categorical columns of a DataFrame.

        A DataFrame column of strings that is not marked categorical is an error.

    max_onehot_categories : int, default=1000
        Categorical features with at most this many categories (seen in fit)
        are one-hot encoded by the network's input layer; the others get a
        learned embedding.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit. Defined only when X has feature
        names that are all strings.

    is_categorical_ : ndarray of shape (n_features_in_,), dtype=bool
        Which input features are categorical.

    kinds_ : list of str
        ``'numeric'`` or ``'categorical'`` for each input column, from its dtype
        in fit (every column of an array is ``'numeric'``); checked at transform.

    medians_ : ndarray of shape (n_numeric_features,)
        Median of each numeric feature in fit (estimated on at most 30,000
        rows), which replaces its missing values (0 for a feature with no
        observed value).

    numeric_missing_ : ndarray of shape (n_numeric_features,), dtype=bool
        Numeric features that had missing values in fit; each gets an indicator.

    categories_ : list of list
        The categories of each categorical feature seen in fit, sorted, as
        Python scalars; category ``categories_[j][i]`` has code ``i + 1``.

    categorical_missing_ : ndarray of shape (n_categorical_features,), dtype=bool
        Categorical features that had missing values in fit.

    category_types_ : list of {str, None}
        The type of the values of each categorical feature in fit:
        ``'integer'``, ``'float64'``, ``'float32'``, ``'string'``, ... (None:
        no value seen). Values of another type at transform, which could not
        equal a category of fit, are an error.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sk_mlp._preprocessing.frame import TabularEncoder
    >>> X = pd.DataFrame({"size": [1.0, np.nan, 3.0], "colour": ["red", None, "blue"]})
    >>> encoder = TabularEncoder().fit(X)
    >>> encoder.categories_
    [['blue', 'red']]
    >>> encoder.transform(X)
    array([[1., 0., 2.],
           [2., 1., 0.],
           [3., 0., 1.]], dtype=float32)
    """

    def __init__(
        self, categorical_features="from_dtype", *, max_onehot_categories=MAX_ONEHOT_CATEGORIES
    ):
        self.categorical_features = categorical_features
        self.max_onehot_categories = max_onehot_categories

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, sample_weight=None):
        """Learn which features are categorical, the medians and the category maps.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            The input data.

        y : None
            Ignored.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows, counted as repetitions: rows of weight zero
            are left out (their categories are unknown to the fitted maps,
            as they are to a fit without them), and the medians are
            weighted.

        Returns
        -------
        self : object
            The fitted encoder.
        """
        self.fit_columns(X)
        X = self._as_table(X)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        rows = None
        if sample_weight is not None and (sample_weight > 0).any():  # else the caller's error
            rows = None if np.all(sample_weight > 0) else sample_weight > 0
        return self.fit_summary(self.summarise(X, rows), X, sample_weight)

    # A fit in parts (a streamed fit of a dask data frame): fit_columns,
    # summarise each part, merge the summaries, fit_summary on a sample.
    def fit_columns(self, X):
        """Learn from X's columns alone which features are numeric and which
        categorical: the first step of a fit in parts.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Data with the features (and, for a DataFrame, the dtypes) of the
            whole data; a DataFrame may have no rows.

        Returns
        -------
        self : object
            The encoder, ready for :meth:`summarise`.
        """
        if sp.issparse(X):
            raise TypeError(
                "TabularEncoder takes dense data; sparse input is numeric and is used as it is."
            )
        _check_int(self.max_onehot_categories, "max_onehot_categories")
        validate_data(self, X, skip_check_array=True, reset=True)
        if not is_data_frame(X):
            X = self._as_table(X)
        kinds = self._kinds(X)
        is_categorical = check_categorical_features(X, self.categorical_features, kinds)
        for j in np.flatnonzero(~is_categorical & (np.asarray(kinds) == CATEGORICAL)):
            raise ValueError(
                f"Feature {self._name(j)} holds strings or categories (dtype "
                f"{X.dtypes.iloc[j]}) but categorical_features={self.categorical_features!r} "
                "does not mark it categorical; mark it, or convert it to numbers."
            )
        self.kinds_ = kinds
        self.is_categorical_ = is_categorical
        return self

    def summarise(self, X, rows=None) -> TableSummary:
        """What a fit learns from the rows X besides the medians.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Some rows of the data, with the columns :meth:`fit_columns` saw;
            there may be none.

        rows : ndarray of shape (n_samples,), dtype=bool, default=None
            The rows to read (rows of weight zero count nowhere), without a
            copy of X; None: every row.

        Returns
        -------
        summary : TableSummary
            The summaries of parts, merged, are the summary of the whole.
        """
        X = X if is_data_frame(X) else np.asarray(X)
        if is_data_frame(X):
            changed = changed_kinds(self, X, numbers_for_categories=False)
            if changed:
                raise ValueError(DTYPES_CHANGED + changed)
        numeric_missing = self._numeric_missing(X, np.flatnonzero(~self.is_categorical_), rows)
        categories, categorical_missing, value_types = [], [], []
        for j in np.flatnonzero(self.is_categorical_):
            values, missing_values = self._present_values(X, j, rows)
            categories.append({as_python(v) for v in values})
            categorical_missing.append(missing_values)
            value_types.append(value_type(self._column(X, j)))
        n_rows = len(X) if rows is None else int(np.count_nonzero(rows))
        return TableSummary(
            numeric_missing, categories, np.asarray(categorical_missing, bool), value_types, n_rows
        )

    def fit_summary(self, summary: TableSummary, X, sample_weight=None):
        """Complete a fit begun by :meth:`fit_columns`.

        Parameters
        ----------
        summary : TableSummary
            The summary of all the data (:meth:`summarise`).

        X : {array-like, DataFrame} of shape (n_samples, n_features)
            The rows the medians are estimated on: the data, or a uniform
            sample of it (at most 30,000 of them are used).

        sample_weight : array-like of shape (n_samples,), default=None
            The weights of the rows of ``X``, counted as repetitions.

        Returns
        -------
        self : object
            The fitted encoder.
        """
        categories = []
        for j, seen in zip(np.flatnonzero(self.is_categorical_), summary.categories):
            if len(seen) >= _MAX_CODES:
                raise ValueError(
                    f"Categorical feature {self._name(j)} has {len(seen)} categories; "
                    f"at most {_MAX_CODES - 1} are supported."
                )
            categories.append(sorted(seen, key=sort_key))
            self._warn_mostly_distinct(j, len(seen), summary.n_rows)
        medians = self._medians(
            self._as_table(X), np.flatnonzero(~self.is_categorical_), sample_weight
        )
        self.medians_ = np.asarray(medians, dtype=np.float64).reshape(-1)
        self.numeric_missing_ = np.asarray(summary.numeric_missing, dtype=bool)
        self.categories_ = categories
        self.category_types_ = list(summary.value_types)
        self.categorical_missing_ = np.asarray(
            [not seen or missing for seen, missing in zip(categories, summary.categorical_missing)],
            dtype=bool,
        )
        return self

    def _warn_mostly_distinct(self, j: int, n_categories: int, n_rows: int) -> None:
        """Warn about a categorical feature whose categories are mostly seen
        once: an ID or free text, from which the network cannot learn."""
        if n_categories >= _MIN_DISTINCT_TO_WARN and n_categories > n_rows / 2:
            warnings.warn(
                f"Categorical feature {self._name(j)} has {n_categories} distinct values "
                f"in {n_rows} rows: most of its categories are seen once, too rarely to "
                "learn from, and each adds an input to the network (an ID, or free "
                "text?). Drop the column, or replace it with features of it (a length, "
                "a prefix, word counts); see the user guide, 'Tables as they come'.",
                UserWarning,
                stacklevel=4,
            )

    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit to X, then transform it (see :meth:`transform`)."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    # ---------------------------------------------------------------- transform
    def transform(self, X):
        """Encode X with the statistics and category maps learned in fit.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            The input data, with the features (and, for a DataFrame, the kinds
            of dtypes: numeric or categorical) seen in fit.

        Returns
        -------
        X_encoded : ndarray of shape (n_samples, n_encoded_features), dtype=float32
            The numeric features with missing values imputed, the missing
            indicators, then the category codes (0 for missing or unknown).
            A float array without missing values is returned as it is, float64
            included, when the encoder learned no categorical feature and no
            indicator (:attr:`is_identity_`): then a caller that reads its
            input batch by batch need not hold a copy.
        """
        check_is_fitted(self)
        if sp.issparse(X):
            raise TypeError("TabularEncoder takes dense data.")
        validate_data(self, X, skip_check_array=True, reset=False)
        return self.encode(X)

    def encode(self, X):
        """:meth:`transform` without its check of the feature names and their
        number, for a caller that has checked them (the estimators do, against
        their own fitted attributes)."""
        X = self._as_table(X)
        # The sum is finite only if no entry is NaN or infinite: one pass, no temporary.
        if self.is_identity_ and not is_data_frame(X) and X.dtype.kind == "f":
            if np.isfinite(X.sum()):
                return X
        if is_data_frame(X):
            self.check_kinds(X)
        check_value_types(self, X)
        numeric = self._numeric_block(X, np.flatnonzero(~self.is_categorical_))
        missing = np.isnan(numeric)
        numeric = np.where(missing, self.medians_, numeric)
        indicators = missing[:, self.numeric_missing_]
        codes = [
            self._codes(X, j, categories)
            for j, categories in zip(np.flatnonzero(self.is_categorical_), self.categories_)
        ]
        codes = np.column_stack(codes) if codes else np.empty((len(numeric), 0))
        warn_unknown(self, X, codes)
        return np.hstack([numeric, indicators, codes]).astype(np.float32)

    # ------------------------------------------------------- layout, for the module
    @property
    def is_identity_(self) -> bool:
        """No categorical feature and no missing indicator: the encoding of a
        float array without missing values is that array."""
        return not self.is_categorical_.any() and not self.numeric_missing_.any()

    @property
    def n_numeric_(self) -> int:
        """Columns of the numeric block: features plus missing indicators."""
        return int((~self.is_categorical_).sum() + self.numeric_missing_.sum())

    @property
    def cardinalities_(self) -> list[int]:
        """Codes per categorical feature: its categories plus code 0."""
        return [len(c) + 1 for c in self.categories_]

    @property
    def one_hot_(self) -> np.ndarray:
        """Which categorical features the input layer one-hot encodes."""
        n = np.asarray([len(c) for c in self.categories_], dtype=np.int64)
        return n <= self.max_onehot_categories

    # ------------------------------------------------------------------ helpers
    def _name(self, j: int) -> str:
        names = getattr(self, "feature_names_in_", None)
        return repr(str(names[j])) if names is not None else f"at index {j}"

    def _as_table(self, X):
        """A DataFrame as it is; anything else as a 2-D numpy array."""
        if is_data_frame(X):
            if len(X) == 0:
                raise ValueError(
                    f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 "
                    "is required."
                )
            return X
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(
                f"Expected 2D array, got {X.ndim}D array instead. Reshape your data "
                "either using array.reshape(-1, 1) if your data has a single feature "
                "or array.reshape(1, -1) if it contains a single sample."
            )
        if X.shape[0] == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required."
            )
        return X

    def _kinds(self, X) -> list[str]:
        if is_data_frame(X):
            # An object column without values (a dask frame's columns, say):
            # categorical, as its dtype says.
            kinds = (column_kind(X.iloc[:, j]) for j in range(X.shape[1]))
            return [CATEGORICAL if kind is None else kind for kind in kinds]
        return [NUMERIC] * X.shape[1]

    def check_kinds(self, X) -> None:
        """The dtype of each column must be of the kind (numeric or categorical)
        seen in fit: a number where a string was, or the reverse, is an error
        rather than a silent 'unknown category'."""
        # Numbers may stand for a categorical feature whose categories are numbers.
        changed = changed_kinds(self, X, numbers_for_categories=True)
        if changed:
            raise ValueError(DTYPES_CHANGED + changed)

    def _numeric_missing(self, X, columns: np.ndarray, rows=None) -> np.ndarray:
        """Which numeric ``columns`` have missing values in ``rows`` (a mask)."""
        if not is_data_frame(X) and X.dtype.kind == "f":
            where = True if rows is None else rows[:, None]
            with np.errstate(all="ignore"):  # a sum is NaN where a column has one
                return np.isnan(X.sum(axis=0, where=where))[columns]
        block = self._numeric_block(X, columns)
        return np.isnan(block if rows is None else block[rows]).any(axis=0)

    def _medians(self, X, columns: np.ndarray, sample_weight=None) -> np.ndarray:
        """The medians of the numeric ``columns`` (the values that replace
        missing ones; 0 for a column with no value), the mean of the two
        middle values as ``SimpleImputer``'s, with weights counted as
        repetitions (rows of weight zero count nowhere). Estimated on the rows
        of :func:`~sk_mlp._preprocessing.statistics.statistics_rows`, so that a large numeric
        array costs a few temporaries of that size rather than copies of X."""
        sample = X
        if (rows := statistics_rows(len(X))) is not None:
            sample = X.iloc[rows] if is_data_frame(X) else X[rows]
            sample_weight = None if sample_weight is None else sample_weight[rows]
        numeric = self._numeric_block(sample, columns)
        if sample_weight is not None:
            weighted = np.asarray(sample_weight, dtype=np.float64) > 0
            numeric, sample_weight = numeric[weighted], sample_weight[weighted]
        if len(numeric) == 0:  # no row counts
            return np.zeros(numeric.shape[1])
        present = ~np.isnan(numeric)
        if sample_weight is None or np.ptp(sample_weight) == 0:
            numeric[:, ~present.any(axis=0)] = 0.0  # a copy: no value, median 0
            return np.nanmedian(numeric, axis=0)
        return np.array(
            [
                weighted_median(numeric[present[:, j], j], sample_weight[present[:, j]])
                if present[:, j].any()
                else 0.0
                for j in range(numeric.shape[1])
            ]
        )

    def _present_values(self, X, j: int, rows=None) -> tuple[np.ndarray, bool]:
        """The distinct non-missing values of column ``j`` in ``rows`` (a mask),
        and whether any is missing."""
        if is_data_frame(X):
            column = X.iloc[:, j] if rows is None else X.iloc[:, j][rows]
            missing = column.isna().to_numpy()
            return loaded_pandas().unique(column[~missing].to_numpy(dtype=object)), bool(
                missing.any()
            )
        values = X[:, j] if rows is None else X[:, j][rows]
        missing = np.fromiter((is_missing(v) for v in values), dtype=bool, count=len(values))
        return values[~missing], bool(missing.any())

    def _column(self, X, j: int):
        """Column ``j`` as it is: a Series of a frame, a 1-D view of an array."""
        return X.iloc[:, j] if is_data_frame(X) else X[:, j]

    def _column_values(self, X, j: int) -> np.ndarray:
        if is_data_frame(X):
            return X.iloc[:, j].to_numpy(dtype=object)
        return X[:, j]

    def _numeric_block(self, X, columns: np.ndarray) -> np.ndarray:
        """Float64 copy of the numeric columns, missing values as NaN."""
        if is_data_frame(X):
            blocks = [X.iloc[:, j].to_numpy(dtype=np.float64, na_value=np.nan) for j in columns]
            block = np.column_stack(blocks) if blocks else np.empty((len(X), 0))
        else:
            block = X[:, columns]
            if block.dtype.kind in "OUS":
                block = np.where(np.vectorize(is_missing, otypes=[bool])(block), np.nan, block)
            try:
                block = block.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise type(exc)(
                    f"{exc}. X holds values that are not numbers: pass the indices of "
                    "such features in categorical_features, or convert them to numbers."
                ) from exc
        if np.isinf(block).any():
            raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
        return block

    def _codes(self, X, j: int, categories: list) -> np.ndarray:
        """Codes of column ``j``: 1 + index in ``categories``, 0 if missing or unknown."""
        lookup = {value: code for code, value in enumerate(categories, start=1)}
        if is_data_frame(X) and isinstance(X.dtypes.iloc[j], loaded_pandas().CategoricalDtype):
            # Map the (few) categories of the dtype, then index with its codes.
            column = X.iloc[:, j]
            table = [lookup.get(as_python(c), 0) for c in column.cat.categories]
            table = np.asarray([0, *table], dtype=np.int64)
            return table[column.cat.codes.to_numpy() + 1]
        values = self._column_values(X, j)
        if is_data_frame(X):
            try:  # hashing in pandas: ~10x faster than the loop below
                return loaded_pandas().Index(categories, dtype=object).get_indexer(values) + 1
            except TypeError:
                pass
        return np.fromiter((_lookup(lookup, v) for v in values), dtype=np.int64, count=len(values))


def _lookup(lookup: dict, value) -> int:
    try:
        return lookup.get(value, 0)
    except TypeError:  # unhashable: certainly not a category seen in fit
        return 0


def _check_int(value, name):
    if not isinstance(value, Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
