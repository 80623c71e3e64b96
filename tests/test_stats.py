import numpy as np
import pandas as pd
import pytest

from glmeval_utils.eval import metrics
from glmeval_utils.eval import stats


def noisy_scores(n, noise, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    return truth, truth + noise * rng.normal(size=n)


@pytest.mark.parametrize("name", ["pearson", "spearman", "auroc"])
def test_vectorised_bootstrap_metrics_equal_the_metric_on_each_resample(name):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 60).astype(float) if name == "auroc" else rng.normal(size=60)
    score = np.round(truth + rng.normal(size=60), 1)  # rounding creates ties
    weights = stats.bootstrap_weights(60, 25, seed=1)
    fast = stats._metric_on_weights(weights, truth[:, None], score[:, None], name)
    slow = [metrics.METRICS[name](np.repeat(truth, w), np.repeat(score, w)) for w in weights]
    np.testing.assert_allclose(fast, slow, atol=1e-12)
    expected = metrics.METRICS[name](truth, score)
    assert stats.metric_value(truth, score, name) == pytest.approx(expected)


def test_bootstrap_ci_contains_the_estimate_and_narrows_with_n():
    widths = []
    for n in (100, 1600):
        truth, score = noisy_scores(n, 1.0)
        low, high = stats.bootstrap_ci(truth, score, "pearson", n_boot=400)
        assert low < metrics.pearson(truth, score) < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2.5  # ~ 1/sqrt(N): a 4x narrower interval expected
    labels = (noisy_scores(300, 0)[0] > 0).astype(float)
    low, high = stats.bootstrap_ci(labels, labels + np.random.default_rng(2).normal(size=300),
                                   "aupr", n_boot=100)  # the looped (non-vectorised) path
    assert 0 < low < metrics.aupr(labels, labels) <= 1 and low < high


def test_bootstrap_ci_ignores_missing_values_and_accepts_callables():
    truth, score = noisy_scores(200, 0.5)
    with_nan = score.copy()
    with_nan[:20] = np.nan
    expected = stats.bootstrap_ci(truth[20:], score[20:], "spearman", n_boot=200)
    ci = stats.bootstrap_ci(truth, with_nan, "spearman", n_boot=200)
    assert all(np.isfinite(ci)) and ci[0] < metrics.spearman(truth[20:], score[20:]) < ci[1]
    assert abs(ci[1] - ci[0] - (expected[1] - expected[0])) < 0.05

    def mean_abs_error(y, s):
        return float(np.mean(np.abs(y - s)))

    low, high = stats.bootstrap_ci(truth, score, mean_abs_error, n_boot=100)
    assert low < mean_abs_error(truth, score) < high
    with pytest.raises(ValueError, match="unknown metric"):
        stats.bootstrap_ci(truth, score, "r2")


def test_paired_comparison_identical_models_and_a_clearly_better_one():
    truth, baseline = noisy_scores(500, 1.0)
    same = stats.paired_comparison(truth, baseline, baseline.copy(), "pearson", n_boot=300)
    assert same.effect == 0 and same.p_value > 0.05 and same.ci_low <= 0 <= same.ci_high
    better = truth + 0.3 * np.random.default_rng(5).normal(size=500)
    result = stats.paired_comparison(truth, better, baseline, "pearson", n_boot=300)
    assert result.effect == pytest.approx(metrics.pearson(truth, better)
                                          - metrics.pearson(truth, baseline))
    assert result.p_value < 0.05 and 0 < result.ci_low < result.effect < result.ci_high
    reverse = stats.paired_comparison(truth, baseline, better, "pearson", n_boot=300)
    assert reverse.effect == pytest.approx(-result.effect) and reverse.p_value < 0.05


def test_paired_comparison_on_similar_models_is_not_significant():
    truth, model = noisy_scores(300, 1.0, seed=1)
    rng = np.random.default_rng(7)
    other = truth + 1.0 * rng.normal(size=300)  # same quality, different errors
    assert stats.paired_comparison(truth, model, other, "spearman", n_boot=300).p_value > 0.01


