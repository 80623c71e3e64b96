"""Tests for glmeval_utils.eval.attribution: map agreement summaries and the paired GIA table."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from glmeval_utils.eval import attribution as ea
from glmeval_utils.eval.stats import bootstrap_mean_ci
from glmeval_utils.score import attribution as at
from glmeval_utils.sequences import one_hot


def test_per_sequence_agreement_is_the_pearson_r_of_absolute_maps():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(30, 40))
    maps = {"same": reference * 2, "negated": -reference, "noise": rng.normal(size=(30, 40))}
    long = ea.per_sequence_agreement(maps, reference)
    assert len(long) == 90 and list(long.columns) == ["map", "sequence", "group", "r"]
    assert list(long["map"].unique()) == ["same", "negated", "noise"]
    assert list(long[long["map"] == "noise"].sequence) == list(range(30))
    row = long[(long["map"] == "noise") & (long.sequence == 7)].r.item()
    assert row == pytest.approx(stats.pearsonr(np.abs(maps["noise"][7]), np.abs(reference[7]))[0])
    np.testing.assert_allclose(long[long["map"] != "noise"].r, 1.0)  # absolute values are compared
    empty = ea.per_sequence_agreement({}, reference)
    assert empty.empty and list(empty.columns) == ["map", "sequence", "group", "r"]


def test_agreement_table():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(30, 40))
    maps = {"same": reference * 2, "negated": -reference, "noise": rng.normal(size=(30, 40))}
    table = ea.agreement_table(maps, reference, n_boot=200)
    assert list(table.columns) == ["map", "mean", "ci_low", "ci_high", "n", "n_groups"]
    by_map = table.set_index("map")
    assert by_map.loc["same", "mean"] == pytest.approx(1.0)
    assert by_map.loc["negated", "mean"] == pytest.approx(1.0)  # absolute values are compared
    assert abs(by_map.loc["noise", "mean"]) < 0.15
    assert (table.ci_low <= table["mean"]).all() and (table["mean"] <= table.ci_high).all()
    assert set(table.n) == {30}
    # the interval is eval.stats' bootstrap of the mean over sequences
    noise = ea.per_sequence_agreement({"noise": maps["noise"]}, reference).r.to_numpy()
    assert by_map.loc["noise", "mean"] == pytest.approx(noise.mean())
    low, high = bootstrap_mean_ci(noise, n_boot=200, seed=0)
    assert (by_map.loc["noise", "ci_low"], by_map.loc["noise", "ci_high"]) == pytest.approx((low, high))
    assert 0 < high - low < 0.2


def test_agreement_table_drops_undefined_sequences_and_refuses_an_empty_map():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(10, 20))
    flat = rng.normal(size=(10, 20))
    flat[:3] = 1.0  # constant |attribution|: r undefined for three sequences
    table = ea.agreement_table({"flat": flat}, reference, n_boot=100)
    assert table.n.item() == 7
    with pytest.raises(ValueError, match="no finite agreement"):
        ea.agreement_table({"constant": np.ones((4, 20))}, reference[:4])


class _CountsMotif(torch.nn.Module):
    """Score = number of exact GATA occurrences (forward strand), times ``sign``."""

    def __init__(self, sign=1.0):
        super().__init__()
        self.sign = sign

    def forward(self, x):
        pattern = torch.from_numpy(one_hot(["GATA"]))[0]  # (4, 4)
        windows = x.unfold(2, 4, 1)  # (N, 4, L-3, 4)
        hits = (windows * pattern[:, None, :]).sum(dim=(1, 3)) == 4
        return self.sign * hits.float().sum(dim=1, keepdim=True)


class _CompositionPlusMotif(torch.nn.Module):
    """Base-composition score plus a small bonus for ``motif`` exactly at ``start``: the effect of inserting a
    motif varies a lot between backgrounds (it depends on the bases replaced), while the motif and its shuffle
    (same composition) differ by exactly ``bonus``."""

    def __init__(self, motif, start, bonus):
        super().__init__()
        self.weights = torch.tensor([2.0, -1.13, 0.57, -1.71])
        self.motif = torch.from_numpy(one_hot([motif])[0])
        self.start, self.bonus = start, bonus

    def forward(self, x):
        window = x[:, :, self.start:self.start + self.motif.shape[1]]
        present = (window * self.motif).sum(dim=(1, 2)) == self.motif.shape[1]
        return (torch.einsum("nbl,b->n", x, self.weights) + self.bonus * present.float())[:, None]


def _backgrounds(n=30, length=40, seed=0):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def test_gia_table_detects_the_motif_and_not_its_control():
    backgrounds = _backgrounds()
    table = ea.gia_table(_CountsMotif(), backgrounds, {"gata": "GATA"}, n_shuffles=2, device="cpu")
    assert list(table.columns) == ["label", "motif", "control", "effect", "ci_low", "ci_high", "control_effect",
                                   "difference", "p_value", "n"]
    row = table.iloc[0]
    assert row.label == "gata" and row.motif == "GATA" and sorted(row.control) == sorted("GATA")
    assert row.n == 30  # 30 backgrounds (their 2 shuffles averaged), paired motif/control
    assert row.effect > 0.8 and row.difference > 0.5 and row.p_value < 1e-5
    assert row.ci_low <= row.effect <= row.ci_high and row.ci_low > 0.5
    # every column is the paired analysis of the same backgrounds
    kwargs = dict(n_shuffles=2, seed=0, device="cpu")
    motif = at.gia_motif_effect(_CountsMotif(), backgrounds, "GATA", **kwargs)
    control = at.gia_motif_effect(_CountsMotif(), backgrounds, row.control, **kwargs)
    assert row.control == at.shuffle_motif("GATA", seed=0)
    assert row.effect == pytest.approx(motif.mean) and row.control_effect == pytest.approx(control.mean)
    assert row.difference == pytest.approx(np.mean(motif.effects - control.effects))
    differences = motif.per_background - control.per_background
    assert row.p_value == pytest.approx(stats.wilcoxon(differences).pvalue)
    assert (row.ci_low, row.ci_high) == pytest.approx(bootstrap_mean_ci(motif.per_background, seed=0))


def test_gia_table_is_two_sided_and_seeds_each_control():
    table = ea.gia_table(_CountsMotif(sign=-1.0), _backgrounds(20), {"a": "GATA", "b": "CCGG"}, seed=3,
                         device="cpu")
    assert list(table.label) == ["a", "b"]
    # one control per pattern, seeded seed + its position
    assert table.control.tolist() == [at.shuffle_motif("GATA", seed=3),
                                      at.shuffle_motif("CCGG", seed=4)]
    repressive = table.iloc[0]
    assert "GATA" not in repressive.control
    assert repressive.effect < -0.8 and repressive.difference < -0.5  # a repressive motif is found
    assert repressive.p_value < 1e-3 and repressive.ci_high < 0


def test_gia_table_pairs_motif_and_control_on_each_background():
    backgrounds = _backgrounds(20, seed=3)
    model = _CompositionPlusMotif("GATTACA", start=16, bonus=0.05)  # GIA centres a 7-mer in 40 nt at 16
    table = ea.gia_table(model, backgrounds, {"gattaca": "GATTACA"}, seed=5, device="cpu")
    row = table.iloc[0]
    effects = at.gia_motif_effect(model, backgrounds, "GATTACA", seed=5, device="cpu").effects
    assert effects.std() > 1.0  # the background swamps the motif's own effect ...
    control = at.gia_motif_effect(model, backgrounds, row.control, seed=5, device="cpu").effects
    unpaired = stats.mannwhitneyu(effects, control, alternative="two-sided").pvalue
    assert unpaired > 0.05  # ... so an unpaired test misses it
    assert row.difference == pytest.approx(0.05, abs=1e-5) and row.p_value < 1e-3  # the paired test does not


def test_gia_table_of_no_patterns_is_empty_with_columns():
    table = ea.gia_table(_CountsMotif(), _backgrounds(3), {}, device="cpu")
    assert table.empty and "p_value" in table.columns
    assert isinstance(table, pd.DataFrame)


def test_agreement_intervals_resample_independent_units():
    rng = np.random.default_rng(4)
    reference = rng.normal(size=(20, 30))
    maps = {"noisy": reference + rng.normal(scale=2.0, size=(20, 30))}
    twice = {name: np.repeat(values, 2, axis=0) for name, values in maps.items()}  # both orientations, one element
    groups = np.repeat(np.arange(20), 2)
    by_sequence = ea.agreement_table(twice, np.repeat(reference, 2, axis=0)).iloc[0]
    by_element = ea.agreement_table(twice, np.repeat(reference, 2, axis=0), groups=groups).iloc[0]
    assert by_element["mean"] == pytest.approx(by_sequence["mean"]) and by_element.n_groups == 20
    assert by_element.ci_high - by_element.ci_low > 1.3 * (by_sequence.ci_high - by_sequence.ci_low)
