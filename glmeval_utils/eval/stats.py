"""Statistics for "does a gLM probe beat one-hot?": seed summaries, bootstrap
confidence intervals and paired tests on the same test examples.

Two sources of uncertainty are reported separately:

* **test-set sampling** - a bootstrap over test examples
  (:func:`bootstrap_ci`, :func:`paired_comparison`).  Both models are
  resampled with the *same* example indices, so the CI of the difference is
  much tighter than two separate CIs suggest.
* **training randomness** - metric values across seeds
  (:func:`summarize_seeds`, :func:`seed_test`; the reference used a
  Mann-Whitney test over replicates).

A resample is represented by integer weights (how often each example is
drawn).  The named metrics ``pearson``, ``spearman`` and ``auroc`` have
weighted closed forms, so all bootstrap replicates are computed at once with
array operations (in chunks to bound memory); other metrics (``aupr``,
callables) loop over replicates.

Predictions are stored as a tidy table with :data:`PREDICTION_COLUMNS`
(see :func:`prediction_rows`); :func:`compare_to_baseline` turns it into one
row per model with mean ± sd over seeds, the paired bootstrap effect against
a baseline and its CI, and both p-values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from glmeval_utils.eval import metrics

PREDICTION_COLUMNS = ["task", "dataset", "model", "representation", "probe", "seed", "index",
                      "output", "y_true", "y_score"]
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


def _as_matrix(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name} must be (N,) or (N, K), got shape {array.shape}")
    return array


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
            values = np.concatenate([
                _WEIGHTED[metric](w[start:start + chunk].astype(float), truth, score)
                for start in range(0, len(w), chunk)])
        else:
            function = _metric_function(metric)
            values = np.array([function(np.repeat(truth, row), np.repeat(score, row))
                               for row in w.astype(int)])
        per_column.append(values)
    with np.errstate(all="ignore"):
        return np.nanmean(np.stack(per_column, axis=1), axis=1) if per_column else np.array([])


def _bootstrap_weights(n_examples: int, n_boot: int, random_state) -> np.ndarray:
    """Resampling counts ``(n_boot, N)``: each row draws N examples with replacement."""
    rng = np.random.default_rng(random_state)
    counts = np.zeros((n_boot, n_examples), dtype=np.int32)
    for row in counts:  # one row at a time keeps the index draw small
        row += np.bincount(rng.integers(0, n_examples, n_examples), minlength=n_examples)
    return counts


def metric_value(y_true, y_score, metric: str | Callable) -> float:
    """Metric on the full data, averaged over output columns for ``(N, K)`` inputs."""
    y_true, y_score = _as_matrix(y_true, "y_true"), _as_matrix(y_score, "y_score")
    return float(_metric_on_weights(np.ones((1, len(y_true))), y_true, y_score, metric)[0])


def bootstrap_ci(y_true, y_score, metric: str | Callable, *, n_boot: int = 1000,
                 ci: float = 0.95, random_state=0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of a metric over test examples.

    Parameters
    ----------
    y_true, y_score : array-like ``(N,)`` or ``(N, K)``
        ``(N, K)``: the metric is averaged over columns; examples (rows) are
        resampled jointly.  Non-finite pairs are ignored.
    metric : str or callable
        A name from :data:`glmeval_utils.eval.metrics.METRICS` or
        ``metric(y_true, y_score) -> float``.
    n_boot : int
    ci : float
        Coverage of the interval.
    random_state : int

    Returns
    -------
    (low, high) : tuple of float
    """
    y_true, y_score = _as_matrix(y_true, "y_true"), _as_matrix(y_score, "y_score")
    if y_true.shape != y_score.shape:
        raise ValueError(f"y_true {y_true.shape} and y_score {y_score.shape} differ in shape")
    values = _metric_on_weights(_bootstrap_weights(len(y_true), n_boot, random_state),
                                y_true, y_score, metric)
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


