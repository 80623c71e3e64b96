"""DNA sequence utilities: validation, one-hot encoding, (reverse) complement,
padding/cropping, dinucleotide shuffling and element-grouped splits.

Conventions
-----------
* Sequences are Python strings over ``ACGTN``; lower case is accepted and
  folded to upper case by :func:`validate_sequences`.  Every function here is
  for DNA: RNA (``U``) and IUPAC ambiguity letters (``R``, ``Y``, ...) are
  refused with the sequence and position named, never passed through.  (The
  RBP chapter's eCLIP sequences come as DNA one-hot arrays, so nothing in the
  package needs an RNA alphabet.)
* Where a list of sequences is expected, a single string is refused: iterating
  it would silently give one-base sequences.
* One-hot arrays are channels-first, ``(N, 4, L)`` in ``A, C, G, T`` order,
  the layout torch convolutions and tangermeme expect.  ``N`` (and padding)
  is encoded as the all-zero column, so it carries no base identity.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np

ALPHABET = "ACGT"
VALID_CHARACTERS = frozenset("ACGTN")
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
_NOT_DNA = re.compile("[^ACGTNacgtn]")
_BASE_INDEX = np.full(256, -1, dtype=np.int8)
for _i, _base in enumerate(ALPHABET):
    _BASE_INDEX[ord(_base)] = _i
    _BASE_INDEX[ord(_base.lower())] = _i


class SequenceError(ValueError):
    """A sequence failed validation; the message names its source and record."""


def _describe(source: str | None, index: int, ids: Sequence | None) -> str:
    where = f"{source}: " if source else ""
    record = f"row {index}"
    if ids is not None:
        record += f" (id {ids[index]!r})"
    return where + record


def _sequence_list(seqs, what: str) -> list:
    """``seqs`` as a list, refusing a single string (its letters would become one-base sequences).

    ``what`` names the caller or the data's source in the error message.
    """
    if isinstance(seqs, (str, bytes)):
        preview = repr(seqs[:20]) + ("..." if len(seqs) > 20 else "")
        raise TypeError(f"{what}: expected a list of sequences, got a single string {preview} "
                        f"(length {len(seqs)}); wrap it in a list: [seq]")
    try:
        return list(seqs)
    except TypeError:
        raise TypeError(f"{what}: expected a list of sequences, got {type(seqs).__name__} {seqs!r}") from None


def _check_dna(seq, function: str, index: int | None = None) -> str:
    """Return ``seq`` if it is a string over ``ACGTN`` (any case), else raise naming the letters."""
    which = "" if index is None else f"sequence {index}: "
    if not isinstance(seq, str):
        raise TypeError(f"{function}: {which}expected a DNA string, got {type(seq).__name__}")
    first = _NOT_DNA.search(seq)
    if first:
        letters = sorted(set(_NOT_DNA.findall(seq)))
        hint = " (RNA? write T for U)" if {"U", "u"} & set(letters) else ""
        raise SequenceError(f"{function}: {which}letters {''.join(letters)!r} are not DNA (first at position "
                            f"{first.start()}); allowed are A, C, G, T, N in either case{hint}")
    return seq


def validate_sequences(
    seqs: Iterable[str],
    *,
    source: str | None = None,
    ids: Sequence | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    length: int | None = None,
    allow_n: bool = True,
) -> list[str]:
    """Check DNA sequences and return them upper-cased.

    Parameters
    ----------
    seqs : iterable of str
        Sequences to check (a list, tuple, Series or array; not one string).
    source : str, optional
        Where the sequences come from (a file name); used in error messages.
    ids : sequence, optional
        Record identifiers aligned with ``seqs``; used in error messages.
    min_length, max_length, length : int, optional
        Length bounds; ``length`` requires an exact length.
    allow_n : bool
        Whether ``N`` is accepted.

    Returns
    -------
    list of str
        The sequences in upper case.

    Raises
    ------
    TypeError
        ``seqs`` is a single string rather than a list of them.
    SequenceError
        On the first offending record, naming ``source``, the 0-based row and,
        when given, the record id.
    """
    allowed = VALID_CHARACTERS if allow_n else frozenset(ALPHABET)
    out = []
    for index, seq in enumerate(_sequence_list(seqs, source or "validate_sequences")):
        if not isinstance(seq, str):
            raise SequenceError(
                f"{_describe(source, index, ids)}: expected a string, got {type(seq).__name__}"
            )
        upper = seq.upper()
        bad = set(upper) - allowed
        if bad:
            position = next(i for i, c in enumerate(upper) if c in bad)
            raise SequenceError(
                f"{_describe(source, index, ids)}: invalid character {seq[position]!r} at "
                f"position {position}; allowed are {''.join(sorted(allowed))} (any case)"
            )
        n = len(upper)
        if n == 0:
            raise SequenceError(f"{_describe(source, index, ids)}: empty sequence")
        if length is not None and n != length:
            raise SequenceError(
                f"{_describe(source, index, ids)}: length {n}, expected exactly {length}"
            )
        if min_length is not None and n < min_length:
            raise SequenceError(
                f"{_describe(source, index, ids)}: length {n} is below the minimum {min_length}"
            )
        if max_length is not None and n > max_length:
            raise SequenceError(
                f"{_describe(source, index, ids)}: length {n} exceeds the maximum {max_length}"
            )
        out.append(upper)
    return out


def one_hot(
    seqs: str | Sequence[str], *, length: int | None = None, dtype=np.float32
) -> np.ndarray:
    """One-hot encode sequences, channels first.

    Parameters
    ----------
    seqs : str or sequence of str
        Sequences over ``ACGTN`` (any case).  A single string gives ``(4, L)``.
    length : int, optional
        Output length; shorter sequences are right-padded with zero columns.
        Defaults to the longest sequence.  Longer sequences raise.
    dtype : numpy dtype

    Returns
    -------
    numpy.ndarray
        ``(N, 4, L)`` (or ``(4, L)`` for one string); ``N`` and padding are
        all-zero columns.
    """
    single = isinstance(seqs, str)
    batch = [seqs] if single else _sequence_list(seqs, "one_hot")
    for row, seq in enumerate(batch):
        if not isinstance(seq, str):
            raise TypeError(f"one_hot: row {row} is {type(seq).__name__} {seq!r}, expected a DNA string")
    if not batch:
        return np.zeros((0, 4, length or 0), dtype=dtype)
    longest = max(len(s) for s in batch)
    width = longest if length is None else length
    if longest > width:
        raise SequenceError(f"a sequence of length {longest} does not fit length={width}")
    out = np.zeros((len(batch), 4, width), dtype=dtype)
    for row, seq in enumerate(batch):
        raw = np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)
        codes = _BASE_INDEX[raw]
        bad = np.flatnonzero((codes < 0) & (raw != ord("N")) & (raw != ord("n")))
        if bad.size:
            raise SequenceError(f"row {row}: invalid character {seq[bad[0]]!r} at position {bad[0]}")
        positions = np.flatnonzero(codes >= 0)
        out[row, codes[positions], positions] = 1
    return out[0] if single else out


def decode_one_hot(x: np.ndarray) -> str | list[str]:
    """Invert :func:`one_hot`: ``(4, L)`` → str, ``(N, 4, L)`` → list of str.

    All-zero columns decode to ``N``.
    """
    x = np.asarray(x)
    if x.ndim == 2:
        return decode_one_hot(x[None])[0]
    letters = np.array(list(ALPHABET + "N"))
    index = np.where(x.sum(axis=1) > 0, x.argmax(axis=1), 4)
    return ["".join(letters[row]) for row in index]


def complement(seq: str | Sequence[str]) -> str | list[str]:
    """Complement, not reversed, of one DNA sequence (or base) or of each in a list (case kept).

    Raises
    ------
    SequenceError
        A letter other than ``ACGTN`` (any case), e.g. RNA's ``U`` or an IUPAC
        code: its complement would be wrong, so nothing passes through
        unchanged.  The message names the letters, the position and, for a
        list, the sequence's index.
    """
    if isinstance(seq, str):
        return _check_dna(seq, "complement").translate(_COMPLEMENT)
    return [_check_dna(s, "complement", index).translate(_COMPLEMENT)
            for index, s in enumerate(_sequence_list(seq, "complement"))]


def reverse_complement(seq: str | Sequence[str]) -> str | list[str]:
    """Reverse complement of one DNA sequence or of each sequence in a list (case kept).

    Raises
    ------
    SequenceError
        A letter other than ``ACGTN`` (any case); see :func:`complement`.
    """
    if isinstance(seq, str):
        return _check_dna(seq, "reverse_complement").translate(_COMPLEMENT)[::-1]
    return [_check_dna(s, "reverse_complement", index).translate(_COMPLEMENT)[::-1]
            for index, s in enumerate(_sequence_list(seq, "reverse_complement"))]


def reverse_complement_one_hot(x: np.ndarray):
    """Reverse complement of one-hot data ``(..., 4, L)`` in ``ACGT`` order.

    Works for numpy arrays and torch tensors: flipping both the channel axis
    (A↔T, C↔G in ``ACGT`` order) and the length axis.
    """
    if hasattr(x, "flip"):  # torch tensor
        return x.flip(dims=(-2, -1))
    return np.asarray(x)[..., ::-1, ::-1]


def pad_or_crop(seq: str, length: int, *, pad_char: str = "N", align: str = "center") -> str:
    """Bring a sequence to ``length`` by symmetric (or one-sided) padding or cropping.

    Parameters
    ----------
    seq : str
    length : int
        Target length.
    pad_char : str
        One character used for padding.
    align : {"center", "left", "right"}
        ``"center"`` keeps the middle (extra base on the right when odd);
        ``"left"`` keeps the start (pads/crops at the end); ``"right"`` keeps
        the end.
    """
    if not isinstance(seq, str):
        raise TypeError(f"pad_or_crop takes one sequence (a string), got {type(seq).__name__}")
    if not isinstance(pad_char, str) or len(pad_char) != 1:
        # a longer pad string would make the result longer than ``length``
        raise ValueError(f"pad_char must be a single character, got {pad_char!r}")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)):
        raise TypeError(f"length must be an integer, got {length!r}")
    if length < 0:
        raise ValueError(f"length must be non-negative, got {length}")
    if align not in {"center", "left", "right"}:
        raise ValueError(f"align must be 'center', 'left' or 'right', got {align!r}")
    n = len(seq)
    if n == length:
        return seq
    if n > length:
        start = {"left": 0, "right": n - length, "center": (n - length) // 2}[align]
        return seq[start : start + length]
    missing = length - n
    before = {"left": 0, "right": missing, "center": missing // 2}[align]
    return pad_char * before + seq + pad_char * (missing - before)


def dinucleotide_counts(seq: str) -> dict[str, int]:
    """Counts of overlapping dinucleotides in ``seq``."""
    counts: dict[str, int] = defaultdict(int)
    for i in range(len(seq) - 1):
        counts[seq[i : i + 2]] += 1
    return dict(counts)


def dinucleotide_shuffle(seq: str, *, seed=None) -> str:
    """Shuffle a sequence while preserving its dinucleotide counts exactly.

    Uses the Altschul–Erickson construction: a random Eulerian walk on the
    graph whose vertices are bases and whose edges are the sequence's
    dinucleotides, fixing the first and last base.  Any character set works
    (``N`` included).

    Parameters
    ----------
    seq : str
    seed : int, numpy.random.Generator or None

    Returns
    -------
    str
        A sequence with the same first base, last base and dinucleotide counts.
    """
    rng = np.random.default_rng(seed)
    if len(seq) <= 2:
        return seq
    edges: dict[str, list[str]] = defaultdict(list)
    for a, b in zip(seq[:-1], seq[1:]):
        edges[a].append(b)
    last = seq[-1]
    vertices = sorted(edges)
    # A random arborescence towards the last base: each vertex's "last exit"
    # edge points along a loop-erased random walk to ``last``.
    in_tree = {last}
    last_exit: dict[str, str] = {}
    for start in vertices:
        walk = start
        successor: dict[str, str] = {}
        while walk not in in_tree:
            successor[walk] = edges[walk][rng.integers(len(edges[walk]))]
            walk = successor[walk]
        walk = start
        while walk not in in_tree:
            last_exit[walk] = successor[walk]
            in_tree.add(walk)
            walk = successor[walk]
    ordered: dict[str, list[str]] = {}
    for vertex in vertices:
        outgoing = list(edges[vertex])
        if vertex in last_exit:
            outgoing.remove(last_exit[vertex])
            rng.shuffle(outgoing)
            outgoing.append(last_exit[vertex])
        else:
            rng.shuffle(outgoing)
        ordered[vertex] = outgoing[::-1]  # pop() from the end takes them in order
    out = [seq[0]]
    current = seq[0]
    for _ in range(len(seq) - 1):
        current = ordered[current].pop()
        out.append(current)
    return "".join(out)


def grouped_split(
    groups: Sequence,
    *,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> np.ndarray:
    """Assign ``train`` / ``valid`` / ``test`` so that every group stays in one split.

    Groups (e.g. an element's forward and reverse constructs) are ordered by
    a seeded permutation of the unique group labels and cut at the cumulative
    fractions, so the result depends only on the set of groups and the seed,
    not on row order.

    Parameters
    ----------
    groups : sequence
        One group label per row.
    fractions : (float, float, float)
        Fractions of groups for train, valid and test; must sum to 1.
    seed : int

    Returns
    -------
    numpy.ndarray of str, shape (N,)
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    labels = np.asarray(groups).astype(str)
    unique = np.array(sorted(set(labels.tolist())))
    order = np.random.default_rng(seed).permutation(len(unique))
    cut_train = int(round(fractions[0] * len(unique)))
    cut_valid = cut_train + int(round(fractions[1] * len(unique)))
    split_of_group = {}
    for rank, index in enumerate(order):
        split_of_group[unique[index]] = (
            "train" if rank < cut_train else "valid" if rank < cut_valid else "test"
        )
    return np.array([split_of_group[g] for g in labels])