def test_seed_test_and_summaries():
    better, worse = [0.80, 0.81, 0.82, 0.80, 0.81], [0.70, 0.71, 0.69, 0.70, 0.72]
    result = stats.seed_test(better, worse)
    assert result.welch_t > 0 and result.welch_p < 0.01
    assert result.mannwhitney_u == 25 and result.mannwhitney_p < 0.05
    assert result.p_value == result.mannwhitney_p
    two = stats.seed_test(better[:2], worse[:2])
    assert np.isnan(two.mannwhitney_p) and two.p_value == two.welch_p
    assert np.isnan(stats.seed_test([0.5], [0.4]).p_value)

    table = pd.DataFrame({"model": ["a"] * 3 + ["b"] * 2, "metric": "pearson",
                          "seed": [0, 1, 2, 0, 1], "value": [1.0, 2.0, 3.0, 5.0, 5.0]})
    summary = stats.summarize_seeds(table).set_index("model")
    assert list(summary.columns) == ["metric", "value_mean", "value_sd", "n"]
    assert summary.loc["a", "value_mean"] == 2.0 and summary.loc["a", "value_sd"] == 1.0
    assert summary.loc["b", "n"] == 2 and summary.loc["b", "value_sd"] == 0.0
    with pytest.raises(ValueError, match="lacks columns"):
        stats.summarize_seeds(table, by=["probe"])


def test_paired_comparison_with_undefined_metric_returns_nan():
    from glmeval_utils.eval.stats import paired_comparison
    y = np.arange(20.0)
    result = paired_comparison(y, np.ones(20), np.ones(20), "pearson", n_boot=50)
    assert np.isnan(result.ci_low) and np.isnan(result.p_value)


def test_cluster_bootstrap_draws_whole_groups():
    weights = stats.bootstrap_weights(6, 50, 0, groups=["a", "a", "b", "b", "c", "c"])
    assert weights.shape == (50, 6)
    np.testing.assert_array_equal(weights[:, 0], weights[:, 1])
    np.testing.assert_array_equal(weights[:, 4], weights[:, 5])
    assert (weights[:, ::2].sum(axis=1) == 3).all()  # three groups drawn per replicate
    with pytest.raises(ValueError, match="3 labels for 6 examples"):
        stats.bootstrap_weights(6, 5, 0, groups=["a", "b", "c"])


def test_cluster_bootstrap_widens_intervals_on_duplicated_clusters():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=60)
    score = truth + rng.normal(size=60)
    # every element appears three times, as correlated rows do
    y, s, groups = np.repeat(truth, 3), np.repeat(score, 3), np.repeat(np.arange(60), 3)
    rows = stats.bootstrap_ci(y, s, "pearson", n_boot=1000, seed=1)
    clusters = stats.bootstrap_ci(y, s, "pearson", groups=groups, n_boot=1000, seed=1)
    assert clusters[1] - clusters[0] > 1.4 * (rows[1] - rows[0])
    # resampling whole groups of identical rows is resampling the 60 independent values
    independent = stats.bootstrap_ci(truth, score, "pearson", n_boot=1000, seed=1)
    assert clusters[1] - clusters[0] == pytest.approx(independent[1] - independent[0], rel=0.2)


def test_paired_comparison_with_groups_is_wider_than_by_rows():
    rng = np.random.default_rng(2)
    truth = rng.normal(size=80)
    a, b = truth + rng.normal(scale=0.8, size=80), truth + rng.normal(scale=1.0, size=80)
    rep = lambda v: np.repeat(v, 4)  # noqa: E731
    by_rows = stats.paired_comparison(rep(truth), rep(a), rep(b), "pearson", n_boot=500)
    by_groups = stats.paired_comparison(rep(truth), rep(a), rep(b), "pearson", groups=np.repeat(np.arange(80), 4),
                                        n_boot=500)
    assert by_rows.effect == pytest.approx(by_groups.effect)
    assert by_groups.ci_high - by_groups.ci_low > 1.5 * (by_rows.ci_high - by_rows.ci_low)


def test_bootstrap_mean_ci():
    values = np.r_[np.linspace(0, 1, 50), np.nan]
    low, high = stats.bootstrap_mean_ci(values, n_boot=500)
    assert low < 0.5 < high and high - low < 0.3
    assert np.isnan(stats.bootstrap_mean_ci([1.0])[0])


def test_one_group_per_example_draws_exactly_as_no_groups():
    labels = [f"row{i}" for i in range(12)]  # strings sort differently from the row order
    np.testing.assert_array_equal(stats.bootstrap_weights(12, 20, 3), stats.bootstrap_weights(12, 20, 3, groups=labels))
