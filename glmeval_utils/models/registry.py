"""The gLM registry: every model the book can use, as a declared spec.

``full`` entries are the paper's (and related) Hugging Face checkpoints, for a
GPU.  ``demo`` entries work offline on a CPU: the project's own teaching gLMs,
their random-init controls and the fine-tuned HyenaDNA-tiny backbone shipped
in the PyPI package ``anticapt`` (GPL-3.0).  Every pretrained entry has a
``-random`` control: same architecture and tokenizer, weights re-drawn by the
model's own initialiser with a fixed seed (the paper's random DNABERT-2).

Only entries that declare ``trust_remote_code=True`` run code from their hub
repository (or, for ``hyenadna-tiny-anticapt``, the code shipped in the
anticapt package); a folder the user passes as ``path`` runs its code only
with an explicit ``trust_remote_code=True``.  :func:`remote_code_entries`
lists every entry that runs third-party code and which.  Hub revisions are
not pinned to commits here ("main"); the resolved commit is recorded in
``GLM.revision`` after loading.

The teaching gLMs' intermediate pre-training checkpoints load by name too:
``teaching-mlm@step-N`` (``teaching-clm@step-N``) is the model after N
optimisation steps (:func:`checkpoint_spec`), saved by
:mod:`glmeval_utils.pretrain` under :func:`teaching_checkpoint_dir`.  Step 0
holds the seeded initial weights, so it has the role random-init; every later
step is pretrained.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from glmeval_utils.files import update_with_file
from glmeval_utils.paths import models_dir
from glmeval_utils.predictions import (COMPOSITION, COMPOSITION_MODEL, FINE_TUNED, ONE_HOT, ONEHOT_MODEL,
                                       PRETRAINED, RANDOM_INIT, ROLES)
from glmeval_utils.models.base import GLM
from glmeval_utils.models.families import (check_head, check_model_type, get_family, load_backbone,
                                           refuse_remote_code, require_model_folder)
from glmeval_utils.models.teaching import build_teaching_model, model_from_config

TIERS = ("demo", "full")
RANDOM_SUFFIX = "-random"
#: ``<teaching entry>@step-<N>``: a teaching gLM after N pre-training steps.
STEP_MARK = "@step-"
#: The folder of a teaching gLM's checkpoints is its model folder's sibling, named with this suffix.
CHECKPOINTS_SUFFIX = ".checkpoints"
_STEP_FOLDER = re.compile(r"step-(\d+)")


@dataclass(frozen=True)
class GLMSpec:
    """One registry entry.

    Attributes
    ----------
    name : str
        Registry name (``load_glm(name)``).
    family : str
        Key of :data:`~.families.FAMILIES`.
    model_id : str
        Hugging Face id, or where a local model comes from (``source``).
    revision : str
        Hub revision (branch, tag or commit).
    trust_remote_code : bool
        Whether loading may run the checkpoint's own Python code.
    licence : str
        Licence of the weights.
    max_length : int
        Longest input in nucleotides.
    objective : {"masked", "causal", None}
        Language-model head; None = backbone only (no likelihoods).
    tier : {"demo", "full"}
        ``demo`` runs offline on CPU; ``full`` needs the hub (and usually a GPU).
    source : {"hub", "teaching", "anticapt"}
    notes : str
    random_init : bool
        Re-initialise the weights (seeded) instead of loading them.
    seed : int
    role : {"pretrained", "fine-tuned", "random-init"}
        The question the model answers (:data:`glmeval_utils.predictions.ROLES`):
        only ``"pretrained"`` entries count as a gLM in the book's verdicts.
    step : int or None
        Pre-training step of a teaching gLM checkpoint (``teaching-mlm@step-N``);
        None for every registry entry.
    """

    name: str
    family: str
    model_id: str
    revision: str = "main"
    trust_remote_code: bool = False
    licence: str = ""
    max_length: int | None = None
    objective: str | None = "masked"
    tier: str = "full"
    source: str = "hub"
    notes: str = ""
    random_init: bool = False
    seed: int = 0
    role: str = PRETRAINED
    step: int | None = None


_PRETRAINED = (
    GLMSpec("nt-v1-2.5b-1000g", "nt", "InstaDeepAI/nucleotide-transformer-2.5b-1000g", licence="CC BY-NC-SA 4.0",
            max_length=5994, notes="The paper's NT (2B5_1000G). Native EsmForMaskedLM, absolute positions, "
            "1000 tokens = <cls> + 999 6-mers; ~10 GB of fp32 weights."),
    GLMSpec("nt-v2-500m", "nt", "InstaDeepAI/nucleotide-transformer-v2-500m-multi-species", trust_remote_code=True,
            licence="CC BY-NC-SA 4.0", max_length=12282, notes="NT v2: rotary + SwiGLU remote code, loaded with "
            "AutoModelForMaskedLM (its auto_map has no AutoModel); 2048 tokens. Not in the paper."),
    GLMSpec("dnabert2", "dnabert2", "zhihan1996/DNABERT-2-117M", trust_remote_code=True, licence="Apache-2.0",
            max_length=5000, notes="ALiBi MosaicBERT with BPE tokens; no hard length limit (5000 nt is a memory "
            "cap). Remote code targets transformers 4.28-4.29; its triton flash-attention kernel (which fails with "
            "'trans_b' on current triton) is switched off after loading, so attention runs in PyTorch."),
    GLMSpec("hyenadna-tiny-1k-d256", "hyenadna", "LongSafari/hyenadna-tiny-1k-seqlen-d256-hf", objective="causal",
            trust_remote_code=True, licence="BSD-3-Clause", max_length=1024,
            notes="The paper's HyenaDNA (d_model 256). Character tokens, [SEP] appended, right-padded here."),
    GLMSpec("hyenadna-small-32k", "hyenadna", "LongSafari/hyenadna-small-32k-seqlen-hf", objective="causal",
            trust_remote_code=True, licence="BSD-3-Clause", max_length=32768,
            notes="Larger HyenaDNA (d_model 256, 4 layers, 32k context). Not in the paper."),
    GLMSpec("gpn-brassicales", "gpn", "songlab/gpn-brassicales", licence="MIT", max_length=512,
            notes="Plant GPN (legacy ConvNet, 25 layers, hidden 512); runs the `gpn` package's code (a dependency of "
            "glmeval_utils on Python >= 3.11), whose classes are registered when it loads; per-layer states by forward hooks. The paper's own human GPN "
            "checkpoint is not public, so this is a stand-in from the same family."),
    GLMSpec("caduceus-ph-131k", "caduceus", "kuleshov-group/caduceus-ph_seqlen-131k_d_model-256_n_layer-16",
            trust_remote_code=True, licence="Apache-2.0", max_length=131072,
            notes="Bidirectional Mamba; needs CUDA + mamba-ssm. Not in the paper."),
    GLMSpec("teaching-mlm", "teaching-mlm", "teaching-mlm", tier="demo", source="teaching", licence="MIT",
            max_length=511, notes="glmeval's own masked LM (native ESM, one token per base), trained by "
            "`python -m glmeval_utils pretrain --profile demo`."),
    GLMSpec("teaching-clm", "teaching-clm", "teaching-clm", tier="demo", source="teaching", licence="MIT",
            objective="causal", max_length=511, notes="glmeval's own causal LM (native Llama, one token per "
            "base, <bos> first), trained by `python -m glmeval_utils pretrain --profile demo`."),
    GLMSpec("hyenadna-tiny-anticapt", "hyenadna", "anticapt==1.0:models/dataset1/finetuned_hyenadna",
            revision="anticapt-1.0", trust_remote_code=True, licence="GPL-3.0", max_length=1024, objective=None,
            tier="demo", source="anticapt", role=FINE_TUNED, notes="Real HyenaDNA-tiny-1k backbone (d_model 128, 2 layers) "
            "fine-tuned for aptamer classification, shipped in the PyPI package anticapt; no LM head, so no "
            "likelihoods."),
)


def _random_control(spec: GLMSpec) -> GLMSpec:
    return replace(spec, name=spec.name + RANDOM_SUFFIX, random_init=True, role=RANDOM_INIT,
                   notes=f"Random-init control of {spec.name}: same architecture and tokenizer, weights re-drawn "
                   f"by the model's initialiser (seed {spec.seed}).")


REGISTRY: dict[str, GLMSpec] = {}
for _spec in _PRETRAINED:
    REGISTRY[_spec.name] = _spec
    REGISTRY[_spec.name + RANDOM_SUFFIX] = _random_control(_spec)


def list_glms(profile: str | None = None) -> list[str]:
    """Registry names, optionally only those of one tier.

    Parameters
    ----------
    profile : {"smoke", "demo", "full"}, optional
        ``"demo"`` (and ``"smoke"``) lists the offline CPU entries, ``"full"``
        the hub checkpoints; None lists all.
    """
    if profile is None:
        return list(REGISTRY)
    tier = "demo" if profile == "smoke" else profile
    if tier not in TIERS:
        raise ValueError(f"unknown profile {profile!r}; expected smoke, demo or full")
    return [name for name, spec in REGISTRY.items() if spec.tier == tier]


def describe_glms(profile: str | None = None):
    """The registry as a tidy ``DataFrame`` (one row per entry) for the book.

    Columns: the :class:`GLMSpec` fields and ``third_party_code`` (what
    :func:`third_party_code` says; empty when the entry runs none).
    """
    import pandas as pd

    return pd.DataFrame([{**asdict(REGISTRY[name]), "third_party_code": third_party_code(name)}
                         for name in list_glms(profile)])


def third_party_code(name: str) -> str:
    """What third-party Python code loading a registry entry runs, beyond ``transformers`` and ``torch``.

    Parameters
    ----------
    name : str
        Registry name.

    Returns
    -------
    str
        Empty for entries that run none (native ``transformers`` classes);
        otherwise the hub repository's or the anticapt package's modelling
        files (``trust_remote_code=True``) and the packages the family's
        model classes come from, joined by "; ".  A ``-random`` control runs
        the same code as its pretrained entry.
    """
    spec = get_spec(name)
    parts = []
    if spec.trust_remote_code:
        if spec.source == "anticapt":
            parts.append("the Python files next to the checkpoint in the anticapt package "
                         "(configuration_hyena.py, modeling_hyena.py, tokenization_hyena.py)")
        else:
            parts.append(f"the Python files of the hub repository {spec.model_id} (trust_remote_code)")
    package_code = get_family(spec.family).package_code
    if package_code:
        parts.append(package_code)
    return "; ".join(parts)


def remote_code_entries(profile: str | None = None) -> dict[str, str]:
    """The registry entries that run third-party code, and which (:func:`third_party_code`).

    Parameters
    ----------
    profile : {"smoke", "demo", "full"}, optional
        Only the entries of that tier (:func:`list_glms`); None for all.

    Returns
    -------
    dict of str to str
        Registry name → the code it runs, in registry order.
    """
    return {name: code for name in list_glms(profile) if (code := third_party_code(name))}


def get_spec(name: str) -> GLMSpec:
    """Look up a registry entry or a teaching checkpoint (:func:`checkpoint_spec`); the error lists the known names."""
    if STEP_MARK in str(name):
        return checkpoint_spec(name)
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown gLM {name!r}; known gLMs: {', '.join(REGISTRY)} (and teaching checkpoints "
                       f"such as teaching-mlm{STEP_MARK}50)") from None


def checkpoint_name(model: str, step: int) -> str:
    """The registry name of a teaching gLM after ``step`` pre-training steps (``"teaching-mlm@step-50"``)."""
    return f"{model}{STEP_MARK}{step}"


def checkpoint_of(name: str) -> tuple[str, int] | None:
    """``("teaching-mlm", 50)`` for the checkpoint name ``"teaching-mlm@step-50"``; None for any other name."""
    base, mark, step = str(name).partition(STEP_MARK)
    return (base, int(step)) if mark and step.isdigit() else None


def checkpoint_spec(name: str) -> GLMSpec:
    """The spec of a teaching checkpoint ``teaching-<kind>@step-<N>``.

    Its family, tokenizer and objective are the teaching entry's; step 0 is
    the seeded initial weights (role random-init, the step-0 control), every
    later step is pretrained.

    Raises
    ------
    KeyError
        When the part before ``@step-`` is not a pretrained teaching entry, or
        ``N`` is not a non-negative integer.
    """
    base, _, step = str(name).partition(STEP_MARK)
    spec = REGISTRY.get(base)
    if spec is None or spec.source != "teaching" or spec.random_init:
        teaching = [n for n, s in REGISTRY.items() if s.source == "teaching" and not s.random_init]
        raise KeyError(f"gLM {name!r}: only the teaching gLMs keep pre-training checkpoints; use "
                       f"{' or '.join(checkpoint_name(n, 'N') for n in teaching)}")
    if not step.isdigit():
        raise KeyError(f"gLM {name!r}: the step after {STEP_MARK!r} must be a whole number of steps, e.g. "
                       f"{checkpoint_name(base, 50)}")
    step = int(step)
    return replace(spec, name=checkpoint_name(base, step), step=step, role=PRETRAINED if step else RANDOM_INIT,
                   notes=f"{base} after {step} pre-training steps" + (" (its seeded initial weights: the "
                                                                       "random-init control of the curve)"
                                                                       if step == 0 else "") + ".")


def role_of(model) -> str:
    """The role of a model: a gLM object's ``role``, or the registry's entry for a name.

    Parameters
    ----------
    model : str or models.GLM
        A registry name, ``"one-hot"``, ``"composition"``, or a gLM object
        (its ``role`` attribute, else its ``name``).

    Raises
    ------
    ValueError
        For a name that is neither in the registry nor a ``-random`` control:
        a model whose role is unknown must not silently count as a gLM.
    """
    role = getattr(model, "role", None)
    if role is not None:
        if role not in ROLES:
            raise ValueError(f"model {getattr(model, 'name', model)!r} has unknown role {role!r}; use {ROLES}")
        return role
    name = getattr(model, "name", model)
    if name == ONEHOT_MODEL:
        return ONE_HOT
    if name == COMPOSITION_MODEL:
        return COMPOSITION
    if name in REGISTRY or STEP_MARK in str(name):
        return get_spec(name).role
    if str(name).endswith(RANDOM_SUFFIX):
        return RANDOM_INIT
    raise ValueError(f"no role known for model {name!r}: give it a registry entry or a 'role' attribute "
                     f"(one of {ROLES})")


def anticapt_model_dir() -> Path:
    """Folder of the fine-tuned HyenaDNA-tiny checkpoint inside the installed ``anticapt`` package."""
    try:
        root = importlib.resources.files("anticapt")
    except ModuleNotFoundError:
        raise ImportError("hyenadna-tiny-anticapt needs the PyPI package anticapt: "
                          "`pip install --no-deps anticapt==1.0` (GPL-3.0)") from None
    return Path(str(root / "models" / "dataset1" / "finetuned_hyenadna"))


def teaching_model_dir(kind: str) -> Path:
    """Where :mod:`glmeval_utils.pretrain` saves the teaching gLM of ``kind`` ("mlm"/"clm")."""
    return models_dir() / f"teaching-{kind}"


def teaching_checkpoints_dir(kind: str, root=None) -> Path:
    """The folder of the pre-training checkpoints of teaching gLM ``kind``, beside its model folder.

    Parameters
    ----------
    kind : {"mlm", "clm"}
    root : path-like, optional
        The models folder (default :func:`glmeval_utils.paths.models_dir`).
    """
    return (Path(root) if root is not None else models_dir()) / f"teaching-{kind}{CHECKPOINTS_SUFFIX}"


def teaching_checkpoint_dir(kind: str, step: int, root=None) -> Path:
    """The ``save_pretrained`` folder of teaching gLM ``kind`` after ``step`` steps: ``.../step-<step>``."""
    return teaching_checkpoints_dir(kind, root) / f"step-{int(step)}"


def teaching_checkpoint_steps(kind: str, root=None) -> list[int]:
    """The steps whose checkpoint of teaching gLM ``kind`` is saved (a complete folder), ascending."""
    folder = teaching_checkpoints_dir(kind, root)
    if not folder.is_dir():
        return []
    return sorted(int(match[1]) for path in folder.iterdir()
                  if (match := _STEP_FOLDER.fullmatch(path.name)) and (path / "config.json").exists())


def weights_digest(directory) -> str:
    """A short content hash of a local checkpoint's weights (its revision)."""
    directory = Path(directory)
    files = sorted(p for pattern in ("*.safetensors", "*.bin") for p in directory.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no model weights (*.safetensors, *.bin) in {directory}")
    digest = hashlib.sha256()
    for file in files:
        update_with_file(digest, file)
    return "sha256:" + digest.hexdigest()[:16]


def _teaching_backbone(spec: GLMSpec, path, trust_remote_code):
    """Model + tokenizer of a teaching entry, from its saved folder.

    Only a ``-random`` control without a ``path`` and without a trained model
    falls back to the default demo config (an explicit ``path`` was checked
    by :func:`load_glm`).
    """
    from transformers import AutoConfig, AutoTokenizer

    kind = spec.family.removeprefix("teaching-")
    family = get_family(spec.family)
    if path is None and spec.step is not None:
        return _teaching_checkpoint(spec, kind, family)
    directory = Path(path) if path is not None else teaching_model_dir(kind)
    saved = (directory / "config.json").exists()
    if spec.random_init:
        if not saved:
            model, hf_tokenizer = build_teaching_model(kind, size="demo", seed=spec.seed)
            return model, hf_tokenizer, f"random-seed{spec.seed}"
        if not trust_remote_code:
            refuse_remote_code(directory)
        config = AutoConfig.from_pretrained(directory, trust_remote_code=trust_remote_code)
        check_model_type(family, config.model_type, directory)
        model = model_from_config(config, seed=spec.seed)
        check_head(model, spec.objective, directory)
        hf_tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=trust_remote_code)
        return model, hf_tokenizer, f"random-seed{spec.seed}"
    if not saved:
        raise FileNotFoundError(f"teaching gLM {spec.name!r} not found in {directory}; train it first with "
                                "`python -m glmeval_utils pretrain --profile demo`")
    model, hf_tokenizer = load_backbone(family, directory, objective=spec.objective,
                                        trust_remote_code=trust_remote_code)
    return model, hf_tokenizer, weights_digest(directory)


