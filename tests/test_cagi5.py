"""Tests for glmeval_utils.cagi5 (the variant scoring it builds on is tested in test_zeroshot)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fake_glms import random_seq, saturation_table

from glmeval_utils import cagi5


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_select_positions_keeps_all_alternatives_and_is_deterministic(rng):
    seqs = {"A1": random_seq(rng, 30), "B2": random_seq(rng, 8)}
    table = saturation_table(seqs, with_seq=True)
    chosen = cagi5.select_positions(table, 5, seed=1)
    assert chosen.groupby("element")["offset"].nunique().to_dict() == {"A1": 5, "B2": 5}
    assert (chosen.groupby(["element", "offset"]).size() == 3).all()
    pd.testing.assert_frame_equal(chosen, cagi5.select_positions(table, 5, seed=1))
    # the draw for one element does not depend on the others
    only_a = cagi5.select_positions(table, 5, elements=["A1"], seed=1)
    assert set(only_a.offset) == set(chosen[chosen.element == "A1"].offset)
    assert len(cagi5.select_positions(table, 100)) == len(table)
    with pytest.raises(ValueError, match="unknown element"):
        cagi5.select_positions(table, 2, elements=["nope"])


def test_primary_metric_and_signs():
    assert cagi5.primary_metric("masked_llr_both") == "pearson"
    assert cagi5.primary_metric("delta_cnn") == "pearson"
    assert cagi5.primary_metric("abs_causal_llr_fwd") == "pearson_abs_effect"
    assert cagi5.primary_metric("cosine_full") == "pearson_abs_effect"


def _metric_table():
    rows = []
    for element, (a, b) in {"E1": (0.5, 0.1), "E2": (-0.4, 0.2), "E3": (0.3, -0.35)}.items():
        rows.append(dict(element=element, model="m", score="l2_full", probe="zero-shot", seed=-1,
                         metric="pearson_abs_effect", value=a, ci_low=a - 0.1, ci_high=a + 0.1))
        rows.append(dict(element=element, model="m", score="masked_llr_fwd", probe="zero-shot", seed=-1,
                         metric="pearson", value=b, ci_low=b - 0.3, ci_high=b + 0.3))
    return pd.DataFrame(rows)


def test_score_summary_uses_primary_metric_and_counts_intervals():
    summary = cagi5.score_summary(_metric_table())
    first = summary.iloc[0]
    assert first.score == "l2_full" and first.metric == "pearson_abs_effect"
    assert first.mean_abs_r == pytest.approx(0.4) and first.mean_r == pytest.approx(0.4 / 3)
    assert first.n_ci_excludes_0 == 3 and first.n_elements == 3
    assert summary.iloc[1].n_ci_excludes_0 == 1  # only E3's interval (-0.65, -0.05) excludes 0


def test_paired_contrast_over_elements():
    table = _metric_table().assign(metric="pearson")
    result = cagi5.paired_contrast(table, {"score": "l2_full"}, {"score": "masked_llr_fwd"}, metric="pearson")
    assert result["n_elements"] == 3 and result["wins_a"] == 2
    assert result["mean_diff"] == pytest.approx(np.mean([0.4, 0.2, -0.05]))
    assert result["ci_low"] <= result["mean_diff"] <= result["ci_high"]
    signed = cagi5.paired_contrast(table, {"score": "l2_full"}, {"score": "masked_llr_fwd"},
                                   metric="pearson", absolute=False)
    assert signed["mean_diff"] == pytest.approx(np.mean([0.4, -0.6, 0.65]))


def test_result_rows_follow_the_shared_format():
    rows = cagi5.result_rows(_metric_table())
    assert list(rows.columns) == ["task", "dataset", "model", "representation", "probe", "seed", "split",
                                  "metric", "value"]
    assert set(rows.dataset) == {"E1", "E2", "E3"} and (rows.task == "cagi5").all()
    assert (rows.split == "test").all() and (rows.seed == -1).all()


def test_paired_contrast_defaults_to_primary_metrics_and_accepts_overrides():
    table = _metric_table()
    result = cagi5.paired_contrast(table, {"score": "l2_full"}, {"score": "masked_llr_fwd"})
    assert result["mean_a"] == pytest.approx(0.4) and result["mean_b"] == pytest.approx(np.mean([0.1, 0.2, 0.35]))
    same = cagi5.paired_contrast(table, {"score": "l2_full", "metric": "pearson_abs_effect"},
                                 {"score": "masked_llr_fwd", "metric": "pearson"}, metric="spearman")
    assert same["mean_diff"] == pytest.approx(result["mean_diff"])
    with pytest.raises(ValueError, match="several rows"):
        cagi5.paired_contrast(pd.concat([table, table]), {"model": "m"}, {"model": "m"}, metric="pearson")
