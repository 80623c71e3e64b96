"""Tests for glmeval_utils.score.attribution with hand-weighted toy models."""

import numpy as np
import pytest
import torch
from scipy import stats

from glmeval_utils.eval.stats import bootstrap_mean_ci
from glmeval_utils.score import attribution as at
from glmeval_utils.sequences import ALPHABET, one_hot

LENGTH = 12


class LinearOneHot(torch.nn.Module):
    """f(x) = sum_{b,i} W[b, i] x[b, i] + bias: gradient W, ISM W[b,i] - W[ref,i]."""

    def __init__(self, weights: np.ndarray, bias: float = 0.5):
        super().__init__()
        self.weights = torch.nn.Parameter(torch.as_tensor(weights, dtype=torch.float32))
        self.bias = bias

    def forward(self, X):
        return (X * self.weights).sum(dim=(1, 2)) + self.bias


class MotifDetector(torch.nn.Module):
    """Max over positions of a match score to ``motif`` (1 for a perfect match)."""

    def __init__(self, motif: str):
        super().__init__()
        self.conv = torch.nn.Conv1d(4, 1, len(motif), bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.as_tensor(one_hot(motif))[None] / len(motif))

    def forward(self, X):
        score = self.conv(X).amax(dim=-1)  # (N, 1)
        return torch.relu(score - 0.7) / 0.3


