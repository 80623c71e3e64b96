"""Fault probes of the model loaders and pre-training: nothing runs that was not asked for, nothing mislabelled.

* A user folder that ships Python code (``auto_map``) is refused unless the
  caller passes ``trust_remote_code=True``; the planted module's marker file
  must not appear, and the error names the folder and the modules.
* A resume file of pre-training is read with ``torch.load(weights_only=True)``:
  a planted pickle's payload must not run; an unreadable file is ignored with
  a warning naming it, and training restarts from step 0.
* A ``-random`` control builds the architecture the entry declares: a config
  of another kind or family, or a folder without ``config.json``, is an error
  naming the folder.
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from toy_glms import save_dnabert2_like, save_teaching
from toy_models import one_torch_thread  # noqa: F401  (autouse fixture)

from glmeval_utils import pretrain
from glmeval_utils.models import from_local, load_glm
from glmeval_utils.models.registry import REGISTRY, remote_code_entries


def plant(path, marker):
    """Make the Python file ``path`` write ``marker`` when it is imported."""
    path.write_text(f"open({str(marker)!r}, 'w').write('ran')\n" + path.read_text())


# ------------------------------------------------------------------------------ remote code
@pytest.fixture(scope="module")
def planted_dnabert2(tmp_path_factory):
    """A DNABERT-2 look-alike whose remote config module writes a marker file when imported."""
    root = tmp_path_factory.mktemp("planted")
    folder = save_dnabert2_like(root / "planted_dnabert2_folder")
    marker = root / "remote_code_ran"
    plant(folder / "configuration_bert.py", marker)
    return folder, marker


@pytest.mark.parametrize("name", ["dnabert2", "dnabert2-random"])
def test_auto_map_in_a_user_folder_does_not_run_without_trust(planted_dnabert2, name):
    folder, marker = planted_dnabert2
    with pytest.raises(ValueError) as raised:
        load_glm(name, path=folder, device="cpu")
    assert not marker.exists()
    message = str(raised.value)
    assert str(folder) in message and "trust_remote_code=True" in message
    assert "configuration_bert" in message and "bert_layers" in message


def test_from_local_refuses_auto_map_by_default(planted_dnabert2):
    folder, marker = planted_dnabert2
    with pytest.raises(ValueError, match=re.escape(str(folder))):
        from_local("dnabert2", folder)
    assert not marker.exists()


def test_explicit_trust_runs_the_folders_code(planted_dnabert2):
    folder, marker = planted_dnabert2
    glm = load_glm("dnabert2", path=folder, device="cpu", trust_remote_code=True)
    assert marker.exists() and glm.model_id == str(folder)
    marker.unlink()


def test_trust_remote_code_only_applies_to_a_user_folder():
    with pytest.raises(ValueError, match="only applies to a local path"):
        load_glm("nt-v1-2.5b-1000g", trust_remote_code=True)


def test_tokenizer_auto_map_is_refused_too(tmp_path):
    folder = save_teaching(tmp_path / "planted_tokenizer_folder", "mlm")
    marker = tmp_path / "tokenizer_code_ran"
    (folder / "evil_tokenizer.py").write_text("")
    plant(folder / "evil_tokenizer.py", marker)
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    settings["auto_map"] = {"AutoTokenizer": [None, "evil_tokenizer.EvilTokenizer"]}
    (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    with pytest.raises(ValueError, match=r"tokenizer_config\.json.*evil_tokenizer"):
        load_glm("teaching-mlm", path=folder, device="cpu")
    assert not marker.exists()


def test_remote_code_entries_name_what_runs():
    runs = remote_code_entries()
    declared = {name for name, spec in REGISTRY.items() if spec.trust_remote_code}
    assert declared <= set(runs)
    assert {"dnabert2", "nt-v2-500m", "hyenadna-tiny-anticapt", "hyenadna-tiny-anticapt-random",
            "gpn-brassicales", "caduceus-ph-131k"} <= set(runs)
    assert not {"nt-v1-2.5b-1000g", "teaching-mlm", "teaching-clm-random"} & set(runs)
    assert "zhihan1996/DNABERT-2-117M" in runs["dnabert2"]
    assert "anticapt" in runs["hyenadna-tiny-anticapt"] and "gpn package" in runs["gpn-brassicales"]
    assert set(remote_code_entries("demo")) == {"hyenadna-tiny-anticapt", "hyenadna-tiny-anticapt-random"}


# ------------------------------------------------------------------------------ resume file
class Payload:
    """A pickled object whose unpickling writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


