"""The ``full`` profile: the paper's lentiMPRA folds of both cell types, the paper's extra NT layer and the
caveat next to the plant GPN's numbers.

The paper's Zenodo files are not in the offline mirror: small h5 files in the paper's ten-fold layout,
packed into a fake ``data.tar.gz`` mirror, go through the real registry, parser and chapter loading.
"""

from __future__ import annotations

import io
import tarfile

import h5py
import numpy as np
import pandas as pd
import pytest
from fake_glms import CompositionGLM, random_seq, saturation_table
from synthetic import CONTROL_CNN, GLM_CNN, GLM_MEAN, ONEHOT_CNN, ONEHOT_RESNET, predictions

from glmeval_utils.data import registry
from glmeval_utils.eval import compare
from glmeval_utils.learn.ladder import layer_of
from glmeval_utils.sequences import one_hot, reverse_complement
from glmeval_utils.tasks import binding, cagi5, elongation, lentimpra, splicing, summary
from glmeval_utils.tasks.report import PAPER_EXTRA_LAYERS, extra_layer_ladder, model_notes, settings_for

PAPER_SETS = ("paper_lentimpra_hepg2", "paper_lentimpra_k562")
ADAPTER_5, ADAPTER_3 = "AGGACCGGATCAACT", "CATTGCGTGAACCGA"  # the flanks every lentiMPRA construct shares
GPN_NOTE = "stands in for the paper's GPN"


# --------------------------------------------------------------------------- chapter 1 on the paper's folds
def test_full_lentimpra_config_lists_both_paper_data_sets():
    assert lentimpra.config("full").datasets == PAPER_SETS
    for name in PAPER_SETS:
        spec = registry.get_spec(name)
        assert spec.task == "lentimpra" and spec.profiles == ("full",)
    assert lentimpra.config("smoke").datasets == lentimpra.config("demo").datasets == ("lentimpra_hepg2",)
    assert [lentimpra.cell_type(name) for name in PAPER_SETS] == ["HepG2", "K562"]


def _construct(core: str, reverse: bool) -> str:
    return ADAPTER_5 + (reverse_complement(core) if reverse else core) + ADAPTER_3


def _fold_file(path, rng, *, elements_per_fold: int, offset: float, straddle: bool = False) -> None:
    """Ten folds of forward + reverse constructs; activity = offset + 4 × GC share of the construct."""
    with h5py.File(path, "w") as handle:
        moved = None
        for fold in range(1, 11):
            cores = [random_seq(rng, 200) for _ in range(elements_per_fold)]
            seqs = [_construct(core, reverse) for core in cores for reverse in (False, True)]
            if straddle and fold == 1:  # one element's reverse construct sits in the test fold
                moved = seqs.pop()
            if straddle and fold == 10:
                seqs.append(moved)
            y = offset + 4 * np.array([[(seq.count("G") + seq.count("C")) / len(seq)] for seq in seqs])
            handle[f"{fold}_x"] = one_hot(seqs).transpose(0, 2, 1)  # (N, 230, 4), as the paper stores it
            handle[f"{fold}_y"] = y


