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
from toy_models import one_torch_thread  # noqa: F401  (autouse fixture)

LEFT, RIGHT = pretrain.LENTIMPRA_ADAPTERS
needs_mirror = pytest.mark.skipif(not os.environ.get("GLMEVAL_MIRROR"),
                                  reason="GLMEVAL_MIRROR is unset: the real-data tests read the offline mirror")


def random_seq(rng, length):
    return "".join(rng.choice(list("ACGT"), size=length))


def synthetic_tables(rng):
    """Small tables shaped like the real ones: sequence columns, ``split``, and label/target columns."""
    cores = [random_seq(rng, 40) for _ in range(6)]
    lenti = pd.DataFrame({
        "seq": [LEFT + c + RIGHT for c in cores],
        "activity": rng.normal(size=6),
        "split": ["train", "train", "train", "valid", "test", "test"],
    })
    test_core = cores[4]
    # GUE-like: shuffled negatives, so flagged non-genomic in the registry (held out, never trained on)
    gue = pd.DataFrame({
        "seq": [random_seq(rng, 40) for _ in range(6)],
        "label": [1, 0, 1, 1, 1, 0],
        "split": ["train", "train", "train", "train", "valid", "test"],
    })
    eclip = pd.DataFrame({
        # train: a site equal to the RC of a lentiMPRA test core; a background window identical to a GUE
        # test negative; a plain site and a plain background window
        "seq": [reverse_complement(test_core), gue.seq[5], random_seq(rng, 40), random_seq(rng, 40),
                random_seq(rng, 40), random_seq(rng, 40)],
        "label": [1, 0, 1, 0, 1, 0],
        "split": ["train", "train", "train", "train", "valid", "test"],
    })
    wt = [random_seq(rng, 50) for _ in range(3)]
    mapsy = pd.DataFrame({"wt_seq": wt, "mut_seq": [w[:10] + "A" + w[11:] for w in wt],
                          "seq": [w[:10] + "A" + w[11:] for w in wt],
                          "log2_vivo_ratio": rng.normal(size=3), "log2_vitro_ratio": rng.normal(size=3),
                          "split": ["train", "train", "test"]})
    mapsy.loc[1, "wt_seq"] = mapsy.loc[2, "mut_seq"].lower()  # equals a test mutant (case-insensitive)
    short = pd.DataFrame({"seq": ["ACGTACGT"], "label": [1], "split": ["train"]})
    return {"lentimpra_hepg2": lenti, "gue_tf0": gue, "eclip_TOY_K562": eclip, "mapsy": mapsy,
            "eclip_TOY_CELL": short}


#: The label, target and score columns of :func:`synthetic_tables`.
LABEL_COLUMNS = ("label", "activity", "log2_vivo_ratio", "log2_vitro_ratio")


def test_corpus_excludes_every_held_out_sequence_and_counts_them():
    tables = synthetic_tables(np.random.default_rng(0))
    corpus = pretrain.build_corpus(tables, crop_length=20, max_train_per_dataset=None, n_valid=10)
    lenti_train = [s[len(LEFT):-len(RIGHT)] for s in tables["lentimpra_hepg2"].query("split == 'train'").seq]
    eclip = tables["eclip_TOY_K562"]
    expected = lenti_train + [eclip.seq[2], eclip.seq[3]] + [tables["mapsy"].wt_seq[0]]  # site and background
    assert corpus.train == expected
    counts = corpus.counts.set_index("dataset")
    assert "gue_tf0" not in counts.index  # shuffled negatives: not a training source
    assert counts.loc["eclip_TOY_K562", "excluded_overlap"] == 2  # RC of a lenti test core, a GUE test negative
    assert counts.loc["mapsy", "excluded_overlap"] == 1
    assert counts.loc["eclip_TOY_CELL", "too_short"] == 1
    assert corpus.n_excluded == 3
    assert len(corpus.valid) == 2  # the lentiMPRA and eCLIP valid rows (not GUE's)
    assert all(len(s) == 20 for s in corpus.valid)
    assert corpus.sha256 == pretrain.build_corpus(tables, crop_length=20, max_train_per_dataset=None,
                                                  n_valid=10).sha256


def _with_labels(tables, change):
    """The tables with every label/target column changed by ``change(column) -> column or None (drop)``."""
    changed = {}
    for name, table in tables.items():
        table = table.copy()
        for column in LABEL_COLUMNS:
            if column in table:
                new = change(table[column])
                table = table.drop(columns=column) if new is None else table.assign(**{column: new})
        changed[name] = table
    return changed


