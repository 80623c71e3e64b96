"""Tests for glmeval_utils.eval.variants: variant scores against measured effects, per element and over elements."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from glmeval_utils.eval import results, variants
from glmeval_utils.eval.stats import bootstrap_ci


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# --------------------------------------------------------------------------- evaluate_scores


def synthetic_scored_table(rng, n=200):
    effect = rng.normal(size=n)
    return pd.DataFrame(
        {
            "element": np.repeat(["A", "B"], n // 2),
            "effect": effect,
            "confidence": np.where(np.abs(effect) > 1, rng.uniform(0.2, 1, n), rng.uniform(0, 0.05, n)),
            "good": effect + 0.3 * rng.normal(size=n),
            "noise": rng.normal(size=n),
        }
    )


def test_evaluate_scores_values_and_bootstrap_intervals(rng):
    table = synthetic_scored_table(rng)
    result = variants.evaluate_scores(table, ["good", "noise"], n_boot=300)
    assert list(result.columns) == ["element", "score", "metric", "value", "ci_low", "ci_high", "n", "n_groups"]
    assert set(result.metric) == {"pearson", "spearman", "pearson_abs_effect", "spearman_abs_effect", "auroc"}
    part = table[table.element == "A"]
    get = result.set_index(["element", "score", "metric"]).value
    assert get["A", "good", "pearson"] == pytest.approx(stats.pearsonr(part.effect, part.good)[0])
    assert get["A", "good", "spearman_abs_effect"] == pytest.approx(stats.spearmanr(part.effect.abs(), part.good)[0])
    assert get["A", "good", "pearson"] > 0.8 and abs(get["A", "noise", "pearson"]) < 0.3
    assert get["A", "good", "auroc"] > 0.8  # |score| finds the high-confidence variants
    assert np.all(result.ci_low <= result.value) and np.all(result.value <= result.ci_high)
    assert np.all(result.n == 100) and np.all(result.n_groups == 100)  # without groups every variant is a unit
    good = result[(result.score == "good") & (result.metric == "pearson")]
    assert np.all(good.ci_high - good.ci_low < 0.2)
    low, high = bootstrap_ci(part.effect, part.good, "pearson", n_boot=300, seed=0)
    row = good[good.element == "A"].iloc[0]
    assert (row.ci_low, row.ci_high) == pytest.approx((low, high))


def test_evaluate_scores_without_confidence_or_groups(rng):
    table = synthetic_scored_table(rng).drop(columns="confidence")
    result = variants.evaluate_scores(table, ["good"], by=None, n_boot=0)
    assert set(result.element) == {"all"} and "auroc" not in set(result.metric)
    assert result.ci_low.isna().all() and result.ci_high.isna().all()
    assert set(result.n) == {200} and set(result.n_groups) == {200}
    with pytest.raises(ValueError, match="no column 'missing'"):
        variants.evaluate_scores(table, ["missing"])
    with pytest.raises(ValueError, match="no column 'position'"):
        variants.evaluate_scores(table, ["good"], group="position")


def test_evaluate_scores_skips_missing_scores(rng):
    table = synthetic_scored_table(rng)
    table.loc[:9, "good"] = np.nan
    result = variants.evaluate_scores(table, ["good"], n_boot=0).set_index(["element", "metric"])
    assert result.loc[("A", "pearson"), "n"] == 90 and result.loc[("B", "pearson"), "n"] == 100
    part = table[(table.element == "A")].dropna()
    assert result.loc[("A", "pearson"), "value"] == pytest.approx(stats.pearsonr(part.effect, part.good)[0])


def test_group_intervals_resample_positions_and_are_wider(rng):
    n_positions = 60
    effect = rng.normal(size=n_positions)
    score = effect + rng.normal(size=n_positions)
    # every variant three times per position (the three alternatives sharing one fate)
    table = pd.DataFrame({"position": np.repeat(np.arange(n_positions), 3), "effect": np.repeat(effect, 3),
                          "score": np.repeat(score, 3)})
    grouped = variants.evaluate_scores(table, ["score"], by=None, group="position", n_boot=500)
    flat = variants.evaluate_scores(table, ["score"], by=None, n_boot=500)
    g, f = grouped.set_index("metric"), flat.set_index("metric")
    assert set(g.n) == {180} and set(g.n_groups) == {60} and set(f.n_groups) == {180}
    np.testing.assert_allclose(g.value, f.value)  # the point estimate does not depend on the groups
    widths_grouped = g.ci_high - g.ci_low
    widths_flat = f.ci_high - f.ci_low
    assert (widths_grouped > 1.3 * widths_flat).all()  # about sqrt(3) wider: 60 units, not 180
    assert g.loc["pearson", "ci_low"] == pytest.approx(
        bootstrap_ci(table.effect, table.score, "pearson", groups=table.position, n_boot=500, seed=0)[0])


# --------------------------------------------------------------------------- chance level


def test_chance_abs_r_matches_a_simulation_of_unrelated_scores():
    rng = np.random.default_rng(0)
    n_draws, n_elements, n_units = 2000, 15, 16
    x = rng.normal(size=(n_draws, n_elements, n_units))
    y = rng.normal(size=(n_draws, n_elements, n_units))
    x -= x.mean(axis=-1, keepdims=True)
    y -= y.mean(axis=-1, keepdims=True)
    r = (x * y).sum(axis=-1) / np.sqrt((x * x).sum(axis=-1) * (y * y).sum(axis=-1))
    simulated = np.abs(r).mean(axis=-1)  # mean |r| over the elements of one draw
    expected, bound = variants.chance_abs_r([n_units] * n_elements)
    assert expected == pytest.approx(np.sqrt(2 / (np.pi * (n_units - 1))))
    assert simulated.mean() == pytest.approx(expected, rel=0.03)
    exceeded = (simulated > bound).mean()
    assert 0.01 < exceeded < 0.05  # a 97.5% one-sided bound: about 2.5% of chance averages lie above it
    assert (simulated > variants.chance_abs_r([n_units] * n_elements, level=0.5)[1]).mean() == pytest.approx(
        0.5, abs=0.06)


def test_chance_abs_r_counts_units_and_ignores_tiny_elements():
    small, _ = variants.chance_abs_r([10])
    large, _ = variants.chance_abs_r([100])
    assert small > large  # fewer independent units: more chance correlation
    assert variants.chance_abs_r([10, 2]) == pytest.approx(variants.chance_abs_r([10]))
    _, one = variants.chance_abs_r([16])
    _, many = variants.chance_abs_r([16] * 15)
    assert many < one  # averaging over elements tightens the bound
    assert all(np.isnan(variants.chance_abs_r([2, 1])))


# --------------------------------------------------------------------------- headline metric


@pytest.mark.parametrize("score, metric, headline", [
    ("abs_masked_llr_both", "pearson_abs_effect", True),
    ("masked_llr_both", "pearson_abs_effect", False),  # the signed LLR is an extra, not the paper's score
    ("cosine_full", "pearson_abs_effect", True),
    ("delta_cnn", "pearson", True),
])
def test_headline_metric_and_is_headline(score, metric, headline):
    assert variants.headline_metric(score) == metric
    assert variants.is_headline(score) is headline
    assert variants.is_supervised(score) is (score == "delta_cnn")


# --------------------------------------------------------------------------- over elements


def _metric_table():
    rows = []
    for element, (a, b) in {"E1": (0.5, 0.1), "E2": (-0.4, 0.2), "E3": (0.3, -0.35)}.items():
        rows.append(dict(element=element, model="m", score="l2_full", probe="zero-shot", seed=-1,
                         metric="pearson_abs_effect", value=a, ci_low=a - 0.1, ci_high=a + 0.1, n_groups=20))
        rows.append(dict(element=element, model="m", score="delta_cnn", probe="cnn", seed=-1,
                         metric="pearson", value=b, ci_low=b - 0.3, ci_high=b + 0.3, n_groups=30))
        # metrics that are not the score's headline: score_summary must ignore them
        rows.append(dict(element=element, model="m", score="l2_full", probe="zero-shot", seed=-1,
                         metric="pearson", value=-0.9, ci_low=-1.0, ci_high=-0.8, n_groups=20))
        rows.append(dict(element=element, model="m", score="delta_cnn", probe="cnn", seed=-1,
                         metric="pearson_abs_effect", value=0.9, ci_low=0.8, ci_high=1.0, n_groups=30))
    return pd.DataFrame(rows)


def test_score_summary_uses_the_headline_metric_and_counts_intervals():
    summary = variants.score_summary(_metric_table())
    assert summary.score.tolist() == ["l2_full", "delta_cnn"]  # by mean |r|
    first = summary.iloc[0]
    assert first.metric == "pearson_abs_effect"
    assert first.mean_abs_r == pytest.approx(0.4) and first.mean_r == pytest.approx(0.4 / 3)
    assert first.min_r == pytest.approx(-0.4) and first.max_r == pytest.approx(0.5)
    assert first.n_ci_excludes_0 == 3 and first.n_elements == 3 and first.n_groups == 20
    second = summary.iloc[1]
    assert second.metric == "pearson" and second.mean_abs_r == pytest.approx(0.65 / 3)
    assert second.n_ci_excludes_0 == 1  # only E3's interval (-0.65, -0.05) excludes 0
    assert second.sd_r == pytest.approx(np.std([0.1, 0.2, -0.35], ddof=1))


def test_paired_contrast_over_elements_by_headline_metrics():
    table = _metric_table()
    result = variants.paired_contrast(table, {"score": "l2_full"}, {"score": "delta_cnn"})
    assert result["n_elements"] == 3 and result["wins_a"] == 2
    assert result["mean_a"] == pytest.approx(0.4 / 3) and result["mean_b"] == pytest.approx(-0.05 / 3)
    assert result["mean_diff"] == pytest.approx(np.mean([0.4, -0.6, 0.65]))
    assert result["ci_low"] <= result["mean_diff"] <= result["ci_high"]
    strength = variants.paired_contrast(table, {"score": "l2_full"}, {"score": "delta_cnn"}, absolute=True)
    assert strength["mean_diff"] == pytest.approx(np.mean([0.4, 0.2, -0.05])) and strength["wins_a"] == 2
    no_ci = variants.paired_contrast(table, {"score": "l2_full"}, {"score": "delta_cnn"}, n_boot=0)
    assert np.isnan(no_ci["ci_low"]) and no_ci["mean_diff"] == pytest.approx(result["mean_diff"])


def test_paired_contrast_accepts_metric_overrides_and_refuses_ambiguous_selectors():
    table = _metric_table()
    override = variants.paired_contrast(table, {"score": "l2_full", "metric": "pearson"},
                                        {"score": "delta_cnn", "metric": "pearson_abs_effect"})
    assert override["mean_a"] == pytest.approx(-0.9) and override["mean_b"] == pytest.approx(0.9)
    assert override["wins_a"] == 0
    one_side_missing = table[~((table.element == "E2") & (table.score == "delta_cnn"))]
    partial = variants.paired_contrast(one_side_missing, {"score": "l2_full"}, {"score": "delta_cnn"})
    assert partial["n_elements"] == 2  # only elements both scores were evaluated on
    assert partial["mean_diff"] == pytest.approx(np.mean([0.4, 0.65]))
    with pytest.raises(ValueError, match="several rows"):
        variants.paired_contrast(pd.concat([table, table]), {"score": "l2_full"}, {"score": "delta_cnn"})


def test_result_rows_follow_the_shared_format():
    table = _metric_table()
    table.loc[0, "value"] = np.nan  # undefined metrics are left out
    rows = variants.result_rows(table, task="cagi5")
    assert list(rows.columns) == results.COLUMNS
    assert len(rows) == len(table) - 1
    assert set(rows.dataset) == {"E1", "E2", "E3"} and (rows.task == "cagi5").all()
    assert (rows.split == "test").all() and (rows.seed == -1).all()
    assert set(rows.representation) == {"l2_full", "delta_cnn"} and set(rows.probe) == {"zero-shot", "cnn"}
    assert set(variants.result_rows(table, task="cagi5", split="valid").split) == {"valid"}
