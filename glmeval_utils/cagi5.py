"""CAGI5 zero-shot chapter: which variant-effect score to trust.

Builds on :mod:`glmeval_utils.score.zeroshot` (windows, likelihood ratios,
distances, evaluation) and adds what a side-by-side comparison of *every*
score needs:

* :func:`select_positions` — a deterministic subset of positions per element
  that keeps all alternatives of a chosen position (they share one masked
  forward pass and one reference window);
* :func:`reverse_strand` / :func:`strand_scores` — forward, reverse and
  strand-averaged scores from two passes (``strands="both"`` of
  :func:`zeroshot.score_variants` would recompute the forward pass);
* :func:`embedding_distances` — cosine and L2 distances of full and
  mean-pooled embeddings from *one* forward pass per window;
* :func:`score_model` — every score a gLM supports, by its objective;
* :func:`primary_metric`, :func:`score_summary`, :func:`paired_contrast` —
  the headline metric of each score, its spread over elements, and paired
  comparisons of two scores over the same elements.

Score names: ``masked_llr_fwd`` / ``masked_llr_both`` (signed
log p(alt) - log p(ref); ``both`` = mean of forward and reverse strand),
``abs_masked_llr_*`` (its absolute value), the same for ``causal_llr``,
``cosine_full``, ``l2_full``, ``cosine_mean``, ``l2_mean`` (forward strand),
and ``delta_*`` for supervised Δ predictions.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from glmeval_utils.score import zeroshot
from glmeval_utils.sequences import reverse_complement

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
DISTANCE_SCORES = ("cosine_full", "l2_full", "cosine_mean", "l2_mean")
_COMPLEMENT = str.maketrans("ACGTacgt", "TGCAtgca")


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


def reverse_strand(variants: pd.DataFrame, element_seqs: Mapping[str, str] | None = None
                   ) -> tuple[pd.DataFrame, dict[str, str]]:
    """The same variants described on the reverse strand.

    Element sequences are reverse-complemented, ``offset`` becomes
    ``len - 1 - offset`` and ``ref``/``alt`` are complemented (a ``seq``
    column, if present, is reverse-complemented too).  Applying it twice
    gives the original table.

    Returns
    -------
    (pandas.DataFrame, dict of str to str)
        The reverse-strand table and element sequences.
    """
    if element_seqs is None:
        element_seqs = zeroshot.element_sequences(variants)
    rc_seqs = {element: reverse_complement(seq.upper()) for element, seq in element_seqs.items()}
    table = variants.copy()
    lengths = table["element"].map({element: len(seq) for element, seq in rc_seqs.items()})
    if lengths.isna().any():
        missing = table.loc[lengths.isna(), "element"].iloc[0]
        raise ValueError(f"no sequence for element {missing!r}")
    table["offset"] = lengths.astype(int) - 1 - table["offset"].astype(int)
    for column in ("ref", "alt"):
        table[column] = table[column].astype(str).str.translate(_COMPLEMENT)
    if "seq" in table.columns:
        table["seq"] = table["element"].map(rc_seqs)
    return table, rc_seqs


def _check_mirrored_windows(element_seqs: Mapping[str, str], window: int) -> None:
    longest = max((len(seq) for seq in element_seqs.values()), default=0)
    if window % 2 == 0 and window < longest:
        raise ValueError(
            f"window {window} is even: the reverse strand's window around a variant would not be the "
            "mirror image of the forward one (the centre index (W - 1) // 2 is not symmetric); use an "
            f"odd window or one of at least {longest} nt (whole elements)")


def strand_scores(glm, variants: pd.DataFrame, element_seqs: Mapping[str, str] | None = None, *,
                  method: str, window: int, context: str = "element", **kwargs) -> pd.DataFrame:
    """Score every variant on the forward and the reverse strand, and their mean.

    ``both`` equals ``zeroshot.score_variants(..., strands="both")``; the
    forward scores come for free.  The window must be odd (or cover whole
    elements) so that the reverse window is the mirror of the forward one.

    Returns
    -------
    pandas.DataFrame
        Columns ``fwd``, ``rev``, ``both``; one row per variant, table order.
    """
    if element_seqs is None:
        element_seqs = zeroshot.element_sequences(variants)
    _check_mirrored_windows(element_seqs, window)
    forward = zeroshot.score_variants(glm, variants, element_seqs, method=method, window=window,
                                      context=context, strands="fwd", **kwargs)
    rc_table, rc_seqs = reverse_strand(variants, element_seqs)
    reverse = zeroshot.score_variants(glm, rc_table, rc_seqs, method=method, window=window,
                                      context=context, strands="fwd", **kwargs)
    return pd.DataFrame({"fwd": forward, "rev": reverse, "both": (forward + reverse) / 2})


def _pair_distances(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise cosine distance and L2 distance of ``(n, D)`` arrays."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = 1.0 - np.einsum("nd,nd->n", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return cosine, np.linalg.norm(a - b, axis=1)


def embedding_distances(glm, variants: pd.DataFrame, element_seqs: Mapping[str, str] | None = None, *,
                        window: int, context: str = "element", layer: int = -1, batch_size: int = 32,
                        chunk_size: int = 256, progress: bool = True) -> pd.DataFrame:
    """Cosine and L2 distances between reference and alternative embeddings, one pass.

    Each distinct window is embedded once (``pooling="full"``, float32,
    forward strand); ``*_full`` compares the flattened per-nucleotide
    embeddings ``(L * H,)`` and ``*_mean`` their average over nucleotides
    ``(H,)``.  For single-nucleotide tokenizers (all demo gLMs) the average
    is exactly ``pooling="mean"``, so the four columns equal
    :func:`zeroshot.score_variants` with the matching ``method`` at half the
    cost; for k-mer tokenizers the average weights tokens by their width.

    Parameters
    ----------
    glm : models.GLM
    variants : pandas.DataFrame, N rows
    element_seqs : mapping, optional
    window : int
    context : {"element", "pad_n"}
    layer : int
        Hidden state (``-1`` = last).
    batch_size : int
        Sequences per forward pass.
    chunk_size : int
        Distinct windows embedded (and held in memory) at a time.
    progress : bool

    Returns
    -------
    pandas.DataFrame
        Columns ``cosine_full, l2_full, cosine_mean, l2_mean``, table order.
    """
    windows = zeroshot.variant_windows(variants, element_seqs, window=window, context=context)
    max_length = getattr(glm, "max_length", None)
    longest = max((len(seq) for seq in windows.ref_seqs), default=0)
    if max_length is not None and longest > max_length:
        raise ValueError(f"windows of {longest} nt exceed {glm.name}'s max_length {max_length}")
    out = {name: np.full(len(windows), np.nan) for name in DISTANCE_SCORES}
    lengths = np.array([len(seq) for seq in windows.ref_seqs])
    chunks = []
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        # about chunk_size distinct windows per chunk: a variant brings its alt, positions share refs
        step = max(1, chunk_size // 2)
        chunks += [rows[i:i + step] for i in range(0, len(rows), step)]
    for rows in tqdm(chunks, desc=f"{getattr(glm, 'name', 'gLM')} distances", unit="chunk",
                     disable=not progress):
        refs = [windows.ref_seqs[row] for row in rows]
        alts = [windows.alt_seqs[row] for row in rows]
        unique = list(dict.fromkeys(refs + alts))
        position = {seq: i for i, seq in enumerate(unique)}
        full = np.asarray(glm.embed(unique, layers=(layer,), pooling="full", strands="fwd",
                                    batch_size=batch_size, progress=False), dtype=np.float32)[:, 0]
        ref_index = [position[seq] for seq in refs]
        alt_index = [position[seq] for seq in alts]
        flat = full.reshape(len(unique), -1)
        out["cosine_full"][rows], out["l2_full"][rows] = _pair_distances(flat[ref_index], flat[alt_index])
        mean = full.mean(axis=1)
        out["cosine_mean"][rows], out["l2_mean"][rows] = _pair_distances(mean[ref_index], mean[alt_index])
    return pd.DataFrame(out)


def score_model(glm, variants: pd.DataFrame, element_seqs: Mapping[str, str] | None = None, *,
                window: int, context: str = "element", distances: bool = True, batch_size: int = 32,
                progress: bool = True) -> pd.DataFrame:
    """Every zero-shot score a gLM supports, one column per score.

    * ``objective == "masked"``: ``masked_llr_{fwd,both}`` and their absolute values;
    * ``objective == "causal"``: ``causal_llr_{fwd,both}`` and their absolute values;
    * every model (``distances=True``): :data:`DISTANCE_SCORES` (forward strand).

    Returns
    -------
    pandas.DataFrame
        One row per variant (table order), one column per score.
    """
    columns = {}
    objective = getattr(glm, "objective", None)
    if objective in ("masked", "causal"):
        method = f"{objective}_llr"
        scores = strand_scores(glm, variants, element_seqs, method=method, window=window,
                               context=context, batch_size=batch_size, progress=progress)
        for strand in ("fwd", "both"):
            columns[f"{method}_{strand}"] = scores[strand].to_numpy()
            columns[f"abs_{method}_{strand}"] = np.abs(scores[strand].to_numpy())
    table = pd.DataFrame(columns, index=pd.RangeIndex(len(variants)))
    if distances:
        table = pd.concat([table, embedding_distances(glm, variants, element_seqs, window=window,
                                                      context=context, batch_size=batch_size,
                                                      progress=progress)], axis=1)
    return table


def is_signed(score: str) -> bool:
    """Signed scores (LLRs, Δ predictions) carry a direction; distances and ``abs_*`` do not."""
    return not (score.startswith("abs_") or score in DISTANCE_SCORES)


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
