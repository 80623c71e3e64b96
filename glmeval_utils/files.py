"""File helpers shared by every cache: checksums read in blocks, and temporary names no two writers share.

Each cache (downloads, embeddings, trained models, teaching-gLM checkpoints)
writes a file under a temporary name and moves it into place with
:func:`os.replace`; :func:`temporary_path` gives that name, unique to the
process and the call, so concurrent writers of one file never write into
each other's partial copy.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

#: bytes read per block when hashing a file.
HASH_BLOCK_BYTES = 1 << 20


def update_with_file(digest, path: str | os.PathLike):
    """Feed the bytes of ``path`` to a ``hashlib`` object, a block at a time; returns ``digest``."""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(HASH_BLOCK_BYTES), b""):
            digest.update(block)
    return digest


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file (``algorithm``: any ``hashlib`` name, e.g. ``"sha256"``, ``"md5"``)."""
    return update_with_file(hashlib.new(algorithm), path).hexdigest()


def temporary_path(path: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """A name beside ``path`` unique to this process and call: ``<name>.<pid>.<random><suffix>``."""
    path = Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}{suffix}")
