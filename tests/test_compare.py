import numpy as np
import pandas as pd
import pytest
from synthetic import (CONTROL_CNN, FROZEN, GLM_CNN, GLM_MEAN, ONEHOT_CNN, ONEHOT_RESNET, RANDOM_FROZEN, RANDOM_TUNED,
                       STEP0_MEAN, STEP50_MEAN, STEP300_MEAN, TUNED_FULL, TUNED_LORA, predictions)

from glmeval_utils.eval import compare
from glmeval_utils.eval.metrics import pearson


def test_a_glm_that_beats_the_cnn_but_not_the_resnet_does_not_beat_the_best_one_hot_model():
    table = predictions({ONEHOT_CNN: (1.2, 1.2), ONEHOT_RESNET: (0.3, 0.3), GLM_CNN: (0.7, 0.7)}, n=400)
    against_cnn = compare.paired_difference(
        table[(table.model == "glm") & (table.split == "test")],
        table[(table.probe == "cnn") & (table.model == "one-hot") & (table.split == "test")], "pearson")
    assert against_cnn["verdict"] == "better"
    selected = compare.versus_best_onehot(table, "pearson", n_boot=300)
    row = selected.set_index("model").loc["glm"]
    assert row.onehot_probe == "resnet" and row.verdict == "worse" and row.ci_high < 0


def test_versus_best_onehot_compares_the_reported_values():
    table = predictions({ONEHOT_CNN: (1.0, 1.0), GLM_CNN: (0.4, 0.4)}, n=300)
    row = compare.versus_best_onehot(table, "pearson", n_boot=200).iloc[0]
    test = table[table.split == "test"]
    per_seed = test.groupby(["model", "seed"]).apply(lambda g: pearson(g.y_true, g.y_score)).groupby("model").mean()
    # the effect is the difference of the values the models are reported with: means over seeds
    assert row.effect == pytest.approx(per_seed["glm"] - per_seed["one-hot"])
    assert row.value - row.baseline_value == pytest.approx(row.effect) and row.verdict == "better"
    assert row.n_seeds == 3 and row.n_groups == 300 and np.isfinite(row.p_seeds)
    every = compare.versus_best_onehot(table, "pearson", scope="all", n_boot=50)
    assert len(every) == 1
    with pytest.raises(ValueError, match="scope"):
        compare.versus_best_onehot(table, "pearson", scope="best")


def test_comparisons_resample_groups():
    configs = {ONEHOT_CNN: (1.0, 1.0), GLM_CNN: (0.9, 0.9)}
    grouped = compare.versus_best_onehot(predictions(configs, n=300, group_size=3), "pearson", n_boot=400).iloc[0]
    assert grouped.n_groups == 100
    as_rows = compare.versus_best_onehot(predictions(configs, n=300, group_size=3).assign(
        group=lambda d: d["index"].astype(str)), "pearson", n_boot=400).iloc[0]
    assert grouped.effect == pytest.approx(as_rows.effect)
    assert grouped.ci_high - grouped.ci_low > 1.3 * (as_rows.ci_high - as_rows.ci_low)


def test_versus_controls_chooses_each_side_on_validation():
    control_mean = ("glm-random", "random-init", "mean", "linear")
    table = predictions({GLM_CNN: (0.5, 0.5), GLM_MEAN: (1.0, 1.0), CONTROL_CNN: (2.0, 0.1),
                         control_mean: (1.5, 1.5)})
    row = compare.versus_controls(table, "pearson", n_boot=200).iloc[0]
    assert (row.representation, row.control_representation) == ("full", "mean")
    assert row.verdict == "better"
    mislabelled = table.assign(role=np.where(table.model == "glm-random", "pretrained", table.role))
    with pytest.raises(ValueError, match="not labelled as a random-init control"):
        compare.versus_controls(mislabelled, "pearson")
    assert compare.versus_controls(table[table.model == "glm"], "pearson").empty


def test_versus_configuration_and_tally():
    table = pd.concat([predictions({GLM_CNN: (0.3, 0.3), GLM_MEAN: (1.0, 1.0), ONEHOT_CNN: (0.8, 0.8)}, dataset=d)
                       for d in ("a", "b")], ignore_index=True)
    cnn = compare.versus_configuration(table, "pearson", configuration={"representation": "full", "probe": "cnn"},
                                       n_boot=200)
    assert len(cnn) == 2 and (cnn.other_probe == "linear").all() and (cnn.verdict == "better").all()
    every = compare.versus_best_onehot(table, "pearson", scope="all", n_boot=200)
    tally = compare.tally(every).set_index("label")
    assert tally.loc["glm · full → cnn", "better"] == 2 and tally.loc["glm · mean → linear", "worse"] == 2


