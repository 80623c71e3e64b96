"""Parsers that turn each upstream file format into a tidy table.

Every parser takes the local paths returned by :func:`glmeval_utils.data.registry.fetch`
(a ``dict`` from file key to :class:`pathlib.Path`) and returns a
:class:`pandas.DataFrame` with at least ``seq`` (upper case, validated over
``ACGTN``), the target column(s), ``split`` in ``{"train", "valid", "test"}``
and an id column.  The registry (:mod:`glmeval_utils.data.registry`) says which
parser reads which data set; the file formats are described in ``data/README.md``.

Errors name the offending file and, where there is one, the row or element.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from glmeval_utils.sequences import decode_one_hot, grouped_split, reverse_complement, validate_sequences

SPLITS = ("train", "valid", "test")
#: Upstream split names (file stems, h5 key suffixes, parquet files) → ours.
SPLIT_ALIASES = {"train": "train", "dev": "valid", "valid": "valid", "validation": "valid",
                 "val": "valid", "test": "test"}


class DataError(ValueError):
    """An upstream file is missing, corrupt or not in the expected format."""


# --------------------------------------------------------------------------- helpers
def read_table(path: Path, *, required: Sequence[str] = (), **read_csv_kwargs) -> pd.DataFrame:
    """Read a delimited text file, failing clearly on empty files or missing columns.

    Parameters
    ----------
    path : Path
        CSV/TSV file (optionally gzip-compressed); CRLF line ends are fine.
    required : sequence of str
        Columns that must be present.
    **read_csv_kwargs
        Passed to :func:`pandas.read_csv` (e.g. ``sep="\\t"``).

    Returns
    -------
    pandas.DataFrame
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes)")
    try:
        table = pd.read_csv(path, **read_csv_kwargs)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file has no header and no rows") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    if table.empty:
        raise DataError(f"{path}: the file has a header but no data rows")
    return table


def clean_sequences(values: Iterable, *, source: Path | str, ids: Sequence | None = None,
                    **limits) -> list[str]:
    """Validate sequences read from ``source`` and return them upper-cased.

    A thin wrapper over :func:`glmeval_utils.sequences.validate_sequences`
    that names the file (and the row ids) in the error.
    """
    return validate_sequences(list(values), source=str(source), ids=ids, **limits)


