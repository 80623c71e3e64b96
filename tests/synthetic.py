"""Synthetic prediction tables with known quality, for the selection, comparison and verdict tests.

Every configuration predicts ``truth + noise · N(0, 1)`` with its own noise
level on the validation and on the test split, so a test can make a model
best on one split and not on the other, and know which side must win.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from glmeval_utils.predictions import prediction_rows


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def predictions(configurations, *, task="t", dataset="d", n=300, group_size=1, seeds=(0, 1, 2),
                simulated=False) -> pd.DataFrame:
    """Valid and test prediction rows of several configurations on one data set.

    Parameters
    ----------
    configurations : mapping (model, role, representation, probe) -> (noise on valid, noise on test)
    n : int
        Examples per split.
    group_size : int
        Examples per independent group: the truth and every model's noise are
        shared within a group (correlated rows, like the forward and reverse
        construct of one element).
    """
    rows = []
    for split in ("valid", "test"):
        groups = np.arange(n) // group_size
        n_groups = groups.max() + 1
        truth = _rng(task, dataset, split).normal(size=n_groups)[groups]
        index = np.arange(n) + (0 if split == "valid" else 10_000)
        for (model, role, representation, probe), noise in configurations.items():
            sd = noise[0] if split == "valid" else noise[1]
            for seed in seeds:
                error = _rng(task, dataset, model, representation, probe, seed, split).normal(size=n_groups)[groups]
                rows.append(prediction_rows(truth, truth + sd * error, task=task, dataset=dataset, model=model,
                                            role=role, representation=representation, probe=probe, seed=seed,
                                            split=split, index=index, group=groups + (0 if split == "valid" else n),
                                            simulated=simulated))
    return pd.concat(rows, ignore_index=True)


ONEHOT_CNN = ("one-hot", "one-hot", "onehot", "cnn")
ONEHOT_RESNET = ("one-hot", "one-hot", "onehot", "resnet")
GLM_CNN = ("glm", "pretrained", "full", "cnn")
GLM_MEAN = ("glm", "pretrained", "mean", "linear")
CONTROL_CNN = ("glm-random", "random-init", "full", "cnn")

#: The teaching gLM's first and last pretraining checkpoints on one probe rung (chapter 9's curve).
STEP0_MEAN = ("teaching-mlm@step-0", "random-init", "mean", "linear")
STEP50_MEAN = ("teaching-mlm@step-50", "pretrained", "mean", "linear")
STEP300_MEAN = ("teaching-mlm@step-300", "pretrained", "mean", "linear")
#: Chapter 9's fine-tuning sides: a gLM's frozen probe, the gLM fine-tuned (LoRA, full) from its pretrained and
#: from its random-init weights.
FROZEN = ("teaching-mlm", "pretrained", "mean", "linear")
TUNED_LORA = ("teaching-mlm", "fine-tuned", "sequence", "lora")
TUNED_FULL = ("teaching-mlm", "fine-tuned", "sequence", "full")
RANDOM_FROZEN = ("teaching-mlm-random", "random-init", "mean", "linear")
RANDOM_TUNED = ("teaching-mlm-random", "fine-tuned", "sequence", "full")
