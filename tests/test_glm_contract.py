"""The gLM contract's token rows, fp32 likelihood scoring and exact k-mer masked LLR, on tiny look-alikes."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from toy_glms import random_dna, save_dnabert2_like, save_nt_like, save_teaching
from toy_models import one_torch_thread  # noqa: F401  (autouse fixture)

from glmeval_utils import embeddings
from glmeval_utils.models import load_glm
from glmeval_utils.models.base import GLM
from glmeval_utils.models.tokenization import nt_vocabulary

BASES = "ACGT"


@pytest.fixture(scope="module")
def glms(tmp_path_factory):
    """NT v1 (6-mers), DNABERT-2 (BPE) and teaching (one token per base) look-alikes, loaded through the registry."""
    root = tmp_path_factory.mktemp("contract")
    yield {
        "nt": load_glm("nt-v1-2.5b-1000g", path=save_nt_like(root / "nt"), device="cpu"),
        "bpe": load_glm("dnabert2", path=save_dnabert2_like(root / "bpe"), device="cpu", trust_remote_code=True),
        "mlm": load_glm("teaching-mlm", path=save_teaching(root / "mlm", "mlm"), device="cpu"),
        "clm": load_glm("teaching-clm", path=save_teaching(root / "clm", "clm"), device="cpu"),
    }


def with_n(seqs, index, position):
    seqs = list(seqs)
    seqs[index] = seqs[index][:position] + "N" + seqs[index][position + 1:]
    return seqs


# ------------------------------------------------------------------ token rows
def test_nt_token_rows_are_the_tokens_not_their_bases(glms):
    nt = glms["nt"]
    seqs = with_n(random_dna(3, 230, seed=1), 2, 100)  # the N restarts the 6-mer frame: more tokens
    counts = nt.token_counts(seqs)
    assert counts.tolist() == [40, 40, 45]  # 38 6-mers + 2 bases; 16+4, N, 21+3
    tokens = nt.embed(seqs, layers=(0, -1), pooling="tokens", progress=False)
    full = nt.embed(seqs, layers=(0, -1), pooling="full", progress=False)
    assert tokens.shape == (3, 2, 45, nt.hidden_size) and full.shape == (3, 2, 230, nt.hidden_size)
    for row, spans in enumerate(nt.tokenize(seqs).token_spans):
        starts = spans[spans[:, 0] >= 0, 0]
        np.testing.assert_allclose(tokens[row, :, :counts[row]], full[row][:, starts], atol=1e-6)
        assert not tokens[row, :, counts[row]:].any()  # zero padding


@pytest.mark.parametrize("model", ["nt", "bpe", "mlm"])
def test_mean_of_token_rows_is_exactly_mean_pooling(glms, model):
    glm = glms[model]
    seqs = with_n(random_dna(5, (20, 50), seed=2), 1, 9)
    tokens = glm.embed(seqs, layers="all", pooling="tokens", batch_size=2, progress=False)
    mean = glm.embed(seqs, layers="all", pooling="mean", batch_size=2, progress=False)
    counts = glm.token_counts(seqs)
    np.testing.assert_allclose(tokens.sum(axis=2) / counts[:, None, None], mean, atol=1e-6, rtol=0)
    if model != "mlm":  # a k-mer/BPE token weighs once, not once per base it covers
        base_weighted = glm.embed(seqs[:1], pooling="full", progress=False).mean(axis=2)
        assert np.abs(base_weighted - mean[:1, -1:]).max() > 1e-3


def test_one_token_per_base_gives_identical_token_and_nucleotide_rows(glms):
    mlm = glms["mlm"]
    seqs = random_dna(4, 30, seed=3)
    assert mlm.single_base_tokens and embeddings.position_pooling(mlm) == "full"
    assert not glms["nt"].single_base_tokens and embeddings.position_pooling(glms["nt"]) == "tokens"
    np.testing.assert_array_equal(mlm.token_counts(seqs), [30] * 4)
    for strands in ("fwd", "both"):
        np.testing.assert_array_equal(mlm.embed(seqs, pooling="tokens", strands=strands, progress=False),
                                      mlm.embed(seqs, pooling="full", strands=strands, progress=False))


def test_token_rows_average_strands_only_when_tokens_mirror(glms):
    nt = glms["nt"]
    seqs = random_dna(2, 228, seed=4)  # 38 6-mers on both strands, covering mirrored spans
    both = nt.embed(seqs, pooling="tokens", strands="both", progress=False)
    forward = nt.embed(seqs, pooling="tokens", progress=False)
    reverse = nt.embed([s[::-1].translate(str.maketrans(BASES, "TGCA")) for s in seqs], pooling="tokens",
                       progress=False)
    np.testing.assert_allclose(both, (forward + reverse[:, :, ::-1]) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="row 0 .* tokenised differently on the reverse strand"):
        nt.embed(random_dna(1, 230, seed=5), pooling="tokens", strands="both", progress=False)


def test_token_cache_is_smaller_and_keyed_apart(glms, tmp_path):
    nt, seqs = glms["nt"], random_dna(8, 230, seed=6)
    full = embeddings.extract(nt, seqs, pooling="full", cache_dir=tmp_path, progress=False)
    tokens = embeddings.extract(nt, seqs, pooling="tokens", cache_dir=tmp_path, progress=False)
    assert full.key != tokens.key and full.shape == (8, 230, 16) and tokens.shape == (8, 40, 16)
    np.testing.assert_array_equal(tokens.token_counts(), [40] * 8)
    assert full.layer(-1).nbytes / tokens.layer(-1).nbytes == 230 / 40  # files differ by their 128-byte headers too


# ----------------------------------------------------------- fp32 likelihoods
def test_scores_run_in_fp32_and_only_embeddings_autocast(glms, monkeypatch):
    nt, clm = glms["nt"], glms["clm"]
    requested = []
    original = GLM._precision
    monkeypatch.setattr(GLM, "_precision", lambda self, purpose: requested.append(purpose) or original(self, purpose))
    nt.masked_log_probs("ACGTACGTACGTAC", [3, 12])
    clm.token_log_probs(["ACGTACGT"])
    assert set(requested) == {"score"}
    requested.clear()
    nt.embed(["ACGTACGT"], progress=False)
    assert set(requested) == {"embed"}
    with pytest.raises(ValueError, match="purpose must be one of"):
        nt.autocast_dtype("train")
    # On a (pretended) bf16-capable GPU: embeddings autocast, scores stay fp32 and TF32 is off while scoring.
    monkeypatch.setattr(nt, "device", torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert nt.autocast_dtype("embed") == torch.bfloat16 and nt.autocast_dtype("score") is None
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    with original(nt, "score"):
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert not torch.is_autocast_enabled("cuda")
    assert torch.backends.cudnn.allow_tf32  # restored


def test_cpu_embeddings_run_in_bf16_only_where_the_cpu_has_it(glms, monkeypatch, tmp_path):
    from glmeval_utils import devices, embeddings

    nt, seqs = glms["nt"], random_dna(3, 60, seed=8)
    fp32 = embeddings.extract(nt, seqs, cache_dir=tmp_path, progress=False)  # the suite's default: off
    monkeypatch.setenv(devices.CPU_BF16_VARIABLE, "on")
    monkeypatch.setattr(devices, "_cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    with devices.reduced_precision():
        assert nt.autocast_dtype("embed") is None  # emulated bf16 would be slower than fp32
    monkeypatch.setattr(devices, "_cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert nt.autocast_dtype("embed") is None  # outside the opted-in block: fp32
    with devices.reduced_precision():
        assert nt.autocast_dtype("embed") == torch.bfloat16 and nt.autocast_dtype("score") is None
        with nt._precision("score"):  # scoring inside a bf16 block turns autocast off
            assert not torch.is_autocast_enabled("cpu")
    seen = []
    original = GLM._precision

    @contextlib.contextmanager
    def recording(self, purpose):
        with original(self, purpose):
            seen.append(torch.is_autocast_enabled("cpu"))
            yield

    monkeypatch.setattr(GLM, "_precision", recording)
    assert embeddings.extract(nt, seqs, cache_dir=tmp_path, progress=False).key == fp32.key  # cache hit, fp32
    with devices.reduced_precision():
        bf16 = embeddings.extract(nt, seqs, cache_dir=tmp_path, progress=False)
    assert seen and all(seen)
    assert bf16.key != fp32.key  # never served for one another
    np.testing.assert_allclose(bf16.layer(-1), fp32.layer(-1), atol=0.05, rtol=0.05)
    assert np.abs(np.asarray(bf16.layer(-1)) - fp32.layer(-1)).max() > 0  # it did run in bf16
    monkeypatch.setenv(devices.CPU_BF16_VARIABLE, "off")
    with devices.reduced_precision():
        assert nt.autocast_dtype("embed") is None


@pytest.mark.gpu
def test_fp32_scores_on_cuda_match_cpu(tmp_path):
    seq = random_dna(1, 60, seed=7)[0]
    nt_dir, clm_dir = save_nt_like(tmp_path / "nt"), save_teaching(tmp_path / "clm", "clm")
    nt = {device: load_glm("nt-v1-2.5b-1000g", path=nt_dir, device=device) for device in ("cpu", "cuda")}
    clm = {device: load_glm("teaching-clm", path=clm_dir, device=device) for device in ("cpu", "cuda")}
    for rule in ("exact", "marginal"):
        np.testing.assert_allclose(nt["cuda"].masked_log_probs(seq, range(60), kmer_rule=rule),
                                   nt["cpu"].masked_log_probs(seq, range(60), kmer_rule=rule), atol=1e-5)
    np.testing.assert_allclose(clm["cuda"].token_log_probs([seq])[0], clm["cpu"].token_log_probs([seq])[0],
                               atol=1e-5)


# -------------------------------------------------------- exact k-mer masked LLR
def token_log_probs_by_hand(glm, seq, position):
    """log p over the vocabulary at the token covering ``position``, that token masked: (V,), index, spans."""
    copies, token_index, spans = glm.masked_inputs(seq, [position])
    logits = glm.model(input_ids=torch.from_numpy(copies)).logits[0, token_index[0]].detach()
    return torch.log_softmax(logits.double(), -1).numpy(), token_index[0], spans


@pytest.mark.parametrize("position", [7, 13])  # offset 1 of the 6-mer [6, 12); the single-base token 13
def test_exact_kmer_llr_matches_the_token_log_likelihood_ratio(glms, position):
    nt, vocab = glms["nt"], nt_vocabulary()
    seq = random_dna(1, 16, seed=8)[0]  # <cls> [0,6) [6,12) 12 13 14 15
    log_p, token, spans = token_log_probs_by_hand(nt, seq, position)
    start, end = spans[token]
    ref_token = seq[start:end]
    offset = position - start

    def token_id(base):
        return vocab.index(ref_token[:offset] + base + ref_token[offset + 1:])

    expected = np.array([log_p[token_id(base)] - log_p[vocab.index(ref_token)] for base in BASES])
    exact = nt.masked_log_probs(seq, [position])[0]
    np.testing.assert_allclose(exact - exact[BASES.index(seq[position])], expected, atol=1e-5)
    np.testing.assert_allclose(np.exp(exact).sum(), 1.0, atol=1e-6)
    marginal = nt.masked_log_probs(seq, [position], kmer_rule="marginal")[0]
    llr_gap = (marginal - marginal[BASES.index(seq[position])]) - expected
    assert np.abs(llr_gap).max() > (0.01 if end - start == 6 else -1)  # a 6-mer's neighbours matter


def test_rules_agree_for_one_token_per_base(glms):
    seq = random_dna(1, 25, seed=9)[0]
    mlm = glms["mlm"]
    np.testing.assert_allclose(mlm.masked_log_probs(seq, range(25)),
                               mlm.masked_log_probs(seq, range(25), kmer_rule="marginal"), atol=1e-6)
    with pytest.raises(ValueError, match="kmer_rule must be one of"):
        mlm.masked_log_probs(seq, [0], kmer_rule="average")


def test_bpe_substitutions_outside_the_vocabulary_are_impossible(glms):
    bpe = glms["bpe"]
    vocab = bpe.tokenizer.vocab
    seq = random_dna(1, 40, seed=10)[0]
    scores = bpe.masked_log_probs(seq, range(40))
    assert np.isneginf(scores).any() and np.isfinite(scores).any(axis=1).all()
    checked = 0
    for position in range(40):
        log_p, token, spans = token_log_probs_by_hand(bpe, seq, position)
        start, end = spans[token]
        if end - start < 2:
            continue
        offset = position - start
        alts = [seq[start:position] + base + seq[position + 1:end] for base in BASES]
        in_vocab = np.array([alt in vocab for alt in alts])
        np.testing.assert_array_equal(np.isfinite(scores[position]), in_vocab)
        ref = BASES.index(seq[position])
        expected = np.array([log_p[vocab[alt]] - log_p[vocab[alts[ref]]] for alt in np.array(alts)[in_vocab]])
        np.testing.assert_allclose(scores[position][in_vocab] - scores[position][ref], expected, atol=1e-5)
        checked += offset >= 0
    assert checked >= 5


def test_lm_entropy_attribution_stays_finite_with_impossible_bpe_bases(glms):
    from glmeval_utils.score.attribution import lm_entropy_attribution

    seqs = random_dna(2, 40, seed=10)
    assert np.isneginf(glms["bpe"].masked_log_probs(seqs[0], range(40))).any()
    with np.errstate(invalid="raise"):
        scores = lm_entropy_attribution(glms["bpe"], seqs, progress=False)
    assert scores.shape == (2, 40) and np.isfinite(scores).all() and (scores >= 0).all()
    assert (scores == 0).sum(axis=1).min() >= 1  # the least predictable base of each sequence
