"""Probes on frozen gLM embeddings, as scikit-learn-style estimators.

The probe ladder of the reference study (Tang et al. 2025, code
``lentiMPRA/mpra_model.py`` and ``chip-clip-seq``):

* :class:`LinearProbe` - ridge regression or L2 logistic regression on pooled
  embeddings ``(N, H)``, after standardisation.
* :class:`MLPProbe` - ``rep_mlp``: Dense 512f -> Dense 256f (each with batch
  norm, ReLU, dropout) -> linear output, on pooled embeddings ``(N, H)``,
  PCA-whitened first by default (:class:`PCAWhitening`).
* :class:`CNNProbe` - ``rep_cnn`` (regression chapters) or ``chip_cnn``
  (binding chapters) on per-position embeddings ``(N, L, H)``: one row per
  nucleotide, or per token for k-mer/BPE models (L = 40 for NT at 230 nt),
  trained from memory-mapped arrays batch by batch.

All estimators take ``task="regression"`` or ``"binary"`` and targets
``(N,)`` or ``(N, K)``.  ``predict`` never returns hard labels: for binary
tasks it returns the positive-class probability, because the reference
computed some AUROCs from hard 0/1 predictions (reference section 8.4).
``score`` is the Pearson r (regression) or AUROC (binary), averaged over
outputs when K > 1.

The torch modules (:class:`DenseHead`, :class:`RepCNN`, :class:`ChipCNN`)
are reused by :mod:`glmeval_utils.learn.baselines` for the one-hot models, and the
estimator base class :class:`TorchEstimator` by its ``OneHotEstimator``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from glmeval_utils.eval import metrics
from glmeval_utils.devices import resolve_device
from glmeval_utils.learn import trained
from glmeval_utils.learn.train import TASKS, TrainHistory, as_inputs, as_targets, fit_torch, predict_torch, set_seed
from glmeval_utils.validation import positive_int

#: Inputs of the exponential activation are clamped here: exp(10) ~ 2.2e4 is
#: far beyond what batch-normalised pre-activations reach, and the clamp keeps
#: a stray large value from overflowing float32 (exp(89) = inf) mid-training.
EXP_CLAMP = 10.0


def check_task(task: str) -> str:
    """Return ``task`` if it is ``"regression"`` or ``"binary"``, else raise."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return task


def score_outputs(y_true, y_score, task: str) -> float:
    """Pearson r (regression) or AUROC (binary), averaged over the K output columns.

    Parameters
    ----------
    y_true, y_score : array-like ``(N,)`` or ``(N, K)``
        ``NaN`` targets are ignored.
    """
    y_true = as_targets(y_true, len(y_true))
    y_score = np.asarray(y_score, dtype=float).reshape(y_true.shape)
    metric = metrics.pearson if task == "regression" else metrics.auroc
    return float(np.nanmean([metric(y_true[:, k], y_score[:, k]) for k in range(y_true.shape[1])]))


