"""How well variant-effect scores track measured effects: per element, over elements, against chance.

Scores come from :mod:`glmeval_utils.score.zeroshot` (likelihood ratios,
embedding distances) or from supervised models (``delta_*``: prediction of the
alternative minus the reference).  The paper's metric:

* every **zero-shot** score is correlated with **|measured effect|** — a
  distance or |LLR| says *how much* a variant matters, not in which direction
  (for likelihoods the headline is |LLR|; the signed LLR against the signed
  effect is kept as an extra);
* a **supervised** Δ prediction is correlated with the **signed** effect.

Variants are not independent: the three alternatives of one position share a
reference window and usually a fate.  Intervals therefore resample positions
(``group``), and the chance level of |r| counts positions, not variants.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from glmeval_utils.eval import metrics, results
from glmeval_utils.eval.stats import bootstrap_ci, bootstrap_mean_ci

#: CAGI5 ``confidence`` threshold for a "high-confidence effect" variant.  The
#: released training set has median confidence 0.02; 24 % of its SNVs reach
#: 0.1, and their median |effect| is 0.41 against 0.06 below it.
CONFIDENCE_THRESHOLD = 0.1
#: metrics of :func:`evaluate_scores`: (function, compare with |effect|?).
METRICS = {"pearson": ("pearson", False), "spearman": ("spearman", False),
           "pearson_abs_effect": ("pearson", True), "spearman_abs_effect": ("spearman", True)}


def is_supervised(score: str) -> bool:
    """Supervised Δ predictions are named ``delta_*``; every other score is zero-shot."""
    return score.startswith("delta_")


def headline_metric(score: str) -> str:
    """The paper's metric of a score: Pearson r with |effect| (zero-shot) or with the signed effect (Δ)."""
    return "pearson" if is_supervised(score) else "pearson_abs_effect"


def is_headline(score: str) -> bool:
    """Whether a score is one the paper reports: Δ predictions, distances and |LLR| (not the signed LLR)."""
    return is_supervised(score) or score.startswith("abs_") or "llr" not in score


def evaluate_scores(table: pd.DataFrame, score_columns: Sequence[str], *, effect: str = "effect",
                    by: str | None = "element", group: str | None = None, confidence: str | None = "confidence",
                    confidence_threshold: float = CONFIDENCE_THRESHOLD, n_boot: int = 1000,
                    seed: int = 0) -> pd.DataFrame:
    """Per-element agreement of variant scores with measured effects.

    Metrics per element and score column:

    * ``pearson``, ``spearman``: against the signed effect;
    * ``pearson_abs_effect``, ``spearman_abs_effect``: against ``|effect|``;
    * ``auroc``: ``|score|`` separating high-confidence effect variants
      (``confidence >= confidence_threshold``) from the rest, when the
      ``confidence`` column exists.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per variant with ``effect``, the score columns, ``by`` and ``group``.
    score_columns : sequence of str
    effect : str
        Column with the measured (signed) effect.
    by : str or None
        Element column; None evaluates all rows as one element ``"all"``.
    group : str or None
        Independent unit of a variant (e.g. its position); the 95% intervals
        resample groups.  None resamples variants.
    confidence : str or None
    confidence_threshold : float
    n_boot : int
        Bootstrap replicates (0: no intervals).
    seed : int

    Returns
    -------
    pandas.DataFrame
        ``<by>, score, metric, value, ci_low, ci_high, n, n_groups``.
    """
    element_column = by or "element"
    for column in [effect, *score_columns, *[c for c in (by, group) if c]]:
        if column not in table.columns:
            raise ValueError(f"variant table has no column {column!r}")
    elements = table.groupby(by, sort=True) if by else [("all", table)]
    use_confidence = confidence is not None and confidence in table.columns
    rows = []
    for element, part in elements:
        effects = part[effect].to_numpy(float)
        for score_column in score_columns:
            scores = part[score_column].to_numpy(float)
            keep = np.isfinite(effects) & np.isfinite(scores)
            groups = part[group].to_numpy()[keep] if group else None
            inputs = {name: (function, np.abs(effects[keep]) if absolute else effects[keep], scores[keep])
                      for name, (function, absolute) in METRICS.items()}
            if use_confidence:
                labels = (part[confidence].to_numpy(float)[keep] >= confidence_threshold).astype(float)
                inputs["auroc"] = ("auroc", labels, np.abs(scores[keep]))
            for metric, (function, y_true, y_score) in inputs.items():
                value = metrics.METRICS[function](y_true, y_score)
                low = high = np.nan
                if n_boot > 0 and np.isfinite(value):
                    low, high = bootstrap_ci(y_true, y_score, function, groups=groups, n_boot=n_boot,
                                             seed=seed)
                rows.append({element_column: element, "score": score_column, "metric": metric, "value": value,
                             "ci_low": low, "ci_high": high, "n": int(keep.sum()),
                             "n_groups": int(len(np.unique(groups))) if groups is not None else int(keep.sum())})
    return pd.DataFrame(rows, columns=[element_column, "score", "metric", "value", "ci_low", "ci_high", "n",
                                       "n_groups"])