@pytest.mark.parametrize("change", ["permute", "invert", "all_positive", "drop"])
def test_labels_do_not_influence_the_corpus(change):
    rng = np.random.default_rng(3)
    tables = synthetic_tables(rng)
    # more rows, so that a label-driven choice could not go unnoticed
    extra = pd.DataFrame({"seq": [random_seq(rng, 40) for _ in range(40)], "label": [1, 0] * 20,
                          "split": ["train"] * 30 + ["valid"] * 5 + ["test"] * 5})
    tables["eclip_TOY_HepG2"] = extra
    tables["gue_tf1"] = extra.assign(seq=[random_seq(rng, 40) for _ in range(40)])
    changes = {
        "permute": lambda c: c.to_numpy()[np.random.default_rng(7).permutation(len(c))],
        "invert": lambda c: 1 - c if set(c.unique()) <= {0, 1} else -c,
        "all_positive": lambda c: np.ones(len(c), dtype=c.dtype),
        "drop": lambda c: None,
    }
    run = dict(crop_length=20, max_train_per_dataset=25, n_valid=8, seed=0)
    reference = pretrain.build_corpus(tables, **run)
    other = pretrain.build_corpus(_with_labels(tables, changes[change]), **run)
    assert other.train == reference.train
    assert other.sha256 == reference.sha256
    assert other.valid == reference.valid
    pd.testing.assert_frame_equal(other.counts, reference.counts)
    # and both label classes of a genomic source are trained on
    used = set(reference.train)
    assert used & set(extra.query("split == 'train' and label == 1").seq)
    assert used & set(extra.query("split == 'train' and label == 0").seq)


def test_non_genomic_data_set_is_held_out_but_never_trained_on():
    rng = np.random.default_rng(5)
    genomic = pd.DataFrame({"seq": [random_seq(rng, 40) for _ in range(8)], "label": [1, 0] * 4,
                            "split": ["train"] * 6 + ["valid", "test"]})
    shuffled = pd.DataFrame({"seq": [random_seq(rng, 40) for _ in range(6)], "label": [1, 0] * 3,
                             "split": ["train", "train", "train", "train", "valid", "test"]})
    genomic.loc[0, "seq"] = reverse_complement(shuffled.seq[5])  # RC of the shuffled set's test row
    genomic.loc[1, "seq"] = shuffled.seq[4]  # its valid row
    run = dict(crop_length=20, max_train_per_dataset=None, n_valid=10)
    for tables, sources in [({"eclip_TOY_CELL": genomic, "gue_tf0": shuffled}, None),  # flagged in the registry
                            ({"eclip_TOY_CELL": genomic, "toy_shuffled": shuffled}, ["eclip_TOY_CELL"])]:
        corpus = pretrain.build_corpus(tables, train_sources=sources, **run)
        assert corpus.train == list(genomic.seq[2:6])
        assert set(corpus.train).isdisjoint(shuffled.seq)
        assert set(corpus.valid).isdisjoint(s[10:30] for s in shuffled.seq)
        assert list(corpus.counts["dataset"]) == ["eclip_TOY_CELL"]
        assert corpus.counts.set_index("dataset").loc["eclip_TOY_CELL", "excluded_overlap"] == 2
    with pytest.raises(ValueError, match="train_sources"):
        pretrain.build_corpus({"eclip_TOY_CELL": genomic}, train_sources=["gue_tf0"], **run)


def test_registry_flags_gue_and_corpus_sources_follow_the_flag():
    from glmeval_utils.data import registry

    gue = [f"gue_tf{i}" for i in range(5)]
    eclip = [name for name in registry.list_datasets(task="rbp_binding") if name.startswith("eclip_")]
    assert all(not registry.get_spec(name).genomic_rows for name in gue)
    assert all(not pretrain.is_genomic(name) for name in gue)
    sources = pretrain.corpus_sources()
    assert set(sources).isdisjoint(gue)
    assert {"lentimpra_hepg2", "vexseq", "mapsy", "cagi5", *eclip} <= set(sources) and len(eclip) == 8
    assert all(registry.get_spec(name).genomic_rows for name in sources)
    # the GUE sets still supply held-out sequences
    assert set(gue) <= set(pretrain.book_sequence_datasets())
    assert set(pretrain.book_sequence_datasets()) - set(sources) == set(gue)


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


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, monkeypatch):
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
    assert list(corpus.counts["dataset"]) == pretrain.corpus_sources()
    assert set(corpus.counts["dataset"]) >= {"lentimpra_hepg2", "eclip_QKI_K562", "mapsy", "cagi5"}
    assert "gue_tf0" in tables  # held out, never trained on
    gue = set().union(*(tables[f"gue_tf{i}"]["seq"].str.upper() for i in range(5)))
    assert gue.isdisjoint(corpus.train) and gue.isdisjoint(reverse_complement(corpus.train))


