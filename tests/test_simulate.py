"""Tests for glmeval_utils.data.simulate."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from glmeval_utils.data import simulate
from glmeval_utils.sequences import one_hot

MOTIFS = {
    "m1": np.eye(4)[[0, 1, 2, 3, 0, 1]],  # deterministic ACGTAC
    "m2": np.eye(4)[[3, 3, 2, 2, 1, 1, 0]] * 9 + 1,  # counts around TTGGCCA
}


def test_planted_sites_are_where_the_table_says():
    table = simulate.simulate_planted_motifs(300, 60, MOTIFS, seed=1)
    assert len(table) == 300 and set(table.seq.str.len()) == {60}
    assert set(table.split) == {"train", "valid", "test"}
    planted = table[table.m1 == 1]
    assert 100 < len(planted) < 200  # motif_probability 0.5
    for seq, start in zip(planted.seq, planted.m1_start):
        assert seq[start : start + 6] == "ACGTAC"
    assert (table.loc[table.m1 == 0, "m1_start"] == -1).all()
    # PFM sampling: consensus count 10 of 13 per position for m2
    sites = [s[i : i + 7] for s, i in zip(table.seq[table.m2 == 1], table.m2_start[table.m2 == 1])]
    match = np.mean([a == b for site in sites for a, b in zip(site, "TTGGCCA")])
    assert match == pytest.approx(10 / 13, abs=0.03)
    both = table[(table.m1 == 1) & (table.m2 == 1)]
    assert ((both.m1_start + 6 <= both.m2_start) | (both.m2_start + 7 <= both.m1_start)).all()


def test_labels_depend_on_planted_motifs_as_specified():
    table = simulate.simulate_planted_motifs(4000, 40, MOTIFS, effect_sizes={"m1": 4.0, "m2": 0.0},
                                             seed=2)
    rate_with = table.label[table.m1 == 1].mean()
    rate_without = table.label[table.m1 == 0].mean()
    # sigmoid(4 - 2) ≈ 0.88, sigmoid(-2) ≈ 0.12
    assert rate_with == pytest.approx(0.88, abs=0.03) and rate_without == pytest.approx(0.12, abs=0.03)
    assert abs(table.label[table.m2 == 1].mean() - table.label[table.m2 == 0].mean()) < 0.05

    regression = simulate.simulate_planted_motifs(2000, 40, MOTIFS, effect_sizes={"m1": 2.0, "m2": -1.0},
                                                  task="regression", noise=0.1, seed=3)
    fit = LinearRegression().fit(regression[["m1", "m2"]], regression.target)
    np.testing.assert_allclose(fit.coef_, [2.0, -1.0], atol=0.03)


def test_gc_content_and_determinism():
    rich = simulate.simulate_planted_motifs(200, 100, MOTIFS, gc=0.8, seed=4)
    gc = one_hot(list(rich.seq))[:, 1:3].sum(axis=(1, 2)).mean() / 100
    assert gc == pytest.approx(0.8, abs=0.03)
    again = simulate.simulate_planted_motifs(200, 100, MOTIFS, gc=0.8, seed=4)
    assert rich.equals(again)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="'m1'.*longer"):
        simulate.simulate_planted_motifs(5, 4, MOTIFS)
    with pytest.raises(ValueError, match="shape"):
        simulate.simulate_planted_motifs(5, 40, {"bad": np.ones((4, 3))})
    with pytest.raises(ValueError, match="unknown"):
        simulate.simulate_planted_motifs(5, 40, MOTIFS, effect_sizes={"m3": 1})
    with pytest.raises(ValueError, match="task"):
        simulate.simulate_planted_motifs(5, 40, MOTIFS, task="multiclass")


def test_elongation_target_follows_documented_effects():
    table = simulate.simulate_elongation(3000, seed=5)
    assert set(table.seq.str.len()) == {173}
    assert {"seq", "target", "split", "gc_content", "poly_t", "gaga", "pas"} <= set(table.columns)
    assert (table.loc[table.pas == 1].apply(lambda r: r.seq[r.pas_start : r.pas_start + 6], axis=1)
            .eq("AATAAA").mean() > 0.8)
    features = table[["gc_content", "poly_t", "gaga", "pas"]].assign(gc_content=lambda t: t.gc_content - 0.5)
    fit = LinearRegression().fit(features, table.target)
    expected = [simulate.ELONGATION_EFFECTS[c] for c in features.columns]
    np.testing.assert_allclose(fit.coef_, expected, atol=0.15)
    assert fit.intercept_ == pytest.approx(1.0, abs=0.05)
    assert table.split.value_counts()["train"] == 2400
