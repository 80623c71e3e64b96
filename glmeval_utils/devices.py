"""Where torch computations run: :func:`resolve_device`, the one rule for device arguments.

Every function with a ``device`` argument (gLM loading, training, attribution)
passes it through :func:`resolve_device`, so ``None`` and ``"auto"`` mean the
same everywhere.  :func:`cpu_autocast_dtype` says whether a CPU forward pass
runs in bf16: only inside :func:`reduced_precision`, which the bulk work opts
into (embeddings that probes read, training steps, pretraining).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from pathlib import Path

import torch

__all__ = ["resolve_device", "cpu_autocast_dtype", "reduced_precision", "CPU_BF16_VARIABLE"]

#: CPU flags (``/proc/cpuinfo``) of native bf16 arithmetic; without them torch emulates bf16, slower than fp32.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: ``off`` keeps every CPU forward pass in fp32, even on a CPU that has native bf16.
CPU_BF16_VARIABLE = "GLMEVAL_CPU_BF16"
_REDUCED_PRECISION = contextvars.ContextVar("glmeval_reduced_precision", default=False)


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The torch device a ``device`` argument names.

    Parameters
    ----------
    device : str, torch.device or None
        ``None`` or ``"auto"``: CUDA when available, else CPU.  Anything else
        is passed to ``torch.device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``,
        ``"mps"``, a ``torch.device``).

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If ``device`` is not a device name torch understands.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device {device!r} names no torch device ({error}); use None or 'auto' (CUDA when "
            "available), 'cpu', 'cuda' or 'cuda:<index>'"
        ) from error


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no flags to read, so no bf16
        return frozenset()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


@contextlib.contextmanager
def reduced_precision():
    """Let CPU forward passes inside this block run in bf16 (see :func:`cpu_autocast_dtype`).

    Opted into by work whose results are absolute values, not small
    differences: the embeddings probes read (:func:`glmeval_utils.learn.ladder.split_embeddings`
    and the chapters' other probe inputs), the training steps of
    :func:`glmeval_utils.learn.train.fit_torch` and teaching-gLM pretraining.
    Variant effects (differences of two embeddings or predictions, in-silico
    mutagenesis), predictions and likelihood scores run outside it, in fp32.
    """
    token = _REDUCED_PRECISION.set(True)
    try:
        yield
    finally:
        _REDUCED_PRECISION.reset(token)


def cpu_autocast_dtype() -> torch.dtype | None:
    """bf16 inside :func:`reduced_precision` on a CPU that computes it natively, else None (fp32).

    ``GLMEVAL_CPU_BF16=off`` keeps fp32 everywhere.  On the demo's CPU
    (AVX512-BF16) a teaching gLM embeds 1.6x faster
    (``benchmarks/embed_throughput.py``) and the CNN probe trains about 1.4x
    faster (``benchmarks/cnn_probe.py``).  The embedding and trained-model
    caches and the pretraining fingerprint key the dtype, so fp32 and bf16
    results never mix.
    """
    if not _REDUCED_PRECISION.get():
        return None
    if os.environ.get(CPU_BF16_VARIABLE, "on").strip().lower() in ("off", "0", "false", "no"):
        return None
    return torch.bfloat16 if _cpu_flags() & set(NATIVE_BF16_FLAGS) else None
