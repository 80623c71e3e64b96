"""One torch training loop for every trainable probe and one-hot baseline.

:func:`fit_torch` follows the reference study's Keras recipe (Adam, early
stopping on validation loss with the best weights restored, learning rate
reduced on plateau by a factor 0.2), but fixes the seeds the reference never
set, so a run is reproducible on CPU at a given number of torch threads.
The thread count changes how floating-point sums are split, so the same seed
on 1 and 2 threads gives predictions that differ in the last digits (up to
~5e-3 for the probes); :func:`glmeval_utils.book.run_notebooks` therefore
fixes the count for every chapter and records it in ``timings.csv``.

Data are fed by index, never loaded whole: a training input may be a
read-only ``np.memmap`` of per-nucleotide embeddings ``(N, L, H)`` in float16
far larger than memory.  Each mini-batch reads only its rows (indices sorted
within the shuffled batch so reads from disk are local) and converts them to
float32 tensors.  On a CPU with native bf16 the training steps run under bf16
autocast (:func:`training_autocast_dtype`; losses stay fp32), for one-hot
baselines and probes alike; validation losses and predictions run in fp32.

Inputs and targets
------------------
* ``X`` is an array-like indexable along axis 0 (``numpy.ndarray``,
  ``np.memmap``, an h5py dataset, ...), or a **tuple** of such arrays for
  models that take several inputs (``model(x1, x2)``, e.g. the two halves of
  a splicing sequence).  Lists are converted with ``numpy.asarray``.
* ``y`` is ``(N,)`` or ``(N, K)``; ``NaN`` marks a missing target that the
  built-in losses ignore (the splicing chapter has 56 tissues, many
  unmeasured per exon).  Models return ``(B, K)`` (or ``(B,)`` when K = 1).
"""

from __future__ import annotations

import contextlib
import copy
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from glmeval_utils.devices import cpu_autocast_dtype, reduced_precision, resolve_device
from glmeval_utils.validation import positive_int

TASKS = ("regression", "binary")


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) random number generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainHistory:
    """What happened during :func:`fit_torch`.

    Attributes
    ----------
    train_loss, valid_loss : list of float
        Mean loss per epoch (valid loss is NaN when no validation data).
    lr : list of float
        Learning rate used in each epoch.
    best_epoch : int
        0-based epoch whose weights were restored.
    best_loss : float
        The monitored loss (validation, or training without validation data)
        at ``best_epoch``.
    stopped_early : bool
        True when patience ran out before ``max_epochs``.
    seconds : float
        Wall-clock training time.
    """

    train_loss: list[float] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_loss: float = float("inf")
    stopped_early: bool = False
    seconds: float = 0.0

    @property
    def n_epochs(self) -> int:
        """Number of epochs run."""
        return len(self.train_loss)

    def to_frame(self) -> pd.DataFrame:
        """Tidy per-epoch table with columns ``epoch, train_loss, valid_loss, lr``."""
        return pd.DataFrame({"epoch": np.arange(self.n_epochs), "train_loss": self.train_loss,
                             "valid_loss": self.valid_loss, "lr": self.lr})


# ----------------------------------------------------------------------------------------------
# data access by index


def as_inputs(X) -> tuple:
    """Normalise model inputs to a tuple of row-indexable arrays of equal length.

    A tuple means several model inputs; anything else is one input.  Objects
    with ``shape`` and ``__getitem__`` (numpy arrays, memmaps, h5py datasets,
    tensors) are kept as they are, so nothing is read into memory here.
    """
    parts = X if isinstance(X, tuple) else (X,)
    out = tuple(p if hasattr(p, "shape") and hasattr(p, "__getitem__") else np.asarray(p)
                for p in parts)
    lengths = {len(p) for p in out}
    if len(lengths) != 1:
        raise ValueError(f"model inputs have different numbers of rows: {[len(p) for p in out]}")
    return out


