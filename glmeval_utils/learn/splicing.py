"""Splicing models: the paper's two-headed MTSplice CNN with its masked KL loss, and pair models.

* :class:`MTSpliceCNN` predicts 56 tissues' Δlogit PSI from an exon's acceptor
  and donor windows (one-hot ``(N, 4, 400)`` or full gLM embeddings
  ``(N, 400, H)``); :func:`masked_bernoulli_kl` compares the implied PSI with
  the measured one, skipping unobserved tissues; :func:`ascot_ladder` trains it
  on one-hot windows and on each gLM's embeddings and returns prediction rows
  (the paper's score, Spearman per tissue averaged over tissues, is the
  multi-output ``spearman`` of :mod:`glmeval_utils.eval`).  Targets travel to
  :func:`glmeval_utils.learn.train.fit_torch` as one ``(N, T + 1)`` array
  (``delta`` columns, then ``mean_logit``), so the stock training loop applies.
* :class:`SiameseDelta` scores (wild type, mutant) pairs with shared weights
  (MaPSy); :func:`substitution_means` is the context-free control.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from glmeval_utils import embeddings
from glmeval_utils.data.splicing import DeltaLogitTargets, evaluable_exons, mapsy_variants
from glmeval_utils.devices import reduced_precision
from glmeval_utils.learn.baselines import OneHotCNN
from glmeval_utils.learn.train import fit_torch, predict_torch, set_seed
from glmeval_utils.models.registry import role_of
from glmeval_utils.predictions import ONE_HOT, ONEHOT_MODEL, PREDICTED_SPLITS, prediction_rows
from glmeval_utils.sequences import one_hot

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
    acceptor = train_inputs[0]
    in_channels, length = (acceptor.shape[2], acceptor.shape[1]) if channels_last else acceptor.shape[1:3]
    set_seed(seed)  # the initial weights too, not only the training: else they depend on what ran before
    model = MTSpliceCNN(int(in_channels), int(length), train_targets.delta.shape[1],
                        channels_last=channels_last, input_norm=input_norm, width_factor=width_factor)
    history = fit_torch(model, (tuple(train_inputs), train_targets.stacked()),
                        (tuple(valid_inputs), valid_targets.stacked()), task=masked_bernoulli_kl,
                        lr=lr, batch_size=batch_size, max_epochs=max_epochs, patience=patience,
                        lr_patience=lr_patience, seed=seed, device=device, progress=progress)
    return model, history

def ascot_ladder(splits: dict, glms: Sequence = (), *, seeds: Sequence[int] = (0,), max_epochs: int = 100,
                 patience: int = 10, lr_patience: int = 5, batch_size: int = 256, width_factor: float = 1.0,
                 layer: int = -1, embed_batch_size: int = 32, cache_dir=None, device=None,
                 progress: bool = True, task: str = "splicing", dataset: str = "ascot_gtex") -> pd.DataFrame:
    """The paper's splicing comparison: :class:`MTSpliceCNN` on one-hot vs on each gLM's embeddings.

    The one-hot model sees ``(N, 4, 400)`` windows; a gLM variant sees the
    full per-nucleotide embedding of each 400-nt window, embedded separately
    (``(N, 400, H)``, read from the on-disk cache) with input batch norm.
    Validation and test predictions are kept for the exons of
    :func:`~glmeval_utils.data.splicing.evaluable_exons`, one output per
    tissue, with ``y_true`` the measured Δlogit (NaN where unobserved): the
    multi-output ``spearman`` of :mod:`glmeval_utils.eval` is then the paper's
    score (Spearman per tissue over observed exons, averaged over tissues).

    Parameters
    ----------
    splits : dict of split -> SplicingData
        From :func:`glmeval_utils.data.splicing.ascot_splits`.
    glms : sequence of models.GLM
    seeds, max_epochs, patience, lr_patience, batch_size, width_factor
        Training settings (:func:`train_mtsplice`).
    layer : int
        Hidden state of the gLMs.

    Returns
    -------
    pandas.DataFrame
        Prediction rows (:mod:`glmeval_utils.predictions`); ``index`` and
        ``group`` are the exon ids.
    """
    order = ("train", "valid", "test")
    inputs = {ONEHOT_MODEL: ({name: splits[name].onehot() for name in order}, False, ONE_HOT)}
    for glm in glms:
        views = {}
        for side in ("acceptor_seqs", "donor_seqs"):
            seqs = [s for name in order for s in getattr(splits[name], side)]
            with reduced_precision():  # model inputs (see devices.reduced_precision)
                cached = embeddings.extract(glm, seqs, layers=(layer,), pooling="full", batch_size=embed_batch_size,
                                            cache_dir=cache_dir, label=f"{dataset}-{side[:-5]}", progress=progress)
            array, start = cached.layer(layer), 0
            for name in order:
                views.setdefault(name, []).append(array[start:start + len(splits[name].exon_id)])
                start += len(splits[name].exon_id)
        inputs[glm.name] = ({name: tuple(parts) for name, parts in views.items()}, True, role_of(glm))
    frames = []
    for model_name, (arrays, channels_last, role) in inputs.items():
        for seed in seeds:
            model, _ = train_mtsplice(arrays["train"], splits["train"].targets, arrays["valid"],
                                      splits["valid"].targets, channels_last=channels_last,
                                      input_norm=channels_last, width_factor=width_factor,
                                      batch_size=batch_size, max_epochs=max_epochs, patience=patience,
                                      lr_patience=lr_patience, seed=seed, device=device, progress=progress)
            for split in PREDICTED_SPLITS:
                part = splits[split]
                keep = evaluable_exons(part.targets.psi)
                predicted = predict_torch(model, arrays[split], device=device)[keep]
                frames.append(prediction_rows(
                    part.targets.delta[keep], predicted, task=task, dataset=dataset, model=model_name, role=role,
                    representation="full" if channels_last else "onehot", probe="mtsplice_cnn", seed=seed,
                    split=split, index=part.exon_id[keep], group=part.exon_id[keep]))
    return pd.concat(frames, ignore_index=True)


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
    length = len(train["wt_seq"].iloc[0])
    set_seed(seed)  # the initial weights too, not only the training: else they depend on what ran before
    model = SiameseDelta(OneHotCNN(length, 1, width_factor=width_factor))
    arrays = {name: ((one_hot(part["wt_seq"].tolist()), one_hot(part["mut_seq"].tolist())),
                     part[target].to_numpy(np.float32)) for name, part in (("train", train), ("valid", valid))}
    history = fit_torch(model, arrays["train"], arrays["valid"], task="regression", lr=lr,
                        batch_size=batch_size, max_epochs=max_epochs, patience=patience,
                        lr_patience=lr_patience, seed=seed, device=device, progress=progress)
    return model, history

def predict_pairs(model: nn.Module, table: pd.DataFrame, *, device=None) -> np.ndarray:
    """``(N,)`` Δ predictions of a pair model on ``wt_seq``/``mut_seq``."""
    X = (one_hot(table["wt_seq"].tolist()), one_hot(table["mut_seq"].tolist()))
    return predict_torch(model, X, device=device)[:, 0]
