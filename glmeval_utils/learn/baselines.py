"""One-hot baselines: torch modules on ``(N, 4, L)`` and an estimator wrapper.

* :class:`OneHotCNN` - the probes' ``rep_cnn`` trunk (:class:`~glmeval_utils.learn.probes.RepCNN`)
  on the 4 one-hot channels, without input norm or 1x1 reduction.
* :class:`BinaryCNN` - the ``chip_cnn`` trunk (:class:`~glmeval_utils.learn.probes.ChipCNN`)
  on one-hot, for the binding tasks.
* :class:`ResNet` - the reference's dilated residual network (lentiMPRA's best).
* :class:`MPRAnn` - the MPRAnn architecture of Agarwal et al. (2023, lentiMPRA).
* :class:`OneHotEstimator` - scikit-learn-style fit/predict/score for any of
  them, taking DNA strings or one-hot arrays.
* :func:`composition_features` - nucleotide / dinucleotide composition, the
  sequence-content control of the binding chapters (fed to
  :class:`~glmeval_utils.learn.probes.LinearProbe` or ``MLPProbe``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from glmeval_utils.learn.probes import ChipCNN, RepCNN, TorchEstimator, pooled_length
from glmeval_utils.sequences import one_hot, reverse_complement_one_hot


class OneHotCNN(RepCNN):
    """``rep_cnn`` on one-hot ``(B, 4, L)`` -> ``(B, n_outputs)``.

    Parameters
    ----------
    length : int
    n_outputs : int
    width_factor : float
    """

    def __init__(self, length: int, n_outputs: int = 1, *, width_factor: float = 1.0):
        super().__init__(4, length, n_outputs, reduce_dim=None, width_factor=width_factor,
                         input_norm=False, channels_last=False)


class BinaryCNN(ChipCNN):
    """``chip_cnn`` on one-hot ``(B, 4, L)`` -> logits ``(B, n_outputs)``.

    Parameters
    ----------
    length : int
    n_outputs : int
    """

    def __init__(self, length: int, n_outputs: int = 1):
        super().__init__(4, length, n_outputs, reduce_dim=None, input_norm=False,
                         channels_last=False)


def scaled(channels: int, width_factor: float) -> int:
    """Channel count ``channels * width_factor``, at least 8."""
    return max(8, int(round(channels * width_factor)))


class DilatedResidualBlock(nn.Module):
    """Residual block of dilated convolutions (Koo-lab style).

    ``x + [conv(d) -> BN -> act -> dropout] ... -> conv(d_last) -> BN``
    followed by ``act``; ``same`` padding keeps the length.

    Parameters
    ----------
    channels : int
    dilations : sequence of int
        One convolution per dilation (the ResNet baseline: 1, 2, 4, 8, 16;
        the INSERT-seq model: 2, 4).
    kernel_size : int
    dropout : float
    activation : type of torch.nn.Module
        ``nn.SiLU`` (ResNet) or ``nn.ReLU`` (INSERT-seq model).
    bias : bool
        Convolution biases (redundant before batch norm; the INSERT-seq
        model has none).

    Shapes: ``(B, C, L)`` -> ``(B, C, L)``.
    """

    def __init__(self, channels: int, dilations=(1, 2, 4, 8, 16), *, kernel_size: int = 3,
                 dropout: float = 0.1, activation: type[nn.Module] = nn.SiLU, bias: bool = True):
        super().__init__()
        layers = []
        for position, dilation in enumerate(dilations):
            layers += [nn.Conv1d(channels, channels, kernel_size, padding="same",
                                 dilation=dilation, bias=bias), nn.BatchNorm1d(channels)]
            if position < len(dilations) - 1:
                layers += [activation(), nn.Dropout(dropout)]
        self.body = nn.Sequential(*layers)
        self.activation = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x + self.body(x))


class ResNet(nn.Module):
    """The reference's one-hot ResNet (section 1), our reading of its layer list.

    Conv 196 k19 -> BN -> SiLU -> dropout 0.1 -> :class:`DilatedResidualBlock`
    (k3, dilations 1, 2, 4, 8, 16) -> maxpool 5 -> dropout 0.2 -> Conv 256 k7
    -> BN -> SiLU -> maxpool 5 -> dropout 0.2 -> "Dense 256" applied per
    position (a 1x1 conv, as a Keras Dense on a 3-D tensor is) -> BN -> SiLU
    -> average-pool 2 -> flatten -> Dense 256 -> BN -> SiLU -> dropout 0.5 ->
    linear output.  Dropout rates and batch norms are not listed in the
    reference and follow the usual Koo-lab choices.

    ``width_factor`` multiplies every channel and unit count (1 = the
    reference; the CPU demo profile uses smaller widths).

    Shapes: ``(B, 4, L)`` -> ``(B, n_outputs)``.
    """

    def __init__(self, length: int, n_outputs: int = 1, *, width_factor: float = 1.0):
        super().__init__()
        first, wide = scaled(196, width_factor), scaled(256, width_factor)
        self.features = nn.Sequential(
            nn.Conv1d(4, first, 19, padding="same"), nn.BatchNorm1d(first), nn.SiLU(), nn.Dropout(0.1),
            DilatedResidualBlock(first), nn.MaxPool1d(5, ceil_mode=True), nn.Dropout(0.2),
            nn.Conv1d(first, wide, 7, padding="same"), nn.BatchNorm1d(wide), nn.SiLU(),
            nn.MaxPool1d(5, ceil_mode=True), nn.Dropout(0.2),
            nn.Conv1d(wide, wide, 1), nn.BatchNorm1d(wide), nn.SiLU(),
            nn.AvgPool1d(2, ceil_mode=True), nn.Flatten())
        self.head = nn.Sequential(
            nn.Linear(wide * pooled_length(length, 5, 5, 2), wide), nn.BatchNorm1d(wide), nn.SiLU(),
            nn.Dropout(0.5), nn.Linear(wide, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ChannelSoftmax(nn.Module):
    """Softmax over filters at each position (Keras ``activation="softmax"`` on Conv1D)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=1)


