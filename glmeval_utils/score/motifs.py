"""Motif discovery from attributions, JASPAR matching and logos.

The reference study stopped at attribution maps; here every predictor's
attributions go one step further:

* :func:`discover_motifs` — seqlets and motifs with **modisco-lite**
  (TF-MoDISco; Shrikumar et al., arXiv:1811.00416);
* :func:`load_jaspar` — JASPAR 2024 CORE vertebrate matrices shipped with
  **pyjaspar** (Rauluseviciute et al., NAR 2024; CC BY 4.0).  The package's
  default release is newer, so the release is always passed explicitly;
* :func:`match_motifs` — TOMTOM (Gupta et al., Genome Biology 2007) as
  implemented by **memelite**, with Benjamini–Hochberg q-values over the
  database for each query, as MEME's TOMTOM reports them;
* :func:`discover_all`, :func:`match_all` — both for several predictors (keep
  this order in a process: memelite's TOMTOM starts numba's threading layer,
  after which modisco-lite compiles its kernels in-process, slowly);
* :func:`planted_recall` — which planted JASPAR matrices were recovered;
  :func:`consensus` — the consensus string of a PFM.

Logos are drawn by :func:`glmeval_utils.plots.attribution_logo` and
:func:`glmeval_utils.plots.motif_match`.

All matrices here are position-major ``(W, 4)`` in ``ACGT`` order;
memelite's ``(4, W)`` layout is used only inside :func:`match_motifs`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from glmeval_utils.sequences import ALPHABET

__all__ = [
    "Motif",
    "JasparMotif",
    "discover_motifs",
    "load_jaspar",
    "match_motifs",
    "information_content",
    "discover_all",
    "match_all",
    "planted_recall",
    "consensus",
]

_BACKGROUND = 0.25


@dataclass
class Motif:
    """A motif discovered by TF-MoDISco.

    Attributes
    ----------
    name : str
        ``"pos_0"``, ``"neg_1"``…: metacluster sign and pattern index.
    pfm : numpy.ndarray
        ``(W, 4)`` base probabilities of the aligned seqlets, trimmed.
    cwm : numpy.ndarray
        ``(W, 4)`` mean contribution scores (contribution weight matrix).
    n_seqlets : int
        Seqlets supporting the motif.
    """

    name: str
    pfm: np.ndarray
    cwm: np.ndarray
    n_seqlets: int


@dataclass
class JasparMotif:
    """A JASPAR matrix: ``pfm`` is ``(W, 4)`` probabilities (rows sum to 1)."""

    matrix_id: str
    name: str
    pfm: np.ndarray


def _trim(pfm: np.ndarray, cwm: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Keep the span where the per-position |CWM| reaches ``threshold`` × its maximum."""
    score = np.abs(cwm).sum(axis=1)
    keep = np.flatnonzero(score >= threshold * score.max())
    span = slice(keep.min(), keep.max() + 1)
    return pfm[span], cwm[span]


