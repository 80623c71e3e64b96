"""Tests for glmeval_utils.learn.ladder (the representation ladder) and the per-configuration tables of
glmeval_utils.eval.performance that summarise its prediction rows."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from fake_glms import CompositionGLM
from scipy import stats as sps

from glmeval_utils.data.splits import TaskData
from glmeval_utils.eval import results
from glmeval_utils.eval.performance import performance_table, seed_metrics
from glmeval_utils.eval.stats import bootstrap_ci
from glmeval_utils.learn import ladder
from glmeval_utils.predictions import COLUMNS, model_label, prediction_rows
from glmeval_utils.profiles import get_profile


def _table(n=240, length=40, seed=0):
    rng = np.random.default_rng(seed)
    gc = rng.uniform(0.2, 0.8, n)
    seqs = ["".join(rng.choice(list("ACGT"), size=length, p=[(1 - g) / 2, g / 2, g / 2, (1 - g) / 2]))
            for g in gc]
    measured_gc = np.array([(s.count("G") + s.count("C")) / length for s in seqs])
    split = np.array(["train"] * (n // 2) + ["valid"] * (n // 4) + ["test"] * (n - n // 2 - n // 4))
    return pd.DataFrame({"seq": seqs, "gc": measured_gc, "label": (measured_gc > 0.5).astype(float),
                         "split": split})


def test_task_data_from_table_and_errors():
    table = _table()
    table.loc[0, "gc"] = np.nan
    data = TaskData.from_table(table, target="gc", task="toy", dataset="toy", kind="regression")
    assert data.sizes().to_dict() == {"train": 119, "valid": 60, "test": 60}
    assert len(data.all_seqs) == 239 and data.split_rows()["test"] == slice(179, 239)
    assert data.index["train"][0] == 1 and data.groups["train"][0] == "1"  # row 0 (NaN target) dropped
    assert not data.simulated
    with pytest.raises(ValueError, match="lacks columns"):
        TaskData.from_table(table, target="nope", task="t", dataset="toy", kind="regression")
    with pytest.raises(ValueError, match="kind must be"):
        TaskData.from_table(table, target="gc", task="t", dataset="toy", kind="ordinal")


def test_glm_ladder_recovers_composition_signal_and_caches(tmp_path):
    data = TaskData.from_table(_table(), target="gc", task="toy", dataset="toy", kind="regression")
    glm = CompositionGLM(n_layers=2, has_cls=True)
    preds = ladder.glm_ladder(glm, data, profile="smoke", cache_dir=tmp_path, progress=False)
    assert list(preds.columns) == COLUMNS
    assert set(zip(preds.representation, preds.probe)) == {
        ("cls", "linear"), ("cls", "mlp"), ("mean", "linear"), ("mean", "mlp"), ("full", "cnn")}
    assert set(preds.model) == {"composition-glm"} and set(preds.role) == {"pretrained"}
    assert set(preds.split) == {"valid", "test"} and not preds.simulated.any()
    one_fit = preds[(preds.representation == "mean") & (preds.probe == "linear")]
    assert one_fit.groupby("split").size().to_dict() == {"test": 60, "valid": 60}
    assert (one_fit["group"] == one_fit["index"].astype(str)).all()  # independent rows: each its own group
    table = seed_metrics(preds, "regression")
    assert list(table.columns) == results.COLUMNS
    assert set(table.split) == {"valid", "test"}  # one row per seed, metric and split
    linear = table.query("representation == 'mean' and probe == 'linear' and metric == 'pearson'")
    assert len(linear) == 2 and (linear.value > 0.95).all()  # mean one-hot = composition, which sets the target
    test = one_fit[one_fit.split == "test"]
    assert linear.set_index("split").value["test"] == pytest.approx(sps.pearsonr(test.y_true, test.y_score)[0])
    assert glm.calls == 2  # smoke derives the mean from the full embedding: CLS and full passes only
    ladder.glm_ladder(glm, data, profile="smoke", representations=("cls",), pooled_probes=("linear",),
                      cache_dir=tmp_path, progress=False)
    assert glm.calls == 2  # embeddings came from the cache
    ladder.glm_ladder(glm, data, profile="smoke", representations=("mean",), pooled_probes=("linear",),
                      cache_dir=tmp_path, progress=False)
    assert glm.calls == 3  # without the full rung the mean is pooled by the model


def test_glm_ladder_labels_a_control_with_its_role(tmp_path):
    data = TaskData.from_table(_table(n=80), target="gc", task="toy", dataset="toy", kind="regression")
    control = CompositionGLM("composition-random", role="random-init")
    preds = ladder.glm_ladder(control, data, profile="smoke", representations=("mean",), pooled_probes=("linear",),
                              cache_dir=tmp_path, progress=False)
    assert set(preds.role) == {"random-init"} and set(preds.model) == {"composition-random"}
    with pytest.raises(ValueError, match="unknown role"):
        ladder.glm_ladder(CompositionGLM(role="teacher"), data, profile="smoke", representations=("mean",),
                          pooled_probes=("linear",), cache_dir=tmp_path, progress=False)


def test_training_runs_quietly():
    assert ladder._training_kwargs(get_profile("smoke"), 3, None)["progress"] is False
    assert ladder._training_kwargs(get_profile("smoke"), 3, None)["random_state"] == 3


def test_layer_sweep_and_layer_parsing(tmp_path):
    data = TaskData.from_table(_table(), target="gc", task="toy", dataset="toy", kind="regression")
    preds = ladder.layer_sweep(CompositionGLM(n_layers=2, has_cls=True), data, profile="smoke",
                                    cache_dir=tmp_path, progress=False)
    layers = sorted({ladder.layer_of(r) for r in preds.representation})
    assert layers == [0, 1, 2]
    assert ladder.layer_of("mean") is None


def test_onehot_and_composition_baselines_binary():
    data = TaskData.from_table(_table(), target="label", task="toy", dataset="toy", kind="binary")
    onehot = ladder.onehot_baselines(data, ["binary_cnn"], profile="smoke", progress=False)
    composition = ladder.composition_baselines(data, ks=(1,), probes=("linear",), profile="smoke")
    assert set(zip(onehot.model, onehot.role)) == {("one-hot", "one-hot")}
    assert set(zip(composition.model, composition.role, composition.representation)) == {
        ("composition", "composition", "mononucleotide")}
    assert set(onehot.split) == set(composition.split) == {"valid", "test"}
    table = seed_metrics(pd.concat([onehot, composition]), "binary")
    assert set(table.metric) == {"auroc", "aupr"}
    auroc = table.query("model == 'composition' and metric == 'auroc'").set_index("split").value
    assert (auroc > 0.9).all() and set(auroc.index) == {"valid", "test"}
    assert onehot.y_score.between(0, 1).all()


def _rows(y, noise, *, name, role, split, seeds=(0, 1), group=None, rng):
    return [prediction_rows(y, y + rng.normal(scale=noise, size=len(y)), task="t", dataset="d", model=name,
                            role=role, representation="mean", probe="linear", seed=seed, split=split,
                            group=group) for seed in seeds]


def test_performance_table_orders_models_and_brackets_the_mean():
    rng = np.random.default_rng(0)
    y, y_valid = rng.normal(size=300), rng.normal(size=100)
    rows = []
    for name, role, noise in (("good", "pretrained", 0.3), ("poor", "one-hot", 2.0)):
        rows += _rows(y, noise, name=name, role=role, split="test", rng=rng)
        rows += _rows(y_valid, noise, name=name, role=role, split="valid", rng=rng)
    predictions = pd.concat(rows, ignore_index=True)
    table = performance_table(predictions, "pearson", n_boot=200)
    assert table.model.tolist() == ["good", "poor"] and table.role.tolist() == ["pretrained", "one-hot"]
    assert (table.ci_low <= table["mean"]).all() and (table["mean"] <= table.ci_high).all()
    assert table.n_seeds.tolist() == [2, 2] and (table.sd > 0).all()
    assert table.label[0] == "good · mean → linear" == model_label("good", "mean", "linear")
    # test mean over seeds and validation mean over seeds, each from its own split
    for row in table.itertuples():
        part = predictions[predictions.model == row.model]
        per_split = {split: np.mean([sps.pearsonr(g.y_true, g.y_score)[0]
                                     for _, g in part[part.split == split].groupby("seed")])
                     for split in ("valid", "test")}
        assert row.mean == pytest.approx(per_split["test"]) and row.valid_mean == pytest.approx(per_split["valid"])
    assert table.valid_mean[0] > table.valid_mean[1]
    # a configuration without test rows has no row; one without valid rows has a NaN validation mean
    only_test = performance_table(predictions[predictions.split == "test"], "pearson", n_boot=50)
    assert only_test.valid_mean.isna().all()
    assert performance_table(predictions[predictions.split == "valid"], "pearson", n_boot=50).empty


def test_performance_table_bootstraps_groups():
    rng = np.random.default_rng(1)
    truth = np.repeat(rng.normal(size=60), 3)  # 60 groups of three identical rows
    group = np.repeat(np.arange(60), 3)
    score = truth + np.repeat(rng.normal(size=60), 3)
    grouped = pd.concat([prediction_rows(truth, score, task="t", dataset="d", model="m", role="pretrained",
                                         representation="mean", probe="linear", seed=0, group=group)])
    rowwise = grouped.assign(group=grouped["index"].astype(str))
    clustered = performance_table(grouped, "pearson", n_boot=400).iloc[0]
    naive = performance_table(rowwise, "pearson", n_boot=400).iloc[0]
    assert (clustered.ci_low, clustered.ci_high) == pytest.approx(
        bootstrap_ci(truth, score, "pearson", groups=group.astype(str), n_boot=400, seed=0))
    assert clustered["mean"] == pytest.approx(naive["mean"])
    # rows copied three times are not three times the evidence: the group interval is wider
    assert clustered.ci_high - clustered.ci_low > 1.3 * (naive.ci_high - naive.ci_low)
    no_ci = performance_table(grouped, "pearson", ci_metric=False).iloc[0]
    assert np.isnan(no_ci.ci_low) and np.isnan(no_ci.ci_high)


def test_split_embeddings_derives_the_mean_from_the_cached_full_embedding(tmp_path):
    data = TaskData.from_table(_table(n=40), target="gc", task="toy", dataset="toy", kind="regression")
    glm = CompositionGLM(n_layers=2, has_cls=True)
    full = ladder.split_embeddings(glm, data, representation="full", cache_dir=tmp_path, progress=False)
    assert full["test"].shape == (10, 40, 4) and glm.calls == 1
    derived = ladder.split_embeddings(glm, data, representation="mean", mean_from_full=True,
                                           cache_dir=tmp_path, progress=False)
    assert glm.calls == 1  # read from the full embedding's cache entry
    np.testing.assert_allclose(derived["train"], np.asarray(full["train"], dtype=np.float32).mean(axis=1))
    pooled = ladder.split_embeddings(glm, data, representation="mean", cache_dir=tmp_path, progress=False)
    assert glm.calls == 2 and pooled["valid"].dtype == np.float32
    np.testing.assert_allclose(pooled["valid"], derived["valid"], atol=1e-3)  # float16 cache rounding


def test_pooled_mlp_probes_train_at_the_profiles_learning_rate(monkeypatch):
    data = TaskData.from_table(_table(), target="label", task="toy", dataset="toy", kind="binary")
    learning_rates = []
    original_fit = ladder.MLPProbe.fit

    def recording_fit(self, *args, **kwargs):
        learning_rates.append(self.lr)
        return original_fit(self, *args, **kwargs)

    monkeypatch.setattr(ladder.MLPProbe, "fit", recording_fit)
    fast = replace(get_profile("smoke"), mlp_lr=3e-3)
    ladder.composition_baselines(data, ks=(1,), probes=("mlp",), profile=fast)
    assert learning_rates == [3e-3]


def test_mlp_whitening_check_scores_both_variants_per_seed_on_validation(tmp_path):
    data = TaskData.from_table(_table(), target="gc", task="toy", dataset="toy", kind="regression")
    X = {split: ladder.composition_features(data.seqs[split], k=1) for split in ladder.SPLITS}
    table = ladder.mlp_whitening_check(X, data, profile="smoke", seeds=(0, 1))
    assert list(table.whiten) == [False, False, True, True] and list(table.seed) == [0, 1, 0, 1]
    assert table.score.between(-1, 1).all()
    rows = ladder.glm_ladder(CompositionGLM(), data, profile="smoke", seeds=(0, 1),
                             representations=("mean",), pooled_probes=("mlp",), cache_dir=tmp_path,
                             progress=False)
    reused = ladder.mlp_whitening_check(X, data, profile="smoke", seeds=(0, 1), whitened_predictions=rows)
    refitted = ladder.mlp_whitening_check(ladder.split_embeddings(
        CompositionGLM(), data, representation="mean", cache_dir=tmp_path, progress=False), data,
        profile="smoke", seeds=(0, 1))
    np.testing.assert_allclose(reused[reused.whiten].score, refitted[refitted.whiten].score)
    # the reused score is the validation Pearson r of the ladder's rows, not the test one
    for seed, score in zip(reused[reused.whiten].seed, reused[reused.whiten].score):
        part = rows[rows.seed == seed]
        valid, test = part[part.split == "valid"], part[part.split == "test"]
        assert score == pytest.approx(sps.pearsonr(valid.y_true, valid.y_score)[0], rel=1e-6)
        assert score != pytest.approx(sps.pearsonr(test.y_true, test.y_score)[0], rel=1e-6)


def test_derives_mean_needs_both_rungs_and_the_setting():
    smoke, full = get_profile("smoke"), get_profile("full")
    assert ladder.derives_mean(smoke, ("mean", "full"))
    assert not ladder.derives_mean(smoke, ("mean",))
    assert not ladder.derives_mean(smoke, ("mean", "full"), mean_from_full=False)
    assert not ladder.derives_mean(full, ("cls", "mean", "full"))
    assert ladder.derives_mean(full, ("mean", "full"), mean_from_full=True)


def test_split_embeddings_reads_token_rows_for_kmer_models_and_nucleotide_rows_otherwise(tmp_path):
    import json

    from toy_glms import save_nt_like, save_teaching

    from glmeval_utils.models import load_glm

    data = TaskData.from_table(_table(n=40, length=46), target="gc", task="toy", dataset="toy", kind="regression")
    nt = load_glm("nt-v1-2.5b-1000g", path=save_nt_like(tmp_path / "nt"), device="cpu")
    full = ladder.split_embeddings(nt, data, representation="full", cache_dir=tmp_path, progress=False)
    assert full["test"].shape == (10, 11, 16)  # 46 nt: 7 6-mers + 4 single bases, not 46 rows
    derived = ladder.split_embeddings(nt, data, representation="mean", mean_from_full=True, cache_dir=tmp_path,
                                      progress=False)
    pooled = nt.embed(data.seqs["valid"], pooling="mean", progress=False)[:, 0]
    np.testing.assert_allclose(derived["valid"], pooled, atol=2e-3)  # token mean = mean pooling, up to float16
    teaching = load_glm("teaching-mlm", path=save_teaching(tmp_path / "mlm", "mlm"), device="cpu")
    char = ladder.split_embeddings(teaching, data, representation="full", cache_dir=tmp_path, progress=False)
    assert char["test"].shape == (10, 46, teaching.hidden_size)
    one_epoch = replace(get_profile("smoke"), max_epochs=1)
    rows = ladder.glm_ladder(nt, data, profile=one_epoch, representations=("mean", "full"), pooled_probes=("linear",),
                             seeds=(0,), cache_dir=tmp_path, progress=False)
    assert set(zip(rows.representation, rows.probe)) == {("mean", "linear"), ("full", "cnn")}
    manifests = sorted((manifest["model"]["name"], manifest["pooling"])
                       for manifest in map(json.loads, (p.read_text() for p in tmp_path.rglob("manifest.json"))))
    # one entry per model serves both rungs; the one-token-per-base model keeps its "full" entry (and key)
    assert manifests == [("nt-v1-2.5b-1000g", "tokens"), ("teaching-mlm", "full")]


def test_onehot_baselines_record_each_fit_and_stalled_ones_are_named():
    data = TaskData.from_table(_table(), target="label", task="toy", dataset="toy", kind="binary")
    fits = []
    ladder.onehot_baselines(data, ["binary_cnn"], profile="smoke", fits=fits, progress=False)
    assert [(f["architecture"], f["seed"]) for f in fits] == [("binary_cnn", 0)]
    assert fits[0]["epochs"] >= fits[0]["best_epoch"] + 1 >= 1
    learned = dict(fits[0], best_epoch=1)
    stalled = dict(fits[0], seed=1, best_epoch=0)
    assert ladder.stalled_fits([learned]).empty
    flagged = ladder.stalled_fits([learned, stalled])
    assert flagged[["architecture", "seed"]].values.tolist() == [["binary_cnn", 1]]


def test_chapter_builders_reuse_the_ladders_fits(tmp_path, monkeypatch):
    """Chapters 3 and 7 build their one-hot CNN and CNN probe with the ladder's own settings, so the
    trained-model cache serves the fits chapters 1 and 2 made on the same rows."""
    from glmeval_utils.learn import probes

    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("GLMEVAL_TRAINED_CACHE", "on")
    trainings = []
    original = probes.fit_torch
    monkeypatch.setattr(probes, "fit_torch", lambda *a, **k: trainings.append(1) or original(*a, **k))
    data = TaskData.from_table(_table(), target="gc", task="toy", dataset="toy", kind="regression")
    ladder.onehot_baselines(data, ["cnn"], profile="smoke", progress=False)
    glm = CompositionGLM(n_layers=2, has_cls=False)
    ladder.glm_ladder(glm, data, profile="smoke", representations=("full",), cache_dir=tmp_path, progress=False)
    assert len(trainings) == 2
    ladder.onehot_estimator("cnn", "regression", profile="smoke").fit(
        data.seqs["train"], data.y["train"], data.seqs["valid"], data.y["valid"])
    X = ladder.split_embeddings(glm, data, representation="full", cache_dir=tmp_path, progress=False)
    ladder.cnn_probe("regression", profile="smoke").fit(X["train"], data.y["train"], X["valid"], data.y["valid"])
    assert len(trainings) == 2  # both served from the cache
    ladder.onehot_estimator("cnn", "regression", profile="smoke", seed=1).fit(
        data.seqs["train"], data.y["train"], data.seqs["valid"], data.y["valid"])
    assert len(trainings) == 3  # another seed is another model