@needs_mirror
def test_smoke_mlm_beats_random_init_and_loads(smoke_corpus, tmp_path, monkeypatch):
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


def test_checkpoints_are_kept_loadable_and_labelled(tmp_path, monkeypatch):
    import math
    import shutil

    from glmeval_utils.models import load_glm
    from glmeval_utils.models.registry import get_spec, role_of, teaching_checkpoint_dir

    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path))
    rng = np.random.default_rng(2)
    tables = {"eclip_TOY_CELL": pd.DataFrame({"seq": [random_seq(rng, 40) for _ in range(40)],
                                              "split": ["train"] * 30 + ["valid"] * 10})}
    corpus = pretrain.build_corpus(tables, crop_length=24, max_train_per_dataset=None, n_valid=10)
    settings = dataclasses.replace(pretrain.get_settings("smoke"), crop_length=24, steps=7, warmup_steps=2,
                                   batch_size=4, checkpoint_every=3)
    run = dict(profile="smoke", settings=settings, corpus=corpus, progress=False)
    report = pretrain.pretrain_teaching_glm("mlm", **run)
    assert pretrain.checkpoint_steps(settings) == [0, 3, 6, 7]
    table = pretrain.checkpoint_table("mlm")
    assert table.step.tolist() == [0, 3, 6, 7] and table.tokens_seen.tolist() == [0, 3 * 96, 6 * 96, 7 * 96]
    assert table.model.tolist() == [f"teaching-mlm@step-{step}" for step in (0, 3, 6, 7)]
    perplexity = report.metrics["masked_perplexity"]
    assert table.held_out_loss.iloc[0] == pytest.approx(math.log(perplexity["random_init"]))
    assert table.held_out_loss.iloc[-1] == pytest.approx(math.log(perplexity["pretrained"]))

    def weights(name):
        glm = load_glm(name, device="cpu")
        return glm.role, glm.model.state_dict()

    def same(a, b):
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    # step 0 is the seeded initial weights, i.e. the random-init control; the last step is the model itself
    (start_role, start), (_, control) = weights("teaching-mlm@step-0"), weights("teaching-mlm-random")
    (last_role, last), (_, final), (_, middle) = (weights("teaching-mlm@step-7"), weights("teaching-mlm"),
                                                  weights("teaching-mlm@step-3"))
    assert start_role == "random-init" and last_role == "pretrained" == role_of("teaching-mlm@step-3")
    assert same(start, control) and same(last, final) and not same(middle, final)
    with pytest.raises(FileNotFoundError, match="saved steps: 0, 3, 6, 7"):
        load_glm("teaching-mlm@step-5")
    for bad in ("dnabert2@step-5", "teaching-mlm-random@step-3", "teaching-mlm@step-x"):
        with pytest.raises(KeyError):
            get_spec(bad)

    assert pretrain.pretrain_teaching_glm("mlm", **run).reused
    shutil.rmtree(teaching_checkpoint_dir("mlm", 3))  # an incomplete set is trained again
    again = pretrain.pretrain_teaching_glm("mlm", **run)
    assert not again.reused and again.metrics == report.metrics and 3 in pretrain.checkpoint_table("mlm").step.tolist()
    shorter = dataclasses.replace(settings, steps=4)  # another run: the old run's checkpoints go
    pretrain.pretrain_teaching_glm("mlm", **dict(run, settings=shorter))
    assert pretrain.checkpoint_table("mlm").step.tolist() == [0, 3, 4]


@needs_mirror
def test_side_by_side_pretraining_trains_both_models_in_their_own_processes(smoke_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path))
    table = pretrain.pretrain_all("smoke", progress=False, jobs=2)
    assert set(table.model) == {"teaching-mlm", "teaching-clm"}
    for kind in pretrain.KINDS:
        info = json.loads((tmp_path / "models" / f"teaching-{kind}" / pretrain.INFO_FILE).read_text())
        assert info["fingerprint"]["kind"] == kind
    # a second call reuses both (same fingerprints, whichever way they were trained)
    assert pretrain.pretrain_teaching_glm("clm", profile="smoke", progress=False).reused
    with pytest.raises(ValueError, match="jobs"):
        pretrain.pretrain_all("smoke", jobs=0)
