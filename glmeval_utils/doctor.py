"""``python -m glmeval_utils doctor``: load every gLM of a profile and check that it works.

The first command to run on a new machine (a Colab GPU, a lent accelerator).
For each model :func:`run_doctor` loads it with
:func:`glmeval_utils.models.load_glm`, embeds two seeded random sequences and
scores them with the language-model head, and returns one table row:

* **embed OK**: mean-pooled embeddings of every hidden state are finite with
  shape ``(2, n_layers + 1, hidden_size)``; per-nucleotide (``"full"``)
  embeddings of the last layer are finite with shape ``(2, 1, L, hidden_size)``;
  and each sequence embeds the same alone as in a padded batch with a shorter
  one (so padding and batching cannot leak into the numbers).
* **LLR OK**: for masked LMs, ``masked_log_probs`` rows are log-distributions
  over A, C, G, T (logsumexp 0) without NaN, the observed base finite (``-inf``
  only where documented: a base no BPE token can show); for causal LMs,
  ``token_log_probs`` are finite log-probabilities except the documented NaN
  of the first base; ``"n/a (no LM head)"`` for backbones without a head.
* **fine-tune OK**: one LoRA step (:class:`glmeval_utils.learn.finetune.FineTunedGLM`
  with the family's :data:`~glmeval_utils.learn.finetune.FINE_TUNING` settings,
  one batch of the two sequences) trains: adapters sit on the family's target
  modules, only they and the head are trainable, the loss and predictions
  are finite and the adapters moved; ``"n/a (no fine-tuning settings)"`` for
  families without settings (GPN, Caduceus).

Models given a local folder (``--path NAME=FOLDER``) run the folder's own
Python code (an ``auto_map``, as DNABERT-2, NT v2 and HyenaDNA checkpoints
ship) only with ``--trust-remote-code`` (``trust_remote_code=True``); without
it such a folder fails to load, and its row names the folder and the modules.

A model that fails to load or fails a check keeps its row, with the reason in
one line under ``problem``; the other models still run.  :func:`main` prints
the table and raises :class:`DoctorFailed` when any row failed, which the
command line turns into exit status 1.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: Nucleotides per test sequence: the length of the paper's lentiMPRA elements.
SEQUENCE_LENGTH = 230
#: Masked positions scored per sequence, spread evenly from the first to the last base.
N_MASKED_POSITIONS = 5
#: Largest accepted ``||alone - batched|| / ||alone||`` per sequence and layer.  CUDA
#: embeds under bf16/fp16 autocast (8 or 11 mantissa bits), where the batch shape alone
#: changes the kernels and hence the rounding, compounded over the layers; padding that
#: leaks into a sequence's states (a third of the shorter row is padding here) moves them by
#: more than either bound.
PADDING_TOLERANCE = {"cpu": 1e-3, "cuda": 5e-2}
#: A masked LM's rows must satisfy ``|logsumexp| < LOGSUMEXP_TOLERANCE``.
LOGSUMEXP_TOLERANCE = 1e-3
#: Longest ``problem`` message kept in the table (one line).
MAX_MESSAGE = 300
NOT_RUN = "–"
NO_HEAD = "n/a (no LM head)"
NO_FINE_TUNING = "n/a (no fine-tuning settings)"


class DoctorFailed(RuntimeError):
    """At least one gLM failed to load or failed a check."""


def models_to_check(profile: str = "full", *, models=None, all_models: bool = False) -> list[str]:
    """The registry names the doctor checks.

    Parameters
    ----------
    profile : {"smoke", "demo", "full"}
        By default the profile's ``models`` (what the chapters load).
    models : sequence of str or str, optional
        Explicit names (a comma-separated string is split); overrides the profile.
    all_models : bool
        Every registry entry of the profile's tier
        (:func:`glmeval_utils.models.list_glms`), random-init controls included.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        For unknown names (the message lists the known ones), or when both
        ``models`` and ``all_models`` are given.
    """
    from glmeval_utils.models.registry import REGISTRY, checkpoint_of, list_glms
    from glmeval_utils.profiles import get_profile

    if models is not None and all_models:
        raise ValueError("give either explicit models or all_models, not both")
    if isinstance(models, str):
        models = [name.strip() for name in models.split(",") if name.strip()]
    if models is not None:
        names = list(dict.fromkeys(models))
        if not names:
            raise ValueError("no models named; pass e.g. --models teaching-mlm,dnabert2")
    else:
        names = list_glms(profile) if all_models else list(get_profile(profile).models)
    unknown = [name for name in names if name not in REGISTRY and checkpoint_of(name) is None]
    if unknown:
        raise ValueError(f"unknown gLM {', '.join(map(repr, unknown))}; known gLMs: {', '.join(REGISTRY)}")
    return names


def parse_paths(assignments, names) -> dict[str, Path]:
    """Turn ``NAME=FOLDER`` strings into a mapping for :func:`run_doctor`.

    Parameters
    ----------
    assignments : sequence of str
        Each ``"registry-name=folder"``.
    names : sequence of str
        The models being checked; every assigned name must be one of them.

    Returns
    -------
    dict of str to Path

    Raises
    ------
    ValueError
        For a string without ``=``, a name given twice, or a name that is not checked.
    """
    paths = {}
    for assignment in assignments:
        name, separator, folder = assignment.partition("=")
        name, folder = name.strip(), folder.strip()
        if not separator or not name or not folder:
            raise ValueError(f"--path {assignment!r} is not NAME=FOLDER (e.g. dnabert2=/content/DNABERT-2-117M)")
        if name in paths:
            raise ValueError(f"--path gives gLM {name!r} twice")
        if name not in names:
            raise ValueError(f"--path names gLM {name!r}, which is not among the models checked "
                             f"({', '.join(names)}); add it with --models")
        paths[name] = Path(folder).expanduser()
    return paths


def random_sequences(n: int, length: int, *, seed: int = 0) -> list[str]:
    """``n`` uniform random ``ACGT`` sequences of ``length`` nucleotides (seeded)."""
    rng = np.random.default_rng(seed)
    return ["".join(row) for row in rng.choice(list("ACGT"), size=(n, length))]


def run_doctor(names, *, paths=None, device=None, length: int = SEQUENCE_LENGTH, seed: int = 0,
               progress: bool = True, trust_remote_code: bool = False) -> pd.DataFrame:
    """Load and check each gLM in turn; one row per model.

    Parameters
    ----------
    names : sequence of str
        Registry names (:func:`models_to_check`).
    paths : dict of str to path-like, optional
        Load these entries from a local ``save_pretrained`` folder
        (``load_glm(name, path=folder)``) instead of the hub or cache.
    device : str or torch.device, optional
        None or ``"auto"``: CUDA when available.
    length : int
        Nucleotides per test sequence.
    seed : int
        Seed of the two random test sequences.
    progress : bool
        Print one line per model to stderr as it finishes.
    trust_remote_code : bool
        Let the folders of ``paths`` run their own Python code
        (``load_glm(..., trust_remote_code=True)``); registry locations keep
        their declared setting.

    Returns
    -------
    pandas.DataFrame
        Columns ``model``, ``revision`` (as loaded: hub commit or weights
        digest), ``layers``, ``hidden size``, ``tokens per <length> nt``
        (specials included), ``embed OK``, ``LLR OK`` (``"yes"``, ``"no"``,
        ``"n/a (no LM head)"`` or ``"–"`` when not reached), ``fine-tune OK``
        (``"yes"``, ``"no"``, ``"n/a (no fine-tuning settings)"`` or ``"–"``), ``seconds``
        (load and checks), ``GPU memory`` (peak allocated on CUDA, else ``"–"``)
        and ``problem`` (empty when every check passed).
    """
    from glmeval_utils.devices import resolve_device

    if length < 2:
        raise ValueError(f"length must be at least 2 nt (the padding check pairs it with a shorter one), got {length}")
    device = resolve_device(device)
    paths = paths or {}
    sequences = random_sequences(2, length, seed=seed)
    rows = []
    for index, name in enumerate(names, start=1):
        row = check_glm(name, sequences, path=paths.get(name), device=device, trust_remote_code=trust_remote_code)
        rows.append(row)
        if progress:
            verdict = "OK" if not row["problem"] else f"FAILED: {row['problem']}"
            print(f"[{index}/{len(names)}] {name}: {verdict} ({row['seconds']:.1f} s)", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    for column in ("layers", "hidden size", "tokens"):
        table[column] = table[column].astype("Int64")
    return table.rename(columns={"tokens": f"tokens per {length} nt"})


def check_glm(name: str, sequences, *, path=None, device=None, trust_remote_code: bool = False) -> dict:
    """Load one gLM and run the embedding and likelihood checks on ``sequences``.

    Parameters
    ----------
    name : str
        Registry name.
    sequences : list of str
        Two or more ``ACGT`` sequences of one length ``L``.
    path : path-like, optional
        Local checkpoint folder passed to ``load_glm(..., path=)``.
    device : torch.device, optional
    trust_remote_code : bool
        Let ``path`` run its own Python code (ignored without ``path``).

    Returns
    -------
    dict
        One row of :func:`run_doctor`'s table (column ``tokens`` not yet
        renamed); failures never raise, they fill ``problem``.
    """
    import torch

    from glmeval_utils.devices import resolve_device
    from glmeval_utils.learn.finetune import FINE_TUNING
    from glmeval_utils.models import load_glm

    device = resolve_device(device)
    on_cuda = device.type == "cuda"
    row = {"model": name, "revision": NOT_RUN, "layers": None, "hidden size": None, "tokens": None,
           "embed OK": NOT_RUN, "LLR OK": NOT_RUN, "fine-tune OK": NOT_RUN, "seconds": 0.0, "GPU memory": NOT_RUN,
           "problem": ""}
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    glm = None
    try:
        glm = load_glm(name, device=device, path=path, trust_remote_code=trust_remote_code and path is not None)
    except Exception as error:  # one model's failure must not stop the others
        row["problem"] = f"load: {_load_message(name, path, error)}"
    else:
        row.update(revision=str(glm.revision), layers=glm.n_layers, **{"hidden size": glm.hidden_size})
        problems = []
        try:
            row["tokens"] = int(glm.tokenize(sequences[:1]).attention_mask.sum())
        except Exception as error:  # a tokenizer failure is reported, the checks still run
            problems.append(f"tokenize: {_one_line(error)}")
        embed_problems = _guarded(_embedding_problems, glm, sequences, device)
        row["embed OK"] = "no" if embed_problems else "yes"
        problems += [f"embed: {problem}" for problem in embed_problems]
        if glm.objective is None:
            row["LLR OK"] = NO_HEAD
        else:
            llr_problems = _guarded(_likelihood_problems, glm, sequences)
            row["LLR OK"] = "no" if llr_problems else "yes"
            problems += [f"LLR: {problem}" for problem in llr_problems]
        if glm.family not in FINE_TUNING:
            row["fine-tune OK"] = NO_FINE_TUNING
        else:
            tuning_problems = _guarded(_fine_tuning_problems, glm, sequences, device)
            row["fine-tune OK"] = "no" if tuning_problems else "yes"
            problems += [f"fine-tune: {problem}" for problem in tuning_problems]
        row["problem"] = "; ".join(problems)
    finally:
        row["seconds"] = round(time.perf_counter() - start, 2)
        if on_cuda:
            row["GPU memory"] = f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
        # Free the weights before the next (possibly 10 GB) model is loaded.
        del glm
        gc.collect()
        if on_cuda:
            torch.cuda.empty_cache()
    return row


def _guarded(check, *args) -> list[str]:
    """The problems ``check(*args)`` reports, or its exception as the one problem."""
    try:
        return check(*args)
    except Exception as error:
        return [_one_line(error)]


def _embedding_problems(glm, sequences, device) -> list[str]:
    """Shape, finiteness and padding-invariance problems of ``glm.embed`` (empty = OK)."""
    problems = []
    n_states, hidden, length = glm.n_layers + 1, glm.hidden_size, len(sequences[0])
    pooled = glm.embed(sequences, layers="all", pooling="mean", progress=False)
    problems += _array_problems("mean embedding (all layers)", pooled, (len(sequences), n_states, hidden))
    full = glm.embed(sequences, layers=-1, pooling="full", progress=False)
    problems += _array_problems("full embedding (last layer)", full, (len(sequences), 1, length, hidden))
    # A shorter partner makes the batch padded (for all but equal-length families).
    batch = [sequences[0], sequences[1][: max(1, 2 * length // 3)]]
    batched = glm.embed(batch, layers="all", pooling="mean", batch_size=len(batch), progress=False)
    alone = np.concatenate([glm.embed([seq], layers="all", pooling="mean", progress=False) for seq in batch])
    if batched.shape != alone.shape:
        problems.append(f"batched embedding has shape {batched.shape}, alone {alone.shape}")
        return problems
    difference = np.linalg.norm(batched - alone, axis=-1) / np.maximum(np.linalg.norm(alone, axis=-1), 1e-12)
    tolerance = PADDING_TOLERANCE["cuda" if device.type == "cuda" else "cpu"]
    worst = float(np.nanmax(difference)) if np.isfinite(difference).any() else float("nan")
    if not worst <= tolerance:
        problems.append(f"a sequence embeds differently alone and in a padded batch (relative difference "
                        f"{worst:.2g} > {tolerance:g})")
    return problems


def _likelihood_problems(glm, sequences) -> list[str]:
    """Problems of the LM head's log-probabilities on ``sequences`` (empty = OK)."""
    problems = []
    if glm.objective == "masked":
        for index, seq in enumerate(sequences):
            label = f"masked_log_probs of sequence {index}"
            positions = np.unique(np.linspace(0, len(seq) - 1, N_MASKED_POSITIONS).round().astype(int))
            log_probs = glm.masked_log_probs(seq, positions)
            if log_probs.shape != (len(positions), 4):
                problems.append(f"{label} has shape {log_probs.shape}, expected {(len(positions), 4)}")
                continue
            # -inf is documented (a base no BPE token can show there); NaN and +inf never are.
            bad = int((np.isnan(log_probs) | np.isposinf(log_probs)).sum())
            reference = log_probs[np.arange(len(positions)), ["ACGT".index(seq[p]) for p in positions]]
            total = np.abs(np.logaddexp.reduce(log_probs, axis=1))
            if bad:
                problems.append(f"{label} has {bad} NaN or +inf values")
            elif not np.isfinite(reference).all():
                problems.append(f"{label}: the observed base has probability 0")
            elif not (total <= LOGSUMEXP_TOLERANCE).all():
                problems.append(f"{label}: rows are not log-distributions (|logsumexp| up to {total.max():.2g})")
    else:
        for index, (seq, scores) in enumerate(zip(sequences, glm.token_log_probs(sequences))):
            label = f"token_log_probs of sequence {index}"
            if scores.shape != (len(seq),):
                problems.append(f"{label} has shape {scores.shape}, expected {(len(seq),)}")
                continue
            # The first base may be NaN: without a BOS token it has no context (documented).
            bad = ~np.isfinite(scores)
            bad[0] = np.isinf(scores[0])
            if bad.any():
                problems.append(f"{label} has {int(bad.sum())} non-finite values")
            elif (scores[np.isfinite(scores)] > 1e-6).any():
                problems.append(f"{label}: log-probabilities above 0")
    return problems


