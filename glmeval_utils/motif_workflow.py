"""Glue of the attribution chapter: top sequences, agreement tables, motif reports, recall, GIA.

Everything here composes :mod:`glmeval_utils.score.attribution` and
:mod:`glmeval_utils.score.motifs` into tidy tables for one or several predictors:

* :func:`top_sequences` — the highest-scoring test sequences (optionally
  positives only), the reference's ``top_selection``;
* :func:`per_sequence_agreement`, :func:`agreement_table` — agreement of
  several maps with a reference map, per sequence and as a mean with a
  bootstrap CI per map;
* :func:`discover_all` then :func:`match_all` — modisco-lite for every
  predictor, then TOMTOM against JASPAR for every predictor.  Keep this
  order in a process: memelite's TOMTOM starts numba's threading layer,
  after which modisco-lite compiles its kernels in-process (slow);
* :func:`planted_recall` — which planted JASPAR matrices were recovered;
* :func:`consensus` and :func:`gia_table` — global importance of a motif
  against a shuffled-motif control;
* :func:`paper_agreement` — the reference study's map agreement, for comparison.

Saturation mutagenesis of a window (cheap enough through a gLM) is
:func:`attribution.ism` with ``start``/``end``.
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from glmeval_utils.score import attribution
from glmeval_utils.score import motifs
from glmeval_utils.sequences import ALPHABET

__all__ = [
    "top_sequences",
    "per_sequence_agreement",
    "agreement_table",
    "discover_all",
    "match_all",
    "planted_recall",
    "consensus",
    "gia_table",
    "paper_agreement",
]


def paper_agreement() -> pd.DataFrame:
    """The reference study's map agreement (mean per-sequence Pearson r of |attribution|
    against the one-hot CNN map, 500 top sequences; Tang et al. 2025, ``motif_id/``)."""
    rows = [("NT", "LM only", 0.081, -0.013), ("GPN", "LM only", 0.094, 0.015),
            ("NT", "LM × probe gradient", 0.228, 0.553), ("GPN", "LM × probe gradient", 0.401, 0.642)]
    return pd.DataFrame(rows, columns=["gLM", "map", "lentiMPRA K562", "ChIP CTCF"])


def top_sequences(scores, n: int, *, mask=None) -> np.ndarray:
    """Indices of the ``n`` highest scores, best first.

    Parameters
    ----------
    scores : array-like ``(N,)``
        Model predictions (e.g. seed-averaged test predictions).
    n : int
        How many to keep (fewer if fewer are eligible).
    mask : array-like of bool ``(N,)``, optional
        Only these rows are eligible (e.g. the positives of a binary task).

    Returns
    -------
    numpy.ndarray
        ``(min(n, eligible),)`` int indices into ``scores``; ties keep input order.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {scores.shape}")
    if n < 1:
        raise ValueError("n must be at least 1")
    eligible = np.ones(len(scores), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if eligible.shape != scores.shape:
        raise ValueError(f"mask has shape {eligible.shape}, scores {scores.shape}")
    eligible &= np.isfinite(scores)
    candidates = np.flatnonzero(eligible)
    order = np.argsort(-scores[candidates], kind="stable")
    return candidates[order[:n]]


def per_sequence_agreement(maps: Mapping[str, np.ndarray], reference: np.ndarray) -> pd.DataFrame:
    """Per-sequence Pearson r of absolute attributions of each ``(N, L)`` map with a reference map.

    Returns
    -------
    pandas.DataFrame
        Long table ``map, sequence, r`` (:func:`attribution.map_agreement`).
    """
    frames = [pd.DataFrame({"map": name, "sequence": np.arange(len(values)),
                            "r": attribution.map_agreement(values, reference)})
              for name, values in maps.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["map", "sequence", "r"])


def agreement_table(maps: Mapping[str, np.ndarray], reference: np.ndarray, *, n_boot: int = 2000,
                    random_state: int = 0) -> pd.DataFrame:
    """Agreement of each ``(N, L)`` map with a reference map.

    Per sequence, the Pearson r of absolute attributions
    (:func:`per_sequence_agreement`); summarised as the mean over sequences
    with a bootstrap 95% CI (:func:`attribution.summarize_agreement`).

    Returns
    -------
    pandas.DataFrame
        ``map, mean, ci_low, ci_high, n``.
    """
    long = per_sequence_agreement(maps, reference)
    rows = []
    for name in maps:
        summary = attribution.summarize_agreement(long.loc[long["map"] == name, "r"].to_numpy(), n_boot=n_boot,
                                                  random_state=random_state)
        rows.append({"map": name, "mean": summary.mean, "ci_low": summary.ci_low,
                     "ci_high": summary.ci_high, "n": summary.n})
    return pd.DataFrame(rows, columns=["map", "mean", "ci_low", "ci_high", "n"])


def discover_all(inputs: Mapping[str, tuple], *, quiet: bool = True, **kwargs) -> dict[str, list]:
    """:func:`motifs.discover_motifs` for every predictor.

    Parameters
    ----------
    inputs : mapping name -> (attributions ``(N, 4, L)``, one-hot ``(N, 4, L)``)
    quiet : bool
        Silence modisco's "no motifs" warnings (an empty list says it).
    **kwargs
        Passed to :func:`motifs.discover_motifs` (``window``, ``flank``,
        ``min_seqlets``, ``max_seqlets`` …).

    Returns
    -------
    dict name -> list of Motif
    """
    found = {}
    for name, (attributions, X) in inputs.items():
        with warnings.catch_warnings():
            if quiet:
                warnings.simplefilter("ignore", UserWarning)
            found[name] = motifs.discover_motifs(attributions, X, **kwargs)
    return found


def match_all(found: Mapping[str, Sequence], database, *, n_best: int = 3) -> pd.DataFrame:
    """TOMTOM matches of every predictor's motifs.

    Returns
    -------
    pandas.DataFrame
        :func:`motifs.match_motifs` columns plus ``predictor`` (first) and
        ``n_seqlets``; empty (with those columns) when nothing was found.
    """
    frames = []
    for name, motif_list in found.items():
        if not motif_list:
            continue
        table = motifs.match_motifs(motif_list, database, n_best=n_best)
        support = {m.name: m.n_seqlets for m in motif_list}
        table.insert(0, "predictor", name)
        table["n_seqlets"] = table.motif.map(support)
        frames.append(table)
    columns = ["predictor", "motif", "rank", "match_id", "match_name", "p_value", "q_value",
               "orientation", "offset", "overlap", "n_seqlets"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def planted_recall(matches: pd.DataFrame, planted: Mapping[str, str], predictors: Sequence[str], *,
                   top_k: int = 3, q_threshold: float = 0.05) -> pd.DataFrame:
    """Was each planted JASPAR matrix recovered by each predictor's motifs?

    A planted matrix counts as recovered when some discovered motif has it
    among its ``top_k`` TOMTOM matches with ``q_value < q_threshold``.

    Parameters
    ----------
    matches : DataFrame
        :func:`match_all` output (run with ``n_best >= top_k``).
    planted : mapping matrix id -> name
    predictors : sequence of str
        Every predictor to report (those without motifs get ``recovered=False``).

    Returns
    -------
    pandas.DataFrame
        ``predictor, planted_id, planted_name, recovered, motif, rank, q_value``
        (the best matching discovered motif, NaN when not recovered).
    """
    rows = []
    for predictor in predictors:
        part = matches[(matches.predictor == predictor) & (matches["rank"] <= top_k)
                       & (matches.q_value < q_threshold)] if len(matches) else matches
        for matrix_id, name in planted.items():
            hits = part[part.match_id == matrix_id].sort_values(["rank", "q_value"]) if len(part) else part
            best = hits.iloc[0] if len(hits) else None
            rows.append({"predictor": predictor, "planted_id": matrix_id, "planted_name": name,
                         "recovered": best is not None,
                         "motif": best.motif if best is not None else np.nan,
                         "rank": int(best["rank"]) if best is not None else np.nan,
                         "q_value": float(best.q_value) if best is not None else np.nan})
    return pd.DataFrame(rows, columns=["predictor", "planted_id", "planted_name", "recovered", "motif",
                                       "rank", "q_value"])


def consensus(pfm: np.ndarray, *, min_information: float = 0.5) -> str:
    """Consensus string of a PFM ``(W, 4)``; low-information positions become ``N``.

    Leading and trailing ``N`` are trimmed (GIA's ``N`` keeps the background base).
    """
    pfm = np.asarray(pfm, dtype=np.float64)
    if pfm.ndim != 2 or pfm.shape[1] != 4:
        raise ValueError(f"PFM must have shape (W, 4), got {pfm.shape}")
    information = motifs.information_content(pfm).sum(axis=1)
    letters = [ALPHABET[i] if bits >= min_information else "N"
               for i, bits in zip(pfm.argmax(axis=1), information)]
    text = "".join(letters).strip("N")
    if not text:
        raise ValueError("no position of the PFM reaches min_information")
    return text


def gia_table(model, backgrounds, patterns: Mapping[str, str], *, n_shuffles: int = 1,
              random_state: int = 0, target: int = 0, batch_size: int = 64, device=None) -> pd.DataFrame:
    """GIA of each pattern against a shuffled-motif control on identical backgrounds.

    For each pattern: :func:`attribution.gia_motif_effect` of the motif and
    of :func:`attribution.shuffle_motif` of it (same ``random_state`` → same
    backgrounds), compared with a paired two-sided Wilcoxon signed-rank test
    of the per-background differences (:func:`attribution.gia_test`), so a
    repressive motif is found as well as an activating one.

    Returns
    -------
    pandas.DataFrame
        ``label, motif, control, effect, ci_low, ci_high, control_effect,
        difference, p_value, n``: ``difference`` is the mean per-background
        motif effect minus control effect, ``n`` the number of backgrounds.
    """
    rows = []
    for offset, (label, motif) in enumerate(patterns.items()):
        control = attribution.shuffle_motif(motif, random_state=random_state + offset)
        kwargs = dict(n_shuffles=n_shuffles, random_state=random_state, target=target,
                      batch_size=batch_size, device=device)
        with_motif = attribution.gia_motif_effect(model, backgrounds, motif, **kwargs)
        with_control = attribution.gia_motif_effect(model, backgrounds, control, **kwargs)
        test = attribution.gia_test(with_motif, with_control)
        rows.append({"label": label, "motif": motif, "control": control, "effect": with_motif.mean,
                     "ci_low": with_motif.ci_low, "ci_high": with_motif.ci_high,
                     "control_effect": with_control.mean, "difference": test.mean_difference,
                     "p_value": test.p_value, "n": test.n})
    return pd.DataFrame(rows, columns=["label", "motif", "control", "effect", "ci_low", "ci_high",
                                       "control_effect", "difference", "p_value", "n"])
