"""Zero-shot variant-effect scores from frozen gLMs (their evaluation is :mod:`glmeval_utils.eval.variants`).

The reference study (Tang et al., Genome Biology 2025, Task 3) scored the
CAGI5 saturation-mutagenesis variants (Kircher et al., Nat Commun 2019)
without training: masked-LM log-likelihood ratios, distances between
reference and alternative embeddings, and, as "supervised zero-shot"
comparators, the change in prediction of models trained on lentiMPRA.

Everything here works on a variant table with one row per SNV and the columns
``element``, ``offset`` (0-based position inside the element), ``ref`` and
``alt`` (single bases on the + strand), as returned by
``glmeval_utils.data.registry.load("cagi5")``, together with the element reference
sequences.

Offline, only the assayed element sequences exist (188-602 nt); the hg19
genomic flanks the study used are not available.  A window therefore either
stays inside the element (``context="element"``; the variant moves off-centre
at the element edges) or is padded with ``N`` (``context="pad_n"``).

Centre convention: in a window of length ``W`` the variant sits at index
``(W - 1) // 2``, i.e. the exact middle for odd ``W`` and ``W / 2 - 1`` (the
left of the two middle bases, as in the study's windows) for even ``W``.

Sign conventions: ``*_llr`` = log p(alt) - log p(ref) (negative means the
model finds the alternative less likely); distances are larger for more
different embeddings (cosine *distance* = 1 - cosine similarity).

Contents:

* :func:`variant_windows` (with :func:`window_center`,
  :func:`element_sequences`) — reference/alternative windows per variant;
  :func:`reverse_strand` — the same variants described on the reverse strand;
* :func:`score_variants` — one zero-shot score (:data:`METHODS`) per variant;
* :func:`embedding_distances` — the four :data:`DISTANCE_SCORES` (cosine and
  L2 distances of full and mean embeddings) from *one* forward pass per
  distinct window; :func:`score_variants` computes its distances with it;
* :func:`strand_scores` — forward, reverse and strand-averaged scores from
  two passes; :func:`score_model` — every score a gLM supports, by its
  objective;
* :func:`delta_prediction` — the supervised comparator, Δ prediction.

Score names used by :func:`score_model`: ``masked_llr_fwd`` /
``masked_llr_both`` (``both`` = mean of forward and reverse strand),
``abs_masked_llr_*`` (absolute value), the same for ``causal_llr``, and
``cosine_full``, ``l2_full``, ``cosine_mean``, ``l2_mean`` (forward strand).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from glmeval_utils.sequences import ALPHABET, complement, pad_or_crop, reverse_complement
from glmeval_utils.validation import positive_int

#: Embedding-distance scores, forward strand (:func:`embedding_distances`).
DISTANCE_SCORES = ("cosine_full", "l2_full", "cosine_mean", "l2_mean")
METHODS = ("masked_llr", "causal_llr", *DISTANCE_SCORES)
STRANDS = {"fwd": ("fwd",), "both": ("fwd", "rev")}
CONTEXTS = ("element", "pad_n")
VARIANT_COLUMNS = ("element", "offset", "ref", "alt")


# Upper bound on the embeddings held in memory at once by the distance scores.
_EMBED_CHUNK_BYTES = 256 * 2**20
_BASE_CODE = {base: code for code, base in enumerate(ALPHABET)}


def window_center(window: int) -> int:
    """Index of the variant in a centred window of length ``window``: ``(window - 1) // 2``."""
    if window < 1:
        raise ValueError(f"window must be a positive length, got {window}")
    return (window - 1) // 2


@dataclass
class VariantWindows:
    """Reference and alternative windows, one pair per variant.

    Attributes
    ----------
    ref_seqs, alt_seqs : list of str, length N
        Windows around each variant; they differ only at ``variant_index``.
    variant_index : numpy.ndarray of int, shape (N,)
        Index of the variant inside its window.
    """

    ref_seqs: list[str]
    alt_seqs: list[str]
    variant_index: np.ndarray

    def __len__(self) -> int:
        return len(self.ref_seqs)

    def reverse_complement(self) -> "VariantWindows":
        """The same windows on the reverse strand: index ``i`` maps to ``L - 1 - i``."""
        lengths = np.array([len(seq) for seq in self.ref_seqs], dtype=np.int64)
        return VariantWindows(
            ref_seqs=reverse_complement(self.ref_seqs),
            alt_seqs=reverse_complement(self.alt_seqs),
            variant_index=lengths - 1 - self.variant_index,
        )


