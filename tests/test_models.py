"""Tests of the gLM registry and adapters on tiny offline look-alikes of each family."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from toy_models import one_torch_thread  # noqa: F401  (autouse fixture)
from toy_glms import LOOKALIKES, SHIPS_CODE, random_dna, save_hyenadna_like, save_nt_like, save_teaching

from glmeval_utils.models import (REGISTRY, build_teaching_model, describe_glms, from_local, list_glms, load_glm,
                                  teaching_tokenizer, token_to_bases)
from glmeval_utils.models.tokenization import nt_vocabulary
from glmeval_utils.sequences import SequenceError, reverse_complement

TOLERANCE = 1e-5
FAMILY_NAMES = list(LOOKALIKES)
MASKED = [f for f, (_, _, objective) in LOOKALIKES.items() if objective == "masked"]
CAUSAL = [f for f, (_, _, objective) in LOOKALIKES.items() if objective == "causal"]


@pytest.fixture(scope="module")
def glms(tmp_path_factory):
    """Every look-alike saved to disk and loaded back through ``load_glm(name, path=...)``."""
    root = tmp_path_factory.mktemp("toys")
    loaded = {}
    for family, (builder, registry_name, _) in LOOKALIKES.items():
        loaded[family] = load_glm(registry_name, path=builder(root / family), device="cpu",
                                  trust_remote_code=family in SHIPS_CODE)
    return loaded


def mixed_batch():
    """Sequences of different lengths, one with N, so batches get padded."""
    seqs = random_dna(6, (18, 45), seed=1)
    seqs[2] = seqs[2][:7] + "N" + seqs[2][8:]
    return seqs


# ------------------------------------------------------------------ tokenizers
def test_nt_tokenizer_matches_reference_examples(glms):
    nt = glms["nt"]
    vocab = nt.tokenizer.vocab_strings

    def tokens(seq):
        return [vocab[i] for i in nt.tokenize([seq]).input_ids[0].tolist()]

    assert tokens("ACGTACGTACGTAC") == ["<cls>", "ACGTAC", "GTACGT", "A", "C"]
    assert tokens("ACGTNACGTACGTACG") == ["<cls>", "A", "C", "G", "T", "N", "ACGTAC", "G", "T", "A", "C", "G"]
    assert nt.tokenize(random_dna(1, 230)).input_ids.shape == (1, 41)
    assert nt_vocabulary()[4] == "AAAAAA" and nt_vocabulary()[4100:4105] == ["A", "T", "C", "G", "N"]


def test_hyenadna_and_gpn_token_ids(glms):
    # HyenaDNA: A7 C8 G9 T10 N11, [SEP]=1 appended, no CLS.
    assert glms["hyenadna"].tokenize(["ACGTN"]).input_ids[0].tolist() == [7, 8, 9, 10, 11, 1]
    assert not glms["hyenadna"].has_cls
    # GPN: lower-case a3 c4 g5 t6, no special tokens, upper-case input accepted.
    assert glms["gpn"].tokenize(["ACGT"]).input_ids[0].tolist() == [3, 4, 5, 6]


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_token_spans_cover_every_base_once(glms, family):
    seqs = mixed_batch()
    tokenized = glms[family].tokenize(seqs)
    assert tokenized.input_ids.shape == tokenized.attention_mask.shape
    for seq, spans, mask in zip(seqs, tokenized.token_spans, tokenized.attention_mask):
        assert len(token_to_bases(spans)) == len(seq)
        assert int(mask.sum()) == len(spans)


def test_teaching_tokenizer_round_trips_offline(tmp_path):
    tokenizer = teaching_tokenizer("mlm")
    tokenizer.save_pretrained(tmp_path)
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    batch = reloaded(["ACGTN", "AC"], padding=True)
    assert batch["input_ids"] == tokenizer(["ACGTN", "AC"], padding=True)["input_ids"]
    assert batch["input_ids"][1][:3] == [tokenizer.cls_token_id, tokenizer.convert_tokens_to_ids("A"),
                                         tokenizer.convert_tokens_to_ids("C")]
    assert batch["attention_mask"][1] == [1, 1, 1, 0, 0, 0]  # right padding


def test_teaching_models_are_native_and_seeded():
    mlm, _ = build_teaching_model("mlm", size="smoke", seed=3)
    again, _ = build_teaching_model("mlm", size="smoke", seed=3)
    clm, clm_tokenizer = build_teaching_model("clm", size="smoke")
    assert type(mlm).__name__ == "EsmForMaskedLM" and not mlm.config.token_dropout
    assert mlm.config.position_embedding_type == "rotary"
    assert type(clm).__name__ == "LlamaForCausalLM" and clm_tokenizer.bos_token_id is not None
    assert all(torch.equal(a, b) for a, b in zip(mlm.state_dict().values(), again.state_dict().values()))


# ------------------------------------------------------------------- embedding
@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_mean_embedding_does_not_depend_on_batch(glms, family):
    glm = glms[family]
    seqs = mixed_batch()
    batched = glm.embed(seqs, batch_size=4, progress=False)
    assert batched.shape == (len(seqs), 1, glm.hidden_size) and batched.dtype == np.float32
    for index in (0, 2, 5):
        alone = glm.embed([seqs[index]], progress=False)
        np.testing.assert_allclose(batched[index], alone[0], atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_full_embedding_does_not_depend_on_batch(glms, family):
    glm = glms[family]
    # Same length but N in different places: different token counts for k-mer/BPE tokenizers.
    seqs = random_dna(4, 30, seed=2)
    seqs[1] = seqs[1][:10] + "N" + seqs[1][11:]
    batched = glm.embed(seqs, layers=(0, -1), pooling="full", progress=False)
    assert batched.shape == (4, 2, 30, glm.hidden_size)
    for index in range(4):
        alone = glm.embed([seqs[index]], layers=(0, -1), pooling="full", progress=False)
        np.testing.assert_allclose(batched[index], alone[0], atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_all_layers_equal_per_layer_calls(glms, family):
    glm = glms[family]
    seqs = mixed_batch()[:3]
    everything = glm.embed(seqs, layers="all", progress=False)
    assert everything.shape[1] == glm.n_layers + 1
    for layer in range(glm.n_layers + 1):
        single = glm.embed(seqs, layers=layer, progress=False)
        np.testing.assert_allclose(everything[:, layer], single[:, 0], atol=TOLERANCE, rtol=0)
    # Layers differ from each other, so selecting the wrong one would be caught.
    assert np.abs(everything[:, 0] - everything[:, -1]).max() > 1e-3


def test_full_embedding_expands_kmers_to_bases(glms):
    nt = glms["nt"]
    seq = random_dna(1, 14, seed=4)[0]  # <cls> 6-mer 6-mer 1 1
    full = nt.embed([seq], pooling="full", progress=False)[0, 0]
    np.testing.assert_array_equal(full[0], full[5])   # same 6-mer token
    np.testing.assert_array_equal(full[6], full[11])
    assert np.abs(full[5] - full[6]).max() > 1e-4      # next token differs
    # Mean pooling averages tokens (not bases) and excludes <cls>.
    tokens = nt.embed([seq], pooling="full", progress=False)[0, 0][[0, 6, 12, 13]].mean(0)
    np.testing.assert_allclose(nt.embed([seq], progress=False)[0, 0], tokens, atol=TOLERANCE)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_reverse_complement_averaging_is_symmetric(glms, family):
    glm = glms[family]
    seqs = random_dna(3, 24, seed=5)
    rc = reverse_complement(seqs)
    mean, mean_rc = (glm.embed(s, strands="both", progress=False) for s in (seqs, rc))
    np.testing.assert_allclose(mean, mean_rc, atol=TOLERANCE, rtol=0)
    full, full_rc = (glm.embed(s, pooling="full", strands="both", progress=False) for s in (seqs, rc))
    np.testing.assert_allclose(full, full_rc[:, :, ::-1], atol=TOLERANCE, rtol=0)
    assert np.abs(mean - glm.embed(seqs, progress=False)).max() > 1e-6  # RC really contributes


def test_cls_pooling(glms):
    nt = glms["nt"]
    seqs = random_dna(2, 12, seed=6)
    cls = nt.embed(seqs, pooling="cls", progress=False)
    token_states = nt._hidden_states(*nt._pad(nt._encode(seqs))[:2])[-1]
    np.testing.assert_allclose(cls[:, 0], token_states[:, 0].numpy(), atol=TOLERANCE)
    with pytest.raises(ValueError, match="no CLS"):
        glms["hyenadna"].embed(seqs, pooling="cls", progress=False)


# ---------------------------------------------------------------------- errors
def test_bad_input_errors(glms):
    glm = glms["teaching-mlm"]
    with pytest.raises(SequenceError, match="row 1.*'X'"):
        glm.embed(["ACGT", "ACXT"], progress=False)
    with pytest.raises(SequenceError, match=r"row 0.*exceeds the maximum 511"):
        glm.embed(["A" * 600], progress=False)
    with pytest.raises(SequenceError, match="row 1.*expected exactly 4"):
        glm.embed(["ACGT", "ACGTA"], pooling="full", progress=False)
    with pytest.raises(ValueError, match="out of range"):
        glm.embed(["ACGT"], layers=7, progress=False)


def test_token_limit_error_names_the_sequence(glms):
    hyena = glms["hyenadna"]  # max_seq_len 130 tokens -> 129 nt
    assert hyena.max_length == 129
    with pytest.raises(SequenceError, match="row 1"):
        hyena.embed(["ACGT", "A" * 130], progress=False)


def test_unknown_name_lists_known_ones():
    with pytest.raises(KeyError, match="known gLMs: .*dnabert2-random.*teaching-mlm"):
        load_glm("not-a-glm")


def test_registry_declares_every_family_and_random_controls():
    required = {"nt-v1-2.5b-1000g", "nt-v2-500m", "dnabert2", "hyenadna-tiny-1k-d256", "hyenadna-small-32k",
                "gpn-brassicales", "caduceus-ph-131k", "teaching-mlm", "teaching-clm", "hyenadna-tiny-anticapt"}
    assert required | {name + "-random" for name in required} <= set(REGISTRY)
    assert set(list_glms("demo")) == {n for n in REGISTRY if REGISTRY[n].tier == "demo"}
    assert "teaching-mlm" in list_glms("demo") and "dnabert2" not in list_glms("demo")
    remote = {name for name, spec in REGISTRY.items() if spec.trust_remote_code}
    assert "nt-v1-2.5b-1000g" not in remote and "dnabert2" in remote
    assert REGISTRY["hyenadna-tiny-anticapt"].licence == "GPL-3.0"
    # The book's registry table says which entries run third-party code.
    runs_code = describe_glms().set_index("name")["third_party_code"]
    assert runs_code["teaching-mlm"] == runs_code["nt-v1-2.5b-1000g"] == ""
    assert "anticapt" in runs_code["hyenadna-tiny-anticapt"] and "gpn" in runs_code["gpn-brassicales-random"]


def test_caduceus_without_cuda_says_what_it_needs():
    # (GPN's install hint is tested in test_families.py, with the real gpn package hidden.)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            load_glm("caduceus-ph-131k")


# ----------------------------------------------------------------- likelihoods
@pytest.mark.parametrize("family", MASKED)
def test_masked_log_probs_are_normalised(glms, family):
    glm = glms[family]
    seq = random_dna(1, 20, seed=7)[0]
    log_probs = glm.masked_log_probs(seq, [0, 5, 13, 19], batch_size=3)
    assert log_probs.shape == (4, 4)
    np.testing.assert_allclose(np.exp(log_probs).sum(1), 1.0, atol=1e-5)
    assert np.all(log_probs < 0)


def test_masked_log_probs_mask_the_covering_kmer_and_marginalise(glms):
    nt = glms["nt"]
    seq = random_dna(1, 16, seed=8)[0]  # <cls> [0,6) [6,12) 12 13 14 15
    copies, token_index, spans = nt.masked_inputs(seq, [3, 7, 14])
    original = nt.tokenize([seq]).input_ids[0].numpy()
    assert token_index.tolist() == [1, 2, 5]
    for copy, masked in zip(copies, token_index):
        assert copy[masked] == nt.tokenizer.mask_id
        assert (copy != original).sum() == 1
    # Position 7 is offset 1 of the 6-mer at [6, 12): marginalise by hand.
    logits = nt.model(input_ids=torch.from_numpy(copies[1:2])).logits[0, 2].detach()
    token_lp = torch.log_softmax(logits, -1)
    vocab = nt.tokenizer.vocab_strings
    by_base = [torch.logsumexp(token_lp[[i for i, t in enumerate(vocab[:4105]) if len(t) == 6
                                         and set(t) <= set("ACGT") and t[1] == b]], 0) for b in "ACGT"]
    expected = torch.log_softmax(torch.stack(by_base), 0).numpy()
    np.testing.assert_allclose(nt.masked_log_probs(seq, [7], kmer_rule="marginal")[0], expected, atol=1e-5)


@pytest.mark.parametrize("family", CAUSAL)
def test_token_log_probs_length_and_values(glms, family):
    glm = glms[family]
    seqs = mixed_batch()
    scores = glm.token_log_probs(seqs, batch_size=4)
    assert [len(s) for s in scores] == [len(s) for s in seqs]
    assert np.isnan(scores[2][7])  # the N
    # Reference: one unpadded forward pass, restricted to A, C, G, T.
    ids = glm.tokenize([seqs[0]]).input_ids
    base_ids = glm.tokenizer.single_base_ids()
    logits = glm.model(input_ids=ids).logits[0].detach()[:, base_ids]
    expected = torch.log_softmax(logits, -1).numpy()
    offset = len(glm.tokenizer.prefix_ids)
    for i in range(1 if offset == 0 else 0, len(seqs[0])):
        base = "ACGT".index(seqs[0][i])
        assert abs(scores[0][i] - expected[offset + i - 1, base]) < 1e-5
    # HyenaDNA has no BOS: its first base has no context.
    assert np.isnan(scores[0][0]) == (offset == 0)


def test_likelihood_methods_need_the_right_head(glms):
    with pytest.raises(ValueError, match="needs a causal language model"):
        glms["teaching-mlm"].token_log_probs(["ACGT"])
    with pytest.raises(ValueError, match="needs a masked language model"):
        glms["teaching-clm"].masked_log_probs("ACGT", [0])


# ------------------------------------------------------------- demo entries
def test_anticapt_backbone_loads_offline():
    glm = load_glm("hyenadna-tiny-anticapt", device="cpu")
    assert (glm.hidden_size, glm.n_layers, glm.objective, glm.max_length) == (128, 2, None, 1024)
    seqs = random_dna(3, (30, 50), seed=9)
    batched = glm.embed(seqs, progress=False)
    np.testing.assert_allclose(batched[1], glm.embed(seqs[1:2], progress=False)[0], atol=TOLERANCE)
    with pytest.raises(ValueError, match="no language-model head"):
        glm.token_log_probs(seqs)


def test_teaching_entries_load_from_models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="pretrain --profile demo"):
        load_glm("teaching-clm")
    random_default = load_glm("teaching-mlm-random", device="cpu")  # nothing saved: default demo config
    assert random_default.hidden_size == 192 and random_default.revision == "random-seed0"
    save_teaching(tmp_path / "models" / "teaching-mlm", "mlm", seed=1)
    trained = load_glm("teaching-mlm", device="cpu")
    control = load_glm("teaching-mlm-random", device="cpu")  # saved config, re-drawn weights
    again = load_glm("teaching-mlm-random", device="cpu")
    seqs = random_dna(2, 20, seed=10)
    assert trained.hidden_size == control.hidden_size == 32
    np.testing.assert_array_equal(control.embed(seqs, progress=False), again.embed(seqs, progress=False))
    assert np.abs(trained.embed(seqs, progress=False) - control.embed(seqs, progress=False)).max() > 1e-3
    assert trained.revision.startswith("sha256:")


def test_from_local_and_random_controls(tmp_path):
    nt_dir = save_nt_like(tmp_path / "nt", seed=5)  # not the random control's seed
    pretrained = from_local("nt", nt_dir)
    random_a = load_glm("nt-v1-2.5b-1000g-random", path=nt_dir)
    random_b = from_local("nt", nt_dir, random_init=True)
    seqs = random_dna(2, 18, seed=11)
    np.testing.assert_array_equal(random_a.embed(seqs, progress=False), random_b.embed(seqs, progress=False))
    assert np.abs(pretrained.embed(seqs, progress=False) - random_a.embed(seqs, progress=False)).max() > 1e-4
    backbone = from_local("hyenadna", save_hyenadna_like(tmp_path / "hy", causal=False), objective=None,
                          trust_remote_code=True)
    assert backbone.objective is None and backbone.embed(seqs, progress=False).shape == (2, 1, 16)
