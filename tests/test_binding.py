from dataclasses import replace

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from fake_glms import CompositionGLM

from glmeval_utils import binding
from glmeval_utils.learn import ladder
from glmeval_utils.eval import results
from glmeval_utils.profiles import get_profile
from glmeval_utils.eval.stats import prediction_rows


def _binding_table(n=200, length=32, seed=0, leak=0):
    """GC-rich positives, AT-rich negatives; ``leak`` test sequences copied into train."""
    rng = np.random.default_rng(seed)
    label = np.arange(n) % 2
    seqs = []
    for y in label:
        gc = 0.65 if y else 0.35
        p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
        seqs.append("".join(rng.choice(list("ACGT"), size=length, p=p)))
    split = np.array(["train"] * (n // 2) + ["valid"] * (n // 4) + ["test"] * (n - n // 2 - n // 4))
    table = pd.DataFrame({"seq": seqs, "label": label.astype(float), "split": split})
    test_rows = np.flatnonzero(split == "test")[:leak]
    for i, row in enumerate(test_rows):
        table.loc[i, ["seq", "label"]] = table.loc[row, ["seq", "label"]].to_numpy()
    return table


def test_cap_rows_is_stratified_deterministic_and_keeps_small_splits():
    table = _binding_table(n=400)
    table.loc[table.index[:40], "label"] = 1.0  # unbalance train a little
    capped = binding.cap_rows(table, {"train": 50, "valid": None}, seed=3)
    counts = capped.split.value_counts()
    assert counts["train"] == 50 and counts["valid"] == 100 and counts["test"] == 100
    share_before = table[table.split == "train"].label.mean()
    share_after = capped[capped.split == "train"].label.mean()
    assert abs(share_after - share_before) <= 1 / 50
    again = binding.cap_rows(table, {"train": 50}, seed=3)
    assert again.seq.tolist() == capped.seq.tolist()
    assert binding.cap_rows(table, {"train": 50}, seed=4).seq.tolist() != capped.seq.tolist()
    with pytest.raises(ValueError, match="non-negative"):
        binding.cap_rows(table, {"train": -1})


def test_row_limits_tighten_the_profile():
    smoke = get_profile("smoke")
    limits = binding.row_limits(smoke, {"train": 100, "test": 1000})
    assert limits == {"train": 100, "valid": smoke.max_rows["valid"], "test": smoke.max_rows["test"]}
    assert binding.row_limits(get_profile("full"), {"train": 10})["train"] == 10
    with pytest.raises(ValueError, match="unknown split"):
        binding.row_limits(smoke, {"dev": 3})


def test_prepare_dataset_removes_and_reports_cross_split_duplicates():
    table = _binding_table(leak=3)
    data, report = binding.prepare_dataset(table, name="toy", task="tf_binding",
                                           limits={"train": None, "valid": None, "test": None})
    assert report["cross_split_removed"] == 3
    assert report["train_rows"] == 97 and report["test_rows"] == 50
    assert not set(data.seqs["train"]) & set(data.seqs["test"])
    assert report["length"] == "32" and 0 < report["train_positive"] < 1
    kept, report_kept = binding.prepare_dataset(table, name="toy", task="t", dedup=False,
                                                limits={"train": None})
    assert report_kept["cross_split_removed"] == 0 and len(kept.seqs["train"]) == 100
    with pytest.raises(ValueError, match="lacks columns"):
        binding.prepare_dataset(table.drop(columns="label"), name="toy", task="t", limits={})


def test_run_binding_task_trains_the_ladder_on_every_dataset(tmp_path):
    tables = {"set_a": _binding_table(seed=1, leak=2), "set_b": _binding_table(seed=2)}
    run = binding.run_binding_task(
        ["set_a", "set_b"], task="tf_binding", models=[CompositionGLM("fake")], profile="smoke",
        seeds=(0,), max_rows={"train": 80, "valid": 40}, loader=lambda name: tables[name].copy(),
        representations=("cls", "mean", "full"), pooled_probes=("linear",), cache_dir=tmp_path,
        progress=False)
    preds = run.predictions
    assert set(preds.dataset) == {"set_a", "set_b"}
    combos = set(zip(preds.model, preds.representation, preds.probe))
    assert ("one-hot", "onehot", "binary_cnn") in combos
    assert ("composition", "dinucleotide", "mlp") in combos and ("fake", "full", "cnn") in combos
    assert ("fake", "cls", "linear") not in combos  # the fake model has no CLS token
    assert run.dedup_report.set_index("dataset").cross_split_removed.to_dict() == {"set_a": 2, "set_b": 0}
    assert (run.dedup_report.train_rows == 80).all()
    assert set(run.timings.stage) == {"load", "one-hot", "composition", "fake"}
    assert run.profile.name == "smoke"
    metrics = run.seed_metrics()
    assert list(metrics.columns) == results.COLUMNS and set(metrics.metric) == {"auroc", "aupr"}
    mono = metrics.query("representation == 'mononucleotide' and probe == 'linear' and metric == 'auroc'")
    assert (mono.value > 0.85).all()  # the label is set by GC content
    with pytest.raises(ValueError, match="no data sets"):
        binding.run_binding_task([], task="t", profile="smoke")


def test_run_binding_task_overrides_epochs_and_glm_seeds(tmp_path):
    tables = {"s": _binding_table(n=120)}
    run = binding.run_binding_task(
        ["s"], task="t", models=[CompositionGLM()], profile="smoke", seeds=(0, 1), glm_seeds=(0,),
        max_epochs=1, onehot=(), composition_ks=(), representations=("full",),
        loader=lambda name: tables[name].copy(), cache_dir=tmp_path, progress=False)
    assert run.profile.max_epochs == 1
    assert sorted(run.predictions.seed.unique()) == [0]


def test_run_binding_task_whitening_check_reads_the_cached_mean_embedding(tmp_path):
    tables = {"s": _binding_table(n=120)}
    glm = CompositionGLM()
    run = binding.run_binding_task(
        ["s"], task="t", models=[glm], profile="smoke", seeds=(0, 1), onehot=(), composition_ks=(),
        representations=("mean", "full"), pooled_probes=("linear",), whitening_check=True,
        loader=lambda name: tables[name].copy(), cache_dir=tmp_path, progress=False)
    assert glm.calls == 1  # one full pass serves the ladder's mean rung and the check
    table = run.whitening
    assert list(zip(table.whiten, table.seed)) == [(False, 0), (False, 1), (True, 0), (True, 1)]
    gain = binding.whitening_gain(run)
    assert list(gain.columns) == ["raw", "whitened", "gain"] and gain.index.tolist() == [(glm.name, "s")]
    assert gain.gain.iloc[0] == pytest.approx(table[table.whiten].score.mean()
                                              - table[~table.whiten].score.mean())
    assert set(table.dataset) == {"s"} and set(table.model) == {glm.name}
    assert binding.run_binding_task(["s"], task="t", onehot=(), composition_ks=(), models=[glm],
                                    profile="smoke", representations=("full",), cache_dir=tmp_path,
                                    loader=lambda name: tables[name].copy(),
                                    progress=False).whitening.empty
    with pytest.raises(ValueError, match="no whitening check"):
        binding.whitening_gain(replace(run, whitening=pd.DataFrame()))
    with pytest.raises(ValueError, match="needs the 'mean'"):
        binding.run_binding_task(["s"], task="t", representations=("full",), whitening_check=True,
                                 profile="smoke", loader=lambda name: tables[name].copy())


def _synthetic_predictions(noise, datasets=("d1", "d2", "d3"), seeds=(0, 1), n=200):
    """Prediction rows of models whose scores are the label plus noise of the given sd."""
    rows = []
    for d, name in enumerate(datasets):
        rng = np.random.default_rng(d)
        y = (np.arange(n) % 2).astype(float)
        for (model, rep, probe), sd in noise.items():
            for seed in seeds:
                score = y + rng.normal(scale=sd, size=n)
                rows.append(prediction_rows(y, score, task="tf_binding", dataset=name, model=model,
                                            representation=rep, probe=probe, seed=seed))
    return pd.concat(rows, ignore_index=True)


NOISE = {("one-hot", "onehot", "binary_cnn"): 0.6, ("glm", "full", "cnn"): 0.6,
         ("glm", "mean", "mlp"): 1.5, ("glm-random", "full", "cnn"): 3.0,
         ("composition", "dinucleotide", "mlp"): 2.0}


def test_performance_means_and_verdicts():
    preds = _synthetic_predictions(NOISE)
    both = binding.performance_by_dataset(preds[preds.dataset == "d1"], n_boot=20)
    assert set(both.metric) == {"auroc", "aupr"}
    assert both.query("metric == 'aupr'").ci_low.isna().all() and both.query("metric == 'auroc'").ci_low.notna().all()
    assert both.query("metric == 'aupr'")["mean"].between(0.5, 1).all()
    perf = binding.performance_by_dataset(preds, ["auroc"], n_boot=200)
    assert set(perf.dataset) == {"d1", "d2", "d3"}
    means = binding.mean_over_datasets(perf, "auroc")
    assert means.n_datasets.eq(3).all() and (means.ci_low <= means["mean"]).all()
    assert means.iloc[-1].model == "glm-random"
    # a model missing from one data set is left out of the average
    partial = perf[~((perf.model == "glm") & (perf.representation == "mean") & (perf.dataset == "d3"))]
    assert "glm · mean → mlp" not in set(binding.mean_over_datasets(partial).label)

    comparison = binding.compare_per_dataset(preds, "auroc", n_boot=300)
    assert "one-hot" not in set(comparison.model)
    worse = comparison[comparison.model == "glm-random"]
    assert (worse.verdict == "worse").all()
    tally = binding.tally_verdicts(comparison)
    random_row = tally.set_index("label").loc["glm-random · full → cnn"]
    assert random_row.worse == 3 and random_row.better == 0 and random_row.mean_effect < 0
    assert random_row.p_sign == pytest.approx(0.25)
    assert binding.verdict(0.01, 0.05) == "better" and binding.verdict(-0.1, 0.1) == "tie"
    assert binding.verdict(np.nan, np.nan) == "tie"


def test_control_comparison_pairs_models_with_their_random_init():
    preds = _synthetic_predictions(NOISE, datasets=("d1", "d2"))
    table = binding.control_comparison(preds, n_boot=200)
    assert set(table.dataset) == {"d1", "d2"} and set(table.control) == {"glm-random"}
    assert (table.verdict == "better").all()
    none = binding.control_comparison(preds[preds.model != "glm-random"], n_boot=50)
    assert none.empty and "verdict" in none.columns


def test_paper_side_by_side_matches_roles():
    preds = _synthetic_predictions(NOISE)
    means = binding.mean_over_datasets(binding.performance_by_dataset(preds, ["auroc"], n_boot=100))
    table = binding.paper_side_by_side(means, "tf_binding")
    assert table.role.tolist()[0] == "one-hot CNN"
    paper = table.set_index("role").paper
    assert paper["one-hot CNN"] == pytest.approx(0.855)
    assert paper["best gLM, full embedding → CNN"] == pytest.approx(0.862)  # GPN; Sei is not a gLM
    assert paper["dinucleotide composition → MLP"] == pytest.approx(0.764)
    ours = table.set_index("role").ours_model
    assert ours["best gLM, full embedding → CNN"] == "glm · full → cnn"
    assert ours["best gLM, CLS/mean embedding → MLP"] == "glm · mean → mlp"
    rbp = binding.paper_side_by_side(means, "rbp_binding").set_index("role").paper
    assert rbp["one-hot CNN"] == pytest.approx(0.967)
    with pytest.raises(ValueError, match="no AUROC"):
        binding.paper_side_by_side(means, "lentimpra")


def test_conclusion_statements_follow_the_statistics():
    noise = dict(NOISE)
    preds = _synthetic_predictions(noise)
    means = binding.mean_over_datasets(binding.performance_by_dataset(preds, ["auroc"], n_boot=100))
    tally = binding.tally_verdicts(binding.compare_per_dataset(preds, n_boot=200))
    text = " ".join(binding.conclusion_statements(means, tally, unit="TF"))
    assert "**holds**" in text and "3 TFs" in text

    noise[("glm", "full", "cnn")] = 0.2  # now the gLM CNN is clearly better everywhere
    preds = _synthetic_predictions(noise)
    means = binding.mean_over_datasets(binding.performance_by_dataset(preds, ["auroc"], n_boot=100))
    tally = binding.tally_verdicts(binding.compare_per_dataset(preds, n_boot=200))
    text = " ".join(binding.conclusion_statements(means, tally, unit="RBP"))
    assert "**does not hold**" in text and "glm · full → cnn on 3 of 3" in text


def test_per_dataset_bars_draws_one_panel_per_dataset():
    import matplotlib.pyplot as plt

    preds = _synthetic_predictions(NOISE)
    perf = binding.performance_by_dataset(preds, ["auroc"], n_boot=100)
    fig = binding.per_dataset_bars(perf, "auroc", ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3 and visible[0].get_xlabel() == "test AUROC"
    assert len(visible[0].get_yticklabels()) == len(NOISE)
    plt.close(fig)
    with pytest.raises(ValueError, match="no 'pearson' rows"):
        binding.per_dataset_bars(perf, "pearson")


def test_mean_from_full_reuses_the_full_embedding(tmp_path):
    data, _ = binding.prepare_dataset(_binding_table(n=120), name="s", task="t", limits={})
    glm = CompositionGLM()
    preds = ladder.glm_ladder(glm, data, profile=get_profile("smoke"), seeds=(0,),
                                   representations=("mean", "full"), pooled_probes=("linear",),
                                   cnn_architecture="chip_cnn", mean_from_full=True,
                                   cache_dir=tmp_path, progress=False)
    assert glm.calls == 1  # one forward pass per chunk, for the full embedding only
    assert set(zip(preds.representation, preds.probe)) == {("full", "cnn"), ("mean", "linear")}
    auroc = ladder.seed_metrics(preds, "binary").query(
        "representation == 'mean' and metric == 'auroc'").value.item()
    assert auroc > 0.85  # the nucleotide average of one-hot rows is the base composition
