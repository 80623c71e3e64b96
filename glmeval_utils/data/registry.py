"""The data registry: declared data sets, hash-verified fetching, loading and profiles.

Every data set is a :class:`DatasetSpec` in :data:`DATASETS`: its upstream
files (a GitHub repository at a pinned commit, the paper's Zenodo record or
a Hugging Face dataset), their sha256, licence, citation, how it differs from
the paper's data, and the parser in :mod:`glmeval_utils.data.loaders` that turns
the upstream format into a tidy table.

* :func:`fetch` downloads with pooch into ``paths.data_dir()`` and checks
  sha256.  With ``GLMEVAL_MIRROR`` set, every file is read from the offline
  mirror instead (``$GLMEVAL_MIRROR/github/<owner>/<repo>/<commit>/<path>``
  for a GitHub raw URL), still hash-checked, with no network fallback.
  Every use checks a file again: a cached download against its declared
  hash; a file whose hash is not published (the paper's Zenodo
  ``data.tar.gz``, the Hugging Face parquets) against the sha256 recorded at
  its first use (trust on first use, ``<file>.sha256`` in the cache); a file
  unpacked from an archive (a ``data.tar.gz`` member, the hg38 FASTA of
  :func:`fetch_genome`) against the sha256 recorded when it was unpacked, and
  it is unpacked again, with a warning, when it differs.
* :func:`load` parses the files and applies a profile subset
  (:func:`glmeval_utils.data.splits.subsample`); :func:`summarize` reports rows, lengths
  and balance.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import tarfile
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from glmeval_utils.data import loaders
from glmeval_utils.data.loaders import DataError, drop_cross_split_duplicates, exon_windows
from glmeval_utils.data.splits import subsample
from glmeval_utils.files import file_digest, temporary_path
from glmeval_utils.paths import data_dir
from glmeval_utils.profiles import get_profile

__all__ = [
    "RemoteFile", "DatasetSpec", "DATASETS", "DataError", "list_datasets", "get_spec", "fetch",
    "fetch_file", "fetch_genome", "HG38", "load", "summarize", "drop_cross_split_duplicates",
    "cagi5_elements", "exon_windows", "MIRROR_ENV",
]

MIRROR_ENV = "GLMEVAL_MIRROR"


@dataclass(frozen=True)
class RemoteFile:
    """One upstream file at a fixed version.

    Parameters
    ----------
    source : {"github", "zenodo", "huggingface", "ucsc"}
    repo : str
        ``owner/name`` (GitHub, Hugging Face dataset), the Zenodo record id or
        the UCSC assembly (``hg38``).
    revision : str
        Full commit (GitHub), dataset revision (Hugging Face); ignored for
        Zenodo and UCSC.
    path : str
        Path inside the repository, or the file name in the Zenodo record or
        the assembly's ``bigZips`` folder.
    sha256 : str or None
        Expected hash; None where it is not published.  The sha256 of the
        first download (or first mirror read) is then recorded next to the
        cached file and every later use must match it.
    member : str or None
        Path of the wanted file inside an archive (``.tar.gz``) download.
    key : str or None
        Name of the file for the parser; defaults to the base name of
        ``member`` or ``path``.
    md5 : str or None
        The publisher's md5, for files whose publisher lists md5 only (UCSC's
        ``md5sum.txt``); checked when ``sha256`` is None.
    """

    source: str
    repo: str
    revision: str
    path: str
    sha256: str | None = None
    member: str | None = None
    key: str | None = None
    md5: str | None = None

    @property
    def url(self) -> str:
        """Where the file is downloaded from."""
        if self.source == "github":
            return f"https://raw.githubusercontent.com/{self.repo}/{self.revision}/{self.path}"
        if self.source == "zenodo":
            return f"https://zenodo.org/records/{self.repo}/files/{self.path}"
        if self.source == "huggingface":
            return f"https://huggingface.co/datasets/{self.repo}/resolve/{self.revision}/{self.path}"
        if self.source == "ucsc":
            return f"https://hgdownload.soe.ucsc.edu/goldenPath/{self.repo}/bigZips/{self.path}"
        raise ValueError(f"unknown source {self.source!r} for {self.path}")

    @property
    def relative_path(self) -> Path:
        """Location below a cache or mirror root: ``<source>/<repo>/<revision>/<path>``."""
        revision = () if self.source in ("zenodo", "ucsc") else (self.revision,)
        return Path(self.source, *self.repo.split("/"), *revision, *self.path.split("/"))

    @property
    def name(self) -> str:
        return self.key or Path(self.member or self.path).name


@dataclass(frozen=True)
class DatasetSpec:
    """A declared data set.

    Attributes
    ----------
    name, task : str
        Registry name and task (``lentimpra``, ``tf_binding``, ``cagi5``,
        ``rbp_binding``, ``splicing_psi``, ``splicing_variant``, ``pol2_elongation``).
    files : tuple of RemoteFile
    parser : callable
        ``parser(paths: dict[str, Path]) -> DataFrame`` from :mod:`glmeval_utils.data.loaders`.
    targets : tuple of str
        Target columns; the first is the one :func:`summarize` describes.
    target_kind : {"binary", "regression"}
    licence, citation, paper_note : str
        Terms, what to cite, and how the data differ from the paper's.
    profiles : tuple of str
        Profiles that use the data set (``smoke``/``demo``/``full``).
    group_col : str or None
        Rows of one group (element, exon) stay together when subsampling.
    subsample_profiles : tuple of str
        Profiles in which :func:`load` subsamples (others keep every row).
    per_group : bool
        Subsample rows within each group (keeping every group) rather than
        whole groups.
    genomic_rows : bool
        True when every row's sequence is genomic (or genome-derived, such as
        a reporter insert) whatever its label; False when some rows are
        synthetic, e.g. shuffled negatives (GUE TF sets).  Declared from the
        data set's construction, never from its labels; the teaching-gLM
        corpus (:mod:`glmeval_utils.pretrain`) takes only ``True`` data sets.
    """

    name: str
    task: str
    files: tuple[RemoteFile, ...]
    parser: Callable[[Mapping[str, Path]], pd.DataFrame]
    targets: tuple[str, ...]
    target_kind: str
    licence: str
    citation: str
    paper_note: str
    profiles: tuple[str, ...] = ("smoke", "demo", "full")
    group_col: str | None = None
    subsample_profiles: tuple[str, ...] = ("smoke", "demo")
    per_group: bool = False
    genomic_rows: bool = True


# --------------------------------------------------------------------------- registry
def _github(repo: str, commit: str, files: Iterable[tuple[str, str]]) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile("github", repo, commit, path, sha256) for path, sha256 in files)


MPRA_MNIST = ("autosome-imtf/MPRA-MNIST", "0a4b122102a076e52c14dbfc1c38f9ca55988fb4")
DEEPGENE = ("wds-seu/DeepGene", "486343e5212361d6cd7ed03c624f430ed3d5f02e")
REGSAT = ("meghegde/regulation-saturation-python", "566ef35b6c76978e31daf8b6b2e8e161be805019")
TAPT = ("maxlwnii/tapt", "9030fac23f1d7b5a524753fda6a3e1e96b11be1d")
MTSPLICE = ("gagneurlab/mtsplice", "8cef8d202cee5d864786bf5a7610ce8527c6e3cc")
VEXSEQ = ("scottiadamson/Vex-seq", "36d9c4a6e5e74def46b3cada69d3166f08c54bd5")
MMSPLICE_PAPER = ("gagneurlab/MMSplice_paper", "89e9885c39604945885b462ff5b7c7f08c47f269")
PAPER_ZENODO_RECORD = "11583224"
PAPER_HF_DATASET = ("gonzalobenegas/tang_koo_eval", "main")

#: sha256 of each split file (train, dev, test) of GUE tf/<i>, from the pinned commit.
_GUE_SHA256 = {
    0: ("930080e019fb92961cbd71998839466c2fc4c34da8fc174999a2ed04ef46822f",
        "17ff638046d146102a86b727adc9ddead9f1f1793577a38961e1f3319da7f738",
        "d29934d0df424a91ef70f6a62671d9d1c4661b485d7010983b49c8bcfba6aeab"),
    1: ("29dc3c962cc4e4d7161238bb4d0b84583f7794b246a622f81bf30e83e3ae8685",
        "fbffd591300e9ef192d131c139322cbe8e3fb87fae4f52236f64588d3975b8d1",
        "8995d9d9176d56aa6e3a7014dfcf61ad45bc25a59fba1faca9864250ce42008a"),
    2: ("7f7483c2179242b6f42dd3578640e1496478e56e627e8fabd2ac79e088b1cbaa",
        "002168deb50cebb8dc94a9268e220d0ffa49068e4d9ae28b5873b74ba287c4a1",
        "78de7c31aea4393b98387f6768cc9144fc912c9391c6b20d27028e355a95c4f1"),
    3: ("c4191038363919af593d4f68428e00e6320e3a35902575f1c5c0828954e25a88",
        "b878776f73bd503a371d1d8c0a77058da409ff3f3799901e017f764b07a0d0ef",
        "56d8d76fdcf98c8a444b26794099ef26185872371f62a7565f602181dd533903"),
    4: ("7b43fcec55a8ae0f44e826566be776984c37200a175c684ec2e68650aebd483c",
        "4a18b9d9a6a4f77f6978d251b784ab554c127aca89c9fdb4546d81c20a47c436",
        "55f4ad82c52c7ced861c5df835e5b11e3b2b15d53f4d7743f47bda6b2844b980"),
}
#: sha256 of (train, dev, test) for each eCLIP set in maxlwnii/tapt DNABERT2/data/<RBP>_<CELL>_IDR/.
_ECLIP_SHA256 = {
    "GTF2F1_K562": ("9264c4978f3ba639c2cb6e6eb1805bc6f0f58d0eb87218af083a929b0a29874c",
                    "2139b8718640aad4f5449c43c219472215d251f4276e4dd11ed3f1850f513ce2",
                    "a7c3c5da85ea4fb65345a884b557df675597a3499d7df42c111bcc21a281e235"),
    "HNRNPL_K562": ("fd34447159f52a140f8ac5c6501df47a6cbb435ac09cd9b3f5c3cf495c749dc5",
                    "4e8ef3937943195f9e4b0657c708d3fd95a3ce755ab6d7f6c3433c90b4991d17",
                    "760c4d014d9152af93e9102502dbaa513dff9ef4cd513dc140b2135fcad73424"),
    "HNRNPM_HepG2": ("0b6f541cb8f4a7b60961aced0a76bcef9db9fbb4f8f8e842ad91b7c179bfd7cc",
                     "1841003fb614181c5524f0c2d67f5cacbd009e974efd10c858c9073e93be7a5d",
                     "c01fa0fed7a523547168f49d8385ce05ddcefb4107eafe3f9b4c8117d592922c"),
    "ILF3_HepG2": ("943d4c7411c1834346041f77eeeb96fcedadec32565df479f622dd453fceb127",
                   "2170b65d58a765206e9b002ab6388aed5c164674e930ee6f008849905059026c",
                   "d5fe82cbf4dcd2c4389dcb31b34b3a68036d29e3da469fae231b4717f91a4bfe"),
    "KHSRP_K562": ("6f90234a4b6bc72f31ffcee30c98b6b282804164ec46470a0999df3f3c83c758",
                   "d97b045ecdcb977f8dc7789dd15ccdbab064d95e149acf4b5bafd5ba5670f867",
                   "269f7d31bcacffe12a740b72116365485f8e5929f4e6631afb9edd8e42d40b10"),
    "MATR3_K562": ("2c7aeaaa0d0eddcb6faca9846a0eabba27ef5776427fffd21730f24f11a4d78c",
                   "b7808464376dbdefb01bfad5a5cd4e16e213d3938600ab29420311cf3f56310f",
                   "378a7b770f05b9f6244a6ab6348a102a258c823159ddec30fe64b4f1e0cb4779"),
    "PTBP1_HepG2": ("13419cf148b2b78b8186113773e54410b7959b333d726d2bf6840d5909db4b03",
                    "16e46cc8acd2c657f30c6a3f90d014fe9800ce1c006d53e564543c74702af29f",
                    "7a52c2004a56b416a7c815ffd5d664f7d89fcd0defb571e3c0b7ce335dd9bae1"),
    "QKI_K562": ("adb3a16b86da2780d6c13f9c73c5cb9f9dff55e4051658c48a77b052af66e405",
                 "23d7807852e836efc810b10da8b1479295caa5ae5f9125927a62fa563775b154",
                 "1521f46074cef8e2d3cec5347459b0c9aa7c5d7e6bba63f9efd8da1b9ed554cf"),
}

_PAPER_CITATION = ("Tang Z, Somia N, Yu Y, Koo PK. Evaluating the representational power of pre-trained "
                   "DNA language models for regulatory genomics. Genome Biology 2025; data: Zenodo "
                   "10.5281/zenodo.11583224.")
_PAPER_NOTE = ("the paper's own processed file; member path inside data.tar.gz inferred from the "
               "paper code; no sha256 is published for data.tar.gz or its members, so the hashes of "
               "the first download and unpacking are recorded and checked on every later use")

#: UCSC hg38 soft-masked FASTA (the assembly of the ASCOT coordinates).  UCSC publishes md5 only
#: (``bigZips/md5sum.txt``); this value is the one pinned from that file by several independent public
#: projects (it could not be read from UCSC itself while writing this).
HG38 = RemoteFile("ucsc", "hg38", "", "hg38.fa.gz", md5="1c9dcaddfa41027f17cd8f7a82c7293b")
#: The paper's ChIP TFs and eCLIP RBPs (reference: LLM_eval chip-clip-seq).
PAPER_TFS = ("MAX", "SRF", "ATF2", "ELK1", "REST", "CTCF", "Arid3", "BACH1", "GABPA", "ZNF24")
PAPER_RBPS = ("HNRNPK", "PTBP1", "PUM2", "QKI", "RBFOX2", "SF3B4", "SRSF1", "TARDBP", "TIA1", "U2AF1")


def _build_registry() -> dict[str, DatasetSpec]:
    specs = [
        DatasetSpec(
            name="lentimpra_hepg2", task="lentimpra",
            files=_github(*MPRA_MNIST, [
                ("datasets/Vikram_splited/val_HepG2.tsv",
                 "18ae15e1ec4325d02ed682b9a78579e72198ea2eb00100d4dbca0ba41ccfca1c"),
                ("datasets/Vikram_splited/test_HepG2.tsv",
                 "bb41689f33ec0488ed483d0bd8653367eb03766b0d57cd9f06f8cd8127755930")]),
            parser=loaders.parse_lentimpra_tsv, targets=("activity",), target_kind="regression",
            licence="no licence file in MPRA-MNIST; cite Agarwal et al.",
            citation="Agarwal V. et al. Massively parallel characterization of transcriptional regulatory "
                     "elements. Nature 2025 (lentiMPRA HepG2/K562/WTC11), via autosome-imtf/MPRA-MNIST.",
            paper_note="same assay and folds, but only HepG2 folds 9-10 (~20 % of HepG2, no K562); "
                       "train/valid/test re-derived by element (80/10/10, seed 0)",
            group_col="element_id"),
        DatasetSpec(
            name="cagi5", task="cagi5",
            files=_github(*REGSAT, [
                ("data/RegulationSaturation_Challenge_data.xlsx",
                 "ebc50a9a99d8023b2bad3472b7d83a4b629e82d954a234c408d23b52da9897a7"),
                ("data/training_all_RegDB.txt",
                 "03896170e861f2859b84a91ef6fd917b507ecdacf03007c46999229ee3dac18e")]),
            parser=loaders.parse_cagi5, targets=("effect",), target_kind="regression",
            licence="no licence file; CAGI data-use agreement; measurements open access (Kircher et al.)",
            citation="Kircher M. et al. Saturation mutagenesis of twenty disease-associated regulatory "
                     "elements at single base-pair resolution. Nat Commun 2019; CAGI5 regulation saturation.",
            paper_note="same measurements (18,463 SNVs vs the paper's 18,442 after an hg19 check); element "
                       "sequences only, no genomic flanks",
            group_col="element", subsample_profiles=("smoke",), per_group=True),
        DatasetSpec(
            name="ascot_gtex_test", task="splicing_psi",
            files=_github(*MTSPLICE, [("data/ascot_gtex_test.csv.gz",
                                       "84bad44231a1da85b151edee57f8ca2c921869e768cf5aa201ca8e1ed2f898eb")]),
            parser=loaders.parse_ascot, targets=("Retina - Eye",), target_kind="regression",
            licence="MIT (gagneurlab/mtsplice)",
            citation="Ling J.P. et al. ASCOT, Nat Commun 2020; Cheng J. et al. MTSplice, Genome Biology 2021.",
            paper_note="same labels and 56 tissues, MTSplice test split only; no sequences (cut them from "
                       "hg38 with exon_windows)",
            group_col="exon_id"),
        DatasetSpec(
            name="vexseq", task="splicing_variant",
            files=_github(*VEXSEQ, [
                ("preprocess_data/68_97_final_sequences_fixed.tsv",
                 "1eec399464a1ed35ec745033df8164d6f9011f328b8cee0b5a1074777bd87d2f"),
                ("processed_files/read_counts_PSI_values.tsv",
                 "b2f21f179c5e67be9f530ccb64c7ff36a95631cf3cca3cc0c51259efb6834014")])
            + _github(*MMSPLICE_PAPER, [
                ("data/vexseq/HepG2_delta_PSI_CAGI_training.csv",
                 "898debaa6a0e5aa1e38d3de6f90440f0f121566dc32ff649d89d16b1ab3e1eed"),
                ("data/vexseq/Vexseq_HepG2_delta_PSI_CAGI_test_true.tsv",
                 "8b8f8b2e768e71ebf71640d10e960e58fc3e33962e2d7bffc30615ebe0ea20c3")]),
            parser=loaders.parse_vexseq, targets=("psi_hepg2", "psi_k562"), target_kind="regression",
            licence="Vex-seq README: MIT; article CC BY 4.0; MMSplice_paper Apache-2.0",
            citation="Adamson S.I., Zhan L., Graveley B.R. Vex-seq. Genome Biology 2018; split from Cheng J. "
                     "et al. MMSplice, Genome Biology 2019.",
            paper_note="not a data set of the paper: a sequence-carrying stand-in for exon inclusion and "
                       "splicing variant effects (minigene, 2 cell lines)",
            group_col="exon_id"),
        DatasetSpec(
            name="mapsy", task="splicing_variant",
            files=_github(*MMSPLICE_PAPER, [("data/mapsy/mapsy.txt",
                                             "af0d6fc8bb5d41265513c7e54f5ada48f093d63243eaf6fc488d8cef3bf958d8")]),
            parser=loaders.parse_mapsy, targets=("log2_vivo_ratio", "log2_vitro_ratio"),
            target_kind="regression", licence="MMSplice_paper Apache-2.0; cite Soemedi et al.",
            citation="Soemedi R. et al. Pathogenic variants that alter protein code often disrupt splicing "
                     "(MaPSy). Nat Genet 2017; as tabulated by Cheng J. et al. (MMSplice) 2019.",
            paper_note="not a data set of the paper: a splicing variant-effect stand-in; split by exon "
                       "(70/15/15, seed 0) instead of MMSplice's row split",
            group_col="exon_id"),
    ]
    for index, hashes in _GUE_SHA256.items():
        specs.append(DatasetSpec(
            name=f"gue_tf{index}", task="tf_binding",
            files=_github(*DEEPGENE, [(f"data/GUE/tf/{index}/{stem}.csv", sha)
                                      for stem, sha in zip(("train", "dev", "test"), hashes)]),
            parser=loaders.parse_split_csvs, targets=("label",), target_kind="binary",
            licence="Apache-2.0 (GUE, wds-seu/DeepGene); ENCODE without use restrictions",
            citation="Zhou Z. et al. DNABERT-2 and the GUE benchmark. ICLR 2024; ENCODE ChIP-seq.",
            paper_note="substitute: unnamed TFs, 101 nt, mononucleotide-shuffled negatives (paper: 10 "
                       "named TFs, 200 nt, genomic negatives)",
            genomic_rows=False))
    for cell_set, hashes in _ECLIP_SHA256.items():
        specs.append(DatasetSpec(
            name=f"eclip_{cell_set}", task="rbp_binding",
            files=_github(*TAPT, [(f"DNABERT2/data/{cell_set}_IDR/{stem}.csv", sha)
                                  for stem, sha in zip(("train", "dev", "test"), hashes)]),
            parser=loaders.parse_split_csvs, targets=("label",), target_kind="binary",
            licence="no licence file at maxlwnii/tapt top level; ENCODE without use restrictions",
            citation="Van Nostrand E.L. et al. Nature 2020 (ENCODE eCLIP); Uhl M. et al. RNAProt 2021.",
            paper_note="same assay, 101 nt windows with genomic background negatives; only QKI and PTBP1 "
                       "overlap the paper's ten K562 RBPs (200 nt)"))

    # The paper's own processed data (full profile; needs network and disk).
    specs.append(DatasetSpec(
        name="paper_lentimpra_hepg2_hf", task="lentimpra",
        files=tuple(RemoteFile("huggingface", *PAPER_HF_DATASET, f"lenti_MPRA_HepG2/{split}.parquet")
                    for split in ("train", "validation", "test")),
        parser=loaders.parse_parquet_splits, targets=(), target_kind="regression",
        licence="see the Hugging Face dataset card", citation=_PAPER_CITATION,
        paper_note="third-party parquet re-packaging of the paper's lentiMPRA HepG2 folds; revision 'main' "
                   "is not pinned and sha256 is unknown", profiles=("full",)))
    paper_sets = (
        [(f"paper_lentimpra_{cell.lower()}", "lentimpra", (f"data/lenti_MPRA/lentiMPRA_{cell}.h5",),
          loaders.parse_paper_lentimpra, ("activity",)) for cell in ("HepG2", "K562")]
        + [(f"paper_chip_{tf}", "tf_binding", (f"data/chip/{tf}_200.h5",), loaders.parse_paper_chip,
            ("label",)) for tf in PAPER_TFS]
        + [(f"paper_eclip_{rbp}", "rbp_binding", (f"data/eclip/{rbp}_K562_200.h5",), loaders.parse_paper_eclip,
            ("label",)) for rbp in PAPER_RBPS]
        + [("paper_insert_seq", "pol2_elongation", ("data/RNAenlong/insert_dataset.h5",),
            loaders.parse_paper_insert, ("log_elongation",)),
           ("paper_mtsplice_delta_logit", "splicing_psi", ("data/mtsplice/delta_logit.h5",),
            loaders.parse_paper_splicing, ("delta_logit",)),
           ("paper_mtsplice_psi", "splicing_psi",
            tuple(f"data/mtsplice/gtex_{split}_psi.csv" for split in ("train", "valid", "test")),
            loaders.parse_ascot, ("Retina - Eye",))])
    for name, task, members, parser, targets in paper_sets:
        specs.append(DatasetSpec(
            name=name, task=task,
            files=tuple(RemoteFile("zenodo", PAPER_ZENODO_RECORD, "", "data.tar.gz", None, member=member)
                        for member in members),
            parser=parser, targets=targets, target_kind="binary" if targets == ("label",) else "regression",
            licence="Zenodo record terms (ENCODE, ASCOT and INSERT-seq sources as cited in the paper)",
            citation=_PAPER_CITATION, paper_note=_PAPER_NOTE, profiles=("full",)))
    return {spec.name: spec for spec in specs}


DATASETS: dict[str, DatasetSpec] = _build_registry()


def list_datasets(task: str | None = None, *, profile: str | None = None) -> list[str]:
    """Registry names, optionally only those of one ``task`` and/or used by ``profile``.

    Raises
    ------
    ValueError
        For a task no data set has (the message lists the known tasks) or an
        unknown profile.
    """
    tasks = sorted({spec.task for spec in DATASETS.values()})
    if task is not None and task not in tasks:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(tasks)}")
    if profile is not None:
        get_profile(profile)
    return sorted(name for name, spec in DATASETS.items()
                  if (task is None or spec.task == task) and (profile is None or profile in spec.profiles))


def get_spec(dataset: str | DatasetSpec) -> DatasetSpec:
    """Look up a spec by name (a spec passes through); the error lists the known names."""
    if isinstance(dataset, DatasetSpec):
        return dataset
    try:
        return DATASETS[dataset]
    except KeyError:
        raise KeyError(f"unknown data set {dataset!r}; known data sets: {', '.join(sorted(DATASETS))}") from None


# --------------------------------------------------------------------------- fetching
def sha256sum(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    return file_digest(path, "sha256")


def _record_path(path: Path) -> Path:
    """Where the sha256 recorded for ``path`` is kept: ``<path>.sha256`` (``sha256sum`` format)."""
    return path.with_name(path.name + ".sha256")


def _read_record(record: Path) -> str | None:
    """The recorded sha256, or None when there is none (or it is garbled: then it is recorded again)."""
    try:
        fields = record.read_text().split()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return fields[0] if fields and re.fullmatch(r"[0-9a-f]{64}", fields[0]) else None


def _write_record(record: Path, digest: str, name: str) -> None:
    """Write ``record`` atomically under a unique temporary name (concurrent writers write the same)."""
    record.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=record.parent, prefix=record.name + ".", suffix=".tmp",
                                     delete=False) as handle:
        handle.write(f"{digest}  {name}\n")
    os.replace(handle.name, record)


@dataclass(frozen=True)
class _Expected:
    """The hash a file must have and where it comes from (for error messages)."""

    algorithm: str
    digest: str
    origin: str

    def mismatch(self, path: Path) -> str | None:
        """None when ``path`` matches; else ``"<algorithm> <actual>, expected <digest> (<origin>)"``."""
        actual = file_digest(path, self.algorithm)
        if actual == self.digest:
            return None
        return f"{self.algorithm} {actual}, expected {self.digest} ({self.origin})"


def _expected(remote: RemoteFile, record: Path) -> _Expected | None:
    """Declared sha256, else declared md5, else the sha256 recorded at first use, else None."""
    if remote.sha256:
        return _Expected("sha256", remote.sha256, "declared in the registry")
    if remote.md5:
        return _Expected("md5", remote.md5, "published upstream, declared in the registry")
    recorded = _read_record(record)
    if recorded:
        return _Expected("sha256", recorded, f"recorded at its first use in {record}")
    return None


def _mirror_file(remote: RemoteFile, mirror: str) -> Path:
    """The verified mirror copy of ``remote``; with no published hash, the first read's is recorded."""
    path = Path(mirror).expanduser() / remote.relative_path
    if not path.is_file():
        raise DataError(f"{remote.name}: not in the offline mirror; looked at {path} "
                        f"({MIRROR_ENV} is set, so the network is not used)")
    record = _record_path(data_dir() / remote.relative_path)  # the mirror may be read-only
    expected = _expected(remote, record)
    if expected is None:
        _write_record(record, sha256sum(path), path.name)
        return path
    problem = expected.mismatch(path)
    if problem:
        replaced = ("" if remote.sha256 or remote.md5
                    else f", or delete {record} if the mirror copy was replaced on purpose")
        raise DataError(f"checksum mismatch for {remote.name} (mirror: {path}): {problem}; replace the "
                        f"mirror copy with the upstream file {remote.url}{replaced}")
    return path


