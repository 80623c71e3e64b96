"""Choosing a configuration on validation scores, with one rule for every side.

A model may be trained in several configurations (representation and probe,
layer, data fraction, one-hot architecture).  Which one is reported is decided
here, on the **validation** predictions only, by the same rule for gLMs,
controls and one-hot models: the configuration with the highest validation
metric, averaged over seeds (ties broken by name, so the choice is
deterministic).  The test predictions are then read once, for the reported
number (:func:`chosen_rows`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from glmeval_utils.eval.performance import seed_metric_values

#: what identifies a configuration of one model.
CANDIDATE_COLUMNS = ("representation", "probe")
#: what identifies one model within a task and data set.
MODEL_COLUMNS = ("task", "dataset", "model", "role")


def validation_scores(predictions: pd.DataFrame, metric: str | Callable, *,
                      by: Sequence[str] = MODEL_COLUMNS,
                      among: Sequence[str] = CANDIDATE_COLUMNS) -> pd.DataFrame:
    """Mean validation metric over seeds of every configuration.

    Returns
    -------
    DataFrame
        ``by`` and ``among`` columns, ``valid_value``, ``n_seeds``.

    Raises
    ------
    ValueError
        When a configuration has no validation predictions: choosing it on
        the test set instead is exactly what this module prevents.
    """
    keys = [*by, *among]
    missing = [c for c in [*keys, "split"] if c not in predictions.columns]
    if missing:
        raise ValueError(f"prediction table lacks columns {missing}")
    rows = []
    for labels, group in predictions.groupby(keys, sort=False):
        valid = group[group["split"] == "valid"]
        if valid.empty:
            raise ValueError(f"no validation predictions for {dict(zip(keys, labels))}: configurations are "
                             "chosen on validation scores, so every model must predict the validation split")
        per_seed = seed_metric_values(valid, metric).dropna()
        rows.append({**dict(zip(keys, labels)), "valid_value": float(per_seed.mean()) if len(per_seed) else np.nan,
                     "n_seeds": len(per_seed)})
    return pd.DataFrame(rows, columns=[*keys, "valid_value", "n_seeds"])


def select_on_validation(predictions: pd.DataFrame, metric: str | Callable, *,
                         by: Sequence[str] = MODEL_COLUMNS,
                         among: Sequence[str] = CANDIDATE_COLUMNS) -> pd.DataFrame:
    """The configuration of each model with the highest mean validation metric.

    Parameters
    ----------
    predictions : DataFrame
        Prediction rows (:mod:`glmeval_utils.predictions`) with ``split``
        ``"valid"`` and ``"test"``.
    metric : str or callable
        Higher is better.
    by : sequence of str
        Columns of one side of a comparison (default: one model in one data set).
    among : sequence of str
        Columns whose combinations are the candidates.

    Returns
    -------
    DataFrame
        One row per ``by`` group: the chosen ``among`` values, ``valid_value``
        and ``n_candidates``.  A group whose every candidate scores NaN on
        validation (e.g. a constant predictor) keeps its first candidate in
        name order and ``valid_value`` NaN.
    """
    scores = validation_scores(predictions, metric, by=by, among=among)
    out = []
    for labels, group in scores.groupby(list(by), sort=False):
        ranked = group.assign(_rank=-group["valid_value"].fillna(-np.inf)).sort_values(["_rank", *among])
        chosen = ranked.iloc[0].drop("_rank").to_dict()
        chosen["n_candidates"] = len(group)
        out.append(chosen)
    return pd.DataFrame(out, columns=[*by, *among, "valid_value", "n_seeds", "n_candidates"])


def chosen_rows(predictions: pd.DataFrame, selection: pd.DataFrame, *, split: str = "test") -> pd.DataFrame:
    """The ``split`` prediction rows of the configurations in ``selection``."""
    keys = [c for c in selection.columns if c in predictions.columns and c not in ("split",)]
    keys = [c for c in keys if c not in ("valid_value", "n_seeds", "n_candidates")]
    rows = predictions[predictions["split"] == split]
    return rows.merge(selection[keys].drop_duplicates(), on=keys, how="inner")
