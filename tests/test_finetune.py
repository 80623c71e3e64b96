"""Fine-tuning estimators (glmeval_utils.learn.finetune): LoRA targets per family, training, seeds, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from toy_glms import LOOKALIKES, SHIPS_CODE, random_dna
from toy_models import one_torch_thread  # noqa: F401  (autouse fixture)

from glmeval_utils.eval.metrics import auroc
from glmeval_utils.learn import finetune, trained
from glmeval_utils.learn.finetune import FINE_TUNING, FineTunedGLM
from glmeval_utils.models import load_glm

#: look-alike key → the family whose FINE_TUNING row it checks (NT v2 is the "nt" family's remote code).
LOOKALIKE_FAMILIES = {"nt": "nt", "nt-v2": "nt", "dnabert2": "dnabert2", "hyenadna": "hyenadna",
                      "teaching-mlm": "teaching-mlm", "teaching-clm": "teaching-clm"}


@pytest.fixture(scope="module")
def glms(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    out = {}
    for key in LOOKALIKE_FAMILIES:
        builder, name, _ = LOOKALIKES[key]
        out[key] = load_glm(name, path=builder(root / key), device="cpu", trust_remote_code=key in SHIPS_CODE)
    return out


def gc_task(n, length=40, seed=0):
    """GC-rich positives, AT-rich negatives: a label any gLM-based model can learn from composition."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    composition = {0: [0.3, 0.2, 0.2, 0.3], 1: [0.15, 0.35, 0.35, 0.15]}
    seqs = ["".join(rng.choice(list("ACGT"), size=length, p=composition[y])) for y in labels]
    return seqs, labels.astype(np.float32)


def test_every_family_with_settings_is_covered_here():
    assert set(FINE_TUNING) == set(LOOKALIKE_FAMILIES.values())
    table = finetune.settings_table()
    assert list(table["family"]) == list(FINE_TUNING)
    assert table.set_index("family").loc["dnabert2", "target_modules"] == "Wqkv"


@pytest.mark.parametrize("key", list(LOOKALIKE_FAMILIES))
def test_lora_adapts_the_familys_modules_and_trains_only_them(glms, key):
    glm = glms[key]
    before = {name: weight.clone() for name, weight in glm.model.state_dict().items()}
    seqs = random_dna(8, 30, seed=1)
    y = np.linspace(0, 1, 8, dtype=np.float32)
    estimator = FineTunedGLM(glm, "regression", method="lora", batch_size=4, max_epochs=1, progress=False)
    estimator.fit(seqs, y, seqs, y)
    adapted = {name.rsplit(".", 1)[-1] for name, module in estimator.model_.named_modules()
               if hasattr(module, "lora_A")}
    assert adapted == set(FINE_TUNING[LOOKALIKE_FAMILIES[key]].target_modules)
    trainable = [name for name, weight in estimator.model_.named_parameters() if weight.requires_grad]
    assert trainable and all("lora_" in name or name.startswith("head.") for name in trainable)
    settings = estimator.settings_
    assert settings["rank"] == 8 and settings["alpha"] == 16 and set(settings["target_modules"]) == adapted
    assert 0 < settings["trainable_parameters"] < settings["parameters"]
    assert any(float(w.detach().abs().sum()) > 0 for n, w in estimator.model_.named_parameters() if "lora_B" in n)
    assert np.isfinite(estimator.predict(seqs)).all() and estimator.predict(seqs).shape == (8,)
    # the gLM the estimator started from is untouched: fine-tuning trains a copy
    after = glm.model.state_dict()
    assert set(after) == set(before) and all(torch.equal(after[name], before[name]) for name in before)


def test_full_fine_tuning_trains_every_weight(glms):
    glm = glms["teaching-mlm"]
    seqs, y = gc_task(16)
    estimator = FineTunedGLM(glm, "binary", method="full", batch_size=8, max_epochs=1, progress=False)
    estimator.fit(seqs, y, seqs, y)
    assert estimator.settings_["trainable_parameters"] == estimator.settings_["parameters"]
    assert "rank" not in estimator.settings_ and estimator.settings_["lr"] == FINE_TUNING["teaching-mlm"].full_lr
    changed = [name for name, weight in estimator.model_.backbone.state_dict().items()
               if not torch.equal(weight, glm.model.state_dict()[name])]
    assert len(changed) > 10


def test_lora_learns_a_composition_signal(glms):
    glm = glms["teaching-mlm"]
    seqs, y = gc_task(200, seed=2)
    valid, y_valid = gc_task(80, seed=3)
    test, y_test = gc_task(80, seed=4)
    estimator = FineTunedGLM(glm, "binary", method="lora", lr=1e-2, batch_size=16, max_epochs=6, progress=False)
    estimator.fit(seqs, y, valid, y_valid)
    assert auroc(y_test, estimator.predict(test)) > 0.8
    # the untrained head is at chance: the fit, not the composition of the inputs, made the difference
    untrained = FineTunedGLM(glm, "binary", method="lora", lr=1e-12, batch_size=16, max_epochs=1, progress=False)
    assert auroc(y_test, untrained.fit(seqs, y, valid, y_valid).predict(test)) < 0.75


def test_fits_are_seeded(glms):
    glm = glms["teaching-clm"]
    seqs, y = gc_task(24, seed=5)

    def predictions(seed):
        estimator = FineTunedGLM(glm, "binary", method="lora", batch_size=8, max_epochs=2, random_state=seed,
                                 progress=False)
        return estimator.fit(seqs, y, seqs, y).predict(seqs)

    assert np.array_equal(predictions(0), predictions(0))
    assert not np.array_equal(predictions(0), predictions(1))


def test_fine_tuned_fits_bypass_the_trained_cache(glms, tmp_path, monkeypatch):
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path))
    monkeypatch.setenv("GLMEVAL_TRAINED_CACHE", "on")
    seqs, y = gc_task(12, seed=6)
    FineTunedGLM(glms["teaching-mlm"], "binary", max_epochs=1, batch_size=6, progress=False).fit(seqs, y, seqs, y)
    assert not trained.trained_dir().exists() or not any(trained.trained_dir().iterdir())
    assert trained.enabled()  # the setting is restored after the fit


def test_bad_settings_are_clear_errors(glms):
    glm = glms["teaching-mlm"]
    seqs, y = gc_task(8)
    with pytest.raises(ValueError, match="method must be one of"):
        FineTunedGLM(glm, method="adapters").fit(seqs, y)
    with pytest.raises(ValueError, match=r"target modules \('nowhere',\) not found"):
        FineTunedGLM(glm, target_modules=("nowhere",), progress=False).fit(seqs, y)
    with pytest.raises(TypeError, match="single string"):
        FineTunedGLM(glm, progress=False).fit("ACGTACGT", [1.0])

    class Plant:  # a family without settings (GPN) needs explicit ones
        family, name = "gpn", "gpn-like"

    with pytest.raises(ValueError, match="no fine-tuning settings for gLM family 'gpn'.*teaching-mlm"):
        FineTunedGLM(Plant())._resolved()
    explicit = FineTunedGLM(Plant(), lr=1e-3, target_modules="ffn.0", rank=4, alpha=8, lora_dropout=0.0)
    assert explicit._resolved()["target_modules"] == ("ffn.0",)