class Negated(torch.nn.Module):
    """-f(x): turns an activating motif detector into a repressive one."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, X):
        return -self.model(X)


class CompositionPlusMotif(torch.nn.Module):
    """Base-composition score plus a small bonus for ``motif`` exactly at ``start``.

    The composition term makes the effect of inserting any motif vary a lot
    from background to background (it depends on the bases replaced), while a
    motif and its shuffle (same composition) differ by exactly ``bonus``.
    """

    def __init__(self, motif: str, start: int, bonus: float = 0.05):
        super().__init__()
        self.register_buffer("base_weights", torch.tensor([2.0, -1.0, 0.5, -1.5]))
        self.register_buffer("motif", torch.as_tensor(one_hot(motif)))
        self.start, self.bonus = start, bonus

    def forward(self, X):
        composition = torch.einsum("nbl,b->n", X, self.base_weights)
        window = X[:, :, self.start : self.start + self.motif.shape[1]]
        match = (window * self.motif).sum(dim=(1, 2)) == self.motif.shape[1]
        return composition + self.bonus * match.float()


class ToyGLM:
    """Deterministic per-base embedding: base identity, position and a k=3 context sum."""

    hidden_size = 6
    objective = "masked"
    name = "toy"

    def embed(self, seqs, *, layers=(-1,), pooling="full", strands="fwd", batch_size=32, progress=True):
        X = one_hot(list(seqs)).transpose(0, 2, 1)  # (N, L, 4)
        context = np.stack([np.roll(X, s, axis=1) for s in (-1, 0, 1)]).sum(0)[..., :2]  # (N, L, 2)
        full = np.concatenate([X, context], axis=-1).astype(np.float32)  # (N, L, 6)
        if pooling == "mean":
            full = full.mean(axis=1)
        return np.repeat(full[:, None], len(layers), axis=1)


class ToyProbe(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv1d(6, 3, 3, padding=1)
        self.head = torch.nn.Linear(3, 2)

    def forward(self, embedding):  # (N, L, H)
        hidden = torch.relu(self.conv(embedding.transpose(1, 2))).mean(-1)
        return self.head(hidden)


class ToyEstimator:
    """sklearn-style probe on mean-pooled embeddings (N, H)."""

    def __init__(self):
        self.coef = np.arange(6, dtype=np.float32) - 2.5

    def predict(self, features):
        return features @ self.coef


def random_one_hot(n, length=LENGTH, seed=0):
    rng = np.random.default_rng(seed)
    return one_hot(["".join(rng.choice(list(ALPHABET), length)) for _ in range(n)])


@pytest.fixture
def linear_model():
    weights = np.random.default_rng(1).normal(size=(4, LENGTH))
    return LinearOneHot(weights), weights


def test_saliency_of_linear_model_is_its_weights(linear_model):
    model, weights = linear_model
    X = random_one_hot(5)
    gradient = at.saliency(model, X, batch_size=2, device="cpu")
    assert gradient.shape == (5, 4, LENGTH)
    np.testing.assert_allclose(gradient, np.broadcast_to(weights, gradient.shape), atol=1e-5)
    gxi = at.grad_times_input(model, X, device="cpu")
    np.testing.assert_allclose(gxi, weights * X, atol=1e-5)


def test_ism_of_linear_model_is_weight_differences(linear_model):
    model, weights = linear_model
    X = random_one_hot(3, seed=2)
    delta = at.ism(model, X, batch_size=16, device="cpu", progress=False)
    reference = (weights[None] * X).sum(axis=1, keepdims=True)  # weight of the observed base
    np.testing.assert_allclose(delta, weights[None] - reference, atol=1e-5)
    assert np.allclose(delta[X.astype(bool)], 0)


def test_windowed_ism_equals_full_ism_inside_the_window():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv1d(4, 3, 5, padding=2), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(), torch.nn.Linear(3, 2)).eval()
    X = random_one_hot(3, length=20, seed=4)
    full = at.ism(model, X, target=1, device="cpu", progress=False)
    window = at.ism(model, X, start=5, end=12, target=1, batch_size=7, device="cpu", progress=False)
    assert window.shape == X.shape and window.dtype == np.float32
    np.testing.assert_allclose(window[:, :, 5:12], full[:, :, 5:12], atol=1e-5)
    assert not window[:, :, :5].any() and not window[:, :, 12:].any()
    assert not (window * X).any()  # zero at the observed base
    assert np.count_nonzero(window[:, :, 5:12]) == 3 * 3 * 7  # every substitution was predicted
    for start, end in ((10, 30), (-1, 5), (8, 8)):
        with pytest.raises(ValueError, match="window"):
            at.ism(model, X, start=start, end=end, device="cpu", progress=False)


def test_attribution_at_observed_mean_centres(linear_model):
    _, weights = linear_model
    X = random_one_hot(2)
    attr = np.broadcast_to(weights, X.shape)
    observed = at.attribution_at_observed(attr, X)
    expected = ((weights - weights.mean(0)) * X).sum(axis=1)
    np.testing.assert_allclose(observed, expected, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        at.attribution_at_observed(attr[:, :, :-1], X)


def test_wrapper_equals_wrapped_models(linear_model):
    model, _ = linear_model
    X = torch.from_numpy(random_one_hot(4))
    wrapped = at.OneHotPredictor(model)
    assert torch.allclose(wrapped(X)[:, 0], model(X))
    assert torch.allclose(at.OneHotPredictor(model, sigmoid=True)(X)[:, 0], torch.sigmoid(model(X)))
    both = at.OneHotPredictor(model, rc_average=True)(X)[:, 0]
    assert torch.allclose(both, 0.5 * (model(X) + model(X.flip(dims=(1, 2)))))

    glm, probe = ToyGLM(), ToyProbe()
    seqs = ["ACGTACGTAAGG", "TTTTCCCCGGGA", "GATTACAGATTA"]
    embedding = torch.from_numpy(glm.embed(seqs, layers=(-1,))[:, 0])
    expected = probe(embedding).detach()
    glm_wrapper = at.OneHotPredictor.from_glm(glm, probe, output=1)
    got = glm_wrapper(torch.from_numpy(one_hot(seqs)))
    assert got.shape == (3, 1)
    torch.testing.assert_close(got[:, 0], expected[:, 1])
    assert not glm_wrapper.differentiable
    with pytest.raises(TypeError, match="ism"):
        at.saliency(glm_wrapper, one_hot(seqs), device="cpu")

    estimator = ToyEstimator()
    mean_wrapper = at.OneHotPredictor.from_glm(glm, estimator, pooling="mean")
    features = glm.embed(seqs, pooling="mean")[:, 0]
    np.testing.assert_allclose(mean_wrapper(torch.from_numpy(one_hot(seqs)))[:, 0].numpy(),
                               estimator.predict(features), rtol=1e-6)


def test_ism_runs_through_glm_wrapper():
    glm, estimator = ToyGLM(), ToyEstimator()
    wrapper = at.OneHotPredictor.from_glm(glm, estimator, pooling="mean")
    seqs = ["ACGTACGTAAGG", "TTTTCCCCGGGA"]
    delta = at.ism(wrapper, seqs, device="cpu", progress=False)
    # brute force: mutate one base, re-predict
    base = wrapper(torch.from_numpy(one_hot(seqs)))[:, 0].numpy()
    mutant = list(seqs[1])
    mutant[4] = "A"
    changed = wrapper(torch.from_numpy(one_hot(["".join(mutant)])))[0, 0].item()
    assert delta[1, 0, 4] == pytest.approx(changed - base[1], abs=1e-5)
    assert delta.shape == (2, 4, len(seqs[0]))
    window = at.ism(wrapper, seqs, start=3, end=6, batch_size=5, device="cpu", progress=False)
    np.testing.assert_allclose(window[:, :, 3:6], delta[:, :, 3:6], atol=1e-5)
    assert not window[:, :, :3].any() and not window[:, :, 6:].any()


def test_embedding_gradient_norm_and_combination():
    probe = ToyProbe()
    embeddings = np.random.default_rng(0).normal(size=(3, LENGTH, 6)).astype(np.float32)
    norms = at.embedding_gradient_norm(probe, embeddings, target=1, batch_size=2, device="cpu")
    tensor = torch.from_numpy(embeddings).requires_grad_()
    probe(tensor)[:, 1].sum().backward()
    np.testing.assert_allclose(norms, tensor.grad.norm(dim=-1).numpy(), rtol=1e-5)
    combined = at.combined_attribution(np.ones_like(norms) * 2, norms)
    np.testing.assert_allclose(combined, 2 * norms)
    with pytest.raises(ValueError):
        at.combined_attribution(norms[:, :-1], norms)


class KnownMaskedLM:
    """Masked LM whose predicted distribution at position i is given."""

    objective = "masked"

    def __init__(self, probs):
        self.probs = probs

    def masked_log_probs(self, seq, positions, *, batch_size=32):
        return np.log(self.probs[positions])


def test_lm_entropy_attribution_is_max_minus_entropy():
    probs = np.array([[0.25] * 4, [1.0, 0, 0, 0], [0.5, 0.5, 0, 0], [0.7, 0.1, 0.1, 0.1]]) + 1e-12
    probs /= probs.sum(1, keepdims=True)
    entropy = -(probs * np.log2(probs)).sum(1)  # 2, 0, 1, ~1.357 bits
    attr = at.lm_entropy_attribution(KnownMaskedLM(probs), ["ACGT", "TTTT"], progress=False)
    np.testing.assert_allclose(attr[0], entropy.max() - entropy, atol=1e-5)
    np.testing.assert_allclose(attr[0], [0, 2, 1, 2 - entropy[3]], atol=1e-4)
    causal = KnownMaskedLM(probs)
    causal.objective = "causal"
    with pytest.raises(ValueError, match="masked"):
        at.lm_entropy_attribution(causal, ["ACGT"], progress=False)


def test_map_agreement_and_summary():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 30))
    assert np.allclose(at.map_agreement(a, -2 * a), 1.0)  # absolute values agree
    unrelated = at.map_agreement(a, rng.normal(size=(50, 30)))
    assert abs(unrelated.mean()) < 0.1
    constant = at.map_agreement(np.ones((1, 30)), a[:1])
    assert np.isnan(constant[0])
    low, high = bootstrap_mean_ci(np.r_[unrelated, np.nan])  # NaN (a constant map) is dropped
    assert low < unrelated.mean() < high and high - low < 0.2


def test_gia_detects_planted_motif_and_not_its_shuffle():
    motif = "GATTACA"
    model = at.OneHotPredictor(MotifDetector(motif))
    rng = np.random.default_rng(3)
    backgrounds = ["".join(rng.choice(list(ALPHABET), 40)) for _ in range(20)]
    effect = at.gia_motif_effect(model, backgrounds, motif, n_shuffles=3, seed=7, device="cpu")
    control_motif = at.shuffle_motif(motif, seed=1)
    assert sorted(control_motif) == sorted(motif) and control_motif != motif
    control = at.gia_motif_effect(model, backgrounds, control_motif, n_shuffles=3, seed=7, device="cpu")
    assert effect.effects.shape == (60,)
    assert effect.mean == pytest.approx(effect.effects.mean())
    assert effect.mean > 0.9 and bootstrap_mean_ci(effect.effects)[0] > 0.5
    assert not hasattr(effect, "ci_low")  # intervals come from eval.stats.bootstrap_mean_ci
    assert abs(control.mean) < 0.1
    test = at.gia_test(effect, control)
    # the three shuffles of a background are averaged first: 20 independent backgrounds are tested
    assert effect.per_background.shape == (20,)
    assert effect.per_background[0] == pytest.approx(effect.effects[:3].mean())
    assert test.p_value == pytest.approx(stats.wilcoxon(effect.per_background - control.per_background).pvalue)
    assert test.p_value < 1e-3 and test.mean_difference > 0.5
    assert test.n == 20 and "Wilcoxon" in test.test
    assert effect.starts == ((40 - 7) // 2,)

    pair = at.gia_pair_effect(model, one_hot(backgrounds), "GATT", "ACA", spacing=0, position=5,
                              seed=7, device="cpu")
    assert pair.starts == (5, 9) and pair.mean > 0.9
    with pytest.raises(ValueError, match="does not fit"):
        at.gia_motif_effect(model, backgrounds, motif, position=38, device="cpu")


def test_gia_test_finds_a_repressive_motif():
    motif = "GATTACA"
    model = at.OneHotPredictor(Negated(MotifDetector(motif)))
    rng = np.random.default_rng(3)
    backgrounds = ["".join(rng.choice(list(ALPHABET), 40)) for _ in range(10)]
    kwargs = dict(n_shuffles=2, seed=7, device="cpu")
    effect = at.gia_motif_effect(model, backgrounds, motif, **kwargs)
    control = at.gia_motif_effect(model, backgrounds, at.shuffle_motif(motif, seed=1), **kwargs)
    test = at.gia_test(effect, control)
    assert effect.mean < -0.9 and test.mean_difference < -0.5
    assert test.p_value < 0.05


def test_gia_test_pairs_motif_and_control_on_each_background():
    motif, start = "GATTACA", 16
    model = at.OneHotPredictor(CompositionPlusMotif(motif, start, bonus=0.05))
    rng = np.random.default_rng(0)
    backgrounds = ["".join(rng.choice(list(ALPHABET), 40)) for _ in range(20)]
    kwargs = dict(position=start, seed=5, device="cpu")
    effect = at.gia_motif_effect(model, backgrounds, motif, **kwargs)
    control = at.gia_motif_effect(model, backgrounds, at.shuffle_motif(motif, seed=2), **kwargs)
    # large background-to-background variation of the effects, a small consistent motif effect
    assert effect.effects.std() > 1.0
    np.testing.assert_allclose(effect.effects - control.effects, 0.05, atol=1e-5)
    paired = at.gia_test(effect, control)
    unpaired = stats.mannwhitneyu(effect.effects, control.effects, alternative="two-sided")
    assert paired.p_value < 1e-3 and paired.mean_difference == pytest.approx(0.05, abs=1e-5)
    assert unpaired.pvalue > 0.5


def test_gia_test_needs_paired_results():
    def result(effects):
        effects = np.asarray(effects, dtype=float)
        return at.GIAResult("ACGT", (0,), effects, effects.mean())

    with pytest.raises(ValueError, match="same backgrounds"):
        at.gia_test(result([0.1, 0.2, 0.3]), result([0.1, 0.2]))
    same = at.gia_test(result([0.1, 0.2, 0.3]), result([0.1, 0.2, 0.3]))  # e.g. a shuffle equal to the motif
    assert same.p_value == 1.0 and same.mean_difference == 0.0 and same.n == 3


def test_top_sequences_orders_and_masks():
    scores = np.array([0.1, 0.9, 0.5, np.nan, 0.9, 0.3])
    assert list(at.top_sequences(scores, 3)) == [1, 4, 2]  # ties keep input order, NaN never chosen
    assert list(at.top_sequences(scores, 10)) == [1, 4, 2, 5, 0]
    mask = np.array([1, 0, 1, 1, 0, 1], dtype=bool)
    assert list(at.top_sequences(scores, 10, mask=mask)) == [2, 5, 0]
    with pytest.raises(ValueError, match="1-D"):
        at.top_sequences(np.zeros((2, 2)), 1)
    with pytest.raises(ValueError, match="mask"):
        at.top_sequences(scores, 1, mask=[True])
    with pytest.raises(ValueError, match="at least 1"):
        at.top_sequences(scores, 0)


def test_predictors_stay_in_inference_mode_across_tangermeme_calls():
    """tangermeme restores a module's mode after each call: a wrapper created in training mode switched
    the wrapped CNN's dropout and batch statistics back on for every later prediction."""
    from glmeval_utils.learn.baselines import BinaryCNN

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    X = one_hot(["".join(rng.choice(list("ACGT"), 60)) for _ in range(3)]).astype(np.float32)
    net = BinaryCNN(60, 1).eval()
    predictor = at.OneHotPredictor(net)
    at.saliency(predictor, X)
    assert not predictor.training and not net.training
    with torch.no_grad():
        reference = predictor(torch.from_numpy(X)).numpy()[:, 0]
        expected = np.zeros_like(X)
        for i in range(10, 20):
            for b in range(4):
                mutant = X.copy()
                mutant[:, :, i] = 0
                mutant[:, b, i] = 1
                expected[:, b, i] = predictor(torch.from_numpy(mutant)).numpy()[:, 0] - reference
    np.testing.assert_allclose(at.ism(predictor, X, start=10, end=20, progress=False), expected, atol=1e-5)
    assert not net.training
