"""The gLM registry and adapters: one :class:`GLM` interface for every DNA language model.

>>> from glmeval_utils.models import load_glm, list_glms
>>> glm = load_glm("teaching-mlm")                        # doctest: +SKIP
>>> glm.embed(["ACGT" * 50], layers="all", pooling="mean").shape   # doctest: +SKIP
(1, 5, 192)

Modules: :mod:`.registry` (specs, :func:`load_glm`), :mod:`.base` (:class:`GLM`),
:mod:`.families` (per-family loading, padding and hidden states),
:mod:`.tokenization` (span-aware tokenizers and offline tokenizer rebuilds),
:mod:`.teaching` (the project's own teaching gLMs).
"""

from glmeval_utils.models.base import GLM, Tokenized, token_to_bases
from glmeval_utils.models.families import FAMILIES, Family, UntrustedCodeError, get_family
from glmeval_utils.models.registry import (REGISTRY, GLMSpec, describe_glms, from_local, get_spec, list_glms, load_glm,
                                           remote_code_entries, teaching_model_dir, third_party_code)
from glmeval_utils.models.teaching import build_teaching_model, teaching_tokenizer

__all__ = [
    "GLM", "Tokenized", "token_to_bases", "FAMILIES", "Family", "UntrustedCodeError", "get_family", "REGISTRY",
    "GLMSpec", "describe_glms", "from_local", "get_spec", "list_glms", "load_glm", "remote_code_entries",
    "teaching_model_dir", "third_party_code",
    "build_teaching_model", "teaching_tokenizer",
]