def _fine_tuning_problems(glm, sequences, device) -> list[str]:
    """Problems of one LoRA step on ``sequences`` (one batch, one epoch; empty = OK)."""
    from glmeval_utils.learn.finetune import FineTunedGLM, fine_tuning_settings

    targets = np.arange(len(sequences), dtype=np.float32)
    estimator = FineTunedGLM(glm, "regression", method="lora", batch_size=len(sequences), max_epochs=1,
                             device=device, progress=False)
    estimator.fit(sequences, targets, sequences, targets)
    problems = []
    wanted = fine_tuning_settings(glm.family).target_modules
    adapted = {name.rsplit(".", 1)[-1] for name, module in estimator.model_.named_modules()
               if hasattr(module, "lora_A")}
    if adapted != set(wanted):
        problems.append(f"LoRA adapters on {sorted(adapted)}, expected {sorted(wanted)}")
    trainable = {name for name, weight in estimator.model_.named_parameters() if weight.requires_grad}
    frozen_trained = sorted(n for n in trainable if "lora_" not in n and not n.startswith("head."))
    if frozen_trained:
        problems.append(f"{len(frozen_trained)} pretrained weights are trainable, e.g. {frozen_trained[0]}")
    if not np.isfinite(estimator.history_.train_loss).all():
        problems.append(f"training loss {estimator.history_.train_loss}")
    if not np.isfinite(estimator.predict(sequences)).all():
        problems.append("non-finite predictions")
    moved = any(float(weight.detach().abs().sum()) > 0 for name, weight in estimator.model_.named_parameters()
                if "lora_B" in name)
    if not moved:
        problems.append("the adapters did not move in one step")
    return problems


