"""Tables shaped for reading: chosen columns with plain names, rounded, no index."""

from __future__ import annotations

from typing import Mapping

import pandas as pd


def readable(table: pd.DataFrame, columns: Mapping[str, str], *, digits: int = 3) -> pd.DataFrame:
    """``table[columns]`` renamed to ``columns``' values, floats rounded, index reset.

    Columns absent from ``table`` are skipped, so one mapping serves tables
    with and without optional columns; an empty table stays empty.
    """
    if table is None or table.empty:
        return pd.DataFrame(columns=list(columns.values()))
    kept = [c for c in columns if c in table.columns]
    out = table[kept].rename(columns=dict(columns)).reset_index(drop=True)
    return out.round(digits)
