"""Pre-train the two teaching gLMs (masked and causal) on real human sequences.

The teaching gLMs stand in for the paper's large gLMs on a CPU: the same
question (do pre-trained representations beat one-hot?) asked of models small
enough to train in minutes.  Their corpus is chosen without looking at any
label, target or score:

* the sources (:func:`corpus_sources`) are the book's sequence-carrying human
  data sets whose registry spec says every row is genomic
  (``DatasetSpec.genomic_rows``): lentiMPRA HepG2 (200-nt elements without
  the adapters), the eight eCLIP sets (binding sites *and* their genomic
  background windows), Vex-seq (inserts), MaPSy (wild types) and CAGI5
  (element references);
* the GUE TF sets are left out entirely, positives included: their negatives
  are mononucleotide shuffles, not genome, and keeping only the positives
  would be choosing training data by label (the ChIP peaks of the very TFs
  chapter 02 probes);
* every row of a source's ``train`` split enters, whatever its label;
* any sequence identical to, or the reverse complement of, any ``valid`` or
  ``test`` sequence of *any* of the book's data sets (GUE included) is removed
  (and counted);
* the sources' ``valid`` splits supply the held-out evaluation set.

Training: random crops of ``crop_length`` nucleotides, random reverse
complement, BERT-style masking (15 % of bases; 80 % ``[MASK]``, 10 % random
base, 10 % unchanged; Devlin et al. 2019) for ``kind="mlm"`` and next-token
loss for ``kind="clm"``; AdamW with linear warm-up and cosine decay, gradient
clipping, per-step seeds (a resumed run draws the same batches, so no random
state needs saving); forward passes in bf16 autocast on a CPU with native bf16
(:func:`glmeval_utils.learn.train.training_autocast_dtype`, part of the
run's fingerprint), held-out metrics in fp32.  Every ``checkpoint_every`` steps the model, optimizer
and scheduler state dicts are written to a resume file next to the model
folder, holding only tensors and plain values: it is read back with
``torch.load(weights_only=True)``, so a planted file cannot run code, and a
file that cannot be used is ignored with a warning naming it (training then
restarts from step 0).  Held-out metrics are computed over the four
nucleotide logits only, next to the same metrics of the seeded random-init
model the training started from.

Intermediate checkpoints: the seeded initial weights (step 0), the model
every ``checkpoint_every`` steps and the final model are each saved as a
loadable ``save_pretrained`` folder,
:func:`glmeval_utils.models.registry.teaching_checkpoint_dir` (a sibling of
the model folder), with their held-out metrics and the tokens seen so far in
``checkpoint_info.json`` (:func:`checkpoint_table`); they load as
``teaching-mlm@step-N``.  Each folder is written under a temporary name and
moved into place; folders of another run (another fingerprint) are removed
when training starts, and a model whose checkpoints are incomplete is
trained again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from glmeval_utils import paths
from glmeval_utils.devices import resolve_device
from glmeval_utils.embeddings import sequences_sha256
from glmeval_utils.files import temporary_path
from glmeval_utils.sequences import reverse_complement
from glmeval_utils.validation import positive_int

KINDS = ("mlm", "clm")
#: The objective names of the gLM contract, accepted as synonyms.
KIND_ALIASES = {"masked": "mlm", "causal": "clm"}
BASES = "ACGT"
#: The lentiMPRA constructs are 15-nt adapter + 200-nt element + 15-nt adapter (Agarwal et al. 2025).
LENTIMPRA_ADAPTERS = ("AGGACCGGATCAACT", "CATTGCGTGAACCGA")
INFO_FILE = "training_info.json"
RESUME_FILE = "trainer_state.pt"
#: What a resume file holds: three state dicts, the next step and the run's fingerprint.
RESUME_KEYS = ("model", "optimizer", "scheduler", "step", "fingerprint")
#: Per checkpoint folder: step, tokens seen, held-out metrics and the run's fingerprint.
CHECKPOINT_INFO = "checkpoint_info.json"


@dataclass(frozen=True)
class PretrainSettings:
    """Everything that determines a teaching gLM (a changed field retrains it)."""

    model_size: str
    crop_length: int
    steps: int
    batch_size: int
    learning_rate: float
    warmup_steps: int
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    mask_fraction: float = 0.15
    #: largest number of training sequences drawn from each data set.
    max_train_per_dataset: int | None = None
    #: held-out sequences evaluated (drawn from the valid splits).
    n_valid: int = 512
    checkpoint_every: int = 200


SETTINGS = {
    "smoke": PretrainSettings(model_size="smoke", crop_length=64, steps=60, batch_size=32, learning_rate=5e-3,
                              warmup_steps=6, max_train_per_dataset=1000, n_valid=256, checkpoint_every=20),
    "demo": PretrainSettings(model_size="demo", crop_length=100, steps=300, batch_size=32, learning_rate=2e-3,
                             warmup_steps=30, max_train_per_dataset=8000, n_valid=512, checkpoint_every=50),
    "full": PretrainSettings(model_size="demo", crop_length=100, steps=20000, batch_size=64, learning_rate=1e-3,
                             warmup_steps=1000, n_valid=4096, checkpoint_every=1000),
}


def get_settings(profile: str) -> PretrainSettings:
    """Pre-training settings of a profile (``smoke``, ``demo`` or ``full``)."""
    try:
        return SETTINGS[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(SETTINGS)}") from None


def checkpoint_steps(settings: PretrainSettings) -> list[int]:
    """The steps whose model is kept: 0 (the seeded initial weights), every ``checkpoint_every``, the last."""
    every = positive_int(settings.checkpoint_every, "checkpoint_every")
    return sorted({0, *range(every, settings.steps, every), settings.steps})


def tokens_seen(step: int, settings: PretrainSettings) -> int:
    """Nucleotide tokens the model has been trained on after ``step`` steps (batch size × crop length per step)."""
    return int(step) * settings.batch_size * settings.crop_length


# --------------------------------------------------------------------------
# Training corpus
# --------------------------------------------------------------------------
def _strip_lentimpra_adapters(seq: str, row) -> str:
    left, right = LENTIMPRA_ADAPTERS
    if not (seq.startswith(left) and seq.endswith(right)):
        raise ValueError(f"lentimpra_hepg2 row {row}: construct does not carry the expected adapters")
    return seq[len(left):-len(right)]


def training_view(name: str, table: pd.DataFrame) -> pd.Series:
    """The human sequence each row of a data set contributes to pre-training.

    One value per row, read from sequence columns only (never a label,
    target or score column): lentiMPRA: the 200-nt element without adapters;
    MaPSy: the wild type (``wt_seq``); others (eCLIP sites and background
    windows, Vex-seq inserts, CAGI5 element references): ``seq``.  Missing
    values come back as NaN.  Whether a data set enters the corpus at all is
    decided by :func:`corpus_sources`, not here.
    """
    if name == "lentimpra_hepg2":
        return pd.Series([_strip_lentimpra_adapters(s, i) for i, s in zip(table.index, table["seq"])],
                         index=table.index, dtype=object)
    if name == "mapsy":
        return table["wt_seq"]
    return table["seq"]


def _canonical(seq: str) -> str:
    """One representative per strand pair, so a set lookup also catches reverse complements."""
    return min(seq, reverse_complement(seq))


def _held_out_forms(name: str, table: pd.DataFrame) -> set[str]:
    """Canonical forms of every sequence (raw columns and training view) of some rows."""
    forms = set()
    for column in ("seq", "wt_seq", "mut_seq"):
        if column in table:
            forms.update(_canonical(s.upper()) for s in table[column].dropna())
    if name == "lentimpra_hepg2":
        # the element without its adapters, as the training view sees it.
        forms.update(_canonical(s.upper()) for s in training_view(name, table))
    return forms


@dataclass
class Corpus:
    """Pre-training sequences and the held-out evaluation set.

    Attributes
    ----------
    train : list of str
        Training sequences (upper case, unique, each ≥ the crop length).
    valid : list of str
        Held-out sequences from the training sources' valid splits, cropped to
        the crop length.
    counts : pandas.DataFrame
        Per training source: ``train_rows`` (every train row, whatever its
        label), ``excluded_overlap`` (identical to or the reverse complement
        of a valid/test sequence), ``too_short``, ``train_used``,
        ``valid_candidates``.
    sha256 : str
        Digest of the ordered training-sequence list.
    """

    train: list[str]
    valid: list[str]
    counts: pd.DataFrame
    sha256: str

    @property
    def n_excluded(self) -> int:
        return int(self.counts["excluded_overlap"].sum())


def is_genomic(name: str) -> bool:
    """Whether every row of a data set is genomic sequence (``DatasetSpec.genomic_rows``).

    Names the registry does not know (in-memory tables of tests and
    experiments) count as genomic: their caller vouches for them, or passes
    ``train_sources`` to :func:`build_corpus`.
    """
    from glmeval_utils.data import registry

    spec = registry.DATASETS.get(name)
    return True if spec is None else spec.genomic_rows


def build_corpus(tables: Mapping[str, pd.DataFrame], *, crop_length: int, max_train_per_dataset: int | None,
                 n_valid: int, seed: int = 0, train_sources: Iterable[str] | None = None) -> Corpus:
    """Assemble training and held-out sequences from data-set tables.

    No label, target or score column is read: the training rows of a source
    are all its ``train`` rows, whatever their label.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Data set name → full table with a ``split`` column (``train``,
        ``valid``, ``test``) and the sequence columns of that data set.  The
        ``valid`` and ``test`` rows of *every* table are held out.
    train_sources : iterable of str, optional
        The tables whose ``train`` rows enter the corpus (and whose ``valid``
        rows supply the held-out evaluation set); the others only add to the
        held-out set.  By default every table :func:`is_genomic` accepts
        (the GUE TF sets, with shuffled negatives, are left out).
    crop_length : int
        Training crop; shorter sequences are dropped (and counted).
    max_train_per_dataset : int or None
        Deterministic subsample per data set (None keeps all).
    n_valid : int
        Number of held-out sequences kept (deterministic sample).
    seed : int

    Returns
    -------
    Corpus
        ``counts`` has one row per training source.
    """
    if train_sources is None:
        sources = [name for name in tables if is_genomic(name)]
    else:
        sources = list(dict.fromkeys(train_sources))
        unknown = [name for name in sources if name not in tables]
        if unknown:
            raise ValueError(f"train_sources not among the tables: {unknown}")
    rng = np.random.default_rng(seed)
    held_out: set[str] = set()
    for name, table in tables.items():
        if "split" not in table:
            raise ValueError(f"data set {name!r} has no 'split' column")
        held_out |= _held_out_forms(name, table[table["split"] != "train"])
    test_forms: set[str] = set()
    for name, table in tables.items():
        test_forms |= _held_out_forms(name, table[table["split"] == "test"])

    train, valid_candidates, rows = [], [], []
    seen: set[str] = set()
    for name in sources:
        table = tables[name]
        view = training_view(name, table[table["split"] == "train"]).dropna().str.upper()
        overlapping = np.array([_canonical(s) in held_out for s in view], dtype=bool)
        short = view.str.len().to_numpy() < crop_length
        keep = [s for s in view[~overlapping & ~short] if s not in seen]
        keep = list(dict.fromkeys(keep))
        if max_train_per_dataset is not None and len(keep) > max_train_per_dataset:
            keep = [keep[i] for i in sorted(rng.choice(len(keep), max_train_per_dataset, replace=False))]
        seen.update(keep)
        train.extend(keep)
        valid_view = training_view(name, table[table["split"] == "valid"]).dropna().str.upper()
        candidates = [s for s in dict.fromkeys(valid_view)
                      if len(s) >= crop_length and _canonical(s) not in test_forms]
        valid_candidates.extend(candidates)
        rows.append({"dataset": name, "train_rows": len(view), "excluded_overlap": int(overlapping.sum()),
                     "too_short": int((short & ~overlapping).sum()), "train_used": len(keep),
                     "valid_candidates": len(candidates)})
    if not train:
        raise ValueError("no training sequences left after excluding held-out ones")
    picked = rng.permutation(len(valid_candidates))[:n_valid]
    valid = [_center_crop(valid_candidates[i], crop_length) for i in sorted(picked)]
    return Corpus(train=train, valid=valid, counts=pd.DataFrame(rows), sha256=sequences_sha256(train))


def _center_crop(seq: str, length: int) -> str:
    start = (len(seq) - length) // 2
    return seq[start:start + length]


#: Tasks whose book tables carry no sequence (ASCOT: exon coordinates and PSI only).
SEQUENCE_FREE_TASKS = ("splicing_psi",)


def book_sequence_datasets() -> list[str]:
    """The book's own data sets with human sequences, in registry order.

    Those of every profile (the ``paper_*`` sets, full profile only, need the
    network) whose task carries sequences.  The GUE TF sets are among them:
    they add to the held-out set but not to training (see :func:`corpus_sources`).
    """
    from glmeval_utils.data import registry

    return [name for name, spec in registry.DATASETS.items()
            if "smoke" in spec.profiles and spec.task not in SEQUENCE_FREE_TASKS]


def corpus_sources() -> list[str]:
    """The data sets whose ``train`` rows (every one, whatever its label) form the corpus.

    The book's sequence data sets whose registry spec says every row is
    genomic (``DatasetSpec.genomic_rows``): lentiMPRA HepG2, CAGI5, Vex-seq,
    MaPSy and the eCLIP sets; not the GUE TF sets (shuffled negatives).
    """
    return [name for name in book_sequence_datasets() if is_genomic(name)]


def load_corpus_tables() -> dict[str, pd.DataFrame]:
    """The tables :func:`build_corpus` needs, loaded in full (``profile="full"``).

    Every data set of :func:`book_sequence_datasets`: the :func:`corpus_sources`
    for training, and the GUE TF sets only so that their ``valid``/``test``
    sequences are held out too.  The full tables are used, whatever the
    book's profile, so that no test sequence of any profile can enter training.
    """
    from glmeval_utils.data import registry

    return {name: registry.load(name, profile="full") for name in book_sequence_datasets()}


# --------------------------------------------------------------------------
# Batches, masking, evaluation
# --------------------------------------------------------------------------
@dataclass
class _Vocabulary:
    """Token ids the training loop needs, read from the teaching tokenizer."""

    base_ids: np.ndarray  # (4,) ids of A, C, G, T
    mask_id: int | None

    @classmethod
    def of(cls, tokenizer) -> "_Vocabulary":
        ids = tokenizer.convert_tokens_to_ids(list(BASES))
        return cls(base_ids=np.asarray(ids), mask_id=tokenizer.mask_token_id)


def _encode(tokenizer, seqs: list[str]):
    import torch

    encoded = tokenizer(seqs, return_tensors="pt", padding=True)
    return encoded["input_ids"], encoded["attention_mask"].to(torch.long)


def _sample_batch(corpus: Corpus, settings: PretrainSettings, rng: np.random.Generator) -> list[str]:
    """Random crops of random training sequences, half of them reverse-complemented."""
    batch = []
    for index in rng.integers(len(corpus.train), size=settings.batch_size):
        seq = corpus.train[index]
        start = rng.integers(len(seq) - settings.crop_length + 1)
        crop = seq[start:start + settings.crop_length]
        batch.append(reverse_complement(crop) if rng.random() < 0.5 else crop)
    return batch


def _mask_tokens(input_ids, vocabulary: _Vocabulary, fraction: float, generator, *, bert_mix: bool):
    """Choose ``fraction`` of base positions (rounded, ≥1 per sequence) as prediction targets.

    Returns the corrupted inputs and labels (-100 where not a target).  With
    ``bert_mix`` the targets are 80 % ``[MASK]``, 10 % random base, 10 % kept;
    without it (evaluation) all are ``[MASK]``.
    """
    import torch

    base_ids = torch.as_tensor(vocabulary.base_ids)
    is_base = torch.isin(input_ids, base_ids)
    scores = torch.rand(input_ids.shape, generator=generator).masked_fill(~is_base, 2.0)
    n_targets = (is_base.sum(1, keepdim=True) * fraction).round().clamp(min=1)
    ranks = scores.argsort(1).argsort(1)
    targets = (ranks < n_targets) & is_base
    labels = input_ids.masked_fill(~targets, -100)
    corrupted = input_ids.clone()
    draw = torch.rand(input_ids.shape, generator=generator)
    to_mask = targets & (draw < 0.8) if bert_mix else targets
    corrupted[to_mask] = vocabulary.mask_id
    if bert_mix:
        to_random = targets & (draw >= 0.8) & (draw < 0.9)
        random_bases = base_ids[torch.randint(4, input_ids.shape, generator=generator)]
        corrupted[to_random] = random_bases[to_random]
    return corrupted, labels


def _causal_labels(input_ids, vocabulary: _Vocabulary):
    import torch

    return input_ids.masked_fill(~torch.isin(input_ids, torch.as_tensor(vocabulary.base_ids)), -100)


def evaluate_held_out(model, tokenizer, kind: str, seqs: list[str], *, batch_size: int = 64, seed: int = 0,
                      mask_fraction: float = 0.15) -> dict[str, float]:
    """Held-out metrics over the four nucleotide logits.

    Parameters
    ----------
    model : transformers masked or causal LM
    tokenizer : the model's tokenizer
    kind : {"mlm", "clm"}
    seqs : list of str
        Held-out sequences (equal length keeps padding out of the way).
    batch_size, seed, mask_fraction
        The masked positions are drawn from ``seed``, identical for every model.

    Returns
    -------
    dict
        mlm: ``masked_accuracy``, ``masked_perplexity``;
        clm: ``next_base_accuracy``, ``perplexity``.
    """
    import torch

    batch_size = positive_int(batch_size, "batch_size")
    vocabulary = _Vocabulary.of(tokenizer)
    base_ids = torch.as_tensor(vocabulary.base_ids)
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    total_loss, correct, count = 0.0, 0, 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(seqs), batch_size):
            input_ids, attention = _encode(tokenizer, seqs[start:start + batch_size])
            if kind == "mlm":
                inputs, labels = _mask_tokens(input_ids, vocabulary, mask_fraction, generator, bert_mix=False)
                logits = model(input_ids=inputs.to(device), attention_mask=attention.to(device)).logits.cpu()
            else:
                logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.cpu()
                logits, labels = logits[:, :-1], _causal_labels(input_ids, vocabulary)[:, 1:]
            targets = labels != -100
            log_probs = torch.log_softmax(logits[targets][:, base_ids].float(), dim=-1)
            truth = (labels[targets].unsqueeze(1) == base_ids).float().argmax(1)
            total_loss -= log_probs.gather(1, truth.unsqueeze(1)).sum().item()
            correct += int((log_probs.argmax(1) == truth).sum())
            count += int(targets.sum())
    accuracy, perplexity = correct / count, math.exp(total_loss / count)
    if kind == "mlm":
        return {"masked_accuracy": accuracy, "masked_perplexity": perplexity}
    return {"next_base_accuracy": accuracy, "perplexity": perplexity}


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------
@dataclass
class PretrainReport:
    """Outcome of :func:`pretrain_teaching_glm`.

    Attributes
    ----------
    kind, profile : str
    path : pathlib.Path
        ``save_pretrained`` folder of the trained model.
    reused : bool
        True when an up-to-date checkpoint was found and nothing was trained.
    metrics : dict
        metric → ``{"pretrained": value, "random_init": value}`` on held-out data.
    info : dict
        Contents of ``training_info.json`` (settings, data counts, timings).
    """

    kind: str
    profile: str
    path: Path
    reused: bool
    metrics: dict[str, dict[str, float]]
    info: dict = field(repr=False)

    def table(self) -> pd.DataFrame:
        """One row per metric: model, control, metric, pretrained, random_init."""
        return pd.DataFrame([
            {"model": f"teaching-{self.kind}", "control": f"teaching-{self.kind}-random", "metric": metric,
             "pretrained": values["pretrained"], "random_init": values["random_init"]}
            for metric, values in self.metrics.items()
        ])


def _lr_factor(step: int, settings: PretrainSettings) -> float:
    """Linear warm-up to 1, then cosine decay to 0 at ``settings.steps``."""
    if step < settings.warmup_steps:
        return (step + 1) / settings.warmup_steps
    progress = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _fingerprint(kind: str, profile: str, settings: PretrainSettings, seed: int, data_sha256: str,
                 autocast=None) -> dict:
    fingerprint = {"kind": kind, "profile": profile, "seed": seed, "settings": dataclasses.asdict(settings),
                   "data_sha256": data_sha256}
    if autocast is not None:  # fp32 runs keep the fingerprint (and the models) they had
        fingerprint["autocast"] = str(autocast)
    return fingerprint


def _replace_directory(source: Path, target: Path) -> None:
    """Move a finished folder into place: the old one is renamed away first, then deleted."""
    retired = target.with_name(target.name + ".old")
    if retired.exists():
        shutil.rmtree(retired)
    if target.exists():
        os.replace(target, retired)
    os.replace(source, target)
    if retired.exists():
        shutil.rmtree(retired)


def _save_resume_state(path: Path, *, model, optimizer, scheduler, step: int, fingerprint: dict) -> None:
    """Write the resume file atomically: state dicts (tensors, numbers, strings), the step and the fingerprint.

    Nothing else goes in, so :func:`_read_resume_state` can load it with
    ``weights_only=True``.
    """
    import torch

    temporary = temporary_path(path)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "step": step, "fingerprint": fingerprint}, temporary)
    os.replace(temporary, path)


def _first_line(error: BaseException) -> str:
    """``"Type: first line of the message"`` (torch's unpickling errors run to a dozen lines)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else '(no message)'}"


def _ignore_resume_file(path: Path, reason: str) -> None:
    warnings.warn(f"pre-training resume file {path} is ignored: {reason}; training restarts from step 0 "
                  "(the file is replaced at the next checkpoint)", stacklevel=3)


def _read_resume_state(path: Path, *, fingerprint: dict, steps: int, device):
    """The resume file's contents when it belongs to this run, else None.

    Read with ``torch.load(weights_only=True)``: only tensors and plain
    containers are unpickled, so a file planted in ``GLMEVAL_DATA`` cannot run
    code.  A file that cannot be read that way, or is not shaped like
    :func:`_save_resume_state`'s, is ignored with a warning naming it; a file
    of another run (settings, data or seed changed: another fingerprint) is
    ignored silently, as before.

    Returns
    -------
    dict or None
        Keys :data:`RESUME_KEYS`.
    """
    import torch

    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # whatever is wrong with the file, it is only a shortcut: start over
        _ignore_resume_file(path, f"it cannot be read as a weights-only torch file ({_first_line(error)})")
        return None
    if not isinstance(state, dict) or set(state) != set(RESUME_KEYS):
        _ignore_resume_file(path, f"it is not a resume file of this version (expected a dict with keys "
                                  f"{', '.join(RESUME_KEYS)})")
        return None
    if state["fingerprint"] != fingerprint:
        return None
    if not isinstance(state["step"], int) or not 0 < state["step"] < steps:
        _ignore_resume_file(path, f"its step {state['step']!r} is not between 1 and {steps - 1}")
        return None
    return state


def _optimization(model, settings: PretrainSettings):
    """AdamW (no weight decay on biases and norms) and its warm-up + cosine schedule."""
    import torch

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]  # biases and norms
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=settings.learning_rate, betas=(0.9, 0.98))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, settings))
    return optimizer, scheduler


