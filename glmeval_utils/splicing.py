"""Alternative splicing: the paper's tissue-specific PSI task and its offline stand-ins.

**Full profile (the paper's Task 4).**  ASCOT exon inclusion (PSI) across 56
GTEx tissues in the MTSplice splits.  Each exon is seen through two 400-nt
windows (300 nt of intron + 100 nt of exon at the acceptor side, and the
mirror image at the donor side, see :func:`glmeval_utils.data.registry.exon_windows`).
The target is the *tissue-specific* part of PSI on the logit scale::

    mean_logit  = mean over observed tissues of logit(PSI_t)
    delta_t     = logit(PSI_t) - mean_logit            (NaN where unobserved)
    PSI_t       = sigmoid(delta_t + mean_logit)

:class:`MTSpliceCNN` (two convolutional heads, one per window) predicts the 56
``delta_t``; :func:`masked_bernoulli_kl` compares the implied PSI with the
measured one as a Bernoulli KL divergence that skips unobserved tissues; the
score is Spearman's rho per tissue on ``delta_t`` over the filtered test exons
(observed in at least 10 tissues, max |ΔPSI| >= 0.2), averaged over tissues
(:func:`per_tissue_spearman`).  Targets travel to :func:`glmeval_utils.learn.train.fit_torch`
as one ``(N, T + 1)`` array (``delta`` columns, then ``mean_logit``), so the
stock training loop, early stopping and two-input batching apply unchanged.

**Offline stand-ins.**  Vex-seq minigene PSI (:func:`vexseq_inputs`,
:func:`variant_deltas`) and MaPSy wild-type/mutant pairs (:func:`mapsy_variants`,
:class:`SiameseDelta`); neither is a data set of the paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats as sps
from torch import nn

from glmeval_utils.sequences import one_hot, pad_or_crop

#: PSI is clipped to [EPS, 1 - EPS] before taking logits.
EPS = 1e-3
#: The paper's test filter (MTSplice): exons observed in >= 10 tissues with max |ΔPSI| >= 0.2.
MIN_TISSUES = 10
MIN_DELTA_PSI = 0.2


# --------------------------------------------------------------------------- targets
def logit(p, eps: float = EPS) -> np.ndarray:
    """``log(p / (1 - p))`` after clipping ``p`` to ``[eps, 1 - eps]``; NaN stays NaN."""
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def sigmoid(x) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


@dataclass
class DeltaLogitTargets:
    """Tissue-specific Δlogit PSI targets of N exons in T tissues.

    Attributes
    ----------
    delta : numpy.ndarray ``(N, T)``
        ``logit(PSI_t) - mean_logit``; NaN where the tissue is unobserved.
    mean_logit : numpy.ndarray ``(N,)``
        Mean logit PSI over the observed tissues.
    psi : numpy.ndarray ``(N, T)``
        The measured PSI in [0, 1] (NaN = unobserved).
    tissues : list of str
    """

    delta: np.ndarray
    mean_logit: np.ndarray
    psi: np.ndarray
    tissues: list = field(default_factory=list)

    def stacked(self) -> np.ndarray:
        """float32 ``(N, T + 1)``: the Δlogit columns then ``mean_logit`` (the loss's target)."""
        return np.concatenate([self.delta, self.mean_logit[:, None]], axis=1).astype(np.float32)

    def subset(self, rows) -> "DeltaLogitTargets":
        return DeltaLogitTargets(self.delta[rows], self.mean_logit[rows], self.psi[rows], list(self.tissues))

    def __len__(self) -> int:
        return len(self.delta)


def delta_logit_targets(psi, *, tissues: Sequence[str] | None = None, eps: float = EPS) -> DeltaLogitTargets:
    """Split PSI into an exon's mean logit and its tissue-specific Δlogit.

    Parameters
    ----------
    psi : array-like ``(N, T)``
        PSI in [0, 1]; NaN marks an unobserved tissue.  Every exon needs at
        least one observed tissue.
    tissues : sequence of str, optional
    eps : float
        Clipping before the logit.

    Returns
    -------
    DeltaLogitTargets
    """
    psi = np.asarray(psi, dtype=float)
    if psi.ndim != 2:
        raise ValueError(f"psi must have shape (N, T), got {psi.shape}")
    observed = np.isfinite(psi)
    empty = np.flatnonzero(~observed.any(axis=1))
    if empty.size:
        raise ValueError(f"exon row {empty[0]} has no observed tissue")
    finite = psi[observed]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise ValueError("psi must lie in [0, 1] (divide percentages by 100)")
    logits = np.where(observed, logit(np.where(observed, psi, 0.5), eps), np.nan)
    mean_logit = np.nanmean(logits, axis=1)
    return DeltaLogitTargets(logits - mean_logit[:, None], mean_logit, psi,
                             list(tissues) if tissues is not None else [])


def tissue_delta_psi(psi) -> np.ndarray:
    """ΔPSI per tissue: PSI minus the exon's mean PSI over observed tissues, ``(N, T)``."""
    psi = np.asarray(psi, dtype=float)
    return psi - np.nanmean(psi, axis=1, keepdims=True)


def evaluable_exons(psi, *, min_tissues: int = MIN_TISSUES, min_delta_psi: float = MIN_DELTA_PSI) -> np.ndarray:
    """Exons kept for evaluation: observed in ``>= min_tissues`` tissues and max |ΔPSI| ``>= min_delta_psi``.

    Returns a boolean ``(N,)`` mask.
    """
    psi = np.asarray(psi, dtype=float)
    observed = np.isfinite(psi).sum(axis=1)
    spread = np.nanmax(np.abs(tissue_delta_psi(psi)), axis=1)
    return (observed >= min_tissues) & (spread >= min_delta_psi)


# --------------------------------------------------------------------------- loss
def masked_bernoulli_kl(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Bernoulli KL between measured and predicted PSI, averaged over observed tissues.

    Parameters
    ----------
    output : tensor ``(B, T)``
        Predicted Δlogit per tissue.
    target : tensor ``(B, T + 1)``
        Measured Δlogit (NaN = unobserved) followed by the exon's mean logit
        (:meth:`DeltaLogitTargets.stacked`).

    Returns
    -------
    tensor, scalar
        ``mean KL(p || q)`` with ``p = sigmoid(delta + mean_logit)`` and
        ``q = sigmoid(output + mean_logit)``; zero when ``output`` equals the
        measured Δlogit.  A batch without observed tissues gives 0 (with a graph).
    """
    if target.shape[1] != output.shape[1] + 1:
        raise ValueError(f"target must have {output.shape[1] + 1} columns (T Δlogit + mean logit), "
                         f"got {target.shape[1]}")
    delta, mean_logit = target[:, :-1], target[:, -1:]
    observed = torch.isfinite(delta)
    true_logit = torch.where(observed, delta, torch.zeros_like(delta)) + mean_logit
    pred_logit = output + mean_logit
    p = torch.sigmoid(true_logit)
    log_p, log_1mp = nn.functional.logsigmoid(true_logit), nn.functional.logsigmoid(-true_logit)
    log_q, log_1mq = nn.functional.logsigmoid(pred_logit), nn.functional.logsigmoid(-pred_logit)
    kl = p * (log_p - log_q) + (1 - p) * (log_1mp - log_1mq)
    kl = torch.where(observed, kl, torch.zeros_like(kl))
    n = observed.sum()
    if n == 0:
        return (output * 0).sum()
    return kl.sum() / n


# --------------------------------------------------------------------------- metric
def per_tissue_spearman(y_true, y_pred, *, tissues: Sequence[str] | None = None, keep=None,
                        min_exons: int = 3) -> pd.DataFrame:
    """Spearman's rho between measured and predicted Δlogit, one tissue at a time.

    Parameters
    ----------
    y_true, y_pred : array-like ``(N, T)``
        NaN in ``y_true`` marks an unobserved tissue (skipped in that tissue).
    tissues : sequence of str, optional
        Names of the T columns (default ``"0"..``).
    keep : boolean array ``(N,)``, optional
        Exons to evaluate, e.g. :func:`evaluable_exons`.
    min_exons : int
        Tissues with fewer observed exons get NaN.

    Returns
    -------
    pandas.DataFrame
        ``tissue``, ``spearman``, ``n`` (observed exons).  The paper's score is
        the mean of ``spearman`` (:func:`mean_tissue_spearman`).
    """
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.ndim != 2:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must share a shape (N, T)")
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
        y_true, y_pred = y_true[keep], y_pred[keep]
    names = list(tissues) if tissues is not None else [str(t) for t in range(y_true.shape[1])]
    rows = []
    for column, name in enumerate(names):
        observed = np.isfinite(y_true[:, column]) & np.isfinite(y_pred[:, column])
        n = int(observed.sum())
        rho = np.nan
        if n >= min_exons:
            a, b = y_true[observed, column], y_pred[observed, column]
            if np.ptp(a) > 0 and np.ptp(b) > 0:
                rho = float(sps.spearmanr(a, b).statistic)
        rows.append({"tissue": name, "spearman": rho, "n": n})
    return pd.DataFrame(rows)


def mean_tissue_spearman(y_true, y_pred, **kwargs) -> float:
    """The paper's splicing score: :func:`per_tissue_spearman` averaged over tissues (NaN skipped)."""
    return float(per_tissue_spearman(y_true, y_pred, **kwargs)["spearman"].mean())


# --------------------------------------------------------------------------- model
class _Head(nn.Module):
    """Conv 128 k7 -> BN -> ReLU -> maxpool 4 -> dropout 0.2 on one 400-nt window."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv1d(in_channels, channels, 7, padding="same"), nn.BatchNorm1d(channels), nn.ReLU(),
            nn.MaxPool1d(4, ceil_mode=True), nn.Dropout(0.2))

    def forward(self, x):
        return self.layers(x)


def _pooled(length: int, pool: int) -> int:
    return -(-length // pool)


class MTSpliceCNN(nn.Module):
    """The paper's two-headed splicing CNN (``custom_model.mtsplice_model``).

    Each window goes through its own head (Conv 128 k7 -> BN -> ReLU ->
    maxpool 4 -> dropout 0.2); the two outputs are concatenated along the
    length axis, then Conv 164 k5 -> ReLU -> maxpool 4 -> Conv 256 k5 -> ReLU
    -> maxpool 2 -> flatten -> Dense 256 -> ReLU -> dropout 0.5 (twice) ->
    ``n_outputs`` linear outputs (Δlogit per tissue).

    Parameters
    ----------
    in_channels : int
        4 for one-hot, H for gLM embeddings.
    length : int
        Positions per window (400 in the paper).
    n_outputs : int
        Tissues (56).
    channels_last : bool
        Inputs are ``(B, L, C)`` (embeddings) instead of ``(B, C, L)`` (one-hot).
    input_norm : bool
        Batch-normalise input features first (useful for embeddings).
    width_factor : float
        Multiplies every layer width (1 = the paper).

    Shapes: ``forward(acceptor, donor)`` with two ``(B, C, L)`` (or
    ``(B, L, C)``) tensors -> ``(B, n_outputs)``.
    """

    def __init__(self, in_channels: int = 4, length: int = 400, n_outputs: int = 56, *,
                 channels_last: bool = False, input_norm: bool = False, width_factor: float = 1.0):
        super().__init__()
        self.channels_last = channels_last
        width = lambda n: max(1, int(round(n * width_factor)))  # noqa: E731
        self.norm = nn.ModuleList([nn.BatchNorm1d(in_channels) if input_norm else nn.Identity()
                                   for _ in range(2)])
        self.heads = nn.ModuleList([_Head(in_channels, width(128)) for _ in range(2)])
        self.trunk = nn.Sequential(
            nn.Conv1d(width(128), width(164), 5, padding="same"), nn.ReLU(), nn.MaxPool1d(4, ceil_mode=True),
            nn.Conv1d(width(164), width(256), 5, padding="same"), nn.ReLU(), nn.MaxPool1d(2, ceil_mode=True),
            nn.Flatten())
        flat = width(256) * _pooled(_pooled(2 * _pooled(length, 4), 4), 2)
        self.dense = nn.Sequential(
            nn.Linear(flat, width(256)), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(width(256), width(256)), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(width(256), n_outputs))

    def forward(self, acceptor: torch.Tensor, donor: torch.Tensor) -> torch.Tensor:
        halves = []
        for x, norm, head in zip((acceptor, donor), self.norm, self.heads):
            if self.channels_last:
                x = x.transpose(1, 2)
            halves.append(head(norm(x)))
        return self.dense(self.trunk(torch.cat(halves, dim=2)))


def train_mtsplice(train_inputs: tuple, train_targets: DeltaLogitTargets, valid_inputs: tuple,
                   valid_targets: DeltaLogitTargets, *, channels_last: bool = False,
                   input_norm: bool = False, width_factor: float = 1.0, lr: float = 1e-3,
                   batch_size: int = 256, max_epochs: int = 100, patience: int = 10,
                   lr_patience: int = 5, seed: int = 0, device=None, progress: bool = True):
    """Train :class:`MTSpliceCNN` with the masked Bernoulli KL loss (Adam 1e-3, batch 256 as the paper).

    Parameters
    ----------
    train_inputs, valid_inputs : tuple (acceptor, donor)
        Arrays ``(N, 4, L)`` (one-hot) or ``(N, L, H)`` (embeddings, with
        ``channels_last=True``); memmaps stay on disk.
    train_targets, valid_targets : DeltaLogitTargets

    Returns
    -------
    (MTSpliceCNN, train.TrainHistory)
    """
    from glmeval_utils.learn.train import fit_torch

    acceptor = train_inputs[0]
    in_channels, length = (acceptor.shape[2], acceptor.shape[1]) if channels_last else acceptor.shape[1:3]
    model = MTSpliceCNN(int(in_channels), int(length), train_targets.delta.shape[1],
                        channels_last=channels_last, input_norm=input_norm, width_factor=width_factor)
    history = fit_torch(model, (tuple(train_inputs), train_targets.stacked()),
                        (tuple(valid_inputs), valid_targets.stacked()), task=masked_bernoulli_kl,
                        lr=lr, batch_size=batch_size, max_epochs=max_epochs, patience=patience,
                        lr_patience=lr_patience, seed=seed, device=device, progress=progress)
    return model, history


# --------------------------------------------------------------------------- ASCOT inputs
@dataclass
class SplicingData:
    """Acceptor/donor windows and Δlogit targets of one split of the ASCOT task."""

    exon_id: np.ndarray
    acceptor_seqs: list
    donor_seqs: list
    targets: DeltaLogitTargets

    def onehot(self) -> tuple[np.ndarray, np.ndarray]:
        """``(N, 4, L)`` one-hot acceptor and donor windows."""
        return one_hot(self.acceptor_seqs), one_hot(self.donor_seqs)


def ascot_splits(table: pd.DataFrame, fasta_path=None, *, flank: int = 300, half: int = 400) -> dict:
    """Build :class:`SplicingData` per split from an ASCOT label table.

    Parameters
    ----------
    table : pandas.DataFrame
        From ``datasets.load("ascot_gtex_test" | "paper_mtsplice_psi")``: hg38
        coordinates, one PSI column per tissue (0-1, NaN missing), ``split``.
        A table that already holds ``acceptor_seq``/``donor_seq`` needs no FASTA.
    fasta_path : path, optional
        Uncompressed hg38 FASTA, cut with :func:`glmeval_utils.data.registry.exon_windows`.

    Returns
    -------
    dict of split -> SplicingData
    """
    from glmeval_utils.data.loaders import ascot_tissues, exon_windows

    tissues = ascot_tissues(table.drop(columns=["acceptor_seq", "donor_seq"], errors="ignore"))
    if "acceptor_seq" not in table.columns:
        if fasta_path is None:
            raise ValueError("the table has no acceptor_seq/donor_seq columns: pass an hg38 fasta_path")
        windows = exon_windows(table, fasta_path, flank=flank, half=half)
        table = table.assign(acceptor_seq=windows["acceptor_seq"].to_numpy(),
                             donor_seq=windows["donor_seq"].to_numpy())
    out = {}
    for split, part in table.groupby("split", sort=False):
        targets = delta_logit_targets(part[tissues].to_numpy(float), tissues=tissues)
        out[split] = SplicingData(part["exon_id"].to_numpy(), part["acceptor_seq"].tolist(),
                                  part["donor_seq"].tolist(), targets)
    return out


#: UCSC hg38 (the assembly of the ASCOT coordinates); no sha256 pinned (the file is rebuilt upstream).
HG38_URL = "https://hgdownload.soe.ucsc.edu/goldenPath/hg38/bigZips/hg38.fa.gz"


def fetch_hg38(*, progress: bool = True):
    """Path of an uncompressed hg38 FASTA (full profile only; about 3 GB, downloaded once).

    With ``GLMEVAL_MIRROR`` set, ``$GLMEVAL_MIRROR/ucsc/hg38/hg38.fa.gz`` (or
    ``hg38.fa``) is used and nothing is downloaded.  The gzip is unpacked
    next to the download (atomically) because :func:`exon_windows` needs
    random access.
    """
    import gzip
    import os
    import shutil
    from pathlib import Path

    from glmeval_utils.data.loaders import DataError
    from glmeval_utils.paths import data_dir

    mirror = os.environ.get("GLMEVAL_MIRROR")
    target = data_dir() / "ucsc" / "hg38" / "hg38.fa"
    if target.exists():
        return target
    if mirror:
        folder = Path(mirror).expanduser() / "ucsc" / "hg38"
        if (folder / "hg38.fa").is_file():
            return folder / "hg38.fa"
        archive = folder / "hg38.fa.gz"
        if not archive.is_file():
            raise DataError(f"hg38: not in the offline mirror; looked for {archive} "
                            "(GLMEVAL_MIRROR is set, so the network is not used)")
    else:
        import pooch

        target.parent.mkdir(parents=True, exist_ok=True)
        archive = Path(pooch.retrieve(HG38_URL, known_hash=None, fname="hg38.fa.gz", path=target.parent,
                                      progressbar=progress))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with gzip.open(archive, "rb") as source, open(partial, "wb") as out:
        shutil.copyfileobj(source, out, length=1 << 24)
    os.replace(partial, target)
    return target


def ascot_ladder(splits: dict, glms: Sequence = (), *, seeds: Sequence[int] = (0,), max_epochs: int = 100,
                 patience: int = 10, lr_patience: int = 5, batch_size: int = 256, width_factor: float = 1.0,
                 layer: int = -1, embed_batch_size: int = 32, cache_dir=None, device=None,
                 progress: bool = True, task: str = "splicing", dataset: str = "ascot_gtex") -> pd.DataFrame:
    """The paper's splicing comparison: :class:`MTSpliceCNN` on one-hot vs on each gLM's embeddings.

    The one-hot model sees ``(N, 4, 400)`` windows; a gLM variant sees the
    full per-nucleotide embedding of each 400-nt window, embedded separately
    (``(N, 400, H)``, read from the on-disk cache) with input batch norm.
    Every model is scored on the test exons kept by :func:`evaluable_exons`.

    Parameters
    ----------
    splits : dict of split -> SplicingData
        From :func:`ascot_splits`.
    glms : sequence of models.GLM
    seeds, max_epochs, patience, lr_patience, batch_size, width_factor
        Training settings (:func:`train_mtsplice`).
    layer : int
        Hidden state of the gLMs.

    Returns
    -------
    pandas.DataFrame
        Per-tissue rows: ``task, dataset, model, representation, probe, seed,
        tissue, spearman, n``.  ``.groupby([... , "seed"]).spearman.mean()``
        gives the paper's score.
    """
    from glmeval_utils import embeddings
    from glmeval_utils.learn.train import predict_torch

    order = ("train", "valid", "test")
    test = splits["test"]
    keep = evaluable_exons(test.targets.psi)
    inputs = {"one-hot": ({name: splits[name].onehot() for name in order}, False)}
    for glm in glms:
        views = {}
        for side in ("acceptor_seqs", "donor_seqs"):
            seqs = [s for name in order for s in getattr(splits[name], side)]
            cached = embeddings.extract(glm, seqs, layers=(layer,), pooling="full", batch_size=embed_batch_size,
                                        cache_dir=cache_dir, label=f"{dataset}-{side[:-5]}", progress=progress)
            array, start = cached.layer(layer), 0
            for name in order:
                views.setdefault(name, []).append(array[start:start + len(splits[name].exon_id)])
                start += len(splits[name].exon_id)
        inputs[glm.name] = ({name: tuple(parts) for name, parts in views.items()}, True)
    frames = []
    for model_name, (arrays, channels_last) in inputs.items():
        for seed in seeds:
            model, _ = train_mtsplice(arrays["train"], splits["train"].targets, arrays["valid"],
                                      splits["valid"].targets, channels_last=channels_last,
                                      input_norm=channels_last, width_factor=width_factor,
                                      batch_size=batch_size, max_epochs=max_epochs, patience=patience,
                                      lr_patience=lr_patience, seed=seed, device=device, progress=progress)
            predicted = predict_torch(model, arrays["test"], device=device)
            table = per_tissue_spearman(test.targets.delta, predicted, tissues=test.targets.tissues, keep=keep)
            table.insert(0, "seed", seed)
            for column, value in (("probe", "mtsplice_cnn"), ("representation", "onehot" if not channels_last
                                                               else "full"),
                                  ("model", model_name), ("dataset", dataset), ("task", task)):
                table.insert(0, column, value)
            frames.append(table)
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- Vex-seq
VEXSEQ_LENGTH = 166


def vexseq_inputs(table: pd.DataFrame, *, length: int = VEXSEQ_LENGTH, min_reads: int = 0) -> pd.DataFrame:
    """Vex-seq constructs padded to one length for the CNNs and full embeddings.

    Inserts (161-166 nt) keep their start (upstream intron) and are padded
    with ``N`` at the end, so the acceptor sits at the same position in every
    construct.  Constructs with fewer than ``min_reads`` inclusion + skipping
    reads in either cell line are dropped.  Returns a copy with ``seq_padded``.
    """
    keep = (table["reads_hepg2"] >= min_reads) & (table["reads_k562"] >= min_reads)
    out = table[keep].copy()
    out["seq_padded"] = [pad_or_crop(s, length, align="left") for s in out["seq"]]
    return out


def variant_deltas(table: pd.DataFrame, predictions: pd.DataFrame, *,
                   targets: Sequence[str] = ("psi_hepg2", "psi_k562")) -> pd.DataFrame:
    """Variant effects (variant minus wild type of the same exon) from PSI predictions.

    Parameters
    ----------
    table : pandas.DataFrame
        The Vex-seq table whose index the predictions' ``index`` refers to
        (``variant_id``, ``exon_id``, ``class`` and the target columns).
    predictions : pandas.DataFrame
        Prediction rows (``stats.prediction_rows``) with ``output`` k for
        ``targets[k]``; seeds are averaged.

    Returns
    -------
    pandas.DataFrame
        One row per model, variant and output: ``model, representation,
        probe, output, target, variant_id, exon_id, delta_true, delta_pred``.
        Only variants whose wild type was predicted by the same model appear.
    """
    averaged = (predictions.groupby(["model", "representation", "probe", "index", "output"], sort=False)
                ["y_score"].mean().reset_index())
    info = table[["variant_id", "exon_id", "class"]]
    averaged = averaged.join(info, on="index")
    wild = averaged[averaged["class"] == "Reference"][["model", "representation", "probe", "output",
                                                       "exon_id", "index", "y_score"]]
    variants = averaged[averaged["class"] == "Variant"]
    merged = variants.merge(wild, on=["model", "representation", "probe", "output", "exon_id"],
                            suffixes=("", "_wt"))
    truth = table[list(targets)].to_numpy(float)
    merged["target"] = [targets[k] for k in merged["output"]]
    merged["delta_true"] = truth[table.index.get_indexer(merged["index"]), merged["output"]] - \
        truth[table.index.get_indexer(merged["index_wt"]), merged["output"]]
    merged["delta_pred"] = merged["y_score"] - merged["y_score_wt"]
    return merged[["model", "representation", "probe", "output", "target", "variant_id", "exon_id",
                   "delta_true", "delta_pred"]].reset_index(drop=True)


# --------------------------------------------------------------------------- MaPSy
def mapsy_variants(table: pd.DataFrame) -> pd.DataFrame:
    """MaPSy pairs as a zero-shot variant table (:mod:`glmeval_utils.score.zeroshot` columns).

    Each pair becomes its own element (``element`` = ``variant_id``, ``seq`` =
    the wild type); ``offset`` is the one position where wild type and mutant
    differ; ``ref``/``alt`` are the two bases there.

    Raises
    ------
    ValueError
        If a pair differs in length or at other than exactly one position.
    """
    offsets, refs, alts = [], [], []
    for variant, wt, mut in table[["variant_id", "wt_seq", "mut_seq"]].itertuples(index=False):
        if len(wt) != len(mut):
            raise ValueError(f"MaPSy pair {variant}: wild type and mutant differ in length")
        a = np.frombuffer(wt.encode(), dtype=np.uint8)
        b = np.frombuffer(mut.encode(), dtype=np.uint8)
        diff = np.flatnonzero(a != b)
        if diff.size != 1:
            raise ValueError(f"MaPSy pair {variant}: wild type and mutant differ at {diff.size} positions, "
                             "expected exactly one")
        offsets.append(int(diff[0]))
        refs.append(wt[diff[0]])
        alts.append(mut[diff[0]])
    return pd.DataFrame({"element": table["variant_id"].to_numpy(), "offset": offsets, "ref": refs,
                         "alt": alts, "seq": table["wt_seq"].to_numpy()}, index=table.index)


def substitution_means(train: pd.DataFrame, test: pd.DataFrame, target: str) -> np.ndarray:
    """Context-free Δ baseline: the training mean of ``target`` per ref>alt substitution.

    Each test pair is scored by the mean effect of the training pairs with
    the same substitution (e.g. every G>T); a substitution absent from
    training gets the overall training mean. Whatever a sequence model adds
    beyond this baseline comes from context, not from the substitution type.

    Parameters
    ----------
    train, test : DataFrame
        MaPSy pairs (``variant_id``, ``wt_seq``, ``mut_seq``, ``target``).
    target : str

    Returns
    -------
    ndarray ``(len(test),)``
    """
    def substitution(table: pd.DataFrame) -> pd.Series:
        variants = mapsy_variants(table)
        return variants["ref"] + ">" + variants["alt"]

    effects = pd.Series(train[target].to_numpy(dtype=float), index=substitution(train).to_numpy())
    if not np.isfinite(effects).all():
        raise ValueError(f"substitution_means: training column {target!r} has missing values")
    means = effects.groupby(level=0).mean()
    return substitution(test).map(means).fillna(effects.mean()).to_numpy(dtype=float)


class SiameseDelta(nn.Module):
    """Δ model for (wild type, mutant) pairs: ``encoder(mutant) - encoder(wild type)``.

    One encoder with shared weights scores both sequences, so the output is
    antisymmetric by construction (swapping the pair flips its sign) and a
    pair of identical sequences predicts exactly 0.

    Shapes: ``forward(wt, mut)`` with two encoder inputs -> ``(B, K)``.
    """

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, wt: torch.Tensor, mut: torch.Tensor) -> torch.Tensor:
        return self.encoder(mut) - self.encoder(wt)


def fit_siamese_onehot(train: pd.DataFrame, valid: pd.DataFrame, target: str, *, width_factor: float = 0.5,
                       lr: float = 1e-3, batch_size: int = 128, max_epochs: int = 30, patience: int = 5,
                       lr_patience: int = 2, seed: int = 0, device=None, progress: bool = True):
    """Train a :class:`SiameseDelta` around the one-hot ``rep_cnn`` on ``wt_seq``/``mut_seq`` pairs.

    Returns
    -------
    (SiameseDelta, train.TrainHistory)
    """
    from glmeval_utils.learn.baselines import OneHotCNN
    from glmeval_utils.learn.train import fit_torch

    length = len(train["wt_seq"].iloc[0])
    model = SiameseDelta(OneHotCNN(length, 1, width_factor=width_factor))
    arrays = {name: ((one_hot(part["wt_seq"].tolist()), one_hot(part["mut_seq"].tolist())),
                     part[target].to_numpy(np.float32)) for name, part in (("train", train), ("valid", valid))}
    history = fit_torch(model, arrays["train"], arrays["valid"], task="regression", lr=lr,
                        batch_size=batch_size, max_epochs=max_epochs, patience=patience,
                        lr_patience=lr_patience, seed=seed, device=device, progress=progress)
    return model, history


def predict_pairs(model: nn.Module, table: pd.DataFrame, *, device=None) -> np.ndarray:
    """``(N,)`` Δ predictions of a pair model on ``wt_seq``/``mut_seq``."""
    from glmeval_utils.learn.train import predict_torch

    X = (one_hot(table["wt_seq"].tolist()), one_hot(table["mut_seq"].tolist()))
    return predict_torch(model, X, device=device)[:, 0]
