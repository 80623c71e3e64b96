"""Evaluation metrics, always computed from continuous scores.

The reference study computed some AUROC/AUPR values from hard 0/1
predictions, which collapses the ranking; every function here takes real
valued scores (probabilities or logits) and refuses binary-only scores for
ranking metrics only when they are constant.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

REGRESSION_METRICS = ("pearson", "spearman")
BINARY_METRICS = ("auroc", "aupr")


def _as_vectors(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=float).ravel()
    y_score = np.asarray(y_score, dtype=float).ravel()
    if y_true.shape != y_score.shape:
        raise ValueError(f"y_true has {y_true.size} values but y_score has {y_score.size}")
    keep = np.isfinite(y_true) & np.isfinite(y_score)
    return y_true[keep], y_score[keep]


def pearson(y_true, y_score) -> float:
    """Pearson correlation over finite pairs (NaN if fewer than 3 or constant)."""
    a, b = _as_vectors(y_true, y_score)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.pearsonr(a, b)[0])


def spearman(y_true, y_score) -> float:
    """Spearman rank correlation over finite pairs (NaN if fewer than 3 or constant)."""
    a, b = _as_vectors(y_true, y_score)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b)[0])


def _check_binary(y_true: np.ndarray) -> None:
    values = set(np.unique(y_true).tolist())
    if not values <= {0.0, 1.0}:
        raise ValueError(f"binary labels must be 0/1, got values {sorted(values)[:5]}")


def auroc(y_true, y_score) -> float:
    """Area under the ROC curve from continuous scores (NaN if one class only)."""
    a, b = _as_vectors(y_true, y_score)
    _check_binary(a)
    if len(np.unique(a)) < 2:
        return float("nan")
    return float(roc_auc_score(a, b))


def aupr(y_true, y_score) -> float:
    """Area under the precision-recall curve (average precision) from scores."""
    a, b = _as_vectors(y_true, y_score)
    _check_binary(a)
    if len(np.unique(a)) < 2:
        return float("nan")
    return float(average_precision_score(a, b))


METRICS = {"pearson": pearson, "spearman": spearman, "auroc": auroc, "aupr": aupr}


def evaluate(y_true, y_score, *, task: str) -> dict[str, float]:
    """All metrics of a task type: ``"regression"`` or ``"binary"``."""
    names = {"regression": REGRESSION_METRICS, "binary": BINARY_METRICS}.get(task)
    if names is None:
        raise ValueError(f"task must be 'regression' or 'binary', got {task!r}")
    return {name: METRICS[name](y_true, y_score) for name in names}
