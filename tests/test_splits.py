import numpy as np
import pandas as pd
import pytest

from glmeval_utils.data.simulate import simulate_elongation
from glmeval_utils.data.splits import TaskData, row_limits, subsample
from glmeval_utils.profiles import get_profile


def _table(n=400, seed=0):
    rng = np.random.default_rng(seed)
    split = np.array(["train"] * (n // 2) + ["valid"] * (n // 4) + ["test"] * (n - n // 2 - n // 4))
    return pd.DataFrame({"seq": ["".join(rng.choice(list("ACGT"), 20)) for _ in range(n)],
                         "label": (np.arange(n) % 2).astype(float), "split": split,
                         "element": np.arange(n) // 2})


def test_subsample_stratified_is_deterministic_and_keeps_small_splits():
    table = _table()
    table.loc[table.index[:40], "label"] = 1.0  # unbalance train a little
    capped = subsample(table, {"train": 50, "valid": None}, stratify="label", seed=3)
    counts = capped.split.value_counts()
    assert counts["train"] == 50 and counts["valid"] == 100 and counts["test"] == 100
    share_before = table[table.split == "train"].label.mean()
    assert abs(capped[capped.split == "train"].label.mean() - share_before) <= 1 / 50
    assert subsample(table, {"train": 50}, stratify="label", seed=3).seq.tolist() == capped.seq.tolist()
    assert subsample(table, {"train": 50}, stratify="label", seed=4).seq.tolist() != capped.seq.tolist()
    with pytest.raises(ValueError, match="non-negative"):
        subsample(table, {"train": -1})
    with pytest.raises(ValueError, match="not both"):
        subsample(table, {"train": 5}, group_col="element", stratify="label")


def test_subsample_keeps_groups_whole():
    table = _table()
    kept = subsample(table, {"train": 51, "valid": 10, "test": 10}, group_col="element", seed=1)
    assert (kept.groupby("element").size() == 2).all()
    assert len(kept[kept.split == "train"]) == 50


def test_row_limits_tighten_the_profile():
    smoke = get_profile("smoke").max_rows
    assert row_limits(smoke, {"train": 100, "test": 1000}) == {"train": 100, "valid": smoke["valid"],
                                                               "test": smoke["test"]}
    assert row_limits(get_profile("full").max_rows, {"train": 10})["train"] == 10
    with pytest.raises(ValueError, match="unknown split"):
        row_limits(smoke, {"dev": 3})


def test_task_data_groups_and_prediction_rows():
    table = _table()
    table.attrs["group_col"] = "element"
    data = TaskData.from_table(table, target="label", task="t", dataset="d", kind="binary")
    assert data.groups["train"][:4].tolist() == ["0", "0", "1", "1"] and not data.simulated
    rows = data.predictions_of(lambda seqs: np.full(len(seqs), 0.5), model="m", role="one-hot",
                               representation="onehot", probe="cnn", seed=0)
    assert set(rows.split) == {"valid", "test"} and len(rows) == 200
    assert rows.groupby("split").group.nunique().to_dict() == {"test": 50, "valid": 50}
    by_row = TaskData.from_table(table, target="label", task="t", dataset="d", kind="binary", group_col=None)
    assert by_row.groups["train"][:2].tolist() == ["0", "0"]  # attrs still name the group column
    with pytest.raises(ValueError, match="not 'train'"):
        data.prediction_rows("train", np.zeros(200), model="m", role="one-hot", representation="r", probe="p",
                             seed=0)


def test_task_data_flags_simulated_tables_and_names_unknown_splits():
    simulated = simulate_elongation(100, seed=0)
    assert TaskData.from_table(simulated, target="target", task="t", dataset="s", kind="regression").simulated
    table = _table().replace({"split": {"valid": "validation"}})
    with pytest.raises(ValueError, match="unknown split value\\(s\\) \\['validation'\\]"):
        TaskData.from_table(table, target="label", task="t", dataset="d", kind="binary")
