import numpy as np
import pytest
from synthetic import GLM_CNN, GLM_MEAN, ONEHOT_CNN, ONEHOT_RESNET, predictions

from glmeval_utils.eval.select import chosen_rows, select_on_validation, validation_scores


def test_a_configuration_best_on_test_but_not_on_validation_is_not_selected():
    # the CNN probe is the better model on test (noise 0.3) but the worse one on validation (1.5)
    table = predictions({GLM_CNN: (1.5, 0.3), GLM_MEAN: (0.8, 0.8), ONEHOT_CNN: (1.0, 1.0)})
    chosen = select_on_validation(table, "pearson").set_index("model")
    assert (chosen.loc["glm", "representation"], chosen.loc["glm", "probe"]) == ("mean", "linear")
    assert chosen.loc["glm", "n_candidates"] == 2
    rows = chosen_rows(table, chosen.reset_index())
    assert set(rows.split) == {"test"} and set(rows[rows.model == "glm"].probe) == {"linear"}


def test_the_same_rule_picks_the_best_one_hot_architecture():
    table = predictions({ONEHOT_CNN: (1.2, 0.2), ONEHOT_RESNET: (0.5, 0.9)})
    chosen = select_on_validation(table, "pearson")
    assert chosen.probe.tolist() == ["resnet"]
    scores = validation_scores(table, "pearson").set_index("probe").valid_value
    assert scores["resnet"] > scores["cnn"]


def test_selection_needs_validation_predictions_and_is_deterministic():
    table = predictions({GLM_CNN: (1.0, 1.0), GLM_MEAN: (1.0, 1.0)})
    with pytest.raises(ValueError, match="no validation predictions"):
        select_on_validation(table[table.split == "test"], "pearson")
    tied = table.assign(y_score=np.where(table.split == "valid", table.y_true, table.y_score))
    first = select_on_validation(tied, "pearson")
    assert (first.representation.iloc[0], first.probe.iloc[0]) == ("full", "cnn")  # ties: name order
    constant = table.assign(y_score=0.0)
    assert np.isnan(select_on_validation(constant, "pearson").valid_value.iloc[0])
