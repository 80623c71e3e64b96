import numpy as np
import pandas as pd
import pytest
import torch

from glmeval_utils.eval import metrics
from glmeval_utils.learn.baselines import ARCHITECTURES, MPRAnn, OneHotCNN, OneHotEstimator, composition_features
from glmeval_utils.learn.probes import LinearProbe, RepCNN
from glmeval_utils.sequences import one_hot, reverse_complement
from toy_models import one_torch_thread  # noqa: F401  (autouse fixture)


def random_sequences(n, length, rng, probabilities=None):
    letters = rng.choice(list("ACGT"), size=(n, length), p=probabilities)
    return ["".join(row) for row in letters]


def planted_motif_task(n=480, length=40, motif="GGGACTTTCC", seed=0):
    """Half the sequences carry a motif at a random position; target = 1 with it, 0 without."""
    rng = np.random.default_rng(seed)
    seqs = random_sequences(n, length, rng)
    carrier = rng.random(n) < 0.5
    for row in np.flatnonzero(carrier):
        start = rng.integers(0, length - len(motif))
        seqs[row] = seqs[row][:start] + motif + seqs[row][start + len(motif):]
    return seqs, carrier.astype(float)


@pytest.mark.parametrize("length", [230, 101, 173, 200, 400])
@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_output_shapes(architecture, length):
    x = torch.zeros(2, 4, length)
    for n_outputs in (1, 3):
        model = ARCHITECTURES[architecture](length, n_outputs).eval()
        with torch.inference_mode():
            assert tuple(model(x).shape) == (2, n_outputs)


def test_one_hot_cnn_shares_the_probe_trunk():
    model = OneHotCNN(50)
    assert isinstance(model, RepCNN)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) and m.num_features == 4
                   for m in model.modules())  # no input norm on one-hot
    with pytest.raises(ValueError, match="at least 21 nt"):
        MPRAnn(20)


def test_one_hot_cnn_learns_a_planted_motif():
    seqs, target = planted_motif_task()
    noisy = target + 0.1 * np.random.default_rng(1).normal(size=len(target))
    model = OneHotEstimator("cnn", lr=2e-3, batch_size=32, max_epochs=6, progress=False)
    model.fit(seqs[:360], noisy[:360], seqs[360:400], noisy[360:400])
    assert model.score(seqs[400:], target[400:]) > 0.6
    assert model.model_.training is False and model.history_.n_epochs <= 6


def test_binary_cnn_with_reverse_complement_augmentation_is_strand_symmetric():
    seqs, labels = planted_motif_task(seed=2)
    model = OneHotEstimator("binary_cnn", "binary", batch_size=32, max_epochs=8,
                            rc_augment=True, progress=False)
    model.fit(one_hot(seqs[:400]), labels[:400])
    scores = model.predict_proba(seqs[400:])
    np.testing.assert_allclose(scores, model.predict_proba(reverse_complement(seqs[400:])),
                               rtol=1e-5, atol=1e-6)
    assert metrics.auroc(labels[400:], scores) > 0.7


def test_estimator_input_checks():
    model = OneHotEstimator(max_epochs=1, progress=False)
    seqs = pd.Series(["ACGTACGTACGTACGTACGTAC"] * 20)
    assert model._prepare_inputs(seqs).shape == (20, 4, 22)
    assert model._prepare_inputs(np.array(seqs)).shape == (20, 4, 22)
    with pytest.raises(TypeError, match="row 1 is int"):
        model.fit(["ACGT", 7], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"\(N, 4, L\) channels first"):
        model.fit(np.zeros((10, 30, 4)), np.zeros(10))
    with pytest.raises(ValueError, match="share one length"):
        model.fit(["ACGT", "ACG"], [0.0, 1.0])
    with pytest.raises(ValueError, match="architecture must be one of"):
        OneHotEstimator("lstm", max_epochs=1, progress=False).fit(["ACGT" * 10] * 20, np.zeros(20))