def _array_problems(label, array, expected_shape) -> list[str]:
    if array.shape != tuple(expected_shape):
        return [f"{label} has shape {array.shape}, expected {tuple(expected_shape)}"]
    bad = int((~np.isfinite(array)).sum())
    return [f"{label} has {bad} non-finite values"] if bad else []


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "(no message)"
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1] + "…"
    return f"{type(error).__name__}: {text}"


def _load_message(name, path, error) -> str:
    """One line for a load failure; a hub checkpoint missing offline and a folder with code get plain explanations."""
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    from glmeval_utils.models.families import UntrustedCodeError
    from glmeval_utils.models.registry import REGISTRY

    if isinstance(error, UntrustedCodeError):
        listed = "; ".join(f"{file} auto_map → {', '.join(names)}" for file, names in error.modules.items())
        return (f"code not run: {error.folder} ships its own Python code ({listed}); rerun with "
                "--trust-remote-code if you trust it")
    spec = REGISTRY.get(name)
    if path is None and spec is not None and spec.source == "hub" and _caused_by(error, LocalEntryNotFoundError):
        reason = "HF_HUB_OFFLINE=1" if constants.HF_HUB_OFFLINE else "the hub is unreachable (no network)"
        return (f"not downloaded: {spec.model_id} is not in the Hugging Face cache and {reason} "
                f"(download it with network, or pass --path {name}=FOLDER)")
    return _one_line(error)