def element_sequences(variants: pd.DataFrame) -> dict[str, str]:
    """Element reference sequences from a variant table's ``seq`` column.

    Raises
    ------
    ValueError
        If the column is missing or an element carries two different sequences.
    """
    if "seq" not in variants.columns:
        raise ValueError("variant table has no 'seq' column; pass element_seqs explicitly")
    sequences: dict[str, str] = {}
    for row, (element, seq) in enumerate(zip(variants["element"], variants["seq"])):
        known = sequences.setdefault(element, seq)
        if known != seq:
            raise ValueError(f"variant row {row}: element {element!r} has two different sequences")
    return sequences


def _checked_variants(
    variants: pd.DataFrame, element_seqs: Mapping[str, str] | None
) -> tuple[pd.DataFrame, dict[str, str]]:
    missing = [column for column in VARIANT_COLUMNS if column not in variants.columns]
    if missing:
        raise ValueError(f"variant table lacks column(s) {missing}; needs {list(VARIANT_COLUMNS)}")
    if element_seqs is None:
        element_seqs = element_sequences(variants)
    table = variants.reset_index(drop=True)
    sequences = {element: seq.upper() for element, seq in element_seqs.items()}
    for row, (element, offset, ref, alt) in enumerate(
        table[list(VARIANT_COLUMNS)].itertuples(index=False)
    ):
        if element not in sequences:
            raise ValueError(f"variant row {row}: no sequence for element {element!r}")
        seq = sequences[element]
        if not 0 <= offset < len(seq):
            raise ValueError(
                f"variant row {row}: offset {offset} outside element {element!r} of length {len(seq)}"
            )
        for name, allele in (("ref", ref), ("alt", alt)):
            if str(allele).upper() not in _BASE_CODE:
                raise ValueError(f"variant row {row}: {name} allele {allele!r} is not one of A, C, G, T")
        if seq[offset] != str(ref).upper():
            raise ValueError(
                f"variant row {row}: reference allele {ref!r} does not match element {element!r} "
                f"at offset {offset}, which is {seq[offset]!r}"
            )
    return table, sequences


def _window_around(seq: str, offset: int, window: int, context: str) -> tuple[str, int]:
    """One window of ``seq`` around ``offset`` and the variant's index in it."""
    center = window_center(window)
    length = len(seq)
    if context == "pad_n":
        start = offset - center
        left_pad, right_pad = max(0, -start), max(0, start + window - length)
        text = "N" * left_pad + seq[max(0, start) : min(length, start + window)] + "N" * right_pad
        assert len(text) == window
        return text, center
    if length <= window:
        return seq, offset
    start = min(max(offset - center, 0), length - window)
    # off-centre only where the window had to be shifted to stay inside the element
    assert offset - start == center or start in (0, length - window)
    return seq[start : start + window], offset - start