def _download(remote: RemoteFile, *, progress: bool) -> Path:
    """The verified cached copy of ``remote``, downloaded with pooch when absent or damaged.

    A cached file that matches its declared (or recorded) hash is used without
    touching the network.  A damaged one is downloaded again beside it and
    replaced atomically; when that download fails the damaged file stays and
    the error names it, both hashes and how to fix it.  A file with no
    published hash gets the sha256 of its first download recorded (a cached
    file from before records existed is trusted on this first check: pooch
    only ever moves complete downloads into place).
    """
    import pooch

    target = data_dir() / remote.relative_path
    target.parent.mkdir(parents=True, exist_ok=True)
    record = _record_path(target)
    expected = _expected(remote, record)
    damage = None
    if target.exists():
        if expected is None:
            _write_record(record, sha256sum(target), target.name)
            return target
        damage = expected.mismatch(target)
        if damage is None:
            return target
        warnings.warn(f"{target}: cached copy of {remote.name} is damaged ({damage}); downloading it again "
                      f"from {remote.url}", stacklevel=3)
    # Download under another name: pooch would return an existing file of unknown hash as it is.
    # unique to this process and call: two processes fetching one file never share a partial download
    fresh = temporary_path(target, ".download")
    known_hash = f"{expected.algorithm}:{expected.digest}" if expected else None
    try:
        pooch.retrieve(remote.url, known_hash=known_hash, fname=fresh.name, path=target.parent,
                       progressbar=progress)
    except ValueError as err:  # pooch's hash mismatch; it does not keep the bad download
        fresh.unlink(missing_ok=True)
        if expected is None:
            raise
        raise DataError(f"checksum mismatch for {remote.name} downloaded from {remote.url}: expected "
                        f"{expected.algorithm} {expected.digest} ({expected.origin}); pooch reports: {err}") from None
    except OSError as err:  # requests' ConnectionError, Timeout and HTTPError are OSErrors
        fresh.unlink(missing_ok=True)
        fix = (f"check the network, or set {MIRROR_ENV} to an offline mirror holding "
               f"<mirror>/{remote.relative_path.as_posix()}")
        if damage:
            raise DataError(f"{target}: cached copy of {remote.name} is damaged ({damage}) and downloading it "
                            f"again from {remote.url} failed ({type(err).__name__}: {err}); delete it, then "
                            f"{fix}") from None
        raise DataError(f"could not download {remote.name} from {remote.url} ({type(err).__name__}: {err}); "
                        f"{fix}") from None
    os.replace(fresh, target)
    if expected is None:
        _write_record(record, sha256sum(target), target.name)
    return target


