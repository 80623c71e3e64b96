"""Splits of a tidy data table: deterministic subsets and the arrays a chapter trains on.

* :func:`subsample` keeps at most a number of rows per split, deterministically
  (seeded), optionally keeping groups (elements, exons) whole or stratified by
  a label; the profiles' row budgets and the binding chapters' row caps both
  go through it.
* :class:`TaskData` holds the sequences, targets, row identifiers and
  independent groups of each split, and writes prediction rows
  (:mod:`glmeval_utils.predictions`) for a model's valid and test predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from glmeval_utils.predictions import PREDICTED_SPLITS, SPLITS, prediction_rows


def _check_splits(table: pd.DataFrame, source: str) -> None:
    if "split" not in table.columns:
        raise ValueError(f"{source}: the table has no 'split' column")
    unknown = sorted(set(table["split"].astype(str)) - set(SPLITS))
    if unknown:
        raise ValueError(f"{source}: unknown split value(s) {unknown}; use {SPLITS}")


def _check_limit_names(limits: Mapping[str, int | None], source: str) -> None:
    """A cap for a misspelt split ("VALID", "validation") would silently cap nothing."""
    unknown = sorted(str(split) for split in limits if split not in SPLITS)
    if unknown:
        raise ValueError(f"{source}: row cap for unknown split(s) {unknown}; use {SPLITS}")


def row_limits(limits: Mapping[str, int | None], tighter: Mapping[str, int | None] | None = None) -> dict:
    """Per-split row caps: ``limits`` tightened by ``tighter`` (the smaller cap wins; None = no cap)."""
    _check_limit_names(limits, "row_limits")
    _check_limit_names(tighter or {}, "row_limits")
    out = dict(limits)
    for split, cap in (tighter or {}).items():
        if cap is not None:
            if cap < 0:
                raise ValueError(f"row cap of split {split!r} must be non-negative, got {cap}")
            out[split] = cap if out.get(split) is None else min(cap, out[split])
    return out


def subsample(table: pd.DataFrame, limits: Mapping[str, int | None], *, group_col: str | None = None,
              per_group: bool = False, stratify: str | None = None, seed: int = 0) -> pd.DataFrame:
    """Keep at most ``limits[split]`` rows per split, deterministically (``per_group``: about as many).

    Parameters
    ----------
    table : pandas.DataFrame
        With a ``split`` column.
    limits : mapping of split → int or None
        None (or a missing split) keeps the split whole; a key that is not a
        split name (``train``, ``valid``, ``test``) is an error.
    group_col : str, optional
        Rows sharing this column are kept or dropped together (whole groups,
        drawn in a seeded order while they fit), or, with ``per_group``, every
        group keeps an equal share of its rows.
    per_group : bool
        Keep every group and subsample rows within groups (CAGI5 elements):
        each group keeps ``limit // n_groups`` rows, at least one, so more
        groups than ``limit`` keep one row each, beyond the limit.
    stratify : str, optional
        Column whose classes keep their proportions (largest-remainder
        allocation); not combined with ``group_col``.
    seed : int

    Returns
    -------
    pandas.DataFrame
        The kept rows in their original order (index reset); ``attrs`` kept.
    """
    _check_splits(table, "subsample")
    _check_limit_names(limits, "subsample")
    if group_col is not None and stratify is not None:
        raise ValueError("subsample: choose group_col or stratify, not both")
    for column in (group_col, stratify):
        if column is not None and column not in table.columns:
            raise ValueError(f"subsample: the table has no column {column!r}")
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(table), dtype=bool)
    for split, rows in table.groupby("split", sort=True).indices.items():
        limit = limits.get(split)
        if limit is not None and limit < 0:
            raise ValueError(f"row limit of split {split!r} must be non-negative, got {limit}")
        if limit is None or len(rows) <= limit:
            keep[rows] = True
        elif stratify is not None:
            keep[_stratified(rng, rows, table[stratify].to_numpy()[rows], limit)] = True
        elif group_col is None:
            keep[rng.choice(rows, size=limit, replace=False)] = True
        elif per_group:
            members = table[group_col].to_numpy()[rows]
            groups = np.unique(members)
            share = max(1, limit // len(groups))
            for group in groups:
                in_group = rows[members == group]
                keep[rng.choice(in_group, size=min(share, len(in_group)), replace=False)] = True
        else:
            members = table[group_col].to_numpy()[rows]
            groups, inverse, sizes = np.unique(members, return_inverse=True, return_counts=True)
            chosen, total = np.zeros(len(groups), dtype=bool), 0
            for group in rng.permutation(len(groups)):
                if total + sizes[group] <= limit:
                    chosen[group], total = True, total + sizes[group]
            keep[rows[chosen[inverse]]] = True
    subset = table.loc[keep].reset_index(drop=True)
    subset.attrs = dict(table.attrs)
    return subset


def _stratified(rng: np.random.Generator, rows: np.ndarray, classes: np.ndarray, limit: int) -> np.ndarray:
    """``limit`` of ``rows`` with each class keeping its share (largest remainders round up)."""
    levels, counts = np.unique(classes, return_counts=True)
    quota = counts * limit / len(rows)
    take = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - take), kind="stable")[: limit - take.sum()]:
        take[i] += 1
    return np.concatenate([rng.choice(rows[classes == level], size=n, replace=False)
                           for level, n in zip(levels, take)])


@dataclass
class TaskData:
    """Sequences and targets of one data set, split into train / valid / test.

    Attributes
    ----------
    task : str
        Results-table task name (e.g. ``"lentimpra"``).
    dataset : str
        Registry name of the data set.
    kind : {"regression", "binary"}
    seqs : dict of str → list of str
    y : dict of str → numpy.ndarray, ``(N,)`` or ``(N, K)``
    index : dict of str → numpy.ndarray ``(N,)``
        Row identifiers; they pair the predictions of different models.
    groups : dict of str → numpy.ndarray ``(N,)``
        Independent unit of each row (element, exon, …); the row itself when
        rows are independent.
    simulated : bool
        Simulated data (:mod:`glmeval_utils.data.simulate`): teaches the
        method, never enters a biological conclusion.
    """

    task: str
    dataset: str
    kind: str
    seqs: dict
    y: dict
    index: dict
    groups: dict
    simulated: bool = False

    @classmethod
    def from_table(cls, table: pd.DataFrame, *, target: str | Sequence[str], task: str, dataset: str, kind: str,
                   seq_col: str = "seq", group_col: str | None = None,
                   simulated: bool | None = None) -> "TaskData":
        """Build from a tidy table with ``split`` and sequence columns.

        Rows whose target is missing (all NaN) are dropped.  ``group_col``
        defaults to ``table.attrs["group_col"]`` (set by the data registry)
        and ``simulated`` to ``table.attrs["simulated"]``.
        """
        if kind not in ("regression", "binary"):
            raise ValueError(f"kind must be 'regression' or 'binary', got {kind!r}")
        _check_splits(table, dataset)
        columns = [target] if isinstance(target, str) else list(target)
        group_col = group_col if group_col is not None else table.attrs.get("group_col")
        missing = [c for c in [seq_col, *columns, *([group_col] if group_col else [])] if c not in table.columns]
        if missing:
            raise ValueError(f"{dataset}: table lacks columns {missing}")
        seqs, ys, index, groups = {}, {}, {}, {}
        for split in SPLITS:
            part = table[table["split"] == split]
            values = part[columns].to_numpy(dtype=np.float32)
            keep = ~np.isnan(values).all(axis=1)
            if not keep.any():
                raise ValueError(f"{dataset}: split {split!r} has no rows with a target "
                                 f"({len(part)} rows before dropping missing targets)")
            part = part[keep]
            seqs[split] = part[seq_col].tolist()
            ys[split] = values[keep][:, 0] if len(columns) == 1 else values[keep]
            index[split] = part.index.to_numpy()
            groups[split] = (part[group_col].astype(str).to_numpy() if group_col
                             else part.index.astype(str).to_numpy())
        if simulated is None:
            simulated = bool(table.attrs.get("simulated", False))
        return cls(task, dataset, kind, seqs, ys, index, groups, simulated)

    @property
    def all_seqs(self) -> list[str]:
        """Train, valid and test sequences concatenated (the embedding order)."""
        return [s for split in SPLITS for s in self.seqs[split]]

    def split_rows(self) -> dict[str, slice]:
        """Row ranges of each split inside :attr:`all_seqs`."""
        bounds, start = {}, 0
        for split in SPLITS:
            bounds[split] = slice(start, start + len(self.seqs[split]))
            start += len(self.seqs[split])
        return bounds

    def sizes(self) -> pd.Series:
        """Rows per split."""
        return pd.Series({split: len(self.seqs[split]) for split in SPLITS}, name="rows")

    def prediction_rows(self, split: str, y_score, *, model: str, role: str, representation: str, probe: str,
                        seed: int) -> pd.DataFrame:
        """One model's predictions of ``split`` as prediction rows (:mod:`glmeval_utils.predictions`)."""
        if split not in PREDICTED_SPLITS:
            raise ValueError(f"predictions are kept for {PREDICTED_SPLITS}, not {split!r}")
        return prediction_rows(self.y[split], y_score, task=self.task, dataset=self.dataset, model=model,
                               role=role, representation=representation, probe=probe, seed=seed, split=split,
                               index=self.index[split], group=self.groups[split], simulated=self.simulated)

    def predictions_of(self, predict, X: Mapping[str, object] | None = None, **labels) -> pd.DataFrame:
        """Valid and test prediction rows of a fitted model.

        Parameters
        ----------
        predict : callable
            ``predict(inputs) -> array``.
        X : mapping split → inputs, optional
            Model inputs per split (default: the sequences).
        **labels
            ``model, role, representation, probe, seed`` of :meth:`prediction_rows`.
        """
        inputs = X if X is not None else self.seqs
        return pd.concat([self.prediction_rows(split, predict(inputs[split]), **labels)
                          for split in PREDICTED_SPLITS], ignore_index=True)
