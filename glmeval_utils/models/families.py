"""Per-family facts and the one loading routine every registry entry goes through.

A :class:`Family` says how a gLM family tokenises (character, k-mer or
offset-mapped BPE), how a batch may be padded without changing any
sequence's embedding, how to obtain all hidden states from one forward
pass, and what it needs installed.  :func:`load_backbone` loads a checkpoint
(hub id or local folder) the same way for hub ids and for the test
look-alikes, so the real code path is what the tests exercise.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from glmeval_utils.models.tokenization import TOKENIZER_KINDS

#: How a family may be padded.
#: ``"mask"``: bidirectional or causal model that takes an attention mask;
#: ``"causal"``: causal model without a mask, right-padded (padding comes after
#: every real token, so it cannot influence them); ``"equal_length"``: no mask
#: and bidirectional mixing (GPN's dilated convolutions, Caduceus), so batches
#: only group sequences with the same number of tokens.
PADDING_POLICIES = ("mask", "causal", "equal_length")
#: Class-name endings of a model with each language-model head (``transformers`` naming).
HEAD_CLASS_SUFFIXES = {"masked": ("ForMaskedLM",), "causal": ("ForCausalLM", "LMHeadModel")}
#: The files of a ``save_pretrained`` folder whose ``auto_map`` names Python modules to import.
AUTO_MAP_FILES = ("config.json", "tokenizer_config.json")


class UntrustedCodeError(ValueError):
    """A model folder ships Python code (an ``auto_map``) and the caller did not allow it to run.

    Attributes
    ----------
    folder : pathlib.Path
    modules : dict of str to list of str
        File declaring the ``auto_map`` → the modules it would import.
    """

    def __init__(self, folder, modules):
        self.folder, self.modules = Path(folder), modules
        listed = "; ".join(f"{file} auto_map → {', '.join(names)}" for file, names in modules.items())
        super().__init__(
            f"model folder {self.folder} ships its own Python code, which loading it would run ({listed}); "
            "nothing was run. If you trust that code, pass trust_remote_code=True (load_glm(name, path=..., "
            "trust_remote_code=True) or from_local(..., trust_remote_code=True)).")


def remote_code_modules(folder) -> dict[str, list[str]]:
    """The Python modules a ``save_pretrained`` folder's ``auto_map`` entries would import.

    Parameters
    ----------
    folder : path-like

    Returns
    -------
    dict of str to list of str
        ``"config.json"`` / ``"tokenizer_config.json"`` → sorted module names
        (``"bert_layers"``; ``"repo--module"`` for code from another hub
        repository); files without an ``auto_map`` are left out.

    Raises
    ------
    ValueError
        A file that is not valid JSON (named).
    """
    found = {}
    for name in AUTO_MAP_FILES:
        file = Path(folder) / name
        if not file.is_file():
            continue
        try:
            auto_map = json.loads(file.read_text()).get("auto_map") or {}
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as error:
            raise ValueError(f"{file} is not a JSON object ({error}); the folder is not a usable model folder") \
                from None
        # Values are "module.Class" or, for tokenizers, a [slow, fast] pair that may hold None.
        references = [ref for value in auto_map.values()
                      for ref in (value if isinstance(value, (list, tuple)) else [value]) if ref]
        if references:
            found[name] = sorted({str(ref).rsplit(".", 1)[0] for ref in references})
    return found


def refuse_remote_code(folder) -> None:
    """Raise :class:`UntrustedCodeError` when a local folder declares code of its own to run."""
    modules = remote_code_modules(folder)
    if modules:
        raise UntrustedCodeError(folder, modules)


def require_model_folder(folder) -> Path:
    """A ``save_pretrained`` folder given by the user: it must exist and hold ``config.json``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        Naming the folder (nothing is built from defaults in its place).
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        missing = "" if folder.is_dir() else " (the folder does not exist)"
        raise FileNotFoundError(f"no config.json in {folder}: not a save_pretrained model folder{missing}")
    return folder


