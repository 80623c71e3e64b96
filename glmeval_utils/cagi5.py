"""CAGI5 zero-shot chapter: which variant-effect score to trust.

The variant scoring itself is generic and lives in
:mod:`glmeval_utils.score.zeroshot` (windows, likelihood ratios, embedding
distances, :func:`~glmeval_utils.score.zeroshot.score_model` for every score
of a gLM, evaluation).  This module holds what is specific to the CAGI5
comparison of *every* score:

* :data:`CELL_TYPES`, :data:`PAPER_ELEMENTS` — each element's MPRA cell line
  and the four elements the reference study scored;
* :func:`select_positions` — a deterministic subset of positions per element
  that keeps all alternatives of a chosen position (they share one masked
  forward pass and one reference window);
* :func:`primary_metric`, :func:`score_summary`, :func:`paired_contrast` —
  the headline metric of each score, its spread over elements, and paired
  comparisons of two scores over the same elements;
* :func:`result_rows` — per-element metrics as rows of the shared results table.

Score names are those of :func:`~glmeval_utils.score.zeroshot.score_model`
(``masked_llr_both``, ``abs_causal_llr_fwd``, ``cosine_full`` …) and
``delta_*`` for supervised Δ predictions.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from glmeval_utils.score.zeroshot import is_signed

#: Cell line of each element's MPRA (Kircher et al., Nat Commun 2019, Table 1;
#: CAGI5 regulation-saturation challenge description).
CELL_TYPES = {
    "F9": "HepG2", "LDLR": "HepG2", "SORT1": "HepG2", "PKLR": "K562",
    "GP1BB": "HEL 92.1.7", "HBB": "HEL 92.1.7", "HBG1": "HEL 92.1.7",
    "HNF4A": "HEK293T", "MSMB": "HEK293T", "MYCrs6983267": "HEK293T", "TERT-HEK293T": "HEK293T",
    "TERT-GBM": "SF7996 (glioblastoma)", "IRF4": "SK-MEL-28", "IRF6": "HaCaT", "ZFAND3": "MIN6 (mouse)",
}
#: The four elements the reference study scored.
PAPER_ELEMENTS = ("LDLR", "SORT1", "F9", "PKLR")


def select_positions(variants: pd.DataFrame, per_element: int | None = None, *,
                     elements: Sequence[str] | None = None, seed: int = 0) -> pd.DataFrame:
    """Keep ``per_element`` random positions of each element, with all their variants.

    Parameters
    ----------
    variants : pandas.DataFrame
        Columns ``element`` and ``offset`` (plus anything else, kept).
    per_element : int, optional
        Positions kept per element (None or more than the element has: all).
    elements : sequence of str, optional
        Keep only these elements (an unknown name raises ``ValueError``).
    seed : int
        Seed of the position draw (one generator per element, so the choice
        for an element does not depend on which other elements are kept).

    Returns
    -------
    pandas.DataFrame
        The kept rows in their original order, index reset.
    """
    for column in ("element", "offset"):
        if column not in variants.columns:
            raise ValueError(f"variant table has no column {column!r}")
    table = variants
    if elements is not None:
        unknown = sorted(set(elements) - set(table["element"]))
        if unknown:
            raise ValueError(f"unknown element(s) {unknown}; known: {sorted(table['element'].unique())}")
        table = table[table["element"].isin(list(elements))]
    if per_element is None:
        return table.reset_index(drop=True)
    if per_element < 1:
        raise ValueError(f"per_element must be at least 1, got {per_element}")
    keep = np.zeros(len(table), dtype=bool)
    element_values, offsets = table["element"].to_numpy(), table["offset"].to_numpy()
    for index, element in enumerate(sorted(table["element"].unique())):
        rows = element_values == element
        positions = np.unique(offsets[rows])
        if len(positions) > per_element:
            rng = np.random.default_rng([seed, index])
            positions = np.sort(rng.choice(positions, size=per_element, replace=False))
        keep |= rows & np.isin(offsets, positions)
    return table[keep].reset_index(drop=True)


def primary_metric(score: str) -> str:
    """The study's headline metric for a score.

    Unsigned scores (distances, |LLR|) are compared with ``|effect|``
    (``pearson_abs_effect``); signed ones (LLR, Δ prediction) with the signed
    effect (``pearson``).
    """
    return "pearson" if is_signed(score) else "pearson_abs_effect"


def score_summary(metric_table: pd.DataFrame, *, by: Sequence[str] = ("model", "score"),
                  metric: str | None = None) -> pd.DataFrame:
    """Spread of a metric over elements for each score.

    Parameters
    ----------
    metric_table : pandas.DataFrame
        Per-element metrics with columns ``element``, ``metric``, ``value``,
        ``ci_low``, ``ci_high`` and the ``by`` columns (one of them ``score``).
    by : sequence of str
    metric : str, optional
        One metric for all scores; default :func:`primary_metric` of each score.

    Returns
    -------
    pandas.DataFrame
        ``by`` columns, ``metric``, ``mean_r``, ``mean_abs_r``, ``sd_r``,
        ``min_r``, ``max_r``, ``n_elements``, ``n_ci_excludes_0``, sorted by
        ``mean_abs_r`` (descending).
    """
    table = metric_table.copy()
    wanted = table["score"].map(primary_metric) if metric is None else metric
    table = table[table["metric"] == wanted]
    rows = []
    for keys, part in table.groupby(list(by), sort=False):
        values = part["value"].to_numpy(float)
        excludes = ((part["ci_low"] > 0) | (part["ci_high"] < 0)).sum()
        row = dict(zip(by, keys if isinstance(keys, tuple) else (keys,)))
        row.update(metric=part["metric"].iloc[0], mean_r=np.nanmean(values), mean_abs_r=np.nanmean(np.abs(values)),
                   sd_r=np.nanstd(values, ddof=1) if len(values) > 1 else np.nan,
                   min_r=np.nanmin(values), max_r=np.nanmax(values), n_elements=int(np.isfinite(values).sum()),
                   n_ci_excludes_0=int(excludes))
        rows.append(row)
    return pd.DataFrame(rows).sort_values("mean_abs_r", ascending=False, ignore_index=True)


def paired_contrast(metric_table: pd.DataFrame, a: Mapping[str, str], b: Mapping[str, str], *,
                    metric: str | None = None, absolute: bool = True, n_boot: int = 2000,
                    seed: int = 0) -> dict:
    """Compare two scores over the elements both were evaluated on.

    Parameters
    ----------
    metric_table : pandas.DataFrame
        Per-element metrics (``element``, ``metric``, ``value`` and the keys of ``a``/``b``).
    a, b : mapping
        Column → value selecting one score each, e.g. ``{"model": "teaching-mlm",
        "score": "abs_masked_llr_both"}``.  A ``"metric"`` key overrides ``metric``
        for that side (e.g. signed LLR vs signed effect against |LLR| vs |effect|).
    metric : str, optional
        Metric of both sides; default :func:`primary_metric` of each side's score.
    absolute : bool
        Compare ``|r|`` (strength regardless of sign) rather than signed r.
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
        wanted = selector.pop("metric", metric)
        if wanted is None:
            if "score" not in selector:
                raise ValueError(f"selector {selector} needs a 'score' or a metric")
            wanted = primary_metric(selector["score"])
        mask = metric_table["metric"] == wanted
        for column, value in selector.items():
            mask &= metric_table[column] == value
        part = metric_table[mask].set_index("element")["value"]
        if part.index.has_duplicates:
            raise ValueError(f"selector {dict(selector)} matches several rows per element")
        return part

    values_a, values_b = pick(a), pick(b)
    common = values_a.index.intersection(values_b.index)
    x, y = values_a[common].to_numpy(float), values_b[common].to_numpy(float)
    if absolute:
        x, y = np.abs(x), np.abs(y)
    keep = np.isfinite(x) & np.isfinite(y)
    diff = x[keep] - y[keep]
    low = high = np.nan
    if len(diff) > 1 and n_boot > 0:
        rng = np.random.default_rng(seed)
        means = diff[rng.integers(len(diff), size=(n_boot, len(diff)))].mean(axis=1)
        low, high = np.quantile(means, [0.025, 0.975])
    return dict(n_elements=int(keep.sum()), mean_a=float(np.mean(x[keep])) if keep.any() else np.nan,
                mean_b=float(np.mean(y[keep])) if keep.any() else np.nan,
                mean_diff=float(diff.mean()) if len(diff) else np.nan, ci_low=float(low), ci_high=float(high),
                wins_a=int((diff > 0).sum()))


def result_rows(metric_table: pd.DataFrame, *, task: str = "cagi5", split: str = "test") -> pd.DataFrame:
    """Per-element metrics as rows of the shared results table.

    ``metric_table`` needs ``element, model, score, probe, seed, metric,
    value``; ``dataset`` = element and ``representation`` = score name.
    """
    from glmeval_utils.eval import results

    table = metric_table.dropna(subset=["value"])
    out = pd.DataFrame({
        "task": task, "dataset": table["element"], "model": table["model"], "representation": table["score"],
        "probe": table["probe"], "seed": table["seed"].astype(int), "split": split,
        "metric": table["metric"], "value": table["value"].astype(float),
    })
    return results.validate(out.reset_index(drop=True))
