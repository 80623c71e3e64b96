"""Tests of teaching-gLM pre-training: held-out exclusion, masking, resume, and a smoke run on real data."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile

import numpy as np
import pandas as pd
import pytest
import torch

from glmeval_utils import pretrain
from glmeval_utils.sequences import reverse_complement

LEFT, RIGHT = pretrain.LENTIMPRA_ADAPTERS
needs_mirror = pytest.mark.skipif(not os.environ.get("GLMEVAL_MIRROR"),
                                  reason="GLMEVAL_MIRROR is unset: the real-data tests read the offline mirror")


def random_seq(rng, length):
    return "".join(rng.choice(list("ACGT"), size=length))


@pytest.fixture
def single_thread():
    """Tiny models train faster on one thread, above all on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def synthetic_tables(rng):
    cores = [random_seq(rng, 40) for _ in range(6)]
    lenti = pd.DataFrame({
        "seq": [LEFT + c + RIGHT for c in cores],
        "split": ["train", "train", "train", "valid", "test", "test"],
    })
    test_core = cores[4]
    gue = pd.DataFrame({
        # train: a positive equal to the RC of a lentiMPRA test core; a negative; two plain positives
        "seq": [reverse_complement(test_core), random_seq(rng, 40), random_seq(rng, 40), random_seq(rng, 40),
                random_seq(rng, 40), random_seq(rng, 40)],
        "label": [1, 0, 1, 1, 1, 0],
        "split": ["train", "train", "train", "train", "valid", "test"],
    })
    gue.loc[3, "seq"] = gue.loc[5, "seq"]  # a train positive identical to a test negative
    wt = [random_seq(rng, 50) for _ in range(3)]
    mapsy = pd.DataFrame({"wt_seq": wt, "mut_seq": [w[:10] + "A" + w[11:] for w in wt],
                          "split": ["train", "train", "test"]})
    mapsy.loc[1, "wt_seq"] = mapsy.loc[2, "mut_seq"].lower()  # equals a test mutant (case-insensitive)
    short = pd.DataFrame({"seq": ["ACGTACGT"], "split": ["train"]})
    return {"lentimpra_hepg2": lenti, "gue_tf0": gue, "mapsy": mapsy, "eclip_TOY_CELL": short}


def test_corpus_excludes_every_held_out_sequence_and_counts_them():
    tables = synthetic_tables(np.random.default_rng(0))
    corpus = pretrain.build_corpus(tables, crop_length=20, max_train_per_dataset=None, n_valid=10)
    lenti_train = [s[len(LEFT):-len(RIGHT)] for s in tables["lentimpra_hepg2"].query("split == 'train'").seq]
    gue = tables["gue_tf0"]
    expected = lenti_train + [gue.seq[2]] + [tables["mapsy"].wt_seq[0]]
    assert corpus.train == expected
    counts = corpus.counts.set_index("dataset")
    assert counts.loc["gue_tf0", "excluded_overlap"] == 2  # RC of a lenti test core, copy of a test negative
    assert counts.loc["mapsy", "excluded_overlap"] == 1
    assert counts.loc["eclip_TOY_CELL", "too_short"] == 1
    assert corpus.n_excluded == 3
    assert len(corpus.valid) == 2  # the lentiMPRA and GUE valid positives
    assert all(len(s) == 20 for s in corpus.valid)
    assert corpus.sha256 == pretrain.build_corpus(tables, crop_length=20, max_train_per_dataset=None,
                                                  n_valid=10).sha256


def test_missing_adapters_are_reported():
    table = pd.DataFrame({"seq": ["ACGT" * 20], "split": ["train"]})
    with pytest.raises(ValueError, match="lentimpra_hepg2 row 0"):
        pretrain.build_corpus({"lentimpra_hepg2": table}, crop_length=10, max_train_per_dataset=None, n_valid=1)