def check_model_type(family: Family, model_type, location) -> None:
    """Raise unless ``model_type`` (from a checkpoint's config) is one the family loads.

    Raises
    ------
    ValueError
        Naming the checkpoint, its model type and the family's.
    """
    if model_type not in family.model_types:
        raise ValueError(f"{location}: config.json has model_type {model_type!r}, but gLM family {family.name!r} "
                         f"loads {' or '.join(map(repr, family.model_types))}; this checkpoint is another kind of "
                         "model: load it with the registry entry of its own family")


def check_head(model, objective, location) -> None:
    """Raise unless the built model has the head the entry declares (no check for ``objective=None``).

    Raises
    ------
    ValueError
        Naming the checkpoint, the model class and the declared objective.
    """
    if objective is None:
        return
    name = type(model).__name__
    if not name.endswith(HEAD_CLASS_SUFFIXES[objective]):
        raise ValueError(f"{location}: the checkpoint builds {name}, which is not a {objective} language model, "
                         f"but the entry declares objective {objective!r}")


def generic_hidden_states(model, input_ids, attention_mask):
    """All hidden states ``0..n_layers`` of a ``transformers`` model, from one forward pass.

    Runs the backbone only (``model.base_model``), so masked/causal heads are
    not computed.  ``attention_mask=None`` is not passed on (HyenaDNA's
    forward has no such argument).

    Returns
    -------
    tuple of torch.Tensor, each (B, T, H)
    """
    kwargs = {} if attention_mask is None else {"attention_mask": attention_mask}
    outputs = model.base_model(input_ids=input_ids, output_hidden_states=True, return_dict=True, **kwargs)
    return tuple(outputs.hidden_states)


def hyenadna_hidden_states(model, input_ids, attention_mask):
    """HyenaDNA's backbone reports the last block both before and after its final LayerNorm.

    Keep the normalised one, as ``transformers`` models do, so there are
    ``n_layer + 1`` states.
    """
    states = generic_hidden_states(model, input_ids, attention_mask)
    return states[:-2] + states[-1:]


def dnabert2_hidden_states(model, input_ids, attention_mask):
    """Padded hidden states ``0..n_layers`` of DNABERT-2's remote MosaicBERT (``bert_layers.py``).

    Its ``BertModel.forward`` returns a tuple and ignores
    ``output_hidden_states``; per-layer outputs come from its encoder with
    ``output_all_encoded_layers=True``, which un-pads the batch and returns
    every layer *unpadded* as ``(nnz, H)`` (only the default, last-layer-only
    call is padded back).  The encoder is called directly, after the embedding
    module, rather than ``BertModel.forward``: a backbone with a pooler would
    feed the unpadded last layer to it and fail.  Each layer is re-padded with
    the attention mask, padding positions set to zero.

    Returns
    -------
    tuple of torch.Tensor, each (B, T, H)
    """
    base = model.base_model
    encoder = getattr(base, "encoder", None)
    if encoder is None or "output_all_encoded_layers" not in inspect.signature(encoder.forward).parameters:
        raise TypeError(f"{type(model).__name__} is not DNABERT-2's MosaicBERT (bert_layers.py): its encoder has "
                        "no output_all_encoded_layers argument")
    mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
    embedded = base.embeddings(input_ids, torch.zeros_like(input_ids))
    layers = encoder(embedded, mask, output_all_encoded_layers=True)
    return (embedded, *(_repad(layer, mask) for layer in layers))


def _repad(rows, mask):
    """MosaicBERT's unpadded ``(nnz, H)`` rows (real tokens in row-major order) back to ``(B, T, H)``."""
    real = torch.nonzero(mask.flatten(), as_tuple=False).flatten()
    if rows.dim() != 2 or rows.shape[0] != len(real):
        raise ValueError(f"expected unpadded DNABERT-2 layer states of shape ({len(real)}, H) for a batch with "
                         f"{len(real)} real tokens, got {tuple(rows.shape)}")
    padded = rows.new_zeros(mask.numel(), rows.shape[-1]).index_copy(0, real, rows)
    return padded.view(*mask.shape, rows.shape[-1])