def discover_motifs(
    attributions: np.ndarray,
    X: np.ndarray,
    *,
    max_seqlets: int = 2000,
    window: int = 21,
    flank: int = 10,
    trim_threshold: float = 0.3,
    center: bool = True,
    min_seqlets: int = 20,
    **modisco_kwargs,
) -> list[Motif]:
    """Discover motifs in attribution maps with modisco-lite.

    Parameters
    ----------
    attributions : numpy.ndarray
        ``(N, 4, L)`` hypothetical contributions (gradients, ISM) for every
        base; contribution scores (non-zero only at observed bases) also work.
    X : numpy.ndarray
        ``(N, 4, L)`` one-hot sequences.
    max_seqlets : int
        Maximum seqlets per metacluster (sign).
    window : int
        Sliding window for seqlet calling (modisco ``sliding_window_size``).
    flank : int
        Bases added on each side of a seqlet.
    trim_threshold : float
        Returned PFM/CWM are trimmed to where the per-position |CWM| is at least
        this fraction of its maximum (as modisco's report does before TOMTOM).
    center : bool
        Subtract the per-position mean over bases first (needed for raw
        gradients; harmless for ISM).
    min_seqlets : int
        Minimum seqlets for a metacluster and for a final motif.
    **modisco_kwargs
        Passed to ``modiscolite.tfmodisco.TFMoDISco``.

    Returns
    -------
    list of Motif
        Positive then negative motifs, each by decreasing support; empty (with
        a warning) when modisco finds no motif.
    """
    from modiscolite.tfmodisco import TFMoDISco

    attributions = np.asarray(attributions, dtype=np.float32)
    X = np.asarray(X, dtype=np.float32)
    if attributions.shape != X.shape or X.ndim != 3 or X.shape[1] != 4:
        raise ValueError(f"expected attributions and sequences of one shape (N, 4, L), got {attributions.shape} and {X.shape}")
    if X.shape[2] < window + 2 * flank:
        raise ValueError(f"sequences of length {X.shape[2]} are shorter than window + 2 * flank = {window + 2 * flank}")
    if center:
        attributions = attributions - attributions.mean(axis=1, keepdims=True)
    settings = dict(
        sliding_window_size=window,
        flank_size=flank,
        max_seqlets_per_metacluster=max_seqlets,
        min_metacluster_size=min_seqlets,
        final_min_cluster_size=min_seqlets,
        min_num_to_trim_to=min(30, min_seqlets),
        # modisco's defaults (30, 10) assume window 21 + flanks 10; a trimmed
        # window longer than the seqlets silently yields no pattern
        trim_to_window_size=window,
        initial_flank_to_add=flank,
    ) | modisco_kwargs
    no_motif = ("modisco found no motifs: too few or too weak seqlets; try more sequences, "
                "a smaller min_seqlets or sharper attributions")
    if not np.any(attributions * X):
        warnings.warn(no_motif + " (all contributions are zero)", stacklevel=2)
        return []
    try:
        # modisco-lite works position-major: (N, L, 4)
        positive, negative = TFMoDISco(
            one_hot=np.ascontiguousarray(X.transpose(0, 2, 1)),
            hypothetical_contribs=np.ascontiguousarray(attributions.transpose(0, 2, 1)),
            **settings,
        )
    except (IndexError, ValueError) as error:
        # modisco-lite's seqlet calling fails on empty score distributions
        warnings.warn(f"{no_motif} (modisco-lite stopped: {error})", stacklevel=2)
        return []
    motifs = []
    for sign, patterns in (("pos", positive), ("neg", negative)):
        for index, pattern in enumerate(patterns or []):
            pfm, cwm = _trim(np.asarray(pattern.sequence), np.asarray(pattern.contrib_scores), trim_threshold)
            motifs.append(Motif(f"{sign}_{index}", pfm, cwm, len(pattern.seqlets)))
    if not motifs:
        warnings.warn(no_motif, stacklevel=2)
    return motifs


@lru_cache(maxsize=4)
def _jaspar_matrices(release: str, collection: str, tax_group: str) -> tuple[JasparMotif, ...]:
    from pyjaspar import jaspardb

    records = jaspardb(release=release).fetch_motifs(collection=collection, tax_group=[tax_group])
    out = []
    for record in records:
        counts = np.array([record.counts[base] for base in ALPHABET], dtype=np.float64).T  # (W, 4)
        out.append(JasparMotif(record.matrix_id, record.name, counts / counts.sum(axis=1, keepdims=True)))
    return tuple(out)


def load_jaspar(release: str = "JASPAR2024", collection: str = "CORE", tax_group: str = "vertebrates") -> list[JasparMotif]:
    """JASPAR matrices (latest version of each), cached in memory.

    Parameters
    ----------
    release : str
        pyjaspar release name; ``"JASPAR2024"`` gives 879 CORE vertebrate
        matrices (the package default, a newer release, gives more).
    collection : str
    tax_group : str

    Returns
    -------
    list of JasparMotif
    """
    matrices = _jaspar_matrices(release, collection, tax_group)
    if not matrices:
        raise ValueError(f"no JASPAR matrices for release={release!r}, collection={collection!r}, tax_group={tax_group!r}")
    return list(matrices)


