"""Tables shaped for reading: chosen columns with plain names, rounded, no index, intervals in one column."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

#: the name of the merged interval column.
INTERVAL = "95% CI"


class ReadingTable(pd.DataFrame):
    """A DataFrame that a page shows without its index, a missing value as a dash.

    Floats are shown with the decimals :func:`readable` rounded them to
    (``attrs["digits"]``), 3 by default.  Only the html shown in a notebook or
    the book changes; the data and every DataFrame operation stay those of pandas.
    """

    @property
    def _constructor(self):
        return ReadingTable

    def _repr_html_(self) -> str:
        digits = self.attrs.get("digits", 3)
        return self.style.hide(axis="index").format(precision=digits, na_rep="—").to_html()


def for_reading(table: pd.DataFrame) -> ReadingTable:
    """``table`` as a :class:`ReadingTable` (a copy; the index is dropped, ``attrs`` kept)."""
    out = ReadingTable(table.reset_index(drop=True))
    out.attrs = dict(table.attrs)
    return out


def _interval(low: float, high: float, digits: int) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "—"
    return f"{low:+.{digits}f} to {high:+.{digits}f}"


def readable(table: pd.DataFrame, columns: Mapping[str, str], *, digits: int = 3) -> pd.DataFrame:
    """``table[columns]`` renamed to ``columns``' values, floats rounded, index reset.

    ``ci_low`` and ``ci_high``, when both are chosen, become one column
    ``"95% CI"`` (``"-0.052 to +0.031"``) where ``ci_low`` stood, keeping
    tables narrow enough for the page.  Columns absent from ``table`` are
    skipped, so one mapping serves tables with and without optional columns;
    an empty table stays empty.
    """
    empty = table is None or table.empty
    kept = [c for c in columns if empty or c in table.columns]
    merge = "ci_low" in kept and "ci_high" in kept
    names = [INTERVAL if merge and c == "ci_low" else columns[c] for c in kept if not (merge and c == "ci_high")]
    if empty:
        return pd.DataFrame(columns=names)
    out = table[kept].copy()
    if merge:
        out["ci_low"] = [_interval(low, high, digits) for low, high in zip(out["ci_low"], out["ci_high"])]
        out = out.drop(columns="ci_high").rename(columns={"ci_low": INTERVAL})
    out = out.rename(columns={c: columns[c] for c in kept if c != "ci_low" or not merge})
    out = out.reset_index(drop=True).round(digits)
    out.attrs["digits"] = digits  # how many decimals a page shows (ReadingTable)
    return out
