"""The chapter modules: configurations per profile, runs on fakes, and reports whose verdicts must flip."""

import numpy as np
import pandas as pd
import pytest
from fake_glms import CompositionGLM
from synthetic import CONTROL_CNN, GLM_CNN, GLM_MEAN, ONEHOT_CNN, ONEHOT_RESNET, predictions

from glmeval_utils.eval import verdicts
from glmeval_utils.tasks import binding, cagi5, elongation, lentimpra, splicing, summary
from glmeval_utils.tasks.report import Report


@pytest.mark.parametrize("module", [lentimpra, splicing, cagi5, elongation])
@pytest.mark.parametrize("profile", ["smoke", "demo", "full"])
def test_every_chapter_has_a_config_per_profile(module, profile):
    cfg = module.config(profile)
    assert cfg.profile == profile and cfg.settings.name == profile
    with pytest.raises(ValueError, match="unknown setting"):
        module.config(profile, not_a_setting=1)


def test_binding_config_budgets_and_overrides():
    demo = binding.config("tf_binding", "demo")
    assert demo.datasets == tuple(f"gue_tf{i}" for i in range(5)) and demo.settings.max_epochs == 8
    assert demo.max_rows["train"] == 4000 and demo.representations == ("mean", "full")
    tighter = binding.config("tf_binding", "demo", max_rows={"train": 300}, seeds=[0])
    assert tighter.max_rows["train"] == 300 and tighter.max_rows["test"] == 500 and tighter.seeds == (0,)
    assert all(name.startswith("eclip_") for name in binding.config("rbp_binding", "demo").datasets)
    assert binding.config("rbp_binding", "full").representations == ("cls", "mean", "full")
    with pytest.raises(ValueError, match="unknown binding task"):
        binding.config("dna_binding")


def test_demo_budgets_live_in_the_package():
    assert "teaching-clm" not in lentimpra.config("demo").models
    assert lentimpra.config("full").representations == ("cls", "mean", "full")
    assert splicing.config("demo").seeds == (0, 1) and splicing.config("demo").settings.lr_patience == 1
    assert splicing.config("full").ascot and not splicing.config("demo").ascot
    assert cagi5.config("demo").challenge_positions == 16 and "teaching-clm-random" in cagi5.config("demo").models
    assert elongation.config("demo").n_simulated == 1000 and elongation.config("full").n_simulated is None


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
    for i, row in enumerate(np.flatnonzero(split == "test")[:leak]):
        table.loc[i, ["seq", "label"]] = table.loc[row, ["seq", "label"]].to_numpy()
    return table


def test_prepare_dataset_removes_and_reports_cross_split_duplicates():
    table = _binding_table(leak=3)
    data, report = binding.prepare_dataset(table, name="toy", task="tf_binding",
                                           limits={"train": None, "valid": None, "test": None})
    assert report["cross_split_removed"] == 3 and report["train_rows"] == 97 and report["test_rows"] == 50
    assert not set(data.seqs["train"]) & set(data.seqs["test"])
    kept, report_kept = binding.prepare_dataset(table, name="toy", task="t", dedup=False, limits={"train": None})
    assert report_kept["cross_split_removed"] == 0 and len(kept.seqs["train"]) == 100
    with pytest.raises(ValueError, match="lacks columns"):
        binding.prepare_dataset(table.drop(columns="label"), name="toy", task="t", limits={})


def test_binding_run_and_report_on_fakes(tmp_path, monkeypatch):
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path))
    tables = {"set_a": _binding_table(seed=1, leak=2), "set_b": _binding_table(seed=2)}
    fakes = {"fake": CompositionGLM("fake"), "fake-random": CompositionGLM("fake-random", role="random-init")}
    cfg = binding.config("tf_binding", "smoke", datasets=("set_a", "set_b"), models=("fake", "fake-random"),
                         max_rows={"train": 80, "valid": 40}, pooled_probes=("linear",))
    run = binding.run(cfg, loader=lambda name: tables[name].copy(), glm_loader=lambda name, device: fakes[name],
                      progress=False)
    preds = run.predictions
    assert set(preds.split) == {"valid", "test"} and set(preds.dataset) == {"set_a", "set_b"}
    roles = preds.drop_duplicates("model").set_index("model").role.to_dict()
    assert roles == {"one-hot": "one-hot", "composition": "composition", "fake": "pretrained",
                     "fake-random": "random-init"}
    assert run.data_report.set_index("dataset").cross_split_removed.to_dict() == {"set_a": 2, "set_b": 0}
    assert fakes["fake"].calls == 2  # one full pass per data set serves the mean rung and the whitening check
    report = binding.report(run)
    assert [v.claim.key for v in report.verdicts] == ["no_advantage", "pretraining_helps", "cnn_beats_pooling"]
    assert report.glance.startswith("**Frozen representations")
    assert f"Holm's correction: {report.verdicts[0].number};" in report.glance  # the box counts as the verdict does
    assert {"data", "performance", "selected", "tally", "controls", "whitening", "paper"} <= set(report.tables)
    assert all(len(table.columns) <= 8 for table in report.tables.values())  # narrow enough for the page
    paths = binding.save(run, tmp_path / "results")
    assert all(path.exists() for path in paths)


