"""Tests of the splicing layers (data/learn/tasks ``splicing``) on tiny synthetic data."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps

from glmeval_utils.data import registry
from glmeval_utils.data import splicing as data_splicing
from glmeval_utils.eval.stats import metric_value
from glmeval_utils.learn import splicing as learn_splicing
from glmeval_utils.predictions import COLUMNS, prediction_matrix, prediction_rows
from glmeval_utils.sequences import one_hot, reverse_complement
from glmeval_utils.tasks import splicing as tasks_splicing


def _psi(n=30, t=6, seed=0, missing=0.2):
    rng = np.random.default_rng(seed)
    psi = rng.uniform(0.02, 0.98, size=(n, t))
    psi[rng.random((n, t)) < missing] = np.nan
    psi[np.isnan(psi).all(axis=1), 0] = 0.5
    return psi


def test_delta_logit_targets_reconstruct_psi_and_centre():
    psi = _psi()
    targets = data_splicing.delta_logit_targets(psi)
    observed = np.isfinite(psi)
    assert np.array_equal(np.isfinite(targets.delta), observed)
    np.testing.assert_allclose(np.nanmean(targets.delta, axis=1), 0, atol=1e-12)
    rebuilt = data_splicing.sigmoid(targets.delta + targets.mean_logit[:, None])
    np.testing.assert_allclose(rebuilt[observed], psi[observed], rtol=1e-9)
    stacked = targets.stacked()
    assert stacked.shape == (30, 7) and stacked.dtype == np.float32
    np.testing.assert_allclose(stacked[:, -1], targets.mean_logit, rtol=1e-6)


def test_delta_logit_targets_reject_bad_input():
    with pytest.raises(ValueError, match="no observed tissue"):
        data_splicing.delta_logit_targets(np.array([[np.nan, np.nan], [0.2, 0.3]]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data_splicing.delta_logit_targets(np.array([[20.0, 30.0]]))


def test_loss_is_zero_at_truth_and_positive_elsewhere():
    targets = data_splicing.delta_logit_targets(_psi())
    target = torch.from_numpy(targets.stacked())
    truth = torch.from_numpy(np.nan_to_num(targets.delta).astype(np.float32))
    assert float(learn_splicing.masked_bernoulli_kl(truth, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(learn_splicing.masked_bernoulli_kl(truth + 0.5, target)) > 1e-3


def test_loss_ignores_masked_tissues():
    targets = data_splicing.delta_logit_targets(_psi(missing=0.3))
    target = torch.from_numpy(targets.stacked())
    unobserved = torch.from_numpy(~np.isfinite(targets.delta))
    pred = torch.randn(target.shape[0], target.shape[1] - 1)
    garbage = torch.where(unobserved, pred + 100.0, pred)
    assert float(learn_splicing.masked_bernoulli_kl(pred, target)) == pytest.approx(
        float(learn_splicing.masked_bernoulli_kl(garbage, target)), rel=1e-6)
    empty = torch.full_like(target, float("nan"))
    empty[:, -1] = 0.0
    value = learn_splicing.masked_bernoulli_kl(pred.requires_grad_(), empty)
    assert float(value.detach()) == 0.0
    value.backward()  # still differentiable


def test_loss_matches_numpy_kl():
    targets = data_splicing.delta_logit_targets(_psi(n=8, t=3, seed=3))
    pred = np.random.default_rng(1).normal(size=(8, 3))
    p = data_splicing.sigmoid(targets.delta + targets.mean_logit[:, None])
    q = data_splicing.sigmoid(pred + targets.mean_logit[:, None])
    kl = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    expected = np.nanmean(kl)
    got = learn_splicing.masked_bernoulli_kl(torch.tensor(pred, dtype=torch.float32),
                                       torch.from_numpy(targets.stacked()))
    assert float(got) == pytest.approx(expected, rel=1e-4)


def _mean_tissue_spearman(y_true, y_pred, min_exons=3):
    """The paper's score computed directly: scipy Spearman per tissue over observed exons, NaN tissues skipped."""
    values = []
    for column in range(y_true.shape[1]):
        ok = np.isfinite(y_true[:, column]) & np.isfinite(y_pred[:, column])
        if ok.sum() >= min_exons:
            values.append(sps.spearmanr(y_true[ok, column], y_pred[ok, column]).statistic)
    return float(np.mean(values))


