"""The representation ladder shared by every supervised chapter.

One task = one :class:`~glmeval_utils.data.splits.TaskData` (sequences, targets
and groups per split).  For each gLM the ladder trains, on frozen embeddings
from the cache (:mod:`glmeval_utils.embeddings`):

* CLS (where the model has one) and mean embeddings → linear and MLP probes;
* per-position embeddings (the ``"full"`` rung) → a CNN probe: one row per
  token for k-mer/BPE models, as in the reference study, one row per
  nucleotide for one-token-per-base models
  (:func:`glmeval_utils.embeddings.position_pooling`);

and, on the same splits, one-hot baselines (CNN, ResNet, MPRAnn or the
binary CNN) and, for binary tasks, composition baselines.  Every trained
model contributes its validation and test predictions as tidy rows
(:mod:`glmeval_utils.predictions`), labelled with the model's role; the
choice among configurations is left to :mod:`glmeval_utils.eval.select`.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from glmeval_utils import embeddings
from glmeval_utils.data.splits import TaskData
from glmeval_utils.devices import reduced_precision
from glmeval_utils.learn.baselines import OneHotEstimator, composition_features
from glmeval_utils.learn.probes import CNNProbe, LinearProbe, MLPProbe, score_outputs
from glmeval_utils.models.registry import role_of
from glmeval_utils.predictions import COMPOSITION, COMPOSITION_MODEL, ONE_HOT, ONEHOT_MODEL, SPLITS
from glmeval_utils.profiles import Profile, get_profile


def _training_kwargs(profile: Profile, seed: int, device) -> dict:
    # no per-epoch bars: one per model and seed would bury a chapter's output
    return dict(max_epochs=profile.max_epochs, patience=profile.patience,
                lr_patience=profile.lr_patience, random_state=seed, device=device,
                progress=False)


#: one-hot baselines train on random reverse complements and average both strands: their demo
#: validation loss was erratic without it (lentiMPRA, 6,400 rows: valid r 0.36-0.42 across
#: seeds without, 0.43-0.44 with).  Every caller builds them through :func:`onehot_estimator`.
ONEHOT_RC_AUGMENT = True


def onehot_estimator(architecture: str, kind: str, *, profile: str | Profile = "demo", seed: int = 0,
                     device=None) -> OneHotEstimator:
    """The one-hot baseline of ``architecture`` as every chapter trains it (same settings, same cache key).

    Parameters
    ----------
    architecture : {"cnn", "resnet", "mprann", "binary_cnn"}
    kind : {"regression", "binary"}
    profile : str or Profile
        Epochs, patience and width.
    seed : int
    device : str, optional
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    return OneHotEstimator(architecture, kind, rc_augment=ONEHOT_RC_AUGMENT, width_factor=profile.width_factor,
                           **_training_kwargs(profile, seed, device))


