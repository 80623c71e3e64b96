"""Splicing data: ASCOT Δlogit PSI targets and exon windows (the paper's task), Vex-seq and MaPSy.

**ASCOT (the paper's Task 4, full profile).**  Exon inclusion (PSI) across 56
GTEx tissues in the MTSplice splits; each exon is seen through two 400-nt
windows (300 nt of intron + 100 nt of exon at the acceptor side, and the
mirror image at the donor side, :func:`glmeval_utils.data.loaders.exon_windows`).
The target is the *tissue-specific* part of PSI on the logit scale::

    mean_logit  = mean over observed tissues of logit(PSI_t)
    delta_t     = logit(PSI_t) - mean_logit            (NaN where unobserved)
    PSI_t       = sigmoid(delta_t + mean_logit)

Test exons are kept when observed in at least 10 tissues with max |ΔPSI| ≥ 0.2
(:func:`evaluable_exons`).

**Offline stand-ins.**  Vex-seq minigene PSI (:func:`vexseq_inputs`) and MaPSy
wild-type/mutant pairs (:func:`mapsy_variants`); neither is a data set of the paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from glmeval_utils.data.loaders import ascot_tissues, exon_windows
from glmeval_utils.sequences import one_hot, pad_or_crop

#: PSI is clipped to [EPS, 1 - EPS] before taking logits.
EPS = 1e-3

#: The paper's test filter (MTSplice): exons observed in >= 10 tissues with max |ΔPSI| >= 0.2.
MIN_TISSUES = 10

MIN_DELTA_PSI = 0.2

# --------------------------------------------------------------------------- targets
def logit(p, eps: float = EPS) -> np.ndarray:
    """``log(p / (1 - p))`` after clipping ``p`` to ``[eps, 1 - eps]``; NaN stays NaN."""
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)

def sigmoid(x) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))

@dataclass
class DeltaLogitTargets:
    """Tissue-specific Δlogit PSI targets of N exons in T tissues.

    Attributes
    ----------
    delta : numpy.ndarray ``(N, T)``
        ``logit(PSI_t) - mean_logit``; NaN where the tissue is unobserved.
    mean_logit : numpy.ndarray ``(N,)``
        Mean logit PSI over the observed tissues.
    psi : numpy.ndarray ``(N, T)``
        The measured PSI in [0, 1] (NaN = unobserved).
    tissues : list of str
    """

    delta: np.ndarray
    mean_logit: np.ndarray
    psi: np.ndarray
    tissues: list = field(default_factory=list)

    def stacked(self) -> np.ndarray:
        """float32 ``(N, T + 1)``: the Δlogit columns then ``mean_logit`` (the loss's target)."""
        return np.concatenate([self.delta, self.mean_logit[:, None]], axis=1).astype(np.float32)

    def subset(self, rows) -> "DeltaLogitTargets":
        return DeltaLogitTargets(self.delta[rows], self.mean_logit[rows], self.psi[rows], list(self.tissues))

    def __len__(self) -> int:
        return len(self.delta)

def delta_logit_targets(psi, *, tissues: Sequence[str] | None = None, eps: float = EPS) -> DeltaLogitTargets:
    """Split PSI into an exon's mean logit and its tissue-specific Δlogit.

    Parameters
    ----------
    psi : array-like ``(N, T)``
        PSI in [0, 1]; NaN marks an unobserved tissue.  Every exon needs at
        least one observed tissue.
    tissues : sequence of str, optional
    eps : float
        Clipping before the logit.

    Returns
    -------
    DeltaLogitTargets
    """
    psi = np.asarray(psi, dtype=float)
    if psi.ndim != 2:
        raise ValueError(f"psi must have shape (N, T), got {psi.shape}")
    observed = np.isfinite(psi)
    empty = np.flatnonzero(~observed.any(axis=1))
    if empty.size:
        raise ValueError(f"exon row {empty[0]} has no observed tissue")
    finite = psi[observed]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise ValueError("psi must lie in [0, 1] (divide percentages by 100)")
    logits = np.where(observed, logit(np.where(observed, psi, 0.5), eps), np.nan)
    mean_logit = np.nanmean(logits, axis=1)
    return DeltaLogitTargets(logits - mean_logit[:, None], mean_logit, psi,
                             list(tissues) if tissues is not None else [])

def tissue_delta_psi(psi) -> np.ndarray:
    """ΔPSI per tissue: PSI minus the exon's mean PSI over observed tissues, ``(N, T)``."""
    psi = np.asarray(psi, dtype=float)
    return psi - np.nanmean(psi, axis=1, keepdims=True)

def evaluable_exons(psi, *, min_tissues: int = MIN_TISSUES, min_delta_psi: float = MIN_DELTA_PSI) -> np.ndarray:
    """Exons kept for evaluation: observed in ``>= min_tissues`` tissues and max |ΔPSI| ``>= min_delta_psi``.

    Returns a boolean ``(N,)`` mask.
    """
    psi = np.asarray(psi, dtype=float)
    observed = np.isfinite(psi).sum(axis=1)
    spread = np.nanmax(np.abs(tissue_delta_psi(psi)), axis=1)
    return (observed >= min_tissues) & (spread >= min_delta_psi)

# --------------------------------------------------------------------------- ASCOT inputs
@dataclass
class SplicingData:
    """Acceptor/donor windows and Δlogit targets of one split of the ASCOT task."""

    exon_id: np.ndarray
    acceptor_seqs: list
    donor_seqs: list
    targets: DeltaLogitTargets

    def onehot(self) -> tuple[np.ndarray, np.ndarray]:
        """``(N, 4, L)`` one-hot acceptor and donor windows."""
        return one_hot(self.acceptor_seqs), one_hot(self.donor_seqs)

def ascot_splits(table: pd.DataFrame, fasta_path=None, *, flank: int = 300, half: int = 400) -> dict:
    """Build :class:`SplicingData` per split from an ASCOT label table.

    Parameters
    ----------
    table : pandas.DataFrame
        From ``datasets.load("ascot_gtex_test" | "paper_mtsplice_psi")``: hg38
        coordinates, one PSI column per tissue (0-1, NaN missing), ``split``.
        A table that already holds ``acceptor_seq``/``donor_seq`` needs no FASTA.
    fasta_path : path, optional
        Uncompressed hg38 FASTA, cut with :func:`glmeval_utils.data.loaders.exon_windows`.

    Returns
    -------
    dict of split -> SplicingData
    """
    tissues = ascot_tissues(table.drop(columns=["acceptor_seq", "donor_seq"], errors="ignore"))
    if "acceptor_seq" not in table.columns:
        if fasta_path is None:
            raise ValueError("the table has no acceptor_seq/donor_seq columns: pass an hg38 fasta_path")
        windows = exon_windows(table, fasta_path, flank=flank, half=half)
        table = table.assign(acceptor_seq=windows["acceptor_seq"].to_numpy(),
                             donor_seq=windows["donor_seq"].to_numpy())
    out = {}
    for split, part in table.groupby("split", sort=False):
        targets = delta_logit_targets(part[tissues].to_numpy(float), tissues=tissues)
        out[split] = SplicingData(part["exon_id"].to_numpy(), part["acceptor_seq"].tolist(),
                                  part["donor_seq"].tolist(), targets)
    return out

def fetch_hg38(*, progress: bool = True):
    """Path of an uncompressed hg38 FASTA, the assembly of the ASCOT coordinates (full profile only).

    :func:`glmeval_utils.data.registry.fetch_genome` with its ``HG38`` entry:
    UCSC's ``hg38.fa.gz`` (or ``$GLMEVAL_MIRROR/ucsc/hg38/hg38.fa.gz``) checked
    against the published md5, unpacked once and checked on every use.
    """
    from glmeval_utils.data import registry

    return registry.fetch_genome(registry.HG38, progress=progress)

VEXSEQ_LENGTH = 166

def vexseq_inputs(table: pd.DataFrame, *, length: int = VEXSEQ_LENGTH, min_reads: int = 0) -> pd.DataFrame:
    """Vex-seq constructs padded to one length for the CNNs and full embeddings.

    Inserts (161-166 nt) keep their start (upstream intron) and are padded
    with ``N`` at the end, so the acceptor sits at the same position in every
    construct.  Constructs with fewer than ``min_reads`` inclusion + skipping
    reads in either cell line are dropped.  Returns a copy with ``seq_padded``.
    """
    keep = (table["reads_hepg2"] >= min_reads) & (table["reads_k562"] >= min_reads)
    out = table[keep].copy()
    out["seq_padded"] = [pad_or_crop(s, length, align="left") for s in out["seq"]]
    return out

# --------------------------------------------------------------------------- MaPSy
def mapsy_variants(table: pd.DataFrame) -> pd.DataFrame:
    """MaPSy pairs as a zero-shot variant table (:mod:`glmeval_utils.score.zeroshot` columns).

    Each pair becomes its own element (``element`` = ``variant_id``, ``seq`` =
    the wild type); ``offset`` is the one position where wild type and mutant
    differ; ``ref``/``alt`` are the two bases there.

    Raises
    ------
    ValueError
        If a pair differs in length or at other than exactly one position.
    """
    offsets, refs, alts = [], [], []
    for variant, wt, mut in table[["variant_id", "wt_seq", "mut_seq"]].itertuples(index=False):
        if len(wt) != len(mut):
            raise ValueError(f"MaPSy pair {variant}: wild type and mutant differ in length")
        a = np.frombuffer(wt.encode(), dtype=np.uint8)
        b = np.frombuffer(mut.encode(), dtype=np.uint8)
        diff = np.flatnonzero(a != b)
        if diff.size != 1:
            raise ValueError(f"MaPSy pair {variant}: wild type and mutant differ at {diff.size} positions, "
                             "expected exactly one")
        offsets.append(int(diff[0]))
        refs.append(wt[diff[0]])
        alts.append(mut[diff[0]])
    return pd.DataFrame({"element": table["variant_id"].to_numpy(), "offset": offsets, "ref": refs,
                         "alt": alts, "seq": table["wt_seq"].to_numpy()}, index=table.index)
