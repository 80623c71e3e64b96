"""Chapter 0: the teaching gLMs — pretrained (or reused), evaluated on held-out sequences, looked inside.

The pretraining itself is :mod:`glmeval_utils.pretrain` (label-blind corpus,
held-out splits); this module gathers what the chapter shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from glmeval_utils import pretrain
from glmeval_utils.data import registry
from glmeval_utils.eval.results import make_rows, write_results
from glmeval_utils.models import describe_glms, load_glm
from glmeval_utils.paths import models_dir
from glmeval_utils.tasks.report import default_progress, output_path
from glmeval_utils.tasks.tables import for_reading, readable

TASK = "pretraining"
#: the masked model looked inside, and its control.
INSPECTED = ("teaching-mlm", "teaching-mlm-random")
#: the corpus table as the chapter shows it: the training record's columns, named for readers.
CORPUS_COLUMNS = {"dataset": "data set", "train_rows": "training rows",
                  "excluded_overlap": "excluded: identical to a held-out sequence", "too_short": "too short",
                  "train_used": "used for training", "valid_candidates": "held-out candidates"}


@dataclass(frozen=True)
class Config:
    """Settings of chapter 0."""

    profile: str
    seed: int = 0
    example_length: int = 60


def config(profile: str = "demo", **overrides) -> Config:
    """The chapter's settings; keyword overrides (None = keep) replace any field."""
    return Config(profile=profile, **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class Run:
    """Held-out metrics, the corpus and a look inside the masked model.

    Attributes
    ----------
    held_out : DataFrame
        ``model, control, metric, pretrained, random_init`` (:func:`glmeval_utils.pretrain.pretrain_all`).
    corpus : DataFrame
        Per corpus data set: training rows, excluded and used sequences.
    corpus_totals : dict
        Training and held-out sequence counts.
    example : str
        A held-out lentiMPRA element (without adapters), cropped.
    probabilities : dict of model → array ``(L, 4)``
        Masked probability of each base at each position of ``example``.
    """

    config: Config
    held_out: pd.DataFrame
    corpus: pd.DataFrame
    corpus_totals: dict
    example: str
    probabilities: dict


def run(cfg: Config, *, progress: bool | None = None) -> Run:
    """Pretrain (or reuse) both teaching gLMs, read their corpus, and mask every position of one element."""
    progress = default_progress() if progress is None else progress
    held_out = pretrain.pretrain_all(profile=cfg.profile, seed=cfg.seed, progress=progress)
    info = json.loads((models_dir() / "teaching-mlm" / "training_info.json").read_text())
    corpus = for_reading(readable(pd.DataFrame(info["data"]["per_dataset"]), CORPUS_COLUMNS))
    totals = {"training sequences": info["data"]["n_train_sequences"],
              "held-out evaluation sequences": info["data"]["n_valid_sequences"],
              "excluded as identical to a held-out sequence": info["data"]["n_excluded_overlapping_held_out"]}
    test = registry.load("lentimpra_hepg2", profile=cfg.profile, progress=False).query("split == 'test'")
    example = test.seq.iloc[0][15:15 + cfg.example_length]
    positions = list(range(len(example)))
    probabilities = {name: np.exp(load_glm(name).masked_log_probs(example, positions)) for name in INSPECTED}
    return Run(cfg, held_out, corpus, totals, example, probabilities)


def observed_probability(run: Run, model: str) -> float:
    """Mean masked probability of the observed base over the example's positions."""
    probs = run.probabilities[model]
    return float(np.mean([probs[i, "ACGT".index(b)] for i, b in enumerate(run.example) if b in "ACGT"]))


def registry_table() -> pd.DataFrame:
    """Every gLM of the registry, with its role, for the book (name, family, role, tier, objective, notes)."""
    return for_reading(readable(describe_glms(), {"name": "model", "family": "family", "role": "role", "tier": "profile",
                                                  "objective": "objective", "max_length": "max length",
                                                  "licence": "licence", "notes": "notes"}))


def save(run: Run, output_dir) -> list:
    """Write the held-out metrics of both models and their controls to the results table."""
    rows = []
    for row in run.held_out.itertuples():
        for model, value in ((row.model, row.pretrained), (row.control, row.random_init)):
            rows += make_rows({row.metric: value}, task=TASK, dataset="held-out corpus", model=model,
                              representation="-", probe="-", seed=run.config.seed)
    path = output_path(output_dir, f"{TASK}.csv")
    write_results(rows, path)
    return [path]
