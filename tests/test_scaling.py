"""Chapter 9 (glmeval_utils.tasks.scaling): budgets per profile, clear errors, and a tiny run read by the summary."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd
import pytest
from synthetic import FROZEN, ONEHOT_CNN, RANDOM_FROZEN, RANDOM_TUNED, STEP0_MEAN, STEP300_MEAN, TUNED_FULL, predictions
from toy_models import one_torch_thread  # noqa: F401  (autouse fixture)

from glmeval_utils import pretrain
from glmeval_utils.eval import verdicts
from glmeval_utils.predictions import FINE_TUNED
from glmeval_utils.tasks import scaling, summary

needs_mirror = pytest.mark.skipif(not os.environ.get("GLMEVAL_MIRROR"),
                                  reason="GLMEVAL_MIRROR is unset: the chapter reads real data from the offline mirror")


@pytest.mark.parametrize("profile", ["smoke", "demo", "full"])
def test_a_config_per_profile(profile):
    cfg = scaling.config(profile)
    assert cfg.profile == profile and cfg.settings.name == profile and set(cfg.finetune_datasets) <= set(cfg.datasets)
    assert [scaling.task_of(name) for name in cfg.datasets] == ["lentimpra", "tf_binding"]
    last = pretrain.get_settings(profile).steps
    assert cfg.finetune_models[:2] == (f"teaching-mlm@step-{last}", "teaching-mlm@step-0")
    with pytest.raises(ValueError, match="unknown setting"):
        scaling.config(profile, not_a_setting=1)


def test_the_demo_budget_lives_in_the_package():
    demo = scaling.config("demo")
    assert demo.max_rows == {"train": 500, "valid": 125, "test": 250} and demo.steps == (0, 50, 300)
    assert demo.finetune_datasets == ("gue_tf0",) and demo.finetune_seeds == (0,) and demo.finetune_epochs == 3
    assert set(demo.steps) <= set(pretrain.checkpoint_steps(pretrain.get_settings("demo")))
    full = scaling.config("full")
    assert full.steps is None and full.max_rows == {} and full.finetune_datasets == full.datasets
    assert {"nt-v1-2.5b-1000g", "dnabert2-random", "hyenadna-tiny-1k-d256"} <= set(full.finetune_models)
    with pytest.raises(ValueError, match="unknown profile"):
        scaling.config("huge")
    with pytest.raises(ValueError, match="not a lentiMPRA or TF-binding set"):
        scaling.task_of("vexseq")


def test_missing_checkpoints_name_the_saved_steps(tmp_path, monkeypatch):
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="pretrain --profile demo"):
        scaling.curve_models(scaling.config("demo"))
    _pretrain_tiny()
    assert scaling.curve_models(scaling.config("demo", steps=(3, 0))) == ["teaching-mlm@step-0", "teaching-mlm@step-3"]
    with pytest.raises(FileNotFoundError, match=r"step\(s\) \[50\]; saved steps: \[0, 3, 6\]"):
        scaling.curve_models(scaling.config("demo", steps=(0, 50)))
    with pytest.raises(ValueError, match="keeps no pretraining checkpoints"):
        scaling.curve_models(scaling.config("demo", model="dnabert2"))


def test_the_fine_tuning_comparison_reads_every_side_on_its_seeds():
    table = predictions({ONEHOT_CNN: (1.0, 1.0), FROZEN: (1.0, 1.0), TUNED_FULL: (0.5, 0.5)}, dataset="gue_tf0",
                        seeds=(0, 1, 2))
    cfg = scaling.config("demo", finetune_models=("teaching-mlm", "teaching-mlm-random"))
    rows = scaling.finetuning_rows(table, cfg)
    assert set(rows.seed) == {0} and set(rows.model) == {"one-hot", "teaching-mlm"}
    assert scaling.finetuning_rows(table.assign(dataset="lentimpra_hepg2"), cfg).empty  # not fine-tuned in demo
    curve = scaling.curve_rows(pd.concat([table, predictions({STEP0_MEAN: (1, 1), STEP300_MEAN: (1, 1)})]))
    assert set(curve.model) == {"one-hot", "teaching-mlm@step-0", "teaching-mlm@step-300"}


def _pretrain_tiny() -> pretrain.PretrainSettings:
    """A 6-step smoke-size teaching MLM with checkpoints 0, 3, 6 in the current GLMEVAL_DATA."""
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), size=60)) for _ in range(40)]
    table = pd.DataFrame({"seq": seqs, "split": ["train"] * 30 + ["valid"] * 10})
    corpus = pretrain.build_corpus({"eclip_TOY_CELL": table}, crop_length=32, max_train_per_dataset=None, n_valid=10)
    settings = dataclasses.replace(pretrain.get_settings("smoke"), crop_length=32, steps=6, warmup_steps=2,
                                   batch_size=8, checkpoint_every=3)
    pretrain.pretrain_teaching_glm("mlm", profile="smoke", settings=settings, corpus=corpus, progress=False)
    return settings


@needs_mirror
def test_a_tiny_run_reports_both_answers_and_the_summary_reads_them(tmp_path, monkeypatch):
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path / "cache"))
    _pretrain_tiny()
    cfg = scaling.config("smoke", steps=(0, 3, 6), finetune_models=("teaching-mlm@step-6", "teaching-mlm@step-0"),
                         max_rows={"train": 64, "valid": 32, "test": 32}, n_boot=100)
    result = scaling.run(cfg, progress=False)
    preds = result.predictions
    tuned = preds[preds.role == FINE_TUNED]
    assert set(tuned.probe) == {"lora", "full"} and set(tuned.dataset) == {"gue_tf0"}
    assert set(preds.loc[preds.model == "teaching-mlm@step-3", "role"]) == {"pretrained"}
    assert set(result.finetuning.method) == {"lora", "full"}
    lora = result.finetuning[result.finetuning.method == "lora"].iloc[0]
    assert lora["rank"] == 8 and lora["target_modules"] == "query, value"
    assert lora["trainable_parameters"] < lora["parameters"]
    report = scaling.report(result)
    assert [v.claim.key for v in report.verdicts] == ["pretraining_budget", "fine_tuning_helps"]
    assert all(v.verdict in verdicts.CLAIM_WORDS for v in report.verdicts) and "At a glance" not in report.glance
    points = report.figures["curve"]
    assert sorted(points.step.unique()) == [0, 3, 6] and points.tokens_seen.max() == 6 * 8 * 32
    assert list(points.dataset.unique()) == ["lentimpra_hepg2", "gue_tf0"]
    assert len(report.figures["band"]) == 2 and set(report.figures["paper"].rung) == {"mean → ridge", "full → cnn"}
    assert max(len(table.columns) for table in report.tables.values()) <= 8  # narrow enough for the page
    written = scaling.save(result, tmp_path / "results")
    assert all(path.exists() for path in written) and not any("_predictions" in path.name for path in written)
    # the summary decides chapter 9's two questions from those files, never the paper's claims
    predictions({ONEHOT_CNN: (1.0, 1.0), FROZEN: (0.5, 0.5)}, task="lentimpra", dataset="lentimpra_hepg2").to_csv(
        tmp_path / "results" / "lentimpra_predictions.csv.gz", index=False)
    found = summary.report(summary.run(summary.config(tmp_path / "results", n_boot=100))).verdicts
    keys = {v.claim.key: v for v in found}
    assert keys["pretraining_budget"].verdict != verdicts.NOT_TESTABLE
    assert keys["fine_tuning_helps"].verdict != verdicts.NOT_TESTABLE
    assert set(keys["no_advantage"].evidence.model) == {"teaching-mlm"}


def test_the_summary_decides_chapter_9_from_its_files(tmp_path):
    lenti = dict(task="lentimpra", dataset="lentimpra_hepg2")
    predictions({ONEHOT_CNN: (1.0, 1.0), FROZEN: (1.0, 1.0)}, **lenti).to_csv(
        tmp_path / "lentimpra_predictions.csv.gz", index=False)
    predictions({ONEHOT_CNN: (1.0, 1.0), STEP0_MEAN: (1.5, 1.5), STEP300_MEAN: (0.3, 0.3)}, **lenti).to_csv(
        tmp_path / "scaling_curve.csv.gz", index=False)
    predictions({ONEHOT_CNN: (1.0, 1.0), FROZEN: (1.0, 1.0), TUNED_FULL: (1.0, 1.0), RANDOM_FROZEN: (1.0, 1.0),
                 RANDOM_TUNED: (0.2, 0.2)}, **lenti).to_csv(tmp_path / "scaling_finetuning.csv.gz", index=False)
    found = {v.claim.key: v for v in summary.report(summary.run(summary.config(tmp_path, n_boot=200))).verdicts}
    assert found["pretraining_budget"].verdict == verdicts.SUPPORTED
    # the random-init network fine-tuned beats one-hot; the pretrained one does not, and only it counts
    assert found["fine_tuning_helps"].verdict == verdicts.NOT_SUPPORTED
    # the checkpoint that beats one-hot never counts as a gLM in the paper's claim 1
    assert found["no_advantage"].verdict == verdicts.SUPPORTED
    assert set(found["no_advantage"].evidence.model) == {"teaching-mlm"}
