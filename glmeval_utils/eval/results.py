"""One tidy results table shared by every notebook.

Every number the book reports is a row ``(task, dataset, model,
representation, probe, seed, split, metric, value)``.  Each notebook appends
its rows to ``<results_dir>/<task>.csv``; the summary reads them all back.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

COLUMNS = ["task", "dataset", "model", "representation", "probe", "seed", "split", "metric", "value"]
KEY = COLUMNS[:-1]


def make_rows(
    metrics: Mapping[str, float],
    *,
    task: str,
    dataset: str,
    model: str,
    representation: str,
    probe: str,
    seed: int | None = None,
    split: str = "test",
) -> list[dict]:
    """Turn ``{metric: value}`` into result rows with the shared columns."""
    return [
        dict(task=task, dataset=dataset, model=model, representation=representation,
             probe=probe, seed=-1 if seed is None else int(seed), split=split,
             metric=metric, value=float(value))
        for metric, value in metrics.items()
    ]


def validate(table: pd.DataFrame) -> pd.DataFrame:
    """Check columns and types; return the table with the canonical column order."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"results table lacks columns {missing}; expected {COLUMNS}")
    out = table[COLUMNS].copy()
    out["seed"] = out["seed"].astype(int)
    out["value"] = out["value"].astype(float)
    return out


def write_results(rows: Iterable[Mapping] | pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """Merge rows into the CSV at ``path``; rows with the same key replace old ones.

    The write is atomic (temporary file + rename), so an interrupted run never
    leaves a half-written table.  Returns the merged table.
    """
    path = Path(path)
    new = validate(pd.DataFrame(list(rows)) if not isinstance(rows, pd.DataFrame) else rows)
    if path.exists():
        old = read_results(path)
        merged = pd.concat([old, new], ignore_index=True).drop_duplicates(KEY, keep="last")
    else:
        merged = new
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            merged.to_csv(handle, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return merged


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read one results CSV, or every ``*.csv`` in a folder, into one table."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise FileNotFoundError(f"no results tables (*.csv) in {path}")
        return pd.concat([read_results(f) for f in files], ignore_index=True)
    if not path.exists():
        raise FileNotFoundError(f"results table {path} does not exist")
    return validate(pd.read_csv(path, dtype={"task": str, "dataset": str, "model": str}))
