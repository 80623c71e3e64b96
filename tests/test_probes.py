import tracemalloc

import numpy as np
import pytest
import torch
from sklearn.base import clone

from glmeval_utils.eval import metrics
from glmeval_utils.learn.probes import CNNProbe, LinearProbe, MLPProbe, PCAWhitening, RowSubset, holdout_split, variance_spectrum
from toy_models import one_torch_thread  # noqa: F401  (autouse fixture)


def planted_linear(n=300, hidden=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, hidden)).astype(np.float32)
    return X, X @ rng.normal(size=hidden) + 0.1 * rng.normal(size=n)


def planted_positions(n=300, length=24, hidden=6, seed=0):
    """Full embeddings (N, L, H) whose target is feature 0 summed over a window."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, length, hidden)).astype(np.float16)
    return X, X[:, 8:14, 0].astype(float).sum(axis=1)


def test_linear_probe_recovers_a_planted_linear_signal():
    X, y = planted_linear()
    probe = LinearProbe().fit(X[:200], y[:200])
    assert probe.score(X[200:], y[200:]) > 0.95
    assert probe.predict(X[200:]).shape == (100,)


def test_logistic_probe_returns_continuous_scores():
    X, y = planted_linear()
    labels = (y > np.median(y)).astype(float)
    probe = LinearProbe("binary").fit(X[:200], labels[:200])
    scores = probe.predict_proba(X[200:])
    assert len(np.unique(scores)) > 50  # scores, not hard 0/1 labels
    assert np.all((scores >= 0) & (scores <= 1))
    assert probe.score(X[200:], labels[200:]) > 0.9
    with pytest.raises(ValueError, match="task='binary'"):
        LinearProbe().fit(X, y).predict_proba(X)


def test_linear_probe_multi_output_ignores_missing_targets():
    X, y = planted_linear()
    targets = np.stack([y, 2 * y], axis=1)
    targets[::3, 1] = np.nan
    probe = LinearProbe().fit(X[:200], targets[:200])
    assert probe.predict(X[200:]).shape == (100, 2)
    assert probe.score(X[200:], targets[200:]) > 0.95
    with pytest.raises(ValueError, match=r"pooled embeddings \(N, H\)"):
        LinearProbe().fit(X[:, :, None], y)


def test_mlp_probe_learns_and_is_deterministic():
    X, y = planted_linear(n=400)
    settings = dict(lr=1e-3, max_epochs=8, batch_size=32, progress=False, random_state=1)
    first = MLPProbe(**settings).fit(X[:300], y[:300], X[300:350], y[300:350])
    second = MLPProbe(**settings).fit(X[:300], y[:300], X[300:350], y[300:350])
    assert first.score(X[350:], y[350:]) > 0.7
    np.testing.assert_array_equal(first.predict(X[350:]), second.predict(X[350:]))
    assert first.history_.n_epochs <= 8 and first.n_outputs_ == 1
    assert first.model_.training is False  # left in eval mode


def anisotropic_binary(n=1200, hidden=32, seed=0):
    """Pooled-embedding look-alike: three loud nuisance directions, the label in a quiet one."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(hidden, hidden)))[0]
    scales = np.full(hidden, 0.05)
    scales[:3] = [10.0, 6.0, 4.0]
    latent = rng.normal(size=(n, hidden))
    labels = (latent[:, 5] + 0.3 * rng.normal(size=n) > 0).astype(float)
    return ((latent * scales) @ basis.T + 0.5).astype(np.float32), labels


def test_pca_whitening_gives_unit_covariance_and_drops_degenerate_directions():
    X, _ = anisotropic_binary(n=500)
    X = np.concatenate([X, X[:, :2].sum(axis=1, keepdims=True)], axis=1)  # one dependent column
    whitening = PCAWhitening.from_data(RowSubset(X, np.arange(len(X))), chunk_rows=128)
    assert whitening.n_components == X.shape[1] - 1
    with torch.no_grad():
        Z = whitening(torch.as_tensor(X)).numpy().astype(float)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(Z.shape[1]), atol=1e-3)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-3)
    with pytest.raises(ValueError, match="constant"):
        PCAWhitening.from_data(np.ones((10, 4), dtype=np.float32))