def _caused_by(error, kind) -> bool:
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kind):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def format_table(table: pd.DataFrame) -> str:
    """The doctor's table as printed: no index, every column left-aligned, ``–`` for values not measured."""
    cells = table.astype(object).where(table.notna(), NOT_RUN)
    cells["seconds"] = [f"{seconds:.2f}" for seconds in table["seconds"]]
    cells = cells.astype(str)
    # pandas right-aligns cells; padding each to its column's width left-aligns them under the headers.
    for column in cells.columns:
        cells[column] = cells[column].str.ljust(max(len(column), *cells[column].str.len()))
    return "\n".join(line.rstrip() for line in cells.to_string(index=False, justify="left").splitlines())


def main(profile: str = "full", *, models=None, paths=(), device=None, all_models: bool = False,
         length: int = SEQUENCE_LENGTH, seed: int = 0, trust_remote_code: bool = False) -> pd.DataFrame:
    """Check the gLMs of a profile, print the table, fail loudly if any failed.

    Parameters
    ----------
    profile, models, all_models
        Which models (:func:`models_to_check`).
    paths : sequence of str
        ``NAME=FOLDER`` assignments (:func:`parse_paths`).
    device : str, optional
    length, seed
        Test sequences (:func:`run_doctor`).
    trust_remote_code : bool
        Let the ``paths`` folders run their own Python code (``--trust-remote-code``).

    Returns
    -------
    pandas.DataFrame
        The table, when every model passed.

    Raises
    ------
    DoctorFailed
        After printing the table, naming the models that failed.
    ValueError
        For unknown model names or malformed ``paths``.
    """
    names = models_to_check(profile, models=models, all_models=all_models)
    folders = parse_paths(paths, names)
    table = run_doctor(names, paths=folders, device=device, length=length, seed=seed,
                       trust_remote_code=trust_remote_code)
    print(format_table(table), flush=True)
    failed = table.loc[table["problem"] != "", "model"].tolist()
    if failed:
        raise DoctorFailed(f"{len(failed)} of {len(table)} gLMs failed the check: {', '.join(failed)}")
    return table