def cnn_probe(kind: str, architecture: str = "rep_cnn", *, profile: str | Profile = "demo", seed: int = 0,
              device=None) -> CNNProbe:
    """The CNN probe on per-position embeddings as the ladder trains it (shared by chapter 7)."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    return CNNProbe(kind, architecture=architecture, reduce_dim=profile.reduce_dim,
                    width_factor=profile.width_factor, **_training_kwargs(profile, seed, device))


def onehot_baselines(data: TaskData, architectures: Iterable[str], *, profile: str | Profile = "demo",
                     seeds: Sequence[int] | None = None, device=None, fits: list | None = None,
                     progress: bool = True) -> pd.DataFrame:
    """Train one-hot baselines on the task's splits; return their valid and test prediction rows.

    Parameters
    ----------
    data : TaskData
    architectures : iterable of {"cnn", "resnet", "mprann", "binary_cnn"}
    profile : str or Profile
        Supplies epochs, patience and (unless given) seeds.
    seeds : sequence of int, optional
    device : str, optional
    fits : list, optional
        Given, one record per fit is appended to it: ``dataset, architecture,
        seed, best_epoch, epochs, seconds`` (see :func:`stalled_fits`).
    progress : bool
        One bar over the (architecture, seed) fits.

    Returns
    -------
    DataFrame
        Prediction rows with ``model="one-hot"`` (role one-hot),
        ``representation="onehot"`` and ``probe`` = the architecture.
    """
    from tqdm.auto import tqdm

    profile = get_profile(profile) if isinstance(profile, str) else profile
    jobs = [(architecture, seed) for architecture in architectures
            for seed in (seeds if seeds is not None else profile.seeds)]
    rows = []
    for architecture, seed in tqdm(jobs, desc=f"{data.dataset}: one-hot baselines", disable=not progress):
        estimator = onehot_estimator(architecture, data.kind, profile=profile, seed=seed, device=device)
        estimator.fit(data.seqs["train"], data.y["train"], data.seqs["valid"], data.y["valid"])
        if fits is not None:
            history = estimator.history_
            fits.append({"dataset": data.dataset, "architecture": architecture, "seed": seed,
                         "best_epoch": history.best_epoch, "epochs": history.n_epochs, "seconds": history.seconds})
        rows.append(data.predictions_of(estimator.predict, model=ONEHOT_MODEL, role=ONE_HOT,
                                        representation="onehot", probe=architecture, seed=seed))
    return pd.concat(rows, ignore_index=True)


def stalled_fits(fits) -> pd.DataFrame:
    """Fits whose validation loss never beat their first epoch (``best_epoch == 0``).

    Such a baseline stopped learning where it started: a yardstick that
    failed silently would make every gLM look good, so chapters name them.

    Parameters
    ----------
    fits : list of dict or DataFrame
        Records of :func:`onehot_baselines` (``fits=``).

    Returns
    -------
    DataFrame
        The stalled records (same columns), possibly empty.
    """
    table = pd.DataFrame(fits, columns=["dataset", "architecture", "seed", "best_epoch", "epochs", "seconds"])
    return table[table["best_epoch"] == 0].reset_index(drop=True)


def composition_baselines(data: TaskData, *, ks: Sequence[int] = (1, 2),
                          probes: Sequence[str] = ("linear", "mlp"), profile: str | Profile = "demo",
                          seeds: Sequence[int] | None = None, device=None) -> pd.DataFrame:
    """Mono- (k=1) and dinucleotide (k=2) composition → linear / MLP probes.

    Shows how much of a task is sequence composition alone (the GUE
    negatives are mononucleotide shuffles; the eCLIP negatives differ in GC).
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    names = {1: "mononucleotide", 2: "dinucleotide"}
    features = {split: {k: composition_features(data.seqs[split], k=k) for k in ks} for split in SPLITS}
    rows = []
    for k in ks:
        X = {split: features[split][k] for split in SPLITS}
        rows.append(_fit_pooled_probes(data, X, probes=probes, profile=profile, seeds=seeds,
                                       model=COMPOSITION_MODEL, role=COMPOSITION, representation=names[k],
                                       device=device))
    return pd.concat(rows, ignore_index=True)


def _fit_pooled_probes(data: TaskData, X: dict, *, probes, profile: Profile, seeds, model: str, role: str,
                       representation: str, device) -> pd.DataFrame:
    rows = []
    for probe in probes:
        # a linear probe is deterministic given the data: one fit serves every seed
        probe_seeds = [0] if probe == "linear" else (seeds if seeds is not None else profile.seeds)
        for seed in probe_seeds:
            if probe == "linear":
                estimator = LinearProbe(data.kind, random_state=seed)
            elif probe == "mlp":
                estimator = _mlp_probe(data, profile, seed, device)
            else:
                raise ValueError(f"pooled probes are 'linear' or 'mlp', got {probe!r}")
            estimator.fit(X["train"], data.y["train"], X["valid"], data.y["valid"])
            rows.append(data.predictions_of(estimator.predict, X, model=model, role=role,
                                            representation=representation, probe=probe, seed=seed))
    return pd.concat(rows, ignore_index=True)


def _mlp_probe(data: TaskData, profile: Profile, seed: int, device, *,
               whiten: bool = True) -> MLPProbe:
    return MLPProbe(data.kind, width_factor=profile.width_factor, lr=profile.mlp_lr, whiten=whiten,
                    **_training_kwargs(profile, seed, device))


