import numpy as np
import pytest

from glmeval_utils.eval import metrics


def test_correlations_known_values_and_nan_handling():
    x = np.arange(10.0)
    assert metrics.pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert metrics.spearman(x, x**3) == pytest.approx(1.0)
    assert metrics.pearson(x, -x) == pytest.approx(-1.0)
    y = x.copy()
    y[3] = np.nan
    assert metrics.pearson(x, y) == pytest.approx(1.0)
    assert np.isnan(metrics.pearson(x, np.ones(10)))
    with pytest.raises(ValueError, match="10 values but y_score has 9"):
        metrics.pearson(x, x[:9])


def test_auroc_uses_scores_not_hard_labels():
    y = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    assert metrics.auroc(y, scores) == pytest.approx(8 / 9)
    assert metrics.aupr(y, [0.1, 0.2, 0.8, 0.9, 0.3, 0.7]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="0/1"):
        metrics.auroc([0, 2, 1], [0.1, 0.2, 0.3])
    assert np.isnan(metrics.auroc([1, 1, 1], [0.1, 0.2, 0.3]))


def test_evaluate_by_task():
    assert set(metrics.evaluate([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.7], task="binary")) == {"auroc", "aupr"}
    assert set(metrics.evaluate([1, 2, 3], [1, 2, 4], task="regression")) == {"pearson", "spearman"}
    with pytest.raises(ValueError, match="task must be"):
        metrics.evaluate([1], [1], task="multi")