def _unpacked(target: Path, source: str, unpack: Callable[[Path], None]) -> Path:
    """``target``, made by ``unpack(temporary_path)`` from a verified download unless already made intact.

    The sha256 of what was unpacked is recorded beside it (``<target>.sha256``)
    and checked on every later use; a missing record or a different hash
    (truncated, bit-flipped) makes it again, with a warning naming the file.
    No hash of an unpacked file is published upstream, so this record is what
    vouches for it.
    """
    if target.exists():
        recorded = _read_record(_record_path(target))
        if recorded is not None:
            actual = sha256sum(target)
            if actual == recorded:
                return target
            problem = f"sha256 {actual}, recorded when it was unpacked: {recorded}"
        else:
            problem = f"no sha256 was recorded when it was unpacked ({_record_path(target).name} is missing)"
        warnings.warn(f"{target}: {problem}; unpacking it again from {source}", stacklevel=3)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=target.name + ".", suffix=".partial",
                                     delete=False) as handle:
        temporary = Path(handle.name)
    try:
        unpack(temporary)
        digest = sha256sum(temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, target)
    _write_record(_record_path(target), digest, target.name)
    return target


def _extract_member(archive: Path, member: str, out: Path) -> None:
    """Write ``member`` of the tar archive to ``out``; a damaged archive or short member is a DataError."""
    try:
        with tarfile.open(archive) as tar:
            try:
                info = tar.getmember(member)
            except KeyError:
                raise DataError(f"{archive}: has no member {member!r}") from None
            source = tar.extractfile(info)
            if source is None:
                raise DataError(f"{archive}: member {member!r} is not a regular file")
            with open(out, "wb") as handle:
                shutil.copyfileobj(source, handle, 1 << 20)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(f"{archive}: damaged archive, cannot unpack {member!r} ({type(err).__name__}: {err}); "
                        "delete it and fetch again") from None
    if out.stat().st_size != info.size:
        raise DataError(f"{archive}: member {member!r} unpacked to {out.stat().st_size} bytes, the archive "
                        f"lists {info.size}; delete the archive and fetch again")