def paired_comparison(y_true, score_model, score_baseline, metric: str | Callable, *,
                      n_boot: int = 1000, ci: float = 0.95, random_state=0) -> PairedResult:
    """Paired bootstrap test of a metric difference on one test set.

    Every replicate resamples the test examples once and evaluates both
    models on that same resample.  The two-sided p-value is twice the smaller
    fraction of replicate differences on either side of zero (with the usual
    +1 correction, capped at 1): a difference whose bootstrap distribution
    straddles zero is not significant.

    Parameters
    ----------
    y_true, score_model, score_baseline : array-like ``(N,)`` or ``(N, K)``
        Examples where any of the three is non-finite are dropped for both.
    metric : str or callable
    n_boot : int
    ci : float
    random_state : int

    Returns
    -------
    PairedResult
    """
    y_true = _as_matrix(y_true, "y_true")
    model = _as_matrix(score_model, "score_model")
    baseline = _as_matrix(score_baseline, "score_baseline")
    if not y_true.shape == model.shape == baseline.shape:
        raise ValueError(f"shapes differ: y_true {y_true.shape}, model {model.shape}, "
                         f"baseline {baseline.shape}")
    shared = np.isfinite(y_true) & np.isfinite(model) & np.isfinite(baseline)
    y_true = np.where(shared, y_true, np.nan)
    weights = _bootstrap_weights(len(y_true), n_boot, random_state)
    differences = (_metric_on_weights(weights, y_true, model, metric)
                   - _metric_on_weights(weights, y_true, baseline, metric))
    differences = differences[np.isfinite(differences)]
    effect = metric_value(y_true, model, metric) - metric_value(y_true, baseline, metric)
    if differences.size == 0:  # e.g. a constant predictor: the metric is undefined everywhere
        return PairedResult(float(effect), float("nan"), float("nan"), float("nan"))
    alpha = (1 - ci) / 2
    low, high = np.quantile(differences, [alpha, 1 - alpha])
    tail = min((differences <= 0).sum(), (differences >= 0).sum())
    p_value = min(1.0, 2 * (tail + 1) / (len(differences) + 1))
    return PairedResult(float(effect), float(low), float(high), float(p_value))


# ----------------------------------------------------------------------------------------------
# tidy prediction tables


def prediction_rows(y_true, y_score, *, task: str, dataset: str, model: str,
                    representation: str, probe: str, seed: int, index=None) -> pd.DataFrame:
    """Predictions of one trained model as tidy rows (:data:`PREDICTION_COLUMNS`).

    Parameters
    ----------
    y_true, y_score : array-like ``(N,)`` or ``(N, K)``
        ``(N, K)`` gives one row per example and output (``output`` = 0..K-1).
    task, dataset, model, representation, probe, seed
        Labels shared with the results table.
    index : array-like ``(N,)``, optional
        Test-example identifiers (default ``0..N-1``); they pair the rows of
        different models in :func:`compare_to_baseline`.

    Returns
    -------
    DataFrame
    """
    y_true, y_score = _as_matrix(y_true, "y_true"), _as_matrix(y_score, "y_score")
    if y_true.shape != y_score.shape:
        raise ValueError(f"y_true {y_true.shape} and y_score {y_score.shape} differ in shape")
    n, k = y_true.shape
    index = np.arange(n) if index is None else np.asarray(index)
    if len(index) != n:
        raise ValueError(f"index has {len(index)} entries for {n} examples")
    return pd.DataFrame({
        "task": task, "dataset": dataset, "model": model, "representation": representation,
        "probe": probe, "seed": int(seed), "index": np.repeat(index, k),
        "output": np.tile(np.arange(k), n), "y_true": y_true.ravel(), "y_score": y_score.ravel()})


def prediction_matrix(rows: pd.DataFrame, value: str = "y_score") -> pd.DataFrame:
    """Examples x outputs matrix of one column of prediction rows.

    Parameters
    ----------
    rows : DataFrame
        Prediction rows (:func:`prediction_rows`) of one model; rows sharing
        an ``index`` and ``output`` (several seeds) are averaged.
    value : {"y_score", "y_true"}

    Returns
    -------
    DataFrame
        ``(N examples, K outputs)``, indexed by ``index``.
    """
    return rows.pivot_table(index="index", columns="output", values=value, aggfunc="mean",
                            dropna=False)


#: transitional private name still imported by ``experiments.performance_table``.


