"""Tests for glmeval_utils.learn.elongation (model_2CNN, the data-fraction protocol) and the
learning-curve summaries of glmeval_utils.tasks.elongation."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps

from glmeval_utils.data.simulate import simulate_elongation
from glmeval_utils.data.splits import TaskData
from glmeval_utils.learn import elongation
from glmeval_utils.predictions import COLUMNS
from glmeval_utils.tasks import elongation as tasks_elongation


def test_model_2cnn_shapes_for_onehot_and_embeddings():
    model = elongation.Model2CNN(4, 1).eval()
    assert model(torch.zeros(3, 4, 173)).shape == (3, 1)
    assert model(torch.zeros(2, 4, 11)).shape == (2, 1)  # any length (partial pool window kept)
    embedded = elongation.Model2CNN(16, 2, layer_norm=True, channels_last=True, width_factor=0.25).eval()
    assert embedded(torch.randn(3, 50, 16)).shape == (3, 2)
    assert isinstance(embedded.norm, torch.nn.LayerNorm)
    conv19 = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d) and m.kernel_size == (19,)]
    assert len(conv19) == 1 and conv19[0].bias is None and conv19[0].out_channels == 96
    with pytest.raises(ValueError):
        elongation.Model2CNN(0)


def test_layer_norm_acts_per_position_on_features():
    model = elongation.Model2CNN(8, layer_norm=True, channels_last=True).eval()
    x = torch.randn(2, 30, 8)
    scaled = x * 50 + 3  # LayerNorm removes per-position scale and shift
    assert torch.allclose(model(x), model(scaled), atol=1e-3)


def test_estimator_defaults_follow_the_reference():
    onehot = elongation.ElongationEstimator("onehot")
    assert onehot._train_settings() == {"lr": 1e-3, "batch_size": 128, "min_lr": 1e-7}
    assert elongation.ElongationEstimator("embedding")._train_settings()["lr"] == 1e-4
    with pytest.raises(ValueError, match="input_kind"):
        elongation.ElongationEstimator("kmer")._train_settings()
    with pytest.raises(ValueError, match="one length"):
        onehot._prepare_inputs(["ACGT", "ACG"])
    with pytest.raises(ValueError, match="channels first"):
        onehot._prepare_inputs(np.zeros((2, 10, 4)))


def test_estimator_learns_simulated_elongation():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small model: threads only contend on a shared machine
    try:
        _check_learning()
    finally:
        torch.set_num_threads(threads)


def _check_learning():
    table = simulate_elongation(300, length=48, noise=0.1, seed=0)
    parts = {s: table[table.split == s] for s in ("train", "valid", "test")}
    estimator = elongation.ElongationEstimator("onehot", width_factor=0.25, max_epochs=6, patience=3,
                                               lr=3e-3, progress=False, random_state=0)
    estimator.fit(parts["train"].seq.tolist(), parts["train"].target.to_numpy(),
                  parts["valid"].seq.tolist(), parts["valid"].target.to_numpy())
    prediction = estimator.predict(parts["test"].seq.tolist())
    assert prediction.shape == (len(parts["test"]),)
    assert np.corrcoef(prediction, parts["test"].target)[0, 1] > 0.4


def test_fraction_subset_is_deterministic_and_varies_by_replicate():
    a = elongation.fraction_subset(100, 0.3, 0)
    assert len(a) == 30 and np.all(np.diff(a) > 0) and a.max() < 100
    assert np.array_equal(a, elongation.fraction_subset(100, 0.3, 0))
    assert not np.array_equal(a, elongation.fraction_subset(100, 0.3, 1))
    assert len(elongation.fraction_subset(100, 1.0, 3)) == 100
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            elongation.fraction_subset(100, bad)


def test_fraction_labels_round_trip():
    label = elongation.fraction_label("full", 0.25)
    assert label == "full@frac0.25"
    assert elongation.fraction_of(label) == 0.25 and elongation.base_representation(label) == "full"
    assert elongation.fraction_of("onehot") is None


class _MeanOfTraining:
    """Predicts a linear fit on the first feature; records training sizes."""

    sizes = []

    def __init__(self, replicate):
        self.replicate = replicate

    def fit(self, X, y, X_valid, y_valid):
        X = np.asarray([X[i] for i in range(len(X))])
        type(self).sizes.append(len(X))
        self.coef_ = np.polyfit(X[:, 0], y, 1)
        return self

    def predict(self, X):
        return np.polyval(self.coef_, np.asarray(X)[:, 0])


def _task_data(sizes, y=None, *, group=None):
    """TaskData with placeholder sequences (the estimator gets feature arrays) and the given targets."""
    split = np.concatenate([[name] * n for name, n in sizes.items()])
    table = pd.DataFrame({"seq": "ACGT", "split": split,
                          "target": np.concatenate([y[name] for name in sizes]) if y else np.zeros(len(split))})
    if group is not None:
        table["element"] = [f"g{k // group}" for k in range(len(table))]
    return TaskData.from_table(table, target="target", task="pol2_elongation", dataset="toy", kind="regression",
                               group_col="element" if group is not None else None)


def test_data_fraction_curve_rows_and_learning_curve_table():
    rng = np.random.default_rng(0)
    X = {s: rng.normal(size=(n, 3)) for s, n in (("train", 50), ("valid", 10), ("test", 20))}
    y = {s: 2 * X[s][:, 0] + rng.normal(scale=0.5, size=len(X[s])) for s in X}
    data = _task_data({s: len(X[s]) for s in X}, y, group=2)
    _MeanOfTraining.sizes = []
    rows = elongation.data_fraction_curve(data, X, make_estimator=_MeanOfTraining, fractions=(0.2, 1.0),
                                          replicates=3, model="m", role="pretrained", representation="onehot",
                                          progress=False)
    assert _MeanOfTraining.sizes == [10, 10, 10, 50, 50, 50]
    assert list(rows.columns) == COLUMNS
    assert set(rows.representation) == {"onehot@frac0.20", "onehot@frac1.00"}
    assert sorted(rows.seed.unique()) == [0, 1, 2] and len(rows) == 6 * (10 + 20)
    assert rows.groupby("split").size().to_dict() == {"test": 6 * 20, "valid": 6 * 10}
    assert set(rows.task) == {"pol2_elongation"} and set(rows.probe) == {"model_2cnn"}
    assert set(rows.role) == {"pretrained"} and set(rows.dataset) == {"toy"}
    # index and group come from the TaskData (rows of the table, element of two rows)
    test = rows[(rows.split == "test") & (rows.seed == 0) & (rows.representation == "onehot@frac1.00")]
    np.testing.assert_array_equal(test["index"], data.index["test"])
    np.testing.assert_array_equal(test["group"], data.groups["test"])
    np.testing.assert_allclose(test.y_true, y["test"], rtol=1e-6)

    per_replicate = tasks_elongation.replicate_metrics(rows)
    assert len(per_replicate) == 6 and set(per_replicate.representation) == {"onehot"}
    assert sorted(per_replicate.fraction.unique()) == [0.2, 1.0]
    one = per_replicate[(per_replicate.fraction == 0.2) & (per_replicate.replicate == 1)].value.item()
    part = rows[(rows.split == "test") & (rows.seed == 1) & (rows.representation == "onehot@frac0.20")]
    assert one == pytest.approx(sps.pearsonr(part.y_true, part.y_score)[0])
    # test rows only: spoiling the validation predictions changes nothing
    spoiled = rows.assign(y_score=np.where(rows.split == "valid", -rows.y_score, rows.y_score))
    pd.testing.assert_frame_equal(tasks_elongation.replicate_metrics(spoiled), per_replicate)
    spearman = tasks_elongation.replicate_metrics(rows, "spearman")
    assert spearman[spearman.replicate == 1].value.iloc[0] == pytest.approx(
        sps.spearmanr(part.y_true, part.y_score)[0])

    table = tasks_elongation.learning_curve_table(per_replicate)
    assert list(table.fraction) == [0.2, 1.0] and list(table.n) == [3, 3]
    assert set(table.role) == {"pretrained"} and (table["mean"] > 0.5).all()
    low = table[table.fraction == 0.2].iloc[0]
    values = per_replicate[per_replicate.fraction == 0.2].value
    assert low["median"] == pytest.approx(values.median()) and low["min"] == pytest.approx(values.min())
    full = table[table.fraction == 1.0].iloc[0]
    assert full["sd"] < 1e-9  # every replicate at fraction 1 sees the same rows
    with pytest.raises(ValueError, match="splits"):
        elongation.data_fraction_curve(data, {"train": X["train"]}, make_estimator=_MeanOfTraining,
                                       model="m", role="pretrained", representation="onehot")


def test_per_fraction_tests_compare_each_glm_with_onehot_replicates():
    rows = []
    values = {("one-hot", "one-hot"): {0.5: [0.1, 0.2, 0.3, 0.25], 1.0: [0.5, 0.6]},
              ("glm", "pretrained"): {0.5: [0.4, 0.5, 0.45, 0.35], 1.0: [0.55, 0.7]},
              ("glm-random", "random-init"): {0.5: [0.0, 0.1, 0.05, 0.2], 1.0: [0.4, 0.45]}}
    for (model, role), by_fraction in values.items():
        for fraction, replicate_values in by_fraction.items():
            rows += [{"model": model, "role": role, "representation": "x", "fraction": fraction, "replicate": k,
                      "value": v} for k, v in enumerate(replicate_values)]
    tests = tasks_elongation.per_fraction_tests(pd.DataFrame(rows)).set_index(["fraction", "model"])
    assert set(tests.index) == {(0.5, "glm"), (0.5, "glm-random"), (1.0, "glm"), (1.0, "glm-random")}
    half = tests.loc[(0.5, "glm")]
    assert half["role"] == "pretrained" and half["median"] == pytest.approx(0.425)
    assert half["one-hot median"] == pytest.approx(0.225) and half["difference"] == pytest.approx(0.2)
    expected = sps.mannwhitneyu([0.4, 0.5, 0.45, 0.35], [0.1, 0.2, 0.3, 0.25], alternative="greater").pvalue
    assert half["p (greater, Mann–Whitney)"] == pytest.approx(expected) and expected < 0.05
    worse = tests.loc[(0.5, "glm-random"), "p (greater, Mann–Whitney)"]
    assert worse > 0.5  # one-sided: a control below one-hot is not significant
    assert np.isnan(tests.loc[(1.0, "glm"), "p (greater, Mann–Whitney)"])  # 2 replicates: no test


def test_data_fraction_curve_subsets_memmaps_lazily(tmp_path):
    rng = np.random.default_rng(1)
    array = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=(40, 3))
    array[:] = rng.normal(size=(40, 3))
    seen = []

    class Recorder(_MeanOfTraining):
        def fit(self, X, y, X_valid, y_valid):
            seen.append(type(X).__name__)
            return super().fit(X, y, X_valid, y_valid)

    X = {"train": array, "valid": rng.normal(size=(5, 3)), "test": rng.normal(size=(6, 3))}
    y = {s: np.asarray(X[s])[:, 0] for s in X}
    data = _task_data({s: len(X[s]) for s in X}, y)
    rows = elongation.data_fraction_curve(data, X, make_estimator=Recorder, fractions=(0.5,), replicates=1,
                                          model="m", role="one-hot", representation="full", progress=False)
    assert seen == ["RowSubset"] and len(rows) == 5 + 6
    assert isinstance(rows, pd.DataFrame) and set(rows.representation) == {"full@frac0.50"}
    # the fit on 20 of the 40 rows recovers y = x0 exactly
    np.testing.assert_allclose(rows.y_score, rows.y_true, atol=1e-4)


def test_data_fraction_curve_defaults_to_the_sequences():
    rng = np.random.default_rng(2)
    table = pd.DataFrame({"seq": ["".join(rng.choice(list("ACGT"), 12)) for _ in range(30)],
                          "split": ["train"] * 20 + ["valid"] * 4 + ["test"] * 6})
    table["gc"] = [(s.count("G") + s.count("C")) / 12 for s in table.seq]
    data = TaskData.from_table(table, target="gc", task="pol2_elongation", dataset="toy", kind="regression")
    received = []

    class GC:
        def __init__(self, replicate):
            pass

        def fit(self, X, y, X_valid, y_valid):
            received.append((type(X).__name__, len(X), len(X_valid)))
            return self

        def predict(self, X):
            return np.array([(s.count("G") + s.count("C")) / len(s) for s in X])

    rows = elongation.data_fraction_curve(data, make_estimator=GC, fractions=(0.25,), replicates=2, model="m",
                                          role="one-hot", representation="onehot", progress=False)
    assert received == [("list", 5, 4), ("list", 5, 4)]
    np.testing.assert_allclose(rows.y_score, rows.y_true, atol=1e-6)
    assert len(rows) == 2 * (4 + 6)
