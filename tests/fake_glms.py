"""Duck-typed fake gLMs with known outputs, shared by the zero-shot, CAGI5, binding and experiments tests.

Each fake follows just enough of the gLM contract (``name``, ``objective``,
``max_length``, ``masked_log_probs`` / ``token_log_probs`` / ``embed``) for
the scorers and probes under test, and its outputs can be recomputed in the
test, so a score can be checked against its analytic value.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from glmeval_utils.sequences import one_hot

BASES = "ACGT"
#: Index of a base in the toys' context tables; ``N`` (padding or beyond the window) is 4.
CODE = {"A": 0, "C": 1, "G": 2, "T": 3, "N": 4}


def random_seq(rng, length):
    """A uniform random ACGT sequence of the given length."""
    return "".join(rng.choice(list(BASES), size=length))


def saturation_table(element_seqs, offsets=None, *, with_seq=False):
    """All three alternatives at the given offsets (default: every position) of each element.

    Columns ``element, offset, ref, alt``, plus the element's sequence as
    ``seq`` when ``with_seq`` is true.
    """
    rows = []
    for element, seq in element_seqs.items():
        for offset in offsets if offsets is not None else range(len(seq)):
            for alt in BASES:
                if alt != seq[offset]:
                    row = {"element": element, "offset": offset, "ref": seq[offset], "alt": alt}
                    if with_seq:
                        row["seq"] = seq
                    rows.append(row)
    return pd.DataFrame(rows)


def log_softmax(logits):
    """Log-probabilities from logits along the last axis."""
    logits = np.asarray(logits, dtype=float)
    return logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))


class ToyMaskedLM:
    """Masked LM whose distribution at a masked base depends on its two neighbours
    (``N`` beyond the window) and, optionally, on the position in the window.

    Not strand-symmetric unless the table is made so.  Records
    ``(seq, positions)`` for every ``masked_log_probs`` call in ``calls``.
    """

    objective = "masked"
    name = "toy-mlm"
    role = "pretrained"
    max_length = 10_000

    def __init__(self, table, position_bias=None):
        self.table = table  # (5, 5, 4) logits indexed by left, right neighbour code
        self.position_bias = position_bias  # (3, 4) logits added by position % 3
        self.calls = []  # (seq, positions) per masked_log_probs call

    @classmethod
    def random(cls, rng):
        """A toy with a random logits table and a random position bias (drawn in that order)."""
        return cls(rng.normal(size=(5, 5, 4)), position_bias=rng.normal(size=(3, 4)))

    def analytic(self, seq, position):
        """Log-probabilities of ACGT at ``position`` of ``seq``, computed directly."""
        left = seq[position - 1] if position > 0 else "N"
        right = seq[position + 1] if position + 1 < len(seq) else "N"
        logits = self.table[CODE[left], CODE[right]].copy()
        if self.position_bias is not None:
            logits += self.position_bias[position % 3]
        return log_softmax(logits)

    def masked_log_probs(self, seq, positions, *, batch_size=32):
        self.calls.append((seq, list(positions)))
        return np.stack([self.analytic(seq, p) for p in positions])


class ToyCausalLM:
    """Causal LM: log p(base_i | base_{i-1}) from a fixed random table over ACGTN.

    Like an adapter without a BOS token it reports NaN for the first base.
    ``N`` gets a finite log-prob here, so a scorer must leave padding out
    itself.  Every scored sequence is appended to ``scored``.
    """

    objective = "causal"
    name = "toy-clm"
    role = "pretrained"
    max_length = 10_000

    def __init__(self, rng):
        self.log_probs = log_softmax(rng.normal(size=(5, 5)))  # previous code -> next code (ACGTN)
        self.scored = []

    def token_log_probs(self, seqs, *, batch_size=32):
        self.scored += list(seqs)
        return [np.array([np.nan] + [self.log_probs[CODE[p], CODE[b]] for p, b in zip(seq, seq[1:])])
                for seq in seqs]


class ToyEmbedder:
    """Per-base embedding = fixed random vector of (base, right neighbour) + position term; H = 3.

    One layer, forward strand only (the methods under test never ask for
    more, and the assertions make sure of it).  Every embedded sequence is
    appended to ``embedded``.
    """

    objective = None
    name = "toy-embedder"
    role = "pretrained"
    max_length = 10_000
    hidden_size = 3
    n_layers = 1

    def __init__(self, rng):
        self.base_vectors = rng.normal(size=(5, 5, 3))
        # lets embeddings.extract key its cache; differs between differently drawn toys
        self.weights_fingerprint = hashlib.sha256(self.base_vectors.tobytes()).hexdigest()[:16]
        self.embedded = []

    def full(self, seq):
        """The ``(L, 3)`` per-base embedding of ``seq``."""
        codes = [CODE[b] for b in seq]
        right = codes[1:] + [CODE["N"]]
        return np.stack([self.base_vectors[c, r] + 0.01 * i for i, (c, r) in enumerate(zip(codes, right))])

    def embed(self, seqs, *, layers=(-1,), pooling="mean", strands="fwd", batch_size=32, progress=True):
        assert strands == "fwd" and list(layers) in ([-1], [self.n_layers])
        self.embedded += list(seqs)
        full = [self.full(s) for s in seqs]
        if pooling == "full":
            assert len({len(s) for s in seqs}) == 1, "full pooling needs one length per call"
            return np.stack(full)[:, None].astype(np.float32)
        return np.stack([f.mean(axis=0) for f in full])[:, None].astype(np.float32)


class CompositionGLM:
    """A fake gLM whose embeddings are the one-hot encoding, scaled by (layer index + 1).

    Hidden states run from 0 (token embeddings) to ``n_layers`` (last; ``-1``);
    ``layers="all"`` returns every one.  Pooled embeddings (``mean`` and
    ``cls``) are the nucleotide average, i.e. the base composition, so it is
    linearly readable.  ``calls`` counts ``embed`` calls; ``role`` is the
    model's role in the prediction tables (pretrained unless told otherwise).
    """

    model_id = "local/composition"
    revision = "test"
    weights_fingerprint = "fixed"  # hidden state i is always one-hot * (i + 1)
    hidden_size = 4

    def __init__(self, name="composition-glm", *, n_layers=1, has_cls=False, role="pretrained"):
        self.name = name
        self.role = role
        self.n_layers = n_layers
        self.has_cls = has_cls
        self.calls = 0

    def embed(self, seqs, *, layers=(-1,), pooling="mean", strands="fwd", batch_size=32, progress=True):
        self.calls += 1
        x = one_hot(list(seqs)).transpose(0, 2, 1)  # (N, L, 4)
        layers = range(self.n_layers + 1) if layers == "all" else layers
        stacked = np.stack([x * (layer % (self.n_layers + 1) + 1) for layer in layers], axis=1)
        return stacked if pooling == "full" else stacked.mean(axis=2)