def variant_windows(
    variants: pd.DataFrame,
    element_seqs: Mapping[str, str] | None,
    *,
    window: int,
    context: str = "element",
) -> VariantWindows:
    """Reference/alternative windows of length ``window`` centred on each variant.

    The variant sits at index ``(window - 1) // 2`` (:func:`window_center`).
    Genomic flanks are not available offline, so windows come from the
    element sequence alone:

    * ``context="element"``: the window is cropped from the element; near an
      element edge it is shifted to stay inside, so the variant is then
      off-centre (its index is recorded).  An element shorter than the window
      is used whole (the window is then shorter than ``window``).
    * ``context="pad_n"``: the window always has length ``window`` with the
      variant at the centre; positions beyond the element are ``N``.

    Parameters
    ----------
    variants : pandas.DataFrame, N rows
        Columns ``element``, ``offset`` (0-based in the element), ``ref``, ``alt``.
    element_seqs : mapping of str to str, or None
        Element name → reference sequence; ``None`` takes the table's ``seq``
        column (see :func:`element_sequences`).
    window : int
        Window length in nucleotides.
    context : {"element", "pad_n"}

    Returns
    -------
    VariantWindows
        ``ref_seqs``/``alt_seqs`` (N strings) and ``variant_index`` (N,), in
        table order.

    Raises
    ------
    ValueError
        If a reference allele does not match its element sequence (the message
        names the row, element and offset), an allele is not A/C/G/T, or an
        element sequence is missing.
    """
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}")
    window_center(window)  # validates the length
    table, sequences = _checked_variants(variants, element_seqs)
    ref_seqs, alt_seqs, indices = [], [], []
    for element, offset, alt in table[["element", "offset", "alt"]].itertuples(index=False):
        seq = sequences[element]
        text, index = _window_around(seq, int(offset), window, context)
        assert text[index] == seq[offset], "window does not hold the variant's reference base"
        ref_seqs.append(text)
        alt_seqs.append(text[:index] + str(alt).upper() + text[index + 1 :])
        indices.append(index)
    return VariantWindows(ref_seqs, alt_seqs, np.asarray(indices, dtype=np.int64))


def reverse_strand(variants: pd.DataFrame, element_seqs: Mapping[str, str] | None = None
                   ) -> tuple[pd.DataFrame, dict[str, str]]:
    """The same variants described on the reverse strand.

    Element sequences are reverse-complemented, ``offset`` becomes
    ``len - 1 - offset`` and ``ref``/``alt`` are complemented (a ``seq``
    column, if present, is reverse-complemented too).  Applying it twice
    gives the original table.

    Parameters
    ----------
    variants : pandas.DataFrame, N rows
        Columns ``element``, ``offset``, ``ref``, ``alt`` (others are kept).
    element_seqs : mapping of str to str, optional
        Element → reference sequence; default: the table's ``seq`` column.

    Returns
    -------
    (pandas.DataFrame, dict of str to str)
        The reverse-strand table (N rows, same order) and element sequences.

    Raises
    ------
    ValueError
        If an element of the table has no sequence.
    """
    if element_seqs is None:
        element_seqs = element_sequences(variants)
    rc_seqs = {element: reverse_complement(seq.upper()) for element, seq in element_seqs.items()}
    table = variants.copy()
    lengths = table["element"].map({element: len(seq) for element, seq in rc_seqs.items()})
    if lengths.isna().any():
        missing = table.loc[lengths.isna(), "element"].iloc[0]
        raise ValueError(f"no sequence for element {missing!r}")
    table["offset"] = lengths.astype(int) - 1 - table["offset"].astype(int)
    for column in ("ref", "alt"):
        table[column] = complement(table[column].astype(str).tolist())
    if "seq" in table.columns:
        table["seq"] = table["element"].map(rc_seqs)
    return table, rc_seqs


def _allele_codes(alleles: Sequence[str]) -> np.ndarray:
    return np.array([_BASE_CODE[str(allele).upper()] for allele in alleles], dtype=np.int64)


def _strand_views(
    windows: VariantWindows, ref_codes: np.ndarray, alt_codes: np.ndarray, strands: str
) -> Iterator[tuple[VariantWindows, np.ndarray, np.ndarray]]:
    """Windows and allele codes (ACGT order) on each requested strand."""
    if strands not in STRANDS:
        raise ValueError(f"strands must be one of {tuple(STRANDS)}, got {strands!r}")
    for strand in STRANDS[strands]:
        if strand == "fwd":
            yield windows, ref_codes, alt_codes
        else:  # complement of code c is 3 - c in ACGT order
            yield windows.reverse_complement(), 3 - ref_codes, 3 - alt_codes