@pytest.fixture
def paper_mirror(tmp_path, monkeypatch):
    """A fake Zenodo ``data.tar.gz`` holding both lentiMPRA h5 files (K562: one element straddles splits)."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for cell, offset, straddle in (("HepG2", 0.0, False), ("K562", 100.0, True)):
            h5 = tmp_path / f"lentiMPRA_{cell}.h5"
            _fold_file(h5, rng, elements_per_fold=5, offset=offset, straddle=straddle)
            tar.add(h5, arcname=f"data/lenti_MPRA/lentiMPRA_{cell}.h5")
    archive = tmp_path / "mirror" / "zenodo" / registry.PAPER_ZENODO_RECORD / "data.tar.gz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(buffer.getvalue())
    monkeypatch.setenv("GLMEVAL_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path / "cache"))
    return tmp_path


def test_paper_folds_become_train_valid_test_of_chapter_1(paper_mirror):
    with pytest.warns(UserWarning, match="paper_lentimpra_k562: 1 elements have constructs in two splits"):
        table, data = lentimpra.load_data(lentimpra.config("full"), progress=False)
    assert list(data) == list(PAPER_SETS)
    for name in PAPER_SETS:
        rows = table[table.dataset == name]
        assert rows.groupby("split").fold.agg(set).to_dict() == {"train": set(range(1, 9)), "valid": {9},
                                                                "test": {10}}
        for split, folds in (("train", range(1, 9)), ("valid", [9]), ("test", [10])):
            np.testing.assert_allclose(data[name].y[split], rows[rows.fold.isin(folds)].activity, rtol=1e-6)
            assert data[name].seqs[split] == rows[rows.fold.isin(folds)].seq.tolist()
    hepg2 = data["paper_lentimpra_hepg2"]
    assert hepg2.sizes().to_dict() == {"train": 80, "valid": 10, "test": 10}
    # forward and reverse construct of an element are one bootstrap unit
    assert all(len(set(groups)) == len(groups) / 2 for groups in hepg2.groups.values())
    sizes = data.sizes()
    assert sizes.index.names == ["data set", "split"] and sizes[("K562", "test")] == 11


def test_orientation_free_elements_pair_the_two_constructs():
    rng = np.random.default_rng(1)
    cores = [random_seq(rng, 40) for _ in range(3)]
    seqs = pd.Series([_construct(core, reverse) for reverse in (False, True) for core in cores], index=range(10, 16))
    elements = lentimpra.orientation_free_elements(seqs)
    assert list(elements.index) == list(seqs.index) and elements.nunique() == 3
    assert (elements.iloc[:3].to_numpy() == elements.iloc[3:].to_numpy()).all()


def test_chapter_1_runs_and_reports_each_cell_type(paper_mirror, monkeypatch):
    fakes = {"teaching-mlm": CompositionGLM("teaching-mlm", n_layers=2),
             "teaching-mlm-random": CompositionGLM("teaching-mlm-random", n_layers=2, role="random-init")}
    monkeypatch.setattr(lentimpra, "load_glm", lambda name, device=None: fakes[name])
    # long enough for the one-hot CNN to predict more than a constant
    cfg = lentimpra.config("smoke", datasets=PAPER_SETS, onehot=("cnn",), n_boot=50,
                           settings=settings_for("smoke", max_epochs=10, patience=10))
    with pytest.warns(UserWarning, match="two splits"):
        run = lentimpra.run(cfg, progress=False)
    assert set(run.predictions.dataset) == set(PAPER_SETS) == set(run.sweep.dataset)
    assert set(run.whitening.dataset) == set(PAPER_SETS)
    report = lentimpra.report(run)
    assert any(s.startswith("**HepG2.**") for s in report.statements)
    assert any(s.startswith("**K562.**") for s in report.statements)
    assert "**HepG2.**" in report.glance and "**K562.**" in report.glance
    for name in ("performance", "selected", "versus_onehot", "controls", "layers", "whitening", "paper"):
        assert set(report.tables[name]["data set"]) == {"HepG2", "K562"}, name
    assert all(len(table.columns) <= 8 for table in report.tables.values())
    assert {s["dataset"] for s in report.figures["scatter"]} == set(PAPER_SETS)
    assert set(report.figures["layers"].curve) == {"HepG2 valid", "HepG2 test", "K562 valid", "K562 test"}
    assert report.figures["performance"].label.str.match("(HepG2|K562): ").all()
    stages = report.tables["timings"]
    assert set(stages["data set"]) == {"all", "HepG2", "K562"} and (stages.seconds >= 0).all()
    assert {"load", "one-hot cnn", "teaching-mlm: per-position embeddings", "teaching-mlm: probe ladder",
            "teaching-mlm: layer sweep"} <= set(stages.stage)


# --------------------------------------------------------------------------- chapter 3's comparators
def test_cagi5_comparators_use_the_cell_type_of_each_element():
    assert cagi5.config("full").lentimpra_sets == {"HepG2": "paper_lentimpra_hepg2", "K562": "paper_lentimpra_k562"}
    assert cagi5.config("demo").lentimpra_sets == cagi5.config("smoke").lentimpra_sets == {
        "HepG2": "lentimpra_hepg2"}
    both = ("HepG2", "K562")
    assert [cagi5.comparator_cell(e, both) for e in ("LDLR", "SORT1", "F9", "PKLR")] == ["HepG2"] * 3 + ["K562"]
    assert cagi5.comparator_cell("HBB", both) == "K562"  # HEL 92.1.7: the other erythroleukaemia line
    assert cagi5.comparator_cell("IRF4", both) == "HepG2"  # no matching cell type: the first
    assert cagi5.comparator_cell("PKLR", ("HepG2",)) == "HepG2"


class _ScaledACount:
    """A stand-in estimator: predicts (mean training activity) × (number of A) of each sequence."""

    def __init__(self, *args, **kwargs):
        self.scale = None

    def fit(self, X, y, X_valid, y_valid):
        self.scale = float(np.mean(y))
        return self

    def predict(self, seqs):
        return np.array([self.scale * seq.count("A") for seq in seqs])


def test_cagi5_deltas_come_from_the_model_of_the_element_cell_type(tmp_path, monkeypatch):
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path))
    rng = np.random.default_rng(2)

    def lenti(name, profile, progress):
        activity = {"paper_lentimpra_hepg2": 1.0, "paper_lentimpra_k562": 2.0}[name]
        seqs = [random_seq(rng, 230) for _ in range(12)]
        table = pd.DataFrame({"seq": seqs, "activity": activity, "split": ["train"] * 8 + ["valid"] * 2 + ["test"] * 2})
        table.loc[table.split == "test", "activity"] += [0.0, 1.0]  # a defined test Pearson r
        return table

    monkeypatch.setattr(cagi5.registry, "load", lenti)
    monkeypatch.setattr(cagi5.ladder, "onehot_estimator", lambda *args, **kwargs: _ScaledACount())
    monkeypatch.setattr(cagi5, "load_glm", lambda name, device=None: CompositionGLM(name))
    elements = {"LDLR": random_seq(rng, 30), "PKLR": random_seq(rng, 30)}
    variants = saturation_table(elements, offsets=[3, 10], with_seq=True)
    deltas, r = cagi5._supervised_deltas(cagi5.config("full", probe_model="fake"), variants, progress=False)
    a_change = (variants.alt == "A").astype(int) - (variants.ref == "A").astype(int)
    expected = np.where(variants.element == "PKLR", 2.0, 1.0) * a_change
    np.testing.assert_allclose(deltas[("one-hot CNN (lentiMPRA)", "delta_cnn")], expected)
    assert np.isfinite(deltas[("fake ridge (lentiMPRA)", "delta_mean_linear")]).all()
    assert set(r) == {"one-hot CNN (HepG2)", "one-hot CNN (K562)", "fake mean → ridge (HepG2)",
                      "fake mean → ridge (K562)"}


# --------------------------------------------------------------------------- the paper's extra NT layer
@pytest.mark.parametrize("task", ["tf_binding", "rbp_binding"])
def test_binding_full_config_has_the_nt_layer_10_rung(task):
    full = binding.config(task, "full")
    assert full.extra_layers == {"nt-v1-2.5b-1000g": (10,)} == PAPER_EXTRA_LAYERS
    assert "nt-v1-2.5b-1000g" in full.models
    assert binding.config(task, "smoke").extra_layers == binding.config(task, "demo").extra_layers == {}


def test_splicing_full_config_has_the_nt_layer_10_rung():
    assert splicing.config("full").extra_layers == {"nt-v1-2.5b-1000g": (10,)}
    assert "nt-v1-2.5b-1000g" in splicing.config("full").models
    assert splicing.config("smoke").extra_layers == splicing.config("demo").extra_layers == {}


def _binding_table(n=160, length=24, seed=0):
    rng = np.random.default_rng(seed)
    label = np.arange(n) % 2
    seqs = ["".join(rng.choice(list("ACGT"), size=length, p=[0.2, 0.3, 0.3, 0.2] if y else [0.3, 0.2, 0.2, 0.3]))
            for y in label]
    split = ["train"] * (n // 2) + ["valid"] * (n // 4) + ["test"] * (n - n // 2 - n // 4)
    return pd.DataFrame({"seq": seqs, "label": label.astype(float), "split": split})


def test_extra_layer_rows_are_one_more_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path))
    fakes = {"fake": CompositionGLM("fake", n_layers=3),
             "fake-random": CompositionGLM("fake-random", n_layers=3, role="random-init")}
    cfg = binding.config("tf_binding", "smoke", datasets=("set_a",), models=tuple(fakes), pooled_probes=("linear",),
                         extra_layers={"fake": (1,)}, whitening_check=False, n_boot=50)
    run = binding.run(cfg, loader=lambda name: _binding_table(), glm_loader=lambda name, device: fakes[name],
                      progress=False)
    representations = run.predictions.groupby("model").representation.agg(set).to_dict()
    assert representations["fake"] == {"mean", "full", "mean@L1", "full@L1"}
    assert representations["fake-random"] == {"mean", "full"}
    assert layer_of("full@L1") == 1
    report = binding.report(run)
    assert "fake · full@L1 → cnn" in set(report.tables["performance"]["configuration"])
    with pytest.raises(ValueError, match="extra layer 3 must lie in 0..2"):
        extra_layer_ladder(fakes["fake"], None, (3,))


def test_cnn_against_pooled_probes_of_its_own_layer_only():
    configs = {ONEHOT_CNN: (1.0, 1.0), GLM_CNN: (1.0, 1.0), GLM_MEAN: (0.6, 0.6),
               ("glm", "pretrained", "full@L10", "cnn"): (0.1, 0.1)}
    table = compare.versus_configuration(predictions(configs), "pearson",
                                         configuration={"representation": "full", "probe": "cnn"})
    assert table.other_representation.tolist() == ["mean"]


# --------------------------------------------------------------------------- the plant GPN's caveat
def test_model_notes_name_the_plant_gpn_and_its_control_only():
    assert model_notes(["gpn-brassicales", "gpn-brassicales-random", "one-hot"]) == model_notes(["gpn-brassicales"])
    assert len(model_notes(["gpn-brassicales-random"])) == 1 and GPN_NOTE in model_notes(["gpn-brassicales"])[0]
    assert model_notes(["dnabert2", "one-hot", "glm"]) == []


def _renamed(configs, model):
    return {(model if key[0] == "glm" else f"{model}-random" if key[0] == "glm-random" else key[0], *key[1:]): noise
            for key, noise in configs.items()}


@pytest.mark.parametrize("model, noted", [("gpn-brassicales", True), ("dnabert2", False)])
def test_every_report_with_the_plant_gpn_carries_its_caveat(model, noted, tmp_path):
    configs = _renamed({ONEHOT_CNN: (1.0, 1.0), ONEHOT_RESNET: (0.8, 0.8), GLM_CNN: (1.0, 1.0),
                        CONTROL_CNN: (1.2, 1.2)}, model)
    lenti = predictions(configs, task="lentimpra", dataset="lentimpra_hepg2", group_size=2)
    reports = [lentimpra.report(lentimpra.Run(lentimpra.config("smoke", n_boot=50), pd.DataFrame(), None, lenti,
                                              pd.DataFrame()))]
    chip = pd.concat([predictions(configs, task="tf_binding", dataset=d) for d in ("a", "b")], ignore_index=True)
    chip["y_true"] = (chip.y_true > 0).astype(float)
    reports.append(binding.report(binding.Run(binding.config("tf_binding", "smoke", n_boot=50), chip, pd.DataFrame(),
                                              pd.DataFrame())))
    insert = predictions(configs, task="pol2_elongation", dataset="insert")
    curve = insert.assign(representation=insert.representation + "@frac1.00")
    inserts = type("Data", (), {"simulated": False, "dataset": "insert", "sizes": lambda self: pd.Series()})()
    reports.append(elongation.report(elongation.Run(elongation.config("smoke", n_boot=50), pd.DataFrame(), inserts,
                                                    insert, curve)))
    lenti.to_csv(tmp_path / "lentimpra_predictions.csv.gz", index=False)
    reports.append(summary.report(summary.run(summary.config(tmp_path, n_boot=50))))
    for report in reports:
        assert any(GPN_NOTE in s for s in report.statements) == noted, report.chapter


def test_ascot_extra_layer_rows_are_labelled_and_leave_one_hot_to_the_last_layer_call(tmp_path, monkeypatch):
    from glmeval_utils.data.splicing import ascot_splits

    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path))
    rng = np.random.default_rng(3)
    genome = random_seq(rng, 1200)
    fasta = tmp_path / "toy.fa"
    fasta.write_text(">chrT\n" + "\n".join(genome[i:i + 60] for i in range(0, len(genome), 60)) + "\n")
    tissues = [f"tissue{t}" for t in range(12)]
    rows = []
    for k, (start, split) in enumerate([(401, "train"), (451, "train"), (420, "valid"), (430, "test"), (440, "test")]):
        psi = np.linspace(0.05, 0.95, 12) if k % 2 else np.linspace(0.9, 0.1, 12)
        rows.append({"chrom": "chrT", "exon_start": start, "exon_end": start + 60, "intron_start": 1,
                     "intron_end": 2, "exon_id": f"e{k}", "strand": "+", "exon_boundary": f"chrT:{start}",
                     **dict(zip(tissues, psi)), "split": split})
    splits = ascot_splits(pd.DataFrame(rows), fasta, flank=20, half=40)
    glms = [CompositionGLM("fake", n_layers=2), CompositionGLM("other", n_layers=2)]
    frames = splicing._ascot_extra_layers(splits, glms, {"fake": (1,)}, seeds=(0,), max_epochs=1, device="cpu",
                                          progress=False)
    [extra] = frames
    assert set(zip(extra.model, extra.representation)) == {("fake", "full@L1")}
    assert set(extra.split) == {"valid", "test"}
    with pytest.raises(ValueError, match="extra layer 2 must lie in 0..1"):
        splicing._ascot_extra_layers(splits, glms, {"other": (2,)}, seeds=(0,), max_epochs=1, progress=False)