def test_composition_features():
    mono = composition_features(["AACG", "TTNN"], k=1)
    np.testing.assert_allclose(mono, [[0.5, 0.25, 0.25, 0.0], [0.0, 0.0, 0.0, 1.0]])
    di = composition_features(["AACG", "GNAT"], k=2)
    assert di.shape == (2, 16)
    expected = np.zeros(16)
    expected[[0, 1, 6]] = 1 / 3  # AA, AC, CG
    np.testing.assert_allclose(di[0], expected)
    np.testing.assert_allclose(di[1], np.eye(16)[3])  # AT only: pairs touching N are skipped
    with pytest.raises(ValueError, match="k must be 1 or 2"):
        composition_features(["ACGT"], k=3)


def test_composition_baseline_separates_gc_rich_sequences():
    rng = np.random.default_rng(3)
    gc_rich = random_sequences(100, 60, rng, [0.2, 0.3, 0.3, 0.2])
    at_rich = random_sequences(100, 60, rng, [0.3, 0.2, 0.2, 0.3])
    features = composition_features(gc_rich + at_rich, k=2)
    labels = np.repeat([1.0, 0.0], 100)
    order = rng.permutation(200)
    probe = LinearProbe("binary").fit(features[order[:140]], labels[order[:140]])
    assert probe.score(features[order[140:]], labels[order[140:]]) > 0.9


def test_width_factor_shrinks_resnet_and_mprann():
    from glmeval_utils.learn.baselines import MPRAnn, ResNet
    for cls in (ResNet, MPRAnn):
        full = sum(p.numel() for p in cls(230).parameters())
        small = sum(p.numel() for p in cls(230, width_factor=0.25).parameters())
        assert small < full / 4
        assert cls(230, width_factor=0.25)(torch.zeros(2, 4, 230)).shape == (2, 1)


def test_estimator_passes_its_width_factor_to_the_network():
    from glmeval_utils.learn.baselines import OneHotEstimator
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(40)]
    y = rng.normal(size=40)
    sizes = {}
    for width in (1.0, 0.25):
        estimator = OneHotEstimator("resnet", max_epochs=1, width_factor=width, progress=False).fit(seqs, y)
        sizes[width] = sum(p.numel() for p in estimator.model_.parameters())
    assert sizes[0.25] < sizes[1.0] / 4



@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_bf16_training_steps_where_the_cpu_has_it(architecture, monkeypatch):
    """Training steps autocast to bf16 only on a CPU with native bf16; validation and predictions stay fp32."""
    from glmeval_utils import devices
    from glmeval_utils.learn import train

    monkeypatch.setenv(devices.CPU_BF16_VARIABLE, "on")
    assert train.training_autocast_dtype(torch.device("cuda")) is None  # GPU training stays fp32
    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACGT"), size=101)) for _ in range(48)]
    kind = "binary" if architecture == "binary_cnn" else "regression"
    y = rng.integers(0, 2, size=48).astype(float)
    forward, seen = train._forward, []

    def recording(model, inputs):
        output = forward(model, inputs)
        seen.append((model.training, train.autocast_dtype(inputs[0].device), output.dtype))
        return output

    monkeypatch.setattr(train, "_forward", recording)
    for flags, expected in (({"avx512f", "avx512_bf16"}, torch.bfloat16), ({"avx512f"}, None)):
        monkeypatch.setattr(devices, "_cpu_flags", lambda: frozenset(flags))
        seen.clear()
        estimator = OneHotEstimator(architecture, kind, width_factor=0.25, max_epochs=1, progress=False)
        scores = estimator.fit(seqs[:32], y[:32], seqs[32:], y[32:]).predict(seqs[32:])
        assert {dtype for training, dtype, _ in seen if training} == {expected}
        assert {dtype for training, dtype, _ in seen if not training} == {None}  # validation and predictions
        assert {output for _, _, output in seen} == {torch.float32}
        assert scores.dtype == np.float32 and np.isfinite(scores).all()
