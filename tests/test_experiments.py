from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from fake_glms import CompositionGLM

from glmeval_utils.learn import ladder
from glmeval_utils.eval import results
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
    data = ladder.TaskData.from_table(table, target="gc", task="toy", dataset="toy", kind="regression")
    assert data.sizes().to_dict() == {"train": 119, "valid": 60, "test": 60}
    assert len(data.all_seqs) == 239 and data.split_rows()["test"] == slice(179, 239)
    with pytest.raises(ValueError, match="lacks columns"):
        ladder.TaskData.from_table(table, target="nope", task="t", dataset="toy", kind="regression")
    with pytest.raises(ValueError, match="kind must be"):
        ladder.TaskData.from_table(table, target="gc", task="t", dataset="toy", kind="ordinal")


def test_glm_ladder_recovers_composition_signal_and_caches(tmp_path):
    data = ladder.TaskData.from_table(_table(), target="gc", task="toy", dataset="toy", kind="regression")
    glm = CompositionGLM(n_layers=2, has_cls=True)
    preds = ladder.glm_ladder(glm, data, profile="smoke", cache_dir=tmp_path, progress=False)
    assert set(zip(preds.representation, preds.probe)) == {
        ("cls", "linear"), ("cls", "mlp"), ("mean", "linear"), ("mean", "mlp"), ("full", "cnn")}
    table = ladder.seed_metrics(preds, "regression")
    assert list(table.columns) == results.COLUMNS
    linear = table.query("representation == 'mean' and probe == 'linear' and metric == 'pearson'")
    assert linear.value.item() > 0.95  # mean one-hot = composition, which sets the target exactly
    assert glm.calls == 2  # smoke derives the mean from the full embedding: CLS and full passes only
    ladder.glm_ladder(glm, data, profile="smoke", representations=("cls",), pooled_probes=("linear",),
                           cache_dir=tmp_path, progress=False)
    assert glm.calls == 2  # embeddings came from the cache
    ladder.glm_ladder(glm, data, profile="smoke", representations=("mean",), pooled_probes=("linear",),
                           cache_dir=tmp_path, progress=False)
    assert glm.calls == 3  # without the full rung the mean is pooled by the model


def test_layer_sweep_and_layer_parsing(tmp_path):
    data = ladder.TaskData.from_table(_table(), target="gc", task="toy", dataset="toy", kind="regression")
    preds = ladder.layer_sweep(CompositionGLM(n_layers=2, has_cls=True), data, profile="smoke",
                                    cache_dir=tmp_path, progress=False)
    layers = sorted({ladder.layer_of(r) for r in preds.representation})
    assert layers == [0, 1, 2]
    assert ladder.layer_of("mean") is None


def test_onehot_and_composition_baselines_binary():
    data = ladder.TaskData.from_table(_table(), target="label", task="toy", dataset="toy", kind="binary")
    onehot = ladder.onehot_baselines(data, ["binary_cnn"], profile="smoke", progress=False)
    composition = ladder.composition_baselines(data, ks=(1,), probes=("linear",), profile="smoke",
                                                    progress=False)
    table = ladder.seed_metrics(pd.concat([onehot, composition]), "binary")
    assert set(table.metric) == {"auroc", "aupr"}
    auroc = table.query("model == 'composition' and metric == 'auroc'").value.item()
    assert auroc > 0.9
    assert onehot.y_score.between(0, 1).all()


def test_performance_table_orders_models_and_brackets_the_ensemble():
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    from glmeval_utils.eval.stats import prediction_rows
    rows = [prediction_rows(y, y + rng.normal(scale=noise, size=300), task="t", dataset="d", model=name,
                            representation="mean", probe="linear", seed=seed)
            for name, noise in (("good", 0.3), ("poor", 2.0)) for seed in (0, 1)]
    table = ladder.performance_table(pd.concat(rows), "pearson", n_boot=200)
    assert table.model.tolist() == ["good", "poor"]
    assert (table.ci_low <= table.ensemble).all() and (table.ensemble <= table.ci_high).all()
    assert table.n_seeds.tolist() == [2, 2] and (table.sd > 0).all()
    assert table.label[0] == "good · mean → linear"


def test_split_embeddings_derives_the_mean_from_the_cached_full_embedding(tmp_path):
    data = ladder.TaskData.from_table(_table(n=40), target="gc", task="toy", dataset="toy", kind="regression")
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
    data = ladder.TaskData.from_table(_table(), target="label", task="toy", dataset="toy", kind="binary")
    learning_rates = []
    original_fit = ladder.MLPProbe.fit

    def recording_fit(self, *args, **kwargs):
        learning_rates.append(self.lr)
        return original_fit(self, *args, **kwargs)

    monkeypatch.setattr(ladder.MLPProbe, "fit", recording_fit)
    fast = replace(get_profile("smoke"), mlp_lr=3e-3)
    ladder.composition_baselines(data, ks=(1,), probes=("mlp",), profile=fast, progress=False)
    assert learning_rates == [3e-3]


def test_mlp_whitening_check_scores_both_variants_per_seed(tmp_path):
    data = ladder.TaskData.from_table(_table(), target="gc", task="toy", dataset="toy", kind="regression")
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


def test_derives_mean_needs_both_rungs_and_the_setting():
    smoke, full = get_profile("smoke"), get_profile("full")
    assert ladder.derives_mean(smoke, ("mean", "full"))
    assert not ladder.derives_mean(smoke, ("mean",))
    assert not ladder.derives_mean(smoke, ("mean", "full"), mean_from_full=False)
    assert not ladder.derives_mean(full, ("cls", "mean", "full"))
    assert ladder.derives_mean(full, ("mean", "full"), mean_from_full=True)