def test_metric_value_is_the_mean_over_tissues_of_spearman():
    rng = np.random.default_rng(0)
    y_true = rng.normal(size=(40, 4))
    y_pred = y_true + rng.normal(size=(40, 4))
    y_pred[:, 2] = np.round(y_pred[:, 2])  # ties: average ranks, as scipy
    y_true[rng.random((40, 4)) < 0.25] = np.nan
    per_tissue = [sps.spearmanr(y_true[ok, t], y_pred[ok, t]).statistic
                  for t in range(4) for ok in [np.isfinite(y_true[:, t])]]
    assert len(set(np.round(per_tissue, 6))) == 4  # the tissues differ, so the average is a real average
    assert metric_value(y_true, y_pred, "spearman") == pytest.approx(np.mean(per_tissue), rel=1e-9)
    assert metric_value(y_true, y_pred, "spearman") == pytest.approx(_mean_tissue_spearman(y_true, y_pred))
    # a tissue without any observed exon is skipped, not counted as 0
    y_true[:, 3] = np.nan
    assert metric_value(y_true, y_pred, "spearman") == pytest.approx(np.mean(per_tissue[:3]), rel=1e-9)
    # one tissue alone is scipy's Spearman of that tissue
    assert metric_value(y_true[:, :1], y_pred[:, :1], "spearman") == pytest.approx(per_tissue[0], rel=1e-9)


def test_metric_value_skips_tissues_with_fewer_than_three_observed_exons():
    rng = np.random.default_rng(1)
    y_true = rng.normal(size=(20, 3))
    y_pred = y_true + rng.normal(size=(20, 3))
    y_true[2:, 2] = np.nan  # tissue 2: two observed exons
    expected = _mean_tissue_spearman(y_true, y_pred)  # tissues 0 and 1 only
    assert np.isnan(metric_value(y_true[:, 2:], y_pred[:, 2:], "spearman"))
    assert metric_value(y_true, y_pred, "spearman") == pytest.approx(expected)


def test_evaluable_exons_filter():
    psi = np.full((3, 12), 0.5)
    psi[0, 0] = 0.9  # spread 0.9 - mean > 0.2
    psi[1, :] = 0.5  # no spread
    psi[2, :] = np.nan
    psi[2, :5] = [0.1, 0.9, 0.5, 0.5, 0.5]  # spread but only 5 tissues
    assert data_splicing.evaluable_exons(psi).tolist() == [True, False, False]
    assert data_splicing.evaluable_exons(psi, min_tissues=5).tolist() == [True, False, True]


@pytest.mark.parametrize("channels_last,channels", [(False, 4), (True, 8)])
def test_mtsplice_model_output_shape(channels_last, channels):
    model = learn_splicing.MTSpliceCNN(channels, 400, 56, channels_last=channels_last, input_norm=channels_last).eval()
    shape = (3, 400, channels) if channels_last else (3, channels, 400)
    out = model(torch.randn(*shape), torch.randn(*shape))
    assert out.shape == (3, 56)
    small = learn_splicing.MTSpliceCNN(4, 37, 5, width_factor=0.25).eval()
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
    splits = data_splicing.ascot_splits(table, fasta)
    assert set(splits) == {"train", "valid", "test"}
    train = splits["train"]
    acceptor, donor = train.onehot()
    assert acceptor.shape == donor.shape == (2, 4, 400)
    assert train.targets.delta.shape == (2, 3)
    with pytest.raises(ValueError, match="fasta_path"):
        data_splicing.ascot_splits(table)


def test_vexseq_inputs_pad_left_aligned():
    table = pd.DataFrame({"seq": ["ACGT" * 40 + "A", "ACGT" * 41 + "AC"], "reads_hepg2": [50, 10],
                          "reads_k562": [50, 200]})
    out = data_splicing.vexseq_inputs(table, length=166)
    assert (out.seq_padded.str.len() == 166).all()
    assert out.seq_padded[0].startswith(table.seq[0]) and out.seq_padded[0].endswith("N" * 5)
    assert len(data_splicing.vexseq_inputs(table, min_reads=20)) == 1


