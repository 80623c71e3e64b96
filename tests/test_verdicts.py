"""Each claim's rule on evidence where the verdict must flip."""

import pandas as pd
import pytest
from synthetic import (CONTROL_CNN, FROZEN, GLM_CNN, ONEHOT_CNN, ONEHOT_RESNET, RANDOM_FROZEN, RANDOM_TUNED,
                       STEP0_MEAN, STEP300_MEAN, TUNED_FULL, TUNED_LORA, predictions)

from glmeval_utils.eval import compare, verdicts


def test_comparison_words():
    assert verdicts.comparison_word(0.01, 0.2) == "better"
    assert verdicts.comparison_word(-0.2, -0.01) == "worse"
    assert verdicts.comparison_word(-0.1, 0.1) == "not distinguishable"
    assert verdicts.comparison_word(float("nan"), 0.1) == "cannot say"
    with pytest.raises(ValueError, match="unknown claim verdict"):
        verdicts.Verdict(verdicts.CLAIMS["no_advantage"], "holds", "")


def _selected(configs, **kwargs):
    return compare.versus_best_onehot(predictions(configs, n=400, **kwargs), "pearson", n_boot=300)


def test_a_random_init_control_that_beats_one_hot_is_not_a_glm_win():
    selected = _selected({ONEHOT_CNN: (1.0, 1.0), CONTROL_CNN: (0.3, 0.3), GLM_CNN: (1.1, 1.1)})
    assert selected.set_index("model").loc["glm-random", "verdict"] == "better"
    verdict = verdicts.no_advantage(selected)
    assert verdict.verdict == verdicts.SUPPORTED
    assert "random-init" in verdict.reason and len(verdict.evidence) == 1
    # the same win by a pretrained gLM flips the verdict
    flipped = verdicts.no_advantage(_selected({ONEHOT_CNN: (1.0, 1.0), GLM_CNN: (0.3, 0.3)}))
    assert flipped.verdict == verdicts.NOT_SUPPORTED and flipped.number.startswith("1 better")


def test_a_fine_tuned_network_is_not_a_glm_either():
    tuned = ("anticapt", "fine-tuned", "full", "cnn")
    assert verdicts.no_advantage(_selected({ONEHOT_CNN: (1.0, 1.0), tuned: (0.3, 0.3)})).verdict == \
        verdicts.NOT_TESTABLE


def test_the_yardstick_is_the_best_one_hot_model():
    # the gLM beats the one-hot CNN, but the ResNet (better on validation) beats the gLM
    verdict = verdicts.no_advantage(_selected({ONEHOT_CNN: (1.4, 1.4), ONEHOT_RESNET: (0.3, 0.3),
                                               GLM_CNN: (0.8, 0.8)}))
    assert verdict.verdict == verdicts.SUPPORTED
    assert verdicts.no_advantage(_selected({ONEHOT_CNN: (1.4, 1.4), GLM_CNN: (0.8, 0.8)})).verdict == \
        verdicts.NOT_SUPPORTED


def test_a_simulated_set_never_enters_a_biological_claim():
    simulated = _selected({ONEHOT_CNN: (1.0, 1.0), GLM_CNN: (0.3, 0.3)}, simulated=True)
    assert simulated.simulated.all()
    verdict = verdicts.no_advantage(simulated)
    assert verdict.verdict == verdicts.NOT_TESTABLE and "simulated" in verdict.reason
    real = _selected({ONEHOT_CNN: (0.3, 0.3), GLM_CNN: (1.0, 1.0)}, dataset="real")
    mixed = verdicts.no_advantage(pd.concat([simulated, real], ignore_index=True))
    assert mixed.verdict == verdicts.SUPPORTED and list(mixed.evidence.dataset) == ["real"]


def test_partly_supported_when_wins_are_the_exception():
    tables = [_selected({ONEHOT_CNN: (1.0, 1.0), GLM_CNN: (0.3, 0.3)}, dataset="win")]
    tables += [_selected({ONEHOT_CNN: (0.3, 0.3), GLM_CNN: (1.0, 1.0)}, dataset=f"loss{i}") for i in range(2)]
    verdict = verdicts.no_advantage(pd.concat(tables, ignore_index=True))
    assert verdict.verdict == verdicts.PARTLY and verdict.number == "1 better / 2 worse of 3"


def test_pretraining_helps_counts_controls_on_real_data():
    configs = {GLM_CNN: (0.3, 0.3), CONTROL_CNN: (1.0, 1.0)}
    better = compare.versus_controls(predictions(configs), "pearson", n_boot=200)
    assert verdicts.pretraining_helps(better).verdict == verdicts.SUPPORTED
    same = compare.versus_controls(predictions({GLM_CNN: (1.0, 1.0), CONTROL_CNN: (1.0, 1.0)}), "pearson", n_boot=200)
    assert verdicts.pretraining_helps(same).verdict == verdicts.NOT_SUPPORTED
    simulated = compare.versus_controls(predictions(configs, simulated=True), "pearson", n_boot=200)
    assert verdicts.pretraining_helps(simulated).verdict == verdicts.NOT_TESTABLE