def as_targets(y, n_rows: int) -> np.ndarray:
    """Targets as a float32 ``(N, K)`` array (``(N,)`` becomes ``(N, 1)``)."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(f"targets must have shape (N,) or (N, K), got {y.shape}")
    if len(y) != n_rows:
        raise ValueError(f"inputs have {n_rows} rows but targets have {len(y)}")
    return y


def _rows(array, index: np.ndarray, device: torch.device) -> torch.Tensor:
    """Read rows ``index`` (sorted) of one input as a float32 tensor on ``device``."""
    if isinstance(array, torch.Tensor):
        batch = array[torch.as_tensor(index)]
    else:
        batch = torch.from_numpy(np.ascontiguousarray(array[index], dtype=np.float32))
    return batch.to(device=device, dtype=torch.float32)


def _batches(n_rows: int, batch_size: int, rng: np.random.Generator | None):
    """Yield sorted index batches; shuffled when ``rng`` is given.

    A trailing training batch of one row is dropped: batch normalisation
    cannot compute statistics from a single example.
    """
    order = rng.permutation(n_rows) if rng is not None else np.arange(n_rows)
    for start in range(0, n_rows, batch_size):
        index = np.sort(order[start:start + batch_size])
        if rng is not None and len(index) == 1 and n_rows > 1:
            continue
        yield index


# ----------------------------------------------------------------------------------------------
# losses


def masked_loss(task: str) -> Callable:
    """Element-wise loss of a task that ignores ``NaN`` targets.

    Returns a function ``(output (B, K), target (B, K)) -> (loss sum, count)``
    so batch losses can be averaged over observed targets exactly.
    ``"binary"`` uses BCE on logits (models output logits).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS} or a callable, got {task!r}")

    def loss(output: torch.Tensor, target: torch.Tensor):
        observed = torch.isfinite(target)
        safe_target = torch.where(observed, target, torch.zeros_like(target))
        if task == "regression":
            values = (output - safe_target) ** 2
        else:
            values = nn.functional.binary_cross_entropy_with_logits(
                output, safe_target, reduction="none")
        values = torch.where(observed, values, torch.zeros_like(values))
        return values.sum(), observed.sum()

    return loss


def _loss_function(task):
    """Built-in masked loss, or a user callable ``loss(output, target) -> mean loss``."""
    if callable(task):
        def loss(output, target):
            return task(output, target) * len(target), torch.tensor(len(target))

        return loss
    return masked_loss(task)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision a forward pass on ``device`` runs in here, or None for fp32.

    bf16 inside :func:`~glmeval_utils.devices.reduced_precision` on a CPU with
    native bf16 (:func:`~glmeval_utils.devices.cpu_autocast_dtype`); fp32 on
    other devices and outside that block.
    """
    return cpu_autocast_dtype() if device.type == "cpu" else None


def training_autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The precision of :func:`fit_torch`'s training steps on ``device`` (bf16 on a CPU with native bf16).

    The demo's probes and baselines train 1.3-1.4x faster in bf16
    (``benchmarks/cnn_probe.py``); the validation loss that picks the epoch
    and every prediction stay fp32.
    """
    with reduced_precision():
        return autocast_dtype(device)


