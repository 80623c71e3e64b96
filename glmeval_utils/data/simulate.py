"""Simulated sequences with planted motifs and known effects.

Used where the real data are out of reach (the INSERT-seq demo chapter) and
to test the attribution → motif-discovery → JASPAR pipeline against a ground
truth.  Simulated results are never biological evidence; the notebooks say so.

Generative model of :func:`simulate_planted_motifs`
----------------------------------------------------
1. Background: independent bases with ``P(C) = P(G) = gc / 2`` and
   ``P(A) = P(T) = (1 - gc) / 2``.
2. Each motif ``m`` is planted independently with probability
   ``motif_probability``: a site is sampled column by column from its PFM and
   written at a uniformly random start that does not overlap another planted
   site (forward strand).
3. Linear predictor ``z = intercept + sum_m effect_m * planted_m``.
4. ``task="binary"``: ``label ~ Bernoulli(sigmoid(z))``;
   ``task="regression"``: ``target = z + noise * N(0, 1)``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from glmeval_utils.sequences import ALPHABET

__all__ = ["simulate_planted_motifs", "simulate_elongation", "ELONGATION_EFFECTS"]

_BASES = np.array(list(ALPHABET))


def _check_pfm(name: str, pfm, length: int) -> np.ndarray:
    """Validate a PFM ``(W, 4)`` (counts or probabilities) and return row-normalised probabilities."""
    pfm = np.asarray(pfm, dtype=np.float64)
    if pfm.ndim != 2 or pfm.shape[1] != 4:
        raise ValueError(f"motif {name!r}: PFM must have shape (W, 4), got {pfm.shape}")
    if (pfm < 0).any() or (pfm.sum(axis=1) <= 0).any():
        raise ValueError(f"motif {name!r}: PFM needs non-negative rows with a positive sum")
    if pfm.shape[0] > length:
        raise ValueError(f"motif {name!r} (width {pfm.shape[0]}) is longer than the sequences ({length})")
    return pfm / pfm.sum(axis=1, keepdims=True)


def _backgrounds(rng: np.random.Generator, n: int, length: int, gc) -> np.ndarray:
    """Base indices ``(n, length)``; ``gc`` is one value or one per sequence."""
    gc = np.broadcast_to(np.asarray(gc, dtype=np.float64), (n,))
    if ((gc < 0) | (gc > 1)).any():
        raise ValueError("GC content must lie in [0, 1]")
    probabilities = np.stack([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2], axis=1)  # (n, 4) ACGT
    cumulative = probabilities.cumsum(axis=1)
    return (rng.random((n, length, 1)) > cumulative[:, None, :3]).sum(axis=2)


def _plant(rng, codes: np.ndarray, pfms: Mapping[str, np.ndarray], planted: Mapping[str, np.ndarray]) -> dict:
    """Write sampled sites into ``codes`` in place; returns name → start (-1 if absent)."""
    n, length = codes.shape
    starts = {name: np.full(n, -1, dtype=int) for name in pfms}
    for row in range(n):
        occupied = np.zeros(length, dtype=bool)
        for name, pfm in pfms.items():
            if not planted[name][row]:
                continue
            width = pfm.shape[0]
            free = [s for s in range(length - width + 1) if not occupied[s : s + width].any()]
            if not free:
                raise ValueError(f"no room to plant {name!r} in a sequence of length {length}")
            start = int(rng.choice(free))
            site = (rng.random((width, 1)) > pfm.cumsum(axis=1)[:, :3]).sum(axis=1)
            codes[row, start : start + width] = site
            occupied[start : start + width] = True
            starts[name][row] = start
    return starts


def _splits(rng, n: int, fractions=(0.8, 0.1, 0.1)) -> np.ndarray:
    """Deterministic random train/valid/test assignment."""
    labels = np.array(["train", "valid", "test"])
    counts = np.floor(np.asarray(fractions) * n).astype(int)
    counts[0] = n - counts[1:].sum()
    return rng.permutation(np.repeat(labels, counts))


def simulate_planted_motifs(
    n: int,
    length: int,
    motifs: Mapping[str, np.ndarray],
    *,
    effect_sizes: Mapping[str, float] | None = None,
    motif_probability: float = 0.5,
    intercept: float | None = None,
    noise: float = 0.5,
    gc: float = 0.5,
    task: str = "binary",
    seed=0,
) -> pd.DataFrame:
    """Random sequences with PFM-sampled motifs planted and a label depending on them.

    See the module docstring for the generative model.

    Parameters
    ----------
    n, length : int
        Number and length of sequences.
    motifs : mapping name → array ``(W, 4)``
        PFMs (counts or probabilities, ``ACGT`` columns), e.g. from
        :func:`glmeval_utils.score.motifs.load_jaspar`.
    effect_sizes : mapping name → float, optional
        Effect of each planted motif on the linear predictor (default 1).
    motif_probability : float
        Probability that each motif is planted in a sequence.
    intercept : float, optional
        Default centres ``z``: ``-motif_probability * sum(effects)``.
    noise : float
        Gaussian noise s.d. (regression only).
    gc : float
        Background GC content.
    task : {"binary", "regression"}
    seed : int or numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        ``seq``, ``label`` (binary, 0/1) or ``target`` (regression), ``split``,
        and per motif ``<name>`` (1 if planted) and ``<name>_start`` (-1 if not);
        ``attrs["simulated"]`` is True.
    """
    if task not in {"binary", "regression"}:
        raise ValueError(f"task must be 'binary' or 'regression', got {task!r}")
    if not motifs:
        raise ValueError("give at least one motif")
    rng = np.random.default_rng(seed)
    pfms = {name: _check_pfm(name, pfm, length) for name, pfm in motifs.items()}
    effects = {name: 1.0 for name in pfms} | dict(effect_sizes or {})
    unknown = set(effects) - set(pfms)
    if unknown:
        raise ValueError(f"effect sizes given for unknown motifs {sorted(unknown)}")
    codes = _backgrounds(rng, n, length, gc)
    planted = {name: rng.random(n) < motif_probability for name in pfms}
    starts = _plant(rng, codes, pfms, planted)
    if intercept is None:
        intercept = -motif_probability * sum(effects.values())
    z = intercept + sum(effects[name] * planted[name] for name in pfms)
    table = pd.DataFrame({"seq": ["".join(row) for row in _BASES[codes]]})
    if task == "binary":
        table["label"] = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    else:
        table["target"] = z + noise * rng.normal(size=n)
    table["split"] = _splits(rng, n)
    for name in pfms:
        table[name] = planted[name].astype(int)
        table[f"{name}_start"] = starts[name]
    table.attrs["simulated"] = True
    return table


def _consensus_pfm(consensus: str, fidelity: float) -> np.ndarray:
    """PFM ``(W, 4)`` with probability ``fidelity`` on each consensus base."""
    pfm = np.full((len(consensus), 4), (1 - fidelity) / 3)
    pfm[np.arange(len(consensus)), [ALPHABET.index(b) for b in consensus]] = fidelity
    return pfm


#: Effects on the simulated elongation target (log scale) of
#: :func:`simulate_elongation`.  GAGA repeats and the polyadenylation signal
#: are real elongation/termination-related elements, but these numbers are
#: invented for teaching.
ELONGATION_EFFECTS = {
    "gc_content": -3.0,  # per unit GC above 0.5
    "poly_t": -0.6,  # a run of >= 7 T (terminator-like U-tract)
    "gaga": 0.8,  # planted GAGA-factor-like repeat
    "pas": -0.8,  # planted AATAAA polyadenylation signal
}
_ELONGATION_MOTIFS = {"gaga": _consensus_pfm("GAGAGAGA", 0.85), "pas": _consensus_pfm("AATAAA", 0.97)}
_POLY_T = 7


def simulate_elongation(n: int, length: int = 173, *, noise: float = 0.3, seed=0) -> pd.DataFrame:
    """A Pol II-elongation-like regression data set (INSERT-seq stand-in).

    Generative model: per-sequence background GC content ``~ U(0.35, 0.65)``;
    a GAGA-repeat site (PFM around ``GAGAGAGA``) and an ``AATAAA``
    polyadenylation-signal site are each planted with probability 0.4; a run of
    7 T is planted with probability 0.3.  Then

    ``target = 1 + sum_f ELONGATION_EFFECTS[f] * feature_f + noise * N(0, 1)``

    with ``gc_content`` (centred at 0.5) and ``poly_t`` measured on the final
    sequence, and ``gaga``/``pas`` the planted flags (chance matches in the
    background have no effect).

    Parameters
    ----------
    n : int
    length : int
        Insert length (173 nt as in INSERT-seq).
    noise : float
        Gaussian noise s.d.
    seed : int or numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        ``seq``, ``target``, ``split`` (80/10/10 train/valid/test),
        ``gc_content``, ``poly_t`` (0/1), ``gaga``, ``gaga_start``, ``pas``,
        ``pas_start``; ``attrs["simulated"]`` is True.
    """
    rng = np.random.default_rng(seed)
    codes = _backgrounds(rng, n, length, rng.uniform(0.35, 0.65, size=n))
    pfms = {name: _check_pfm(name, pfm, length) for name, pfm in _ELONGATION_MOTIFS.items()}
    pfms["poly_t_site"] = _check_pfm("poly_t_site", _consensus_pfm("T" * _POLY_T, 1.0), length)
    planted = {"gaga": rng.random(n) < 0.4, "pas": rng.random(n) < 0.4, "poly_t_site": rng.random(n) < 0.3}
    starts = _plant(rng, codes, pfms, planted)
    seqs = ["".join(row) for row in _BASES[codes]]
    table = pd.DataFrame({"seq": seqs})
    table["gc_content"] = [(s.count("G") + s.count("C")) / length for s in seqs]
    table["poly_t"] = [int("T" * _POLY_T in s) for s in seqs]
    for name in _ELONGATION_MOTIFS:
        table[name] = planted[name].astype(int)
        table[f"{name}_start"] = starts[name]
    table.insert(1, "target", 1.0
                 + ELONGATION_EFFECTS["gc_content"] * (table["gc_content"] - 0.5)
                 + ELONGATION_EFFECTS["poly_t"] * table["poly_t"]
                 + ELONGATION_EFFECTS["gaga"] * table["gaga"]
                 + ELONGATION_EFFECTS["pas"] * table["pas"]
                 + noise * rng.normal(size=n))
    table.insert(2, "split", _splits(rng, n))
    table.attrs["simulated"] = True
    return table