def _binding_run(configs, datasets=("a", "b", "c")):
    preds = pd.concat([predictions(configs, task="tf_binding", dataset=d) for d in datasets], ignore_index=True)
    preds["y_true"] = (preds.y_true > 0).astype(float)  # binary labels, scores keep their noise
    cfg = binding.config("tf_binding", "smoke", n_boot=200)
    return binding.Run(cfg, preds, pd.DataFrame(), pd.DataFrame())


def test_binding_report_does_not_count_a_control_that_beats_one_hot():
    report = binding.report(_binding_run({ONEHOT_CNN: (1.0, 1.0), CONTROL_CNN: (0.2, 0.2), GLM_CNN: (1.0, 1.0)}))
    assert report.verdicts[0].verdict == verdicts.SUPPORTED
    assert any("Controls better than the one-hot model" in s and "random-init" in s for s in report.statements)
    flipped = binding.report(_binding_run({ONEHOT_CNN: (1.0, 1.0), GLM_CNN: (0.2, 0.2)}))
    assert flipped.verdicts[0].verdict == verdicts.NOT_SUPPORTED


def _lentimpra_run(configs, sweep=None):
    cfg = lentimpra.config("smoke", n_boot=200)
    preds = predictions(configs, task="lentimpra", dataset="lentimpra_hepg2", group_size=2)
    return lentimpra.Run(cfg, pd.DataFrame(), None, preds, sweep if sweep is not None else pd.DataFrame())


def test_lentimpra_report_judges_against_the_best_one_hot_model():
    beats_cnn_only = {ONEHOT_CNN: (1.4, 1.4), ONEHOT_RESNET: (0.3, 0.3), GLM_CNN: (0.8, 0.8), GLM_MEAN: (1.0, 1.0)}
    report = lentimpra.report(_lentimpra_run(beats_cnn_only))
    assert report.verdicts[0].verdict == verdicts.SUPPORTED and "(resnet)" in report.glance
    without_resnet = {k: v for k, v in beats_cnn_only.items() if k != ONEHOT_RESNET}
    assert lentimpra.report(_lentimpra_run(without_resnet)).verdicts[0].verdict == verdicts.NOT_SUPPORTED
    assert report.figures["scatter"][1] == {"dataset": "lentimpra_hepg2", "model": "one-hot", "probe": "resnet"}
    assert all(len(table.columns) <= 8 for table in report.tables.values())


def test_lentimpra_layer_claim_uses_the_validation_choice():
    sweep = predictions({("glm", "pretrained", f"mean@L{k}", "linear"): noise for k, noise in
                         enumerate([(2.0, 0.2), (0.4, 0.4), (1.0, 1.0)])}, task="lentimpra", dataset="lentimpra_hepg2")
    report = lentimpra.report(_lentimpra_run({ONEHOT_CNN: (1.0, 1.0), GLM_CNN: (1.0, 1.0)}, sweep))
    layers = next(v for v in report.verdicts if v.claim.key == "intermediate_layers")
    assert layers.verdict == verdicts.SUPPORTED and "layer 1 chosen on validation" in layers.reason
    assert set(report.tables["layers"].columns) == {"model", "layer", "valid r", "test r"}


def test_elongation_report_on_simulated_data_is_not_a_biological_verdict():
    preds = predictions({ONEHOT_CNN: (1.0, 1.0), GLM_CNN: (0.2, 0.2)}, task="pol2_elongation", dataset="sim",
                        simulated=True)
    curve = preds.assign(representation=preds.representation + "@frac1.00")
    cfg = elongation.config("smoke", n_boot=200)
    run = elongation.Run(cfg, pd.DataFrame(), type("Data", (), {"simulated": True, "dataset": "sim",
                                                                "sizes": lambda self: pd.Series()})(),
                         preds, curve)
    report = elongation.report(run)
    assert report.verdicts[0].verdict == verdicts.NOT_TESTABLE
    assert "simulated" in report.glance and any("simulated data" in s for s in report.statements)


def _cagi5_metrics():
    """Per-element metrics of two zero-shot scores: ``a`` strongest on release, ``b`` on challenge."""
    rows = []
    for label, score, role, release, challenge in (("m · a", "l2_full", "pretrained", 0.3, 0.05),
                                                   ("m · b", "cosine_full", "pretrained", 0.1, 0.5),
                                                   ("cnn · delta_cnn", "delta_cnn", "supervised", 0.4, 0.45)):
        metric = "pearson" if score.startswith("delta") else "pearson_abs_effect"
        for name, value in (("release", release), ("challenge", challenge)):
            for element in "ABCDEFGH":
                rows.append({"set": name, "element": element, "label": label, "model": label.split(" · ")[0],
                             "role": role, "score": score, "metric": metric, "value": value + 0.01 * (ord(element) % 3),
                             "ci_low": value - 0.1, "ci_high": value + 0.1, "n": 48, "n_groups": 16})
    return pd.DataFrame(rows)


