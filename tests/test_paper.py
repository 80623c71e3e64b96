"""Tests for glmeval_utils.eval.paper: the reference study's numbers, with roles, and how ours sit beside them."""

import numpy as np
import pandas as pd
import pytest

from glmeval_utils.eval.paper import best_glm_minus_onehot, paper_agreement, paper_results, side_by_side
from glmeval_utils.predictions import ROLES


def test_paper_table_is_tidy_and_has_every_task():
    table = paper_results()
    assert list(table.columns) == ["task", "dataset", "model", "role", "representation", "probe", "metric", "value",
                                   "note"]
    assert set(table.task) == {"lentimpra", "tf_binding", "rbp_binding", "cagi5", "splicing", "pol2_elongation"}
    assert not table.duplicated(["task", "dataset", "model", "representation", "probe", "metric"]).any()
    assert table.value.between(-1, 1).all()
    assert set(table.role) <= set(ROLES)


def test_paper_models_carry_their_roles():
    roles = paper_results().groupby("model").role.agg(set)
    assert all(len(r) == 1 for r in roles)  # one role per model
    roles = roles.map(lambda r: next(iter(r)))
    assert roles["one-hot"] == "one-hot"
    assert roles["Sei"] == "supervised" and roles["RBP (supervised eCLIP)"] == "supervised"
    assert roles["DNABERT-2 (random init)"] == "random-init"
    assert roles["dinucleotide counts"] == "composition"
    assert roles["GPN"] == roles["DNABERT-2"] == roles["NT 2.5B (layer 32)"] == "pretrained"
    # a lentiMPRA model's Δ prediction in CAGI5 is a supervised model, whatever its input
    assert roles["one-hot ResNet (lentiMPRA)"] == roles["GPN-CNN (lentiMPRA)"] == "supervised"


def test_headline_numbers_match_the_reference():
    table = paper_results().set_index(["task", "dataset", "model", "representation", "probe"])
    assert table.loc[("lentimpra", "HepG2", "one-hot", "onehot", "resnet"), "value"] == 0.753
    assert table.loc[("cagi5", "PKLR", "Sei", "L1 distance", "zero-shot"), "value"] == 0.682
    lenti = paper_results().query("task == 'lentimpra' and dataset == 'HepG2'")
    best_onehot = lenti[lenti.role == "one-hot"].value.max()
    best_glm = lenti[lenti.role == "pretrained"].value.max()
    assert best_onehot > best_glm  # the paper's conclusion, as recorded
    assert lenti[lenti.role == "supervised"].value.max() == 0.735  # Sei is no gLM


def _ours():
    """Our configurations: the CNN on the full embedding is best on test but not on validation."""
    return pd.DataFrame([
        # model, role, representation, probe, valid_mean, mean (test)
        ("one-hot", "one-hot", "onehot", "resnet", 0.70, 0.72),
        ("one-hot", "one-hot", "onehot", "cnn", 0.74, 0.66),  # best one-hot on validation, not on test
        ("glm", "pretrained", "full", "cnn", 0.60, 0.71),  # best gLM on test ...
        ("glm-big", "pretrained", "full", "cnn", 0.65, 0.64),  # ... but this one wins on validation
        ("glm", "pretrained", "mean", "mlp", 0.50, 0.49),
        ("glm", "pretrained", "cls", "linear", np.nan, 0.90),  # never validated: cannot be chosen
        ("glm-random", "random-init", "full", "cnn", 0.40, 0.41),
    ], columns=["model", "role", "representation", "probe", "valid_mean", "mean"])


