"""Performance of each model configuration: per seed, over seeds, with bootstrap intervals.

A configuration's value is the mean over its training seeds of each seed's
metric.  Two sources of uncertainty are kept apart: the spread over seeds
(``sd``) and test-set sampling (a bootstrap of that mean over the data set's
independent groups, ``ci_low``/``ci_high``).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from glmeval_utils.eval import metrics, results
from glmeval_utils.eval.stats import bootstrap_ci, metric_value
from glmeval_utils.predictions import CONFIGURATION, example_groups, model_label, prediction_matrix

#: columns of one configuration in one data set.
CONFIGURATION_KEYS = ["task", "dataset", *CONFIGURATION]


def seed_metric_values(rows: pd.DataFrame, metric: str | Callable) -> pd.Series:
    """The metric of each seed's predictions (mean over outputs), indexed by seed.

    Parameters
    ----------
    rows : DataFrame
        Prediction rows of one configuration and one split.
    metric : str or callable
    """
    return pd.Series({seed: metric_value(prediction_matrix(group, "y_true").to_numpy(),
                                         prediction_matrix(group, "y_score").to_numpy(), metric)
                      for seed, group in rows.groupby("seed")}, dtype=float)


def seed_stack(rows: pd.DataFrame, index=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y_true (N, K), scores (S, N, K), groups (N,))`` of one configuration and split, one layer per seed.

    ``index`` fixes the examples and their order (default: every example of
    ``rows``); a seed that did not predict an example gets NaN there.
    """
    truth = prediction_matrix(rows, "y_true")
    if index is not None:
        truth = truth.reindex(index)
    scores = np.stack([prediction_matrix(part, "y_score").reindex_like(truth).to_numpy()
                       for _, part in rows.groupby("seed", sort=True)])
    return truth.to_numpy(), scores, example_groups(rows, truth.index)


def seed_metrics(predictions: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Per-seed metrics of every configuration and split, as rows of the results table.

    Multi-output tasks are scored per output and averaged, as the paper
    averaged Spearman over tissues.
    """
    if kind not in ("regression", "binary"):
        raise ValueError(f"kind must be 'regression' or 'binary', got {kind!r}")
    keys = ["task", "dataset", "model", "representation", "probe", "seed", "split"]
    rows = []
    for labels, group in predictions.groupby(keys, sort=False):
        per_output = [metrics.evaluate(part.y_true, part.y_score, task=kind)
                      for _, part in group.groupby("output")]
        averaged = pd.DataFrame(per_output).mean(skipna=True).to_dict()
        rows.extend(results.make_rows(averaged, **dict(zip(keys, labels))))
    return pd.DataFrame(rows, columns=results.COLUMNS)


def performance_table(predictions: pd.DataFrame, metric: str, *, n_boot: int = 1000, ci_metric: bool = True,
                      seed: int = 0) -> pd.DataFrame:
    """One row per configuration: test metric mean ± sd over seeds, validation mean, bootstrap CI.

    Parameters
    ----------
    predictions : DataFrame
        Prediction rows with ``split`` ``"valid"`` and ``"test"``.
    metric : str
    n_boot : int
    ci_metric : bool
        Compute the bootstrap interval (False leaves ``ci_low``/``ci_high``
        NaN, e.g. for AUPR whose bootstrap loops over replicates).
    seed : int

    Returns
    -------
    DataFrame
        ``task, dataset, model, role, representation, probe, label, metric,
        valid_mean, mean, sd, n_seeds, ci_low, ci_high`` (the interval of
        ``mean``, resampling independent groups of test examples), sorted by
        ``mean`` (descending) within each data set.
    """
    rows = []
    for labels, group in predictions.groupby(CONFIGURATION_KEYS, sort=False):
        test, valid = group[group["split"] == "test"], group[group["split"] == "valid"]
        if test.empty:
            continue
        per_seed = seed_metric_values(test, metric).to_numpy()
        y_true, scores, groups = seed_stack(test)
        low = high = np.nan
        if ci_metric:
            low, high = bootstrap_ci(y_true, scores, metric, groups=groups, n_boot=n_boot,
                                     seed=seed)
        row = dict(zip(CONFIGURATION_KEYS, labels))
        row.update(label=model_label(row["model"], row["representation"], row["probe"]), metric=metric,
                   valid_mean=float(seed_metric_values(valid, metric).mean()) if len(valid) else np.nan,
                   mean=float(np.mean(per_seed)),
                   sd=float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else float("nan"),
                   n_seeds=len(per_seed), ci_low=low, ci_high=high)
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values(["dataset", "mean"], ascending=[True, False], ignore_index=True, kind="stable")


def mean_over_datasets(performance: pd.DataFrame, *, ci: float = 0.95,
                       keys: Sequence[str] = ("model", "role", "representation", "probe")) -> pd.DataFrame:
    """Average of each configuration's per-data-set value over data sets (the paper's summary bars).

    Parameters
    ----------
    performance : DataFrame
        :func:`performance_table` rows of one metric.

    Returns
    -------
    DataFrame
        ``keys``, ``label, valid_mean`` (when the input has it), ``mean, sd,
        n_datasets, ci_low, ci_high`` (t interval over data sets; NaN with one
        data set), sorted by ``mean``.  Only
        configurations present on every data set are kept, so averages
        compare like with like.
    """
    if performance.empty:
        raise ValueError("no performance rows to average")
    keys = list(keys)
    n_sets = performance["dataset"].nunique()
    out = []
    for labels, group in performance.groupby(keys, sort=False):
        if group["dataset"].nunique() < n_sets:
            continue
        values = group["mean"].to_numpy(dtype=float)
        n = len(values)
        sd = float(np.std(values, ddof=1)) if n > 1 else float("nan")
        half = float(sps.t.ppf(0.5 + ci / 2, n - 1) * sd / np.sqrt(n)) if n > 1 else float("nan")
        mean = float(values.mean())
        row = dict(zip(keys, labels))
        if "valid_mean" in group:
            row["valid_mean"] = float(group["valid_mean"].mean())
        out.append({**row, "label": model_label(row["model"], row["representation"], row["probe"]),
                    "mean": mean, "sd": sd, "n_datasets": n, "ci_low": mean - half, "ci_high": mean + half})
    return pd.DataFrame(out).sort_values("mean", ascending=False, ignore_index=True)