def _masked_llr(glm, windows, ref_codes, alt_codes, *, batch_size, progress) -> np.ndarray:
    """log p(alt) - log p(ref) at the masked variant position of the reference window.

    The probabilities are ``glm.masked_log_probs``'s default (exact) rule:
    for a k-mer/BPE token this is log p(alt token) - log p(ref token) at the
    masked token, the alt token being the ref token with the variant's base
    substituted.  A BPE alt token outside the vocabulary gives ``-inf``,
    which :func:`glmeval_utils.eval.variants.evaluate_scores` leaves out
    as non-finite.

    Variants sharing a reference window (all alternatives at one position,
    and with whole-element windows all positions of an element) share one
    ``masked_log_probs`` call, i.e. one masked forward pass per position.
    """
    rows_by_window: dict[str, dict[int, list[int]]] = {}
    for row, (seq, index) in enumerate(zip(windows.ref_seqs, windows.variant_index)):
        rows_by_window.setdefault(seq, {}).setdefault(int(index), []).append(row)
    scores = np.full(len(windows), np.nan)
    for seq, rows_by_position in tqdm(
        rows_by_window.items(), desc="masked LLR", unit="window", disable=not progress
    ):
        positions = sorted(rows_by_position)
        log_probs = np.asarray(glm.masked_log_probs(seq, positions, batch_size=batch_size))
        if log_probs.shape != (len(positions), 4):
            raise ValueError(
                f"{glm.name}: masked_log_probs returned shape {log_probs.shape}, "
                f"expected ({len(positions)}, 4)"
            )
        for position_row, position in enumerate(positions):
            rows = np.asarray(rows_by_position[position])
            position_log_probs = log_probs[position_row]
            scores[rows] = position_log_probs[alt_codes[rows]] - position_log_probs[ref_codes[rows]]
    return scores


def _unique_index(seqs: Sequence[str]) -> tuple[list[str], dict[str, int]]:
    unique = list(dict.fromkeys(seqs))
    return unique, {seq: i for i, seq in enumerate(unique)}


def _causal_llr(glm, windows, *, batch_size, progress) -> np.ndarray:
    """Sum of per-base causal log-probs over the alternative minus the reference window.

    Positions the model cannot score are left out of both sums: ``N``
    (padding) and those reported as NaN (the adapters give NaN for the first
    base of a model without a BOS token).  Each distinct window is scored
    once, so identical windows give exactly 0.
    """
    unique, position = _unique_index(windows.ref_seqs + windows.alt_seqs)
    totals = np.empty(len(unique))
    chunk = max(1, batch_size) * 8
    for start in tqdm(
        range(0, len(unique), chunk), desc="causal LLR", unit="chunk", disable=not progress
    ):
        batch = unique[start : start + chunk]
        for i, (seq, log_probs) in enumerate(
            zip(batch, glm.token_log_probs(batch, batch_size=batch_size))
        ):
            log_probs = np.asarray(log_probs, dtype=float)
            if log_probs.shape != (len(seq),):
                raise ValueError(
                    f"{glm.name}: token_log_probs gave shape {log_probs.shape} for a window of "
                    f"length {len(seq)}"
                )
            is_base = np.frombuffer(seq.encode("ascii"), dtype=np.uint8) != ord("N")
            totals[start + i] = log_probs[is_base & np.isfinite(log_probs)].sum()
    ref_totals = totals[[position[seq] for seq in windows.ref_seqs]]
    alt_totals = totals[[position[seq] for seq in windows.alt_seqs]]
    return alt_totals - ref_totals


