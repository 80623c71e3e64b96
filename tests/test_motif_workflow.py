"""Tests for glmeval_utils.motif_workflow (glue of the attribution chapter)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from glmeval_utils import motif_workflow
from glmeval_utils.score import motifs
from glmeval_utils.sequences import one_hot


def test_top_sequences_orders_and_masks():
    scores = np.array([0.1, 0.9, 0.5, np.nan, 0.9, 0.3])
    assert list(motif_workflow.top_sequences(scores, 3)) == [1, 4, 2]
    mask = np.array([1, 0, 1, 1, 0, 1], dtype=bool)
    assert list(motif_workflow.top_sequences(scores, 10, mask=mask)) == [2, 5, 0]
    with pytest.raises(ValueError, match="1-D"):
        motif_workflow.top_sequences(np.zeros((2, 2)), 1)
    with pytest.raises(ValueError, match="mask"):
        motif_workflow.top_sequences(scores, 1, mask=[True])
    with pytest.raises(ValueError, match="at least 1"):
        motif_workflow.top_sequences(scores, 0)


def test_agreement_table():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(30, 40))
    maps = {"same": reference * 2, "negated": -reference, "noise": rng.normal(size=(30, 40))}
    table = motif_workflow.agreement_table(maps, reference, n_boot=200)
    by_map = table.set_index("map")
    assert by_map.loc["same", "mean"] == pytest.approx(1.0)
    assert by_map.loc["negated", "mean"] == pytest.approx(1.0)  # absolute values are compared
    assert abs(by_map.loc["noise", "mean"]) < 0.15
    assert (table.ci_low <= table["mean"]).all() and (table["mean"] <= table.ci_high).all()
    assert set(table.n) == {30}
    long = motif_workflow.per_sequence_agreement(maps, reference)
    assert len(long) == 90 and list(long.columns) == ["map", "sequence", "r"]


def _toy_matches():
    return pd.DataFrame({
        "predictor": ["cnn", "cnn", "cnn", "probe"],
        "motif": ["pos_0", "pos_0", "pos_1", "pos_0"],
        "rank": [1, 2, 1, 4],
        "match_id": ["MA1", "MA2", "MA2", "MA1"],
        "match_name": ["A", "B", "B", "A"],
        "p_value": [1e-6, 1e-4, 1e-3, 1e-5],
        "q_value": [1e-4, 1e-2, 0.2, 1e-3],
    })


def test_planted_recall():
    recall = motif_workflow.planted_recall(_toy_matches(), {"MA1": "A", "MA2": "B"}, ["cnn", "probe", "none"],
                                           top_k=3)
    got = recall.set_index(["predictor", "planted_id"])
    assert got.loc[("cnn", "MA1"), "recovered"] and got.loc[("cnn", "MA1"), "motif"] == "pos_0"
    assert got.loc[("cnn", "MA2"), "recovered"] and got.loc[("cnn", "MA2"), "rank"] == 2  # pos_1 fails q
    assert not got.loc[("probe", "MA1"), "recovered"]  # rank 4 > top_k
    assert not got.loc[("none", "MA2"), "recovered"] and len(recall) == 6
    empty = motif_workflow.planted_recall(pd.DataFrame(columns=_toy_matches().columns), {"MA1": "A"}, ["cnn"])
    assert not empty.recovered.any()


def test_consensus():
    pfm = np.array([[0.25] * 4, [0.97, 0.01, 0.01, 0.01], [0.25] * 4, [0.01, 0.01, 0.01, 0.97], [0.25] * 4])
    assert motif_workflow.consensus(pfm) == "ANT"
    with pytest.raises(ValueError, match="min_information"):
        motif_workflow.consensus(np.full((3, 4), 0.25))
    with pytest.raises(ValueError, match="shape"):
        motif_workflow.consensus(np.ones((3, 3)))


class _CountsMotif(torch.nn.Module):
    """Score = number of exact GATA occurrences (forward strand)."""

    def forward(self, x):
        pattern = torch.from_numpy(one_hot(["GATA"]))[0]  # (4, 4)
        windows = x.unfold(2, 4, 1)  # (N, 4, L-3, 4)
        hits = (windows * pattern[:, None, :]).sum(dim=(1, 3)) == 4
        return hits.float().sum(dim=1, keepdim=True)


def test_gia_table_detects_the_motif_and_not_its_control():
    rng = np.random.default_rng(0)
    backgrounds = ["".join(rng.choice(list("ACGT"), 40)) for _ in range(30)]
    table = motif_workflow.gia_table(_CountsMotif(), backgrounds, {"gata": "GATA"}, n_shuffles=2, device="cpu")
    row = table.iloc[0]
    assert row.motif == "GATA" and sorted(row.control) == sorted("GATA") and row.n == 60
    assert row.effect > 0.8 and row.difference > 0.5 and row.p_value < 1e-6


def test_discover_all_returns_empty_lists_quietly_and_match_all_handles_them():
    X = one_hot(["".join(np.random.default_rng(i).choice(list("ACGT"), 48)) for i in range(20)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = motif_workflow.discover_all({"flat": (np.zeros_like(X), X)}, window=11, flank=5)
    assert found == {"flat": []}
    table = motif_workflow.match_all(found, [])
    assert table.empty and list(table.columns[:2]) == ["predictor", "motif"]


def test_match_all_labels_predictors():
    database = [motifs.JasparMotif("MA_X", "X", one_hot(["GATAAG"])[0].T * 0.9 + 0.025),
                motifs.JasparMotif("MA_Y", "Y", one_hot(["CCCGGG"])[0].T * 0.9 + 0.025)]
    query = motifs.Motif("pos_0", one_hot(["GATAAG"])[0].T * 0.85 + 0.0375, np.zeros((6, 4)), 25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TOMTOM warns about a two-matrix database
        table = motif_workflow.match_all({"cnn": [query], "probe": []}, database, n_best=2)
    assert list(table.predictor) == ["cnn", "cnn"] and set(table.n_seqlets) == {25}
    assert table.iloc[0].match_id == "MA_X"
