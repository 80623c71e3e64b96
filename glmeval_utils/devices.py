"""Where torch computations run: :func:`resolve_device`, the one rule for device arguments.

Every function with a ``device`` argument (gLM loading, training, attribution)
passes it through :func:`resolve_device`, so ``None`` and ``"auto"`` mean the
same everywhere.  :func:`cpu_autocast_dtype` says whether forward passes on this CPU
(embeddings, probes, baselines) run in bf16.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

__all__ = ["resolve_device", "cpu_autocast_dtype", "CPU_BF16_VARIABLE"]

#: CPU flags (``/proc/cpuinfo``) of native bf16 arithmetic; without them torch emulates bf16, slower than fp32.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: ``off`` keeps CPU embeddings in fp32 on a CPU that has native bf16.
CPU_BF16_VARIABLE = "GLMEVAL_CPU_BF16"


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


def cpu_autocast_dtype() -> torch.dtype | None:
    """bf16 where this CPU computes it natively (and ``GLMEVAL_CPU_BF16`` is not ``off``), else None (fp32).

    On the CPU, gLM forward passes for embeddings run under this autocast, as
    they run in bf16 on a GPU, and so do the forward passes of every probe and
    baseline (:func:`glmeval_utils.learn.train.autocast_dtype`).  On the
    demo's CPU (AVX512-BF16) a teaching gLM embeds 1.6x faster
    (``benchmarks/embed_throughput.py``).  The embedding and trained-model
    caches key the dtype, so fp32 and bf16 results never mix.  Likelihood
    scores stay fp32.
    """
    if os.environ.get(CPU_BF16_VARIABLE, "on").strip().lower() in ("off", "0", "false", "no"):
        return None
    return torch.bfloat16 if _cpu_flags() & set(NATIVE_BF16_FLAGS) else None