def test_variant_deltas():
    table = pd.DataFrame({"variant_id": ["wt", "v1", "v2", "other"], "exon_id": ["e", "e", "e", "f"],
                          "class": ["Reference", "Variant", "Variant", "Variant"],
                          "psi_hepg2": [0.5, 0.2, 0.9, 0.1], "psi_k562": [0.4, 0.4, 0.1, 0.2]},
                         index=[10, 11, 12, 13])
    y_true = table[["psi_hepg2", "psi_k562"]].to_numpy()
    labels = dict(task="t", dataset="d", model="m", representation="r", probe="p", index=table.index.to_numpy())
    # one model name in two roles: the pretrained predictions track PSI (seeds offset by 0 and 0.2, averaged),
    # the random-init ones double it; a wild type must only pair with variants of its own role
    rows = pd.concat([prediction_rows(y_true, y_true + 0.1 + shift, role="pretrained", seed=seed, **labels)
                      for seed, shift in ((0, 0.0), (1, 0.2))]
                     + [prediction_rows(y_true, 2 * y_true, role="random-init", seed=0, **labels)])
    deltas = tasks_splicing.variant_deltas(table, rows)
    assert len(deltas) == 8  # 2 roles x 2 variants x 2 outputs; 'other' has no wild type
    assert deltas.groupby("role").size().to_dict() == {"pretrained": 4, "random-init": 4}
    pretrained, control = deltas[deltas.role == "pretrained"], deltas[deltas.role == "random-init"]
    np.testing.assert_allclose(pretrained.delta_true, pretrained.delta_pred)
    np.testing.assert_allclose(control.delta_pred, 2 * control.delta_true)
    v2 = deltas[(deltas.variant_id == "v2") & (deltas.target == "psi_k562")]
    assert v2.delta_true.tolist() == pytest.approx([-0.3, -0.3])
    assert set(deltas.exon_id) == {"e"} and set(deltas.variant_id) == {"v1", "v2"}


def test_mapsy_variants_and_siamese():
    wt = "ACGTACGTAC"
    table = pd.DataFrame({"variant_id": ["a", "b"], "wt_seq": [wt, wt], "mut_seq": ["ACGAACGTAC", "ACGTACGTAG"]})
    variants = data_splicing.mapsy_variants(table)
    assert variants.offset.tolist() == [3, 9]
    assert variants.ref.tolist() == ["T", "C"] and variants.alt.tolist() == ["A", "G"]
    bad = table.assign(mut_seq=["AAGAACGTAC", "ACGTACGTAG"])
    with pytest.raises(ValueError, match="pair a"):
        data_splicing.mapsy_variants(bad)
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40, 1))
    model = learn_splicing.SiameseDelta(encoder).eval()
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
    np.testing.assert_allclose(learn_splicing.substitution_means(train, test, "y"), [1.0, -2.0, 0.0])
    with pytest.raises(ValueError, match="missing values"):
        learn_splicing.substitution_means(train.assign(y=[0.5, np.nan, 1.0]), test, "y")


def test_fit_siamese_onehot_runs_and_does_not_depend_on_what_ran_before():
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(24)]
    muts = [s[:10] + ("A" if s[10] != "A" else "C") + s[11:] for s in seqs]
    table = pd.DataFrame({"wt_seq": seqs, "mut_seq": muts, "y": rng.normal(size=24)})
    predictions = []
    for earlier_draws in (0, 7):
        torch.rand(earlier_draws)  # another model trained (or loaded from the cache) before this one
        model, history = learn_splicing.fit_siamese_onehot(table[:16], table[16:], "y", width_factor=0.125,
                                                           max_epochs=1, progress=False)
        predictions.append(learn_splicing.predict_pairs(model, table[16:]))
    assert history.n_epochs == 1 and predictions[0].shape == (8,)
    np.testing.assert_array_equal(predictions[0], predictions[1])


class _FakeGLM:
    """Deterministic stand-in for the gLM contract: one-hot plus a constant channel (a random-init control)."""

    name, model_id, revision, n_layers, hidden_size = "fake-glm", "fake/glm", "0", 1, 5
    max_length, has_cls, objective, family = None, False, None, "fake"
    role = "random-init"
    weights_fingerprint = "fake-v1"

    def embed(self, seqs, *, layers=(-1,), pooling="mean", strands="fwd", batch_size=32, progress=True):
        x = one_hot(list(seqs)).transpose(0, 2, 1)  # (N, L, 4)
        x = np.concatenate([x, np.ones_like(x[..., :1])], axis=-1)
        return np.repeat(x[:, None], len(layers), axis=1)


