"""Every full-profile gLM family through its own code: the real package, the real remote code, or our stand-in.

| family | registry name | what is loaded |
|---|---|---|
| NT v1 | nt-v1-2.5b-1000g | native ``EsmForMaskedLM`` |
| NT v2 | nt-v2-500m | our stand-in of the hub's ``modeling_esm.py`` (``tests/lookalikes/nt_v2``), remote-code path |
| DNABERT-2 | dnabert2 | our stand-in of the hub's ``bert_layers.py`` (``tests/lookalikes/dnabert2``), remote code |
| GPN | gpn-brassicales | the real ``gpn`` package (legacy ``ConvNetForMaskedLM``) |
| HyenaDNA | hyenadna-tiny-1k-d256 | the real remote code shipped in ``anticapt`` |
| Caduceus | caduceus-ph-131k | the real hub model (GPU + network only) |

Every model is tiny and random, saved to a folder and loaded with
``load_glm(<registry name>, path=folder)`` (``trust_remote_code=True`` for the
folders that ship code), the same code as for hub ids.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import types

import numpy as np
import pytest
import torch
from toy_glms import LOOKALIKES, SHIPS_CODE, random_dna
from toy_models import one_torch_thread  # noqa: F401  (autouse fixture)

from glmeval_utils.models import load_glm
from glmeval_utils.models.families import _needs_gpn, dnabert2_hidden_states, gpn_hidden_states

TOLERANCE = 1e-5
FAMILIES = ("nt", "nt-v2", "dnabert2", "gpn", "hyenadna")
LAYERS = (0, 1, -1)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Each family's tiny checkpoint folder, keyed like :data:`toy_glms.LOOKALIKES`."""
    root = tmp_path_factory.mktemp("families")
    return {family: LOOKALIKES[family][0](root / family) for family in FAMILIES}


@pytest.fixture(scope="module")
def glms(folders):
    return {family: load_glm(LOOKALIKES[family][1], path=folders[family], device="cpu",
                             trust_remote_code=family in SHIPS_CODE) for family in FAMILIES}