class ExpActivation(nn.Module):
    """Exponential activation with its input clamped at :data:`EXP_CLAMP` (overflow guard)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(torch.clamp(x, max=EXP_CLAMP))


def pooled_length(length: int, *pools: int) -> int:
    """Length after max/avg pools with ``ceil_mode=True`` (every window kept)."""
    for pool in pools:
        length = math.ceil(length / pool)
    return length


def init_normal(module: nn.Module, std: float) -> None:
    """Draw conv/linear weights from N(0, std) and zero their biases (Keras ``RandomNormal``)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv1d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def init_he_uniform(module: nn.Module) -> None:
    """He-uniform conv/linear weights, zero biases (Keras ``HeUniform``)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv1d, nn.Linear)):
            nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def dense_block(in_features: int, out_features: int, dropout: float) -> nn.Sequential:
    """Linear -> batch norm -> ReLU -> dropout."""
    return nn.Sequential(nn.Linear(in_features, out_features), nn.BatchNorm1d(out_features),
                         nn.ReLU(), nn.Dropout(dropout))


class DenseHead(nn.Module):
    """``rep_mlp``: Dense 512f -> Dense 256f (BN, ReLU, dropout) -> linear output.

    Parameters
    ----------
    in_features : int
    n_outputs : int
    width_factor : float
        Multiplies the hidden widths (the reference swept 0.5, 1, 2).
    dropout : float

    Shapes: ``(B, in_features)`` -> ``(B, n_outputs)``.
    """

    def __init__(self, in_features: int, n_outputs: int = 1, *, width_factor: float = 1.0,
                 dropout: float = 0.5):
        super().__init__()
        hidden1, hidden2 = int(512 * width_factor), int(256 * width_factor)
        self.layers = nn.Sequential(dense_block(in_features, hidden1, dropout),
                                    dense_block(hidden1, hidden2, dropout),
                                    nn.Linear(hidden2, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def principal_components(X, *, chunk_rows: int = 65536) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, variances (ascending) and unit eigenvectors of the covariance of ``X`` ``(N, H)``.

    ``X`` may be a memory map; it is read in chunks of ``chunk_rows`` rows and
    accumulated in float64. Raises if ``X`` is constant or not finite.
    """
    n_rows, n_features = X.shape
    if n_rows < 2:
        raise ValueError(f"principal components need at least 2 rows, got {n_rows}")
    total = np.zeros(n_features)
    gram = np.zeros((n_features, n_features))
    for start in range(0, n_rows, chunk_rows):
        block = np.asarray(X[start:start + chunk_rows], dtype=np.float64)
        total += block.sum(axis=0)
        gram += block.T @ block
    mean = total / n_rows
    covariance = (gram - n_rows * np.outer(mean, mean)) / (n_rows - 1)
    variances, vectors = np.linalg.eigh(covariance)
    if not np.isfinite(variances).all() or variances[-1] <= 0:
        raise ValueError("principal components: the inputs are constant or not finite")
    return mean, np.clip(variances, 0.0, None), vectors


def variance_spectrum(X) -> np.ndarray:
    """Share of the total variance of ``X`` ``(N, H)`` along each principal component, largest first."""
    _, variances, _ = principal_components(X)
    return variances[::-1] / variances.sum()


#: Principal components whose variance is below this fraction of the largest are
#: dropped by :class:`PCAWhitening`: their spread is under float16 resolution (the
#: embedding cache's storage type), so whitening them would only amplify rounding noise.
WHITENING_RELATIVE_TOL = 1e-6