def test_ascot_ladder_returns_prediction_rows_of_evaluable_exons(tmp_path):
    _, fasta = _toy_genome(tmp_path)
    tissues = [f"tissue{t}" for t in range(12)]
    table = _toy_ascot(n_tissues=12)
    table.loc[table.split == "test", tissues] = np.linspace(0.05, 0.95, 12)
    extra = table[table.split == "test"].assign(exon_id="e9", exon_start=440)
    extra[tissues] = np.linspace(0.9, 0.1, 12)
    flat = table[table.split == "test"].assign(exon_id="flat", exon_start=445)
    flat[tissues] = 0.5  # no tissue-specific spread: not evaluable
    sparse = table[table.split == "valid"].assign(exon_id="sparse", exon_start=425)
    sparse[tissues] = np.nan
    sparse[tissues[:5]] = [0.1, 0.9, 0.5, 0.5, 0.5]  # spread, but only 5 tissues: not evaluable
    splits = data_splicing.ascot_splits(pd.concat([table, extra, flat, sparse], ignore_index=True), fasta,
                                        flank=20, half=40)
    rows = learn_splicing.ascot_ladder(splits, [_FakeGLM()], seeds=(0, 1), max_epochs=1, batch_size=2,
                                       width_factor=0.125, cache_dir=tmp_path / "emb", progress=False)
    assert list(rows.columns) == COLUMNS
    assert set(rows.split) == {"valid", "test"}
    configurations = set(zip(rows.model, rows.role, rows.representation, rows.probe))
    assert configurations == {("one-hot", "one-hot", "onehot", "mtsplice_cnn"),
                              ("fake-glm", "random-init", "full", "mtsplice_cnn")}
    assert set(rows.task) == {"splicing"} and set(rows.dataset) == {"ascot_gtex"} and not rows.simulated.any()
    # only the evaluable exons, one output per tissue, the exon id as index and group
    assert set(rows[rows.split == "test"]["index"]) == {"e3", "e9"}
    assert set(rows[rows.split == "valid"]["index"]) == {"e2"}
    assert (rows["index"].astype(str) == rows["group"]).all()
    per_run = rows.groupby(["model", "seed", "split", "index"]).output.agg(["size", "min", "max", "nunique"])
    assert len(per_run) == 2 * 2 * 3  # models x seeds x evaluable exons
    assert (per_run["size"] == 12).all() and (per_run["nunique"] == 12).all()
    assert (per_run["min"] == 0).all() and (per_run["max"] == 11).all()
    # y_true is the measured Δlogit of each exon and tissue
    for split in ("valid", "test"):
        part = splits[split]
        for exon in set(rows[rows.split == split]["index"]):
            truth = part.targets.delta[list(part.exon_id).index(exon)]
            got = rows[(rows.split == split) & (rows["index"] == exon) & (rows.model == "one-hot")
                       & (rows.seed == 0)].sort_values("output").y_true.to_numpy()
            np.testing.assert_allclose(got, truth, rtol=1e-6)
    assert np.isfinite(rows.y_score).all()
    # the rows of one model and split pivot to the exons x tissues matrix that eval's multi-output Spearman scores
    test = rows[(rows.split == "test") & (rows.model == "one-hot")]
    matrix = prediction_matrix(test, "y_true")
    assert matrix.shape == (2, 12) and sorted(matrix.index) == ["e3", "e9"]


def test_fetch_hg38_uses_mirror(tmp_path, monkeypatch):
    import dataclasses
    import gzip
    import hashlib

    from glmeval_utils.data import registry

    folder = tmp_path / "mirror" / "ucsc" / "hg38"
    folder.mkdir(parents=True)
    with gzip.open(folder / "hg38.fa.gz", "wt") as handle:
        handle.write(">chr1\nACGT\n")
    digest = hashlib.md5((folder / "hg38.fa.gz").read_bytes()).hexdigest()
    monkeypatch.setattr(registry, "HG38", dataclasses.replace(registry.HG38, md5=digest))
    monkeypatch.setenv("GLMEVAL_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path / "cache"))
    path = data_splicing.fetch_hg38(progress=False)
    assert path.read_text() == ">chr1\nACGT\n"
    monkeypatch.setenv("GLMEVAL_MIRROR", str(tmp_path / "empty"))
    path.unlink()
    with pytest.raises(ValueError, match="offline mirror"):
        data_splicing.fetch_hg38(progress=False)