def seed_metric_values(rows: pd.DataFrame, metric: str | Callable) -> pd.Series:
    """The metric of each seed's predictions (mean over outputs), indexed by seed.

    Parameters
    ----------
    rows : DataFrame
        Prediction rows of one model (:func:`prediction_rows`).
    metric : str or callable
    """
    return pd.Series({seed: metric_value(prediction_matrix(group, "y_true").to_numpy(),
                                         prediction_matrix(group, "y_score").to_numpy(), metric)
                      for seed, group in rows.groupby("seed")})


def compare_to_baseline(predictions: pd.DataFrame, baseline: Mapping[str, object] | pd.DataFrame,
                        metric: str | Callable, *,
                        by: Sequence[str] = ("model", "representation", "probe"),
                        n_boot: int = 1000, ci: float = 0.95, random_state=0) -> pd.DataFrame:
    """Every model against one baseline: seed summary, paired bootstrap, seed test.

    For the paired bootstrap each model's scores are averaged over its seeds
    per test example (an ensemble over seeds), and only test examples that
    both the model and the baseline predicted are used.  Seed variability is
    tested separately on per-seed metric values (:func:`seed_test`).

    Parameters
    ----------
    predictions : DataFrame
        Tidy prediction rows (:func:`prediction_rows`), possibly from several
        tasks/datasets (compared within each ``task, dataset``).
    baseline : mapping or DataFrame
        ``{column: value}`` selecting the baseline rows of ``predictions``
        (e.g. ``{"representation": "one-hot", "probe": "resnet"}``), or the
        baseline's own prediction rows.
    metric : str or callable
    by : sequence of str
        Columns that identify a model.
    n_boot, ci, random_state
        Bootstrap settings.

    Returns
    -------
    DataFrame
        One row per model: ``task, dataset, *by, metric, value_mean,
        value_sd, n_seeds, effect, ci_low, ci_high, p_bootstrap, p_seeds,
        seed_test`` (``seed_test`` names the test behind ``p_seeds``).
    """
    by = list(by)
    if isinstance(baseline, pd.DataFrame):
        base_rows = baseline
    else:
        unknown = [c for c in baseline if c not in predictions.columns]
        if unknown:
            raise ValueError(f"baseline selects unknown columns {unknown}")
        selected = np.logical_and.reduce([predictions[c] == v for c, v in baseline.items()])
        base_rows = predictions[selected]
    if base_rows.empty:
        raise ValueError(f"no prediction rows match the baseline {baseline!r}")
    metric_name = metric if isinstance(metric, str) else getattr(metric, "__name__", "custom")
    context = [c for c in ("task", "dataset") if c in predictions.columns]
    out = []
    for key, group in predictions.groupby(context + by, sort=False):
        labels = dict(zip(context + by, key))
        base = base_rows
        for column in context:
            base = base[base[column] == labels[column]]
        if base.empty:
            raise ValueError(f"no baseline predictions for {dict(zip(context, key))}")
        model_values = seed_metric_values(group, metric)
        base_values = seed_metric_values(base, metric)
        shared = np.intersect1d(group["index"].unique(), base["index"].unique())
        truth = prediction_matrix(group[group["index"].isin(shared)], "y_true")
        model_mean = prediction_matrix(group[group["index"].isin(shared)], "y_score")
        base_mean = prediction_matrix(base[base["index"].isin(shared)]).reindex_like(model_mean)
        paired = paired_comparison(truth.to_numpy(), model_mean.to_numpy(), base_mean.to_numpy(),
                                   metric, n_boot=n_boot, ci=ci, random_state=random_state)
        seeds = seed_test(model_values, base_values)
        out.append({**labels, "metric": metric_name, "value_mean": model_values.mean(),
                    "value_sd": model_values.std(ddof=1) if len(model_values) > 1 else np.nan,
                    "n_seeds": len(model_values), "effect": paired.effect,
                    "ci_low": paired.ci_low, "ci_high": paired.ci_high,
                    "p_bootstrap": paired.p_value, "p_seeds": seeds.p_value,
                    "seed_test": ("mann-whitney" if np.isfinite(seeds.mannwhitney_p)
                                  else "welch" if np.isfinite(seeds.welch_p) else "none")})
    return pd.DataFrame(out)