def use_pytorch_attention(model):
    """Switch DNABERT-2's triton flash-attention kernel off, so attention runs in PyTorch.

    ``bert_layers.py`` imports ``flash_attn_qkvpacked_func`` from its
    ``flash_attn_triton.py`` (None when triton is missing) and, at every
    forward, uses it unless it is None or attention dropout is non-zero.  With
    a current triton the import succeeds but the kernel fails with
    ``dot() got an unexpected keyword argument 'trans_b'`` (MAGICS-LAB/DNABERT_2
    #57, #70), so the module global is set to None after loading.  Models
    whose module has no such global are left alone.
    """
    module = inspect.getmodule(type(model))
    if getattr(module, "flash_attn_qkvpacked_func", None) is not None:
        module.flash_attn_qkvpacked_func = None


def gpn_hidden_states(model, input_ids, attention_mask):
    """Hidden states ``0..n_layers`` of a GPN backbone (``gpn`` package), captured by forward hooks.

    GPN's backbones return only the last hidden state.  State 0 is the
    embedding module's output (GPN's one-hot or learned embedding), state i
    the output of block i, and the last state is the backbone's own output
    (after ``ln_f`` for ``GPNModel``; the last block for the legacy
    ``ConvNetModel`` of gpn-brassicales).  GPN takes no attention mask.

    Returns
    -------
    tuple of torch.Tensor, each (B, T, H)
    """
    backbone = model.base_model
    embedding, blocks = _gpn_parts(backbone)
    captured = []

    def keep(_module, _inputs, output):
        captured.append(output[0] if isinstance(output, tuple) else output)

    hooks = [module.register_forward_hook(keep) for module in (embedding, *blocks)]
    try:
        output = backbone(input_ids=input_ids)
    finally:
        for hook in hooks:
            hook.remove()
    if len(captured) != len(blocks) + 1:
        raise RuntimeError(f"{type(backbone).__name__}: expected one embedding and {len(blocks)} block outputs from "
                           f"the hooks, got {len(captured)} tensors")
    return (*captured[:-1], output.last_hidden_state)


def _gpn_parts(backbone):
    """(embedding module, list of blocks) of a legacy ``ConvNetModel`` or a ``GPNModel``."""
    if hasattr(backbone, "embedding") and isinstance(backbone.encoder, torch.nn.Sequential):  # legacy ConvNet
        return backbone.embedding, list(backbone.encoder)
    if hasattr(backbone, "embeddings") and hasattr(getattr(backbone, "encoder", None), "layer"):  # GPNModel
        return backbone.embeddings, list(backbone.encoder.layer)
    raise TypeError(f"{type(backbone).__name__} is not a GPN backbone (gpn.legacy.ConvNetModel or gpn.model.GPNModel)")


def logits_of(model, input_ids, attention_mask):
    """Language-model logits ``(B, T, V)`` (the masked or causal head)."""
    kwargs = {} if attention_mask is None else {"attention_mask": attention_mask}
    outputs = model(input_ids=input_ids, **kwargs)
    return outputs.logits if hasattr(outputs, "logits") else outputs[0]


def _needs_gpn(read_model_type):
    """Register GPN's classes with the ``transformers`` Auto classes (gpn >= 0.9 no longer does it on import)."""
    from transformers import CONFIG_MAPPING

    model_type = read_model_type()
    if model_type in CONFIG_MAPPING:  # already registered
        return
    try:
        import gpn
    except ImportError:
        raise ImportError(
            f"GPN checkpoints (model_type {model_type!r}) need the `gpn` package, which is not installed. "
            "Install it with `pip install --pre gpn==0.9.0a1` (Python 3.11, transformers<6)."
        ) from None
    if not hasattr(gpn, "register_auto_classes"):
        raise ImportError(f"GPN checkpoints (model_type {model_type!r}) need gpn >= 0.9 (gpn.register_auto_classes); "
                          f"gpn {importlib.metadata.version('gpn')} is installed. "
                          "Install it with `pip install --pre gpn==0.9.0a1`.")
    gpn.register_auto_classes("gpn")