def chance_abs_r(n_groups, *, level: float = 0.975) -> tuple[float, float]:
    """Mean |r| over elements that a score unrelated to the effects reaches by chance, and its upper bound.

    Under no association, r over ``n`` independent units is about
    N(0, 1/(n-1)), so E|r| = sqrt(2 / (π (n - 1))) and Var|r| = (1 - 2/π)/(n - 1).
    Averaged over elements with ``n_groups`` independent units each (positions,
    not variants), the mean |r| has the averaged mean and a variance summed
    and divided by the number of elements squared.

    Parameters
    ----------
    n_groups : array-like
        Independent units per element (at least 3 each).
    level : float
        One-sided level of the upper bound.

    Returns
    -------
    (expected, bound) : tuple of float
    """
    n = np.asarray(n_groups, dtype=float)
    n = n[n >= 3]
    if n.size == 0:
        return float("nan"), float("nan")
    expected = np.sqrt(2 / (np.pi * (n - 1)))
    variance = (1 - 2 / np.pi) / (n - 1)
    mean = float(expected.mean())
    sd = float(np.sqrt(variance.sum()) / n.size)
    return mean, mean + float(sps.norm.ppf(level)) * sd


def score_summary(metric_table: pd.DataFrame, *, by: Sequence[str] = ("model", "score")) -> pd.DataFrame:
    """Spread of each score's headline metric over elements.

    Parameters
    ----------
    metric_table : pandas.DataFrame
        :func:`evaluate_scores` rows with the ``by`` columns (one is ``score``).

    Returns
    -------
    pandas.DataFrame
        ``by`` columns, ``metric``, ``mean_r``, ``mean_abs_r``, ``sd_r``,
        ``min_r``, ``max_r``, ``n_elements``, ``n_ci_excludes_0``,
        ``n_groups`` (median independent units per element), sorted by
        ``mean_abs_r`` (descending).
    """
    table = metric_table[metric_table["metric"] == metric_table["score"].map(headline_metric)]
    rows = []
    for keys, part in table.groupby(list(by), sort=False):
        values = part["value"].to_numpy(float)
        excludes = ((part["ci_low"] > 0) | (part["ci_high"] < 0)).sum()
        row = dict(zip(by, keys if isinstance(keys, tuple) else (keys,)))
        finite = values[np.isfinite(values)]
        row.update(metric=part["metric"].iloc[0], mean_r=np.mean(finite) if finite.size else np.nan,
                   mean_abs_r=np.mean(np.abs(finite)) if finite.size else np.nan,
                   sd_r=np.std(finite, ddof=1) if finite.size > 1 else np.nan,
                   min_r=finite.min() if finite.size else np.nan, max_r=finite.max() if finite.size else np.nan,
                   n_elements=int(finite.size), n_ci_excludes_0=int(excludes),
                   n_groups=float(part["n_groups"].median()) if "n_groups" in part else np.nan)
        rows.append(row)
    return pd.DataFrame(rows).sort_values("mean_abs_r", ascending=False, ignore_index=True)


def paired_contrast(metric_table: pd.DataFrame, a: Mapping[str, str], b: Mapping[str, str], *,
                    absolute: bool = False, n_boot: int = 2000, seed: int = 0) -> dict:
    """Compare two scores over the elements both were evaluated on, each by its headline metric.

    Parameters
    ----------
    metric_table : pandas.DataFrame
        :func:`evaluate_scores` rows (``element``, ``metric``, ``value`` and the keys of ``a``/``b``).
    a, b : mapping
        Column → value selecting one score each, e.g. ``{"model": "teaching-mlm",
        "score": "abs_masked_llr_both"}``; a ``"metric"`` key overrides the
        headline metric of that side, an ``"absolute"`` key (bool) overrides
        ``absolute`` for that side.
    absolute : bool
        Compare ``|r|`` (strength regardless of sign) rather than r.
    n_boot : int
        Bootstrap replicates over elements for the CI of the mean difference.
    seed : int

    Returns
    -------
    dict
        ``n_elements``, ``mean_a``, ``mean_b``, ``mean_diff`` (a - b),
        ``ci_low``, ``ci_high``, ``wins_a`` (elements where a is larger).
    """
    def pick(selector):
        selector = dict(selector)
        wanted = selector.pop("metric", None) or headline_metric(selector["score"])
        magnitude = selector.pop("absolute", absolute)
        mask = metric_table["metric"] == wanted
        for column, value in selector.items():
            mask &= metric_table[column] == value
        part = metric_table[mask].set_index("element")["value"]
        if part.index.has_duplicates:
            raise ValueError(f"selector {selector} matches several rows per element")
        return part.abs() if magnitude else part

    values_a, values_b = pick(a), pick(b)
    common = values_a.index.intersection(values_b.index)
    x, y = values_a[common].to_numpy(float), values_b[common].to_numpy(float)
    keep = np.isfinite(x) & np.isfinite(y)
    diff = x[keep] - y[keep]
    low, high = bootstrap_mean_ci(diff, n_boot=n_boot, seed=seed) if n_boot > 0 else (np.nan, np.nan)
    return dict(n_elements=int(keep.sum()), mean_a=float(np.mean(x[keep])) if keep.any() else np.nan,
                mean_b=float(np.mean(y[keep])) if keep.any() else np.nan,
                mean_diff=float(diff.mean()) if len(diff) else np.nan, ci_low=low, ci_high=high,
                wins_a=int((diff > 0).sum()))


def result_rows(metric_table: pd.DataFrame, *, task: str, split: str = "test") -> pd.DataFrame:
    """Per-element metrics as rows of the shared results table (``dataset`` = element, ``representation`` = score).

    ``metric_table`` needs ``element, model, score, probe, seed, metric, value``.
    """
    table = metric_table.dropna(subset=["value"])
    out = pd.DataFrame({
        "task": task, "dataset": table["element"], "model": table["model"], "representation": table["score"],
        "probe": table["probe"], "seed": table["seed"].astype(int), "split": split,
        "metric": table["metric"], "value": table["value"].astype(float),
    })
    return results.validate(out.reset_index(drop=True))
