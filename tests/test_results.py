import pandas as pd
import pytest

from glmeval_utils.eval import results


def _rows(value, seed=0):
    return results.make_rows({"pearson": value, "spearman": value / 2}, task="lentimpra",
                             dataset="lentimpra_hepg2", model="onehot", representation="onehot",
                             probe="cnn", seed=seed)


def test_write_merge_and_read_back(tmp_path):
    path = tmp_path / "res" / "lentimpra.csv"
    results.write_results(_rows(0.5), path)
    results.write_results(_rows(0.6, seed=1), path)
    merged = results.write_results(_rows(0.7), path)  # replaces seed 0
    assert len(merged) == 4
    table = results.read_results(tmp_path / "res")
    assert list(table.columns) == results.COLUMNS
    seed0 = table[(table.seed == 0) & (table.metric == "pearson")]
    assert seed0.value.tolist() == [0.7]
    assert not list((tmp_path / "res").glob("*.tmp"))


def test_validation_errors(tmp_path):
    with pytest.raises(ValueError, match="lacks columns"):
        results.write_results(pd.DataFrame({"task": ["x"]}), tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError, match="no results tables"):
        results.read_results(tmp_path)
