"""Tests for glmeval_utils.elongation (model_2CNN and the data-fraction protocol)."""

import numpy as np
import pandas as pd
import pytest
import torch

from glmeval_utils import elongation
from glmeval_utils.data.simulate import simulate_elongation


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
    table = simulate_elongation(300, length=48, noise=0.1, random_state=0)
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


def test_data_fraction_curve_rows_and_learning_curve_table():
    rng = np.random.default_rng(0)
    X = {s: rng.normal(size=(n, 3)) for s, n in (("train", 50), ("valid", 10), ("test", 20))}
    y = {s: 2 * X[s][:, 0] + rng.normal(scale=0.5, size=len(X[s])) for s in X}
    _MeanOfTraining.sizes = []
    rows = elongation.data_fraction_curve(X, y, make_estimator=_MeanOfTraining, fractions=(0.2, 1.0),
                                          replicates=3, dataset="toy", model="m", representation="onehot",
                                          progress=False)
    assert _MeanOfTraining.sizes == [10, 10, 10, 50, 50, 50]
    assert set(rows.representation) == {"onehot@frac0.20", "onehot@frac1.00"}
    assert sorted(rows.seed.unique()) == [0, 1, 2] and len(rows) == 6 * 20
    assert set(rows.task) == {"pol2_elongation"} and set(rows.probe) == {"model_2cnn"}
    table = elongation.learning_curve_table(rows)
    assert list(table.fraction) == [0.2, 1.0] and list(table.n) == [3, 3]
    assert (table["mean"] > 0.5).all()
    full = table[table.fraction == 1.0].iloc[0]
    assert full["sd"] < 1e-9  # every replicate at fraction 1 sees the same rows
    assert len(elongation.replicate_metrics(rows)) == 6
    with pytest.raises(ValueError, match="metric"):
        elongation.learning_curve_table(rows, "auroc")
    with pytest.raises(ValueError, match="splits"):
        elongation.data_fraction_curve({"train": X["train"]}, y, make_estimator=_MeanOfTraining,
                                       dataset="toy", model="m", representation="onehot")


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
    rows = elongation.data_fraction_curve(X, y, make_estimator=Recorder, fractions=(0.5,), replicates=1,
                                          dataset="toy", model="m", representation="full", progress=False)
    assert seen == ["RowSubset"] and len(rows) == 6
    assert isinstance(rows, pd.DataFrame)
