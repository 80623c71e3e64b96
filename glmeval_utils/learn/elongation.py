"""Pol II elongation (INSERT-seq): the reference's ``model_2CNN`` and its data-fraction protocol.

The reference study (``RNAenlong/subsample.py``) trained one small residual
CNN, ``model_2CNN``, on every input — one-hot inserts or frozen gLM
embeddings — and repeated the training on random fractions of the training
set (0.1 … 1.0, 50 replicates each) to draw learning curves.

* :class:`Model2CNN` — the architecture (torch), on one-hot ``(B, 4, L)`` or
  channels-last embeddings ``(B, L, H)``;
* :class:`ElongationEstimator` — scikit-learn-style fit/predict with the
  reference's training settings (Adam 1e-3 for one-hot, 1e-4 for
  embeddings, MSE, batch 128, up to 200 epochs);
* :func:`fraction_subset` — the deterministic training subset of one
  (fraction, replicate);
* :func:`data_fraction_curve` — the protocol for one input, as tidy
  prediction rows (fraction encoded in ``representation`` as
  ``"<representation>@frac<f>"``, replicate as ``seed``);
* :func:`fraction_of`, :func:`base_representation` — read the label back.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from glmeval_utils.learn.baselines import DilatedResidualBlock
from glmeval_utils.learn.probes import ExpActivation, RowSubset, TorchEstimator
from glmeval_utils.sequences import one_hot
from glmeval_utils.data.splits import TaskData


#: the reference's training fractions.
PAPER_FRACTIONS = tuple(round(0.1 * k, 1) for k in range(1, 11))


class Model2CNN(nn.Module):
    """The reference's INSERT-seq model ``model_2CNN`` (our reading of its layer list).

    [LayerNorm over features] -> Conv 48 k1 -> Conv 96 k19 (no bias) -> BN ->
    exponential -> dropout 0.1 -> residual block (k3, dilations 2, 4, ReLU;
    :class:`~glmeval_utils.learn.baselines.DilatedResidualBlock`)
    -> maxpool 10 -> Conv 128 k7 -> BN -> ReLU -> global average pool ->
    Dense 128 ReLU -> dropout 0.5 -> linear output.  Convolutions use ``same``
    padding; the pool keeps a partial last window, so any length works.

    Parameters
    ----------
    in_channels : int
        4 for one-hot, H for embeddings.
    n_outputs : int
    layer_norm : bool
        Normalise each position's feature vector first (the reference's
        option for embeddings, whose scale is arbitrary).
    channels_last : bool
        Inputs are ``(B, L, C)`` (embeddings) rather than ``(B, C, L)``.
    width_factor : float
        Multiplies every width (1 = the reference).

    Shapes: ``(B, C, L)`` or ``(B, L, C)`` -> ``(B, n_outputs)``.
    """

    def __init__(self, in_channels: int, n_outputs: int = 1, *, layer_norm: bool = False,
                 channels_last: bool = False, width_factor: float = 1.0):
        super().__init__()
        if in_channels < 1 or width_factor <= 0:
            raise ValueError("in_channels must be positive and width_factor > 0")
        width = lambda n: max(1, int(round(n * width_factor)))  # noqa: E731
        c1, c2, c3, dense = width(48), width(96), width(128), width(128)
        self.channels_last = channels_last
        self.norm = nn.LayerNorm(in_channels) if layer_norm else nn.Identity()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, c1, 1),
            nn.Conv1d(c1, c2, 19, padding="same", bias=False), nn.BatchNorm1d(c2), ExpActivation(),
            nn.Dropout(0.1),
            DilatedResidualBlock(c2, (2, 4), activation=nn.ReLU, bias=False),
            nn.MaxPool1d(10, ceil_mode=True),
            nn.Conv1d(c2, c3, 7, padding="same"), nn.BatchNorm1d(c3), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(c3, dense), nn.ReLU(), nn.Dropout(0.5),
                                  nn.Linear(dense, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # LayerNorm normalises each position's feature vector (channels last)
        x = self.norm(x).transpose(1, 2) if self.channels_last else self.norm(x.transpose(1, 2)).transpose(1, 2)
        return self.head(self.features(x))


class ElongationEstimator(TorchEstimator):
    """Train :class:`Model2CNN` with the reference's settings.

    Parameters
    ----------
    input_kind : {"onehot", "embedding"}
        ``"onehot"``: DNA strings or ``(N, 4, L)`` arrays; ``"embedding"``:
        full embeddings ``(N, L, H)`` (memory-mapped arrays stay on disk).
    task : {"regression"}
        INSERT-seq is a regression on log(y + 1).
    lr : float, optional
        ``None``: 1e-3 for one-hot, 1e-4 for embeddings (the reference).
    layer_norm : bool, optional
        ``None``: on for embeddings, off for one-hot.
    width_factor : float
    batch_size, max_epochs, patience, lr_patience, min_lr, weight_decay
        Reference: 128, 200, 10, 5, 1e-7.
    random_state, device, progress
    """

    def __init__(self, input_kind: str = "onehot", task: str = "regression", *,
                 lr: float | None = None, layer_norm: bool | None = None, width_factor: float = 1.0,
                 batch_size: int = 128, max_epochs: int = 200, patience: int = 10,
                 lr_patience: int = 5, min_lr: float = 1e-7, weight_decay: float = 0.0,
                 random_state: int = 0, device=None, progress: bool = True):
        self.input_kind = input_kind
        self.task = task
        self.lr = lr
        self.layer_norm = layer_norm
        self.width_factor = width_factor
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr_patience = lr_patience
        self.min_lr = min_lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.progress = progress

    def _check_kind(self) -> None:
        if self.input_kind not in ("onehot", "embedding"):
            raise ValueError(f"input_kind must be 'onehot' or 'embedding', got {self.input_kind!r}")

    def _prepare_inputs(self, X):
        self._check_kind()
        if self.input_kind == "onehot" and isinstance(X, (list, tuple, pd.Series)):
            seqs = list(X)
            lengths = {len(s) for s in seqs}
            if len(lengths) != 1:
                raise ValueError(f"sequences must share one length, got lengths {sorted(lengths)[:5]}")
            return one_hot(seqs)
        if len(X.shape) != 3:
            raise ValueError(f"{self.input_kind} input must be 3-D, got shape {tuple(X.shape)}")
        if self.input_kind == "onehot" and X.shape[1] != 4:
            raise ValueError(f"one-hot input must be (N, 4, L) channels first; got shape {tuple(X.shape)}")
        return X

    def _train_settings(self) -> dict:
        self._check_kind()
        lr = self.lr if self.lr is not None else (1e-3 if self.input_kind == "onehot" else 1e-4)
        return dict(lr=lr, batch_size=self.batch_size, min_lr=self.min_lr)

    def _build_model(self, X, n_outputs):
        embedding = self.input_kind == "embedding"
        layer_norm = embedding if self.layer_norm is None else self.layer_norm
        in_channels = X.shape[2] if embedding else X.shape[1]
        return Model2CNN(in_channels, n_outputs, layer_norm=layer_norm, channels_last=embedding,
                         width_factor=self.width_factor)


def fraction_subset(n_rows: int, fraction: float, replicate: int = 0, *, seed: int = 0) -> np.ndarray:
    """Sorted row indices of one training subset.

    ``round(fraction * n_rows)`` rows (at least 2) drawn without replacement;
    the draw depends only on ``(seed, replicate, fraction)``, so a
    rerun gives the same subsets and different replicates differ.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` int64.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    if n_rows < 2:
        raise ValueError(f"need at least 2 training rows, got {n_rows}")
    size = max(2, int(round(fraction * n_rows)))
    rng = np.random.default_rng([seed, replicate, int(round(fraction * 1000))])
    return np.sort(rng.choice(n_rows, size=size, replace=False))


def fraction_label(representation: str, fraction: float) -> str:
    """``("onehot", 0.5)`` -> ``"onehot@frac0.50"``."""
    return f"{representation}@frac{fraction:.2f}"


def fraction_of(representation: str) -> float | None:
    """The fraction encoded by :func:`fraction_label`, else None."""
    if "@frac" not in representation:
        return None
    return float(representation.rsplit("@frac", 1)[1])


def base_representation(representation: str) -> str:
    """``"onehot@frac0.50"`` -> ``"onehot"``."""
    return representation.rsplit("@frac", 1)[0]


def data_fraction_curve(
    data: TaskData,
    inputs: Mapping[str, object] | None = None,
    *,
    make_estimator: Callable[[int], TorchEstimator],
    fractions: Sequence[float] = PAPER_FRACTIONS,
    replicates: int = 50,
    model: str,
    role: str,
    representation: str,
    probe: str = "model_2cnn",
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Train on random fractions of the training set; return validation and test prediction rows.

    Parameters
    ----------
    data : TaskData
        Targets, row ids and groups of every split.
    inputs : mapping split -> array-like, optional
        ``"train"``, ``"valid"``, ``"test"`` inputs as the estimator takes
        them (default: the sequences; memmaps are subset lazily).
    make_estimator : callable ``replicate -> estimator``
        A fresh, unfitted estimator (e.g. an :class:`ElongationEstimator`
        seeded with the replicate).
    fractions : sequence of float
        Training fractions; the validation and test sets are always whole.
    replicates : int
        Subsets (and trainings) per fraction.
    model, role, representation, probe
        Labels of the prediction rows; ``representation`` becomes
        ``"<representation>@frac<f>"`` (:func:`fraction_label`).
    seed : int
        Seeds the subsets (see :func:`fraction_subset`).
    progress : bool

    Returns
    -------
    pandas.DataFrame
        Prediction rows (:mod:`glmeval_utils.predictions`); ``seed`` is the replicate.
    """
    from tqdm.auto import tqdm

    inputs = inputs if inputs is not None else data.seqs
    missing = [s for s in ("train", "valid", "test") if s not in inputs]
    if missing:
        raise ValueError(f"inputs need the splits {missing}")
    if replicates < 1:
        raise ValueError("replicates must be at least 1")
    train_X = inputs["train"]
    if isinstance(train_X, (list, tuple)):
        train_X = np.asarray(train_X, dtype=object)
    n_train = len(train_X)
    y_train = np.asarray(data.y["train"])
    rows = []
    runs = [(f, r) for f in fractions for r in range(replicates)]
    for fraction, replicate in tqdm(runs, desc=f"{model} · {representation}", disable=not progress):
        subset = fraction_subset(n_train, fraction, replicate, seed=seed)
        if isinstance(train_X, np.ndarray) and train_X.dtype == object:
            X_sub = list(train_X[subset])
        elif isinstance(train_X, np.memmap):
            X_sub = RowSubset(train_X, subset)
        else:
            X_sub = train_X[subset]
        estimator = make_estimator(replicate)
        estimator.fit(X_sub, y_train[subset], inputs["valid"], data.y["valid"])
        rows.append(data.predictions_of(estimator.predict, inputs, model=model, role=role,
                                        representation=fraction_label(representation, fraction), probe=probe,
                                        seed=replicate))
    return pd.concat(rows, ignore_index=True)