def _gunzip(archive: Path, out: Path) -> None:
    """Decompress ``archive`` to ``out``; gzip's CRC-32 and length check catch a damaged stream."""
    try:
        with gzip.open(archive, "rb") as source, open(out, "wb") as handle:
            shutil.copyfileobj(source, handle, 1 << 24)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(f"{archive}: damaged gzip file ({type(err).__name__}: {err}); delete it and fetch "
                        "again") from None


def _source_file(remote: RemoteFile, *, progress: bool) -> Path:
    mirror = os.environ.get(MIRROR_ENV)
    return _mirror_file(remote, mirror) if mirror else _download(remote, progress=progress)


def fetch_file(remote: RemoteFile, *, progress: bool = True) -> Path:
    """Local path of one verified upstream file (mirror, cache, or a fresh download).

    With ``GLMEVAL_MIRROR`` set the file must be in the mirror at
    ``remote.relative_path``; nothing is downloaded.  Otherwise pooch
    downloads into ``data_dir()``; a download whose hash differs is deleted
    and reported, a damaged cached copy is downloaded again (or, offline,
    reported with both hashes).  An archive member is unpacked into the cache
    once and checked against the sha256 recorded then on every later use (the
    archive itself is needed, and checked, only to unpack it).

    Raises
    ------
    DataError
        Missing from the mirror, hash mismatch, damaged archive, or a download
        that failed; the message names the file and says how to fix it.
    """
    if not remote.member:
        return _source_file(remote, progress=progress)
    # Unpack into the cache even when the archive sits in a (read-only) mirror.
    target = data_dir() / remote.relative_path.parent / (remote.relative_path.name + ".d") / remote.member
    return _unpacked(target, f"{remote.path} member {remote.member!r}",
                     lambda out: _extract_member(_source_file(remote, progress=progress), remote.member, out))


