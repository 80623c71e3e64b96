"""Tests for glmeval_utils.score.motifs, ending with the planted-motif recovery pipeline."""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from glmeval_utils import plots  # noqa: E402
from glmeval_utils.data import simulate  # noqa: E402
from glmeval_utils.score import attribution  # noqa: E402
from glmeval_utils.score import motifs  # noqa: E402
from glmeval_utils.sequences import one_hot  # noqa: E402

PLANTED = {"MA0139.2": "CTCF", "MA0080.7": "SPI1"}


@pytest.fixture(scope="module")
def jaspar():
    return motifs.load_jaspar()


# modisco-lite compiles its numba kernels in forked children only while numba's
# threading layer is unused; memelite's TOMTOM starts it (OpenMP), after which
# modisco compiles in-process (~40 s). So the modisco tests come first.


def test_discover_motifs_returns_empty_list_with_warning_when_nothing_is_found():
    rng = np.random.default_rng(0)
    X = one_hot(["".join(rng.choice(list("ACGT"), 48)) for _ in range(40)])
    for scores in (np.zeros_like(X), rng.normal(size=X.shape)):
        with pytest.warns(UserWarning, match="no motifs"):
            assert motifs.discover_motifs(scores, X, window=11, flank=5) == []
    with pytest.raises(ValueError, match="shape"):
        motifs.discover_motifs(np.zeros((40, 4, 47)), X)
    with pytest.raises(ValueError, match="shorter"):
        motifs.discover_motifs(X, X, window=41, flank=5)


