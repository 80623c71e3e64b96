"""Argument checks shared by the public functions, so each bad value is refused alike.

A batch size of 0 or -1 does not fail by itself in Python: ``range(0, n, -1)``
is empty, so a loop over batches silently does nothing (embeddings left at
zero, log-probabilities never filled, a probe "trained" with loss 0).  Every
public function taking such a count checks it here first.
"""

from __future__ import annotations

import numbers


def positive_int(value, name: str, *, allow_none: bool = False) -> int | None:
    """Return ``value`` as an ``int`` after checking that it is a whole number ≥ 1.

    Parameters
    ----------
    value : int or None
        The argument to check (numpy integers are accepted).
    name : str
        The argument's name, used in the error message (``"batch_size"``).
    allow_none : bool
        Whether ``None`` (meaning "the default") is accepted and returned as is.

    Returns
    -------
    int or None

    Raises
    ------
    TypeError
        ``value`` is not an integer (a float, a string, a bool).
    ValueError
        ``value`` is 0 or negative.
    """
    if value is None and allow_none:
        return None
    # bool is an Integral, but True as a batch size is a slip, not a count
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        accepted = "a positive integer or None" if allow_none else "a positive integer"
        raise TypeError(f"{name} must be {accepted}, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)