def fetch_genome(remote: RemoteFile = HG38, *, progress: bool = True) -> Path:
    """Path of an uncompressed genome FASTA (hg38 by default; about 3 GB, made once).

    The gzip download (or ``$GLMEVAL_MIRROR/ucsc/hg38/hg38.fa.gz``) is
    checked against UCSC's published md5 and unpacked next to the download
    (atomically) because :func:`exon_windows` needs random access; gzip's own
    CRC-32 check catches a damaged stream.  The unpacked FASTA is checked on
    every use against the sha256 recorded when it was unpacked and unpacked
    again when it differs (the download is then needed again).
    """
    archive_path = data_dir() / remote.relative_path
    target = archive_path.with_name(archive_path.name.removesuffix(".gz"))
    return _unpacked(target, remote.path, lambda out: _gunzip(_source_file(remote, progress=progress), out))


def fetch(dataset: str | DatasetSpec, *, progress: bool = True) -> dict[str, Path]:
    """Fetch and verify every file of a data set.

    Parameters
    ----------
    dataset : str or DatasetSpec
        Registry name (or a spec).
    progress : bool
        Show pooch's download progress bars.

    Returns
    -------
    dict of str to Path
        File key (base name, e.g. ``"train.csv"``) → verified local path.
    """
    spec = get_spec(dataset)
    return {remote.name: fetch_file(remote, progress=progress) for remote in spec.files}