def test_cagi5_claim_reads_the_score_chosen_on_the_release_set():
    verdict, chosen, contrast = cagi5.zero_shot_claim(_cagi5_metrics())
    assert chosen["label"] == "m · a" and chosen["mean_abs_r"] < 0.1  # not "m · b", the best on challenge
    assert contrast["label"] == "cnn · delta_cnn" and contrast["ci_low"] > 0
    assert verdict.verdict == verdicts.SUPPORTED
    controls_only = _cagi5_metrics().assign(role=lambda d: d.role.replace("pretrained", "random-init"))
    assert cagi5.zero_shot_claim(controls_only)[0].verdict == verdicts.NOT_TESTABLE


def test_select_positions_keeps_every_alternative_of_a_position():
    table = pd.DataFrame({"element": ["A"] * 9 + ["B"] * 6, "offset": [0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 0, 1, 1, 1]})
    kept = cagi5.select_positions(table, 2, seed=0)
    assert kept.groupby(["element", "offset"]).size().eq(3).all() and kept.groupby("element").offset.nunique().max() == 2
    with pytest.raises(ValueError, match="unknown element"):
        cagi5.select_positions(table, 1, elements=["C"])


def test_summary_reads_every_chapter_and_decides_every_claim(tmp_path):
    lenti = predictions({ONEHOT_CNN: (1.0, 1.0), GLM_CNN: (0.3, 0.3), CONTROL_CNN: (1.2, 1.2)}, task="lentimpra",
                        dataset="lentimpra_hepg2")
    simulated = predictions({ONEHOT_CNN: (1.0, 1.0), GLM_CNN: (1.5, 1.5)}, task="pol2_elongation", dataset="sim",
                            simulated=True)
    lenti.to_csv(tmp_path / "lentimpra_predictions.csv.gz", index=False)
    simulated.to_csv(tmp_path / "pol2_elongation_predictions.csv.gz", index=False)
    _cagi5_metrics().to_csv(tmp_path / "cagi5_metrics.csv.gz", index=False)
    report = summary.report(summary.run(summary.config(tmp_path, n_boot=200)))
    found = {v.claim.key: v.verdict for v in report.verdicts}
    assert found["no_advantage"] == verdicts.NOT_SUPPORTED  # the lentiMPRA win; the simulated loss is not counted
    assert found["pretraining_helps"] == verdicts.SUPPORTED and found["zero_shot_weak"] == verdicts.SUPPORTED
    assert found["attribution_disagrees"] == verdicts.NOT_TESTABLE and len(found) == 9
    assert found["pretraining_budget"] == found["fine_tuning_helps"] == verdicts.NOT_TESTABLE  # no chapter 9
    assert summary.save(report, tmp_path).exists()
    with pytest.raises(FileNotFoundError, match="run the task chapters first"):
        summary.run(summary.config(tmp_path / "empty"))


def test_readable_tables_merge_the_interval_and_keep_only_named_columns():
    from glmeval_utils.tasks.tables import readable

    table = pd.DataFrame({"label": ["a"], "effect": [0.12345], "ci_low": [-0.01], "ci_high": [0.2], "extra": [1]})
    out = readable(table, {"label": "configuration", "effect": "Δ", "ci_low": "lo", "ci_high": "hi"})
    assert list(out.columns) == ["configuration", "Δ", "95% CI"]
    assert out.iloc[0].tolist() == ["a", 0.123, "-0.010 to +0.200"]
    assert list(readable(pd.DataFrame(), {"effect": "Δ", "ci_low": "lo", "ci_high": "hi"}).columns) == ["Δ", "95% CI"]


def test_report_tables_are_shown_without_an_index_and_with_a_dash_for_missing_values():
    report = Report("x", "glance", tables={"t": pd.DataFrame({"model": ["a", "b"], "sd": [0.12345, np.nan]},
                                                           index=[5, 7])})
    table = report.tables["t"]
    assert list(table.index) == [0, 1] and type(table[table["sd"] > 0]).__name__ == "ReadingTable"
    page = table._repr_html_()
    assert "0.123" in page and "—" in page and "0.12345" not in page
    assert "<th" in page and 'class="row_heading' not in page and ">5<" not in page
    # a table rounded to more decimals by readable() keeps them on the page (GIA p-values)
    from glmeval_utils.tasks.tables import readable

    p_values = Report("x", "g", tables={"gia": readable(pd.DataFrame({"p_value": [0.00012]}), {"p_value": "p"},
                                                         digits=4)}).tables["gia"]
    assert "0.0001" in p_values._repr_html_()


def test_a_stalled_onehot_baseline_is_named_in_the_chapter():
    run = _lentimpra_run({ONEHOT_CNN: (1.0, 1.0), GLM_CNN: (0.8, 0.8)})
    quiet = lentimpra.report(run).statements
    assert not any("Check the yardstick" in s for s in quiet)
    run.onehot_fits = pd.DataFrame([{"dataset": "lentimpra_hepg2", "architecture": "mprann", "seed": 2,
                                     "best_epoch": 0, "epochs": 4, "seconds": 1.0}])
    flagged = [s for s in lentimpra.report(run).statements if "Check the yardstick" in s]
    assert len(flagged) == 1 and "mprann (seed 2)" in flagged[0]