def test_bert_masking_proportions():
    vocabulary = pretrain._Vocabulary(base_ids=np.array([4, 5, 6, 7]), mask_id=1)
    ids = torch.randint(4, 8, (200, 101))
    ids[:, 0] = 2  # a leading special token is never a target
    generator = torch.Generator().manual_seed(0)
    corrupted, labels = pretrain._mask_tokens(ids, vocabulary, 0.15, generator, bert_mix=True)
    targets = labels != -100
    assert not targets[:, 0].any()
    assert (targets.sum(1) == 15).all()  # round(0.15 * 100) bases per sequence
    assert torch.equal(labels[targets], ids[targets]) and torch.equal(corrupted[~targets], ids[~targets])
    masked = (corrupted[targets] == 1).float().mean().item()
    kept = (corrupted[targets] == ids[targets]).float().mean().item()
    assert 0.76 < masked < 0.84 and 0.08 < kept < 0.16  # 10 % kept + 2.5 % random draws of the same base


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, monkeypatch, single_thread):
    rng = np.random.default_rng(1)
    tables = {"eclip_TOY_CELL": pd.DataFrame({"seq": [random_seq(rng, 40) for _ in range(40)],
                                              "split": ["train"] * 30 + ["valid"] * 10})}
    corpus = pretrain.build_corpus(tables, crop_length=24, max_train_per_dataset=None, n_valid=10)
    settings = dataclasses.replace(pretrain.get_settings("smoke"), crop_length=24, steps=6, warmup_steps=2,
                                   batch_size=4, checkpoint_every=3)
    run = dict(profile="smoke", settings=settings, corpus=corpus, progress=False)
    straight = pretrain.pretrain_teaching_glm("clm", out_dir=tmp_path / "straight", **run)

    sample_batch, calls = pretrain._sample_batch, []

    def crash_at_step_five(*args):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt("simulated interruption")
        return sample_batch(*args)

    monkeypatch.setattr(pretrain, "_sample_batch", crash_at_step_five)
    with pytest.raises(KeyboardInterrupt):
        pretrain.pretrain_teaching_glm("clm", out_dir=tmp_path / "resumed", **run)
    assert not (tmp_path / "resumed" / "teaching-clm").exists()
    monkeypatch.setattr(pretrain, "_sample_batch", sample_batch)
    resumed = pretrain.pretrain_teaching_glm("clm", out_dir=tmp_path / "resumed", **run)
    assert resumed.info["resumed_from_step"] == 3 and not resumed.reused
    assert resumed.metrics == straight.metrics
    again = pretrain.pretrain_teaching_glm("clm", out_dir=tmp_path / "resumed", **run)
    assert again.reused and again.metrics == resumed.metrics
    changed = dataclasses.replace(settings, steps=4)
    assert not pretrain.pretrain_teaching_glm("clm", out_dir=tmp_path / "resumed",
                                              **dict(run, settings=changed)).reused


@pytest.fixture(scope="module")
def smoke_corpus():
    if not os.environ.get("GLMEVAL_MIRROR"):
        pytest.skip("GLMEVAL_MIRROR is unset: the real-data tests read the offline mirror")
    with pytest.MonkeyPatch.context() as patch:
        with tempfile.TemporaryDirectory() as downloads:
            patch.setenv("GLMEVAL_DATA", downloads)
            tables = pretrain.load_corpus_tables()
            yield tables, pretrain.registry_corpus(pretrain.get_settings("smoke"))


@needs_mirror
def test_real_corpus_holds_no_test_sequence(smoke_corpus):
    tables, corpus = smoke_corpus
    held_out = set()
    for name, table in tables.items():
        rows = table[table["split"] != "train"]
        for column in ("seq", "wt_seq", "mut_seq"):
            if column in rows:
                values = list(rows[column].dropna())
                if name == "lentimpra_hepg2":
                    values = [s[len(LEFT):-len(RIGHT)] for s in values]
                held_out.update(values)
                held_out.update(reverse_complement(values))
    assert held_out.isdisjoint(corpus.train)
    assert held_out.isdisjoint(corpus.train + reverse_complement(corpus.train))
    assert corpus.n_excluded > 0 and len(corpus.train) > 1000
    assert set(corpus.counts["dataset"]) >= {"lentimpra_hepg2", "gue_tf0", "mapsy", "cagi5"}


@needs_mirror
def test_smoke_mlm_beats_random_init_and_loads(smoke_corpus, tmp_path, monkeypatch, single_thread):
    from glmeval_utils.models import load_glm

    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path))
    report = pretrain.pretrain_teaching_glm("mlm", profile="smoke", progress=False)
    accuracy = report.metrics["masked_accuracy"]
    perplexity = report.metrics["masked_perplexity"]
    assert accuracy["pretrained"] > accuracy["random_init"] + 0.05, accuracy
    assert perplexity["pretrained"] < perplexity["random_init"] - 0.1, perplexity
    info = json.loads((tmp_path / "models" / "teaching-mlm" / pretrain.INFO_FILE).read_text())
    assert info["data"]["train_sequences_sha256"] == smoke_corpus[1].sha256
    assert info["data"]["n_excluded_overlapping_held_out"] == smoke_corpus[1].n_excluded
    glm = load_glm("teaching-mlm", device="cpu")
    assert glm.embed(["ACGTACGTAC"], layers=(-1,), progress=False).shape == (1, 1, glm.hidden_size)
    assert pretrain.pretrain_teaching_glm("mlm", profile="smoke", progress=False).reused
