"""The gLM contract: one :class:`GLM` object for every DNA language model.

``GLM`` hides each family's tokenisation, special tokens, padding side and
masks.  Embeddings are computed in length-sorted batches (input order
restored), from one forward pass per batch with ``output_hidden_states``, in
``torch.inference_mode`` and bf16/fp16 autocast on CUDA (bf16 on a CPU
with native bf16, for the embeddings probes read).  Likelihood scores
(:meth:`GLM.masked_log_probs`, :meth:`GLM.token_log_probs`) run in fp32
without autocast or TF32: bf16 keeps 8 bits of mantissa, so rounding in the
logits is as large as one SNV's effect on them.  Padding never changes a
sequence's embedding: bidirectional models get an attention mask,
mask-less causal models are right-padded and pooled over real tokens, and
mask-less bidirectional models only batch sequences of equal token count.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from glmeval_utils.devices import cpu_autocast_dtype, resolve_device
from glmeval_utils.sequences import reverse_complement, validate_sequences
from glmeval_utils.validation import positive_int
from glmeval_utils.models.families import Family, logits_of
from glmeval_utils.models.tokenization import DNATokenizer

POOLINGS = ("mean", "cls", "full", "tokens")
STRANDS = ("fwd", "both")
#: Why a forward pass runs; only embeddings may run under reduced-precision autocast.
PURPOSES = ("embed", "score")
#: How :meth:`GLM.masked_log_probs` turns a masked multi-base token's prediction into base log-probs.
KMER_RULES = ("exact", "marginal")


@dataclass
class Tokenized:
    """A padded batch of tokenised sequences.

    Attributes
    ----------
    input_ids : torch.LongTensor, shape (N, T)
        Right-padded with the family's pad id.
    attention_mask : torch.LongTensor, shape (N, T)
        1 for real tokens (special tokens included), 0 for padding.
    token_spans : list of ndarray, each (T_i, 2)
        ``[start, end)`` nucleotides covered by each token of sequence i;
        ``-1, -1`` for special tokens.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_spans: list


#: default sequences per forward pass, indexed by "is the device a GPU" (measured with
#: benchmarks/embed_throughput.py: on 2 CPU cores batches of 8 beat 64 by ~1.7x).
DEFAULT_BATCH_SIZE = {False: 8, True: 128}