def _checkpoint_fingerprint(folder: Path):
    """The fingerprint recorded in a checkpoint folder, or None when it has no readable record."""
    try:
        return json.loads((folder / CHECKPOINT_INFO).read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


def _remove_stale_checkpoints(kind: str, root: Path, fingerprint: dict) -> None:
    """Delete checkpoint folders of another run (or half-written ones) of teaching gLM ``kind``."""
    from glmeval_utils.models.registry import teaching_checkpoints_dir

    folder = teaching_checkpoints_dir(kind, root)
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_dir() and _checkpoint_fingerprint(path) != fingerprint:
                shutil.rmtree(path)


def _checkpoints_complete(kind: str, root: Path, settings: PretrainSettings, fingerprint: dict) -> bool:
    """Whether every step of :func:`checkpoint_steps` has a checkpoint folder of this run."""
    from glmeval_utils.models.registry import teaching_checkpoint_dir

    return all(_checkpoint_fingerprint(teaching_checkpoint_dir(kind, step, root)) == fingerprint
               for step in checkpoint_steps(settings))


def _save_checkpoint(kind: str, root: Path, step: int, model, tokenizer, *, settings: PretrainSettings,
                     fingerprint: dict, metrics: dict) -> None:
    """Write the model after ``step`` steps as a ``save_pretrained`` folder with its :data:`CHECKPOINT_INFO`.

    The folder is written under a temporary name and moved into place, so a
    checkpoint folder is either complete or absent.
    """
    from glmeval_utils.models.registry import teaching_checkpoint_dir

    folder = teaching_checkpoint_dir(kind, step, root)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.staging")
    if staging.exists():
        shutil.rmtree(staging)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    info = {"step": step, "tokens_seen": tokens_seen(step, settings), "metrics": metrics, "fingerprint": fingerprint}
    (staging / CHECKPOINT_INFO).write_text(json.dumps(info, indent=1))
    _replace_directory(staging, folder)


def checkpoint_table(kind: str, *, out_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The saved pre-training checkpoints of teaching gLM ``kind``, one row per step.

    Parameters
    ----------
    kind : {"mlm", "clm"}
    out_dir : path, optional
        The models folder (default :func:`glmeval_utils.paths.models_dir`).

    Returns
    -------
    pandas.DataFrame
        ``model`` (registry name ``teaching-<kind>@step-N``), ``step``,
        ``tokens_seen``, ``held_out_loss`` (cross-entropy in nats over the
        four bases of masked or next bases: the log of the held-out
        perplexity), and each held-out metric of :func:`evaluate_held_out`;
        sorted by step.

    Raises
    ------
    FileNotFoundError
        When no checkpoint is saved (the message says how to make them).
    """
    from glmeval_utils.models.registry import checkpoint_name, teaching_checkpoint_dir, teaching_checkpoint_steps

    kind = KIND_ALIASES.get(kind, kind)
    steps = teaching_checkpoint_steps(kind, out_dir)
    if not steps:
        raise FileNotFoundError(f"no pre-training checkpoints of teaching-{kind}; `python -m glmeval_utils "
                                "pretrain --profile demo` saves them")
    rows = []
    for step in steps:
        info = json.loads((teaching_checkpoint_dir(kind, step, out_dir) / CHECKPOINT_INFO).read_text())
        perplexity = info["metrics"]["masked_perplexity" if kind == "mlm" else "perplexity"]
        rows.append({"model": checkpoint_name(f"teaching-{kind}", step), "step": step,
                     "tokens_seen": info["tokens_seen"], "held_out_loss": math.log(perplexity), **info["metrics"]})
    return pd.DataFrame(rows)


def pretrain_teaching_glm(kind: str, *, profile: str = "demo", out_dir: str | os.PathLike | None = None,
                          seed: int = 0, progress: bool = True, device=None,
                          settings: PretrainSettings | None = None,
                          corpus: Corpus | None = None) -> PretrainReport:
    """Train one teaching gLM, or reuse an up-to-date one.

    Parameters
    ----------
    kind : {"mlm", "clm"}
        Masked or causal language model (``"masked"``/``"causal"`` also accepted).
    profile : {"smoke", "demo", "full"}
        Chooses :data:`SETTINGS`.
    out_dir : path, optional
        Parent folder of ``teaching-{kind}``; defaults to
        :func:`glmeval_utils.paths.models_dir`.
    seed : int
        Seeds the initial weights (identical to the random-init control),
        the batches, masks and dropout.
    progress : bool
        Show a progress bar over steps.
    device : str or torch.device, optional
        None picks CUDA when available.
    settings : PretrainSettings, optional
        Overrides the profile's settings (for experiments and tests).
    corpus : Corpus, optional
        Precomputed :func:`build_corpus` output (by default built from the registry).

    Returns
    -------
    PretrainReport
        Held-out metrics of the trained model next to its random-init control.
    """
    import torch
    from tqdm.auto import tqdm

    from glmeval_utils.learn.train import training_autocast_dtype
    from glmeval_utils.models.teaching import build_teaching_model

    kind = KIND_ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} (or {tuple(KIND_ALIASES)}), got {kind!r}")
    settings = settings or get_settings(profile)
    if corpus is None:
        corpus = registry_corpus(settings, seed)
    device = resolve_device(device)
    # training steps autocast as fit_torch's do (bf16 on a CPU with native bf16); held-out metrics stay fp32
    precision = training_autocast_dtype(device)
    fingerprint = _fingerprint(kind, profile, settings, seed, corpus.sha256, precision)
    target = Path(out_dir) if out_dir is not None else paths.models_dir()
    final = target / f"teaching-{kind}"
    if (final / INFO_FILE).exists():
        info = json.loads((final / INFO_FILE).read_text())
        if info.get("fingerprint") == fingerprint and _checkpoints_complete(kind, target, settings, fingerprint):
            return PretrainReport(kind, profile, final, True, info["metrics"], info)

    model, tokenizer = build_teaching_model(kind, size=settings.model_size, seed=seed)
    random_metrics = evaluate_held_out(model, tokenizer, kind, corpus.valid, seed=seed,
                                       mask_fraction=settings.mask_fraction)
    model.to(device)
    vocabulary = _Vocabulary.of(tokenizer)
    optimizer, scheduler = _optimization(model, settings)
    target.mkdir(parents=True, exist_ok=True)
    _remove_stale_checkpoints(kind, target, fingerprint)
    keep = dict(settings=settings, fingerprint=fingerprint)
    resume_path = target / f".teaching-{kind}.{RESUME_FILE}"
    first_step = 0
    state = _read_resume_state(resume_path, fingerprint=fingerprint, steps=settings.steps, device=device) \
        if resume_path.exists() else None
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            first_step = state["step"]
        except (RuntimeError, ValueError, KeyError, TypeError) as error:
            _ignore_resume_file(resume_path, f"its state does not fit the model ({_first_line(error)})")
            # A failed load may have changed some tensors: start again from the seeded initial weights.
            model, _ = build_teaching_model(kind, size=settings.model_size, seed=seed)
            model.to(device)
            optimizer, scheduler = _optimization(model, settings)

    if first_step == 0:
        _save_checkpoint(kind, target, 0, model, tokenizer, metrics=random_metrics, **keep)
    started, started_cpu = time.perf_counter(), time.process_time()
    losses = []
    model.train()
    bar = tqdm(range(first_step, settings.steps), desc=f"pretrain teaching-{kind}", disable=not progress,
               initial=first_step, total=settings.steps)
    for step in bar:
        # Per-step seeds make a resumed run draw exactly the batches an uninterrupted one would.
        rng = np.random.default_rng([seed, step])
        torch.manual_seed(seed * 1_000_003 + step)
        input_ids, attention = _encode(tokenizer, _sample_batch(corpus, settings, rng))
        if kind == "mlm":
            generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
            inputs, labels = _mask_tokens(input_ids, vocabulary, settings.mask_fraction, generator, bert_mix=True)
        else:
            inputs, labels = input_ids, _causal_labels(input_ids, vocabulary)
        with torch.autocast(device.type, dtype=precision) if precision is not None else contextlib.nullcontext():
            loss = model(input_ids=inputs.to(device), attention_mask=attention.to(device),
                         labels=labels.to(device)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip_norm)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        if (step + 1) % settings.checkpoint_every == 0 and step + 1 < settings.steps:
            held_out = evaluate_held_out(model, tokenizer, kind, corpus.valid, seed=seed,
                                         mask_fraction=settings.mask_fraction)
            model.train()
            _save_checkpoint(kind, target, step + 1, model, tokenizer, metrics=held_out, **keep)
            _save_resume_state(resume_path, model=model, optimizer=optimizer, scheduler=scheduler,
                               step=step + 1, fingerprint=fingerprint)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu

    trained_metrics = evaluate_held_out(model, tokenizer, kind, corpus.valid, seed=seed,
                                        mask_fraction=settings.mask_fraction)
    _save_checkpoint(kind, target, settings.steps, model, tokenizer, metrics=trained_metrics, **keep)
    metrics = {name: {"pretrained": trained_metrics[name], "random_init": random_metrics[name]}
               for name in trained_metrics}
    info = {
        "fingerprint": fingerprint,
        "metrics": metrics,
        "data": {"n_train_sequences": len(corpus.train), "n_valid_sequences": len(corpus.valid),
                 "n_excluded_overlapping_held_out": corpus.n_excluded,
                 "per_dataset": corpus.counts.to_dict(orient="records"),
                 "train_sequences_sha256": corpus.sha256},
        "train_seconds": seconds,
        # CPU time summed over threads: on a shared machine a steadier measure than wall time.
        "train_cpu_seconds": cpu_seconds,
        "resumed_from_step": first_step,
        "final_loss": float(np.mean(losses[-20:])) if losses else None,
    }
    staging = target / f".teaching-{kind}.staging"
    if staging.exists():
        shutil.rmtree(staging)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / INFO_FILE).write_text(json.dumps(info, indent=1))
    _replace_directory(staging, final)
    resume_path.unlink(missing_ok=True)
    return PretrainReport(kind, profile, final, False, metrics, info)


_CORPUS_CACHE: dict[tuple, Corpus] = {}


def registry_corpus(settings: PretrainSettings, seed: int = 0) -> Corpus:
    """The corpus of :func:`load_corpus_tables` for these settings, built once per process."""
    key = (settings.crop_length, settings.max_train_per_dataset, settings.n_valid, seed)
    if key not in _CORPUS_CACHE:
        _CORPUS_CACHE[key] = build_corpus(load_corpus_tables(), crop_length=settings.crop_length,
                                          max_train_per_dataset=settings.max_train_per_dataset,
                                          n_valid=settings.n_valid, seed=seed, train_sources=corpus_sources())
    return _CORPUS_CACHE[key]


def _pretrain_in_worker(kind: str, threads: int, **kwargs) -> PretrainReport:
    import torch

    torch.set_num_threads(threads)
    return pretrain_teaching_glm(kind, **kwargs)


def pretrain_all(profile: str = "demo", *, seed: int = 0, progress: bool = True,
                 out_dir: str | os.PathLike | None = None, jobs: int = 1) -> pd.DataFrame:
    """Train (or reuse) both teaching gLMs and tabulate their held-out metrics.

    Parameters
    ----------
    profile, seed, progress, out_dir
        As in :func:`pretrain_teaching_glm`.
    jobs : int
        1: one model after the other in this process.  2 or more: each model in
        its own process, side by side, on the CPU cores divided among the jobs
        (on 2 cores two one-thread runs finish sooner than two two-thread runs
        in turn, see ``benchmarks/pretrain_jobs.py``).  Each process reads the
        corpus itself.

    Returns
    -------
    pandas.DataFrame
        One row per model and metric: ``model``, ``control``, ``metric``,
        ``pretrained``, ``random_init``.
    """
    settings = dict(profile=profile, seed=seed, progress=progress, out_dir=out_dir)
    if positive_int(jobs, "jobs") == 1:
        reports = [pretrain_teaching_glm(kind, **settings) for kind in KINDS]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn: a fresh interpreter per model, never a fork of a process whose torch threads are running
        workers = min(jobs, len(KINDS))
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            reports = list(pool.map(functools.partial(_pretrain_in_worker, threads=threads, **settings), KINDS))
    return pd.concat([report.table() for report in reports], ignore_index=True)