def one_hot_to_sequences(x: np.ndarray, *, source: str) -> list[str]:
    """Decode one-hot arrays stored either channels-first or channels-last.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, C, L) or (N, L, 4)
        One-hot in ``ACGT`` order.  When channels-first with ``C > 4`` (the
        paper's eCLIP files carry extra tracks) the first 4 channels are used.
    source : str
        File and key, for error messages.

    Returns
    -------
    list of str, length N
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise DataError(f"{source}: expected a 3-d one-hot array, got shape {x.shape}")
    if x.shape[1] >= 4 and x.shape[2] != 4:
        channels_first = x[:, :4, :]
    elif x.shape[2] == 4:
        channels_first = np.swapaxes(x, 1, 2)
    else:
        raise DataError(f"{source}: cannot find the 4 ACGT channels in shape {x.shape}")
    return decode_one_hot(channels_first)


def _one_file(paths: Mapping[str, Path], key: str) -> Path:
    try:
        return Path(paths[key])
    except KeyError:
        raise DataError(f"expected a file with key {key!r}; got {sorted(paths)}") from None


# --------------------------------------------------------------------------- lentiMPRA
LENTI_REVERSE_SUFFIX = "_Reversed:"


def parse_lentimpra_tsv(paths: Mapping[str, Path], *, seed: int = 0) -> pd.DataFrame:
    """MPRA-MNIST lentiMPRA folds (``val_HepG2.tsv`` = fold 9, ``test_HepG2.tsv`` = fold 10).

    Returns
    -------
    pandas.DataFrame
        ``seq`` (230 nt), ``activity`` (log2 RNA/DNA), ``seq_id``, ``element_id``,
        ``orientation`` ("fwd"/"rev"), ``fold``, ``split``.  The split is
        re-derived by element (80/10/10, ``seed``) because folds 1-8 are not
        in this source; ``attrs["split_note"]`` says so.
    """
    frames = []
    for key, fold in (("val_HepG2.tsv", 9), ("test_HepG2.tsv", 10)):
        path = _one_file(paths, key)
        raw = read_table(path, sep="\t", required=("seq_id", "seq", "mean_value"))
        ids = raw["seq_id"].astype(str)
        is_reverse = ids.str.endswith(LENTI_REVERSE_SUFFIX)
        frames.append(pd.DataFrame({
            "seq": clean_sequences(raw["seq"], source=path, ids=ids.tolist()),
            "activity": raw["mean_value"].astype(float),
            "seq_id": ids,
            "element_id": ids.str.removesuffix(LENTI_REVERSE_SUFFIX),
            "orientation": np.where(is_reverse, "rev", "fwd"),
            "fold": fold,
        }))
    table = pd.concat(frames, ignore_index=True)
    # Folds 1-8 are unreachable offline: split by element so that an element's
    # forward and reverse constructs never straddle train and test.
    table["split"] = grouped_split(table["element_id"], fractions=(0.8, 0.1, 0.1), seed=seed)
    table.attrs["split_note"] = (
        "folds 9-10 only; train/valid/test re-derived by element id (80/10/10, "
        f"seed {seed}), not the paper's folds 1-8/9/10"
    )
    return table


# --------------------------------------------------------------------------- split-file CSVs
def parse_split_csvs(paths: Mapping[str, Path]) -> pd.DataFrame:
    """GUE / eCLIP style ``{train,dev,test}.csv`` with header ``sequence,label``.

    Returns
    -------
    pandas.DataFrame
        ``seq``, ``label`` (0/1 int), ``split``, ``row_id`` (``"<file stem>:<row>"``).
    """
    frames = []
    for stem in ("train", "dev", "test"):
        path = _one_file(paths, f"{stem}.csv")
        raw = read_table(path, required=("sequence", "label"))
        row_ids = [f"{stem}:{i}" for i in range(len(raw))]
        labels = pd.to_numeric(raw["label"], errors="coerce")
        bad = ~labels.isin([0, 1])
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}: row {row}: label {raw['label'].iloc[row]!r} is not 0 or 1")
        frames.append(pd.DataFrame({
            "seq": clean_sequences(raw["sequence"], source=path, ids=row_ids),
            "label": labels.astype(int),
            "split": SPLIT_ALIASES[stem],
            "row_id": row_ids,
        }))
    return pd.concat(frames, ignore_index=True)


def drop_cross_split_duplicates(table: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Remove leakage: train/valid rows whose sequence is in test, valid rows also in train.

    Parameters
    ----------
    table : pandas.DataFrame
        With ``seq`` and ``split``.

    Returns
    -------
    (pandas.DataFrame, int)
        The filtered table (index reset) and the number of rows removed.
    """
    test_seqs = set(table.loc[table["split"] == "test", "seq"])
    train_seqs = set(table.loc[table["split"] == "train", "seq"])
    in_test = table["seq"].isin(test_seqs) & table["split"].isin(["train", "valid"])
    valid_in_train = table["seq"].isin(train_seqs) & (table["split"] == "valid")
    drop = in_test | valid_in_train
    return table.loc[~drop].reset_index(drop=True), int(drop.sum())


# --------------------------------------------------------------------------- CAGI5
CAGI5_WORKBOOK = "RegulationSaturation_Challenge_data.xlsx"
CAGI5_RELEASE = "training_all_RegDB.txt"
#: The release table's element names that differ from the workbook's.
CAGI5_NAME_FIXES = {"MYC": "MYCrs6983267"}


def _read_cagi5_workbook(path: Path) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes)")
    try:
        sheets = pd.read_excel(path, sheet_name=None, skiprows=6, engine="openpyxl",
                               dtype={"#Chrom": str})
    except Exception as err:  # openpyxl raises several types for a corrupt workbook
        raise DataError(f"{path}: cannot read the workbook ({err})") from err
    frames = []
    for sheet, raw in sheets.items():
        expected = ["#Chrom", "Pos", "Ref", "Alt", "Value", "Confidence"]
        if list(raw.columns[:6]) != expected:
            raise DataError(f"{path}: sheet {sheet!r}: header {list(raw.columns)} is not {expected}")
        frames.append(pd.DataFrame({
            "element": sheet.removeprefix("challenge_"),
            "chrom": "chr" + raw["#Chrom"].astype(str).str.removeprefix("chr"),
            "pos": raw["Pos"].astype(int),
            "ref": raw["Ref"].astype(str), "alt": raw["Alt"].astype(str),
            "effect": raw["Value"].astype(float), "confidence": raw["Confidence"].astype(float),
            "set": "challenge",
        }))
    return pd.concat(frames, ignore_index=True)