class PCAWhitening(nn.Module):
    """Fixed PCA whitening: ``(x - mean) @ components`` with unit variance per component.

    Pooled gLM embeddings are strongly anisotropic: in the teaching gLM's
    mean embeddings of the GUE TF sets three principal components hold 99 %
    of the variance, and the binding signal sits in the remaining 1 %.
    Gradient training finds high-variance directions first, so an MLP on the
    raw embedding never reaches the signal in a budget of epochs where a
    (nearly unregularised) linear probe does. Whitening gives every
    direction unit variance before the first layer.

    The parameters are buffers computed once from training data
    (:meth:`from_data`); they are not trained.

    Shapes: ``(B, H)`` -> ``(B, K)`` with ``K <= H`` retained components.
    """

    def __init__(self, mean: torch.Tensor, components: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("components", components)

    @property
    def n_components(self) -> int:
        return int(self.components.shape[1])

    @classmethod
    def from_data(cls, X, *, relative_tol: float = WHITENING_RELATIVE_TOL,
                  chunk_rows: int = 65536) -> PCAWhitening:
        """Fit on ``X`` ``(N, H)`` (array-like; read in chunks of ``chunk_rows`` rows)."""
        mean, variances, vectors = principal_components(X, chunk_rows=chunk_rows)
        keep = variances > relative_tol * variances[-1]
        components = vectors[:, keep] / np.sqrt(variances[keep])
        return cls(torch.as_tensor(mean, dtype=torch.float32),
                   torch.as_tensor(components[:, ::-1].copy(), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # fp32 even in a bf16 training step: the smallest kept components are below bf16's resolution
        with torch.autocast(x.device.type, enabled=False):
            return (x.float() - self.mean) @ self.components


class _ConvProbe(nn.Module):
    """Shared input handling: channels-last transpose, input batch norm, 1x1 reduction."""

    def _input_layers(self, in_channels: int, reduce_dim: int | None, input_norm: bool,
                      channels_last: bool) -> int:
        self.channels_last = channels_last
        self.input_norm = nn.BatchNorm1d(in_channels) if input_norm else nn.Identity()
        # the 1x1 reduction is a linear map of each position's features: as nn.Linear on
        # (B*L, C) rows it is one matrix product, and the probe trains about 1.3x faster on a
        # CPU than with the same map as a Conv1d (benchmarks/cnn_probe.py)
        self.reduce = nn.Linear(in_channels, reduce_dim) if reduce_dim else nn.Identity()
        return reduce_dim or in_channels

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, L, C)`` (channels last) or ``(B, C, L)`` -> ``(B, C', L)`` for the convolutions.

        Batch norm over (B*L, C) rows keeps per-channel statistics over batch
        and positions, as BatchNorm1d does on ``(B, C, L)``.
        """
        if not self.channels_last:  # the one-hot baselines: nothing to reshape
            x = self.input_norm(x)
            return x if isinstance(self.reduce, nn.Identity) else self.reduce(x.transpose(1, 2)).transpose(1, 2)
        batch, length, channels = x.shape
        rows = self.reduce(self.input_norm(x.reshape(batch * length, channels)))
        return rows.reshape(batch, length, -1).transpose(1, 2)


class RepCNN(_ConvProbe):
    """The reference's ``rep_cnn`` on per-position features.

    [BN] -> [1x1 conv to ``reduce_dim``] -> Conv(196f, k7) -> BN -> exp ->
    dropout 0.2 -> maxpool 5 -> Conv(256f, k7) -> BN -> ReLU -> maxpool 4 ->
    dropout 0.2 -> flatten -> :class:`DenseHead`.  Convolutions use ``same``
    padding and pools keep partial windows, so any ``length >= 1`` works.
    Weights start from N(0, ``init_std``) as in the reference (0.005).  The
    exponential activation is :class:`ExpActivation` (clamped input).

    Parameters
    ----------
    in_channels : int
        Features per position (H for embeddings, 4 for one-hot).
    length : int
        Positions per example L.
    n_outputs : int
    reduce_dim : int or None
        Output channels of the 1x1 reduction; None skips it.
    width_factor : float
    input_norm : bool
        Batch-normalise the input features (embeddings have arbitrary scale).
    channels_last : bool
        Inputs are ``(B, L, C)`` (embeddings) rather than ``(B, C, L)``.
    init_std : float

    Shapes: ``(B, L, C)`` or ``(B, C, L)`` -> ``(B, n_outputs)``.
    """

    def __init__(self, in_channels: int, length: int, n_outputs: int = 1, *,
                 reduce_dim: int | None = None, width_factor: float = 1.0,
                 input_norm: bool = True, channels_last: bool = True, init_std: float = 0.005):
        super().__init__()
        channels = self._input_layers(in_channels, reduce_dim, input_norm, channels_last)
        conv1, conv2 = int(196 * width_factor), int(256 * width_factor)
        self.trunk = nn.Sequential(
            nn.Conv1d(channels, conv1, 7, padding="same"), nn.BatchNorm1d(conv1), ExpActivation(),
            nn.Dropout(0.2), nn.MaxPool1d(5, ceil_mode=True),
            nn.Conv1d(conv1, conv2, 7, padding="same"), nn.BatchNorm1d(conv2), nn.ReLU(),
            nn.MaxPool1d(4, ceil_mode=True), nn.Dropout(0.2), nn.Flatten())
        self.head = DenseHead(conv2 * pooled_length(length, 5, 4), n_outputs,
                              width_factor=width_factor)
        init_normal(self, init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(self._prepare(x)))


class ChipCNN(_ConvProbe):
    """The reference's ``chip_cnn`` for binding (binary) tasks.

    [BN] -> [1x1 conv to ``reduce_dim`` (512)] -> Conv 64 k7 -> BN -> ReLU ->
    maxpool 4 -> dropout 0.2 -> Conv 96 k5 -> ReLU -> maxpool 4 -> Conv 128 k5
    -> ReLU -> maxpool 2 -> flatten -> Dense 256 (BN, ReLU, dropout 0.5) ->
    output logits; He-uniform initialisation.  The reference lists no
    activation for the 96/128 convolutions; we read them as ReLU.  Unlike the
    reference script (section 8.4, first bug) the input norm and reduction
    are applied for every embedding, not only NT's.

    Parameters
    ----------
    in_channels, length, n_outputs, input_norm, channels_last
        As in :class:`RepCNN`.
    reduce_dim : int or None
        1x1 reduction width (512 in the reference); None skips it.

    Shapes: ``(B, L, C)`` or ``(B, C, L)`` -> ``(B, n_outputs)``.
    """

    def __init__(self, in_channels: int, length: int, n_outputs: int = 1, *,
                 reduce_dim: int | None = 512, input_norm: bool = True,
                 channels_last: bool = True):
        super().__init__()
        channels = self._input_layers(in_channels, reduce_dim, input_norm, channels_last)
        self.trunk = nn.Sequential(
            nn.Conv1d(channels, 64, 7, padding="same"), nn.BatchNorm1d(64), nn.ReLU(),
            nn.MaxPool1d(4, ceil_mode=True), nn.Dropout(0.2),
            nn.Conv1d(64, 96, 5, padding="same"), nn.ReLU(), nn.MaxPool1d(4, ceil_mode=True),
            nn.Conv1d(96, 128, 5, padding="same"), nn.ReLU(), nn.MaxPool1d(2, ceil_mode=True),
            nn.Flatten())
        self.head = nn.Sequential(dense_block(128 * pooled_length(length, 4, 4, 2), 256, 0.5),
                                  nn.Linear(256, n_outputs))
        init_he_uniform(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(self._prepare(x)))


class ScoresMixin:
    """``predict_proba`` and ``score`` on top of a ``predict`` that returns scores."""

    def predict_proba(self, X) -> np.ndarray:
        """Positive-class probability ``(N,)`` or ``(N, K)`` (binary tasks only)."""
        if self.task != "binary":
            raise ValueError("predict_proba needs task='binary'")
        return self.predict(X)

    def score(self, X, y) -> float:
        """Pearson r (regression) or AUROC (binary), mean over outputs."""
        return score_outputs(y, self.predict(X), self.task)


class RowSubset:
    """Lazy view of selected rows of an array-like: nothing is read until indexed.

    Used for the seeded hold-out split so a memory-mapped input is never
    copied.  ``rows`` must be sorted so reads stay monotone on disk.
    """

    def __init__(self, array, rows: np.ndarray):
        self.array, self.rows = array, np.asarray(rows)
        self.shape = (len(self.rows),) + tuple(array.shape[1:])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        return self.array[self.rows[index]]


def holdout_split(n_rows: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n_rows)`` into sorted (train, valid) row indices."""
    n_valid = max(1, int(round(fraction * n_rows)))
    if n_rows - n_valid < 2:
        raise ValueError(f"{n_rows} training rows are too few to hold out a validation set")
    order = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


class TorchEstimator(ScoresMixin, BaseEstimator):
    """Base of every torch estimator: validation split, training, prediction, scoring.

    Subclasses define ``__init__`` (the scikit-learn parameters, including
    ``task``, ``lr``, ``batch_size``, ``max_epochs``, ``patience``,
    ``lr_patience``, ``min_lr``, ``weight_decay``, ``random_state``,
    ``device``, ``progress``) and :meth:`_build_model`; they may override
    :meth:`_prepare_inputs` and :meth:`_train_settings`.

    Fitted attributes: ``model_`` (the torch module, best epoch's weights),
    ``history_`` (:class:`~glmeval_utils.learn.train.TrainHistory`), ``n_outputs_``.
    """

    #: fraction of training rows held out when no validation data is given.
    holdout_fraction = 0.1
    #: whether fits go through the trained-model cache (:mod:`glmeval_utils.learn.trained`).
    cache_fits = True

    def _build_model(self, X, n_outputs: int) -> nn.Module:
        """The untrained torch module for inputs shaped like ``X`` (``X.shape`` is read)."""
        raise NotImplementedError

    def _prepare_inputs(self, X):
        """Inputs as passed to the torch module (kept lazy for memmaps)."""
        return X

    def _train_settings(self) -> dict:
        """Keyword arguments for :func:`~glmeval_utils.learn.train.fit_torch`."""
        return dict(lr=self.lr, batch_size=self.batch_size, min_lr=self.min_lr)

    def _transform(self):
        """Optional training-batch transform (data augmentation)."""
        return None

    def fit(self, X, y, X_valid=None, y_valid=None):
        """Train on ``(X, y)``, early-stopping on ``(X_valid, y_valid)``.

        Without validation data a seeded 10 % of the training rows is held out
        (as a lazy view: memory-mapped inputs stay on disk).

        Parameters
        ----------
        X : array-like ``(N, ...)``
            Input layout depends on the estimator.
        y : array-like ``(N,)`` or ``(N, K)``
            ``NaN`` marks missing targets (ignored by the loss).
        X_valid, y_valid : optional
            Validation data in the same layouts.

        Returns
        -------
        self
        """
        check_task(self.task)
        # checked before the (possibly slow) input preparation; fit_torch would refuse it too
        positive_int(self._train_settings()["batch_size"], "batch_size")
        (X,) = as_inputs(self._prepare_inputs(X))  # lists become arrays; memmaps stay lazy
        n_rows = len(X)
        y = as_targets(y, n_rows)
        if (X_valid is None) != (y_valid is None):
            raise ValueError("pass both X_valid and y_valid, or neither")
        if X_valid is None:
            train_rows, valid_rows = holdout_split(n_rows, self.holdout_fraction, self.random_state)
            train = (RowSubset(X, train_rows), y[train_rows])
            valid = (RowSubset(X, valid_rows), y[valid_rows])
        else:
            (X_valid,) = as_inputs(self._prepare_inputs(X_valid))
            train, valid = (X, y), (X_valid, as_targets(y_valid, len(X_valid)))
        self.n_outputs_ = y.shape[1]
        set_seed(self.random_state)  # the weight initialisation is seeded too
        self.model_ = self._build_model(X, self.n_outputs_)
        device = resolve_device(self.device)
        key = trained.fit_key(self, train, valid, device) if self.cache_fits and trained.enabled() else None
        cached = trained.load(key, self.model_, TrainHistory) if key else None
        if cached is not None:
            self.model_, self.history_ = cached
            self.model_.to(device).eval()
            return self
        self.history_ = fit_torch(
            self.model_, train, valid, task=self.task, max_epochs=self.max_epochs,
            patience=self.patience, lr_patience=self.lr_patience,
            weight_decay=self.weight_decay, seed=self.random_state, transform=self._transform(),
            device=device, progress=self.progress, **self._train_settings())
        if key:
            trained.save(key, self.model_, self.history_)
        return self

    def decision_function(self, X) -> np.ndarray:
        """Raw model outputs (logits for binary): ``(N,)`` when K = 1, else ``(N, K)``."""
        if not hasattr(self, "model_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit first")
        out = predict_torch(self.model_, self._prepare_inputs(X),
                            batch_size=self._train_settings()["batch_size"] * 4)
        return out[:, 0] if out.shape[1] == 1 else out

    def predict(self, X) -> np.ndarray:
        """Predictions: values (regression) or positive-class probabilities (binary)."""
        out = self.decision_function(X)
        return out if self.task == "regression" else expit(out)


class MLPProbe(TorchEstimator):
    """``rep_mlp`` on pooled embeddings ``(N, H)`` (see :class:`DenseHead`).

    Parameters
    ----------
    task : {"regression", "binary"}
    width_factor, dropout : float
        Hidden-width multiplier and dropout of the two hidden layers.
    whiten : bool
        PCA-whiten the inputs (:class:`PCAWhitening`, fitted on the training
        rows) before the first layer. The reference's ``rep_mlp`` does not;
        ``True`` is our default because pooled gLM embeddings are so
        anisotropic that the unwhitened MLP scores near chance where a linear
        probe does not (see :class:`PCAWhitening`).
    lr, batch_size, max_epochs, patience, lr_patience, min_lr, weight_decay
        Training settings for :func:`~glmeval_utils.learn.train.fit_torch`
        (reference: Adam 1e-4, batch 64, 100 epochs, patience 10/5, min lr 1e-8).
    random_state : int
    device : str, optional
        ``None`` picks CUDA when available.
    progress : bool
    """

    def __init__(self, task: str = "regression", *, width_factor: float = 1.0,
                 dropout: float = 0.5, whiten: bool = True, lr: float = 1e-4,
                 batch_size: int = 64, max_epochs: int = 100, patience: int = 10,
                 lr_patience: int = 5, min_lr: float = 1e-8, weight_decay: float = 0.0,
                 random_state: int = 0, device=None, progress: bool = True):
        self.task = task
        self.width_factor = width_factor
        self.dropout = dropout
        self.whiten = whiten
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr_patience = lr_patience
        self.min_lr = min_lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.progress = progress

    def _build_model(self, X, n_outputs):
        if len(X.shape) != 2:
            raise ValueError(f"MLPProbe needs pooled embeddings (N, H); got shape {X.shape}")
        if not self.whiten:
            return DenseHead(X.shape[1], n_outputs, width_factor=self.width_factor,
                             dropout=self.dropout)
        whitening = PCAWhitening.from_data(X)
        return nn.Sequential(whitening, DenseHead(whitening.n_components, n_outputs,
                                                  width_factor=self.width_factor,
                                                  dropout=self.dropout))


#: Reference settings per CNN probe architecture (section 1 and 2).
CNN_ARCHITECTURES = {
    "rep_cnn": dict(reduce_dim=128, lr=1e-4, batch_size=64, min_lr=1e-8),
    "chip_cnn": dict(reduce_dim=512, lr=1e-3, batch_size=256, min_lr=1e-6),
}


class CNNProbe(TorchEstimator):
    """CNN probe on per-position embeddings ``(N, L, H)``.

    ``L`` is whatever the rows are: nucleotides (``pooling="full"``) or
    tokens (``pooling="tokens"``, zero rows padding shorter sequences); the
    dense head is sized from the ``L`` seen in :meth:`fit`, so prediction
    inputs must have the same ``L``.  Inputs may be read-only ``np.memmap``
    arrays (float16 is fine): training and prediction read one mini-batch at
    a time, so memory does not grow with N.

    Parameters
    ----------
    task : {"regression", "binary"}
    architecture : {"rep_cnn", "chip_cnn"}
        :class:`RepCNN` (lentiMPRA probe) or :class:`ChipCNN` (binding probe).
    reduce_dim : int, optional
        Width of the 1x1 reduction; ``None`` uses the architecture's
        reference value (128 / 512); ``0`` skips the reduction.
    width_factor : float
        ``rep_cnn`` width multiplier.
    lr, batch_size, min_lr : optional
        ``None`` uses the architecture's reference value (see
        :data:`CNN_ARCHITECTURES`).
    max_epochs, patience, lr_patience, weight_decay, random_state, device, progress
        As in :class:`MLPProbe`.

    Fitted attributes: those of :class:`TorchEstimator` and ``length_``,
    the ``L`` the dense head was sized for.
    """

    def __init__(self, task: str = "regression", *, architecture: str = "rep_cnn",
                 reduce_dim: int | None = None, width_factor: float = 1.0,
                 lr: float | None = None, batch_size: int | None = None,
                 max_epochs: int = 100, patience: int = 10, lr_patience: int = 5,
                 min_lr: float | None = None, weight_decay: float = 0.0,
                 random_state: int = 0, device=None, progress: bool = True):
        self.task = task
        self.architecture = architecture
        self.reduce_dim = reduce_dim
        self.width_factor = width_factor
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr_patience = lr_patience
        self.min_lr = min_lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.progress = progress

    def _defaults(self) -> dict:
        if self.architecture not in CNN_ARCHITECTURES:
            raise ValueError(f"architecture must be one of {sorted(CNN_ARCHITECTURES)}, "
                             f"got {self.architecture!r}")
        return CNN_ARCHITECTURES[self.architecture]

    def _setting(self, name: str):
        value = getattr(self, name)
        return self._defaults()[name] if value is None else value

    def _train_settings(self):
        return {name: self._setting(name) for name in ("lr", "batch_size", "min_lr")}

    def _build_model(self, X, n_outputs):
        if len(X.shape) != 3:
            raise ValueError("CNNProbe needs per-position embeddings (N, L, H), channels last; "
                             f"got shape {X.shape}")
        _, length, hidden = X.shape
        self.length_ = length
        reduce_dim = self._setting("reduce_dim") or None
        if self.architecture == "rep_cnn":
            return RepCNN(hidden, length, n_outputs, reduce_dim=reduce_dim,
                          width_factor=self.width_factor)
        return ChipCNN(hidden, length, n_outputs, reduce_dim=reduce_dim)

    def decision_function(self, X) -> np.ndarray:
        """Raw outputs, as :meth:`TorchEstimator.decision_function`; ``X`` must have the fitted ``L``."""
        if hasattr(self, "length_") and len(X.shape) == 3 and X.shape[1] != self.length_:
            raise ValueError(f"CNNProbe was fitted on {self.length_} positions per example; got {X.shape[1]} "
                             f"(shape {X.shape}): token and nucleotide rows do not mix")
        return super().decision_function(X)


class LinearProbe(ScoresMixin, BaseEstimator):
    """Ridge (regression) or L2 logistic regression (binary) on pooled embeddings.

    Features are standardised first.  One model is fitted per output column
    on the rows where that target is observed (not ``NaN``).  For logistic
    regression the penalty matches ridge's ``alpha * ||w||^2`` against the
    summed loss, i.e. scikit-learn's ``C = 1 / (2 alpha)``.

    Parameters
    ----------
    task : {"regression", "binary"}
    alpha : float
        L2 penalty (reference: 1e-3).
    max_iter : int
        Solver iterations for logistic regression.
    random_state : int

    Fitted attributes: ``model_`` (list of K fitted pipelines), ``n_outputs_``.
    """

    def __init__(self, task: str = "regression", *, alpha: float = 1e-3, max_iter: int = 1000,
                 random_state: int = 0):
        self.task = task
        self.alpha = alpha
        self.max_iter = max_iter
        self.random_state = random_state

    def _features(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"LinearProbe needs pooled embeddings (N, H); got shape {X.shape}")
        return X

    def _estimator(self):
        if self.task == "regression":
            return Ridge(alpha=self.alpha)
        return LogisticRegression(C=1.0 / (2.0 * self.alpha), max_iter=self.max_iter,
                                  random_state=self.random_state)

    def fit(self, X, y, X_valid=None, y_valid=None):
        """Fit one model per output; ``X_valid``/``y_valid`` are accepted and unused.

        Parameters
        ----------
        X : array-like ``(N, H)``
        y : array-like ``(N,)`` or ``(N, K)``, ``NaN`` = missing

        Returns
        -------
        self
        """
        check_task(self.task)
        X = self._features(X)
        y = as_targets(y, len(X))
        self.n_outputs_ = y.shape[1]
        self.model_ = []
        for column in y.T:
            observed = np.isfinite(column)
            pipeline = make_pipeline(StandardScaler(), self._estimator())
            self.model_.append(pipeline.fit(X[observed], column[observed]))
        return self

    def predict(self, X) -> np.ndarray:
        """Values (regression) or positive-class probabilities (binary): ``(N,)`` or ``(N, K)``."""
        if not hasattr(self, "model_"):
            raise RuntimeError("LinearProbe is not fitted; call fit first")
        X = self._features(X)
        columns = [m.predict(X) if self.task == "regression" else m.predict_proba(X)[:, 1]
                   for m in self.model_]
        out = np.stack(columns, axis=1)
        return out[:, 0] if out.shape[1] == 1 else out
