import numpy as np
import pandas as pd
import pytest

from glmeval_utils.predictions import (COLUMNS, check_predictions, example_groups, model_label, prediction_rows,
                                       read_predictions)

LABELS = dict(task="t", dataset="d", model="m", role="pretrained", representation="r", probe="p", seed=4)


def test_prediction_rows_layout():
    rows = prediction_rows(np.zeros((3, 2)), np.ones((3, 2)), index=["x", "y", "z"], group=[1, 1, 2],
                           split="valid", **LABELS)
    assert list(rows.columns) == COLUMNS
    assert rows["index"].tolist() == ["x", "x", "y", "y", "z", "z"]
    assert rows["group"].tolist() == ["1", "1", "1", "1", "2", "2"]
    assert rows["output"].tolist() == [0, 1, 0, 1, 0, 1]
    assert set(rows.split) == {"valid"} and not rows.simulated.any()
    default = prediction_rows(np.zeros(2), np.zeros(2), **LABELS)
    assert default.group.tolist() == ["0", "1"] and set(default.split) == {"test"}


@pytest.mark.parametrize("change, message", [
    (dict(role="gLM"), "unknown role 'gLM'"),
    (dict(split="train"), "not 'train'"),
    (dict(y_score=np.zeros(4)), "differ in shape"),
    (dict(group=[0, 1]), "group has 2 entries for 3 examples"),
])
def test_prediction_rows_refuses_bad_input(change, message):
    kwargs = dict(LABELS, y_true=np.zeros(3), y_score=np.zeros(3))
    kwargs.update(change)
    with pytest.raises(ValueError, match=message):
        prediction_rows(**kwargs)


def test_check_and_read_round_trip(tmp_path):
    rows = prediction_rows(np.arange(3.0), np.arange(3.0), group=["e1", "e1", "e2"], **LABELS)
    path = tmp_path / "p.csv.gz"
    rows.to_csv(path, index=False)
    back = read_predictions([path])
    pd.testing.assert_frame_equal(back, check_predictions(rows))
    assert example_groups(back, [2, 0]).tolist() == ["e2", "e1"]
    with pytest.raises(ValueError, match="lacks columns \\['role'"):
        check_predictions(rows.drop(columns="role"), source="old file")
    with pytest.raises(ValueError, match="unknown role"):
        check_predictions(rows.assign(role="gLM"))
    assert model_label("m", "full", "cnn") == "m · full → cnn"