def test_variance_spectrum_is_sorted_and_sums_to_one():
    X, _ = anisotropic_binary(n=500)
    shares = variance_spectrum(X)
    assert shares.shape == (32,) and np.isclose(shares.sum(), 1.0)
    assert np.all(np.diff(shares) <= 1e-12)
    assert shares[:3].sum() > 0.99  # the three loud directions


def test_whitening_lets_the_mlp_reach_a_signal_in_a_low_variance_direction():
    X, y = anisotropic_binary()
    settings = dict(task="binary", lr=1e-3, max_epochs=10, patience=10, width_factor=0.25,
                    progress=False, random_state=0)
    fit = dict(X=X[:800], y=y[:800], X_valid=X[800:1000], y_valid=y[800:1000])
    whitened = MLPProbe(**settings).fit(**fit)
    raw = MLPProbe(whiten=False, **settings).fit(**fit)
    assert whitened.score(X[1000:], y[1000:]) > 0.9
    assert raw.score(X[1000:], y[1000:]) < 0.7


def test_cnn_probe_learns_from_a_float16_memmap(tmp_path):
    X, y = planted_positions(n=400)
    np.save(tmp_path / "emb.npy", X)
    embeddings = np.load(tmp_path / "emb.npy", mmap_mode="r")
    probe = CNNProbe(reduce_dim=16, width_factor=0.25, lr=2e-3, batch_size=32, max_epochs=12,
                     progress=False)
    probe.fit(embeddings[:300], y[:300])  # no validation data: a seeded 10 % hold-out
    assert probe.score(embeddings[300:], y[300:]) > 0.6
    assert probe.history_.n_epochs >= 1


def test_pca_whitening_stays_fp32_inside_a_bf16_step():
    rng = np.random.default_rng(4)
    X = (rng.normal(size=(500, 8)) * np.logspace(0, -3, 8)).astype(np.float32)  # variances down to 1e-6
    whitening = PCAWhitening.from_data(X)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = whitening(torch.from_numpy(X))
    assert inside.dtype == torch.float32
    torch.testing.assert_close(inside, whitening(torch.from_numpy(X)))
    np.testing.assert_allclose(np.cov(inside.numpy(), rowvar=False), np.eye(whitening.n_components), atol=1e-3)