def _teaching_checkpoint(spec: GLMSpec, kind: str, family):
    """Model + tokenizer of ``teaching-<kind>@step-N`` from its checkpoint folder (native classes, no remote code)."""
    directory = teaching_checkpoint_dir(kind, spec.step)
    if not (directory / "config.json").exists():
        steps = teaching_checkpoint_steps(kind)
        available = (f"saved steps: {', '.join(map(str, steps))}" if steps else
                     "none is saved yet: `python -m glmeval_utils pretrain --profile demo` saves them")
        raise FileNotFoundError(f"teaching gLM checkpoint {spec.name!r} not found in {directory}; {available}")
    model, hf_tokenizer = load_backbone(family, directory, objective=spec.objective)
    return model, hf_tokenizer, weights_digest(directory)


def _max_tokens(config):
    """Token limit declared by a config, or None when positions are unbounded (ALiBi, convolutions)."""
    if hasattr(config, "max_seq_len"):
        return int(config.max_seq_len)
    if getattr(config, "alibi_starting_size", None) is not None or not hasattr(config, "max_position_embeddings"):
        return None
    limit = int(config.max_position_embeddings)
    # Absolute ESM positions start after the padding index (NT v1: 1002 -> 1000 tokens).
    if config.model_type == "esm" and getattr(config, "position_embedding_type", "absolute") == "absolute":
        limit -= config.pad_token_id + 1
    return limit