def test_side_by_side_picks_our_side_on_validation_and_the_papers_best():
    theirs = paper_results().query("task == 'lentimpra' and dataset == 'HepG2'")
    table = side_by_side(_ours(), theirs).set_index("row")
    assert list(table.columns) == ["ours: configuration", "ours", "paper: model", "paper"]
    assert table.loc["best one-hot model", "ours: configuration"] == "one-hot · onehot → cnn"
    assert table.loc["best one-hot model", "ours"] == pytest.approx(0.66)  # its test value, not the best test value
    full = table.loc["best pretrained gLM, full embedding → CNN"]
    assert full["ours: configuration"] == "glm-big · full → cnn" and full["ours"] == pytest.approx(0.64)
    assert full["ours: configuration"] != "glm · full → cnn"  # the best on test is not the one shown
    pooled = table.loc["best pretrained gLM, CLS or mean embedding"]
    assert pooled["ours: configuration"] == "glm · mean → mlp"  # the unvalidated CLS row is skipped
    assert table.loc["best one-hot model", "paper: model"] == "one-hot · onehot → resnet"
    assert table.loc["best one-hot model", "paper"] == pytest.approx(0.753)
    assert table.loc["best pretrained gLM, full embedding → CNN", "paper"] == pytest.approx(0.637)  # GPN
    assert table.loc["random-init control", "ours"] == pytest.approx(0.41)
    assert table.loc["random-init control", "paper: model"] == "DNABERT-2 (random init) · mean → mlp"  # 0.351 > 0.335
    # a row only the paper has stays, with our side "not run"; a row neither has is dropped
    assert table.loc["supervised representation", "ours: configuration"] == "not run"
    assert np.isnan(table.loc["supervised representation", "ours"])
    assert "composition control" not in table.index


def test_side_by_side_shows_our_rows_the_paper_lacks():
    table = side_by_side(_ours(), paper_results().iloc[:0]).set_index("row")
    assert (table["paper: model"] == "not in the paper").all() and table.paper.isna().all()
    assert len(table) == 4  # one-hot, full gLM, pooled gLM, random-init


def test_side_by_side_counts_an_extra_layer_rung_with_its_representation():
    ours = pd.concat([_ours(), pd.DataFrame([("glm-big", "pretrained", "full@L10", "cnn", 0.90, 0.70)],
                                            columns=_ours().columns)], ignore_index=True)
    table = side_by_side(ours, paper_results().iloc[:0]).set_index("row")
    assert table.loc["best pretrained gLM, full embedding → CNN", "ours: configuration"] == "glm-big · full@L10 → cnn"
    assert table.loc["best pretrained gLM, full embedding → CNN", "ours"] == pytest.approx(0.70)


def test_best_glm_minus_onehot_leaves_out_controls_and_supervised_models():
    table = best_glm_minus_onehot()
    assert list(table.columns) == ["task", "dataset", "metric", "best_glm", "glm_value", "onehot_value", "effect"]
    assert "cagi5" not in set(table.task)
    paper = paper_results()
    glms = set(paper[paper.role == "pretrained"].model)
    assert set(table.best_glm) <= glms
    assert not set(table.best_glm) & {"Sei", "RBP (supervised eCLIP)", "DNABERT-2 (random init)",
                                      "dinucleotide counts"}
    np.testing.assert_allclose(table.effect, table.glm_value - table.onehot_value)
    rows = table.set_index(["task", "dataset"])
    hepg2 = rows.loc[("lentimpra", "HepG2")]
    assert hepg2.best_glm == "GPN" and hepg2.effect == pytest.approx(0.637 - 0.753)  # not Sei (0.735)
    chip = rows.loc[("tf_binding", "10 ENCODE TFs (mean)")]
    assert chip.best_glm == "GPN" and chip.effect == pytest.approx(0.862 - 0.855)  # Sei's 0.885 left out
    insert = rows.loc[("pol2_elongation", "INSERT-seq")]
    assert insert.best_glm == "GPN" and insert.effect == pytest.approx(0.645 - 0.628)  # not the RBP model
    splicing = rows.loc[("splicing", "ASCOT GTEx (fraction 1.0)")]
    assert splicing.metric == "spearman" and splicing.effect == pytest.approx(0.286 - 0.304)
    assert len(table) == 2 + 2 + 3 + 1  # lentiMPRA cells, binding, splicing fractions, INSERT-seq


def test_paper_agreement_table():
    table = paper_agreement()
    assert list(table.columns) == ["gLM", "map", "lentiMPRA K562", "ChIP CTCF"]
    combined = table[table["map"] == "LM × probe gradient"].set_index("gLM")
    alone = table[table["map"] == "LM only"].set_index("gLM")
    assert combined.loc["GPN", "ChIP CTCF"] == 0.642
    assert (combined > alone.loc[combined.index]).drop(columns="map").all(axis=None)  # the probe gradient helps
