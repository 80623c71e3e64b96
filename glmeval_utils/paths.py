"""Where glmeval keeps downloaded data, trained models and embeddings.

``GLMEVAL_DATA`` overrides the cache root.  Without it, a source checkout
uses ``<checkout>/data/cache`` (git-ignored) and an installed package uses
``~/.cache/glmeval`` (on Colab, which installs from pip, that disk is lost with
the session; the chapters' Colab set-up cell, given a ``drive_folder``, points
``GLMEVAL_DATA`` into Google Drive instead).  Results are not kept here: the
chapters write them to their ``output_dir``, relative to the working directory.
``GLMEVAL_MIRROR`` (read by :mod:`glmeval_utils.data.registry`) points at an
offline mirror of the upstream files.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path | None:
    """The source checkout containing this package, or None when installed elsewhere."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").exists() and (root / "notebooks").is_dir() else None


def cache_dir() -> Path:
    """Root of every cache (data, models, embeddings)."""
    if os.environ.get("GLMEVAL_DATA"):
        return Path(os.environ["GLMEVAL_DATA"]).expanduser()
    root = project_root()
    return root / "data" / "cache" if root else Path.home() / ".cache" / "glmeval"


def data_dir() -> Path:
    """Downloaded (hash-verified) upstream files."""
    return cache_dir() / "downloads"


def models_dir() -> Path:
    """Teaching gLMs trained by the book (``save_pretrained`` folders)."""
    return cache_dir() / "models"


def embeddings_dir() -> Path:
    """Content-addressed embedding cache."""
    return cache_dir() / "embeddings"