def _needs_cuda_mamba(read_model_type):
    if not torch.cuda.is_available() or importlib.util.find_spec("mamba_ssm") is None:
        raise RuntimeError(
            "Caduceus needs a CUDA GPU and the mamba-ssm kernels (`pip install mamba-ssm causal-conv1d` on a "
            "CUDA machine, e.g. Colab); it cannot run on CPU. Use a HyenaDNA or teaching gLM instead."
        )


@dataclass(frozen=True)
class Family:
    """How one gLM family is tokenised, padded, run and loaded.

    Attributes
    ----------
    name : str
    tokenizer_kind : {"char", "kmer", "offsets"}
        Which :mod:`.tokenization` adapter turns sequences into ids and spans.
    padding : str
        One of :data:`PADDING_POLICIES`.
    model_types : tuple of str
        The ``model_type`` values of the family's configs (hub checkpoints and
        the test look-alikes alike); any other checkpoint is refused.
    hidden_states : callable
        ``(model, input_ids, attention_mask) -> tuple of (B, T, H)``.
    check_requirements : callable, optional
        ``(read_model_type) -> None``, where ``read_model_type()`` returns the
        checkpoint's ``model_type`` (read only when needed); raises a helpful
        error when something is missing, before any weights are fetched.
    prepare_model : callable, optional
        ``(model) -> None``, run on every loaded model (pretrained or
        random-init) before use, e.g. to switch off a broken kernel.
    description : str
    tokenizer_options : dict
        Keyword arguments of the tokenizer adapter (e.g. ``k`` for k-mers).
    package_code : str
        Installed third-party packages whose model code the family runs
        (beyond ``transformers`` and ``torch``); empty when none.
    """

    name: str
    tokenizer_kind: str
    padding: str
    model_types: tuple
    hidden_states: Callable = generic_hidden_states
    check_requirements: Callable | None = None
    prepare_model: Callable | None = None
    description: str = ""
    tokenizer_options: dict = field(default_factory=dict)
    package_code: str = ""

    def make_tokenizer(self, hf_tokenizer):
        """Wrap the family's Hugging Face tokenizer in its span-aware adapter."""
        return TOKENIZER_KINDS[self.tokenizer_kind](hf_tokenizer, **self.tokenizer_options)


FAMILIES = {
    family.name: family
    for family in (
        # NT v1 is native ESM; NT v2's remote EsmConfig keeps model_type "esm".
        Family("nt", "kmer", "mask", model_types=("esm",), tokenizer_options={"k": 6},
               description="Nucleotide Transformer: ESM encoder, non-overlapping 6-mers, <cls> first"),
        Family("dnabert2", "offsets", "mask", model_types=("bert",), hidden_states=dnabert2_hidden_states,
               prepare_model=use_pytorch_attention,
               description="DNABERT-2: remote-code ALiBi MosaicBERT (un-pads internally), BPE tokens, [CLS] ... [SEP]"),
        Family("hyenadna", "char", "causal", model_types=("hyenadna",), hidden_states=hyenadna_hidden_states,
               description="HyenaDNA: causal long-convolution model, one token per base, [SEP] last, no mask"),
        # gpn-brassicales is the legacy ConvNet; GPNModel is gpn's current backbone (both handled by the hooks).
        Family("gpn", "char", "equal_length", model_types=("ConvNet", "GPN"), hidden_states=gpn_hidden_states,
               check_requirements=_needs_gpn, package_code="the gpn package (its model classes)",
               description="GPN: dilated-convolution masked LM, one lower-case token per base, no specials"),
        Family("caduceus", "char", "equal_length", model_types=("caduceus",), check_requirements=_needs_cuda_mamba,
               package_code="the mamba-ssm and causal-conv1d packages (CUDA kernels)",
               description="Caduceus: bidirectional RC-equivariant Mamba, HyenaDNA character vocabulary"),
        Family("teaching-mlm", "char", "mask", model_types=("esm",),
               description="glmeval teaching masked LM: native ESM, rotary, one token per base, <cls> first"),
        Family("teaching-clm", "char", "mask", model_types=("llama",),
               description="glmeval teaching causal LM: native Llama, one token per base, <bos> first"),
    )
}


