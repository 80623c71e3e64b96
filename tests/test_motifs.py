"""Tests for glmeval_utils.score.motifs, ending with the planted-motif recovery pipeline."""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from glmeval_utils.data import simulate  # noqa: E402
from glmeval_utils.score import attribution
from glmeval_utils.score import motifs
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
            effect_sizes={"CTCF": 6.0, "SPI1": 6.0}, intercept=-3.0, random_state=0,
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
    ax = motifs.plot_attribution_logo(np.random.default_rng(0).normal(size=(4, 20)))
    assert ax.get_ylabel() == "attribution"
    ax = motifs.plot_attribution_logo(np.arange(5.0), sequence="ACGNT", title="one sequence")
    assert ax.get_title() == "one sequence"
    with pytest.raises(ValueError, match="sequence"):
        motifs.plot_attribution_logo(np.arange(5.0))
    ctcf = next(m for m in jaspar if m.matrix_id == "MA0139.2")
    found = motifs.Motif("pos_0", ctcf.pfm[::-1, ::-1], np.zeros_like(ctcf.pfm), 10)
    figure = motifs.plot_motif_match(found, ctcf, orientation="-")
    assert len(figure.axes) == 2 and "rev. comp." in figure.axes[1].get_title()
    plt.close("all")
