"""Tests of the embedding cache with a tiny fake gLM (counts calls, can crash on demand)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from glmeval_utils import embeddings
from glmeval_utils.sequences import one_hot, reverse_complement


class FakeGLM:
    """Follows the gLM contract's ``embed`` signature; hidden state k = tanh(onehot @ W_k)."""

    def __init__(self, *, name="fake", revision="r1", seed=0, hidden_size=6, n_layers=3, crash_on_call=None):
        self.name, self.model_id, self.revision = name, f"toy/{name}", revision
        self.n_layers, self.hidden_size = n_layers, hidden_size
        torch.manual_seed(seed)
        self.model = torch.nn.ModuleList(torch.nn.Linear(4, hidden_size) for _ in range(n_layers + 1))
        self.calls = 0
        self.crash_on_call = crash_on_call

    def _states(self, seq):
        x = torch.from_numpy(one_hot(seq).T)  # (L, 4)
        with torch.no_grad():
            return np.stack([torch.tanh(layer(x)).numpy() for layer in self.model])  # (n_layers+1, L, H)

    def embed(self, seqs, *, layers=(-1,), pooling="mean", strands="fwd", batch_size=32, progress=True):
        self.calls += 1
        if self.crash_on_call == self.calls:
            raise RuntimeError("simulated crash")
        out = []
        for seq in seqs:
            states = self._states(seq)
            if strands == "both":
                states = (states + self._states(reverse_complement(seq))[:, ::-1]) / 2
            picked = states[list(layers)]
            out.append(picked.mean(axis=1) if pooling == "mean" else picked[:, 0] if pooling == "cls" else picked)
        return np.stack(out).astype(np.float32)


def random_seqs(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)]


@pytest.fixture
def seqs():
    return random_seqs(23, 12)


def key_of(glm, seqs, layers=(3,), pooling="mean", strands="fwd"):
    return embeddings.cache_key(glm, seqs, layers=layers, pooling=pooling, strands=strands)[0]


def test_key_changes_with_every_input(seqs):
    glm = FakeGLM()
    base = key_of(glm, seqs)
    assert key_of(FakeGLM(), seqs) == base  # same everything → same key
    variants = [
        key_of(FakeGLM(name="other"), seqs),
        key_of(FakeGLM(revision="r2"), seqs),
        key_of(FakeGLM(seed=1), seqs),  # same architecture, other weights
        key_of(glm, seqs[:-1]),
        key_of(glm, seqs[::-1]),  # order matters
        key_of(glm, seqs, layers=(2,)),
        key_of(glm, seqs, pooling="cls"),
        key_of(glm, seqs, strands="both"),
    ]
    assert base not in variants and len(set(variants)) == len(variants)
    with torch.no_grad():  # a retrained model: one weight moves
        glm.model[0].weight[0, 0] += 1e-3
    assert key_of(glm, seqs) != base


def test_a_reduced_precision_gpu_entry_has_its_own_key(seqs):
    class BF16GLM(FakeGLM):
        def autocast_dtype(self, purpose):
            return torch.bfloat16

    class FP32GLM(FakeGLM):
        def autocast_dtype(self, purpose):
            return None

    assert key_of(BF16GLM(), seqs) != key_of(FakeGLM(), seqs) == key_of(FP32GLM(), seqs)


def test_negative_and_all_layers_resolve():
    assert embeddings.resolve_layers((-1, 0, 3), 3) == (0, 3)
    assert embeddings.resolve_layers("all", 2) == (0, 1, 2)
    with pytest.raises(ValueError, match="outside"):
        embeddings.resolve_layers((4,), 3)


@pytest.mark.parametrize("pooling", ["mean", "full"])
def test_values_dtype_and_cache_hit(tmp_path, seqs, pooling):
    glm = FakeGLM()
    result = embeddings.extract(glm, seqs, layers=(0, -1), pooling=pooling, chunk_size=5, batch_size=4,
                                cache_dir=tmp_path, progress=False)
    assert not result.cache_hit and result.layers == (0, 3)
    assert glm.calls == 5  # ceil(23 / 5) chunks, all layers from one call each
    expected = glm.embed(seqs, layers=[0, 3], pooling=pooling)
    for position, layer in enumerate((0, -1)):
        array = result.layer(layer)
        assert isinstance(array, np.memmap) and not array.flags.writeable
        if pooling == "full":
            assert array.dtype == np.float16 and array.shape == (23, 12, 6)
            np.testing.assert_allclose(array, expected[:, position], atol=1e-3, rtol=1e-3)
        else:
            assert array.dtype == np.float32 and array.shape == (23, 6)
            np.testing.assert_allclose(array, expected[:, position], rtol=1e-6)
    calls = glm.calls
    again = embeddings.extract(glm, seqs, layers=(3, 0), pooling=pooling, chunk_size=5, cache_dir=tmp_path,
                               progress=False)
    assert again.cache_hit and glm.calls == calls and again.path == result.path
    with pytest.raises(KeyError, match="layer 1"):
        again.layer(1)