class GLM:
    """A frozen DNA language model behind one interface.

    Built by :func:`glmeval_utils.models.load_glm`; see CONTRIBUTING.md, "The gLM contract".

    Attributes
    ----------
    name, family, model_id, revision, licence : str
    n_layers : int
        Blocks; hidden states are numbered ``0..n_layers`` (0 = token embeddings).
    hidden_size : int
    max_length : int
        Longest sequence in nucleotides the model accepts.
    has_cls : bool
        Whether each sequence starts with a CLS token (``pooling="cls"``).
    single_base_tokens : bool
        Whether every non-special token covers one nucleotide (character
        tokenizers); then ``pooling="tokens"`` and ``"full"`` give the same rows.
    objective : {"masked", "causal", None}
        The language-model head; None for backbones without one.
    role : {"pretrained", "random-init", "fine-tuned"}
        The question the model answers in the book's verdicts
        (:data:`glmeval_utils.predictions.ROLES`).
    model : transformers.PreTrainedModel
    tokenizer : DNATokenizer
    device : torch.device
    """

    def __init__(self, model, tokenizer: DNATokenizer, family: Family, *, name, model_id, revision, objective,
                 max_length=None, max_tokens=None, licence="", role="pretrained", device=None):
        self.name = name
        self.role = role
        self.family = family.name
        self._family = family
        self.model_id = model_id
        self.revision = revision
        self.objective = objective
        self.licence = licence
        self.tokenizer = tokenizer
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.max_tokens = max_tokens
        self.max_length = max_length
        self.has_cls = tokenizer.has_cls
        self.single_base_tokens = tokenizer.single_base_tokens
        probe = self._hidden_states(*self._pad([tokenizer.encode("ACGT")])[:2])
        self.n_layers = len(probe) - 1
        self.hidden_size = int(probe[-1].shape[-1])

    def __repr__(self):
        return (f"GLM(name={self.name!r}, family={self.family!r}, model_id={self.model_id!r}, "
                f"revision={self.revision!r}, n_layers={self.n_layers}, hidden_size={self.hidden_size}, "
                f"objective={self.objective!r}, device={str(self.device)!r})")

    # ------------------------------------------------------------------ tokens
    def _validate(self, seqs, *, length=None):
        # validate_sequences refuses a single string (its letters would become one-base sequences)
        return validate_sequences(seqs, source=f"input to gLM {self.name!r}", max_length=self.max_length,
                                  length=length)

    def _encode(self, seqs):
        encoded = self.tokenizer.encode_many(seqs)
        if self.max_tokens is not None:
            for index, (ids, _) in enumerate(encoded):
                if len(ids) > self.max_tokens:
                    raise ValueError(f"input to gLM {self.name!r}: row {index} (length {len(seqs[index])}) "
                                     f"needs {len(ids)} tokens; the model accepts at most {self.max_tokens}")
        return encoded

    def tokenize(self, seqs) -> Tokenized:
        """Tokenise sequences the way :meth:`embed` does.

        Parameters
        ----------
        seqs : list of str

        Returns
        -------
        Tokenized
        """
        encoded = self._encode(self._validate(seqs))
        ids, mask, _ = self._pad(encoded)
        return Tokenized(ids.cpu(), mask.cpu(), [spans for _, spans in encoded])

    def token_counts(self, seqs) -> np.ndarray:
        """Non-special tokens of each sequence: the rows ``embed(pooling="tokens")`` fills.

        Parameters
        ----------
        seqs : list of str

        Returns
        -------
        ndarray of int64, shape (N,)
            Equal to the sequence lengths when :attr:`single_base_tokens`;
            230 nt give 40 for the Nucleotide Transformer (38 6-mers and 2
            single bases).
        """
        return np.array([_content_count(spans) for _, spans in self._encode(self._validate(seqs))], dtype=np.int64)

    def _pad(self, encoded):
        """Right-pad a list of ``(ids, spans)`` → ids (B, T), attention mask (B, T), content mask (B, T)."""
        width = max(len(ids) for ids, _ in encoded)
        ids = np.full((len(encoded), width), self.tokenizer.pad_id, dtype=np.int64)
        content = np.zeros((len(encoded), width), dtype=bool)
        mask = np.zeros((len(encoded), width), dtype=np.int64)
        for row, (token_ids, spans) in enumerate(encoded):
            ids[row, :len(token_ids)] = token_ids
            mask[row, :len(token_ids)] = 1
            content[row, :len(token_ids)] = spans[:, 0] >= 0
        as_tensor = lambda a: torch.from_numpy(a).to(self.device)  # noqa: E731
        return as_tensor(ids), as_tensor(mask), as_tensor(content)

    def _batches(self, encoded, batch_size):
        """Index batches of similar token counts (equal counts for mask-less bidirectional families)."""
        n_tokens = np.array([len(ids) for ids, _ in encoded])
        order = np.argsort(n_tokens, kind="stable")
        batches = []
        if self._family.padding == "equal_length":
            for count in np.unique(n_tokens):
                group = order[n_tokens[order] == count]
                batches += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]
        else:
            batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        return batches

    # ----------------------------------------------------------------- forward
    def autocast_dtype(self, purpose: str):
        """Reduced-precision dtype a forward pass for ``purpose`` runs in, or None for fp32.

        Parameters
        ----------
        purpose : {"embed", "score"}
            ``"embed"``: hidden states for embeddings (bf16, else fp16, on
            CUDA; bf16 inside :func:`~glmeval_utils.devices.reduced_precision`
            on a CPU that computes it natively, see
            :func:`~glmeval_utils.devices.cpu_autocast_dtype`).  ``"score"``:
            LM logits for likelihood scores, always fp32.

        Returns
        -------
        torch.dtype or None
        """
        if purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
        if purpose == "score":
            return None
        if self.device.type == "cpu":
            return cpu_autocast_dtype()
        if self.device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def _precision(self, purpose: str):
        """The numeric context of a forward pass for ``purpose`` (see :meth:`autocast_dtype`)."""
        dtype = self.autocast_dtype(purpose)
        if dtype is not None:
            return torch.autocast(self.device.type, dtype=dtype)
        if self.device.type == "cuda":
            return _without_tf32()
        if self.device.type == "cpu":  # fp32 even when called inside a training step's bf16 autocast
            return torch.autocast("cpu", enabled=False)
        return contextlib.nullcontext()

    def _model_mask(self, mask):
        # Unpadded batches go without a mask: SDPA then takes its faster unmasked kernels.
        if self._family.padding != "mask" or bool(mask.all()):
            return None
        return mask

    def _hidden_states(self, ids, mask):
        with torch.inference_mode(), self._precision("embed"):
            return self._family.hidden_states(self.model, ids, self._model_mask(mask))

    def _logits(self, ids, mask):
        with torch.inference_mode(), self._precision("score"):
            return logits_of(self.model, ids, self._model_mask(mask)).float()

    def _resolve_layers(self, layers):
        n_states = self.n_layers + 1
        if isinstance(layers, str):
            if layers != "all":
                raise ValueError(f"layers must be 'all', an int or a sequence of ints, got {layers!r}")
            return list(range(n_states))
        layers = [layers] if isinstance(layers, (int, np.integer)) else list(layers)
        for layer in layers:
            if not -n_states <= layer < n_states:
                raise ValueError(f"layer {layer} out of range for gLM {self.name!r} with hidden states "
                                 f"0..{self.n_layers}")
        return [layer % n_states for layer in layers]

    # ------------------------------------------------------------------- embed
    def embed(self, seqs, *, layers=(-1,), pooling="mean", strands="fwd", batch_size=None, progress=True):
        """Frozen embeddings of DNA sequences.

        Parameters
        ----------
        seqs : list of str
            DNA over ``ACGTN`` (any case), each at most ``max_length`` long.
        layers : int, sequence of int or "all"
            Hidden states to return (0 = token embeddings, -1 = last);
            ``"all"`` gives ``0..n_layers``, all from one forward pass.
        pooling : {"mean", "cls", "full", "tokens"}
            ``"mean"``: average over the sequence's tokens, special tokens and
            padding excluded.  ``"cls"``: the CLS token (only if ``has_cls``).
            ``"full"``: one row per nucleotide; a k-mer/BPE token's vector is
            repeated for every base it covers, special tokens dropped.
            ``"tokens"``: one row per non-special token (the representation
            the reference study's CNN probe read; it also kept NT's CLS row),
            rows past a sequence's :meth:`token_counts` zero up to the longest
            in the call.  The mean of a sequence's token rows is exactly
            ``"mean"``.  For :attr:`single_base_tokens` models it equals
            ``"full"``.
        strands : {"fwd", "both"}
            ``"both"`` averages the forward and reverse-complement embeddings;
            for ``"full"`` and ``"tokens"`` the reverse-complement rows are
            flipped back, so row i belongs to base (token) i of the forward
            strand.  ``"tokens"`` with ``"both"`` needs the reverse
            complement's tokens to cover the mirrored spans (always true for
            one token per base; for NT only without N and when the length is a
            multiple of 6).
        batch_size : int, optional
            Sequences per forward pass (≥ 1); ``None`` picks :data:`DEFAULT_BATCH_SIZE`
            for the device (small CPU batches stay in cache and run faster
            than large ones; GPUs want large batches).
        progress : bool
            Show a progress bar.

        Returns
        -------
        ndarray of float32
            ``(N, n_layers_requested, H)`` for ``"mean"``/``"cls"``;
            ``(N, n_layers_requested, L, H)`` for ``"full"`` (all sequences must
            have the same length ``L``); ``(N, n_layers_requested, T, H)`` for
            ``"tokens"``, ``T`` the largest of :meth:`token_counts`.
        """
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if strands not in STRANDS:
            raise ValueError(f"strands must be one of {STRANDS}, got {strands!r}")
        if pooling == "cls" and not self.has_cls:
            raise ValueError(f"gLM {self.name!r} has no CLS token; use pooling='mean' or 'full'")
        batch_size = positive_int(batch_size, "batch_size", allow_none=True)
        seqs = self._validate(seqs)
        if pooling == "full" and seqs:
            seqs = self._validate(seqs, length=len(seqs[0]))
        layer_index = self._resolve_layers(layers)
        if batch_size is None:
            batch_size = DEFAULT_BATCH_SIZE[self.device.type == "cuda"]
        forward = self._embed_strand(seqs, layer_index, pooling, batch_size, progress)
        if strands == "fwd":
            return forward
        reverse_seqs = reverse_complement(seqs)
        if pooling == "tokens":
            self._check_mirrored_tokens(seqs, reverse_seqs)
        reverse = self._embed_strand(reverse_seqs, layer_index, pooling, batch_size, progress)
        if pooling == "full":
            reverse = reverse[:, :, ::-1]
        elif pooling == "tokens":  # flip each sequence's own rows; the zero padding stays at the end
            for row, count in enumerate(self.token_counts(seqs)):
                reverse[row, :, :count] = reverse[row, :, :count][:, ::-1].copy()
        return (forward + reverse) / 2

    def _check_mirrored_tokens(self, seqs, reverse_seqs):
        """Raise unless each reverse complement's tokens cover the forward tokens' spans, mirrored."""
        for index, ((_, forward), (_, reverse)) in enumerate(zip(self._encode(seqs), self._encode(reverse_seqs))):
            length = len(seqs[index])
            forward, reverse = forward[forward[:, 0] >= 0], reverse[reverse[:, 0] >= 0]
            mirrored = length - reverse[::-1, ::-1]
            if forward.shape != mirrored.shape or (forward != mirrored).any():
                raise ValueError(
                    f"input to gLM {self.name!r}: row {index} (length {length}) is tokenised differently on the "
                    "reverse strand, so its token rows cannot be averaged over strands; use strands='fwd', or "
                    "pooling='full' (one row per nucleotide)")

    def _embed_strand(self, seqs, layer_index, pooling, batch_size, progress):
        encoded = self._encode(seqs)
        shape = [len(seqs), len(layer_index)]
        if pooling == "full":
            shape += [len(seqs[0]) if seqs else 0, self.hidden_size]
        elif pooling == "tokens":
            shape += [max((_content_count(spans) for _, spans in encoded), default=0), self.hidden_size]
        else:
            shape += [self.hidden_size]
        out = np.zeros(shape, dtype=np.float32)  # zeros: the padding rows of "tokens"
        batches = self._batches(encoded, batch_size)
        for batch in tqdm(batches, disable=not progress, desc=f"embed {self.name}", unit="batch"):
            chosen = [encoded[i] for i in batch]
            ids, mask, content = self._pad(chosen)
            states = self._hidden_states(ids, mask)
            stacked = torch.stack([states[i] for i in layer_index], dim=1).float()  # (B, n, T, H)
            if pooling == "mean":
                weights = content.float()
                pooled = torch.einsum("bnth,bt->bnh", stacked, weights) / weights.sum(1)[:, None, None]
            elif pooling == "cls":
                pooled = stacked[:, :, 0]
            elif pooling == "full":
                pooled = self._per_base(stacked, chosen)
            else:  # "tokens": rows differ in number, so each sequence is copied on its own
                stacked = stacked.cpu().numpy()
                for row, (index, (_, spans)) in enumerate(zip(batch, chosen)):
                    tokens = np.flatnonzero(spans[:, 0] >= 0)
                    out[index, :, :len(tokens)] = stacked[row][:, tokens]
                continue
            out[batch] = pooled.cpu().numpy()
        return out

    def _per_base(self, stacked, chosen):
        """Expand token states (B, n, T, H) to one row per base (B, n, L, H) with one gather."""
        batch, n_layers, width, hidden = stacked.shape
        flat_index = np.concatenate([row * width + token_to_bases(spans) for row, (_, spans) in enumerate(chosen)])
        flat = stacked.transpose(0, 1).reshape(n_layers, batch * width, hidden)
        gathered = flat.index_select(1, torch.from_numpy(flat_index).to(flat.device))
        return gathered.reshape(n_layers, batch, -1, hidden).transpose(0, 1)

    # ------------------------------------------------------------- likelihoods
    def _require(self, objective, method):
        if self.objective != objective:
            head = "no language-model head" if self.objective is None else f"a {self.objective} LM head"
            raise ValueError(f"{method} needs a {objective} language model; gLM {self.name!r} has {head}")

    def masked_inputs(self, seq, positions):
        """Masked copies of ``seq``, one per position, for :meth:`masked_log_probs`.

        Parameters
        ----------
        seq : str
        positions : sequence of int
            0-based nucleotide positions.

        Returns
        -------
        input_ids : ndarray of int64, shape (P, T)
            Copy p has every token covering ``positions[p]`` replaced by the mask token.
        token_index : ndarray of int64, shape (P,)
            The masked token of each copy.
        spans : ndarray of int64, shape (T, 2)
        """
        return self._masked_inputs(seq, positions)[2:]

    def _masked_inputs(self, seq, positions):
        """:meth:`masked_inputs` plus the validated (upper-case) sequence and positions (P,)."""
        (seq,) = self._validate([seq])
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        bad = positions[(positions < 0) | (positions >= len(seq))]
        if bad.size:
            raise ValueError(f"position {int(bad[0])} is outside the sequence of length {len(seq)}")
        if self.tokenizer.mask_id is None:
            raise ValueError(f"gLM {self.name!r} has no mask token")
        (ids, spans), = self._encode([seq])
        token_index = token_to_bases(spans)[positions]
        copies = np.repeat(ids[None], len(positions), axis=0)
        copies[np.arange(len(positions)), token_index] = self.tokenizer.mask_id
        return seq, positions, copies, token_index, spans

    def masked_log_probs(self, seq, positions, *, batch_size=64, kmer_rule="exact"):
        """Masked-LM log-probabilities of A, C, G, T at each position.

        For each position, one copy of the sequence has the token covering it
        masked, and the model's distribution over the vocabulary at that token
        is turned into four base log-probabilities.  For single-base tokens
        both rules give the prediction over the A, C, G, T tokens,
        renormalised.  For a k-mer (or BPE) token of width w with the position
        at offset o:

        * ``kmer_rule="exact"`` (default): the four candidates are the
          observed token's string with its base at o replaced by A, C, G, T
          (the other w - 1 bases as observed), renormalised over those four.
          Differences between columns are therefore exactly
          ``log p(alt token) - log p(ref token)`` at the masked token, the
          masked-LM log-likelihood ratio of a substitution.  A substituted
          string that is not a vocabulary token (BPE only; every 6-mer is an
          NT token) gets ``-inf``: the model cannot put that token there.
          Renormalisation is over the remaining candidates.
        * ``kmer_rule="marginal"``: ``log p(b) = logsumexp{log p(t) : t a
          w-nt token with t[o] = b}``, renormalised over the four bases; it
          ignores the observed neighbours inside the token (for BPE only
          tokens of the same width are considered).

        Logits are computed in fp32, without autocast (see the module notes).

        Parameters
        ----------
        seq : str
        positions : sequence of int
        batch_size : int
            Masked copies per forward pass (≥ 1).
        kmer_rule : {"exact", "marginal"}

        Returns
        -------
        ndarray of float32, shape (len(positions), 4)
            Rows are log-distributions over ``A, C, G, T`` (logsumexp = 0);
            ``-inf`` marks an impossible base (exact rule, BPE).

        Raises
        ------
        ValueError
            Exact rule: none of the four substituted strings at a position
            is a vocabulary token.
        """
        self._require("masked", "masked_log_probs")
        batch_size = positive_int(batch_size, "batch_size")
        if kmer_rule not in KMER_RULES:
            raise ValueError(f"kmer_rule must be one of {KMER_RULES}, got {kmer_rule!r}")
        seq, positions, copies, token_index, spans = self._masked_inputs(seq, positions)
        token_log_probs = []
        for start in range(0, len(copies), batch_size):
            ids = torch.from_numpy(copies[start:start + batch_size]).to(self.device)
            logits = self._logits(ids, torch.ones_like(ids))
            rows = torch.arange(len(ids), device=ids.device)
            chosen = torch.from_numpy(token_index[start:start + batch_size]).to(ids.device)
            token_log_probs.append(torch.log_softmax(logits[rows, chosen], dim=-1).cpu())
        token_log_probs = torch.cat(token_log_probs)  # (P, V)
        starts, ends = spans[token_index, 0], spans[token_index, 1]
        offsets = positions - starts
        if kmer_rule == "exact":
            out = self._substitution_log_probs(token_log_probs, seq, positions, starts, ends, offsets)
        else:
            out = self._marginal_log_probs(token_log_probs, ends - starts, offsets)
        return torch.log_softmax(out, dim=1).numpy()

    def _substitution_log_probs(self, token_log_probs, seq, positions, starts, ends, offsets):
        """Log-probs (P, 4) of the observed token with base A, C, G, T at the position; -inf if not a token."""
        candidates = np.stack([self.tokenizer.substitution_candidates(seq[start:end], offset)
                               for start, end, offset in zip(starts, ends, offsets)])  # (P, 4)
        known = candidates >= 0
        if not known.any(axis=1).all():
            row = int(np.flatnonzero(~known.any(axis=1))[0])
            raise ValueError(f"gLM {self.name!r}: no substitution of the base at position {positions[row]} in "
                             f"its token {seq[starts[row]:ends[row]]!r} is a vocabulary token")
        picked = token_log_probs.gather(1, torch.from_numpy(np.where(known, candidates, 0)))
        return torch.where(torch.from_numpy(known), picked, -torch.inf)

    def _marginal_log_probs(self, token_log_probs, widths, offsets):
        """Log-probs (P, 4) summed over every same-width token with base A, C, G, T at the offset."""
        out = torch.empty(len(widths), 4)
        for width, offset in set(zip(widths.tolist(), offsets.tolist())):
            rows = torch.from_numpy(np.flatnonzero((widths == width) & (offsets == offset)))
            candidate_ids, base_index = self.tokenizer.base_candidates(width, offset)
            candidates = token_log_probs[rows][:, torch.from_numpy(candidate_ids)]
            for base in range(4):
                out[rows, base] = torch.logsumexp(candidates[:, torch.from_numpy(base_index == base)], dim=1)
        return out

    def token_log_probs(self, seqs, *, batch_size=32, progress=False):
        """Causal log-likelihood of each nucleotide given the bases before it.

        Parameters
        ----------
        seqs : list of str
        batch_size : int
            Sequences per forward pass (≥ 1).
        progress : bool

        Returns
        -------
        list of ndarray of float32, each shape (L_i,)
            ``log p(base_i | bases < i)`` normalised over A, C, G, T.  The first
            base is conditioned on the BOS token when the model has one, else
            it is NaN; ``N`` bases are NaN.  Logits are computed in fp32,
            without autocast.
        """
        self._require("causal", "token_log_probs")
        batch_size = positive_int(batch_size, "batch_size")
        seqs = self._validate(seqs)
        encoded = self._encode(seqs)
        base_ids = torch.from_numpy(self.tokenizer.single_base_ids()).to(self.device)
        # Token id -> base index (0..3 for A, C, G, T; -1 for any other token).
        base_of_id = torch.full((len(self.tokenizer.vocab_strings),), -1, dtype=torch.long, device=self.device)
        base_of_id[base_ids] = torch.arange(4, device=self.device)
        results = [None] * len(seqs)
        for batch in tqdm(self._batches(encoded, batch_size), disable=not progress, desc=f"score {self.name}"):
            chosen = [encoded[i] for i in batch]
            if any(((spans[:, 0] >= 0) & (spans[:, 1] - spans[:, 0] != 1)).any() for _, spans in chosen):
                raise ValueError(f"token_log_probs needs one token per base; gLM {self.name!r} has multi-base tokens")
            ids, mask, content = self._pad(chosen)
            log_probs = torch.log_softmax(self._logits(ids, mask)[..., base_ids], dim=-1)  # (B, T, 4)
            next_base = base_of_id[ids[:, 1:]]  # base predicted at position t from logits at t-1
            scores = log_probs[:, :-1].gather(-1, next_base.clamp(min=0)[..., None])[..., 0]
            scores = torch.where(next_base >= 0, scores, torch.nan)
            # Prepend a NaN column: a token at position 0 has no context.
            scores = torch.cat([torch.full_like(scores[:, :1], torch.nan), scores], dim=1).cpu().numpy()
            content = content.cpu().numpy()
            for row, index in enumerate(batch):
                results[index] = scores[row][content[row]].astype(np.float32)
        return results


@contextlib.contextmanager
def _without_tf32():
    """Run CUDA matmuls and convolutions in true fp32 (TF32, cuDNN's default for convolutions, rounds
    inputs to 10 mantissa bits, no better than fp16); the previous settings are restored afterwards."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def _content_count(spans) -> int:
    """Non-special tokens among ``spans`` (T, 2)."""
    return int((spans[:, 0] >= 0).sum())


def token_to_bases(spans) -> np.ndarray:
    """Index of the token covering each nucleotide.

    Parameters
    ----------
    spans : ndarray of int, shape (T, 2)
        Token spans from a :class:`~.tokenization.DNATokenizer`.

    Returns
    -------
    ndarray of int64, shape (L,)
        Entry i is the token covering base i.

    Raises
    ------
    ValueError
        If the non-special spans do not tile the sequence contiguously.
    """
    content = np.flatnonzero(spans[:, 0] >= 0)
    starts, ends = spans[content, 0], spans[content, 1]
    if len(content) and (starts[0] != 0 or (starts[1:] != ends[:-1]).any() or (ends <= starts).any()):
        raise ValueError("token spans do not tile the sequence; the tokenizer dropped or merged bases")
    return np.repeat(content, ends - starts)