def get_family(name: str) -> Family:
    """Look up a family; the error lists the known ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown gLM family {name!r}; known families: {', '.join(FAMILIES)}") from None


def _auto_class(objective):
    import transformers

    classes = {"masked": "AutoModelForMaskedLM", "causal": "AutoModelForCausalLM", None: "AutoModel"}
    if objective not in classes:
        raise ValueError(f"objective must be 'masked', 'causal' or None, got {objective!r}")
    return getattr(transformers, classes[objective])


def load_backbone(family: Family, location, *, objective, revision=None, trust_remote_code=False,
                  random_init=False, seed=0):
    """Load a checkpoint and its tokenizer (hub id or local folder), on CPU in eval mode.

    Parameters
    ----------
    family : Family
    location : str or path-like
        Hugging Face id or a ``save_pretrained`` folder.
    objective : {"masked", "causal", None}
        Picks ``AutoModelForMaskedLM`` / ``AutoModelForCausalLM`` / ``AutoModel``.
    revision : str, optional
        Hub revision (ignored for folders).
    trust_remote_code : bool
        Let the checkpoint's own Python code run.  Registry entries that
        declare it pass True for their hub id; a local folder gets True only
        when the caller said so.  Without it, a local folder whose
        ``config.json`` or ``tokenizer_config.json`` has an ``auto_map`` is
        refused before anything is imported (:class:`UntrustedCodeError`).
    random_init : bool
        Same architecture, weights re-drawn by the model's own initialiser
        (seeded); the pretrained weights are not loaded.
    seed : int

    Returns
    -------
    model : transformers.PreTrainedModel
    hf_tokenizer : transformers tokenizer

    Raises
    ------
    UntrustedCodeError
        A local folder with an ``auto_map`` and ``trust_remote_code=False``.
    ValueError
        A config whose ``model_type`` is not the family's, or a model without
        the head ``objective`` names (both name the checkpoint).
    """
    from transformers import AutoConfig, AutoTokenizer, PretrainedConfig

    location = str(location)
    if not trust_remote_code and Path(location).is_dir():
        # transformers would silently fall back to its native class of the same model_type.
        refuse_remote_code(location)
    options = dict(revision=revision, trust_remote_code=trust_remote_code)
    if family.check_requirements is not None:
        family.check_requirements(
            lambda: PretrainedConfig.get_config_dict(location, revision=revision)[0].get("model_type"))
    # Loading the config first and passing it on avoids DNABERT-2's
    # "config_class ... not consistent" error (MAGICS-LAB/DNABERT_2 #22 and others).
    config = AutoConfig.from_pretrained(location, **options)
    check_model_type(family, config.model_type, location)
    auto_class = _auto_class(objective)
    if random_init:
        torch.manual_seed(seed)
        model = auto_class.from_config(config, trust_remote_code=trust_remote_code)
    else:
        model = auto_class.from_pretrained(location, config=config, **options)
    check_head(model, objective, location)
    if family.prepare_model is not None:
        family.prepare_model(model)
    hf_tokenizer = AutoTokenizer.from_pretrained(location, **options)
    return model.eval(), hf_tokenizer
