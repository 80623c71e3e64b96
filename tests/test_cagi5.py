"""Tests for glmeval_utils.cagi5 with tiny duck-typed toy gLMs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fake_glms import ToyCausalLM, ToyEmbedder, ToyMaskedLM, random_seq, saturation_table

from glmeval_utils import cagi5
from glmeval_utils.score import zeroshot
from glmeval_utils.sequences import reverse_complement

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


def test_reverse_strand_is_an_involution_and_matches_reverse_complement(rng):
    seqs = {"E": random_seq(rng, 12)}
    table = saturation_table(seqs, offsets=[0, 5, 11], with_seq=True)
    rc, rc_seqs = cagi5.reverse_strand(table, seqs)
    assert rc_seqs["E"] == reverse_complement(seqs["E"])
    for row, rc_row in zip(table.itertuples(), rc.itertuples()):
        assert rc_seqs["E"][rc_row.offset] == rc_row.ref
        assert reverse_complement(rc_row.alt) == row.alt
    back, back_seqs = cagi5.reverse_strand(rc)
    assert back_seqs == seqs
    pd.testing.assert_frame_equal(back, table)


@pytest.mark.parametrize("make_model, method", [(ToyMaskedLM.random, "masked_llr"), (ToyCausalLM, "causal_llr")])
@pytest.mark.parametrize("window", [7, 9, 40])
def test_strand_scores_both_equals_zeroshot_both(rng, make_model, method, window):
    seqs = {"E1": random_seq(rng, 25), "E2": random_seq(rng, 6)}
    table = saturation_table(seqs, with_seq=True)
    model = make_model(rng)
    scores = cagi5.strand_scores(model, table, seqs, method=method, window=window, progress=False)
    expected_both = zeroshot.score_variants(model, table, seqs, method=method, window=window,
                                            strands="both", progress=False)
    expected_fwd = zeroshot.score_variants(model, table, seqs, method=method, window=window, progress=False)
    np.testing.assert_allclose(scores["both"], expected_both, atol=1e-12)
    np.testing.assert_allclose(scores["fwd"], expected_fwd, atol=1e-12)
    assert not np.allclose(scores["fwd"], scores["rev"])  # the toys are not strand-symmetric


def test_strand_scores_refuse_even_windows_shorter_than_an_element(rng):
    seqs = {"E": random_seq(rng, 20)}
    with pytest.raises(ValueError, match="even"):
        cagi5.strand_scores(ToyMaskedLM.random(rng), saturation_table(seqs, [3], with_seq=True), seqs,
                            method="masked_llr", window=8, progress=False)


def test_embedding_distances_match_zeroshot_methods(rng, tmp_path):
    model = ToyEmbedder(rng)
    seqs = {"E1": random_seq(rng, 18), "E2": random_seq(rng, 7)}  # two window lengths
    table = saturation_table(seqs, with_seq=True)
    table = pd.concat([table, table.iloc[:3]], ignore_index=True)  # a repeated variant
    distances = cagi5.embedding_distances(model, table, seqs, window=11, chunk_size=8, progress=False)
    assert list(distances.columns) == list(cagi5.DISTANCE_SCORES)
    for method in cagi5.DISTANCE_SCORES:
        expected = zeroshot.score_variants(model, table, seqs, method=method, window=11,
                                           cache_dir=tmp_path, progress=False)
        np.testing.assert_allclose(distances[method], expected, rtol=1e-5, atol=1e-6)
    assert (distances.to_numpy() > 0).all()


def test_score_model_columns_follow_the_objective(rng):
    seqs = {"E": random_seq(rng, 15)}
    table = saturation_table(seqs, offsets=[2, 7], with_seq=True)
    masked = cagi5.score_model(ToyMaskedLM.random(rng), table, seqs, window=9, distances=False, progress=False)
    assert list(masked.columns) == ["masked_llr_fwd", "abs_masked_llr_fwd", "masked_llr_both",
                                    "abs_masked_llr_both"]
    np.testing.assert_allclose(masked.abs_masked_llr_both, masked.masked_llr_both.abs())
    embed_only = cagi5.score_model(ToyEmbedder(rng), table, seqs, window=9, progress=False)
    assert list(embed_only.columns) == list(cagi5.DISTANCE_SCORES)
    assert len(embed_only) == len(table)


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