def _read_cagi5_release(path: Path) -> pd.DataFrame:
    raw = read_table(path, sep="\t", required=("chrom", "end", "ref", "alt", "effect_size",
                                               "confidence", "target"))
    return pd.DataFrame({
        "element": raw["target"].astype(str).replace(CAGI5_NAME_FIXES),
        "chrom": raw["chrom"].astype(str),
        "pos": raw["end"].astype(int),  # ``end`` is the 1-based position
        "ref": raw["ref"].astype(str), "alt": raw["alt"].astype(str),
        "effect": raw["effect_size"].astype(float), "confidence": raw["confidence"].astype(float),
        "set": "release",
    })


def element_table(variants: pd.DataFrame, *, source: str = "CAGI5 variants") -> pd.DataFrame:
    """Rebuild each element's reference sequence from its variants' ``ref`` alleles.

    Parameters
    ----------
    variants : pandas.DataFrame
        ``element``, ``chrom``, ``pos`` (1-based), ``ref`` (one base each).
    source : str
        Named in error messages.

    Returns
    -------
    pandas.DataFrame
        One row per element: ``element``, ``chrom``, ``start`` (1-based first
        assayed base), ``end`` (1-based last, inclusive), ``seq``.

    Raises
    ------
    DataError
        If the variants of one position disagree on ``ref``, or a position
        between an element's first and last assayed base has no variant.
    """
    rows = []
    for element, group in variants.groupby("element", sort=True):
        chroms = group["chrom"].unique()
        if len(chroms) != 1:
            raise DataError(f"{source}: element {element} spans chromosomes {list(chroms)}")
        refs = group.groupby("pos")["ref"].unique()
        conflict = refs[refs.map(len) > 1]
        if len(conflict):
            pos = conflict.index[0]
            raise DataError(f"{source}: element {element}, position {chroms[0]}:{pos}: "
                            f"reference alleles disagree ({sorted(conflict.iloc[0])})")
        start, end = int(refs.index.min()), int(refs.index.max())
        gaps = sorted(set(range(start, end + 1)) - set(refs.index.tolist()))
        if gaps:
            raise DataError(f"{source}: element {element}: positions are not contiguous; "
                            f"first missing position {chroms[0]}:{gaps[0]} ({len(gaps)} missing)")
        seq = "".join(refs.sort_index().map(lambda alleles: alleles[0]))
        [seq] = clean_sequences([seq], source=source, ids=[element], allow_n=False)
        rows.append({"element": element, "chrom": chroms[0], "start": start, "end": end, "seq": seq})
    return pd.DataFrame(rows)