def test_intermediate_layers_rule():
    rows = pd.DataFrame({"model": ["a", "b"], "role": "pretrained", "simulated": False, "chosen_layer": [3, 6],
                         "last_layer": [6, 6], "effect": [0.05, 0.0], "ci_low": [0.01, 0.0], "ci_high": [0.09, 0.0],
                         "p_bootstrap": [0.002, 1.0], "verdict": ["better", "not distinguishable"]})
    assert verdicts.intermediate_layers(rows).verdict == verdicts.PARTLY
    assert verdicts.intermediate_layers(rows.iloc[:1]).verdict == verdicts.SUPPORTED
    assert verdicts.intermediate_layers(rows.iloc[1:]).verdict == verdicts.NOT_SUPPORTED
    assert verdicts.intermediate_layers(rows.assign(role="random-init")).verdict == verdicts.NOT_TESTABLE
    # the token embeddings (layer 0) are not an intermediate layer
    assert verdicts.intermediate_layers(rows.iloc[:1].assign(chosen_layer=0)).verdict == verdicts.NOT_SUPPORTED


def test_cnn_beats_pooling_rule():
    rows = pd.DataFrame({"role": "pretrained", "simulated": False, "effect": [0.1, 0.1, -0.1], "p_bootstrap": 0.001,
                         "verdict": ["better", "better", "worse"], "dataset": ["a", "b", "c"]})
    assert verdicts.cnn_beats_pooling(rows).verdict == verdicts.SUPPORTED
    assert verdicts.cnn_beats_pooling(rows.iloc[1:]).verdict == verdicts.PARTLY
    assert verdicts.cnn_beats_pooling(rows.iloc[2:]).verdict == verdicts.NOT_SUPPORTED


def test_zero_shot_rule():
    rule = dict(paper_bound=0.1)
    weak = {"label": "m · l2_full", "role": "pretrained", "mean_abs_r": 0.08, "chance_bound": 0.05, "n_elements": 15}
    strong_contrast = {"label": "delta", "mean_diff": 0.3, "ci_low": 0.1, "ci_high": 0.5, "n_elements": 15}
    weak_contrast = dict(strong_contrast, ci_low=-0.1)
    assert verdicts.zero_shot_weak(weak, strong_contrast, **rule).verdict == verdicts.SUPPORTED
    assert verdicts.zero_shot_weak(weak, weak_contrast, **rule).verdict == verdicts.PARTLY
    assert "delta is not distinguishable from it" in verdicts.zero_shot_weak(weak, weak_contrast, **rule).reason
    worse_contrast = dict(strong_contrast, mean_diff=-0.2, ci_low=-0.3, ci_high=-0.1)
    assert "delta is worse" in verdicts.zero_shot_weak(weak, worse_contrast, **rule).reason
    # near zero is judged against the paper's mean |r| and chance: 0.25 is near zero with few positions only
    assert verdicts.zero_shot_weak(dict(weak, mean_abs_r=0.25, chance_bound=0.3), strong_contrast, **rule).verdict \
        == verdicts.SUPPORTED
    assert verdicts.zero_shot_weak(dict(weak, mean_abs_r=0.25), weak_contrast, **rule).verdict == \
        verdicts.NOT_SUPPORTED
    assert verdicts.zero_shot_weak(dict(weak, role="random-init"), strong_contrast, **rule).verdict == \
        verdicts.NOT_TESTABLE
    untested = verdicts.zero_shot_weak(weak, None, **rule)
    assert untested.verdict == verdicts.PARTLY and "not tested" in untested.reason


def test_a_single_marginal_win_among_many_comparisons_is_not_counted():
    rows = pd.DataFrame({"role": "pretrained", "simulated": False, "model": "m", "dataset": list("abcdefghij"),
                         "effect": [0.05] + [0.0] * 9, "ci_low": [0.001] + [-0.05] * 9, "ci_high": [0.1] + [0.05] * 9,
                         "p_bootstrap": [0.03] + [0.8] * 9, "verdict": ["better"] + ["not distinguishable"] * 9})
    assert verdicts.no_advantage(rows).verdict == verdicts.SUPPORTED  # 0.03 > 0.05 / 10 after Holm
    assert verdicts.no_advantage(rows.iloc[:1]).verdict == verdicts.NOT_SUPPORTED  # alone, it counts
    strong = rows.assign(p_bootstrap=[0.001] + [0.8] * 9)
    assert verdicts.no_advantage(strong).verdict == verdicts.NOT_SUPPORTED


def test_attribution_rule_needs_a_usable_yardstick():
    def table(ceiling_low, glm_high, simulated=False):
        return pd.DataFrame({"dataset": "d", "map": ["one-hot CNN · ISM", "gLM probe · ISM"],
                             "mean": [0.5, 0.1], "ci_low": [ceiling_low, 0.0], "ci_high": [0.6, glm_high],
                             "simulated": simulated})
    rule = dict(glm_map="gLM probe · ISM", yardstick="one-hot CNN · ISM")
    assert verdicts.attribution_disagrees(table(0.4, 0.2), **rule).verdict == verdicts.SUPPORTED
    assert verdicts.attribution_disagrees(table(0.4, 0.5), **rule).verdict == verdicts.NOT_SUPPORTED
    assert verdicts.attribution_disagrees(table(0.05, 0.01), **rule).verdict == verdicts.NOT_TESTABLE
    assert verdicts.attribution_disagrees(table(0.4, 0.2, simulated=True), **rule).verdict == verdicts.NOT_TESTABLE
    control = table(0.4, 0.2).assign(role=["one-hot", "random-init"])
    assert verdicts.attribution_disagrees(control, **rule).verdict == verdicts.NOT_TESTABLE


