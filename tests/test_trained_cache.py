"""The trained-model cache: a second identical fit loads instead of training, any change retrains."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glmeval_utils.learn import probes, trained
from glmeval_utils.learn.baselines import OneHotEstimator
from glmeval_utils.learn.probes import CNNProbe, MLPProbe


@pytest.fixture
def cache_on(tmp_path, monkeypatch):
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("GLMEVAL_TRAINED_CACHE", "on")
    trainings = []
    original = probes.fit_torch

    def counted(*args, **kwargs):
        trainings.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(probes, "fit_torch", counted)
    return trainings


def pooled(seed=0, n=120, h=6):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, h)).astype(np.float32)
    y = X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=n)
    return X[:90], y[:90], X[90:], y[90:]


def fit(estimator, data):
    return estimator.fit(*data)


def test_a_second_identical_fit_loads_the_first(cache_on):
    data = pooled()
    first = fit(MLPProbe("regression", max_epochs=4, progress=False), data)
    second = fit(MLPProbe("regression", max_epochs=4, progress=False, device="cpu"), data)  # device: not in the key
    assert len(cache_on) == 1
    np.testing.assert_array_equal(first.predict(data[2]), second.predict(data[2]))
    assert second.history_ == first.history_ and second.n_outputs_ == 1


@pytest.mark.parametrize("change", ["data", "targets", "valid", "parameter", "threads", "bf16"])
def test_any_input_of_the_result_changes_the_key(cache_on, change, monkeypatch):
    data = pooled()
    fit(MLPProbe("regression", max_epochs=3, progress=False), data)
    estimator = MLPProbe("regression", max_epochs=3, progress=False)
    X, y, X_valid, y_valid = (array.copy() for array in data)
    if change == "data":
        X[5, 2] += 1e-3
    elif change == "targets":
        y[7] += 1e-3
    elif change == "valid":
        X_valid[0, 0] += 1e-3
    elif change == "parameter":
        estimator.set_params(lr=2e-4)
    elif change == "bf16":
        from glmeval_utils import devices

        monkeypatch.setenv(devices.CPU_BF16_VARIABLE, "on")
        monkeypatch.setattr(devices, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    threads = torch.get_num_threads()
    if change == "threads":
        torch.set_num_threads(1 if threads != 1 else 2)
    try:
        estimator.fit(X, y, X_valid, y_valid)
    finally:
        torch.set_num_threads(threads)
    assert len(cache_on) == 2


def test_a_one_hot_baseline_and_a_cnn_probe_round_trip(cache_on):
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGT"), size=24)) for _ in range(60)]
    y = np.array([s.count("G") for s in seqs], dtype=np.float32)
    kwargs = dict(max_epochs=2, width_factor=0.25, progress=False)
    first = OneHotEstimator("cnn", "regression", **kwargs).fit(seqs[:40], y[:40], seqs[40:], y[40:])
    second = OneHotEstimator("cnn", "regression", **kwargs).fit(seqs[:40], y[:40], seqs[40:], y[40:])
    np.testing.assert_array_equal(first.predict(seqs[40:]), second.predict(seqs[40:]))
    full = rng.normal(size=(60, 24, 8)).astype(np.float16)
    probe = dict(reduce_dim=4, width_factor=0.25, max_epochs=2, progress=False)
    first = CNNProbe("regression", **probe).fit(full[:40], y[:40], full[40:], y[40:])
    second = CNNProbe("regression", **probe).fit(full[:40], y[:40], full[40:], y[40:])
    np.testing.assert_array_equal(first.predict(full[40:]), second.predict(full[40:]))
    assert second.length_ == 24 and len(cache_on) == 2


def test_a_damaged_entry_is_named_and_retrained(cache_on):
    data = pooled()
    first = fit(MLPProbe("regression", max_epochs=3, progress=False), data)
    (entry,) = trained.trained_dir().iterdir()
    (entry / trained.STATE_FILE).write_bytes(b"not a state dict")
    with pytest.warns(RuntimeWarning, match=f"{entry}.*damaged"):
        again = fit(MLPProbe("regression", max_epochs=3, progress=False), data)
    assert len(cache_on) == 2
    np.testing.assert_allclose(again.predict(data[2]), first.predict(data[2]), rtol=1e-6)
    assert (entry / trained.FIT_FILE).exists()  # stored again


def test_off_trains_every_time(cache_on, monkeypatch):
    monkeypatch.setenv("GLMEVAL_TRAINED_CACHE", "off")
    data = pooled()
    fit(MLPProbe("regression", max_epochs=2, progress=False), data)
    fit(MLPProbe("regression", max_epochs=2, progress=False), data)
    assert len(cache_on) == 2 and not trained.trained_dir().exists()


def test_a_fit_without_validation_data_is_cached_on_its_held_out_rows(cache_on):
    X, y, _, _ = pooled()
    first = MLPProbe("regression", max_epochs=2, progress=False).fit(X, y)
    second = MLPProbe("regression", max_epochs=2, progress=False).fit(X, y)
    other_seed = MLPProbe("regression", max_epochs=2, progress=False, random_state=1).fit(X, y)
    assert len(cache_on) == 2 and second.history_ == first.history_ and other_seed.history_ != first.history_


def test_stored_weights_of_another_shape_leave_the_seeded_start(cache_on):
    data = pooled()
    fresh = MLPProbe("regression", max_epochs=3, progress=False).fit(*data)
    (entry,) = trained.trained_dir().iterdir()
    state = torch.load(entry / trained.STATE_FILE, weights_only=True)
    name = next(iter(state))
    state[name] = torch.zeros(3)  # one tensor of the wrong shape; the others would load
    torch.save(state, entry / trained.STATE_FILE)
    with pytest.warns(RuntimeWarning, match="damaged"):
        again = MLPProbe("regression", max_epochs=3, progress=False).fit(*data)
    np.testing.assert_allclose(again.predict(data[2]), fresh.predict(data[2]), rtol=1e-6)