def test_chosen_layer_vs_last():
    layers = {("glm", "pretrained", f"mean@L{k}", "linear"): noise for k, noise in
              enumerate([(1.5, 1.5), (0.4, 0.4), (1.0, 1.0)])}
    row = compare.chosen_layer_vs_last(predictions(layers), "pearson", n_boot=200).iloc[0]
    assert (row.chosen_layer, row.last_layer, row.verdict) == (1, 2, "better")
    last_best = {("glm", "pretrained", f"mean@L{k}", "linear"): (1.0 - 0.3 * k, 1.0 - 0.3 * k) for k in range(3)}
    row = compare.chosen_layer_vs_last(predictions(last_best), "pearson", n_boot=50).iloc[0]
    assert row.chosen_layer == row.last_layer and row.effect == 0
    with pytest.raises(ValueError, match="must look like"):
        compare.chosen_layer_vs_last(predictions({GLM_MEAN: (1, 1)}), "pearson")


def test_a_probe_fitted_once_is_not_handicapped_against_a_seed_ensemble():
    # one seed of a linear probe against three seeds of the CNN, all of the same quality
    onehot = predictions({ONEHOT_CNN: (1.0, 1.0)}, n=400)
    linear = predictions({GLM_MEAN: (1.0, 1.0)}, n=400, seeds=(0,))
    row = compare.versus_best_onehot(pd.concat([onehot, linear], ignore_index=True), "pearson", n_boot=400).iloc[0]
    assert abs(row.effect) < 0.03 and row.verdict == "not distinguishable"


def test_budget_comparisons_take_the_last_checkpoint_against_step_zero_and_the_best_one_hot():
    table = predictions({STEP0_MEAN: (1.5, 1.5), STEP50_MEAN: (0.2, 0.2), STEP300_MEAN: (0.6, 0.6),
                         ONEHOT_CNN: (0.5, 0.5), ONEHOT_RESNET: (1.0, 1.0)}, n=300)
    rows = compare.budget_comparisons(table, "pearson", n_boot=200).set_index("comparison")
    assert list(rows.index) == ["step 0", "one-hot"]
    # the most-pretrained checkpoint, not the best one: the question is what more pretraining gives
    assert set(rows.model) == {"teaching-mlm@step-300"} and set(rows.step) == {300}
    assert rows.loc["step 0", "baseline"] == "teaching-mlm@step-0" and rows.loc["step 0", "verdict"] == "better"
    assert rows.loc["one-hot", "baseline"].endswith("cnn") and rows.loc["one-hot", "verdict"] == "worse"
    assert compare.budget_comparisons(table[~table.model.str.contains("@")], "pearson").empty
    # without step 0 the curve still meets the one-hot model
    assert list(compare.budget_comparisons(table[table.model != "teaching-mlm@step-0"], "pearson",
                                           n_boot=50).comparison) == ["one-hot"]


def test_fine_tuning_comparisons_choose_every_side_on_validation():
    lora_wins_valid = (0.2, 1.5)  # chosen on validation, worse on test
    table = predictions({ONEHOT_CNN: (1.0, 1.0), FROZEN: (1.2, 1.2), TUNED_LORA: lora_wins_valid,
                         TUNED_FULL: (0.4, 0.4), RANDOM_FROZEN: (1.3, 1.3), RANDOM_TUNED: (1.1, 1.1)}, n=300)
    rows = compare.fine_tuning_comparisons(table, "pearson", n_boot=200)
    mine = rows[rows.model == "teaching-mlm"].set_index("comparison")
    assert set(mine.method) == {"lora"} and set(mine.side) == {"pretrained-fine-tuned"}
    assert list(mine.index) == ["one-hot", "pretrained-frozen", "random-fine-tuned"]
    assert (mine.verdict == "worse").all()  # the validation choice is read once, on test
    control = rows[rows.model == "teaching-mlm-random"]
    assert set(control.role) == {"random-init"} and set(control.comparison) == {"one-hot", "random-init-frozen"}
    # a checkpoint's control is its own step 0
    checkpoints = table.replace({"teaching-mlm": "teaching-mlm@step-300", "teaching-mlm-random": "teaching-mlm@step-0"})
    assert "random-fine-tuned" in set(compare.fine_tuning_comparisons(checkpoints, "pearson", n_boot=50).comparison)
