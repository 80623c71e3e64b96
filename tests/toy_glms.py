"""Tiny random look-alikes of each gLM family, saved with ``save_pretrained``.

Each builder writes a model + tokenizer folder whose layout matches the real
family (config type, tokenizer vocabulary and special tokens), shrunk to a
few thousand parameters, so the registry's real loading code
(``load_glm(name, path=folder)`` or ``from_local(family, folder)``) can be
tested offline.  Other test modules may use them too::

    from toy_glms import save_teaching
    save_teaching(tmp_path / "models" / "teaching-mlm", "mlm")

Deviations from the real models (stated so nobody mistakes them): the
DNABERT-2 look-alike is a native post-LN BERT with learned positions (the
real one is remote-code ALiBi BERT) and its BPE vocabulary is trained on the
given sequences; the GPN look-alike is a native RoFormer (GPN's
``encoder="roformer"`` variant) rather than the dilated ConvNet.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import torch

from glmeval_utils.models.registry import anticapt_model_dir
from glmeval_utils.models.teaching import build_teaching_model
from glmeval_utils.models.tokenization import bpe_hf_tokenizer, char_hf_tokenizer, nt_hf_tokenizer

TINY = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)


def random_dna(n, length, *, seed=0, alphabet="ACGT"):
    """``n`` random sequences; ``length`` is an int or a (low, high) range (inclusive)."""
    rng = random.Random(seed)
    lengths = [length] * n if isinstance(length, int) else [rng.randint(*length) for _ in range(n)]
    return ["".join(rng.choice(alphabet) for _ in range(size)) for size in lengths]


def _save(directory, model, tokenizer, **options):
    directory = Path(directory)
    model.save_pretrained(directory, **options)
    tokenizer.save_pretrained(directory)
    return directory


def save_teaching(directory, kind="mlm", *, seed=0):
    """A smoke-size teaching gLM (``"mlm"``/``"clm"``) saved like ``pretrain`` does."""
    model, tokenizer = build_teaching_model(kind, size="smoke", seed=seed)
    return _save(directory, model, tokenizer)


def save_nt_like(directory, *, seed=0):
    """NT v1 layout: native ``EsmForMaskedLM`` (absolute positions, token dropout on,
    config vocab 4105) with the exact 6-mer ``EsmTokenizer``."""
    from transformers import EsmConfig, EsmForMaskedLM

    tokenizer = nt_hf_tokenizer(directory)
    config = EsmConfig(vocab_size=4105, pad_token_id=1, mask_token_id=2, max_position_embeddings=1002,
                       position_embedding_type="absolute", token_dropout=True, emb_layer_norm_before=False,
                       tie_word_embeddings=False, **TINY)
    torch.manual_seed(seed)
    return _save(directory, EsmForMaskedLM(config).eval(), tokenizer)


def save_dnabert2_like(directory, *, seed=0, vocab_size=64):
    """DNABERT-2 tokenizer layout (BPE, ``[CLS] … [SEP]``) on a native ``BertForMaskedLM``."""
    from transformers import BertConfig, BertForMaskedLM

    tokenizer = bpe_hf_tokenizer(random_dna(200, 120, seed=seed + 1), vocab_size=vocab_size)
    config = BertConfig(vocab_size=len(tokenizer.get_vocab()), pad_token_id=tokenizer.pad_token_id,
                        max_position_embeddings=512, **TINY)
    torch.manual_seed(seed)
    return _save(directory, BertForMaskedLM(config).eval(), tokenizer)


def save_hyenadna_like(directory, *, seed=0, causal=True):
    """HyenaDNA from anticapt's remote code and tokenizer, resized to d_model 16.

    ``causal=True`` adds the LM head (``HyenaDNAForCausalLM``, as the ``-hf``
    hub repos); False gives the backbone only, like anticapt.
    """
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    source = anticapt_model_dir()
    config = AutoConfig.from_pretrained(source, trust_remote_code=True)
    config.d_model, config.n_layer, config.d_inner, config.max_seq_len = 16, 2, 32, 130
    auto_class = AutoModelForCausalLM if causal else AutoModel
    torch.manual_seed(seed)
    model = auto_class.from_config(config, trust_remote_code=True).eval()
    # HyenaDNA's filters share one frequency tensor, which safetensors refuses; anticapt ships .bin too.
    directory = _save(directory, model, AutoTokenizer.from_pretrained(source, trust_remote_code=True),
                      safe_serialization=False)
    # The remote tokenizer's code must travel with the folder, as on the hub.
    for code in ("tokenization_hyena.py", "configuration_hyena.py", "modeling_hyena.py"):
        if not (directory / code).exists():
            shutil.copy(source / code, directory / code)
    return directory


def save_gpn_like(directory, *, seed=0):
    """GPN tokenizer (``[PAD]0 [MASK]1 [UNK]2 a3 c4 g5 t6``, lower case, no specials) on a RoFormer MLM."""
    from transformers import RoFormerConfig, RoFormerForMaskedLM

    tokenizer = char_hf_tokenizer({"pad_token": "[PAD]", "mask_token": "[MASK]", "unk_token": "[UNK]"},
                                  letters="acgt")
    config = RoFormerConfig(vocab_size=7, pad_token_id=0, embedding_size=16, max_position_embeddings=256, **TINY)
    torch.manual_seed(seed)
    return _save(directory, RoFormerForMaskedLM(config).eval(), tokenizer)


#: family → (builder, registry name whose loading path it exercises, objective)
LOOKALIKES = {
    "nt": (save_nt_like, "nt-v1-2.5b-1000g", "masked"),
    "dnabert2": (save_dnabert2_like, "dnabert2", "masked"),
    "hyenadna": (save_hyenadna_like, "hyenadna-tiny-1k-d256", "causal"),
    "gpn": (save_gpn_like, "gpn-brassicales", "masked"),
    "teaching-mlm": (lambda d, seed=0: save_teaching(d, "mlm", seed=seed), "teaching-mlm", "masked"),
    "teaching-clm": (lambda d, seed=0: save_teaching(d, "clm", seed=seed), "teaching-clm", "causal"),
}