def tiny_run(tmp_path):
    """Arguments of a two-step pre-training run into ``tmp_path`` (checkpoint every step), and its resume file."""
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"seq": ["".join(rng.choice(list("ACGT"), size=40)) for _ in range(20)],
                          "split": ["train"] * 15 + ["valid"] * 5})
    corpus = pretrain.build_corpus({"eclip_TOY_CELL": table}, crop_length=24, max_train_per_dataset=None, n_valid=5)
    settings = dataclasses.replace(pretrain.get_settings("smoke"), crop_length=24, steps=2, warmup_steps=1,
                                   batch_size=2, checkpoint_every=1)
    resume_file = tmp_path / f".teaching-clm.{pretrain.RESUME_FILE}"
    return dict(profile="smoke", settings=settings, corpus=corpus, progress=False, out_dir=tmp_path), resume_file


def test_planted_pickle_in_the_resume_file_does_not_run(tmp_path):
    run, resume_file = tiny_run(tmp_path)
    marker = tmp_path / "pickle_payload_ran"
    torch.save({"model": Payload(marker), "step": 1}, resume_file)
    with pytest.warns(UserWarning, match=re.escape(str(resume_file))):
        report = pretrain.pretrain_teaching_glm("clm", **run)
    assert not marker.exists()
    assert report.info["resumed_from_step"] == 0


@pytest.mark.parametrize("content, reason", [
    ("garbage", "cannot be read as a weights-only torch file"),
    ("list", "not a resume file of this version"),  # a readable torch file of another shape
    ("empty state", "does not fit the model"),  # this run's fingerprint, but no weights
])
def test_unusable_resume_file_is_named_and_training_restarts(tmp_path, content, reason):
    run, resume_file = tiny_run(tmp_path)
    if content == "garbage":
        resume_file.write_bytes(b"not a checkpoint")
    elif content == "list":
        torch.save([1, 2, 3], resume_file)
    else:
        fingerprint = pretrain._fingerprint("clm", "smoke", run["settings"], 0, run["corpus"].sha256)
        torch.save({"model": {}, "optimizer": {}, "scheduler": {}, "step": 1, "fingerprint": fingerprint},
                   resume_file)
    with pytest.warns(UserWarning, match=re.escape(str(resume_file)) + f".*{reason}.*restarts from step 0"):
        report = pretrain.pretrain_teaching_glm("clm", **run)
    assert report.info["resumed_from_step"] == 0 and (tmp_path / "teaching-clm").is_dir()
    assert not resume_file.exists()


def test_resume_file_holds_only_tensors_and_plain_state(tmp_path):
    run, resume_file = tiny_run(tmp_path)
    run["settings"] = dataclasses.replace(run["settings"], steps=3, checkpoint_every=2)
    calls, sample_batch = [], pretrain._sample_batch

    def stop_after_the_checkpoint(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("simulated interruption")
        return sample_batch(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pretrain, "_sample_batch", stop_after_the_checkpoint)
        with pytest.raises(KeyboardInterrupt):
            pretrain.pretrain_teaching_glm("clm", **run)
    state = torch.load(resume_file, weights_only=True)
    assert state["step"] == 2 and set(state) == {"model", "optimizer", "scheduler", "step", "fingerprint"}


# ------------------------------------------------------------------------- random controls
@pytest.fixture(scope="module")
def clm_folder(tmp_path_factory):
    return save_teaching(tmp_path_factory.mktemp("llama") / "teaching-clm", "clm")


@pytest.mark.parametrize("name, expected", [
    ("teaching-mlm-random", "model_type 'llama'"),
    ("teaching-mlm", "model_type 'llama'"),
    ("hyenadna-tiny-1k-d256-random", "model_type 'llama'"),
])
def test_a_config_of_another_kind_or_family_is_refused(clm_folder, name, expected):
    with pytest.raises(ValueError) as raised:
        load_glm(name, path=clm_folder, device="cpu")
    message = str(raised.value)
    assert str(clm_folder) in message and expected in message and REGISTRY[name].family in message


def test_a_masked_entry_refuses_a_causal_model_class(clm_folder, monkeypatch):
    from glmeval_utils.models import families

    # The family accepts the config; the model built from it still has the wrong head.
    monkeypatch.setitem(families.FAMILIES, "teaching-mlm",
                        dataclasses.replace(families.FAMILIES["teaching-mlm"], model_types=("esm", "llama")))
    with pytest.raises(ValueError, match=r"LlamaForCausalLM.*objective 'masked'"):
        load_glm("teaching-mlm-random", path=clm_folder, device="cpu")


@pytest.mark.parametrize("name", ["teaching-mlm-random", "nt-v1-2.5b-1000g-random", "teaching-mlm"])
def test_a_folder_without_config_is_an_error(tmp_path, name):
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(FileNotFoundError, match=f"no config.json in {re.escape(str(folder))}"):
            load_glm(name, path=folder, device="cpu")


def test_readme_names_every_entry_that_runs_third_party_code():
    from pathlib import Path

    from glmeval_utils.models.registry import RANDOM_SUFFIX, remote_code_entries

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Third-party code", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in remote_code_entries() if not name.endswith(RANDOM_SUFFIX) and f"`{name}`" not in section]
    assert not missing, f"README's 'Third-party code' section does not name {missing}"