def test_discover_all_returns_empty_lists_quietly_and_match_all_handles_them():
    X = one_hot(["".join(np.random.default_rng(i).choice(list("ACGT"), 48)) for i in range(20)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # quiet: modisco's "no motifs" warning is silenced
        found = motifs.discover_all({"flat": (np.zeros_like(X), X), "noise": (X * 0.0, X)}, window=11, flank=5)
    assert found == {"flat": [], "noise": []}
    with pytest.warns(UserWarning, match="no motifs"):
        assert motifs.discover_all({"flat": (np.zeros_like(X), X)}, quiet=False, window=11, flank=5) == {"flat": []}
    table = motifs.match_all(found, [])
    assert table.empty and list(table.columns[:2]) == ["predictor", "motif"]
    assert list(table.columns[-1:]) == ["n_seqlets"]


def _train_tiny_cnn(X: torch.Tensor, y: torch.Tensor) -> torch.nn.Module:
    """One conv layer + global max pool: enough to learn two planted motifs."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(4, 8, 15, padding=7), torch.nn.ReLU(),
        torch.nn.AdaptiveMaxPool1d(1), torch.nn.Flatten(), torch.nn.Linear(8, 1),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(10):
        order = torch.randperm(len(X))
        for start in range(0, len(X), 100):
            batch = order[start : start + 100]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(X[batch])[:, 0], y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def test_planted_motifs_are_recovered_and_matched_to_jaspar(jaspar):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small model: threads only contend on a shared machine
    try:
        by_id = {m.matrix_id: m for m in jaspar}
        table = simulate.simulate_planted_motifs(
            1000, 50, {name: by_id[mid].pfm for mid, name in PLANTED.items()},
            effect_sizes={"CTCF": 6.0, "SPI1": 6.0}, intercept=-3.0, seed=0,
        )
        X = torch.from_numpy(one_hot(list(table.seq)))
        model = _train_tiny_cnn(X, torch.tensor(table.label.values, dtype=torch.float32))
        carriers = ((table.CTCF == 1) | (table.SPI1 == 1)).to_numpy()
        X_carriers = X[carriers].numpy().copy()
        gradients = attribution.saliency(model, X_carriers, device="cpu")
    finally:
        torch.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        found = motifs.discover_motifs(gradients, X_carriers, max_seqlets=300, window=11, flank=5,
                                       n_leiden_runs=3)
    assert found, "modisco found no motif in attributions of planted motifs"
    for motif in found:
        np.testing.assert_allclose(motif.pfm.sum(axis=1), 1.0, atol=1e-3)
        assert motif.cwm.shape == motif.pfm.shape and motif.n_seqlets >= 20
    matches = motifs.match_motifs(found, jaspar)
    best = matches[(matches["rank"] == 1) & (matches.q_value < 0.05)]
    assert set(best.match_id) & set(PLANTED), matches.to_string()


def test_jaspar_2024_core_vertebrates(jaspar):
    assert len(jaspar) == 879
    by_id = {m.matrix_id: m for m in jaspar}
    assert by_id["MA0139.2"].name == "CTCF"
    for motif in jaspar:
        assert motif.pfm.ndim == 2 and motif.pfm.shape[1] == 4
        np.testing.assert_allclose(motif.pfm.sum(axis=1), 1.0)
    assert motifs.load_jaspar()[0] is jaspar[0]  # cached in memory
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyjaspar warns about the empty selection
        with pytest.raises(ValueError, match="no JASPAR matrices"):
            motifs.load_jaspar(tax_group="no-such-group")


def test_match_motifs_finds_a_database_motif_on_both_strands(jaspar):
    ctcf = next(m for m in jaspar if m.matrix_id == "MA0139.2")
    core = motifs.Motif("ctcf_core", ctcf.pfm[2:14], np.zeros((12, 4)), 0)
    flipped = motifs.Motif("ctcf_rc", ctcf.pfm[2:14][::-1, ::-1], np.zeros((12, 4)), 0)
    table = motifs.match_motifs([core, flipped], jaspar, n_best=2)
    assert list(table.columns[:4]) == ["motif", "rank", "match_id", "match_name"]
    best = table[table["rank"] == 1].set_index("motif")
    assert (best.match_id == "MA0139.2").all()
    assert best.loc["ctcf_core", "orientation"] == "+" and best.loc["ctcf_rc", "orientation"] == "-"
    assert (best.q_value < 1e-6).all() and (best.q_value >= best.p_value).all()
    assert motifs.match_motifs([], jaspar).empty


def test_benjamini_hochberg_matches_hand_computation():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 -> 0.04, 0.0533, 0.0533, 0.5
    np.testing.assert_allclose(motifs._benjamini_hochberg(p), [0.04, 0.16 / 3, 0.16 / 3, 0.5])


def test_information_content():
    pfm = np.array([[1, 0, 0, 0], [0.25] * 4, [0.5, 0.5, 0, 0]])
    ic = motifs.information_content(pfm)
    np.testing.assert_allclose(ic.sum(axis=1), [2.0, 0.0, 1.0])
    np.testing.assert_allclose(ic[2], [0.5, 0.5, 0, 0])


def test_logos(jaspar):
    ax = plots.attribution_logo(np.random.default_rng(0).normal(size=(4, 20)))
    assert ax.get_ylabel() == "attribution"
    ax = plots.attribution_logo(np.arange(5.0), sequence="ACGNT", title="one sequence")
    assert ax.get_title() == "one sequence"
    with pytest.raises(ValueError, match="sequence"):
        plots.attribution_logo(np.arange(5.0))
    ctcf = next(m for m in jaspar if m.matrix_id == "MA0139.2")
    found = motifs.Motif("pos_0", ctcf.pfm[::-1, ::-1], np.zeros_like(ctcf.pfm), 10)
    figure = plots.motif_match(found, ctcf, orientation="-")
    assert len(figure.axes) == 2 and "rev. comp." in figure.axes[1].get_title()
    assert figure.axes[1].get_title().startswith("MA0139.2 CTCF")
    plt.close("all")


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
    recall = motifs.planted_recall(_toy_matches(), {"MA1": "A", "MA2": "B"}, ["cnn", "probe", "none"], top_k=3)
    assert list(recall.columns) == ["predictor", "planted_id", "planted_name", "recovered", "motif", "rank",
                                    "q_value"]
    got = recall.set_index(["predictor", "planted_id"])
    assert got.loc[("cnn", "MA1"), "recovered"] and got.loc[("cnn", "MA1"), "motif"] == "pos_0"
    assert got.loc[("cnn", "MA1"), "q_value"] == pytest.approx(1e-4)
    assert got.loc[("cnn", "MA2"), "recovered"] and got.loc[("cnn", "MA2"), "rank"] == 2  # pos_1 fails q
    assert not got.loc[("probe", "MA1"), "recovered"]  # rank 4 > top_k
    assert got.loc[("probe", "MA1"), "planted_name"] == "A" and np.isnan(got.loc[("probe", "MA1"), "rank"])
    assert not got.loc[("none", "MA2"), "recovered"] and len(recall) == 6
    assert motifs.planted_recall(_toy_matches(), {"MA1": "A"}, ["probe"], top_k=4).recovered.all()
    strict = motifs.planted_recall(_toy_matches(), {"MA2": "B"}, ["cnn"], q_threshold=1e-3)
    assert not strict.recovered.any()  # pos_0's MA2 match has q = 0.01
    empty = motifs.planted_recall(pd.DataFrame(columns=_toy_matches().columns), {"MA1": "A"}, ["cnn"])
    assert not empty.recovered.any()


def test_consensus():
    pfm = np.array([[0.25] * 4, [0.97, 0.01, 0.01, 0.01], [0.25] * 4, [0.01, 0.01, 0.01, 0.97], [0.25] * 4])
    assert motifs.consensus(pfm) == "ANT"
    assert motifs.consensus(pfm, min_information=0.0) == "AAATA"  # every position kept; flat rows argmax to A
    with pytest.raises(ValueError, match="min_information"):
        motifs.consensus(np.full((3, 4), 0.25))
    with pytest.raises(ValueError, match="shape"):
        motifs.consensus(np.ones((3, 3)))


def test_match_all_labels_predictors():
    database = [motifs.JasparMotif("MA_X", "X", one_hot(["GATAAG"])[0].T * 0.9 + 0.025),
                motifs.JasparMotif("MA_Y", "Y", one_hot(["CCCGGG"])[0].T * 0.9 + 0.025)]
    query = motifs.Motif("pos_0", one_hot(["GATAAG"])[0].T * 0.85 + 0.0375, np.zeros((6, 4)), 25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TOMTOM warns about a two-matrix database
        table = motifs.match_all({"cnn": [query], "probe": []}, database, n_best=2)
    assert list(table.predictor) == ["cnn", "cnn"] and set(table.n_seqlets) == {25}
    assert table.iloc[0].match_id == "MA_X" and list(table["rank"]) == [1, 2]