def test_the_row_wise_reduction_equals_batch_norm_and_a_1x1_convolution():
    """The probes' input layers, run as row-wise BatchNorm1d + Linear, compute the reference's
    channels-first BatchNorm1d + 1x1 Conv1d: same outputs, same running statistics."""
    from glmeval_utils.learn.probes import RepCNN

    torch.manual_seed(0)
    probe = RepCNN(6, 24, reduce_dim=3, width_factor=0.25).train()
    norm = torch.nn.BatchNorm1d(6).train()
    conv = torch.nn.Conv1d(6, 3, 1)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(6) + 0.5)
        norm.bias.copy_(torch.randn(6))
        probe.input_norm.load_state_dict(norm.state_dict())
        conv.weight.copy_(probe.reduce.weight[:, :, None])
        conv.bias.copy_(probe.reduce.bias)
    x = 3 * torch.randn(5, 24, 6) + 1  # (B, L, H), channels last
    reference = conv(norm(x.transpose(1, 2)))
    torch.testing.assert_close(probe._prepare(x), reference, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(probe.input_norm.running_mean, norm.running_mean)
    torch.testing.assert_close(probe.input_norm.running_var, norm.running_var)


def test_chip_cnn_probe_binary():
    X, y = planted_positions(n=400, seed=2)
    labels = (y > 0).astype(float)
    probe = CNNProbe("binary", architecture="chip_cnn", reduce_dim=16, batch_size=32,
                     max_epochs=8, progress=False)
    probe.fit(X[:300], labels[:300])
    scores = probe.predict_proba(X[300:])
    assert scores.shape == (100,) and np.all((scores > 0) & (scores < 1))
    assert metrics.auroc(labels[300:], scores) > 0.7
    with pytest.raises(ValueError, match="architecture must be one of"):
        CNNProbe(architecture="transformer").fit(X, y)
    with pytest.raises(ValueError, match=r"per-position embeddings \(N, L, H\)"):
        CNNProbe(max_epochs=1).fit(X[:, 0], y)


@pytest.mark.parametrize("architecture", ["rep_cnn", "chip_cnn"])
def test_cnn_probe_reads_token_rows_with_zero_padding(architecture):
    # NT at 230 nt: 40 token rows (38 6-mers + 2 single bases); an N adds tokens, so shorter rows are zero-padded
    X, y = planted_positions(n=400, length=40, seed=3)
    X[::7, 36:] = 0
    probe = CNNProbe(architecture=architecture, reduce_dim=16, width_factor=0.25, lr=2e-3, batch_size=32,
                     max_epochs=12, progress=False)
    probe.fit(X[:300], y[:300])
    assert probe.length_ == 40 and probe.predict(X[300:]).shape == (100,)
    assert probe.score(X[300:], y[300:]) > 0.5
    with pytest.raises(ValueError, match="fitted on 40 positions per example; got 230"):
        probe.predict(np.zeros((2, 230, 6), dtype=np.float16))


def test_sklearn_parameter_protocol():
    probe = CNNProbe("binary", width_factor=0.5, random_state=7)
    assert probe.get_params()["width_factor"] == 0.5
    copy = clone(probe).set_params(width_factor=2.0)
    assert copy.width_factor == 2.0 and copy.random_state == 7 and copy.task == "binary"
    with pytest.raises(RuntimeError, match="not fitted"):
        MLPProbe().predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="task must be"):
        MLPProbe(task="ranking").fit(np.zeros((10, 3)), np.zeros(10))


def test_holdout_split_and_lazy_row_subset():
    train, valid = holdout_split(100, 0.1, seed=0)
    assert len(valid) == 10 and len(np.intersect1d(train, valid)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, valid])), np.arange(100))
    assert np.array_equal(holdout_split(100, 0.1, 0)[1], valid)
    data = np.arange(100 * 3).reshape(100, 3)
    view = RowSubset(data, valid)
    assert view.shape == (10, 3)
    np.testing.assert_array_equal(view[np.array([0, 2])], data[valid[[0, 2]]])


def peak_bytes_fitting(path):
    """Peak traced (numpy/python) allocation while fitting and predicting from a memmap."""
    embeddings = np.lib.format.open_memmap(path, mode="r")
    y = np.asarray(embeddings[:, 0, 0], dtype=float)
    probe = CNNProbe(reduce_dim=4, width_factor=0.1, batch_size=32, max_epochs=1,
                     progress=False)
    tracemalloc.start()
    probe.fit(embeddings, y)
    probe.predict(embeddings)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_cnn_probe_memory_does_not_grow_with_n(tmp_path):
    length, hidden = 20, 32
    peaks = {}
    for n_rows in (200, 2000):
        path = tmp_path / f"emb{n_rows}.npy"
        array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16,
                                          shape=(n_rows, length, hidden))
        array[:] = np.random.default_rng(0).normal(size=array.shape)
        array.flush()
        del array
    # a first fit imports and initialises lazily loaded torch machinery; keep it untraced
    peak_bytes_fitting(tmp_path / "emb200.npy")
    for n_rows in (200, 2000):
        peaks[n_rows] = peak_bytes_fitting(tmp_path / f"emb{n_rows}.npy")
    whole_array_float32 = 2000 * length * hidden * 4  # what loading everything would cost
    assert peaks[2000] - peaks[200] < 0.1 * whole_array_float32