def mlp_whitening_check(X: dict, data: TaskData, *, profile: str | Profile = "demo",
                        seeds: Sequence[int] | None = None, device=None,
                        whitened_predictions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Validation score of the MLP probe with and without PCA whitening of its input, per seed.

    Whitening is a configuration choice, so it is judged on the validation
    split like every other one (the test split stays for the reported number).

    Parameters
    ----------
    X : dict split -> array ``(N, H)``
        Pooled embeddings (e.g. from :func:`split_embeddings`).
    data : TaskData
    profile, seeds, device
        As in :func:`glm_ladder`.
    whitened_predictions : DataFrame, optional
        Prediction rows of the whitened MLP already trained on ``X`` with
        these settings (the ladder's ``mean -> mlp`` rows); given, the
        whitened side is scored from their validation rows instead of refitted.

    Returns
    -------
    DataFrame
        Columns ``whiten`` (bool), ``seed`` and ``score`` (validation Pearson r
        for regression, AUROC for binary tasks).
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    seeds = tuple(seeds if seeds is not None else profile.seeds)
    rows = []
    for whiten in (False, True):
        if whiten and whitened_predictions is not None:
            valid = whitened_predictions[whitened_predictions["split"] == "valid"]
            for seed, part in valid.groupby("seed", sort=True):
                rows.append({"whiten": True, "seed": seed,
                             "score": score_outputs(part.y_true, part.y_score, data.kind)})
            continue
        for seed in seeds:
            probe = _mlp_probe(data, profile, seed, device, whiten=whiten)
            probe.fit(X["train"], data.y["train"], X["valid"], data.y["valid"])
            rows.append({"whiten": whiten, "seed": seed,
                         "score": probe.score(X["valid"], data.y["valid"])})
    return pd.DataFrame(rows)


def _split_views(array, data: TaskData) -> dict:
    """Train/valid/test views of an embedding array ordered like :attr:`TaskData.all_seqs`."""
    return {split: array[rows] for split, rows in data.split_rows().items()}


def split_embeddings(glm, data: TaskData, *, representation: str, layer: int = -1,
                     mean_from_full: bool = False, strands: str = "fwd", batch_size: int | None = None,
                     cache_dir=None, progress: bool = True) -> dict:
    """Cached embeddings of a task's sequences, per split.

    Parameters
    ----------
    glm : models.GLM
    data : TaskData
    representation : {"cls", "mean", "full"}
        ``"full"`` is the per-position embedding the CNN probe reads, pooled
        as :func:`glmeval_utils.embeddings.position_pooling` says: token rows
        (``"tokens"``) for k-mer/BPE models, nucleotide rows (``"full"``)
        otherwise.
    layer : int
        Hidden state (``-1`` = last).
    mean_from_full : bool
        Take ``"mean"`` as the average of the cached per-position embedding
        over each sequence's own rows (no forward pass of its own).  Either
        way that is mean pooling over non-special tokens, up to the float16
        rounding of the cache.
    strands, batch_size, cache_dir, progress
        Passed to :func:`glmeval_utils.embeddings.extract`.

    Returns
    -------
    dict of split → array
        ``"full"``: read-only memory-mapped float16 views, ``(N, L, H)``
        nucleotide rows or ``(N, T, H)`` token rows (zero past a sequence's
        token count); ``"cls"`` / ``"mean"``: float32 ``(N, H)`` arrays.
    """
    per_position = embeddings.position_pooling(glm)
    derived = mean_from_full and representation == "mean"
    pooling = per_position if representation == "full" or derived else representation
    with reduced_precision():  # probe inputs: bf16 where the CPU has it (see devices.reduced_precision)
        cached = embeddings.extract(glm, data.all_seqs, layers=(layer,), pooling=pooling, strands=strands,
                                    batch_size=batch_size, cache_dir=cache_dir, label=data.dataset,
                                    progress=progress)
    views = _split_views(cached.layer(layer), data)
    if representation == "full":
        return views
    if pooling == "full":
        return {split: np.asarray(values, dtype=np.float32).mean(axis=1) for split, values in views.items()}
    if pooling == "tokens":  # padding rows are zero: sum every row, divide by the sequence's own count
        counts = _split_views(cached.token_counts(), data)
        return {split: np.asarray(values, dtype=np.float32).sum(axis=1) / counts[split][:, None]
                for split, values in views.items()}
    return {split: np.asarray(values, dtype=np.float32) for split, values in views.items()}


def derives_mean(profile: Profile, representations: Sequence[str],
                 mean_from_full: bool | None = None) -> bool:
    """Whether :func:`glm_ladder` derives its ``"mean"`` rung from the cached per-position embedding.

    True when both rungs are requested and ``mean_from_full`` (``None``: the
    profile's setting) allows it; pass the result to :func:`split_embeddings`
    to read the ladder's mean embedding from the same cache entry.
    """
    if mean_from_full is None:
        mean_from_full = profile.mean_from_full
    return bool(mean_from_full and "mean" in representations and "full" in representations)


def glm_ladder(glm, data: TaskData, *, profile: str | Profile = "demo", layer: int = -1,
               representations: Sequence[str] = ("cls", "mean", "full"),
               pooled_probes: Sequence[str] = ("linear", "mlp"), cnn_architecture: str = "rep_cnn",
               seeds: Sequence[int] | None = None, strands: str = "fwd", batch_size: int | None = None,
               mean_from_full: bool | None = None, device=None, cache_dir=None,
               progress: bool = True) -> pd.DataFrame:
    """The probe ladder for one gLM on one task; returns test prediction rows.

    Parameters
    ----------
    glm : models.GLM
    data : TaskData
    profile : str or Profile
    layer : int
        Hidden state to probe (``-1`` = last).
    representations : sequence of {"cls", "mean", "full"}
        ``"cls"`` is skipped for models without a CLS token.
    pooled_probes : sequence of {"linear", "mlp"}
        Probes on CLS / mean embeddings.
    cnn_architecture : {"rep_cnn", "chip_cnn"}
        CNN probe on the per-position embeddings: token rows for k-mer/BPE
        models, nucleotide rows otherwise (see :func:`split_embeddings`).
    seeds : sequence of int, optional
        Defaults to the profile's seeds.
    strands : {"fwd", "both"}
    batch_size : int
        Embedding batch size.
    mean_from_full : bool, optional
        When both ``"mean"`` and ``"full"`` are requested, derive the mean
        from the cached per-position embedding (see :func:`split_embeddings`):
        one forward pass serves both rungs.  ``None``: the profile's setting.
    device, cache_dir
        Passed to the embedding extraction and the probes.
    progress : bool
        Progress bar of the embedding extraction (training runs quietly).

    Returns
    -------
    DataFrame
        Valid and test prediction rows; ``model`` is ``glm.name``, ``role``
        its role (:func:`glmeval_utils.models.registry.role_of`).
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    role = role_of(glm)
    derive_mean = derives_mean(profile, representations, mean_from_full)
    # the full embedding goes first so a derived mean reads it from the cache
    order = sorted(representations, key=lambda r: r != "full") if derive_mean else representations
    rows = []
    for representation in order:
        if representation == "cls" and not glm.has_cls:
            continue
        X = split_embeddings(glm, data, representation=representation, layer=layer,
                             mean_from_full=derive_mean, strands=strands, batch_size=batch_size,
                             cache_dir=cache_dir, progress=progress)
        if representation == "full":
            for seed in seeds if seeds is not None else profile.seeds:
                probe = cnn_probe(data.kind, cnn_architecture, profile=profile, seed=seed, device=device)
                probe.fit(X["train"], data.y["train"], X["valid"], data.y["valid"])
                rows.append(data.predictions_of(probe.predict, X, model=glm.name, role=role,
                                                representation="full", probe="cnn", seed=seed))
        else:
            rows.append(_fit_pooled_probes(data, X, probes=pooled_probes, profile=profile,
                                           seeds=seeds, model=glm.name, role=role,
                                           representation=representation, device=device))
    return pd.concat(rows, ignore_index=True)


def layer_sweep(glm, data: TaskData, *, probe: str = "linear", pooling: str = "mean",
                profile: str | Profile = "demo", seeds: Sequence[int] | None = None,
                batch_size: int | None = None, device=None, cache_dir=None,
                progress: bool = True) -> pd.DataFrame:
    """Probe every hidden state (0 = token embeddings … n_layers = last) from one extraction.

    Returns prediction rows whose ``representation`` is ``"<pooling>@L<k>"``
    (see :func:`layer_of`).
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    with reduced_precision():
        cached = embeddings.extract(glm, data.all_seqs, layers="all", pooling=pooling,
                                    batch_size=batch_size, cache_dir=cache_dir, label=data.dataset,
                                    progress=progress)
    rows = []
    for layer in cached.layers:
        X = {split: np.asarray(values) for split, values in _split_views(cached.layer(layer), data).items()}
        rows.append(_fit_pooled_probes(data, X, probes=[probe], profile=profile, seeds=seeds,
                                       model=glm.name, role=role_of(glm), representation=f"{pooling}@L{layer}",
                                       device=device))
    return pd.concat(rows, ignore_index=True)


def layer_of(representation: str) -> int | None:
    """The layer index encoded by :func:`layer_sweep` (``"mean@L3"`` → 3), else None."""
    if "@L" not in representation:
        return None
    return int(representation.rsplit("@L", 1)[1])