def _derived_max_length(tokenizer, max_tokens):
    """Longest input in nucleotides that surely fits ``max_tokens``."""
    if max_tokens is None:
        return None
    budget = max_tokens - len(tokenizer.prefix_ids) - len(tokenizer.suffix_ids)
    return budget * getattr(tokenizer, "k", 1)


def load_glm(name: str, device=None, revision: str | None = None, *, path=None,
             trust_remote_code: bool = False) -> GLM:
    """Load a registry gLM.

    Parameters
    ----------
    name : str
        Registry name (:func:`list_glms`).
    device : str or torch.device, optional
        None → CUDA when available, else CPU.
    revision : str, optional
        Hub revision overriding the registry's.
    path : path-like, optional
        Load the entry's family from this local ``save_pretrained`` folder
        instead of its usual location (same loading code; used by tests and
        for pre-downloaded checkpoints).  It must hold ``config.json``, whose
        ``model_type`` must be the family's and whose model must have the
        entry's head, ``-random`` controls included.
    trust_remote_code : bool
        Only with ``path``: let the folder's own Python code (an ``auto_map``
        in ``config.json`` or ``tokenizer_config.json``) run.  Without it such
        a folder is refused, whatever the entry declares for its hub id;
        registry locations (hub ids, the anticapt package) always use the
        entry's declared setting.

    Returns
    -------
    GLM

    Raises
    ------
    KeyError
        For an unknown name (the message lists the known ones).
    FileNotFoundError
        For a teaching gLM that has not been trained yet, or a ``path``
        without ``config.json``.
    ValueError
        ``trust_remote_code=True`` without ``path``; a folder that ships code
        without ``trust_remote_code=True`` (:class:`~.families.UntrustedCodeError`);
        a checkpoint of another family or objective.
    """
    spec = get_spec(name)
    family = get_family(spec.family)
    revision = revision or spec.revision
    if path is not None:
        path = require_model_folder(path)
    elif trust_remote_code:
        raise ValueError(f"trust_remote_code only applies to a local path; gLM {name!r} loads from its registry "
                         f"location with the declared trust_remote_code={spec.trust_remote_code}")
    trust = trust_remote_code if path is not None else spec.trust_remote_code
    if spec.source == "teaching":
        model, hf_tokenizer, revision = _teaching_backbone(spec, path, trust)
        model_id = str(path) if path is not None else spec.model_id
    else:
        location = path if path is not None else (anticapt_model_dir() if spec.source == "anticapt" else spec.model_id)
        model, hf_tokenizer = load_backbone(family, location, objective=spec.objective,
                                            revision=revision if spec.source == "hub" and path is None else None,
                                            trust_remote_code=trust, random_init=spec.random_init, seed=spec.seed)
        model_id = spec.model_id if path is None else str(path)
        if spec.random_init:
            revision = f"random-seed{spec.seed}"
        elif path is not None or spec.source == "anticapt":
            revision = weights_digest(location)
        else:
            revision = getattr(model.config, "_commit_hash", None) or revision
    return _assemble(model, hf_tokenizer, family, name=spec.name, model_id=model_id, revision=revision,
                     objective=spec.objective, licence=spec.licence, max_length=spec.max_length, role=spec.role,
                     device=device)


