"""The project's own teaching gLMs: small masked and causal DNA language models.

Both use native ``transformers`` classes, so they save and load with
``save_pretrained`` / ``from_pretrained`` offline and need no remote code:

* ``"mlm"``: :class:`transformers.EsmForMaskedLM` (the Nucleotide Transformer
  architecture) with rotary positions, single-nucleotide tokens and a
  ``<cls>`` token.  ``token_dropout`` is off: native ESM would otherwise
  rescale embeddings whenever ``<mask>`` is present.
* ``"clm"``: :class:`transformers.LlamaForCausalLM` (rotary, SwiGLU) with
  single-nucleotide tokens and a ``<bos>`` token, so the first base has a
  context to be predicted from.

:func:`glmeval_utils.pretrain.pretrain_teaching_glm` trains them and saves
model and tokenizer to ``models_dir() / "teaching-mlm"`` (``"teaching-clm"``).
"""

from __future__ import annotations

import torch

from glmeval_utils.models.tokenization import char_hf_tokenizer

KINDS = ("mlm", "clm")

#: Architecture sizes.  ``max_tokens`` includes the leading special token.
SIZES = {
    "demo": dict(hidden=192, layers=4, heads=4, mlm_intermediate=768, clm_intermediate=512, max_tokens=512),
    "smoke": dict(hidden=32, layers=2, heads=2, mlm_intermediate=64, clm_intermediate=64, max_tokens=512),
}


def teaching_tokenizer(kind: str):
    """Character tokenizer of a teaching gLM.

    Vocabulary: ``<pad>0 <mask>1 <cls>2`` (``<bos>2`` for ``"clm"``) ``<unk>3
    A4 C5 G6 T7 N8``; the special token is prepended, padding is on the right
    and an attention mask is returned.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
    """
    _check_kind(kind)
    lead_role, lead = ("cls_token", "<cls>") if kind == "mlm" else ("bos_token", "<bos>")
    specials = {"pad_token": "<pad>", "mask_token": "<mask>", lead_role: lead, "unk_token": "<unk>"}
    return char_hf_tokenizer(specials, prefix=[lead])


def teaching_config(kind: str, size: str = "demo"):
    """The ``transformers`` config of a teaching gLM (``EsmConfig`` or ``LlamaConfig``)."""
    _check_kind(kind)
    if size not in SIZES:
        raise ValueError(f"unknown teaching gLM size {size!r}; known sizes: {', '.join(SIZES)}")
    dims = SIZES[size]
    tokenizer = teaching_tokenizer(kind)
    common = dict(vocab_size=len(tokenizer.get_vocab()), hidden_size=dims["hidden"],
                  num_hidden_layers=dims["layers"], num_attention_heads=dims["heads"],
                  max_position_embeddings=dims["max_tokens"], pad_token_id=tokenizer.pad_token_id)
    if kind == "mlm":
        from transformers import EsmConfig

        return EsmConfig(**common, intermediate_size=dims["mlm_intermediate"], mask_token_id=tokenizer.mask_token_id,
                         position_embedding_type="rotary", token_dropout=False, emb_layer_norm_before=False,
                         tie_word_embeddings=False, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    from transformers import LlamaConfig

    return LlamaConfig(**common, intermediate_size=dims["clm_intermediate"], num_key_value_heads=dims["heads"],
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=None, tie_word_embeddings=False)


def model_from_config(config, *, seed: int = 0):
    """A freshly initialised teaching gLM for ``config`` (seeded, eval mode)."""
    from transformers import EsmForMaskedLM, LlamaForCausalLM

    classes = {"esm": EsmForMaskedLM, "llama": LlamaForCausalLM}
    if config.model_type not in classes:
        raise ValueError(f"teaching gLM config has model_type {config.model_type!r}; expected one of {list(classes)}")
    torch.manual_seed(seed)
    return classes[config.model_type](config).eval()


def build_teaching_model(kind: str, *, size: str = "demo", seed: int = 0):
    """Build a randomly initialised teaching gLM and its tokenizer.

    Parameters
    ----------
    kind : {"mlm", "clm"}
        Masked (ESM encoder) or causal (Llama decoder) language model.
    size : {"demo", "smoke"}
        ``demo``: hidden 192, 4 layers, 4 heads, 512 tokens; ``smoke``:
        hidden 32, 2 layers (for tests).
    seed : int
        Seed of the weight initialisation.

    Returns
    -------
    model : transformers.EsmForMaskedLM or transformers.LlamaForCausalLM
        In eval mode; call ``.train()`` before training.
    tokenizer : transformers.PreTrainedTokenizerFast
        See :func:`teaching_tokenizer`.
    """
    return model_from_config(teaching_config(kind, size), seed=seed), teaching_tokenizer(kind)


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"unknown teaching gLM kind {kind!r}; expected one of {KINDS}")
