import numpy as np
import pandas as pd
import pytest

from glmeval_utils import summary
from glmeval_utils.eval.stats import prediction_rows


def _predictions():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    frames = []
    for model, representation, probe, noise in [
        ("one-hot", "onehot", "cnn", 0.5), ("one-hot", "onehot", "resnet", 0.3),
        ("glm-a", "mean", "linear", 1.5), ("glm-a", "full", "cnn", 0.6),
        ("glm-b", "full", "cnn", 0.3), ("composition", "dinucleotide", "mlp", 0.1),
    ]:
        for seed in (0, 1):
            frames.append(prediction_rows(y, y + rng.normal(scale=noise, size=400), task="lentimpra",
                                          dataset="toy", model=model, representation=representation,
                                          probe=probe, seed=seed))
    return pd.concat(frames, ignore_index=True)


def test_advantage_picks_best_configurations_and_pairs_examples():
    table = summary.advantage_over_onehot(_predictions(), n_boot=200).set_index("model")
    assert set(table.index) == {"glm-a", "glm-b"}  # the composition control is not a gLM
    assert table.loc["glm-a", "probe"] == "cnn" and table.loc["glm-a", "onehot_probe"] == "resnet"
    assert table.loc["glm-a", "ci_high"] < 0  # clearly worse than the ResNet
    assert table.loc["glm-b", "ci_low"] < 0 < table.loc["glm-b", "ci_high"]  # equally good
    assert summary.verdict(table.loc["glm-a", "ci_low"], table.loc["glm-a", "ci_high"]) == "one-hot better"


def test_task_advantage_counts_wins_and_losses():
    advantage = summary.advantage_over_onehot(_predictions(), n_boot=200)
    per_task = summary.task_advantage(advantage).set_index("model")
    assert per_task.loc["glm-a", "losses"] == 1 and per_task.loc["glm-b", "losses"] == 0


def test_paper_advantage_matches_reference_numbers():
    paper = summary.paper_advantage().set_index(["task", "dataset"])
    hepg2 = paper.loc[("lentimpra", "HepG2")]
    assert hepg2.best_glm == "GPN" and hepg2.effect == pytest.approx(0.637 - 0.753)
    assert summary.verdict(np.nan, 1.0) == "cannot say"


def test_load_predictions_errors_on_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the task chapters first"):
        summary.load_predictions(tmp_path)
    _predictions().to_csv(tmp_path / "lentimpra_predictions.csv.gz", index=False)
    assert len(summary.load_predictions(tmp_path)) == 4800


def test_pretrained_vs_random_uses_the_same_configuration():
    preds = _predictions()
    control = preds[preds.model == "glm-b"].copy()
    control["model"] = "glm-b-random"
    rng = np.random.default_rng(1)
    control["y_score"] = control["y_true"] + rng.normal(scale=2.0, size=len(control))
    table = summary.pretrained_vs_random(pd.concat([preds, control]), n_boot=200)
    row = table.set_index("model").loc["glm-b"]
    assert (row.representation, row.probe, row.control) == ("full", "cnn", "glm-b-random")
    assert row.ci_low > 0


def test_probe_comparison_from_results():
    from glmeval_utils.learn.ladder import seed_metrics
    table = summary.probe_comparison(seed_metrics(_predictions(), "regression")).set_index("model")
    assert table.loc["glm-a", "pooled_config"] == "mean → linear"
    assert table.loc["glm-a", "difference"] > 0
    assert "glm-b" not in table.index  # no pooled probe to compare with
