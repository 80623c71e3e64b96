"""Run profiles: how much data, which models and how many seeds.

* ``smoke``: seconds per notebook; what the test suite executes.
* ``demo``: the default; offline, CPU, real data subsets (6,400 training rows
  per split cap, four times the first demo's); the whole book, pretraining and
  chapter 9 included, on 2 cores with two chapters side by side
  (``run --jobs 2``; the measured minutes are in the README).  To fit, probes
  and baselines are narrower (``width_factor``), train for fewer epochs than
  the paper's (the MLP probe at a 10x learning rate to make up for it), mean
  embeddings come from the cached full embedding, and on a CPU with native bf16
  the embeddings probes read and the training steps run in bf16
  (:func:`glmeval_utils.devices.reduced_precision`).
* ``full``: the paper's data and real Hugging Face checkpoints, for a GPU.

Subsets are chosen deterministically by :mod:`glmeval_utils.data.registry`
(seeded, grouped by element) from ``max_rows`` per split.
"""

from __future__ import annotations

from dataclasses import dataclass

PROFILE_NAMES = ("smoke", "demo", "full")


@dataclass(frozen=True)
class Profile:
    name: str
    #: largest number of rows kept per split (None = all), chosen by :func:`datasets.subsample`.
    max_rows: dict[str, int | None]
    #: seeds for every trained probe / baseline.
    seeds: tuple[int, ...]
    #: gLMs from the registry evaluated by the task chapters.
    models: tuple[str, ...]
    #: epoch cap for torch probes and baselines.
    max_epochs: int
    #: early-stopping patience (epochs) and learning-rate plateau patience.
    patience: int = 10
    lr_patience: int = 5
    #: width multiplier of the MLP/CNN probes (the paper's f) and the CNN probe's 1x1 reduction.
    width_factor: float = 1.0
    reduce_dim: int = 128
    #: Adam learning rate of the MLP probe. The reference's 1e-4 suits its 100 epochs over
    #: 10^4-10^5 rows; a few hundred demo steps at 1e-4 leave the MLP near its initialisation.
    mlp_lr: float = 1e-4
    #: derive mean embeddings from the cached full embedding (one forward pass per data set,
    #: see :func:`glmeval_utils.learn.ladder.split_embeddings`) instead of pooling over tokens.
    mean_from_full: bool = False


PROFILES = {
    "smoke": Profile(
        name="smoke",
        max_rows={"train": 160, "valid": 48, "test": 48},
        seeds=(0,),
        models=("teaching-mlm", "teaching-mlm-random"),
        max_epochs=2,
        patience=2,
        lr_patience=1,
        width_factor=0.25,
        reduce_dim=16,
        mlp_lr=1e-3,
        mean_from_full=True,
    ),
    "demo": Profile(
        name="demo",
        max_rows={"train": 6400, "valid": 640, "test": 800},
        seeds=(0, 1, 2),
        models=("teaching-mlm", "teaching-mlm-random", "teaching-clm", "hyenadna-tiny-anticapt"),
        max_epochs=10,
        patience=3,
        lr_patience=2,
        width_factor=0.25,
        reduce_dim=32,
        mlp_lr=1e-3,
        mean_from_full=True,
    ),
    "full": Profile(
        name="full",
        max_rows={"train": None, "valid": None, "test": None},
        seeds=(0, 1, 2, 3, 4),
        models=(
            "nt-v1-2.5b-1000g", "nt-v2-500m", "dnabert2", "dnabert2-random",
            "hyenadna-tiny-1k-d256", "hyenadna-small-32k", "gpn-brassicales", "caduceus-ph-131k",
        ),
        max_epochs=100,
        patience=10,
        lr_patience=5,
    ),
}


def get_profile(name: str) -> Profile:
    """Look up a profile by name; the error lists the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; known profiles: {', '.join(PROFILE_NAMES)}") from None