def parse_cagi5(paths: Mapping[str, Path]) -> pd.DataFrame:
    """CAGI5 regulation-saturation variants: challenge workbook plus release table.

    Returns
    -------
    pandas.DataFrame
        One row per SNV: ``element``, ``chrom``, ``pos`` (1-based hg19),
        ``offset`` (0-based in the element), ``ref``, ``alt``, ``effect``,
        ``confidence``, ``set`` ("release"/"challenge"), ``split``
        (release → "train", challenge → "test"), ``seq`` (the element's
        reference sequence), ``element_start`` (1-based), ``variant_id``.
    """
    workbook, release = _one_file(paths, CAGI5_WORKBOOK), _one_file(paths, CAGI5_RELEASE)
    table = pd.concat([_read_cagi5_release(release), _read_cagi5_workbook(workbook)],
                      ignore_index=True)
    table["variant_id"] = (table["element"] + ":" + table["chrom"] + ":" + table["pos"].astype(str)
                           + ":" + table["ref"] + ">" + table["alt"])
    for column in ("ref", "alt"):
        table[column] = clean_sequences(table[column], source=f"{workbook.name}/{release.name}",
                                        ids=table["variant_id"].tolist(), length=1, allow_n=False)
    elements = element_table(table, source=f"{workbook.name} + {release.name}")
    table = table.merge(elements[["element", "start", "seq"]].rename(columns={"start": "element_start"}),
                        on="element", how="left")
    table["offset"] = table["pos"] - table["element_start"]
    table["split"] = table["set"].map({"release": "train", "challenge": "test"})
    columns = ["element", "chrom", "pos", "offset", "ref", "alt", "effect", "confidence", "set",
               "split", "seq", "element_start", "variant_id"]
    return table[columns].sort_values(["element", "pos", "alt"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- ASCOT / MTSplice
ASCOT_ID_COLUMNS = ("chrom", "exon_start", "exon_end", "strand", "exon_id")


def ascot_tissues(table: pd.DataFrame) -> list[str]:
    """The tissue PSI columns of an ASCOT table (every column after ``exon_boundary`` but ``split``)."""
    columns = list(table.columns)
    return [c for c in columns[columns.index("exon_boundary") + 1:] if c != "split"]


def parse_ascot(paths: Mapping[str, Path]) -> pd.DataFrame:
    """ASCOT GTEx exon PSI (MTSplice split files), labels only.

    Each file key names its split (``ascot_gtex_test.csv.gz`` → test;
    ``gtex_{train,valid,test}_psi.csv`` for the paper's copy).

    Returns
    -------
    pandas.DataFrame
        Coordinates (hg38, 1-based inclusive), ``strand``, ``exon_id``, gene
        annotation, one column per tissue with PSI in [0, 1] (upstream -1 →
        NaN), ``split``.  No ``seq``: see :func:`exon_windows`.
    """
    frames = []
    for key, path in paths.items():
        split = next((SPLIT_ALIASES[s] for s in ("train", "valid", "test") if s in key), None)
        if split is None:
            raise DataError(f"{path}: cannot tell the split from the file name {key!r}")
        raw = read_table(path, index_col=0, required=(*ASCOT_ID_COLUMNS, "exon_boundary"))
        tissues = ascot_tissues(raw)
        psi = raw[tissues].astype(float)
        out_of_range = ~(psi.isin([-1.0]) | psi.ge(0) & psi.le(100))
        if out_of_range.to_numpy().any():
            row, col = np.argwhere(out_of_range.to_numpy())[0]
            raise DataError(f"{path}: exon {raw['exon_id'].iloc[row]}: PSI {psi.iat[row, col]} "
                            f"in {tissues[col]!r} is outside 0-100 and not the missing code -1")
        raw[tissues] = psi.mask(psi == -1.0) / 100.0
        raw["split"] = split
        frames.append(raw.reset_index(drop=True))
    return pd.concat(frames, ignore_index=True)


class FastaReader:
    """Random access to an uncompressed FASTA file through an in-memory line index.

    The index (offset of each record's first base, bases per line, bytes per
    line) is built in one pass, like ``samtools faidx``; lines of a record
    must share one length except the last.

    Parameters
    ----------
    path : str or Path
        Plain-text ``.fa``/``.fasta`` (not gzip).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.index: dict[str, tuple[int, int, int, int]] = {}  # name → (length, offset, bases/line, bytes/line)
        with open(self.path, "rb") as handle:
            name, offset, length, line_bases, line_bytes = None, 0, 0, 0, 0
            position = 0
            for line in handle:
                if line.startswith(b">"):
                    if name is not None:
                        self.index[name] = (length, offset, line_bases, line_bytes)
                    name = line[1:].split()[0].decode()
                    offset, length, line_bases, line_bytes = position + len(line), 0, 0, 0
                elif name is not None:
                    bases = len(line.rstrip(b"\r\n"))
                    if line_bases == 0:
                        line_bases, line_bytes = bases, len(line)
                    length += bases
                position += len(line)
            if name is not None:
                self.index[name] = (length, offset, line_bases, line_bytes)
        if not self.index:
            raise DataError(f"{self.path}: no FASTA records found")

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Bases ``[start, end)`` (0-based, end exclusive) of ``chrom``, upper case."""
        if chrom not in self.index:
            raise DataError(f"{self.path}: no sequence named {chrom!r}")
        length, offset, line_bases, line_bytes = self.index[chrom]
        if start < 0 or end > length or start > end:
            raise DataError(f"{self.path}: {chrom}:{start}-{end} is outside 0-{length}")
        first = offset + (start // line_bases) * line_bytes + start % line_bases
        last = offset + (end // line_bases) * line_bytes + end % line_bases
        with open(self.path, "rb") as handle:
            handle.seek(first)
            chunk = handle.read(last - first)
        return chunk.replace(b"\n", b"").replace(b"\r", b"").decode().upper()


def exon_windows(table: pd.DataFrame, fasta_path, *, flank: int = 300, half: int = 400) -> pd.DataFrame:
    """Cut MTSplice-style acceptor and donor windows around each exon.

    In transcript orientation the acceptor window starts ``flank`` nt before
    the exon's first base and the donor window ends ``flank`` nt after its
    last base; each is ``half`` nt long.  On the ``-`` strand both are
    reverse-complemented, so the acceptor window comes from the higher
    genomic coordinates.

    Parameters
    ----------
    table : pandas.DataFrame
        ``chrom``, ``exon_start``, ``exon_end`` (1-based inclusive), ``strand``,
        ``exon_id``.
    fasta_path : str or Path
        Genome FASTA whose coordinates match the table (hg38 for ASCOT).
    flank, half : int
        Intronic flank and window length (MTSplice: 300 and 400).

    Returns
    -------
    pandas.DataFrame
        ``exon_id``, ``acceptor_seq``, ``donor_seq`` (each ``half`` nt), same row order.
    """
    genome = FastaReader(fasta_path)
    acceptor, donor = [], []
    for row in table.itertuples(index=False):
        first, last = int(row.exon_start) - 1, int(row.exon_end)  # 0-based, end exclusive
        low = (first - flank, first - flank + half)   # window at the exon's low-coordinate side
        high = (last + flank - half, last + flank)    # window at the exon's high-coordinate side
        try:
            low_seq, high_seq = (genome.fetch(row.chrom, *low), genome.fetch(row.chrom, *high))
        except DataError as err:
            raise DataError(f"exon {row.exon_id}: {err}") from None
        if row.strand == "+":
            acceptor.append(low_seq), donor.append(high_seq)
        elif row.strand == "-":
            acceptor.append(reverse_complement(high_seq)), donor.append(reverse_complement(low_seq))
        else:
            raise DataError(f"exon {row.exon_id}: strand {row.strand!r} is not '+' or '-'")
    return pd.DataFrame({"exon_id": table["exon_id"].to_numpy(), "acceptor_seq": acceptor,
                         "donor_seq": donor})


# --------------------------------------------------------------------------- Vex-seq
VEXSEQ_SEQUENCES = "68_97_final_sequences_fixed.tsv"
VEXSEQ_PSI = "read_counts_PSI_values.tsv"
VEXSEQ_CAGI_TRAIN = "HepG2_delta_PSI_CAGI_training.csv"
VEXSEQ_CAGI_TEST = "Vexseq_HepG2_delta_PSI_CAGI_test_true.tsv"
#: CAGI4 Vex-seq split by chromosome (MMSplice): chr1-8 train, the rest test.
VEXSEQ_TRAIN_CHROMS = frozenset(f"chr{i}" for i in range(1, 9))


def _exon_in_insert(row) -> tuple[int, int]:
    """0-based, end-exclusive exon bounds inside the insert (transcript orientation)."""
    if row.strand == "+":
        return row.exon_up - row.insert_low, row.exon_down - row.insert_low + 1
    return row.insert_high - row.exon_down, row.insert_high - row.exon_up + 1


def _shift_for_indel(seq: str, wild_type: str, start: int, end: int) -> tuple[int, int]:
    """Move wild-type exon bounds past an indel, found by comparing with the wild type."""
    prefix = 0
    while prefix < min(len(seq), len(wild_type)) and seq[prefix] == wild_type[prefix]:
        prefix += 1
    change = len(seq) - len(wild_type)
    return (start + change if start > prefix else start), (end + change if end > prefix else end)


def parse_vexseq(paths: Mapping[str, Path], *, valid_fraction: float = 0.15, seed: int = 0) -> pd.DataFrame:
    """Vex-seq minigene constructs with PSI in HepG2 and K562.

    Returns
    -------
    pandas.DataFrame
        One row per construct with data: ``variant_id``, ``chrom``, ``strand``,
        ``ref``, ``alt``, ``class`` (Variant/Reference/Consensus/Mutated),
        ``is_control``, ``exon_id``, ``seq`` (insert, transcript orientation),
        ``wt_seq`` (the exon's wild-type insert, NaN where absent),
        ``exon_start``/``exon_end`` (0-based, end exclusive, in ``seq``),
        ``psi_hepg2``/``psi_k562`` (replicate means, 0-1), ``reads_hepg2``/
        ``reads_k562`` (inclusion + skipping reads), ``cagi4_set``, ``split``
        (chr1-8 → train/valid with ``valid_fraction`` of exons held out,
        others → test).
    """
    seq_path, psi_path = _one_file(paths, VEXSEQ_SEQUENCES), _one_file(paths, VEXSEQ_PSI)
    raw = read_table(seq_path, sep="\t", required=(
        "chromosome", "position", "reference", "alternative", "Upstream Int Adj", "Down Int Adj",
        "Exon up", "Exon down", "strand", "Sequence"))
    raw["variant_id"] = (raw["chromosome"] + "_" + raw["position"].astype(str) + "_"
                         + raw["reference"].astype(str) + "_" + raw["alternative"].astype(str))
    # One row per barcoded oligo; every barcode of a construct carries the same insert.
    inserts = raw.groupby("variant_id")["Sequence"].nunique()
    if (inserts > 1).any():
        raise DataError(f"{seq_path}: construct {inserts[inserts > 1].index[0]} has differing inserts")
    constructs = raw.drop_duplicates("variant_id").rename(columns={
        "chromosome": "chrom", "reference": "ref", "alternative": "alt", "Upstream Int Adj": "insert_low",
        "Down Int Adj": "insert_high", "Exon up": "exon_up", "Exon down": "exon_down", "Sequence": "seq"})
    constructs["seq"] = clean_sequences(constructs["seq"], source=seq_path,
                                        ids=constructs["variant_id"].tolist())
    constructs["exon_id"] = (constructs["chrom"] + ":" + constructs["exon_up"].astype(str) + "-"
                             + constructs["exon_down"].astype(str) + ":" + constructs["strand"])
    bounds = [_exon_in_insert(row) for row in constructs.itertuples(index=False)]
    constructs["exon_start"], constructs["exon_end"] = zip(*bounds)
    wild_type = constructs[constructs["alt"] == "Original"].set_index("exon_id")
    constructs["wt_seq"] = constructs["exon_id"].map(wild_type["seq"])
    for index, row in constructs.iterrows():
        if isinstance(row.wt_seq, str) and len(row.seq) != len(row.wt_seq):
            wt_start, wt_end = wild_type.loc[row.exon_id, ["exon_start", "exon_end"]]
            constructs.loc[index, ["exon_start", "exon_end"]] = _shift_for_indel(
                row.seq, row.wt_seq, int(wt_start), int(wt_end))

    psi = read_table(psi_path, sep="\t", required=("variant", "class", "mean_PSI_H", "mean_PSI_K",
                                                   *(f"{c}{r}{s}" for c in "HK" for r in "123"
                                                     for s in ("", "_in", "_out"))))
    for cell, name in (("H", "hepg2"), ("K", "k562")):
        replicates = psi[[f"{cell}{r}" for r in "123"]].astype(float)
        psi[f"psi_{name}"] = replicates.mean(axis=1) / 100.0
        disagree = ~np.isclose(psi[f"psi_{name}"] * 100, psi[f"mean_PSI_{cell}"], atol=1e-6, equal_nan=True)
        if disagree.any():
            raise DataError(f"{psi_path}: variant {psi['variant'][disagree].iloc[0]}: mean of "
                            f"{cell}1-{cell}3 differs from mean_PSI_{cell}")
        psi[f"reads_{name}"] = sum(psi[f"{cell}{r}_{s}"] for r in "123" for s in ("in", "out"))
    table = constructs.merge(psi[["variant", "class", "psi_hepg2", "psi_k562", "reads_hepg2", "reads_k562"]],
                             left_on="variant_id", right_on="variant", how="inner", validate="1:1")
    table["is_control"] = table["ref"] == "Control"

    cagi = {"train": read_table(_one_file(paths, VEXSEQ_CAGI_TRAIN), required=("ID", "seqnames")),
            "test": read_table(_one_file(paths, VEXSEQ_CAGI_TEST), sep="\t", required=("ID", "chromosome"))}
    table["cagi4_set"] = None
    for cagi_set, ids in cagi.items():
        member = table["variant_id"].isin(ids["ID"])
        wrong = member & (table["chrom"].isin(VEXSEQ_TRAIN_CHROMS) != (cagi_set == "train"))
        if wrong.any():
            raise DataError(f"CAGI4 {cagi_set} file: variant {table.loc[wrong, 'variant_id'].iloc[0]} "
                            "contradicts the chr1-8 train / chr9-22,X test rule")
        table.loc[member, "cagi4_set"] = cagi_set
    is_train = table["chrom"].isin(VEXSEQ_TRAIN_CHROMS)
    table["split"] = "test"
    # Rounding can leave one exon in the (empty) third bucket: it also goes to valid.
    held_out = grouped_split(table.loc[is_train, "exon_id"], seed=seed,
                             fractions=(1 - valid_fraction, valid_fraction, 0.0))
    table.loc[is_train, "split"] = np.where(held_out == "train", "train", "valid")
    columns = ["variant_id", "chrom", "strand", "ref", "alt", "class", "is_control", "exon_id", "seq",
               "wt_seq", "exon_start", "exon_end", "psi_hepg2", "psi_k562", "reads_hepg2", "reads_k562",
               "cagi4_set", "split"]
    return table[columns].reset_index(drop=True)


# --------------------------------------------------------------------------- MaPSy
def parse_mapsy(paths: Mapping[str, Path], *, seed: int = 0) -> pd.DataFrame:
    """MaPSy wild-type/mutant exon pairs with in vivo and in vitro splicing ratios.

    Returns
    -------
    pandas.DataFrame
        ``variant_id``, ``wt_id``, ``mut_id``, ``exon_id``, ``chrom``,
        ``strand``, ``wt_seq``, ``mut_seq``, ``seq`` (= ``mut_seq``),
        ``log2_vivo_ratio``, ``log2_vitro_ratio`` (infinite → NaN), ``esm``,
        ``mmsplice_test``, ``split`` (by exon, 70/15/15, ``seed``).
    """
    path = _one_file(paths, "mapsy.txt")
    raw = read_table(path, required=("ID", "WT_ID", "MUT_ID", "WT_SEQ", "MUT_SEQ", "chr", "strand",
                                     "Exon_Start", "Exon_End", "log2_vivo_ratio", "log2_vitro_ratio"))
    ids = raw["ID"].astype(str).tolist()
    table = pd.DataFrame({
        "variant_id": ids, "wt_id": raw["WT_ID"], "mut_id": raw["MUT_ID"],
        "exon_id": (raw["chr"] + ":" + raw["Exon_Start"].astype(str) + "-" + raw["Exon_End"].astype(str)
                    + ":" + raw["strand"]),
        "chrom": raw["chr"], "strand": raw["strand"],
        "wt_seq": clean_sequences(raw["WT_SEQ"], source=path, ids=ids),
        "mut_seq": clean_sequences(raw["MUT_SEQ"], source=path, ids=ids),
    })
    table["seq"] = table["mut_seq"]
    for column in ("log2_vivo_ratio", "log2_vitro_ratio"):
        values = pd.to_numeric(raw[column], errors="coerce").astype(float)
        table[column] = values.where(np.isfinite(values))
    table["esm"] = raw.get("ESM")
    table["mmsplice_test"] = raw.get("test")
    table["split"] = grouped_split(table["exon_id"], fractions=(0.7, 0.15, 0.15), seed=seed)
    return table


# --------------------------------------------------------------------------- the paper's h5 files
def _h5_splits(path: Path, x_prefix: str, y_prefix: str, suffixes=("train", "valid", "test")):
    import h5py

    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes)")
    with h5py.File(path, "r") as handle:
        keys = set(handle.keys())
        for suffix in suffixes:
            x_key, y_key = f"{x_prefix}{suffix}", f"{y_prefix}{suffix}"
            if x_key not in keys or y_key not in keys:
                raise DataError(f"{path}: missing key {x_key!r} or {y_key!r}; keys are {sorted(keys)}")
            yield suffix, handle[x_key][()], handle[y_key][()]


def _h5_table(path: Path, x_prefix: str, y_prefix: str, target: str, *, y_column: int | None = None,
              transform=None, suffixes=("train", "valid", "test"), split_of=SPLIT_ALIASES) -> pd.DataFrame:
    frames = []
    for suffix, x, y in _h5_splits(path, x_prefix, y_prefix, suffixes):
        y = np.asarray(y, dtype=float)
        if y.ndim == 2:
            y = y[:, y_column or 0]
        if len(y) != len(x):
            raise DataError(f"{path}: {x_prefix}{suffix} has {len(x)} rows but {y_prefix}{suffix} {len(y)}")
        seqs = one_hot_to_sequences(x, source=f"{path}:{x_prefix}{suffix}")
        frames.append(pd.DataFrame({"seq": seqs, target: transform(y) if transform else y,
                                    "split": split_of[suffix], "row_id": [f"{suffix}:{i}" for i in range(len(y))]}))
    return pd.concat(frames, ignore_index=True)


def parse_paper_lentimpra(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The paper's lentiMPRA h5: ``onehot_{train,valid,test}`` (N, 230, 4) + ``y_*``, or
    ten folds ``1_x..10_x`` / ``1_y..10_y`` (folds 1-8 train, 9 valid, 10 test).

    Returns
    -------
    pandas.DataFrame
        ``seq``, ``activity``, ``split``, ``row_id`` and, for the fold layout, ``fold``.
    """
    import h5py

    [path] = [Path(p) for p in paths.values()]
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes)")
    with h5py.File(path, "r") as handle:
        keys = set(handle.keys())
    if "onehot_train" in keys:
        return _h5_table(path, "onehot_", "y_", "activity")
    if "1_x" in keys:
        folds = tuple(str(k) for k in range(1, 11))
        split_of = {str(k): "train" if k <= 8 else "valid" if k == 9 else "test" for k in range(1, 11)}
        return _h5_table_folds(path, folds, split_of)
    raise DataError(f"{path}: neither 'onehot_train' nor fold keys '1_x'..'10_x'; keys are {sorted(keys)}")


def _h5_table_folds(path: Path, folds: Sequence[str], split_of: Mapping[str, str]) -> pd.DataFrame:
    import h5py

    frames = []
    with h5py.File(path, "r") as handle:
        for fold in folds:
            if f"{fold}_x" not in handle or f"{fold}_y" not in handle:
                raise DataError(f"{path}: missing key '{fold}_x' or '{fold}_y'; keys are {sorted(handle)}")
            x = handle[f"{fold}_x"][()]
            y = np.asarray(handle[f"{fold}_y"][()], dtype=float).reshape(len(x), -1)[:, 0]
            frames.append(pd.DataFrame({"seq": one_hot_to_sequences(x, source=f"{path}:{fold}_x"),
                                        "activity": y, "split": split_of[fold], "fold": int(fold),
                                        "row_id": [f"fold{fold}:{i}" for i in range(len(y))]}))
    return pd.concat(frames, ignore_index=True)


def parse_paper_chip(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The paper's ChIP ``{TF}_200.h5``: ``x_*`` (N, 4, 200) channels-first, ``y_*`` binary."""
    [path] = [Path(p) for p in paths.values()]
    table = _h5_table(path, "x_", "y_", "label")
    table["label"] = table["label"].astype(int)
    return table


def parse_paper_eclip(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The paper's eCLIP ``{RBP}_K562_200.h5``: ``X_*`` (N, C, 200), first 4 channels one-hot; ``Y_*``."""
    [path] = [Path(p) for p in paths.values()]
    table = _h5_table(path, "X_", "Y_", "label")
    table["label"] = table["label"].astype(int)
    return table


def parse_paper_insert(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The paper's INSERT-seq ``insert_dataset.h5``: ``X_*`` one-hot, ``Y_*`` (column 0 → log(y+1))."""
    [path] = [Path(p) for p in paths.values()]
    return _h5_table(path, "X_", "Y_", "log_elongation", y_column=0, transform=np.log1p)


def parse_paper_splicing(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The paper's ``delta_logit.h5``: ``x_*`` (N, 800, 4) = acceptor + donor halves, ``y_*`` (N, 56, 2).

    Returns
    -------
    pandas.DataFrame
        ``seq`` (800 nt), ``acceptor_seq``/``donor_seq`` (400 nt each), ``split``,
        ``row_id`` and object columns ``delta_logit`` and ``mean_logit`` holding
        length-56 arrays (one value per tissue).
    """
    [path] = [Path(p) for p in paths.values()]
    frames = []
    for suffix, x, y in _h5_splits(path, "x_", "y_"):
        if y.ndim != 3 or y.shape[2] != 2 or len(y) != len(x):
            raise DataError(f"{path}: y_{suffix} has shape {y.shape}; expected ({len(x)}, tissues, 2)")
        seqs = one_hot_to_sequences(x, source=f"{path}:x_{suffix}")
        half = len(seqs[0]) // 2
        frames.append(pd.DataFrame({
            "seq": seqs, "acceptor_seq": [s[:half] for s in seqs], "donor_seq": [s[half:] for s in seqs],
            "delta_logit": list(y[:, :, 0]), "mean_logit": list(y[:, :, 1]),
            "split": SPLIT_ALIASES[suffix], "row_id": [f"{suffix}:{i}" for i in range(len(seqs))]}))
    return pd.concat(frames, ignore_index=True)


def parse_parquet_splits(paths: Mapping[str, Path]) -> pd.DataFrame:
    """Hugging Face ``{train,validation,test}.parquet`` re-packaging of the paper's data.

    The sequence column is ``seq`` or ``sequence``; every other column is kept.
    Needs ``pyarrow`` (or ``fastparquet``).
    """
    frames = []
    for key, path in paths.items():
        split = SPLIT_ALIASES.get(Path(key).stem)
        if split is None:
            raise DataError(f"{path}: cannot tell the split from the file name {key!r}")
        try:
            raw = pd.read_parquet(path)
        except ImportError as err:
            raise DataError(f"{path}: reading parquet needs pyarrow: pip install pyarrow") from err
        seq_column = next((c for c in ("seq", "sequence") if c in raw.columns), None)
        if seq_column is None:
            raise DataError(f"{path}: no 'seq' or 'sequence' column; found {list(raw.columns)}")
        raw = raw.rename(columns={seq_column: "seq"})
        raw["seq"] = clean_sequences(raw["seq"], source=path)
        raw["split"] = split
        raw["row_id"] = [f"{split}:{i}" for i in range(len(raw))]
        frames.append(raw)
    return pd.concat(frames, ignore_index=True)
