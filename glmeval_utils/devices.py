"""Where torch computations run: :func:`resolve_device`, the one rule for device arguments.

Every function with a ``device`` argument (gLM loading, training, attribution)
passes it through :func:`resolve_device`, so ``None`` and ``"auto"`` mean the
same everywhere.
"""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


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
