"""Tests of ``python -m glmeval_utils doctor`` (glmeval_utils.doctor), run in-process on tiny look-alikes."""

import importlib.util

import numpy as np
import pytest
import torch
from toy_glms import save_dnabert2_like, save_gpn_like, save_hyenadna_like, save_nt_like, save_nt_v2_like

from glmeval_utils import __main__ as cli
from glmeval_utils import doctor
from glmeval_utils.models.base import GLM
from glmeval_utils.profiles import get_profile

#: The HyenaDNA look-alike accepts 129 nt, so the look-alike runs use shorter sequences than 230.
LENGTH = "120"
#: full-profile entry → the look-alike family whose folder it loads ("caduceus" has none: it needs CUDA).
FULL_LOOKALIKE = {
    "nt-v1-2.5b-1000g": "nt", "nt-v2-500m": "nt-v2", "dnabert2": "dnabert2", "dnabert2-random": "dnabert2",
    "hyenadna-tiny-1k-d256": "hyenadna", "hyenadna-small-32k": "hyenadna", "gpn-brassicales": "gpn",
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """One saved look-alike per family (plus a head-less HyenaDNA backbone and an empty folder)."""
    root = tmp_path_factory.mktemp("doctor")
    (root / "empty").mkdir()
    return {
        "nt": save_nt_like(root / "nt"),
        "nt-v2": save_nt_v2_like(root / "nt-v2"),
        "dnabert2": save_dnabert2_like(root / "dnabert2"),
        "hyenadna": save_hyenadna_like(root / "hyenadna"),
        "hyenadna-backbone": save_hyenadna_like(root / "hyenadna-backbone", causal=False),
        "gpn": save_gpn_like(root / "gpn"),
        "empty": root / "empty",
    }


@pytest.fixture
def tables(monkeypatch):
    """The tables :func:`doctor.run_doctor` returned during the test, in call order."""
    seen = []
    original = doctor.run_doctor

    def record(*args, **kwargs):
        seen.append(original(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(doctor, "run_doctor", record)
    return seen


def run_cli(names, paths, *extra):
    argv = ["doctor", "--models", ",".join(names), "--device", "cpu", *extra]
    for name, folder in paths.items():
        argv += ["--path", f"{name}={folder}"]
    return cli.main(argv)


def row_of(table, name):
    (row,) = table.loc[table["model"] == name].to_dict("records")
    return row


def test_full_profile_lookalikes_all_pass(folders, tables, capsys):
    names = [name for name in get_profile("full").models if name in FULL_LOOKALIKE]
    assert len(names) == len(get_profile("full").models) - 1  # every entry but Caduceus
    status = run_cli(names, {name: folders[FULL_LOOKALIKE[name]] for name in names}, "--trust-remote-code",
                     "--length", str(LENGTH))
    out = capsys.readouterr().out
    assert status == 0
    (table,) = tables
    assert table["model"].tolist() == names
    assert (table["problem"] == "").all(), table["problem"].tolist()
    assert (table["embed OK"] == "yes").all() and (table["LLR OK"] == "yes").all()
    tuned = table.set_index("model")["fine-tune OK"]  # one LoRA step; GPN has no fine-tuning settings
    assert (tuned.drop("gpn-brassicales") == "yes").all() and tuned["gpn-brassicales"] == doctor.NO_FINE_TUNING
    # The builders' sizes: hidden 16 everywhere, 2 blocks (GPN's ConvNet: 3).
    assert table["layers"].tolist() == [3 if name == "gpn-brassicales" else 2 for name in names]
    assert (table["hidden size"] == 16).all()
    assert (table["GPU memory"] == "–").all()
    assert table["revision"].str.startswith("sha256:").sum() == len(names) - 1
    assert row_of(table, "dnabert2-random")["revision"] == "random-seed0"
    tokens = table.set_index("model")[f"tokens per {LENGTH} nt"]
    assert tokens["nt-v1-2.5b-1000g"] == 1 + 120 // 6  # <cls> + 20 six-mers
    assert tokens["hyenadna-tiny-1k-d256"] == 120 + 1  # one token per base + [SEP]
    assert tokens["gpn-brassicales"] == 120  # no special tokens
    header, *lines = out.splitlines()
    assert header.split()[:2] == ["model", "revision"] and f"tokens per {LENGTH} nt" in header
    assert [line.split()[0] for line in lines] == names  # one printed row per model, name first


def test_failing_models_keep_their_rows_and_the_exit_status_is_nonzero(folders, tables, capsys, monkeypatch,
                                                                        tmp_path):
    import huggingface_hub.constants
    import transformers.utils.hub

    # A hub name with an empty cache and the hub switched off, whatever this machine has downloaded.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(transformers.utils.hub, "TRANSFORMERS_CACHE", str(tmp_path))
    names = ["nt-v1-2.5b-1000g", "dnabert2", "gpn-brassicales"]
    status = run_cli(names, {"nt-v1-2.5b-1000g": folders["empty"], "gpn-brassicales": folders["gpn"]})
    captured = capsys.readouterr()
    assert status != 0
    (table,) = tables
    assert table["model"].tolist() == names  # the model after the failures still ran
    assert "tokens per 230 nt" in table.columns
    empty, offline, fine = (row_of(table, name) for name in names)
    assert f"no config.json in {folders['empty']}" in empty["problem"]
    assert "not downloaded" in offline["problem"] and "HF_HUB_OFFLINE=1" in offline["problem"]
    assert "zhihan1996/DNABERT-2-117M" in offline["problem"]
    for failed in (empty, offline):
        assert failed["embed OK"] == failed["LLR OK"] == "–" and "\n" not in failed["problem"]
    assert fine["problem"] == "" and fine["embed OK"] == fine["LLR OK"] == "yes"
    assert "not downloaded" in captured.out  # the printed row says it too
    assert "2 of 3 gLMs failed the check: nt-v1-2.5b-1000g, dnabert2" in captured.err
    assert "Traceback" not in captured.err


def test_lora_targets_that_miss_the_model_fail_the_fine_tuning_check(folders, tables, monkeypatch, capsys):
    import dataclasses

    from glmeval_utils.learn import finetune

    wrong = dataclasses.replace(finetune.FINE_TUNING["dnabert2"], target_modules=("query", "value"))
    monkeypatch.setitem(finetune.FINE_TUNING, "dnabert2", wrong)
    assert run_cli(["dnabert2"], {"dnabert2": folders["dnabert2"]}, "--trust-remote-code") != 0
    row = row_of(tables[0], "dnabert2")
    assert row["fine-tune OK"] == "no" and row["embed OK"] == row["LLR OK"] == "yes"
    assert "fine-tune:" in row["problem"] and "not found" in row["problem"]


def test_batch_dependent_embeddings_fail_the_padding_check(folders, tables, monkeypatch, capsys):
    original = GLM.embed

    def leaky_embed(self, seqs, **kwargs):
        # Each sequence's embedding moves with the size of its batch, as when padding leaks in.
        return original(self, seqs, **kwargs) + len(seqs)

    monkeypatch.setattr(GLM, "embed", leaky_embed)
    status = run_cli(["nt-v1-2.5b-1000g"], {"nt-v1-2.5b-1000g": folders["nt"]})
    assert status != 0
    row = row_of(tables[0], "nt-v1-2.5b-1000g")
    assert row["embed OK"] == "no" and row["LLR OK"] == "yes"
    assert "embeds differently alone and in a padded batch" in row["problem"]
    assert "1 of 1 gLMs failed" in capsys.readouterr().err


@pytest.mark.parametrize("name, family, method, corrupt", [
    ("nt-v1-2.5b-1000g", "nt", "masked_log_probs", lambda log_probs: log_probs + 0.5),
    ("hyenadna-tiny-1k-d256", "hyenadna", "token_log_probs",
     lambda scores: [np.where(np.arange(len(s)) == 5, np.nan, s) for s in scores]),
])
def test_broken_likelihoods_fail_the_llr_check(folders, tables, monkeypatch, name, family, method, corrupt):
    original = getattr(GLM, method)
    monkeypatch.setattr(GLM, method, lambda self, *args, **kwargs: corrupt(original(self, *args, **kwargs)))
    assert run_cli([name], {name: folders[family]}, "--trust-remote-code", "--length", str(LENGTH)) != 0
    row = row_of(tables[0], name)
    assert row["embed OK"] == "yes" and row["LLR OK"] == "no"
    expected = "not log-distributions" if method == "masked_log_probs" else "1 non-finite values"
    assert f"LLR: {method} of sequence 0" in row["problem"] and expected in row["problem"]


def test_a_backbone_without_lm_head_passes_with_llr_not_applicable(folders, tables):
    name = "hyenadna-tiny-anticapt"
    assert run_cli([name], {name: folders["hyenadna-backbone"]}, "--trust-remote-code", "--length", str(LENGTH)) == 0
    row = row_of(tables[0], name)
    assert row["embed OK"] == "yes" and row["LLR OK"] == "n/a (no LM head)" and row["problem"] == ""


def test_a_folder_with_code_is_not_run_without_trust(folders, tables, capsys):
    # The look-alike's modules are our own harmless stand-ins; any folder with an auto_map gets this row.
    status = run_cli(["dnabert2"], {"dnabert2": folders["dnabert2"]}, "--length", LENGTH)
    assert status != 0
    row = row_of(tables[0], "dnabert2")
    assert row["problem"] == (f"load: code not run: {folders['dnabert2']} ships its own Python code (config.json "
                              "auto_map → bert_layers, configuration_bert); rerun with --trust-remote-code if you "
                              "trust it")
    assert row["embed OK"] == row["LLR OK"] == "–"
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available() and importlib.util.find_spec("mamba_ssm") is not None,
                    reason="Caduceus can load here")
def test_caduceus_row_says_what_it_needs(tables, capsys):
    assert cli.main(["doctor", "--models", "caduceus-ph-131k", "--device", "cpu"]) != 0
    problem = row_of(tables[0], "caduceus-ph-131k")["problem"]
    assert problem.startswith("load: RuntimeError: Caduceus needs a CUDA GPU and the mamba-ssm kernels")


def test_model_selection():
    assert doctor.models_to_check("full") == list(get_profile("full").models)
    every = doctor.models_to_check("full", all_models=True)
    assert set(get_profile("full").models) < set(every) and "nt-v2-500m-random" in every
    assert doctor.models_to_check("smoke", models=" dnabert2, gpn-brassicales,dnabert2") == [
        "dnabert2", "gpn-brassicales"]
    with pytest.raises(ValueError, match="unknown gLM 'dnabert3'; known gLMs: .*teaching-mlm"):
        doctor.models_to_check(models="dnabert3")


@pytest.mark.parametrize("argv, message", [
    (["--models", "dnabert2", "--path", "dnabert2"], "is not NAME=FOLDER"),
    (["--models", "dnabert2", "--path", "gpn-brassicales=/x"], "'gpn-brassicales', which is not among"),
    (["--models", "dnabert2", "--path", "dnabert2=/x", "--path", "dnabert2=/y"], "gives gLM 'dnabert2' twice"),
    (["--models", "dnabert3"], "unknown gLM 'dnabert3'"),
    (["--models", "dnabert2", "--all"], "not allowed with argument"),
    (["--device", "gpu0"], "names no torch device"),
    (["--length", "1"], "length must be at least 2 nt"),
])
def test_bad_arguments_are_one_line_errors(argv, message, capsys):
    assert cli.main(["doctor", *argv]) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.gpu
def test_lookalikes_pass_on_cuda_and_report_peak_memory(folders, tables):
    names = ["nt-v1-2.5b-1000g", "dnabert2", "hyenadna-tiny-1k-d256", "gpn-brassicales"]
    doctor.main(models=names, paths=[f"{name}={folders[FULL_LOOKALIKE[name]]}" for name in names], device="cuda",
                length=int(LENGTH), trust_remote_code=True)
    (table,) = tables
    assert (table["problem"] == "").all(), table["problem"].tolist()
    assert table["GPU memory"].str.endswith(" GiB").all()
