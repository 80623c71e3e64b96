"""Nucleotide-aware tokenisation for every gLM family.

Two layers live here:

* **Hugging Face tokenizer builders** that rebuild each family's tokenizer
  offline (used by the teaching gLMs and by the test look-alikes):
  :func:`char_hf_tokenizer` (teaching gLMs, HyenaDNA, GPN),
  :func:`nt_hf_tokenizer` (Nucleotide Transformer 6-mers) and
  :func:`bpe_hf_tokenizer` (a DNABERT-2-style byte-pair encoding).
* **Adapters** (:class:`DNATokenizer` subclasses) that wrap a loaded Hugging
  Face tokenizer and return, for each sequence, the token ids *and the
  nucleotide span each token covers*.  The spans let :class:`~.base.GLM`
  drop special tokens, expand k-mer/BPE tokens to one row per base, mask
  every token covering a base and name the token a base substitution turns
  it into (:meth:`DNATokenizer.substitution_candidates`).

Facts about the real tokenizers (vocabulary order, N handling, added special
tokens) follow the Nucleotide Transformer repository
(``nucleotide_transformer/tokenizers.py``), the HyenaDNA ``-hf`` tokenizer and
GPN's ``train_tokenizer_ss.py``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

BASES = "ACGT"
#: Spans of special tokens (CLS, SEP, BOS ...) are marked with this start/end.
SPECIAL_SPAN = -1


# --------------------------------------------------------------------------
# Hugging Face tokenizer builders
# --------------------------------------------------------------------------
def char_hf_tokenizer(specials, *, prefix=(), suffix=(), letters="ACGTN", padding_side="right"):
    """A character-level ``PreTrainedTokenizerFast`` (one token per base).

    Parameters
    ----------
    specials : dict
        Role → token string, in vocabulary order, e.g.
        ``{"pad_token": "<pad>", "mask_token": "<mask>", "cls_token": "<cls>",
        "unk_token": "<unk>"}``.  ``None`` values reserve an id without a role
        (HyenaDNA's ``[RESERVED]``).  Ids follow the insertion order.
    prefix, suffix : sequence of str
        Special tokens added before / after every sequence.
    letters : str
        Nucleotide tokens appended after the specials (``"acgt"`` for GPN).
    padding_side : {"right", "left"}

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        Saves and reloads with ``save_pretrained``/``from_pretrained`` offline.
    """
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    names = [token if token is not None else f"[RESERVED{i}]" for i, token in enumerate(specials.values())]
    vocab = {token: i for i, token in enumerate(names + list(letters))}
    roles = {role: token for role, token in specials.items() if token is not None and role.endswith("_token")}
    core = Tokenizer(models.WordLevel(vocab, unk_token=roles.get("unk_token")))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(""), behavior="isolated")
    template = " ".join([*prefix, "$A", *suffix])
    core.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[(token, vocab[token]) for token in dict.fromkeys([*prefix, *suffix])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        padding_side=padding_side,
        model_input_names=["input_ids", "attention_mask"],
        **roles,
    )


def nt_vocabulary() -> list[str]:
    """The Nucleotide Transformer vocabulary (4107 tokens) in id order.

    ``<unk> <pad> <mask> <cls>``, the 4096 6-mers in
    ``itertools.product("ATCG", repeat=6)`` order, ``A T C G N``, ``<eos> <bos>``.
    """
    kmers = ["".join(p) for p in itertools.product("ATCG", repeat=6)]
    return ["<unk>", "<pad>", "<mask>", "<cls>", *kmers, "A", "T", "C", "G", "N", "<eos>", "<bos>"]


def nt_hf_tokenizer(directory):
    """Rebuild the Nucleotide Transformer ``EsmTokenizer`` in ``directory``.

    Writes ``vocab.txt`` and ``tokenizer_config.json`` as on the hub and loads
    them; the tokenizer prepends ``<cls>`` only (no ``<eos>``).  Loading from
    files with the special tokens declared is much faster than the
    ``EsmTokenizer`` constructor, which re-registers every 6-mer.
    """
    import json

    from transformers import EsmTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(nt_vocabulary()) + "\n")
    roles = {"unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>", "cls_token": "<cls>"}
    added = {str(i): {"content": token, "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False, "special": True} for i, token in enumerate(roles.values())}
    config = {"tokenizer_class": "EsmTokenizer", "eos_token": None, "added_tokens_decoder": added, **roles}
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return EsmTokenizer.from_pretrained(directory)


def bpe_hf_tokenizer(training_seqs, *, vocab_size=64):
    """Train a small DNABERT-2-style BPE tokenizer.

    The real DNABERT-2 vocabulary is not obtainable offline; this stand-in has
    the same special tokens (``[UNK]0 [CLS]1 [SEP]2 [PAD]3 [MASK]4``) and
    template ``[CLS] $A [SEP]``.

    Parameters
    ----------
    training_seqs : list of str
        Upper-case DNA used to learn merges.
    vocab_size : int
        Target vocabulary size including specials and the five letters.
    """
    from tokenizers import Tokenizer, models, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    core = Tokenizer(models.BPE(unk_token="[UNK]"))
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, initial_alphabet=list("ACGTN"),
                                  show_progress=False)
    core.train_from_iterator(training_seqs, trainer=trainer)
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        pad_token="[PAD]", mask_token="[MASK]", padding_side="right",
    )


# --------------------------------------------------------------------------
# Adapters: ids + nucleotide spans
# --------------------------------------------------------------------------
class DNATokenizer:
    """Turns DNA strings into token ids plus the nucleotides each token covers.

    Subclasses implement :meth:`encode`.  Attributes shared by all adapters:

    Attributes
    ----------
    hf_tokenizer : transformers tokenizer
        The family's own tokenizer (source of the vocabulary and special ids).
    pad_id, mask_id, cls_id : int or None
    prefix_ids, suffix_ids : list of int
        Special tokens the family adds before / after each sequence.
    vocab_strings : list of str
        Token string per id (used to marginalise k-mer predictions to bases).
    single_base_tokens : bool
        Whether every non-special token covers exactly one nucleotide, so
        per-token and per-nucleotide rows coincide.
    """

    single_base_tokens = False

    def __init__(self, hf_tokenizer):
        self.hf_tokenizer = hf_tokenizer
        vocab = hf_tokenizer.get_vocab()
        self.vocab = vocab
        self.vocab_strings = [""] * (max(vocab.values()) + 1)
        for token, index in vocab.items():
            self.vocab_strings[index] = token
        self.pad_id = hf_tokenizer.pad_token_id
        if self.pad_id is None:
            raise ValueError(f"tokenizer {type(hf_tokenizer).__name__} has no pad token; glmeval pads batches itself "
                             "and needs one")
        self.mask_id = hf_tokenizer.mask_token_id
        self.cls_id = hf_tokenizer.cls_token_id
        self.prefix_ids, self.suffix_ids = _special_affixes(hf_tokenizer)
        self._candidates = {}

    @property
    def has_cls(self) -> bool:
        """Whether every sequence starts with a CLS token (usable for ``pooling="cls"``)."""
        return self.cls_id is not None and self.prefix_ids[:1] == [self.cls_id]

    def encode(self, seq: str) -> tuple[np.ndarray, np.ndarray]:
        """Tokenise one validated upper-case sequence.

        Returns
        -------
        ids : ndarray of int64, shape (T,)
        spans : ndarray of int64, shape (T, 2)
            ``[start, end)`` in nucleotides per token; ``SPECIAL_SPAN`` for
            special tokens.  Non-special spans tile ``0..L`` in order.
        """
        raise NotImplementedError

    def encode_many(self, seqs) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`encode` for each sequence."""
        return [self.encode(seq) for seq in seqs]

    def _wrap(self, core_ids, core_spans):
        ids = np.concatenate([self.prefix_ids, core_ids, self.suffix_ids]).astype(np.int64)
        special = np.full((len(self.prefix_ids), 2), SPECIAL_SPAN)
        tail = np.full((len(self.suffix_ids), 2), SPECIAL_SPAN)
        return ids, np.concatenate([special, np.asarray(core_spans, dtype=np.int64).reshape(-1, 2), tail]).astype(np.int64)

    def single_base_ids(self) -> np.ndarray:
        """Token ids of the single bases ``A, C, G, T`` (upper case, else lower case), shape (4,)."""
        ids = [self.vocab.get(base, self.vocab.get(base.lower())) for base in BASES]
        if None in ids:
            raise ValueError(f"tokenizer {type(self.hf_tokenizer).__name__} lacks single-base tokens for "
                             f"{[b for b, i in zip(BASES, ids) if i is None]}")
        return np.array(ids, dtype=np.int64)

    def substitution_candidates(self, kmer: str, offset: int) -> np.ndarray:
        """Tokens spelling ``kmer`` with its base at ``offset`` replaced by A, C, G and T.

        The exact masked-LM rule of :meth:`~.base.GLM.masked_log_probs`: the
        observed token's other bases stay as observed, so the four candidates
        differ only at ``offset`` (one of them is ``kmer`` itself when its base
        there is A, C, G or T).

        Parameters
        ----------
        kmer : str
            Upper-case bases covered by the observed token (``seq[start:end]``).
        offset : int
            0-based position of the substituted base inside ``kmer``.

        Returns
        -------
        ndarray of int64, shape (4,)
            Token id of each substituted string in ``A, C, G, T`` order, looked up
            as written, else in lower case; ``-1`` where the string is not a
            vocabulary token (possible for BPE vocabularies, never for the
            complete 6-mer vocabulary of the Nucleotide Transformer or for
            one-token-per-base vocabularies).
        """
        if not 0 <= offset < len(kmer):
            raise ValueError(f"offset {offset} is outside the {len(kmer)}-nt token {kmer!r}")
        ids = []
        for base in BASES:
            candidate = kmer[:offset] + base + kmer[offset + 1:]
            ids.append(self.vocab.get(candidate, self.vocab.get(candidate.lower(), -1)))
        return np.array(ids, dtype=np.int64)

    def base_candidates(self, width: int, offset: int):
        """Vocabulary entries that can explain a base at ``offset`` of a ``width``-nt token.

        Used by the marginal rule of :meth:`~.base.GLM.masked_log_probs`
        (``kmer_rule="marginal"``), which ignores the token's other bases.

        Returns
        -------
        token_ids : ndarray of int64, shape (K,)
            Every pure-ACGT token of length ``width`` (case-insensitive).
        base_index : ndarray of int64, shape (K,)
            The base (0..3 = A, C, G, T) each of those tokens has at ``offset``.
        """
        key = (width, offset)
        if key not in self._candidates:
            token_ids, base_index = [], []
            for index, token in enumerate(self.vocab_strings):
                upper = token.upper()
                if len(upper) == width and set(upper) <= set(BASES):
                    token_ids.append(index)
                    base_index.append(BASES.index(upper[offset]))
            if len(set(base_index)) < 4:
                raise ValueError(f"the vocabulary has no {width}-nt tokens for every base; cannot score a base "
                                 f"at offset {offset}")
            self._candidates[key] = (np.array(token_ids), np.array(base_index))
        return self._candidates[key]


def _special_affixes(hf_tokenizer) -> tuple[list[int], list[int]]:
    """Special tokens the tokenizer adds around a sequence, found by tokenising ``"A"``."""
    vocab = hf_tokenizer.get_vocab()
    letter = "A" if "A" in vocab else "a"
    ids = list(hf_tokenizer(letter, add_special_tokens=True)["input_ids"])
    if vocab[letter] not in ids:
        raise ValueError(f"tokenizer {type(hf_tokenizer).__name__} does not map {letter!r} to its own token")
    where = ids.index(vocab[letter])
    return ids[:where], ids[where + 1:]


class CharDNATokenizer(DNATokenizer):
    """One token per nucleotide (teaching gLMs, HyenaDNA, Caduceus, GPN).

    Upper- or lower-case vocabularies are both handled (GPN uses ``acgt``):
    sequences are mapped through a 256-entry lookup table, no Python loop per
    base.
    """

    single_base_tokens = True

    def __init__(self, hf_tokenizer):
        super().__init__(hf_tokenizer)
        unk = self.hf_tokenizer.unk_token_id
        self._table = np.full(256, unk if unk is not None else -1, dtype=np.int64)
        for letter in "ACGTN":
            token = letter if letter in self.vocab else letter.lower()
            if token in self.vocab:
                self._table[ord(letter)] = self.vocab[token]
        missing = [b for b in BASES if self._table[ord(b)] < 0 or self._table[ord(b)] == unk]
        if missing:
            raise ValueError(f"character tokenizer lacks tokens for {missing}")

    def encode(self, seq):
        core = self._table[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
        if (core < 0).any():
            raise ValueError(f"sequence {seq[:20]!r}... has a base the tokenizer cannot represent")
        positions = np.arange(len(seq))
        return self._wrap(core, np.stack([positions, positions + 1], axis=1))


class KmerDNATokenizer(DNATokenizer):
    """Nucleotide Transformer tokenisation: non-overlapping k-mers.

    As in the original tokenizer: the sequence is split on ``N``; each piece is
    cut into non-overlapping k-mers from its start and the leftover (< k)
    bases become single-nucleotide tokens; every ``N`` is its own token.
    ``ACGTACGTACGTAC`` → ``<cls> ACGTAC GTACGT A C``.
    """

    def __init__(self, hf_tokenizer, k: int = 6):
        super().__init__(hf_tokenizer)
        self.k = k
        self.single_base_tokens = k == 1

    def encode(self, seq):
        pieces, spans = [], []

        def add(start, end):
            pieces.append(seq[start:end])
            spans.append((start, end))

        start = 0
        for chunk in seq.split("N"):
            n_full = len(chunk) // self.k * self.k
            for offset in range(0, n_full, self.k):
                add(start + offset, start + offset + self.k)
            for offset in range(n_full, len(chunk)):
                add(start + offset, start + offset + 1)
            start += len(chunk)
            if start < len(seq):  # the N that ended this chunk
                add(start, start + 1)
                start += 1
        unk = self.hf_tokenizer.unk_token_id
        core = np.array([self.vocab.get(piece, unk) for piece in pieces], dtype=np.int64)
        return self._wrap(core, spans)


class OffsetDNATokenizer(DNATokenizer):
    """Any fast tokenizer with offset mapping (DNABERT-2 BPE).

    Spans come from ``return_offsets_mapping``; special tokens are recognised by
    ``special_tokens_mask``.
    """

    def encode_many(self, seqs):
        encoded = self.hf_tokenizer(list(seqs), add_special_tokens=True, return_offsets_mapping=True,
                                    return_special_tokens_mask=True)
        out = []
        for ids, offsets, special in zip(encoded["input_ids"], encoded["offset_mapping"],
                                         encoded["special_tokens_mask"]):
            spans = np.array(offsets, dtype=np.int64).reshape(-1, 2)
            spans[np.asarray(special, dtype=bool)] = SPECIAL_SPAN
            out.append((np.asarray(ids, dtype=np.int64), spans))
        return out

    def encode(self, seq):
        return self.encode_many([seq])[0]


TOKENIZER_KINDS = {"char": CharDNATokenizer, "kmer": KmerDNATokenizer, "offsets": OffsetDNATokenizer}