def test_crash_leaves_no_complete_entry_and_rerun_resumes(tmp_path, seqs):
    crashing = FakeGLM(crash_on_call=3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        embeddings.extract(crashing, seqs, layers="all", pooling="full", chunk_size=4, cache_dir=tmp_path,
                           progress=False)
    entries = [p.parent for p in tmp_path.rglob("progress.json")]
    assert len(entries) == 1 and not list(tmp_path.rglob(embeddings.MANIFEST))
    assert not list(tmp_path.rglob("layer_*.npy"))  # only .partial files exist
    assert json.loads((entries[0] / "progress.json").read_text())["done"] == [0, 1]

    rerun = FakeGLM()  # same weights and name: same key
    result = embeddings.extract(rerun, seqs, layers="all", pooling="full", chunk_size=4, cache_dir=tmp_path,
                                progress=False)
    assert rerun.calls == 6 - 2  # chunks 0 and 1 were reused
    clean = embeddings.extract(FakeGLM(), seqs, layers="all", pooling="full", chunk_size=4,
                               cache_dir=tmp_path / "clean", progress=False)
    for layer in range(4):
        np.testing.assert_array_equal(result.layer(layer), clean.layer(layer))
    assert not (result.path / "progress.json").exists()


def test_variable_lengths_keep_input_order(tmp_path):
    seqs = random_seqs(5, 30, seed=1) + random_seqs(5, 8, seed=2)  # length sorting reorders them internally
    glm = FakeGLM()
    result = embeddings.extract(glm, seqs, strands="both", chunk_size=3, cache_dir=tmp_path, progress=False)
    np.testing.assert_allclose(result.layer(-1), glm.embed(seqs, strands="both")[:, 0], rtol=1e-6)
    with pytest.raises(ValueError, match="one length"):
        embeddings.extract(glm, seqs, pooling="full", cache_dir=tmp_path, progress=False)


def test_bad_sequence_is_named(tmp_path):
    with pytest.raises(ValueError, match="row 1"):
        embeddings.extract(FakeGLM(), ["ACGT", "ACXT"], cache_dir=tmp_path, label="toy", progress=False)


class FakeKmerGLM(FakeGLM):
    """FakeGLM with non-overlapping 3-nt tokens (leftover bases alone), like NT's 6-mers.

    A token's vector is the mean of its bases' FakeGLM rows; ``pooling="tokens"``
    gives one row per token, zero-padded to the call's longest sequence.
    """

    single_base_tokens = False

    def _token_spans(self, seq):
        full = len(seq) // 3 * 3
        return [(i, i + 3) for i in range(0, full, 3)] + [(i, i + 1) for i in range(full, len(seq))]

    def token_counts(self, seqs):
        return np.array([len(self._token_spans(seq)) for seq in seqs])

    def embed(self, seqs, *, layers=(-1,), pooling="mean", strands="fwd", batch_size=32, progress=True):
        if pooling != "tokens":
            return super().embed(seqs, layers=layers, pooling=pooling, strands=strands)
        self.calls += 1
        if self.crash_on_call == self.calls:
            raise RuntimeError("simulated crash")
        out = np.zeros((len(seqs), len(layers), max(self.token_counts(seqs)), self.hidden_size), np.float32)
        for row, seq in enumerate(seqs):
            states = self._states(seq)[list(layers)]
            for token, (start, end) in enumerate(self._token_spans(seq)):
                out[row, :, token] = states[:, start:end].mean(axis=1)
        return out


def test_token_rows_fill_one_padded_array_across_chunks_and_resume(tmp_path):
    # lengths 7..20 give 3..8 token rows: every chunk returns its own width
    seqs = [random_seqs(1, length, seed=length)[0] for length in range(20, 6, -1)]
    counts = FakeKmerGLM().token_counts(seqs)
    with pytest.raises(RuntimeError, match="simulated crash"):
        embeddings.extract(FakeKmerGLM(crash_on_call=3), seqs, layers=(0, -1), pooling="tokens", chunk_size=4,
                           cache_dir=tmp_path, progress=False)
    glm = FakeKmerGLM()
    result = embeddings.extract(glm, seqs, layers=(0, -1), pooling="tokens", chunk_size=4, cache_dir=tmp_path,
                                progress=False)
    assert glm.calls == 4 - 2  # chunks 0 and 1 survived the crash
    assert result.shape == (14, 8, 6) and result.dtype == "float16" and result.pooling == "tokens"
    np.testing.assert_array_equal(result.token_counts(), counts)
    expected = glm.embed(seqs, layers=[0, 3], pooling="tokens")  # one call: padded to 8 rows
    for position, layer in enumerate((0, -1)):
        array = result.layer(layer)
        assert array.dtype == np.float16
        np.testing.assert_allclose(array, expected[:, position], atol=1e-3, rtol=1e-3)
        assert not np.asarray(array)[np.arange(8) >= counts[:, None]].any()  # padding rows are zero
    again = embeddings.extract(FakeKmerGLM(), seqs, layers=(0, -1), pooling="tokens", chunk_size=4,
                               cache_dir=tmp_path, progress=False)
    assert again.cache_hit
    np.testing.assert_array_equal(again.token_counts(), counts)
    pooled = embeddings.extract(glm, seqs, cache_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="pooling='tokens' only"):
        pooled.token_counts()


def test_position_pooling_reads_tokens_only_for_multi_base_tokens(seqs):
    assert embeddings.position_pooling(FakeKmerGLM()) == "tokens"
    assert embeddings.position_pooling(FakeGLM()) == "full"  # no single_base_tokens: taken as one per base
    glm = FakeKmerGLM()
    assert key_of(glm, seqs, pooling="tokens") != key_of(glm, seqs, pooling="full")


def test_keys_of_existing_poolings_are_unchanged():
    # Golden keys computed before "tokens" pooling existed: one-token-per-base models keep their cache entries.
    from fake_glms import CompositionGLM

    glm, toy = CompositionGLM(n_layers=2), ["ACGTACGTAC", "GGGTTTAAAC", "ACGTNACGTA"]
    golden = {"full": "67c57b27cb6ba5f81185220e579e13f0c7c051946c483af93d7c72c8e275a15e",
              "mean": "944b2791ed7d72bdf5e70cbc058c72a5ee0d5cf26e3030bbcd76493bba0adaa7"}
    for pooling, key in golden.items():
        assert embeddings.cache_key(glm, toy, layers=(2,), pooling=pooling, strands="fwd", label="toy")[0] == key