class MPRAnn(nn.Module):
    """MPRAnn (Agarwal et al. 2023), as listed in the reference (section 1).

    Conv 250 k7 ReLU -> BN -> Conv 250 k8 softmax -> BN -> maxpool 2 ->
    dropout 0.1 -> Conv 250 k3 softmax -> BN -> Conv 100 k2 softmax -> BN ->
    dropout 0.1 -> flatten -> Dense 300 sigmoid -> dropout 0.3 -> Dense 200
    sigmoid -> dropout 0.3 -> linear output.  Convolutions are ``valid``
    (unpadded), so ``length`` must be at least 21.  The softmax runs across
    filters at each position, as Keras applies it to the last (channel) axis;
    batch norms, the pool and dropout rates follow our reading of Agarwal et
    al.'s published MPRAnn.  ``width_factor`` multiplies the filter counts.

    Shapes: ``(B, 4, L)`` -> ``(B, n_outputs)``.
    """

    def __init__(self, length: int, n_outputs: int = 1, *, width_factor: float = 1.0):
        super().__init__()
        conv_length = (length - 6 - 7) // 2 - 2 - 1
        if conv_length < 1:
            raise ValueError(f"MPRAnn needs sequences of at least 21 nt, got length {length}")
        filters, last = scaled(250, width_factor), scaled(100, width_factor)
        self.features = nn.Sequential(
            nn.Conv1d(4, filters, 7), nn.ReLU(), nn.BatchNorm1d(filters),
            nn.Conv1d(filters, filters, 8), ChannelSoftmax(), nn.BatchNorm1d(filters),
            nn.MaxPool1d(2), nn.Dropout(0.1),
            nn.Conv1d(filters, filters, 3), ChannelSoftmax(), nn.BatchNorm1d(filters),
            nn.Conv1d(filters, last, 2), ChannelSoftmax(), nn.BatchNorm1d(last),
            nn.Dropout(0.1), nn.Flatten())
        self.head = nn.Sequential(
            nn.Linear(last * conv_length, 300), nn.Sigmoid(), nn.Dropout(0.3),
            nn.Linear(300, 200), nn.Sigmoid(), nn.Dropout(0.3), nn.Linear(200, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


#: architecture name -> module constructor ``(length, n_outputs) -> nn.Module``.
ARCHITECTURES = {"cnn": OneHotCNN, "resnet": ResNet, "mprann": MPRAnn, "binary_cnn": BinaryCNN}


def random_reverse_complement(generator: torch.Generator):
    """Training-batch transform that reverse-complements a random half of the rows.

    Parameters
    ----------
    generator : torch.Generator
        Seeded source of the per-row coin flips (keeps runs reproducible).

    Returns
    -------
    callable
        ``transform(x (B, 4, L)) -> (x',)`` for :func:`~glmeval_utils.learn.train.fit_torch`.
    """

    def transform(x: torch.Tensor):
        flip = torch.rand(len(x), generator=generator) < 0.5
        flip = flip.to(x.device)[:, None, None]
        return (torch.where(flip, reverse_complement_one_hot(x), x),)

    return transform


class OneHotEstimator(TorchEstimator):
    """Train a one-hot baseline with a scikit-learn interface.

    Parameters
    ----------
    architecture : {"cnn", "resnet", "mprann", "binary_cnn"}
    task : {"regression", "binary"}
    lr, batch_size, max_epochs, patience, lr_patience, min_lr, weight_decay
        Training settings (reference: Adam 1e-3, batch 128, 100 epochs,
        patience 10 / 5).
    width_factor : float
        Channel multiplier of the CNN, ResNet and MPRAnn (1 = reference;
        ignored by ``binary_cnn``).
    rc_augment : bool
        Reverse-complement a random half of each training batch, and average
        forward and reverse-complement predictions at inference.
    random_state : int
    device : str, optional
        ``None`` picks CUDA when available.
    progress : bool

    Notes
    -----
    ``X`` is a list of equal-length DNA strings (encoded with
    :func:`~glmeval_utils.sequences.one_hot`) or a one-hot array
    ``(N, 4, L)``.  Fitted attributes: ``model_``, ``history_``, ``n_outputs_``.
    """

    def __init__(self, architecture: str = "cnn", task: str = "regression", *,
                 lr: float = 1e-3, batch_size: int = 128, max_epochs: int = 100,
                 patience: int = 10, lr_patience: int = 5, min_lr: float = 1e-7,
                 weight_decay: float = 0.0, width_factor: float = 1.0, rc_augment: bool = False,
                 random_state: int = 0, device=None, progress: bool = True):
        self.architecture = architecture
        self.width_factor = width_factor
        self.task = task
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr_patience = lr_patience
        self.min_lr = min_lr
        self.weight_decay = weight_decay
        self.rc_augment = rc_augment
        self.random_state = random_state
        self.device = device
        self.progress = progress

    def _prepare_inputs(self, X):
        if isinstance(X, str):
            raise TypeError("pass a list of sequences, not a single string")
        numeric_array = hasattr(X, "shape") and not (
            isinstance(X, (np.ndarray, pd.Series)) and X.dtype.kind in "OUS")
        if not numeric_array:  # sequences: list, tuple, Series or array of str
            seqs = list(X)
            not_text = [i for i, s in enumerate(seqs) if not isinstance(s, str)]
            if not_text:
                raise TypeError(f"row {not_text[0]} is {type(seqs[not_text[0]]).__name__}, "
                                "expected a DNA string")
            lengths = {len(s) for s in seqs}
            if len(lengths) != 1:
                raise ValueError("sequences must share one length, got lengths "
                                 f"{sorted(lengths)[:5]}")
            return one_hot(seqs)
        if len(X.shape) != 3 or X.shape[1] != 4:
            raise ValueError(f"one-hot input must be (N, 4, L) channels first; got shape {X.shape}")
        return X

    def _build_model(self, X, n_outputs):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, "
                             f"got {self.architecture!r}")
        # chip_cnn's filters are already small and the reference gives it no width knob
        scaling = {} if self.architecture == "binary_cnn" else {"width_factor": self.width_factor}
        return ARCHITECTURES[self.architecture](X.shape[2], n_outputs, **scaling)

    def _transform(self):
        if not self.rc_augment:
            return None
        return random_reverse_complement(torch.Generator().manual_seed(self.random_state))

    def decision_function(self, X) -> np.ndarray:
        """Raw outputs; with ``rc_augment`` the mean over both strands."""
        X = self._prepare_inputs(X)
        forward = super().decision_function(X)
        if not self.rc_augment:
            return forward
        return 0.5 * (forward + super().decision_function(reverse_complement_one_hot(X)))


def composition_features(seqs, k: int = 1) -> np.ndarray:
    """Normalised mono- (k=1) or dinucleotide (k=2) composition.

    Parameters
    ----------
    seqs : sequence of str
        DNA sequences; ``N`` positions (and pairs touching them) are not counted.
    k : {1, 2}

    Returns
    -------
    numpy.ndarray
        float32 ``(N, 4)`` base frequencies in ``ACGT`` order, or ``(N, 16)``
        dinucleotide frequencies in ``AA, AC, ..., TT`` order; each row sums
        to 1 (or 0 for a sequence with nothing to count).
    """
    if k not in (1, 2):
        raise ValueError(f"k must be 1 or 2, got {k}")
    if isinstance(seqs, str):  # list("ACGT") would give four one-base rows
        raise TypeError("composition_features: expected a list of sequences, got a single string; "
                        "wrap it in a list: [seq]")
    encoded = one_hot(list(seqs))  # (N, 4, L)
    if k == 1:
        counts = encoded.sum(axis=2)
    else:
        counts = np.einsum("nil,njl->nij", encoded[:, :, :-1], encoded[:, :, 1:]).reshape(-1, 16)
    totals = counts.sum(axis=1, keepdims=True)
    return (counts / np.maximum(totals, 1)).astype(np.float32)