def _benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """BH q-values of a 1-D array of p-values."""
    order = np.argsort(p_values)
    ranked = p_values[order] * len(p_values) / np.arange(1, len(p_values) + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q_values = np.empty_like(q_sorted)
    q_values[order] = np.minimum(q_sorted, 1.0)
    return q_values


def match_motifs(motifs: Sequence, database: Sequence[JasparMotif], *, n_best: int = 3) -> pd.DataFrame:
    """Compare motifs to a database with TOMTOM.

    Parameters
    ----------
    motifs : sequence of Motif (or any object with ``name`` and ``pfm`` ``(W, 4)``)
    database : sequence of JasparMotif
        Usually :func:`load_jaspar`; the whole database should be passed, since
        TOMTOM's null distribution and the q-values are taken over it.
    n_best : int
        Matches reported per motif.

    Returns
    -------
    pandas.DataFrame
        One row per (motif, rank): ``motif``, ``rank`` (1 = best), ``match_id``,
        ``match_name``, ``p_value``, ``q_value`` (BH over the database),
        ``orientation`` (``"+"``, or ``"-"`` when the reverse complement of the
        database motif matches), ``offset``, ``overlap``.
    """
    from memelite import tomtom

    columns = ["motif", "rank", "match_id", "match_name", "p_value", "q_value", "orientation", "offset", "overlap"]
    if not motifs:
        return pd.DataFrame(columns=columns)
    queries = [np.ascontiguousarray(np.asarray(m.pfm, dtype=np.float64).T) for m in motifs]
    targets = [np.ascontiguousarray(np.asarray(d.pfm, dtype=np.float64).T) for d in database]
    for motif, query in zip(motifs, queries):
        if query.shape[0] != 4:
            raise ValueError(f"motif {motif.name!r}: PFM must have shape (W, 4), got {query.T.shape}")
    p_values, _, offsets, overlaps, strands = tomtom(queries, targets)
    rows = []
    for row, motif in enumerate(motifs):
        q_values = _benjamini_hochberg(p_values[row])
        for rank, column in enumerate(np.argsort(p_values[row], kind="stable")[:n_best], start=1):
            rows.append({
                "motif": motif.name,
                "rank": rank,
                "match_id": database[column].matrix_id,
                "match_name": database[column].name,
                "p_value": float(p_values[row, column]),
                "q_value": float(q_values[column]),
                "orientation": "-" if strands[row, column] else "+",
                "offset": int(offsets[row, column]),
                "overlap": int(overlaps[row, column]),
            })
    return pd.DataFrame(rows, columns=columns)


def information_content(pfm: np.ndarray) -> np.ndarray:
    """Per-base information (bits) of a PFM ``(W, 4)`` against a uniform background: ``(W, 4)``."""
    pfm = np.asarray(pfm, dtype=np.float64)
    pfm = pfm / pfm.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy_terms = np.where(pfm > 0, pfm * np.log2(pfm / _BACKGROUND), 0.0)
    return pfm * entropy_terms.sum(axis=1, keepdims=True)


def discover_all(inputs: Mapping[str, tuple], *, quiet: bool = True, **kwargs) -> dict[str, list]:
    """:func:`discover_motifs` for every predictor.

    Parameters
    ----------
    inputs : mapping name -> (attributions ``(N, 4, L)``, one-hot ``(N, 4, L)``)
    quiet : bool
        Silence modisco's "no motifs" warnings (an empty list says it).
    **kwargs
        Passed to :func:`discover_motifs` (``window``, ``flank``,
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
            found[name] = discover_motifs(attributions, X, **kwargs)
    return found

def match_all(found: Mapping[str, Sequence], database, *, n_best: int = 3) -> pd.DataFrame:
    """TOMTOM matches of every predictor's motifs.

    Returns
    -------
    pandas.DataFrame
        :func:`match_motifs` columns plus ``predictor`` (first) and
        ``n_seqlets``; empty (with those columns) when nothing was found.
    """
    frames = []
    for name, motif_list in found.items():
        if not motif_list:
            continue
        table = match_motifs(motif_list, database, n_best=n_best)
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
    information = information_content(pfm).sum(axis=1)
    letters = [ALPHABET[i] if bits >= min_information else "N"
               for i, bits in zip(pfm.argmax(axis=1), information)]
    text = "".join(letters).strip("N")
    if not text:
        raise ValueError("no position of the PFM reaches min_information")
    return text