def from_local(family: str, path, *, objective="masked", trust_remote_code=False, random_init=False, seed=0,
               name=None, device=None) -> GLM:
    """Load any checkpoint folder of a known family, without a registry entry.

    Parameters
    ----------
    family : str
        Key of :data:`~.families.FAMILIES` (e.g. ``"nt"``, ``"hyenadna"``).
    path : path-like
        A ``save_pretrained`` folder (model + tokenizer) with ``config.json``.
    objective : {"masked", "causal", None}
    trust_remote_code : bool
        Let the folder's own modelling code run (needed for HyenaDNA,
        DNABERT-2, NT v2 folders).  False: a folder with an ``auto_map`` is
        refused (:class:`~.families.UntrustedCodeError`).
    random_init : bool
        Re-draw the weights (seeded) instead of loading them.
    seed : int
    name : str, optional
        Defaults to the folder name.
    device : optional

    Returns
    -------
    GLM
        ``max_length`` derived from the config's token limit.
    """
    family_spec = get_family(family)
    path = require_model_folder(path)
    model, hf_tokenizer = load_backbone(family_spec, path, objective=objective, trust_remote_code=trust_remote_code,
                                        random_init=random_init, seed=seed)
    revision = f"random-seed{seed}" if random_init else weights_digest(path)
    return _assemble(model, hf_tokenizer, family_spec, name=name or Path(path).name, model_id=str(path),
                     revision=revision, objective=objective, licence="", max_length=None,
                     role=RANDOM_INIT if random_init else PRETRAINED, device=device)


def _assemble(model, hf_tokenizer, family, *, name, model_id, revision, objective, licence, max_length, role,
              device):
    tokenizer = family.make_tokenizer(hf_tokenizer)
    max_tokens = _max_tokens(model.config)
    derived = _derived_max_length(tokenizer, max_tokens)
    if max_length is None or (derived is not None and derived < max_length):
        max_length = derived
    return GLM(model, tokenizer, family, name=name, model_id=model_id, revision=revision, objective=objective,
               max_length=max_length, max_tokens=max_tokens, licence=licence, role=role, device=device)
