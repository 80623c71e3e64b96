"""Tiny random look-alikes of each gLM family, saved with ``save_pretrained``.

Each builder writes a model + tokenizer folder whose layout matches the real
family (config type, tokenizer vocabulary and special tokens), shrunk to a
few thousand parameters, so the registry's real loading code
(``load_glm(name, path=folder)`` or ``from_local(family, folder)``) can be
tested offline.  Other test modules may use them too::

    from toy_glms import save_teaching
    save_teaching(tmp_path / "models" / "teaching-mlm", "mlm")

What each builder runs:

* NT v1: native ``EsmForMaskedLM``, as the hub checkpoints.
* NT v2 and DNABERT-2: our own stand-ins of their remote code
  (``tests/lookalikes/``), saved as ``trust_remote_code`` folders (``.py``
  files next to the weights, ``auto_map`` in ``config.json``), so loading runs
  the real remote-code path of ``transformers``.
* HyenaDNA: the real remote code shipped in the PyPI package ``anticapt``.

Folders that ship code (:data:`SHIPS_CODE`) load only with
``trust_remote_code=True``, like any user folder.
* GPN: the real ``gpn`` package (legacy ``ConvNetForMaskedLM``, the class of
  gpn-brassicales).

Deviations from the real models (stated so nobody mistakes them): the
stand-ins reproduce the remote code's interfaces and observable behaviour,
not its every detail (see each stand-in's docstring); every model is shrunk
and randomly initialised; the DNABERT-2 BPE vocabulary is trained on random
sequences (the real vocabulary is not obtainable offline); the DNABERT-2
stand-in ships a ``flash_attn_triton.py`` that fails like the upstream kernel
does with a current triton, so the loader must switch it off.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import torch

from glmeval_utils.models.registry import anticapt_model_dir
from glmeval_utils.models.teaching import build_teaching_model
from glmeval_utils.models.tokenization import bpe_hf_tokenizer, char_hf_tokenizer, nt_hf_tokenizer

#: our stand-ins of remote modelling code, one folder per hub repository
LOOKALIKE_CODE = Path(__file__).parent / "lookalikes"
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


def _save_remote_code(directory, code, config, auto_map, tokenizer, *, seed, keep_model_type=True):
    """Save a random model of our stand-in remote code ``lookalikes/<code>`` as a ``trust_remote_code`` folder.

    The ``.py`` files are copied into the folder and ``config.json`` gets the
    given ``auto_map``, as on the hub; the model is built through
    ``AutoModelForMaskedLM.from_config(..., trust_remote_code=True)``.
    ``keep_model_type=False`` drops ``model_type`` from ``config.json`` (NT v2's
    hub config reportedly has none; the project's notes on the gLM families, NT section).
    """
    from transformers import AutoConfig, AutoModelForMaskedLM

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for source in (LOOKALIKE_CODE / code).glob("*.py"):
        shutil.copy(source, directory / source.name)
    config_file = directory / "config.json"
    config_file.write_text(json.dumps({**config, "auto_map": auto_map}, indent=2))
    torch.manual_seed(seed)
    model = AutoModelForMaskedLM.from_config(AutoConfig.from_pretrained(directory, trust_remote_code=True),
                                             trust_remote_code=True).eval()
    _save(directory, model, tokenizer)
    # save_pretrained rewrites config.json (its own auto_map, a model_type): restore the hub layout.
    saved = json.loads(config_file.read_text())
    saved["auto_map"] = auto_map
    if not keep_model_type:
        saved.pop("model_type", None)
    config_file.write_text(json.dumps(saved, indent=2))
    return directory


def save_nt_v2_like(directory, *, seed=0):
    """NT v2 layout: our stand-in of its remote ``esm_config.py`` / ``modeling_esm.py`` (rotary, bias-free
    SwiGLU), ``auto_map`` without ``AutoModel``, no ``model_type``, config vocab 4107, the 6-mer tokenizer."""
    tokenizer = nt_hf_tokenizer(directory)
    config = dict(architectures=["EsmForMaskedLM"], vocab_size=4107, pad_token_id=1, mask_token_id=2,
                  max_position_embeddings=2050, position_embedding_type="rotary", token_dropout=False,
                  emb_layer_norm_before=False, add_bias_fnn=False, tie_word_embeddings=False,
                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **TINY)
    auto_map = {"AutoConfig": "esm_config.EsmConfig", "AutoModelForMaskedLM": "modeling_esm.EsmForMaskedLM"}
    return _save_remote_code(directory, "nt_v2", config, auto_map, tokenizer, seed=seed, keep_model_type=False)


def save_dnabert2_like(directory, *, seed=0, vocab_size=64):
    """DNABERT-2 layout: our stand-in of its remote MosaicBERT (``configuration_bert.py``, ``bert_layers.py``,
    a ``flash_attn_triton.py`` failing with 'trans_b'), ``model_type`` "bert", BPE tokenizer ``[CLS] … [SEP]``."""
    tokenizer = bpe_hf_tokenizer(random_dna(200, 120, seed=seed + 1), vocab_size=vocab_size)
    config = dict(model_type="bert", architectures=["BertForMaskedLM"], vocab_size=len(tokenizer.get_vocab()),
                  pad_token_id=tokenizer.pad_token_id, alibi_starting_size=512, max_position_embeddings=512,
                  attention_probs_dropout_prob=0.0, **TINY)
    auto_map = {"AutoConfig": "configuration_bert.BertConfig", "AutoModel": "bert_layers.BertModel",
                "AutoModelForMaskedLM": "bert_layers.BertForMaskedLM"}
    return _save_remote_code(directory, "dnabert2", config, auto_map, tokenizer, seed=seed)


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


def save_gpn_like(directory, *, seed=0, n_layers=3):
    """The real ``gpn`` package's legacy ``ConvNetForMaskedLM`` (model_type "ConvNet", the class of
    gpn-brassicales) shrunk to hidden 16, with GPN's tokenizer (``[PAD]0 [MASK]1 [UNK]2 a3 c4 g5 t6``, lower
    case, no specials).  Built from ``gpn.legacy`` directly, so the Auto classes stay for the loader to register."""
    from gpn.legacy import ConvNetConfig, ConvNetForMaskedLM

    tokenizer = char_hf_tokenizer({"pad_token": "[PAD]", "mask_token": "[MASK]", "unk_token": "[UNK]"},
                                  letters="acgt")
    config = ConvNetConfig(vocab_size=7, hidden_size=16, n_layers=n_layers, kernel_size=9, dilation_cycle=3,
                           dilation_max=4)
    torch.manual_seed(seed)
    return _save(directory, ConvNetForMaskedLM(config).eval(), tokenizer)


#: look-alikes whose folders ship Python code (``auto_map``: our stand-ins, anticapt's HyenaDNA code); loading
#: one takes ``load_glm(..., path=folder, trust_remote_code=True)``, as a user's folder of that family would.
SHIPS_CODE = frozenset({"nt-v2", "dnabert2", "hyenadna"})

#: look-alike key (family name, or family variant) → (builder, registry name whose loading path it
#: exercises, objective)
LOOKALIKES = {
    "nt": (save_nt_like, "nt-v1-2.5b-1000g", "masked"),
    "nt-v2": (save_nt_v2_like, "nt-v2-500m", "masked"),
    "dnabert2": (save_dnabert2_like, "dnabert2", "masked"),
    "hyenadna": (save_hyenadna_like, "hyenadna-tiny-1k-d256", "causal"),
    "gpn": (save_gpn_like, "gpn-brassicales", "masked"),
    "teaching-mlm": (lambda d, seed=0: save_teaching(d, "mlm", seed=seed), "teaching-mlm", "masked"),
    "teaching-clm": (lambda d, seed=0: save_teaching(d, "clm", seed=seed), "teaching-clm", "causal"),
}