def _pair_distances(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise cosine distance and L2 distance of two ``(n, D)`` arrays, in float64."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = 1.0 - np.einsum("nd,nd->n", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return cosine, np.linalg.norm(a - b, axis=1)


def _window_distances(glm, windows: VariantWindows, *, layer: int, batch_size: int,
                      progress: bool) -> dict[str, np.ndarray]:
    """:data:`DISTANCE_SCORES` of every variant from one forward pass per distinct window.

    The per-nucleotide embeddings ``(L, H)`` of ``layer`` come from
    ``glm.embed(pooling="full")`` in float32; ``*_full`` compares them
    flattened ``(L * H,)``, ``*_mean`` their average over nucleotides ``(H,)``.
    They are never cached: the embedding cache stores full embeddings as
    float16, whose rounding is of the same order as the change one SNV makes,
    and 18,000 variant pairs of full embeddings would fill gigabytes.  Variants
    are processed in chunks of one window length (full embeddings need a
    shared length), holding about ``_EMBED_CHUNK_BYTES`` of embeddings at a
    time; each distinct window of a chunk is embedded once.

    Returns
    -------
    dict of str to numpy.ndarray
        Score name → ``(N,)`` distances, in window order.
    """
    lengths = np.array([len(seq) for seq in windows.ref_seqs])
    hidden = int(getattr(glm, "hidden_size", 1024))
    chunks = []
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        # each variant brings at most two distinct (L, H) float32 windows
        chunk_rows = max(1, _EMBED_CHUNK_BYTES // (2 * int(length) * hidden * 4))
        chunks += [rows[i : i + chunk_rows] for i in range(0, len(rows), chunk_rows)]
    distances = {name: np.full(len(windows), np.nan) for name in DISTANCE_SCORES}
    for rows in tqdm(chunks, desc="embedding distances", unit="chunk", disable=not progress):
        ref_seqs = [windows.ref_seqs[row] for row in rows]
        alt_seqs = [windows.alt_seqs[row] for row in rows]
        unique, position = _unique_index(ref_seqs + alt_seqs)
        full = np.asarray(
            glm.embed(
                unique, layers=(layer,), pooling="full", strands="fwd",
                batch_size=batch_size, progress=False,
            ),
            dtype=np.float32,
        )[:, 0]
        ref_index = [position[seq] for seq in ref_seqs]
        alt_index = [position[seq] for seq in alt_seqs]
        for pooling, vectors in (("full", full.reshape(len(unique), -1)),
                                 ("mean", full.mean(axis=1, dtype=np.float64))):
            cosine, l2 = _pair_distances(vectors[ref_index], vectors[alt_index])
            distances[f"cosine_{pooling}"][rows] = cosine
            distances[f"l2_{pooling}"][rows] = l2
    return distances


def _scoring_windows(glm, variants: pd.DataFrame, element_seqs: Mapping[str, str] | None, *,
                     window: int, context: str) -> VariantWindows:
    """:func:`variant_windows`, refused when a window exceeds the gLM's ``max_length``."""
    windows = variant_windows(variants, element_seqs, window=window, context=context)
    longest = max((len(seq) for seq in windows.ref_seqs), default=0)
    max_length = getattr(glm, "max_length", None)
    if max_length is not None and longest > max_length:
        raise ValueError(f"windows of {longest} nt exceed {glm.name}'s max_length {max_length}")
    return windows


def embedding_distances(
    glm,
    variants: pd.DataFrame,
    element_seqs: Mapping[str, str] | None = None,
    *,
    window: int,
    context: str = "element",
    layer: int = -1,
    batch_size: int = 32,
    progress: bool = True,
) -> pd.DataFrame:
    """Cosine and L2 distances of full and mean embeddings, from one forward pass per window.

    The four distance methods of :func:`score_variants` (forward strand) for
    the cost of one: each distinct window is embedded once with
    ``pooling="full"`` in float32.  ``*_full`` compares the flattened
    per-nucleotide embeddings ``(L * H,)``, ``*_mean`` their average over
    nucleotides ``(H,)``.  For single-nucleotide tokenizers (all demo gLMs)
    that average is exactly ``pooling="mean"``; for k-mer tokenizers it
    weights each token by the number of bases it covers.

    Parameters
    ----------
    glm : GLM
        A model following the ``models.GLM`` contract (``glm.embed``).
    variants : pandas.DataFrame, N rows
        Columns ``element``, ``offset``, ``ref``, ``alt``.
    element_seqs : mapping of str to str, optional
        Element → reference sequence; default: the table's ``seq`` column.
    window : int
        Window length; see :func:`variant_windows`.
    context : {"element", "pad_n"}
    layer : int
        Hidden state (``-1`` = last).
    batch_size : int
        Sequences per forward pass.
    progress : bool

    Returns
    -------
    pandas.DataFrame
        Columns :data:`DISTANCE_SCORES` (``cosine_full, l2_full, cosine_mean,
        l2_mean``), N rows in table order.
    """
    batch_size = positive_int(batch_size, "batch_size")
    windows = _scoring_windows(glm, variants, element_seqs, window=window, context=context)
    return pd.DataFrame(_window_distances(glm, windows, layer=layer, batch_size=batch_size, progress=progress))


def score_variants(
    glm,
    variants: pd.DataFrame,
    element_seqs: Mapping[str, str] | None = None,
    *,
    method: str,
    window: int,
    context: str = "element",
    strands: str = "fwd",
    layer: int = -1,
    batch_size: int = 32,
    progress: bool = True,
) -> np.ndarray:
    """Zero-shot score of every variant with one gLM.

    Parameters
    ----------
    glm : GLM
        A model following the ``models.GLM`` contract.  ``masked_llr`` needs
        ``glm.objective == "masked"``, ``causal_llr`` needs ``"causal"``.
    variants : pandas.DataFrame, N rows
        Columns ``element``, ``offset``, ``ref``, ``alt``.
    element_seqs : mapping of str to str, optional
        Element → reference sequence; default: the table's ``seq`` column.
    method : {"masked_llr", "causal_llr", "cosine_full", "cosine_mean", "l2_full", "l2_mean"}
        * ``masked_llr``: log p(alt) - log p(ref) at the variant, with the
          token covering it masked in the *reference* window.  For k-mer/BPE
          tokens, p(alt) and p(ref) are the model's probabilities of the
          whole alt and ref tokens there (``GLM.masked_log_probs``' exact
          rule, fp32; ``-inf`` when a BPE alt token is not in the
          vocabulary).  One masked forward pass per position serves its
          three alternatives.
        * ``causal_llr``: sum over the window of per-base causal log-probs,
          alternative window minus reference window.
        * ``cosine_*`` / ``l2_*``: cosine distance (1 - similarity) or L2
          distance between reference and alternative embeddings of ``layer``,
          flattened per-nucleotide (``_full``) or averaged over nucleotides
          (``_mean``); all four come from one pass, see
          :func:`embedding_distances`.
    window : int
        Window length; see :func:`variant_windows` (no genomic flanks offline).
    context : {"element", "pad_n"}
    strands : {"fwd", "both"}
        ``"both"`` averages the score over the forward window and its reverse
        complement (where variant index ``i`` becomes ``L - 1 - i`` and the
        alleles are complemented).
    layer : int
        Hidden state for the distance methods (``-1`` = last).
    batch_size : int
        Sequences (or masked positions) per forward pass.
    progress : bool
        Show progress bars.

    Returns
    -------
    numpy.ndarray, shape (N,)
        Scores in table order.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    batch_size = positive_int(batch_size, "batch_size")
    needed_objective = {"masked_llr": "masked", "causal_llr": "causal"}.get(method)
    if needed_objective and getattr(glm, "objective", None) != needed_objective:
        raise ValueError(
            f"{method} needs a {needed_objective} language model; {glm.name} has objective "
            f"{getattr(glm, 'objective', None)!r}"
        )
    windows = _scoring_windows(glm, variants, element_seqs, window=window, context=context)
    ref_codes, alt_codes = _allele_codes(variants["ref"]), _allele_codes(variants["alt"])
    per_strand = []
    for view, refs, alts in _strand_views(windows, ref_codes, alt_codes, strands):
        if method == "masked_llr":
            scores = _masked_llr(glm, view, refs, alts, batch_size=batch_size, progress=progress)
        elif method == "causal_llr":
            scores = _causal_llr(glm, view, batch_size=batch_size, progress=progress)
        else:
            scores = _window_distances(glm, view, layer=layer, batch_size=batch_size, progress=progress)[method]
        per_strand.append(scores)
    return np.mean(per_strand, axis=0)


def _check_mirrored_windows(element_seqs: Mapping[str, str], window: int) -> None:
    """Refuse an even ``window`` shorter than an element (:func:`strand_scores`)."""
    longest = max((len(seq) for seq in element_seqs.values()), default=0)
    if window % 2 == 0 and window < longest:
        raise ValueError(
            f"window {window} is even: the reverse strand's window around a variant would not be the "
            "mirror image of the forward one (the centre index (W - 1) // 2 is not symmetric); use an "
            f"odd window or one of at least {longest} nt (whole elements)")


def strand_scores(glm, variants: pd.DataFrame, element_seqs: Mapping[str, str] | None = None, *,
                  method: str, window: int, context: str = "element", **kwargs) -> pd.DataFrame:
    """Score every variant on the forward and the reverse strand, and their mean.

    ``both`` equals ``score_variants(..., strands="both")``, but the two
    strands are also returned apart, from the same two passes; the reverse
    strand is scored as the :func:`reverse_strand` table.  The window must be
    odd (or cover whole elements) so that the reverse window is the mirror
    of the forward one.

    Parameters
    ----------
    glm, variants, element_seqs, method, window, context
        As in :func:`score_variants`.
    **kwargs
        Passed to :func:`score_variants` (``layer``, ``batch_size``, ``progress``).

    Returns
    -------
    pandas.DataFrame
        Columns ``fwd``, ``rev``, ``both``; one row per variant, table order.

    Raises
    ------
    ValueError
        If ``window`` is even and shorter than the longest element.
    """
    if element_seqs is None:
        element_seqs = element_sequences(variants)
    _check_mirrored_windows(element_seqs, window)
    forward = score_variants(glm, variants, element_seqs, method=method, window=window,
                             context=context, strands="fwd", **kwargs)
    rc_table, rc_seqs = reverse_strand(variants, element_seqs)
    reverse = score_variants(glm, rc_table, rc_seqs, method=method, window=window,
                             context=context, strands="fwd", **kwargs)
    return pd.DataFrame({"fwd": forward, "rev": reverse, "both": (forward + reverse) / 2})


def score_model(glm, variants: pd.DataFrame, element_seqs: Mapping[str, str] | None = None, *,
                window: int, context: str = "element", distances: bool = True, batch_size: int = 32,
                progress: bool = True) -> pd.DataFrame:
    """Every zero-shot score a gLM supports, one column per score.

    * ``objective == "masked"``: ``masked_llr_{fwd,both}`` and their absolute
      values ``abs_masked_llr_{fwd,both}`` (:func:`strand_scores`);
    * ``objective == "causal"``: the same for ``causal_llr``;
    * every model (``distances=True``): :data:`DISTANCE_SCORES`, forward
      strand (:func:`embedding_distances`).

    Parameters
    ----------
    glm : GLM
    variants : pandas.DataFrame, N rows
    element_seqs : mapping of str to str, optional
    window : int
        Odd, or covering whole elements (:func:`strand_scores`).
    context : {"element", "pad_n"}
    distances : bool
        Add the embedding distances.
    batch_size : int
    progress : bool

    Returns
    -------
    pandas.DataFrame
        One row per variant (table order), one column per score.
    """
    batch_size = positive_int(batch_size, "batch_size")
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


def delta_prediction(
    predict_fn: Callable[[list[str]], np.ndarray],
    variants: pd.DataFrame,
    element_seqs: Mapping[str, str] | None = None,
    *,
    window: int,
) -> np.ndarray:
    """Supervised comparator: Δ = prediction(alt) - prediction(ref).

    Windows come from :func:`variant_windows` with ``context="element"``;
    elements shorter than ``window`` are padded with ``N`` on both sides
    (centred) so every input has the predictor's length (e.g. 230 nt for
    lentiMPRA-trained models).  Each distinct window is predicted once.

    Parameters
    ----------
    predict_fn : callable
        ``predict_fn(list of M str) -> array (M,)``.
    variants : pandas.DataFrame, N rows
    element_seqs : mapping of str to str, optional
    window : int
        The predictor's input length.

    Returns
    -------
    numpy.ndarray, shape (N,)
    """
    windows = variant_windows(variants, element_seqs, window=window, context="element")
    ref_seqs = [pad_or_crop(seq, window) for seq in windows.ref_seqs]
    alt_seqs = [pad_or_crop(seq, window) for seq in windows.alt_seqs]
    unique, position = _unique_index(ref_seqs + alt_seqs)
    predictions = np.asarray(predict_fn(unique), dtype=float).reshape(-1)
    if predictions.shape != (len(unique),):
        raise ValueError(
            f"predict_fn returned {predictions.size} values for {len(unique)} sequences"
        )
    return predictions[[position[s] for s in alt_seqs]] - predictions[[position[s] for s in ref_seqs]]