# ------------------------------------------------------------------ the contract, per family
@pytest.mark.parametrize("family", FAMILIES)
def test_embeddings_have_the_contract_shape_and_ignore_padding(glms, family):
    glm = glms[family]
    seqs = random_dna(4, (20, 47), seed=3)
    assert len({len(s) for s in seqs}) > 1  # different lengths: batches get padded
    for pooling in ("mean", "cls") if glm.has_cls else ("mean",):
        batched = glm.embed(seqs, layers=LAYERS, pooling=pooling, batch_size=4, progress=False)
        assert batched.shape == (4, len(LAYERS), glm.hidden_size) and np.isfinite(batched).all()
        for index, seq in enumerate(seqs):
            alone = glm.embed([seq], layers=LAYERS, pooling=pooling, progress=False)
            np.testing.assert_allclose(batched[index], alone[0], atol=TOLERANCE, rtol=0)
    # Full pooling: equal lengths, but an N changes the token count of k-mer/BPE tokenizers.
    same_length = random_dna(3, 30, seed=4)
    same_length[1] = same_length[1][:12] + "N" + same_length[1][13:]
    full = glm.embed(same_length, layers=LAYERS, pooling="full", progress=False)
    assert full.shape == (3, len(LAYERS), 30, glm.hidden_size)
    for index, seq in enumerate(same_length):
        alone = glm.embed([seq], layers=LAYERS, pooling="full", progress=False)
        np.testing.assert_allclose(full[index], alone[0], atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_language_model_scoring_runs(glms, family):
    glm = glms[family]
    seq = random_dna(1, 26, seed=5)[0]
    if glm.objective == "masked":
        log_probs = glm.masked_log_probs(seq, [0, 7, 25], batch_size=2)
        assert log_probs.shape == (3, 4)
        np.testing.assert_allclose(np.exp(log_probs).sum(1), 1.0, atol=1e-5)
    else:
        (scores,) = glm.token_log_probs([seq])
        assert scores.shape == (26,) and np.isnan(scores[0]) and np.all(scores[1:] < 0)


def test_each_family_runs_its_own_code(glms):
    module_of = {family: type(glm.model).__module__ for family, glm in glms.items()}
    assert module_of["nt"] == "transformers.models.esm.modeling_esm"
    assert module_of["nt-v2"].startswith("transformers_modules.") and module_of["nt-v2"].endswith(".modeling_esm")
    assert module_of["dnabert2"].startswith("transformers_modules.") and module_of["dnabert2"].endswith(".bert_layers")
    assert module_of["gpn"] == "gpn.legacy"
    assert module_of["hyenadna"].startswith("transformers_modules.")
    assert glms["gpn"].n_layers == 3 and glms["nt-v2"].n_layers == glms["dnabert2"].n_layers == 2


# ----------------------------------------------------------------------------------- NT v2
def test_nt_v2_is_bias_free_swiglu_behind_masked_lm_auto_map(glms, folders):
    config = json.loads((folders["nt-v2"] / "config.json").read_text())
    assert "model_type" not in config and "AutoModel" not in config["auto_map"]
    layer = glms["nt-v2"].model.esm.encoder.layer[0]
    hidden, intermediate = glms["nt-v2"].hidden_size, glms["nt-v2"].model.config.intermediate_size
    assert layer.intermediate.dense.weight.shape == (2 * intermediate, hidden)
    assert layer.intermediate.dense.bias is None and layer.output.dense.bias is None


# ------------------------------------------------------------------------------- DNABERT-2
def test_dnabert2_layers_come_back_padded(glms):
    glm = glms["dnabert2"]
    seqs = random_dna(2, (20, 60), seed=6)
    tokenized = glm.tokenize(seqs)
    ids, mask = tokenized.input_ids, tokenized.attention_mask
    assert not bool(mask.all())  # a padded batch
    backbone = glm.model.base_model
    with torch.inference_mode():
        # The remote encoder returns every layer unpadded, (real tokens, H): what the adapter must undo.
        raw = backbone.encoder(backbone.embeddings(ids, torch.zeros_like(ids)), mask, output_all_encoded_layers=True)
        assert raw[0].shape == (int(mask.sum()), glm.hidden_size)
        states = dnabert2_hidden_states(glm.model, ids, mask)
        assert len(states) == glm.n_layers + 1
        assert all(state.shape == (*ids.shape, glm.hidden_size) for state in states)
        for row in range(2):
            n_real = int(mask[row].sum())
            alone = dnabert2_hidden_states(glm.model, ids[row:row + 1, :n_real], None)
            for padded, single in zip(states, alone):
                torch.testing.assert_close(padded[row, :n_real], single[0], atol=TOLERANCE, rtol=0)
            assert all(bool((state[row, n_real:] == 0).all()) for state in states[1:])  # padding zeroed


def test_dnabert2_triton_kernel_is_switched_off(glms):
    glm = glms["dnabert2"]
    remote = inspect.getmodule(type(glm.model))
    kernel_module = importlib.import_module(f"{remote.__package__}.flash_attn_triton")
    with pytest.raises(TypeError, match="trans_b"):  # the stand-in's kernel fails as upstream's on recent triton
        kernel_module.flash_attn_qkvpacked_func(None, None)
    assert remote.flash_attn_qkvpacked_func is None
    seqs = random_dna(2, 30, seed=7)
    try:
        remote.flash_attn_qkvpacked_func = kernel_module.flash_attn_qkvpacked_func
        with pytest.raises(TypeError, match="trans_b"):
            glm.embed(seqs, progress=False)
    finally:
        remote.flash_attn_qkvpacked_func = None
    assert glm.embed(seqs, progress=False).shape == (2, 1, glm.hidden_size)


def test_dnabert2_random_control_also_runs_pytorch_attention(folders):
    control = load_glm("dnabert2-random", path=folders["dnabert2"], device="cpu", trust_remote_code=True)
    assert control.role == "random-init"
    assert inspect.getmodule(type(control.model)).flash_attn_qkvpacked_func is None
    assert control.embed(random_dna(2, 25, seed=8), layers="all", progress=False).shape == (2, 3, control.hidden_size)


# ------------------------------------------------------------------------------------- GPN
def test_gpn_hooks_give_every_layer_and_the_models_own_output(glms):
    glm = glms["gpn"]
    ids = glm.tokenize(random_dna(2, 40, seed=9)).input_ids
    backbone = glm.model.base_model
    with torch.inference_mode():
        states = gpn_hidden_states(glm.model, ids, None)
        assert len(states) == glm.n_layers + 1 == len(backbone.encoder) + 1
        # State 0 is GPN's one-hot embedding; state 1 the first dilated-conv block applied to it.
        torch.testing.assert_close(states[0], torch.nn.functional.one_hot(ids, glm.hidden_size).float())
        torch.testing.assert_close(states[1], backbone.encoder[0](states[0]))
        torch.testing.assert_close(states[-1], backbone(input_ids=ids).last_hidden_state, atol=0, rtol=0)
    assert all(not block._forward_hooks for block in backbone.encoder) and not backbone.embedding._forward_hooks


def test_gpn_missing_or_old_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gpn", None)  # import gpn -> ImportError
    with pytest.raises(ImportError, match=r"pip install --pre gpn==0\.9\.0a1"):
        _needs_gpn(lambda: "NotRegisteredConvNet")
    monkeypatch.setitem(sys.modules, "gpn", types.ModuleType("gpn"))  # an old gpn without register_auto_classes
    with pytest.raises(ImportError, match=r"gpn >= 0\.9"):
        _needs_gpn(lambda: "NotRegisteredConvNet")


# -------------------------------------------------------------------------------- Caduceus
@pytest.mark.gpu
@pytest.mark.network
def test_caduceus_hub_model_embeds_on_gpu():
    glm = load_glm("caduceus-ph-131k", device="cuda")
    seqs = random_dna(3, 64, seed=10) + random_dna(1, 80, seed=11)
    embedded = glm.embed(seqs, layers=(0, -1), progress=False)
    assert embedded.shape == (4, 2, glm.hidden_size) and np.isfinite(embedded).all()
    alone = glm.embed(seqs[:1], layers=(0, -1), progress=False)
    np.testing.assert_allclose(embedded[0], alone[0], atol=2e-2, rtol=2e-2)  # bf16 autocast
    assert glm.masked_log_probs(seqs[0], [0, 30]).shape == (2, 4)