# --------------------------------------------------------------------------- loading and profiles
#: Parsed tables of this process, keyed by spec and file identity (path, size, mtime).
_PARSED: dict[tuple, pd.DataFrame] = {}
_PARSED_MAX = 8


def _parse(spec: DatasetSpec, paths: Mapping[str, Path]) -> pd.DataFrame:
    """Run the spec's parser once per process for unchanged files; callers get a copy."""
    key = (spec, tuple((name, str(p), p.stat().st_size, p.stat().st_mtime_ns) for name, p in sorted(paths.items())))
    if key not in _PARSED:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = spec.parser(paths)
    table = _PARSED[key].copy()
    table.attrs = dict(_PARSED[key].attrs)
    return table


def load(dataset: str | DatasetSpec, profile: str = "demo", *, seed: int = 0,
         progress: bool = True) -> pd.DataFrame:
    """Fetch, parse and subset a data set.

    Parameters
    ----------
    dataset : str or DatasetSpec
    profile : {"smoke", "demo", "full"}
        ``full`` (and profiles outside ``spec.subsample_profiles``) return every row.
    seed : int
        Seed of the profile subset.
    progress : bool

    Returns
    -------
    pandas.DataFrame
        ``seq`` (upper case; absent for ``ascot_gtex_test``), target column(s),
        ``split`` in {train, valid, test}, ids and task columns (see the parser
        in :mod:`glmeval_utils.data.loaders`).  ``attrs`` holds ``dataset``,
        ``profile``, ``rows_upstream``, ``group_col`` (the independent unit
        of a row, read by :class:`glmeval_utils.data.splits.TaskData`) and,
        where relevant, ``split_note``.
    """
    spec = get_spec(dataset)
    get_profile(profile)  # fail early on an unknown profile name
    table = _parse(spec, fetch(spec, progress=progress))
    rows_upstream = table["split"].value_counts().to_dict()
    if profile in spec.subsample_profiles:
        table = subsample(table, get_profile(profile).max_rows, group_col=spec.group_col,
                          per_group=spec.per_group, seed=seed)
    table.attrs.update(dataset=spec.name, profile=profile, rows_upstream=rows_upstream, group_col=spec.group_col)
    return table


