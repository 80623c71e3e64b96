"""Tests of the splicing chapter's helpers on tiny synthetic data."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps

from glmeval_utils import splicing
from glmeval_utils.data import registry
from glmeval_utils.sequences import one_hot, reverse_complement
from glmeval_utils.eval.stats import prediction_rows


def _psi(n=30, t=6, seed=0, missing=0.2):
    rng = np.random.default_rng(seed)
    psi = rng.uniform(0.02, 0.98, size=(n, t))
    psi[rng.random((n, t)) < missing] = np.nan
    psi[np.isnan(psi).all(axis=1), 0] = 0.5
    return psi


def test_delta_logit_targets_reconstruct_psi_and_centre():
    psi = _psi()
    targets = splicing.delta_logit_targets(psi)
    observed = np.isfinite(psi)
    assert np.array_equal(np.isfinite(targets.delta), observed)
    np.testing.assert_allclose(np.nanmean(targets.delta, axis=1), 0, atol=1e-12)
    rebuilt = splicing.sigmoid(targets.delta + targets.mean_logit[:, None])
    np.testing.assert_allclose(rebuilt[observed], psi[observed], rtol=1e-9)
    stacked = targets.stacked()
    assert stacked.shape == (30, 7) and stacked.dtype == np.float32
    np.testing.assert_allclose(stacked[:, -1], targets.mean_logit, rtol=1e-6)


def test_delta_logit_targets_reject_bad_input():
    with pytest.raises(ValueError, match="no observed tissue"):
        splicing.delta_logit_targets(np.array([[np.nan, np.nan], [0.2, 0.3]]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        splicing.delta_logit_targets(np.array([[20.0, 30.0]]))


def test_loss_is_zero_at_truth_and_positive_elsewhere():
    targets = splicing.delta_logit_targets(_psi())
    target = torch.from_numpy(targets.stacked())
    truth = torch.from_numpy(np.nan_to_num(targets.delta).astype(np.float32))
    assert float(splicing.masked_bernoulli_kl(truth, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(splicing.masked_bernoulli_kl(truth + 0.5, target)) > 1e-3


def test_loss_ignores_masked_tissues():
    targets = splicing.delta_logit_targets(_psi(missing=0.3))
    target = torch.from_numpy(targets.stacked())
    unobserved = torch.from_numpy(~np.isfinite(targets.delta))
    pred = torch.randn(target.shape[0], target.shape[1] - 1)
    garbage = torch.where(unobserved, pred + 100.0, pred)
    assert float(splicing.masked_bernoulli_kl(pred, target)) == pytest.approx(
        float(splicing.masked_bernoulli_kl(garbage, target)), rel=1e-6)
    empty = torch.full_like(target, float("nan"))
    empty[:, -1] = 0.0
    value = splicing.masked_bernoulli_kl(pred.requires_grad_(), empty)
    assert float(value.detach()) == 0.0
    value.backward()  # still differentiable


def test_loss_matches_numpy_kl():
    targets = splicing.delta_logit_targets(_psi(n=8, t=3, seed=3))
    pred = np.random.default_rng(1).normal(size=(8, 3))
    p = splicing.sigmoid(targets.delta + targets.mean_logit[:, None])
    q = splicing.sigmoid(pred + targets.mean_logit[:, None])
    kl = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    expected = np.nanmean(kl)
    got = splicing.masked_bernoulli_kl(torch.tensor(pred, dtype=torch.float32),
                                       torch.from_numpy(targets.stacked()))
    assert float(got) == pytest.approx(expected, rel=1e-4)


def test_per_tissue_spearman_matches_scipy():
    rng = np.random.default_rng(0)
    y_true = rng.normal(size=(40, 4))
    y_pred = y_true + rng.normal(size=(40, 4))
    y_true[rng.random((40, 4)) < 0.25] = np.nan
    table = splicing.per_tissue_spearman(y_true, y_pred, tissues=list("abcd"))
    for column, row in enumerate(table.itertuples()):
        ok = np.isfinite(y_true[:, column])
        assert row.n == ok.sum()
        assert row.spearman == pytest.approx(sps.spearmanr(y_true[ok, column], y_pred[ok, column]).statistic)
    assert splicing.mean_tissue_spearman(y_true, y_pred) == pytest.approx(table.spearman.mean())
    keep = np.arange(40) < 20
    sub = splicing.per_tissue_spearman(y_true, y_pred, keep=keep)
    ok = np.isfinite(y_true[:20, 0])
    assert sub.spearman[0] == pytest.approx(sps.spearmanr(y_true[:20][ok, 0], y_pred[:20][ok, 0]).statistic)


def test_evaluable_exons_filter():
    psi = np.full((3, 12), 0.5)
    psi[0, 0] = 0.9  # spread 0.9 - mean > 0.2
    psi[1, :] = 0.5  # no spread
    psi[2, :] = np.nan
    psi[2, :5] = [0.1, 0.9, 0.5, 0.5, 0.5]  # spread but only 5 tissues
    assert splicing.evaluable_exons(psi).tolist() == [True, False, False]
    assert splicing.evaluable_exons(psi, min_tissues=5).tolist() == [True, False, True]


@pytest.mark.parametrize("channels_last,channels", [(False, 4), (True, 8)])
def test_mtsplice_model_output_shape(channels_last, channels):
    model = splicing.MTSpliceCNN(channels, 400, 56, channels_last=channels_last, input_norm=channels_last).eval()
    shape = (3, 400, channels) if channels_last else (3, channels, 400)
    out = model(torch.randn(*shape), torch.randn(*shape))
    assert out.shape == (3, 56)
    small = splicing.MTSpliceCNN(4, 37, 5, width_factor=0.25).eval()
    assert small(torch.randn(2, 4, 37), torch.randn(2, 4, 37)).shape == (2, 5)


def _toy_genome(tmp_path, length=1200, seed=0):
    rng = np.random.default_rng(seed)
    seq = "".join(rng.choice(list("ACGT"), size=length))
    path = tmp_path / "toy.fa"
    lines = [seq[i:i + 60] for i in range(0, length, 60)]
    path.write_text(">chrT\n" + "\n".join(lines) + "\n")
    return seq, path


def _toy_ascot(n_tissues=3):
    rows = []
    for k, (start, end, strand, split) in enumerate([(401, 500, "+", "train"), (451, 520, "-", "train"),
                                                     (420, 600, "+", "valid"), (430, 480, "-", "test")]):
        row = {"chrom": "chrT", "exon_start": start, "exon_end": end, "intron_start": 1, "intron_end": 2,
               "exon_id": f"e{k}", "strand": strand, "exon_boundary": f"chrT:{start}-{end}"}
        row.update({f"tissue{t}": 0.1 + 0.06 * t + 0.02 * k for t in range(n_tissues)})
        row["split"] = split
        rows.append(row)
    return pd.DataFrame(rows)


def test_sequence_path_through_exon_windows(tmp_path):
    genome, fasta = _toy_genome(tmp_path)
    table = _toy_ascot()
    windows = registry.exon_windows(table, fasta, flank=300, half=400)
    # + strand: acceptor starts 300 nt before the exon's first base
    assert windows.acceptor_seq[0] == genome[400 - 300:400 - 300 + 400]
    assert windows.donor_seq[0] == genome[500 + 300 - 400:500 + 300]
    # - strand: acceptor comes from the high-coordinate side, reverse-complemented
    assert windows.acceptor_seq[1] == reverse_complement(genome[520 + 300 - 400:520 + 300])
    splits = splicing.ascot_splits(table, fasta)
    assert set(splits) == {"train", "valid", "test"}
    train = splits["train"]
    acceptor, donor = train.onehot()
    assert acceptor.shape == donor.shape == (2, 4, 400)
    assert train.targets.delta.shape == (2, 3)
    with pytest.raises(ValueError, match="fasta_path"):
        splicing.ascot_splits(table)


def test_vexseq_inputs_pad_left_aligned():
    table = pd.DataFrame({"seq": ["ACGT" * 40 + "A", "ACGT" * 41 + "AC"], "reads_hepg2": [50, 10],
                          "reads_k562": [50, 200]})
    out = splicing.vexseq_inputs(table, length=166)
    assert (out.seq_padded.str.len() == 166).all()
    assert out.seq_padded[0].startswith(table.seq[0]) and out.seq_padded[0].endswith("N" * 5)
    assert len(splicing.vexseq_inputs(table, min_reads=20)) == 1


def test_variant_deltas():
    table = pd.DataFrame({"variant_id": ["wt", "v1", "v2", "other"], "exon_id": ["e", "e", "e", "f"],
                          "class": ["Reference", "Variant", "Variant", "Variant"],
                          "psi_hepg2": [0.5, 0.2, 0.9, 0.1], "psi_k562": [0.4, 0.4, 0.1, 0.2]},
                         index=[10, 11, 12, 13])
    y_true = table[["psi_hepg2", "psi_k562"]].to_numpy()
    y_score = y_true + 0.1
    rows = pd.concat([prediction_rows(y_true, y_score + shift, task="t", dataset="d", model="m",
                                      representation="r", probe="p", seed=seed, index=table.index.to_numpy())
                      for seed, shift in ((0, 0.0), (1, 0.2))])
    deltas = splicing.variant_deltas(table, rows)
    assert len(deltas) == 4  # 2 variants x 2 outputs; 'other' has no wild type
    np.testing.assert_allclose(deltas.delta_true, deltas.delta_pred)
    v2 = deltas[(deltas.variant_id == "v2") & (deltas.target == "psi_k562")].iloc[0]
    assert v2.delta_true == pytest.approx(-0.3)


def test_mapsy_variants_and_siamese():
    wt = "ACGTACGTAC"
    table = pd.DataFrame({"variant_id": ["a", "b"], "wt_seq": [wt, wt], "mut_seq": ["ACGAACGTAC", "ACGTACGTAG"]})
    variants = splicing.mapsy_variants(table)
    assert variants.offset.tolist() == [3, 9]
    assert variants.ref.tolist() == ["T", "C"] and variants.alt.tolist() == ["A", "G"]
    bad = table.assign(mut_seq=["AAGAACGTAC", "ACGTACGTAG"])
    with pytest.raises(ValueError, match="pair a"):
        splicing.mapsy_variants(bad)
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40, 1))
    model = splicing.SiameseDelta(encoder).eval()
    x_wt, x_mut = torch.from_numpy(one_hot([wt, wt])), torch.from_numpy(one_hot(table.mut_seq.tolist()))
    assert torch.allclose(model(x_wt, x_wt), torch.zeros(2, 1))
    assert torch.allclose(model(x_wt, x_mut), -model(x_mut, x_wt))


def test_substitution_means_scores_test_pairs_by_their_substitution_type():
    wt = "ACGTACGTAC"

    def pairs(muts, effects):
        return pd.DataFrame({"variant_id": [f"v{k}" for k in range(len(muts))], "wt_seq": wt,
                             "mut_seq": muts, "y": effects})

    # T>A at offset 3 (twice, means 1.0), C>G at offset 9 (-2.0)
    train = pairs(["ACGAACGTAC", "ACGTACGAAC", "ACGTACGTAG"], [0.5, 1.5, -2.0])
    # a T>A elsewhere, a C>G, and an unseen A>T (gets the overall training mean, 0.0)
    test = pairs(["ACGTACGAAC", "ACGTACGTAG", "TCGTACGTAC"], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(splicing.substitution_means(train, test, "y"), [1.0, -2.0, 0.0])
    with pytest.raises(ValueError, match="missing values"):
        splicing.substitution_means(train.assign(y=[0.5, np.nan, 1.0]), test, "y")


def test_fit_siamese_onehot_runs():
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(24)]
    muts = [s[:10] + ("A" if s[10] != "A" else "C") + s[11:] for s in seqs]
    table = pd.DataFrame({"wt_seq": seqs, "mut_seq": muts, "y": rng.normal(size=24)})
    model, history = splicing.fit_siamese_onehot(table[:16], table[16:], "y", width_factor=0.125,
                                                 max_epochs=1, progress=False)
    assert history.n_epochs == 1
    assert splicing.predict_pairs(model, table[16:]).shape == (8,)


class _FakeGLM:
    """Deterministic stand-in for the gLM contract: one-hot plus a constant channel."""

    name, model_id, revision, n_layers, hidden_size = "fake-glm", "fake/glm", "0", 1, 5
    max_length, has_cls, objective, family = None, False, None, "fake"
    weights_fingerprint = "fake-v1"

    def embed(self, seqs, *, layers=(-1,), pooling="mean", strands="fwd", batch_size=32, progress=True):
        x = one_hot(list(seqs)).transpose(0, 2, 1)  # (N, L, 4)
        x = np.concatenate([x, np.ones_like(x[..., :1])], axis=-1)
        return np.repeat(x[:, None], len(layers), axis=1)


def test_ascot_ladder_onehot_and_glm(tmp_path):
    _, fasta = _toy_genome(tmp_path)
    table = _toy_ascot(n_tissues=12)
    table.loc[table.split == "test", [f"tissue{t}" for t in range(12)]] = np.linspace(0.05, 0.95, 12)
    extra = table[table.split == "test"].assign(exon_id="e9", exon_start=440)
    extra[[f"tissue{t}" for t in range(12)]] = np.linspace(0.9, 0.1, 12)
    splits = splicing.ascot_splits(pd.concat([table, extra], ignore_index=True), fasta, flank=20, half=40)
    scores = splicing.ascot_ladder(splits, [_FakeGLM()], max_epochs=1, batch_size=2, width_factor=0.125,
                                   cache_dir=tmp_path / "emb", progress=False)
    assert set(scores.model) == {"one-hot", "fake-glm"}
    assert set(scores.representation) == {"onehot", "full"}
    assert len(scores) == 2 * 12 and (scores.n == 2).all()
    assert scores.spearman.isna().all()  # 2 exons per tissue < min_exons = 3


def test_fetch_hg38_uses_mirror(tmp_path, monkeypatch):
    import gzip

    folder = tmp_path / "mirror" / "ucsc" / "hg38"
    folder.mkdir(parents=True)
    with gzip.open(folder / "hg38.fa.gz", "wt") as handle:
        handle.write(">chr1\nACGT\n")
    monkeypatch.setenv("GLMEVAL_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path / "cache"))
    path = splicing.fetch_hg38(progress=False)
    assert path.read_text() == ">chr1\nACGT\n"
    monkeypatch.setenv("GLMEVAL_MIRROR", str(tmp_path / "empty"))
    path.unlink()
    with pytest.raises(ValueError, match="offline mirror"):
        splicing.fetch_hg38(progress=False)
