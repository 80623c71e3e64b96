import numpy as np
import pytest
import torch
from torch import nn

from glmeval_utils.eval import metrics
from glmeval_utils.learn.train import TrainHistory, fit_torch, masked_loss, predict_torch, set_seed
from toy_models import one_torch_thread  # noqa: F401  (autouse fixture)


def linear_data(n=256, features=4, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features)).astype(np.float32)
    weights = rng.normal(size=features)
    return X, (X @ weights + noise * rng.normal(size=n)).astype(np.float32)


def test_early_stopping_restores_best_epoch():
    # Training pulls w from -2 towards +1; the validation target is 0, so the
    # validation loss falls until w crosses 0 and rises afterwards.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 1)).astype(np.float32)
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(-2.0)
    history = fit_torch(model, (x, x[:, 0]), (x, np.zeros(200)), lr=0.05, batch_size=50,
                        max_epochs=200, patience=5, lr_patience=100, progress=False)
    assert isinstance(history, TrainHistory)
    assert history.stopped_early
    assert 0 < history.best_epoch < history.n_epochs - 1
    assert history.valid_loss[history.best_epoch] == pytest.approx(min(history.valid_loss))
    assert history.valid_loss[-1] > history.best_loss  # it really got worse later
    restored = float(((predict_torch(model, x)[:, 0]) ** 2).mean())
    assert restored == pytest.approx(history.best_loss, rel=1e-5)
    assert abs(model.weight.item()) < 0.5
    frame = history.to_frame()
    assert list(frame.columns) == ["epoch", "train_loss", "valid_loss", "lr"]
    assert len(frame) == history.n_epochs


def mlp(features=4, outputs=1):
    return nn.Sequential(nn.Linear(features, 16), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(16, outputs))


def test_same_seed_gives_identical_runs_and_a_new_seed_differs():
    X, y = linear_data()

    def run(seed):
        set_seed(seed)
        model = mlp()
        history = fit_torch(model, (X[:200], y[:200]), (X[200:], y[200:]), max_epochs=4,
                            batch_size=32, seed=seed, progress=False)
        return history, predict_torch(model, X[200:])

    (h1, p1), (h2, p2), (h3, p3) = run(3), run(3), run(4)
    assert h1.train_loss == h2.train_loss and h1.valid_loss == h2.valid_loss
    np.testing.assert_array_equal(p1, p2)
    assert not np.array_equal(p1, p3)


def test_masked_loss_ignores_nan_targets():
    output = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[0.0, float("nan")], [1.0, 10.0]])
    total, count = masked_loss("regression")(output, target)
    assert int(count) == 3
    assert float(total) == pytest.approx(1.0 + 4.0 + 36.0)
    total, count = masked_loss("binary")(output, target)
    expected = nn.functional.binary_cross_entropy_with_logits(
        torch.tensor([1.0, 3.0, 4.0]), torch.tensor([0.0, 1.0, 10.0]), reduction="sum")
    assert float(total) == pytest.approx(float(expected))
    with pytest.raises(ValueError, match="task must be"):
        masked_loss("poisson")


def test_training_with_missing_targets_learns_the_observed_ones():
    X, y = linear_data(n=400)
    rng = np.random.default_rng(1)
    targets = np.stack([y, -y], axis=1)
    missing = rng.random(targets.shape) < 0.4
    targets[missing] = np.nan
    targets[np.all(missing, axis=1), 0] = y[np.all(missing, axis=1)]  # no all-missing rows needed
    model = nn.Linear(4, 2)
    history = fit_torch(model, (X[:300], targets[:300]), (X[300:], targets[300:]), lr=0.05,
                        max_epochs=12, batch_size=32, progress=False)
    assert np.all(np.isfinite(history.train_loss)) and np.all(np.isfinite(history.valid_loss))
    prediction = predict_torch(model, X[300:])
    assert prediction.shape == (100, 2)
    assert metrics.pearson(y[300:], prediction[:, 0]) > 0.95
    assert metrics.pearson(-y[300:], prediction[:, 1]) > 0.95


def test_memmap_float16_inputs_binary_logits_and_no_validation(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 5, 3)).astype(np.float16)
    path = tmp_path / "emb.npy"
    np.save(path, X)
    embeddings = np.load(path, mmap_mode="r")
    labels = (X[:, :, 0].astype(float).sum(1) > 0).astype(np.float32)
    model = nn.Sequential(nn.Flatten(), nn.Linear(15, 1))
    history = fit_torch(model, (embeddings, labels), None, task="binary", lr=0.05,
                        max_epochs=20, patience=20, progress=False)
    assert np.all(np.isnan(history.valid_loss)) and history.best_epoch >= 0
    logits = predict_torch(model, embeddings, batch_size=64)[:, 0]
    assert logits.dtype == np.float32
    assert logits.min() < 0 < 1 < logits.max()  # raw logits, not probabilities
    assert metrics.auroc(labels, logits) > 0.95


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.left, self.right = nn.Linear(2, 1), nn.Linear(2, 1)

    def forward(self, a, b):
        return self.left(a) + self.right(b)


def test_two_input_models_and_callable_loss():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(200, 2)).astype(np.float32)
    b = rng.normal(size=(200, 2)).astype(np.float32)
    y = a[:, 0] - b[:, 1]
    model = TwoInputs()
    history = fit_torch(model, ((a, b), y), ((a, b), y), task=lambda out, t: (out - t).abs().mean(),
                        lr=0.05, max_epochs=40, progress=False)
    assert history.best_loss < 0.1
    assert predict_torch(model, (a, b)).shape == (200, 1)
    with pytest.raises(ValueError, match="different numbers of rows"):
        fit_torch(model, ((a, b[:10]), y), None, max_epochs=1, progress=False)
    with pytest.raises(ValueError, match="200 rows but targets have 10"):
        fit_torch(model, ((a, b), y[:10]), None, max_epochs=1, progress=False)


class Frozen(nn.Module):
    """A model that cannot improve: its parameter gets no gradient."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x[:, :1] + 0.0 * self.unused


def test_learning_rate_drops_on_plateau_and_patience_stops():
    X, y = linear_data(n=64)
    history = fit_torch(Frozen(), (X, y), (X, y), lr=1e-3, max_epochs=20, patience=6,
                        lr_patience=1, lr_factor=0.2, progress=False)
    assert history.stopped_early and history.best_epoch == 0 and history.n_epochs == 7
    assert np.all(np.diff(history.lr) <= 0)
    assert history.lr[0] == pytest.approx(1e-3) and min(history.lr) < 1e-3
    assert history.seconds > 0


def test_diverging_training_raises_a_clear_error():
    X, y = linear_data(n=64)
    X[0, 0] = np.inf
    with pytest.raises(FloatingPointError, match="training loss is (nan|inf) at epoch 0"):
        fit_torch(nn.Linear(4, 1), (X, y), None, max_epochs=2, progress=False)