def cagi5_elements(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """CAGI5 elements with their reference sequences rebuilt from the variants.

    Parameters
    ----------
    table : pandas.DataFrame, optional
        A CAGI5 variant table from :func:`load`; loaded (full) when omitted.

    Returns
    -------
    pandas.DataFrame
        ``element``, ``chrom``, ``start``, ``end`` (1-based inclusive, hg19), ``seq``.
    """
    if table is None:
        table = load("cagi5", profile="full", progress=False)
    return loaders.element_table(table)


def _length_range(seqs: pd.Series) -> str:
    lengths = seqs.str.len()
    low, high = int(lengths.min()), int(lengths.max())
    return str(low) if low == high else f"{low}-{high}"


def _balance(values: pd.Series, kind: str) -> str:
    if kind == "binary":
        return f"{values.mean():.3f}"
    if values.dtype == object:  # per-tissue arrays: describe all values together
        values = pd.Series(np.concatenate(values.to_list()))
    return f"{values.mean():.3f}±{values.std():.3f}"


def summarize(profile: str = "demo", names: Iterable[str] | None = None, progress: bool = True,
              *, seed: int = 0) -> pd.DataFrame:
    """Fetch, verify and load data sets; one row per (data set, split).

    Parameters
    ----------
    profile : str
        Profile whose subset is described (``rows_in_profile``).
    names : iterable of str, optional
        Data sets; defaults to every data set of ``profile``.
    progress : bool
        Progress bar over data sets.

    Returns
    -------
    pandas.DataFrame
        ``dataset``, ``task``, ``split``, ``rows_upstream`` (all rows of the
        upstream files in that split), ``rows_in_profile``, ``rows`` (=
        ``rows_in_profile``), ``seq_len`` ("230" or "161-166"; empty without
        sequences), ``target``, ``balance`` (fraction positive for binary
        targets, "mean±sd" for regression).
    """
    from tqdm.auto import tqdm

    names = list_datasets(profile=profile) if names is None else list(names)
    get_profile(profile)
    rows = []
    for name in tqdm(names, desc="data sets", disable=not progress):
        spec = get_spec(name)
        table = load(spec, profile=profile, seed=seed, progress=False)
        target = spec.targets[0] if spec.targets else None
        for split in loaders.SPLITS:
            part = table[table["split"] == split]
            upstream = table.attrs["rows_upstream"].get(split, 0)
            if upstream == 0:
                continue
            rows.append({
                "dataset": spec.name, "task": spec.task, "split": split, "rows_upstream": upstream,
                "rows_in_profile": len(part), "rows": len(part),
                "seq_len": _length_range(part["seq"]) if "seq" in part and len(part) else "",
                "target": target or "",
                "balance": _balance(part[target].dropna(), spec.target_kind) if target and len(part) else "",
            })
    return pd.DataFrame(rows)
