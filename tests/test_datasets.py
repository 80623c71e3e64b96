"""Tests for glmeval_utils.data.registry and glmeval_utils.data.loaders.

Synthetic tests write tiny files in each upstream layout into ``tmp_path``.
Mirror tests read the real upstream files through ``GLMEVAL_MIRROR`` and are
skipped (with the reason) only when that variable is unset.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from pathlib import Path

import h5py
import numpy as np
import openpyxl
import pandas as pd
import pytest

from glmeval_utils.data import registry
from glmeval_utils.data import loaders
from glmeval_utils.data.registry import DataError, DatasetSpec, RemoteFile
from glmeval_utils.data.splits import subsample
from glmeval_utils.profiles import get_profile
from glmeval_utils.sequences import SequenceError, one_hot, reverse_complement
from served import ServedFile, http_root  # noqa: F401  (http_root is a fixture)

MIRROR = os.environ.get("GLMEVAL_MIRROR")
needs_mirror = pytest.mark.skipif(not MIRROR, reason="GLMEVAL_MIRROR is unset: no offline mirror of the upstream files")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
RNG = np.random.default_rng(0)


def random_seq(length: int) -> str:
    return "".join(RNG.choice(list("ACGT"), size=length))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_spec(files: dict[str, bytes], parser, *, sha_override=None, **kwargs) -> DatasetSpec:
    """A spec for fake GitHub files ``toy/repo@COMMIT/<path>`` with the right hashes."""
    remote = tuple(RemoteFile("github", "toy/repo", COMMIT, path, (sha_override or {}).get(path, sha(data)))
                   for path, data in files.items())
    defaults = dict(name="toy", task="toy", targets=("label",), target_kind="binary", licence="-",
                    citation="-", paper_note="-")
    return DatasetSpec(files=remote, parser=parser, **{**defaults, **kwargs})


def write_mirror(root: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        target = root / "github" / "toy" / "repo" / COMMIT / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    root = tmp_path / "mirror"
    monkeypatch.setenv("GLMEVAL_MIRROR", str(root))
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path / "cache"))
    return root


def split_csvs(rows_per_split: dict[str, list[tuple[str, int]]], newline="\n") -> dict[str, bytes]:
    return {f"d/{stem}.csv": ("sequence,label" + newline + "".join(f"{s},{y}{newline}" for s, y in rows)).encode()
            for stem, rows in rows_per_split.items()}


# --------------------------------------------------------------------------- registry
MIRROR_NAMES = (["lentimpra_hepg2", "cagi5", "ascot_gtex_test", "vexseq", "mapsy"]
                + [f"gue_tf{i}" for i in range(5)]
                + [f"eclip_{x}" for x in ("GTF2F1_K562", "HNRNPL_K562", "HNRNPM_HepG2", "ILF3_HepG2",
                                          "KHSRP_K562", "MATR3_K562", "PTBP1_HepG2", "QKI_K562")])


def test_registry_declares_every_mirror_dataset_with_pinned_hashed_files():
    for name in MIRROR_NAMES:
        spec = registry.DATASETS[name]
        assert spec.name == name and "demo" in spec.profiles and spec.files
        for remote in spec.files:
            assert remote.source == "github" and re.fullmatch(r"[0-9a-f]{40}", remote.revision)
            assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256)
            assert remote.url == f"https://raw.githubusercontent.com/{remote.repo}/{remote.revision}/{remote.path}"
    assert registry.list_datasets(task="tf_binding", profile="demo") == [f"gue_tf{i}" for i in range(5)]
    paper = registry.list_datasets(profile="full")
    assert "paper_chip_CTCF" in paper and "paper_chip_CTCF" not in registry.list_datasets(profile="demo")
    hf = registry.DATASETS["paper_lentimpra_hepg2_hf"].files[0]
    assert hf.url.startswith("https://huggingface.co/datasets/gonzalobenegas/tang_koo_eval/resolve/")


def test_unknown_dataset_name_lists_known_ones():
    with pytest.raises(KeyError, match="known data sets: .*gue_tf0"):
        registry.fetch("no_such_set")
    with pytest.raises(KeyError, match="lentimpra_hepg2"):
        registry.load("no_such_set")


# --------------------------------------------------------------------------- fetching
def test_mirror_fetch_reads_in_place_and_verifies(mirror):
    files = {"d/a.txt": b"hello"}
    write_mirror(mirror, files)
    paths = registry.fetch(make_spec(files, parser=None))
    assert paths == {"a.txt": mirror / "github/toy/repo" / COMMIT / "d/a.txt"}


def test_mirror_hash_mismatch_names_file_and_both_hashes(mirror):
    write_mirror(mirror, {"d/a.txt": b"corrupt"})
    spec = make_spec({"d/a.txt": b"hello"}, parser=None)
    with pytest.raises(DataError) as err:
        registry.fetch(spec)
    message = str(err.value)
    assert "a.txt" in message and sha(b"hello") in message and sha(b"corrupt") in message


def test_mirror_missing_file_names_where_it_looked(mirror):
    spec = make_spec({"d/missing.txt": b"x"}, parser=None)
    expected = mirror / "github/toy/repo" / COMMIT / "d/missing.txt"
    with pytest.raises(DataError, match=re.escape(str(expected))):
        registry.fetch(spec)


def test_archive_member_is_unpacked_into_the_cache(mirror, tmp_path):
    import io
    import tarfile

    content = b"member bytes"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("data/chip/CTCF_200.h5")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    archive = mirror / "zenodo" / "123" / "data.tar.gz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(buffer.getvalue())
    remote = RemoteFile("zenodo", "123", "", "data.tar.gz", None, member="data/chip/CTCF_200.h5")
    path = registry.fetch_file(remote)
    assert path.read_bytes() == content and path.is_relative_to(tmp_path / "cache") and remote.name == "CTCF_200.h5"
    missing = RemoteFile("zenodo", "123", "", "data.tar.gz", None, member="data/chip/NOPE_200.h5")
    with pytest.raises(DataError, match="no member 'data/chip/NOPE_200.h5'"):
        registry.fetch_file(missing)




def test_download_is_cached_and_truncated_download_is_rejected(http_root, tmp_path, monkeypatch):
    root, base = http_root
    monkeypatch.delenv("GLMEVAL_MIRROR", raising=False)
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path / "cache"))
    ServedFile.base = base
    content = b"ACGT" * 1000
    (root / "good.txt").write_bytes(content)
    good = ServedFile("github", "toy/repo", COMMIT, "good.txt", sha(content))
    path = registry.fetch_file(good, progress=False)
    assert path.read_bytes() == content and str(path).startswith(str(tmp_path / "cache"))

    (root / "short.txt").write_bytes(content[:100])  # truncated upstream copy
    short = ServedFile("github", "toy/repo", COMMIT, "short.txt", sha(content))
    with pytest.raises(DataError) as err:
        registry.fetch_file(short, progress=False)
    assert "short.txt" in str(err.value) and sha(content) in str(err.value)
    assert sha(content[:100]) in str(err.value)
    leftovers = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == ["good.txt"]


# --------------------------------------------------------------------------- lentiMPRA
LEFT, RIGHT = "AGGACCGGATCAACT", "CATTGCGTGAACCGA"


def lenti_files(n_elements=20, *, lower_first=False) -> dict[str, bytes]:
    files = {}
    for fold, key in ((9, "val_HepG2.tsv"), (10, "test_HepG2.tsv")):
        lines = ["seq_id\tseq\tmean_value"]
        for i in range(n_elements):
            core = random_seq(200)
            fwd = LEFT + core + RIGHT
            if lower_first and i == 0:
                fwd = fwd.lower()
            lines.append(f"DNasePeakNoPromoter{fold}_{i}\t{fwd}\t{RNG.normal():.3f}")
            lines.append(f"DNasePeakNoPromoter{fold}_{i}_Reversed:\t{LEFT + reverse_complement(core) + RIGHT}\t"
                         f"{RNG.normal():.3f}")
        files[f"datasets/Vikram_splited/{key}"] = ("\n".join(lines) + "\n").encode()
    return files


def test_lentimpra_tidy_table_keeps_orientations_together(mirror):
    files = lenti_files(lower_first=True)
    write_mirror(mirror, files)
    table = registry.load(make_spec(files, loaders.parse_lentimpra_tsv, targets=("activity",),
                                    target_kind="regression"), profile="full")
    assert len(table) == 80 and set(table["split"]) == {"train", "valid", "test"}
    assert table["seq"].str.len().eq(230).all() and table["seq"].str.isupper().all()
    assert set(table["orientation"]) == {"fwd", "rev"} and set(table["fold"]) == {9, 10}
    assert not table["element_id"].str.contains("Reversed").any()
    assert table.groupby("element_id")["split"].nunique().eq(1).all()
    assert table.groupby("element_id").size().eq(2).all()
    assert "element" in table.attrs["split_note"]


def test_bad_character_names_file_and_row(mirror):
    files = lenti_files(n_elements=3)
    key = "datasets/Vikram_splited/test_HepG2.tsv"
    lines = files[key].decode().split("\n")
    fields = lines[3].split("\t")
    fields[1] = fields[1][:50] + "X" + fields[1][51:]
    lines[3] = "\t".join(fields)
    files[key] = "\n".join(lines).encode()
    write_mirror(mirror, files)
    with pytest.raises(SequenceError, match=r"test_HepG2\.tsv: row 2 .*'X' at position 50"):
        registry.load(make_spec(files, loaders.parse_lentimpra_tsv), profile="full")


def test_empty_file_is_named(mirror):
    files = {**split_csvs({"train": [("ACGT", 1)], "dev": [("ACGA", 0)]}), "d/test.csv": b""}
    write_mirror(mirror, files)
    with pytest.raises(DataError, match=r"test\.csv: the file is empty"):
        registry.load(make_spec(files, loaders.parse_split_csvs), profile="full")


# --------------------------------------------------------------------------- GUE / eCLIP
def test_split_csvs_with_crlf_and_cross_split_duplicates(mirror):
    shared_test, shared_train = random_seq(101), random_seq(101)
    rows = {"train": [(shared_test, 1), (shared_train, 0), (random_seq(101), 1), (shared_train, 0)],
            "dev": [(shared_train, 0), (shared_test, 1), (random_seq(101), 0)],
            "test": [(shared_test, 1), (random_seq(101), 0)]}
    files = split_csvs(rows, newline="\r\n")
    write_mirror(mirror, files)
    table = registry.load(make_spec(files, loaders.parse_split_csvs), profile="full")
    assert table["split"].value_counts().to_dict() == {"train": 4, "valid": 3, "test": 2}
    assert table["label"].dtype.kind == "i" and table["row_id"].iloc[4] == "dev:0"
    assert table["seq"].str.len().eq(101).all()  # no trailing \r
    deduplicated, removed = registry.drop_cross_split_duplicates(table)
    # train: the test sequence; dev: the train copy and the test copy
    assert removed == 3 and len(deduplicated) == 6
    test_seqs = set(deduplicated.loc[deduplicated["split"] == "test", "seq"])
    assert not (set(deduplicated.loc[deduplicated["split"] != "test", "seq"]) & test_seqs)


def test_split_csv_rejects_bad_label(mirror):
    files = split_csvs({"train": [("ACGT", 2)], "dev": [("ACGA", 0)], "test": [("ACGA", 1)]})
    write_mirror(mirror, files)
    with pytest.raises(DataError, match=r"train\.csv: row 0: label"):
        registry.load(make_spec(files, loaders.parse_split_csvs), profile="full")


# --------------------------------------------------------------------------- CAGI5
def cagi_files(element_seq: str, *, start=1000, conflict=False, gap=False) -> dict[str, bytes]:
    """One element ``MYCrs6983267`` on chr8 (+ a tiny F9 on chrX): release rows at even offsets."""
    import io

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    release = ["chrom\tstart\tend\tref\talt\teffect_size\tconfidence\ttarget\tCHIP"]
    for element, chrom, seq in (("MYCrs6983267", "8", element_seq), ("F9", "X", "ACG")):
        sheet = workbook.create_sheet(f"challenge_{element}")
        for comment in ("##Chrom", "##Pos", "##Ref", "##Alt", "##Value", "##Confidence"):
            sheet.append([comment])
        sheet.append(["#Chrom", "Pos", "Ref", "Alt", "Value", "Confidence"])
        for offset, ref in enumerate(seq):
            damaged = element.startswith("MYC")
            if gap and damaged and offset == 2:
                continue
            pos = start + offset
            for alt in sorted(set("ACGT") - {ref}):
                written_ref = "A" if conflict and damaged and offset == 1 and alt == "T" else ref
                if offset % 2 == 0:
                    name = "MYC" if element.startswith("MYC") else element
                    release.append(f"chr{chrom}\t{pos - 1}\t{pos}\t{written_ref}\t{alt}\t0.5\t0.9\t{name}\t1")
                else:
                    sheet.append([int(chrom) if chrom.isdigit() else chrom, pos, written_ref, alt, -0.25, 0.1])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return {"data/RegulationSaturation_Challenge_data.xlsx": buffer.getvalue(),
            "data/training_all_RegDB.txt": ("\n".join(release) + "\n").encode()}


def test_cagi5_rebuilds_elements_and_unifies_names(mirror):
    element_seq = random_seq(9)
    files = cagi_files(element_seq)
    write_mirror(mirror, files)
    table = registry.load(make_spec(files, loaders.parse_cagi5, targets=("effect",), target_kind="regression"),
                          profile="full")
    assert set(table["element"]) == {"MYCrs6983267", "F9"} and len(table) == 3 * (9 + 3)
    myc = table[table["element"] == "MYCrs6983267"]
    assert (myc["seq"] == element_seq).all() and (myc["element_start"] == 1000).all()
    assert (myc["offset"] == myc["pos"] - 1000).all()
    assert [element_seq[o] for o in myc["offset"]] == myc["ref"].tolist()
    assert set(table["chrom"]) == {"chr8", "chrX"}
    assert dict(zip(table["set"], table["split"])) == {"release": "train", "challenge": "test"}
    elements = registry.cagi5_elements(table)
    assert elements.set_index("element").loc["MYCrs6983267", ["start", "end", "seq"]].tolist() == [
        1000, 1008, element_seq]


@pytest.mark.parametrize("problem, message", [("conflict", r"MYCrs6983267, position chr8:1001"),
                                              ("gap", r"MYCrs6983267: positions are not contiguous.*chr8:1002")])
def test_cagi5_inconsistent_reference_is_reported(mirror, problem, message):
    files = cagi_files("ACGTACGTA", **{problem: True})
    write_mirror(mirror, files)
    with pytest.raises(DataError, match=message):
        registry.load(make_spec(files, loaders.parse_cagi5), profile="full")


# --------------------------------------------------------------------------- ASCOT and exon windows
def test_ascot_scales_psi_and_masks_missing(mirror):
    header = (",chrom,exon_start,exon_end,intron_start,intron_end,exon_id,strand,exon_length,"
              "exon_boundary,Tissue A,Tissue B\n")
    body = "0,chr2,101,150,1,400,GT_1,+,50,chr2:1-400,-1.0,50.0\n1,chr3,201,260,1,500,GT_2,-,60,x,100.0,0.0\n"
    files = {"data/ascot_gtex_test.csv.gz": gzip.compress((header + body).encode())}
    write_mirror(mirror, files)
    table = registry.load(make_spec(files, loaders.parse_ascot), profile="full")
    assert np.isnan(table.loc[0, "Tissue A"]) and table.loc[0, "Tissue B"] == 0.5
    assert table.loc[1, ["Tissue A", "Tissue B"]].tolist() == [1.0, 0.0]
    assert set(table["split"]) == {"test"} and loaders.ascot_tissues(table)[:2] == ["Tissue A", "Tissue B"]


def test_exon_windows_cut_acceptor_and_donor_halves(tmp_path):
    genome = {"chrA": random_seq(2000), "chrB": random_seq(1500)}
    fasta = tmp_path / "genome.fa"
    fasta.write_text("".join(f">{name} description\n" + "\n".join(seq[i:i + 61] for i in range(0, len(seq), 61))
                             + "\n" for name, seq in genome.items()))
    exons = pd.DataFrame({"chrom": ["chrA", "chrB"], "exon_start": [701, 501], "exon_end": [780, 900],
                          "strand": ["+", "-"], "exon_id": ["e1", "e2"]})
    windows = registry.exon_windows(exons, fasta, flank=300, half=400)
    plus, minus = genome["chrA"], genome["chrB"]
    assert windows.loc[0, "acceptor_seq"] == plus[400:800]        # 300 nt before base 701 (0-based 700)
    assert windows.loc[0, "donor_seq"] == plus[680:1080]          # ends 300 nt after base 780
    assert windows.loc[1, "acceptor_seq"] == reverse_complement(minus[800:1200])
    assert windows.loc[1, "donor_seq"] == reverse_complement(minus[200:600])
    assert windows["acceptor_seq"].str.len().eq(400).all()
    with pytest.raises(DataError, match="exon e3"):
        registry.exon_windows(exons.assign(exon_id=["e3", "e2"], exon_start=[101, 501]), fasta)


# --------------------------------------------------------------------------- Vex-seq
def vexseq_files() -> dict[str, bytes]:
    """Two exons: chr1 (+ strand, wild type, SNV, 2-nt deletion before the exon) and chr10 (- strand)."""
    seq_header = ("chromosome\tposition\treference\talternative\tUpstream Int Adj\tDown Int Adj\tExon up\t"
                  "Exon down\tstrand\tSequence\tFinal Sequence\tBarcode")
    plus = random_seq(30) + "AG" + random_seq(20) + "GT" + random_seq(10)  # exon = offsets 32-51
    snv = plus[:40] + ("A" if plus[40] != "A" else "C") + plus[41:]
    deletion = plus[:10] + plus[12:]
    minus = random_seq(20) + "AG" + random_seq(15) + "GT" + random_seq(8)  # exon = offsets 22-36
    rows = [("chr1", 100, "Control", "Original", 100, 163, 132, 151, "+", plus),
            ("chr1", 140, plus[40], snv[40], 100, 163, 132, 151, "+", snv),
            ("chr1", 110, "CT", "C", 100, 163, 132, 151, "+", deletion),
            ("chr10", 500, "Control", "Original", 500, 546, 510, 524, "-", minus)]
    seq_lines = [seq_header] + ["\t".join(map(str, r)) + "\tX\tAAAA" for r in rows for _ in range(2)]
    psi_cols = [f"{c}{r}_{s}" for c in "HK" for r in "123" for s in ("in", "out", "other")]
    psi_header = "\t".join(["variant", *psi_cols, *(f"{c}{r}" for c in "HK" for r in "123"),
                            "class", "mean_PSI", "mean_PSI_K", "mean_PSI_H"])
    psi_lines = [psi_header]
    for (chrom, pos, ref, alt, *_), klass in zip(rows, ["Reference", "Variant", "Variant", "Reference"]):
        counts = [30, 10, 1] * 6
        psi = [75.0, 70.0, 80.0, 60.0, 50.0, 40.0]
        psi_lines.append("\t".join(map(str, [f"{chrom}_{pos}_{ref}_{alt}", *counts, *psi, klass,
                                             np.mean(psi), 50.0, 75.0])))
    cagi_train = ("ID,seqnames\n" f"chr1_140_{plus[40]}_{snv[40]},chr1\n").encode()
    cagi_test = b"ID\tchromosome\nchr10_9_A_G\tchr10\n"
    return {"preprocess_data/68_97_final_sequences_fixed.tsv": ("\r\n".join(seq_lines) + "\r\n").encode(),
            "processed_files/read_counts_PSI_values.tsv": ("\n".join(psi_lines) + "\n").encode(),
            "data/vexseq/HepG2_delta_PSI_CAGI_training.csv": cagi_train,
            "data/vexseq/Vexseq_HepG2_delta_PSI_CAGI_test_true.tsv": cagi_test}


def test_vexseq_places_exons_and_averages_replicates(mirror):
    files = vexseq_files()
    write_mirror(mirror, files)
    table = registry.load(make_spec(files, loaders.parse_vexseq), profile="full").set_index("variant_id")
    assert len(table) == 4 and table["exon_id"].nunique() == 2
    wild_type = table.loc["chr1_100_Control_Original"]
    assert (wild_type.exon_start, wild_type.exon_end) == (32, 52) and wild_type.is_control
    deletion = table.loc["chr1_110_CT_C"]
    assert (deletion.exon_start, deletion.exon_end) == (30, 50)
    assert deletion.seq[deletion.exon_start - 2:deletion.exon_start] == "AG"
    minus = table.loc["chr10_500_Control_Original"]
    assert (minus.exon_start, minus.exon_end) == (22, 37) and minus.split == "test"
    assert minus.seq[20:22] == "AG" and minus.seq[37:39] == "GT"
    assert table["psi_hepg2"].tolist() == pytest.approx([0.75] * 4)
    assert table["psi_k562"].tolist() == pytest.approx([0.5] * 4)
    assert table["reads_hepg2"].eq(120).all()
    assert set(table.loc[table["chrom"] == "chr1", "split"]) <= {"train", "valid"}
    assert table.loc["chr1_140_" + table.index[1].split("_", 2)[2], "cagi4_set"] == "train"
    assert (table["wt_seq"] == table.groupby("exon_id")["seq"].transform("first")).all()


# --------------------------------------------------------------------------- MaPSy
def test_mapsy_infinite_ratios_become_nan_and_split_by_exon(mirror):
    lines = ["ID,WT_ID,MUT_ID,WT_SEQ,MUT_SEQ,chr,strand,Exon_Start,Exon_End,log2_vivo_ratio,log2_vitro_ratio,ESM,test"]
    for i in range(30):
        wt = random_seq(200)
        mut = wt[:100] + ("A" if wt[100] != "A" else "G") + wt[101:]
        vivo = ["Inf", "-Inf", "", "0.5"][i % 4]
        lines.append(f"W{i}_M{i},W{i},M{i},{wt},{mut},chr1,+,{1000 + i // 3},{1050 + i // 3},{vivo},-0.25,0,TRUE")
    files = {"data/mapsy/mapsy.txt": ("\n".join(lines) + "\n").encode()}
    write_mirror(mirror, files)
    table = registry.load(make_spec(files, loaders.parse_mapsy), profile="full")
    assert table["log2_vivo_ratio"].notna().sum() == 7 and np.isfinite(table["log2_vivo_ratio"].dropna()).all()
    assert (table["seq"] == table["mut_seq"]).all()
    assert all(sum(a != b for a, b in zip(wt, mut)) == 1 for wt, mut in zip(table["wt_seq"], table["mut_seq"]))
    assert table.groupby("exon_id")["split"].nunique().eq(1).all() and table["exon_id"].nunique() == 10


# --------------------------------------------------------------------------- the paper's h5 layouts
def _write_h5(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            handle[key] = value


def test_paper_h5_layouts(tmp_path):
    seqs = {split: [random_seq(12) for _ in range(n)] for split, n in (("train", 5), ("valid", 2), ("test", 3))}
    y = {split: RNG.random((len(s), 1)) for split, s in seqs.items()}
    channels_last = {f"onehot_{s}": one_hot(v).transpose(0, 2, 1) for s, v in seqs.items()}
    _write_h5(tmp_path / "lenti.h5", {**channels_last, **{f"y_{s}": v for s, v in y.items()}})
    lenti = loaders.parse_paper_lentimpra({"lenti.h5": tmp_path / "lenti.h5"})
    assert lenti.loc[lenti["split"] == "valid", "seq"].tolist() == seqs["valid"]
    assert lenti["activity"].tolist() == pytest.approx(np.concatenate(list(y.values()))[:, 0].tolist())

    folds = {str(k): [random_seq(12)] for k in range(1, 11)}
    _write_h5(tmp_path / "folds.h5", {**{f"{k}_x": one_hot(v).transpose(0, 2, 1) for k, v in folds.items()},
                                      **{f"{k}_y": np.array([[float(k)]]) for k in folds}})
    by_fold = loaders.parse_paper_lentimpra({"folds.h5": tmp_path / "folds.h5"})
    assert by_fold["split"].value_counts().to_dict() == {"train": 8, "valid": 1, "test": 1}
    assert by_fold.loc[by_fold["fold"] == 10, "seq"].item() == folds["10"][0]

    labels = {s: RNG.integers(0, 2, len(v)) for s, v in seqs.items()}
    _write_h5(tmp_path / "CTCF_200.h5", {**{f"x_{s}": one_hot(v) for s, v in seqs.items()},
                                         **{f"y_{s}": labels[s][:, None] for s in seqs}})
    chip = loaders.parse_paper_chip({"CTCF_200.h5": tmp_path / "CTCF_200.h5"})
    assert chip["seq"].tolist() == sum(seqs.values(), []) and chip["label"].dtype.kind == "i"

    extra_tracks = {f"X_{s}": np.concatenate([one_hot(v), RNG.random((len(v), 2, 12))], axis=1)
                    for s, v in seqs.items()}
    _write_h5(tmp_path / "QKI.h5", {**extra_tracks, **{f"Y_{s}": labels[s] for s in seqs}})
    eclip = loaders.parse_paper_eclip({"QKI.h5": tmp_path / "QKI.h5"})
    assert eclip["seq"].tolist() == sum(seqs.values(), [])

    _write_h5(tmp_path / "insert.h5", {**{f"X_{s}": one_hot(v) for s, v in seqs.items()},
                                       **{f"Y_{s}": np.hstack([y[s] * 10, y[s]]) for s in seqs}})
    insert = loaders.parse_paper_insert({"insert.h5": tmp_path / "insert.h5"})
    assert insert["log_elongation"].tolist() == pytest.approx(
        np.log1p(np.concatenate([y[s][:, 0] * 10 for s in seqs])).tolist())

    targets = {s: RNG.random((len(v), 56, 2)) for s, v in seqs.items()}
    _write_h5(tmp_path / "delta_logit.h5", {**{f"x_{s}": one_hot(v).transpose(0, 2, 1) for s, v in seqs.items()},
                                            **{f"y_{s}": targets[s] for s in seqs}})
    splicing = loaders.parse_paper_splicing({"delta_logit.h5": tmp_path / "delta_logit.h5"})
    assert splicing.loc[0, "acceptor_seq"] + splicing.loc[0, "donor_seq"] == seqs["train"][0]
    assert np.allclose(splicing.loc[0, "delta_logit"], targets["train"][0, :, 0])

    _write_h5(tmp_path / "broken.h5", {"x_train": one_hot(seqs["train"])})
    with pytest.raises(DataError, match=r"broken\.h5: missing key 'x_train' or 'y_train'"):
        loaders.parse_paper_chip({"broken.h5": tmp_path / "broken.h5"})


# --------------------------------------------------------------------------- profiles and summary
def test_subsample_keeps_whole_groups_deterministically():
    groups = np.repeat(np.arange(3000), 2)
    table = pd.DataFrame({"element_id": groups, "split": "train", "seq": "A"})
    limit = get_profile("smoke").max_rows["train"]
    first = subsample(table, get_profile("smoke").max_rows, group_col="element_id", seed=0)
    again = subsample(table, get_profile("smoke").max_rows, group_col="element_id", seed=0)
    other = subsample(table, get_profile("smoke").max_rows, group_col="element_id", seed=1)
    assert len(first) == limit and first.equals(again) and not first.equals(other)
    assert first.groupby("element_id").size().eq(2).all()
    assert len(subsample(table, get_profile("full").max_rows, group_col="element_id")) == len(table)


def test_subsample_per_group_keeps_every_group():
    table = pd.DataFrame({"element": np.repeat(list("ABCDE"), 100), "split": "test"})
    subset = subsample(table, get_profile("smoke").max_rows, group_col="element", per_group=True)
    assert set(subset["element"]) == set("ABCDE")
    assert len(subset) <= get_profile("smoke").max_rows["test"]


def test_summarize_reports_upstream_and_profile_rows(mirror):
    rows = {"train": [(random_seq(10), i % 2) for i in range(300)],
            "dev": [(random_seq(11), 1) for _ in range(10)], "test": [(random_seq(10), 0) for _ in range(60)]}
    files = split_csvs(rows)
    write_mirror(mirror, files)
    summary = registry.summarize("smoke", names=[make_spec(files, loaders.parse_split_csvs)], progress=False)
    by_split = summary.set_index("split")
    assert by_split["rows_upstream"].to_dict() == {"train": 300, "valid": 10, "test": 60}
    assert by_split["rows_in_profile"].to_dict() == {"train": 160, "valid": 10, "test": 48}
    assert by_split.loc["valid", "seq_len"] == "11" and by_split.loc["valid", "balance"] == "1.000"
    assert by_split.loc["test", "balance"] == "0.000"


# --------------------------------------------------------------------------- the real upstream files
@pytest.fixture(scope="module")
def real_tables():
    names = ["lentimpra_hepg2", "gue_tf4", "cagi5", "vexseq", "mapsy", "ascot_gtex_test"]
    return {name: registry.load(name, profile="full", progress=False) for name in names}


@pytest.fixture(scope="module")
def full_summary(real_tables):
    # After real_tables, so that those parsed tables are reused from the in-process memo.
    names = list(real_tables) + [name for name in MIRROR_NAMES if name not in real_tables]
    return registry.summarize("full", names=names, progress=False)


README_ROWS = {
    "lentimpra_hepg2": {"all": 24590},
    "gue_tf0": {"train": 32378, "valid": 1000, "test": 1000}, "gue_tf1": {"train": 30672, "valid": 1000, "test": 1000},
    "gue_tf2": {"train": 19000, "valid": 1000, "test": 1000}, "gue_tf3": {"train": 27294, "valid": 1000, "test": 1000},
    "gue_tf4": {"train": 19000, "valid": 1000, "test": 1000},
    "cagi5": {"train": 4650, "test": 13813},
    "eclip_GTF2F1_K562": {"train": 6018, "valid": 1290, "test": 1290},
    "eclip_HNRNPL_K562": {"train": 5657, "valid": 1212, "test": 1213},
    "eclip_HNRNPM_HepG2": {"train": 14856, "valid": 3184, "test": 3184},
    "eclip_ILF3_HepG2": {"train": 4188, "valid": 898, "test": 898},
    "eclip_KHSRP_K562": {"train": 24599, "valid": 5271, "test": 5272},
    "eclip_MATR3_K562": {"train": 6052, "valid": 1297, "test": 1297},
    "eclip_PTBP1_HepG2": {"train": 9727, "valid": 2084, "test": 2085},
    "eclip_QKI_K562": {"train": 2822, "valid": 605, "test": 605},
    "ascot_gtex_test": {"test": 11840}, "vexseq": {"all": 2385}, "mapsy": {"all": 4951},
}


@needs_mirror
def test_mirror_summary_matches_readme_counts(full_summary):
    for name, expected in README_ROWS.items():
        part = full_summary[full_summary["dataset"] == name]
        counts = dict(zip(part["split"], part["rows_upstream"]))
        assert (sum(counts.values()) if "all" in expected else counts) == expected.get("all", expected), name
    assert (full_summary["rows_in_profile"] == full_summary["rows_upstream"]).all()
    lengths = full_summary.groupby("dataset")["seq_len"].agg(lambda s: set(s))
    assert lengths["lentimpra_hepg2"] == {"230"} and lengths["gue_tf0"] == {"101"}
    assert lengths["mapsy"] == {"200"}
    low, high = zip(*(map(int, s.split("-")) if "-" in s else (int(s), int(s)) for s in lengths["vexseq"]))
    assert min(low) == 161 and max(high) == 166


@needs_mirror
def test_mirror_demo_summary_subsets_lentimpra():
    summary = registry.summarize("demo", names=["lentimpra_hepg2"], progress=False).set_index("split")
    limits = get_profile("demo").max_rows
    assert summary["rows_upstream"].sum() == 24590
    for split, row in summary.iterrows():
        assert row.rows_in_profile <= limits[split] and row.rows_in_profile % 2 == 0


@needs_mirror
def test_mirror_lentimpra(real_tables):
    table = real_tables["lentimpra_hepg2"]
    assert table["element_id"].nunique() == 12295
    per_element = table.groupby("element_id")["orientation"]
    assert per_element.size().eq(2).all() and per_element.nunique().eq(2).all()
    assert table.groupby("element_id")["split"].nunique().eq(1).all()
    assert table["activity"].mean() == pytest.approx(-0.217, abs=0.001)


@needs_mirror
def test_mirror_gue_duplicates(real_tables):
    table, removed = registry.drop_cross_split_duplicates(real_tables["gue_tf4"])
    assert removed >= 358
    for a, b in (("train", "test"), ("valid", "test"), ("valid", "train")):
        assert not set(table.loc[table["split"] == a, "seq"]) & set(table.loc[table["split"] == b, "seq"])


@needs_mirror
def test_mirror_cagi5_facts(real_tables):
    table = real_tables["cagi5"]
    assert len(table) == 18463 and table["element"].nunique() == 15
    assert not table.duplicated(["element", "pos", "alt"]).any()
    tert = table[(table["element"] == "TERT-GBM") & (table["pos"] == 1295228) & (table["alt"] == "A")]
    assert tert["chrom"].item() == "chr5" and tert["ref"].item() == "G" and tert["effect"].item() == 2.87
    assert set(table.loc[(table["chrom"] == "chr8") & (table["pos"] == 128413305), "ref"]) == {"G"}
    elements = registry.cagi5_elements(table).set_index("element")
    assert elements.loc["F9", ["chrom", "start", "end"]].tolist() == ["chrX", 138612621, 138612924]
    assert elements["seq"].str.len().to_dict()["IRF6"] == 602
    assert elements.loc["TERT-GBM", "seq"] == elements.loc["TERT-HEK293T", "seq"]
    smoke = subsample(table, get_profile("smoke").max_rows, group_col="element", per_group=True)
    assert smoke["element"].nunique() == 15


@needs_mirror
def test_mirror_splicing_tables(real_tables):
    ascot = real_tables["ascot_gtex_test"]
    tissues = loaders.ascot_tissues(ascot)
    assert len(tissues) == 56 and ascot[tissues].max().max() <= 1.0
    assert ascot[tissues].isna().to_numpy().mean() == pytest.approx(0.105, abs=0.005)
    vexseq = real_tables["vexseq"]
    assert vexseq["exon_id"].nunique() == 113 and vexseq["class"].value_counts()["Reference"] == 110
    wild = vexseq[vexseq["alt"] == "Original"]
    assert wild.apply(lambda r: r.seq[r.exon_start - 2:r.exon_start], axis=1).eq("AG").all()
    assert wild.apply(lambda r: r.seq[r.exon_end:r.exon_end + 2], axis=1).isin(["GT", "GC"]).all()
    assert vexseq.groupby("exon_id")["split"].nunique().eq(1).all()
    assert (vexseq["cagi4_set"] == "test").sum() == 1098 and (vexseq["cagi4_set"] == "train").sum() == 957
    mapsy = real_tables["mapsy"]
    assert mapsy["log2_vivo_ratio"].notna().sum() == 4441 and mapsy["log2_vitro_ratio"].notna().sum() == 4775
    assert mapsy.groupby("exon_id")["split"].nunique().eq(1).all()
