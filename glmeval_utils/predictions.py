"""The tidy prediction table every trained (or zero-shot) model writes, and the roles of models.

One row per example, output and model: ``task, dataset, model, role,
representation, probe, seed, split, index, group, output, y_true, y_score,
simulated`` (:data:`COLUMNS`).

* ``split`` is ``"valid"`` or ``"test"``: validation predictions travel beside
  the test ones, because configurations are chosen on validation scores
  (:mod:`glmeval_utils.eval.select`) and the test set is read once, for the
  reported number.
* ``group`` is the independent unit of the data set (an element whose forward
  and reverse constructs are two rows, an exon with its variants, a variant
  position with its three alternatives); the bootstrap resamples groups, not
  rows (:mod:`glmeval_utils.eval.stats`).
* ``role`` says what question a model answers (:data:`ROLES`).  Only
  ``"pretrained"`` models count as "a gLM"; a random-init control or a
  fine-tuned network answers its own question.
* ``simulated`` marks data from :mod:`glmeval_utils.data.simulate`: they teach
  the method and never enter a biological conclusion.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

#: roles of the models compared in the book.
PRETRAINED = "pretrained"
RANDOM_INIT = "random-init"
FINE_TUNED = "fine-tuned"
ONE_HOT = "one-hot"
COMPOSITION = "composition"
SUPERVISED = "supervised"
ROLES = (PRETRAINED, RANDOM_INIT, FINE_TUNED, ONE_HOT, COMPOSITION, SUPERVISED)

#: model names of the sides that are not gLMs (their role has the same name).
ONEHOT_MODEL = "one-hot"
COMPOSITION_MODEL = "composition"

SPLITS = ("train", "valid", "test")
#: splits whose predictions are kept (training predictions are never scored).
PREDICTED_SPLITS = ("valid", "test")

COLUMNS = ["task", "dataset", "model", "role", "representation", "probe", "seed", "split", "index",
           "group", "output", "y_true", "y_score", "simulated"]
#: columns that identify one model configuration within a data set.
CONFIGURATION = ["model", "role", "representation", "probe"]


def as_matrix(values, name: str) -> np.ndarray:
    """``(N,)`` or ``(N, K)`` values as a float ``(N, K)`` array; the error names ``name``."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name} must be (N,) or (N, K), got shape {array.shape}")
    return array


def prediction_rows(y_true, y_score, *, task: str, dataset: str, model: str, role: str,
                    representation: str, probe: str, seed: int, split: str = "test", index=None,
                    group=None, simulated: bool = False) -> pd.DataFrame:
    """Predictions of one trained model on one split as tidy rows.

    Parameters
    ----------
    y_true, y_score : array-like ``(N,)`` or ``(N, K)``
        ``(N, K)`` gives one row per example and output (``output`` = 0..K-1).
    task, dataset, model, representation, probe : str
    role : str
        One of :data:`ROLES`.
    seed : int
        Training seed (``-1`` for deterministic scores).
    split : {"valid", "test"}
    index : array-like ``(N,)``, optional
        Example identifiers (default ``0..N-1``); they pair the rows of
        different models on the same examples.
    group : array-like ``(N,)``, optional
        Independent unit of each example (default: the example itself).
    simulated : bool

    Returns
    -------
    DataFrame
        :data:`COLUMNS`.
    """
    if role not in ROLES:
        raise ValueError(f"model {model!r}: unknown role {role!r}; use one of {ROLES}")
    if split not in PREDICTED_SPLITS:
        raise ValueError(f"model {model!r}: predictions are kept for {PREDICTED_SPLITS}, not {split!r}")
    y_true, y_score = as_matrix(y_true, "y_true"), as_matrix(y_score, "y_score")
    if y_true.shape != y_score.shape:
        raise ValueError(f"model {model!r}: y_true {y_true.shape} and y_score {y_score.shape} differ in shape")
    n, k = y_true.shape
    index = np.arange(n) if index is None else np.asarray(index)
    group = index if group is None else np.asarray(group)
    for name, values in (("index", index), ("group", group)):
        if len(values) != n:
            raise ValueError(f"model {model!r}: {name} has {len(values)} entries for {n} examples")
    return pd.DataFrame({
        "task": task, "dataset": dataset, "model": model, "role": role, "representation": representation,
        "probe": probe, "seed": int(seed), "split": split, "index": np.repeat(index, k),
        "group": np.repeat(group.astype(str), k), "output": np.tile(np.arange(k), n),
        "y_true": y_true.ravel(), "y_score": y_score.ravel(), "simulated": bool(simulated)})


def check_predictions(table: pd.DataFrame, *, source: str = "prediction table") -> pd.DataFrame:
    """Check that a table has :data:`COLUMNS`, known roles and splits; return it in column order."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{source} lacks columns {missing}; a prediction table has {COLUMNS}")
    unknown = sorted(set(table["role"]) - set(ROLES))
    if unknown:
        raise ValueError(f"{source}: unknown role(s) {unknown}; use {ROLES}")
    splits = sorted(set(table["split"]) - set(PREDICTED_SPLITS))
    if splits:
        raise ValueError(f"{source}: unknown split(s) {splits}; predictions are kept for {PREDICTED_SPLITS}")
    out = table[COLUMNS].copy()
    out["group"] = out["group"].astype(str)
    out["simulated"] = out["simulated"].astype(bool)
    return out


def read_predictions(paths: Sequence) -> pd.DataFrame:
    """Concatenate prediction files (CSV, optionally gzip-compressed), each checked."""
    tables = [check_predictions(pd.read_csv(path, dtype={"group": str}), source=str(path)) for path in paths]
    if not tables:
        raise FileNotFoundError("no prediction files given")
    return pd.concat(tables, ignore_index=True)


def prediction_matrix(rows: pd.DataFrame, value: str = "y_score") -> pd.DataFrame:
    """Examples × outputs matrix of one column of prediction rows.

    Parameters
    ----------
    rows : DataFrame
        Prediction rows of one model and split; rows sharing an ``index`` and
        ``output`` (several seeds) are averaged (an ensemble over seeds).
    value : {"y_score", "y_true"}

    Returns
    -------
    DataFrame
        ``(N examples, K outputs)``, indexed by ``index``.
    """
    return rows.pivot_table(index="index", columns="output", values=value, aggfunc="mean", dropna=False)


def example_groups(rows: pd.DataFrame, index) -> np.ndarray:
    """The ``group`` of each example ``index`` (in the order given)."""
    groups = rows.groupby("index", sort=False)["group"].first()
    missing = pd.Index(index).difference(groups.index)
    if len(missing):
        raise ValueError(f"no group for example(s) {list(missing[:5])}")
    return groups.loc[list(index)].to_numpy()


def model_label(model: str, representation: str, probe: str) -> str:
    """Short display name, e.g. ``"teaching-mlm · full → cnn"``."""
    return f"{model} · {representation} → {probe}"