def test_every_claim_has_text_and_a_rule():
    assert set(verdicts.CLAIMS) == {"no_advantage", "supervised_strongest", "pretraining_helps", "intermediate_layers",
                                    "cnn_beats_pooling", "zero_shot_weak", "attribution_disagrees",
                                    "pretraining_budget", "fine_tuning_helps"}
    for claim in verdicts.CLAIMS.values():
        assert claim.text.endswith(".") and len(claim.rule) > 40
    verdict = verdicts.not_testable("supervised_strongest", "no Sei here.")
    assert verdict.row()["verdict"] == verdicts.NOT_TESTABLE and "no Sei" in verdict.markdown()


def _budget(step0, step300, onehot=(1.0, 1.0), **kwargs):
    table = predictions({STEP0_MEAN: step0, STEP300_MEAN: step300, ONEHOT_CNN: onehot}, n=300, **kwargs)
    return compare.budget_comparisons(table, "pearson", n_boot=300)


@pytest.mark.parametrize("step0, step300, expected", [
    ((1.5, 1.5), (0.3, 0.3), verdicts.SUPPORTED),      # rises and ends above one-hot
    ((1.5, 1.5), (1.0, 1.0), verdicts.PARTLY),         # rises, does not cross
    ((0.3, 0.3), (0.3, 0.3), verdicts.PARTLY),         # above one-hot from the start: pretraining did not do it
    ((1.5, 1.5), (1.5, 1.5), verdicts.NOT_SUPPORTED),  # flat and below one-hot
])
def test_pretraining_budget_needs_a_rise_and_a_crossing(step0, step300, expected):
    verdict = verdicts.pretraining_budget(_budget(step0, step300))
    assert verdict.verdict == expected and verdict.number.endswith("of 1 curves")


def test_pretraining_budget_counts_pretrained_checkpoints_on_real_data_only():
    assert verdicts.pretraining_budget(_budget((1.5, 1.5), (0.3, 0.3), simulated=True)).verdict == \
        verdicts.NOT_TESTABLE
    # a curve that ends at step 0 (a random-init checkpoint) has nothing to count
    only_start = predictions({STEP0_MEAN: (0.3, 0.3), ONEHOT_CNN: (1.0, 1.0)}, n=200)
    assert verdicts.pretraining_budget(compare.budget_comparisons(only_start, "pearson")).verdict == \
        verdicts.NOT_TESTABLE
    two = pd.concat([_budget((1.5, 1.5), (0.3, 0.3), dataset="a"), _budget((1.5, 1.5), (1.5, 1.5), dataset="b")])
    assert verdicts.pretraining_budget(two).verdict == verdicts.PARTLY


def _tuned(pretrained, control, frozen=(1.2, 1.2), **kwargs):
    table = predictions({ONEHOT_CNN: (1.0, 1.0), FROZEN: frozen, TUNED_LORA: (2.0, 2.0), TUNED_FULL: pretrained,
                         RANDOM_FROZEN: (1.5, 1.5), RANDOM_TUNED: control}, n=300, **kwargs)
    return compare.fine_tuning_comparisons(table, "pearson", n_boot=300)


@pytest.mark.parametrize("pretrained, control, expected", [
    ((0.3, 0.3), (1.0, 1.0), verdicts.SUPPORTED),      # beats one-hot and its fine-tuned control
    ((0.3, 0.3), (0.3, 0.3), verdicts.PARTLY),         # beats one-hot, but so does the random-init network
    ((1.0, 1.0), (1.5, 1.5), verdicts.NOT_SUPPORTED),  # no better than one-hot
])
def test_fine_tuning_needs_a_win_over_one_hot_that_pretraining_explains(pretrained, control, expected):
    verdict = verdicts.fine_tuning_helps(_tuned(pretrained, control))
    assert verdict.verdict == expected
    assert "frozen probes" in verdict.reason and "random-init" in verdict.reason  # the control is not counted


def test_a_fine_tuned_random_init_network_that_beats_one_hot_is_not_a_glm_win():
    table = predictions({ONEHOT_CNN: (1.0, 1.0), RANDOM_FROZEN: (1.5, 1.5), RANDOM_TUNED: (0.2, 0.2)}, n=300)
    rows = compare.fine_tuning_comparisons(table, "pearson", n_boot=200)
    assert "better" in set(rows.verdict)
    assert verdicts.fine_tuning_helps(rows).verdict == verdicts.NOT_TESTABLE
    assert verdicts.fine_tuning_helps(_tuned((0.3, 0.3), (1.0, 1.0), simulated=True)).verdict == \
        verdicts.NOT_TESTABLE
