"""Statistics for "does a gLM probe beat one-hot?": seed summaries, bootstrap
confidence intervals and paired tests on the same test examples.

Two sources of uncertainty are reported separately:

* **test-set sampling** - a bootstrap over test examples, or over their
  independent groups when rows are correlated (:func:`bootstrap_ci`,
  :func:`paired_comparison`, :func:`bootstrap_weights`).  Both models are
  resampled with the *same* draws, so the CI of the difference is much
  tighter than two separate CIs suggest.
* **training randomness** - metric values across seeds
  (:func:`summarize_seeds`, :func:`seed_test`; the reference used a
  Mann-Whitney test over replicates).

A resample is represented by integer weights (how often each example is
drawn).  The named metrics ``pearson``, ``spearman`` and ``auroc`` have
weighted closed forms, so all bootstrap replicates are computed at once with
array operations (in chunks to bound memory); other metrics (``aupr``,
callables) loop over replicates.

The prediction table these functions are applied to is described in
:mod:`glmeval_utils.predictions`; :mod:`glmeval_utils.eval.compare` turns it
into comparisons.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from glmeval_utils.eval import metrics
from glmeval_utils.predictions import as_matrix

#: largest bootstrap weight matrix (replicates x examples) built at once.
_CHUNK_CELLS = 4_000_000


# ----------------------------------------------------------------------------------------------
# seeds


def summarize_seeds(df: pd.DataFrame, value: str = "value", by: Sequence[str] | None = None
                    ) -> pd.DataFrame:
    """Mean, standard deviation (ddof=1) and count of ``value`` per group.

    Parameters
    ----------
    df : DataFrame
        A results table (one row per seed and metric).
    value : str
        Column to summarise.
    by : list of str, optional
        Grouping columns; default: every column of
        ``task, dataset, model, representation, probe, split, metric`` present.

    Returns
    -------
    DataFrame
        ``by`` columns plus ``{value}_mean``, ``{value}_sd``, ``n``.
    """
    if by is None:
        by = [c for c in ("task", "dataset", "model", "representation", "probe", "split", "metric")
              if c in df.columns]
    missing = [c for c in [*by, value] if c not in df.columns]
    if missing:
        raise ValueError(f"table lacks columns {missing}")
    grouped = df.groupby(list(by), sort=False, dropna=False)[value]
    out = grouped.agg(["mean", "std", "count"]).reset_index()
    return out.rename(columns={"mean": f"{value}_mean", "std": f"{value}_sd", "count": "n"})


@dataclass(frozen=True)
class SeedTest:
    """Two-sided tests of per-seed metric values, model against baseline.

    ``welch_*``: Welch's unequal-variance t-test (NaN with < 2 values per group);
    ``mannwhitney_*``: the reference's Mann-Whitney U test (NaN with < 3 per group).
    """

    welch_t: float
    welch_p: float
    mannwhitney_u: float
    mannwhitney_p: float

    @property
    def p_value(self) -> float:
        """Mann-Whitney p when available (the reference's test), else Welch's."""
        return self.welch_p if np.isnan(self.mannwhitney_p) else self.mannwhitney_p


def seed_test(model_values, baseline_values) -> SeedTest:
    """Compare metric values across seeds (two-sided Welch t and Mann-Whitney U).

    Parameters
    ----------
    model_values, baseline_values : array-like ``(n_seeds,)``

    Returns
    -------
    SeedTest
    """
    a = np.asarray(model_values, dtype=float)
    b = np.asarray(baseline_values, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    nan = float("nan")
    welch = (nan, nan)
    if min(a.size, b.size) >= 2:
        result = sps.ttest_ind(a, b, equal_var=False)
        welch = (float(result.statistic), float(result.pvalue))
    whitney = (nan, nan)
    if min(a.size, b.size) >= 3:
        result = sps.mannwhitneyu(a, b, alternative="two-sided")
        whitney = (float(result.statistic), float(result.pvalue))
    return SeedTest(*welch, *whitney)


# ----------------------------------------------------------------------------------------------
# weighted metrics: one value per row of a weight matrix W (n_boot, N)


def _weighted_pearson(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    total = w.sum(axis=1)
    mx, my = (w @ x) / total, (w @ y) / total
    cov = (w @ (x * y)) / total - mx * my
    vx = (w @ (x * x)) / total - mx**2
    vy = (w @ (y * y)) / total - my**2
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(vx * vy)
    return np.where((vx > 1e-12 * (mx**2 + 1)) & (vy > 1e-12 * (my**2 + 1)), r, np.nan)


def _tie_blocks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort order and, per sorted position, first and last position of its tie block."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    first = np.searchsorted(sorted_values, sorted_values, side="left")
    last = np.searchsorted(sorted_values, sorted_values, side="right") - 1
    return order, first, last


def _weighted_ranks(w: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Average ranks of each example within each weighted resample, ``(n_boot, N)``."""
    order, first, last = _tie_blocks(values)
    cumulative = np.cumsum(w[:, order], axis=1)
    padded = np.concatenate([np.zeros((len(w), 1)), cumulative], axis=1)
    below = padded[:, first]
    tied = padded[:, last + 1] - below
    ranks = np.empty_like(cumulative)
    ranks[:, order] = below + (tied + 1) / 2
    return ranks


def _weighted_spearman(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    rx, ry = _weighted_ranks(w, x), _weighted_ranks(w, y)
    # the ranks differ per replicate, so the weighted moments are row-wise
    total = w.sum(axis=1, keepdims=True)
    mx = (w * rx).sum(axis=1, keepdims=True) / total
    my = (w * ry).sum(axis=1, keepdims=True) / total
    cov = (w * (rx - mx) * (ry - my)).sum(axis=1)
    vx = (w * (rx - mx) ** 2).sum(axis=1)
    vy = (w * (ry - my) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(vx * vy)
    return np.where((vx > 0) & (vy > 0), r, np.nan)


def _weighted_auroc(w: np.ndarray, y_true: np.ndarray, y_score: np.ndarray) -> np.ndarray:
    """Mann-Whitney form: P(score_pos > score_neg) + 0.5 P(tie), weighted."""
    metrics._check_binary(y_true)
    positive = y_true == 1
    order, first, last = _tie_blocks(y_score)
    negatives = np.cumsum((w * ~positive)[:, order], axis=1)
    padded = np.concatenate([np.zeros((len(w), 1)), negatives], axis=1)
    below, tied = padded[:, first], padded[:, last + 1] - padded[:, first]
    pos_weight = (w * positive)[:, order]
    n_pos, n_neg = pos_weight.sum(axis=1), negatives[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (pos_weight * (below + 0.5 * tied)).sum(axis=1) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


_WEIGHTED = {"pearson": _weighted_pearson, "spearman": _weighted_spearman,
             "auroc": _weighted_auroc}


def _metric_function(metric: str | Callable) -> Callable:
    if callable(metric):
        return metric
    if metric not in metrics.METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {sorted(metrics.METRICS)} "
                         "or a callable(y_true, y_score)")
    return metrics.METRICS[metric]


def _metric_on_weights(weights: np.ndarray, y_true: np.ndarray, y_score: np.ndarray,
                       metric: str | Callable) -> np.ndarray:
    """Metric of each weighted resample, averaged over the K output columns.

    Parameters
    ----------
    weights : (n_boot, N) non-negative integer counts
    y_true, y_score : (N, K); non-finite pairs get weight 0 in their column.

    Returns
    -------
    (n_boot,) array
    """
    per_column = []
    for k in range(y_true.shape[1]):
        truth, score = y_true[:, k], y_score[:, k]
        observed = np.isfinite(truth) & np.isfinite(score)
        w, truth, score = weights[:, observed], truth[observed], score[observed]
        if not callable(metric) and metric in _WEIGHTED:
            chunk = max(1, _CHUNK_CELLS // max(len(truth), 1))
            with np.errstate(invalid="ignore", divide="ignore"):
                values = np.concatenate([
                    _WEIGHTED[metric](w[start:start + chunk].astype(float), truth, score)
                    for start in range(0, len(w), chunk)])
            if metric in ("pearson", "spearman"):
                # as metrics.pearson/spearman: undefined on fewer than 3 distinct observations
                values = np.where((w > 0).sum(axis=1) >= 3, values, np.nan)
        else:
            function = _metric_function(metric)
            values = np.array([function(np.repeat(truth, row), np.repeat(score, row))
                               for row in w.astype(int)])
        per_column.append(values)
    if not per_column:
        return np.array([])
    with warnings.catch_warnings():  # a replicate where every output is undefined stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(per_column, axis=1), axis=1)


def bootstrap_weights(n_examples: int, n_boot: int, seed=0, *, groups=None) -> np.ndarray:
    """Resampling counts ``(n_boot, N)``: how often each example is drawn in each replicate.

    Without ``groups`` each replicate draws N examples with replacement.  With
    ``groups`` (one label per example) it draws the G groups with replacement
    and every example counts as often as its group was drawn (the cluster
    bootstrap): examples of one group, such as the three alternatives of a
    variant position, are never split, so correlated rows do not pass for
    independent ones.
    """
    rng = np.random.default_rng(seed)
    if groups is None:
        codes, n_units = np.arange(n_examples), n_examples
    else:
        groups = np.asarray(groups)
        if len(groups) != n_examples:
            raise ValueError(f"groups has {len(groups)} labels for {n_examples} examples")
        _, first, codes = np.unique(groups, return_index=True, return_inverse=True)
        # units numbered by first appearance: one group per example draws exactly as no groups
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        codes = rank[codes.reshape(-1)]
        n_units = len(first)
    counts = np.zeros((n_boot, n_units), dtype=np.int32)
    for row in counts:  # one row at a time keeps the index draw small
        row += np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)
    return counts[:, codes]


def as_seeds(values, name: str) -> np.ndarray:
    """Scores as ``(S, N, K)``: ``(N,)`` and ``(N, K)`` are one seed; ``(S, N, K)`` stays."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 3:
        return array
    return as_matrix(array, name)[None]


def _seed_mean_on_weights(weights: np.ndarray, y_true: np.ndarray, scores: np.ndarray,
                          metric: str | Callable) -> np.ndarray:
    """Mean over the seeds ``scores[s]`` of each seed's metric, per weighted resample: ``(n_boot,)``."""
    per_seed = np.stack([_metric_on_weights(weights, y_true, seed_scores, metric) for seed_scores in scores])
    with warnings.catch_warnings():  # a resample where every seed is undefined stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(per_seed, axis=0)


def metric_value(y_true, y_score, metric: str | Callable) -> float:
    """Metric on the full data, averaged over output columns for ``(N, K)`` inputs.

    ``(S, N, K)`` scores (S training seeds) give the mean over seeds of each
    seed's metric, the value a model is reported with.
    """
    y_true, scores = as_matrix(y_true, "y_true"), as_seeds(y_score, "y_score")
    return float(_seed_mean_on_weights(np.ones((1, len(y_true))), y_true, scores, metric)[0])


def bootstrap_ci(y_true, y_score, metric: str | Callable, *, groups=None, n_boot: int = 1000,
                 ci: float = 0.95, seed=0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of a metric over test examples (or their groups).

    Parameters
    ----------
    y_true : array-like ``(N,)`` or ``(N, K)``
        ``(N, K)``: the metric is averaged over columns; examples (rows) are
        resampled jointly.  Non-finite pairs are ignored.
    y_score : array-like ``(N,)``, ``(N, K)`` or ``(S, N, K)``
        With S training seeds, the statistic is the mean over seeds of each
        seed's metric (:func:`metric_value`).
    metric : str or callable
        A name from :data:`glmeval_utils.eval.metrics.METRICS` or
        ``metric(y_true, y_score) -> float``.
    groups : array-like ``(N,)``, optional
        Independent unit of each example; the bootstrap resamples groups
        (:func:`bootstrap_weights`).
    n_boot : int
    ci : float
        Coverage of the interval.
    seed : int

    Returns
    -------
    (low, high) : tuple of float
    """
    y_true, scores = as_matrix(y_true, "y_true"), as_seeds(y_score, "y_score")
    if y_true.shape != scores.shape[1:]:
        raise ValueError(f"y_true {y_true.shape} and y_score {scores.shape[1:]} differ in shape")
    values = _seed_mean_on_weights(bootstrap_weights(len(y_true), n_boot, seed, groups=groups),
                                   y_true, scores, metric)
    if not np.isfinite(values).any():  # e.g. a constant predictor: the metric is undefined everywhere
        return float("nan"), float("nan")
    alpha = (1 - ci) / 2
    low, high = np.nanquantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


@dataclass(frozen=True)
class PairedResult:
    """Paired bootstrap of ``metric(model) - metric(baseline)`` on the same examples."""

    effect: float
    ci_low: float
    ci_high: float
    p_value: float


def paired_comparison(y_true, score_model, score_baseline, metric: str | Callable, *, groups=None,
                      n_boot: int = 1000, ci: float = 0.95, seed=0) -> PairedResult:
    """Paired bootstrap test of a metric difference on one test set.

    Every replicate resamples the test examples (or, with ``groups``, their
    independent groups) once and evaluates both models on that same
    resample; a model given as ``(S, N, K)`` scores of S seeds is evaluated
    as the mean over seeds of each seed's metric, so a model fitted once (a
    linear probe) and one fitted on five seeds are compared on the same
    footing as their reported values.  The two-sided p-value is twice the smaller
    fraction of replicate differences on either side of zero (with the usual
    +1 correction, capped at 1): a difference whose bootstrap distribution
    straddles zero is not significant.

    Parameters
    ----------
    y_true : array-like ``(N,)`` or ``(N, K)``
    score_model, score_baseline : array-like ``(N,)``, ``(N, K)`` or ``(S, N, K)``
        Examples where the truth or any seed's score is non-finite are
        dropped for both models.
    metric : str or callable
    groups : array-like ``(N,)``, optional
        Independent unit of each example (cluster bootstrap).
    n_boot : int
    ci : float
    seed : int

    Returns
    -------
    PairedResult
    """
    y_true = as_matrix(y_true, "y_true")
    model = as_seeds(score_model, "score_model")
    baseline = as_seeds(score_baseline, "score_baseline")
    if not y_true.shape == model.shape[1:] == baseline.shape[1:]:
        raise ValueError(f"shapes differ: y_true {y_true.shape}, model {model.shape[1:]}, "
                         f"baseline {baseline.shape[1:]}")
    shared = np.isfinite(y_true) & np.isfinite(model).all(axis=0) & np.isfinite(baseline).all(axis=0)
    y_true = np.where(shared, y_true, np.nan)
    weights = bootstrap_weights(len(y_true), n_boot, seed, groups=groups)
    differences = (_seed_mean_on_weights(weights, y_true, model, metric)
                   - _seed_mean_on_weights(weights, y_true, baseline, metric))
    differences = differences[np.isfinite(differences)]
    effect = metric_value(y_true, model, metric) - metric_value(y_true, baseline, metric)
    if differences.size == 0:  # e.g. a constant predictor: the metric is undefined everywhere
        return PairedResult(float(effect), float("nan"), float("nan"), float("nan"))
    alpha = (1 - ci) / 2
    low, high = np.quantile(differences, [alpha, 1 - alpha])
    tail = min((differences <= 0).sum(), (differences >= 0).sum())
    p_value = min(1.0, 2 * (tail + 1) / (len(differences) + 1))
    return PairedResult(float(effect), float(low), float(high), float(p_value))


def bootstrap_mean_ci(values, *, groups=None, n_boot: int = 2000, ci: float = 0.95,
                      seed=0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-unit values (NaN dropped).

    Parameters
    ----------
    values : array-like ``(N,)``
        E.g. one agreement value per sequence, one correlation per element.
    groups : array-like ``(N,)``, optional
        Resample groups of values instead of single values.
    n_boot, ci, seed
        Bootstrap settings.

    Returns
    -------
    (low, high) : tuple of float
        NaN when fewer than two finite values remain.
    """
    values = np.asarray(values, dtype=float)
    keep = np.isfinite(values)
    if keep.sum() < 2:
        return float("nan"), float("nan")
    groups = None if groups is None else np.asarray(groups)[keep]
    weights = bootstrap_weights(int(keep.sum()), n_boot, seed, groups=groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (weights @ values[keep]) / weights.sum(axis=1)
    alpha = (1 - ci) / 2
    low, high = np.nanquantile(means, [alpha, 1 - alpha])
    return float(low), float(high)