def _forward(model: nn.Module, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """The model's outputs as float32 ``(B, K)``; the forward pass autocasts as :func:`autocast_dtype` says."""
    dtype = autocast_dtype(inputs[0].device)
    with torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext():
        output = model(*inputs)
    output = output.float()  # losses and predictions in fp32
    return output[:, None] if output.ndim == 1 else output


def _epoch_loss(model, inputs, y, loss_fn, batch_size, device, *, optimizer=None, rng=None,
                transform=None) -> float:
    """One pass over the data; trains when ``optimizer`` is given.  Mean loss per target."""
    total, count = 0.0, 0
    for index in _batches(len(y), batch_size, rng):
        batch = [_rows(part, index, device) for part in inputs]
        target = torch.from_numpy(y[index]).to(device)
        if optimizer is not None:
            if transform is not None:
                batch = list(transform(*batch))
            optimizer.zero_grad(set_to_none=True)
            loss_sum, n = loss_fn(_forward(model, batch), target)
            if n > 0:  # a batch whose targets are all missing carries no gradient
                (loss_sum / n).backward()
                optimizer.step()
        else:
            loss_sum, n = loss_fn(_forward(model, batch), target)
        total += float(loss_sum.detach())
        count += int(n)
    return total / max(count, 1)


# ----------------------------------------------------------------------------------------------
# public API


def fit_torch(
    model: nn.Module,
    train_data: tuple,
    valid_data: tuple | None = None,
    *,
    task: str | Callable = "regression",
    lr: float = 1e-3,
    batch_size: int = 128,
    max_epochs: int = 100,
    patience: int = 10,
    lr_patience: int = 5,
    lr_factor: float = 0.2,
    min_lr: float = 1e-7,
    weight_decay: float = 0.0,
    seed: int = 0,
    transform: Callable | None = None,
    device=None,
    progress: bool = True,
) -> TrainHistory:
    """Train ``model`` in place with Adam, early stopping and LR reduction.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch of inputs to ``(B, K)`` outputs (logits for ``"binary"``).
    train_data, valid_data : tuple ``(X, y)``
        ``X``: array-like ``(N, ...)`` read by row (memmaps stay on disk) or a
        tuple of such arrays for multi-input models; ``y``: ``(N,)`` or
        ``(N, K)`` with ``NaN`` for missing targets.  Without ``valid_data``
        early stopping and LR reduction monitor the training loss.
    task : {"regression", "binary"} or callable
        Masked MSE, masked BCE-with-logits, or ``loss(output, target)``
        returning a scalar batch mean (masking is then the callable's job).
    lr, batch_size, max_epochs, weight_decay
        Adam learning rate, mini-batch size (≥ 1), epoch cap (≥ 1), L2 weight decay.
    patience : int
        Epochs without improvement of the monitored loss before stopping.
    lr_patience, lr_factor, min_lr
        ``ReduceLROnPlateau`` settings (Keras defaults of the reference).
    seed : int
        Seeds torch/numpy/python (:func:`set_seed`) and the batch shuffling.
    transform : callable, optional
        Applied to each *training* batch's input tensors
        (``transform(*tensors) -> tuple``), e.g. random reverse complements.
    device : str or torch.device, optional
        ``None`` or ``"auto"`` picks CUDA when available
        (:func:`glmeval_utils.devices.resolve_device`).
    progress : bool
        Show a progress bar over epochs.

    Returns
    -------
    TrainHistory
        The model holds the weights of ``history.best_epoch`` on return.

    Raises
    ------
    TypeError, ValueError
        ``batch_size`` or ``max_epochs`` is not a positive integer.
    FloatingPointError
        When the training loss becomes NaN or infinite (diverged training).
    """
    # a batch size below 1 makes every epoch an empty loop: "trained" with loss 0
    batch_size = positive_int(batch_size, "batch_size")
    max_epochs = positive_int(max_epochs, "max_epochs")
    set_seed(seed)
    rng = np.random.default_rng(seed)
    device = resolve_device(device)
    model.to(device)
    loss_fn = _loss_function(task)
    train_inputs = as_inputs(train_data[0])
    train_y = as_targets(train_data[1], len(train_inputs[0]))
    if valid_data is not None:
        valid_inputs = as_inputs(valid_data[0])
        valid_y = as_targets(valid_data[1], len(valid_inputs[0]))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=lr_factor, patience=lr_patience, min_lr=min_lr)

    history = TrainHistory()
    best_state = copy.deepcopy(model.state_dict())
    epochs_since_best = 0
    start = time.perf_counter()
    bar = tqdm(range(max_epochs), desc="epochs", disable=not progress, leave=False)
    for epoch in bar:
        history.lr.append(optimizer.param_groups[0]["lr"])
        model.train()
        with reduced_precision():  # see training_autocast_dtype
            train_loss = _epoch_loss(model, train_inputs, train_y, loss_fn, batch_size, device,
                                     optimizer=optimizer, rng=rng, transform=transform)
        if not np.isfinite(train_loss):
            raise FloatingPointError(f"training loss is {train_loss} at epoch {epoch}; "
                                     f"lower the learning rate (lr={lr}) or check the inputs")
        model.eval()
        with torch.inference_mode():
            valid_loss = (float("nan") if valid_data is None else
                          _epoch_loss(model, valid_inputs, valid_y, loss_fn, batch_size, device))
        history.train_loss.append(train_loss)
        history.valid_loss.append(valid_loss)
        monitored = train_loss if valid_data is None else valid_loss
        scheduler.step(monitored)
        bar.set_postfix(train=f"{train_loss:.4g}", valid=f"{valid_loss:.4g}")
        if monitored < history.best_loss:
            history.best_loss, history.best_epoch = monitored, epoch
            best_state = copy.deepcopy(model.state_dict())
            epochs_since_best = 0
        else:
            epochs_since_best += 1
            if epochs_since_best >= patience:
                history.stopped_early = True
                break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


def predict_torch(model: nn.Module, X, *, batch_size: int = 256, device=None,
                  progress: bool = False) -> np.ndarray:
    """Batched inference in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
    X : array-like ``(N, ...)`` or tuple of array-likes
        Read by row, so memmaps stay on disk.
    batch_size : int
        Rows per forward pass (≥ 1).
    device : str or torch.device, optional
        ``None`` uses the device of the model's parameters (CPU if none);
        ``"auto"`` picks CUDA when available.
    progress : bool

    Returns
    -------
    numpy.ndarray
        float32 ``(N, K)`` raw model outputs (logits for binary models).
    """
    batch_size = positive_int(batch_size, "batch_size")
    inputs = as_inputs(X)
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    device = resolve_device(device)
    model.to(device).eval()
    outputs = []
    batches = list(_batches(len(inputs[0]), batch_size, None))
    with torch.inference_mode():
        for index in tqdm(batches, desc="predict", disable=not progress, leave=False):
            batch = [_rows(part, index, device) for part in inputs]
            outputs.append(_forward(model, batch).float().cpu().numpy())
    if not outputs:
        raise ValueError("cannot predict on an empty input")
    return np.concatenate(outputs)
