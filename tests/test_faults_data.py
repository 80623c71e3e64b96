"""Fault tests of the data registry: damaged caches, archives and downloads, unknown names.

Each test plants one fault a user can meet (a truncated or bit-flipped file
unpacked from an archive, a truncated download in the cache with no network,
a damaged archive, an unknown task or split name) and checks that the
registry repairs it with a warning naming the file, or stops with an error
naming the file and saying how to fix it.  Archives and downloads are tiny
files written into ``tmp_path``; the network is replaced by a stub that
fails (or by a local HTTP server where a re-download must work).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from glmeval_utils.__main__ import main
from glmeval_utils.data import loaders, registry
from glmeval_utils.data.registry import DataError, DatasetSpec, RemoteFile
from glmeval_utils.data.splits import TaskData, row_limits, subsample
from served import ServedFile, http_root  # noqa: F401  (http_root is a fixture)

RECORD = "11583224-test"
ROWS = 2000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split_csv(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    lines = ["sequence,label"] + [f"{''.join(rng.choice(list('ACGT'), size=20))},{i % 2}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


MEMBERS = {f"data/toy/{stem}.csv": split_csv(rows, seed)
           for seed, (stem, rows) in enumerate((("train", ROWS), ("dev", 200), ("test", 200)))}


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def archive_spec(sha256: str | None = None) -> DatasetSpec:
    """A spec like the paper's Zenodo sets: three members of one ``data.tar.gz``."""
    files = tuple(RemoteFile("zenodo", RECORD, "", "data.tar.gz", sha256, member=member) for member in MEMBERS)
    return DatasetSpec(name="toy_archive", task="tf_binding", files=files, parser=loaders.parse_split_csvs,
                       targets=("label",), target_kind="binary", licence="-", citation="-", paper_note="-")


@pytest.fixture
def archive_mirror(tmp_path, monkeypatch):
    """``$GLMEVAL_MIRROR/zenodo/<record>/data.tar.gz`` holding :data:`MEMBERS`; returns the archive path."""
    archive = tmp_path / "mirror" / "zenodo" / RECORD / "data.tar.gz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(tar_gz(MEMBERS))
    monkeypatch.setenv("GLMEVAL_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path / "cache"))
    return archive


def no_network(monkeypatch) -> list[str]:
    """Make every HTTP request fail as it does offline; returns the list of attempted URLs."""
    calls = []

    def refuse(url, *args, **kwargs):
        calls.append(url)
        raise requests.exceptions.ConnectionError(f"Failed to resolve host of {url} (no network)")

    monkeypatch.setattr(requests, "get", refuse)
    monkeypatch.setattr(requests, "head", refuse)
    return calls


@pytest.fixture(name="offline")
def offline_fixture(monkeypatch):
    return no_network(monkeypatch)


# --------------------------------------------------------------------------- archive members
def test_truncated_archive_member_is_unpacked_again(archive_mirror):
    spec = archive_spec()
    assert len(registry.load(spec, profile="full")) == ROWS + 400
    unpacked = registry.fetch(spec)["train.csv"]
    kept = b"".join(MEMBERS["data/toy/train.csv"].splitlines(keepends=True)[:7])
    unpacked.write_bytes(kept)  # cut at a line end: parses silently to 6 rows, as in the issue
    with pytest.warns(UserWarning, match=re.escape(str(unpacked))):
        table = registry.load(spec, profile="full")
    assert len(table) == ROWS + 400 and unpacked.read_bytes() == MEMBERS["data/toy/train.csv"]


def test_bit_flipped_archive_member_is_unpacked_again(archive_mirror):
    path = registry.fetch(archive_spec())["dev.csv"]
    data = bytearray(path.read_bytes())
    data[40] ^= 0x04  # same size, one base changed
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="dev.csv"):
        again = registry.fetch(archive_spec())["dev.csv"]
    assert again.read_bytes() == MEMBERS["data/toy/dev.csv"]


def test_unpacked_member_is_reused_without_the_archive(archive_mirror):
    path = registry.fetch(archive_spec())["test.csv"]
    archive_mirror.unlink()  # the member's recorded hash vouches for it; the archive is not needed again
    assert registry.fetch(archive_spec())["test.csv"] == path


def test_damaged_archive_is_named(archive_mirror):
    archive_mirror.write_bytes(archive_mirror.read_bytes()[:200])
    with pytest.raises(DataError, match=re.escape(str(archive_mirror))):
        registry.fetch(archive_spec())


def test_archive_without_declared_hash_is_held_to_the_hash_of_its_first_use(archive_mirror, tmp_path):
    registry.fetch(archive_spec())
    first = sha(archive_mirror.read_bytes())
    replaced = tar_gz({**MEMBERS, "data/toy/train.csv": split_csv(6, 9)})
    archive_mirror.write_bytes(replaced)
    for member in (tmp_path / "cache").rglob("train.csv"):
        member.unlink()  # force a new extraction from the (replaced) archive
    with pytest.raises(DataError) as err:
        registry.fetch(archive_spec())
    message = str(err.value)
    assert str(archive_mirror) in message and first in message and sha(replaced) in message


def test_declared_archive_hash_is_checked(archive_mirror):
    with pytest.raises(DataError, match="0" * 64):
        registry.fetch(archive_spec(sha256="0" * 64))


# --------------------------------------------------------------------------- downloads without network
def toy_remote(content: bytes) -> RemoteFile:
    return RemoteFile("github", "toy/repo", "0123456789abcdef0123456789abcdef01234567", "d/a.txt", sha(content))


@pytest.fixture
def cache_only(tmp_path, monkeypatch):
    monkeypatch.delenv("GLMEVAL_MIRROR", raising=False)
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_truncated_cached_download_without_network_says_the_file_is_bad(cache_only, offline):
    content = b"ACGT" * 1000
    remote = toy_remote(content)
    cached = registry.data_dir() / remote.relative_path
    cached.parent.mkdir(parents=True)
    cached.write_bytes(content[:100])
    with pytest.warns(UserWarning, match=re.escape(str(cached))), pytest.raises(DataError) as err:
        registry.fetch_file(remote, progress=False)
    message = str(err.value)
    for part in (str(cached), sha(content), sha(content[:100]), "GLMEVAL_MIRROR", "delete"):
        assert part in message
    assert cached.read_bytes() == content[:100]  # kept for the user to inspect; nothing half-written beside it
    assert sorted(p.name for p in cached.parent.iterdir()) == ["a.txt"]


def test_cli_fetch_prints_one_line_for_a_bad_cached_file(cache_only, offline, monkeypatch, capsys):
    content = b"ACGT" * 1000
    remote = toy_remote(content)
    cached = registry.data_dir() / remote.relative_path
    cached.parent.mkdir(parents=True)
    cached.write_bytes(content[:100])
    spec = DatasetSpec(name="toy", task="tf_binding", files=(remote,), parser=loaders.parse_split_csvs,
                       targets=("label",), target_kind="binary", licence="-", citation="-", paper_note="-",
                       profiles=("smoke",))
    monkeypatch.setattr(registry, "DATASETS", {"toy": spec})
    with pytest.warns(UserWarning):
        assert main(["fetch", "--profile", "smoke"]) == 1
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("glmeval fetch: error:")]
    assert "Traceback" not in stderr and len(errors) == 1
    assert str(cached) in errors[0] and sha(content) in errors[0] and "GLMEVAL_MIRROR" in errors[0]


def test_missing_download_without_network_is_one_clear_error(cache_only, offline):
    with pytest.raises(DataError, match="could not download a.txt .*GLMEVAL_MIRROR"):
        registry.fetch_file(toy_remote(b"x"), progress=False)


def test_intact_cached_download_is_used_without_network(cache_only, offline):
    remote = toy_remote(b"hello")
    cached = registry.data_dir() / remote.relative_path
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"hello")
    assert registry.fetch_file(remote, progress=False) == cached and offline == []




def test_truncated_cached_download_is_replaced_when_the_network_works(cache_only, http_root):
    root, ServedFile.base = http_root
    content = b"ACGT" * 1000
    (root / "a.txt").write_bytes(content)
    remote = ServedFile("github", "toy/repo", "0" * 40, "a.txt", sha(content))
    cached = registry.data_dir() / remote.relative_path
    cached.parent.mkdir(parents=True)
    cached.write_bytes(content[:100])
    with pytest.warns(UserWarning, match=re.escape(str(cached))):
        assert registry.fetch_file(remote, progress=False).read_bytes() == content


def test_download_without_declared_hash_is_held_to_the_hash_of_its_first_download(cache_only, http_root,
                                                                                  monkeypatch):
    root, ServedFile.base = http_root
    (root / "b.bin").write_bytes(b"first download")
    remote = ServedFile("zenodo", "42", "", "b.bin")  # like the paper's data.tar.gz: no hash published
    path = registry.fetch_file(remote, progress=False)
    path.write_bytes(b"first")  # truncated later
    no_network(monkeypatch)
    with pytest.warns(UserWarning, match="b.bin"), pytest.raises(DataError) as err:
        registry.fetch_file(remote, progress=False)
    assert sha(b"first download") in str(err.value) and sha(b"first") in str(err.value)


# --------------------------------------------------------------------------- hg38
def gz_genome(tmp_path, monkeypatch, text: str = ">chr1\nACGTACGT\n") -> RemoteFile:
    """A mirror holding a gzipped FASTA at the hg38 location, declared with its md5 (as UCSC publishes)."""
    data = gzip.compress(text.encode())
    folder = tmp_path / "mirror" / "ucsc" / "hg38"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hg38.fa.gz").write_bytes(data)
    monkeypatch.setenv("GLMEVAL_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path / "cache"))
    return RemoteFile("ucsc", "hg38", "", "hg38.fa.gz", md5=hashlib.md5(data).hexdigest())


def test_hg38_is_declared_with_the_published_md5():
    assert registry.HG38.url == "https://hgdownload.soe.ucsc.edu/goldenPath/hg38/bigZips/hg38.fa.gz"
    assert re.fullmatch(r"[0-9a-f]{32}", registry.HG38.md5)
    assert registry.HG38.relative_path == Path("ucsc", "hg38", "hg38.fa.gz")


def test_unpacked_genome_is_checked_and_unpacked_again(tmp_path, monkeypatch):
    remote = gz_genome(tmp_path, monkeypatch)
    fasta = registry.fetch_genome(remote, progress=False)
    assert fasta.read_text() == ">chr1\nACGTACGT\n"
    fasta.write_text(">chr1\nACG")
    with pytest.warns(UserWarning, match=re.escape(str(fasta))):
        assert registry.fetch_genome(remote, progress=False).read_text() == ">chr1\nACGTACGT\n"


def test_genome_archive_with_wrong_md5_is_refused(tmp_path, monkeypatch):
    remote = gz_genome(tmp_path, monkeypatch)
    wrong = RemoteFile("ucsc", "hg38", "", "hg38.fa.gz", md5="0" * 32)
    with pytest.raises(DataError, match="hg38.fa.gz.*md5"):
        registry.fetch_genome(wrong, progress=False)
    assert not list((tmp_path / "cache").rglob("hg38.fa"))
    assert registry.fetch_genome(remote, progress=False).is_file()


def test_truncated_gzip_is_named(tmp_path, monkeypatch):
    gz_genome(tmp_path, monkeypatch, ">chr1\n" + "ACGT" * 5000 + "\n")
    archive = tmp_path / "mirror" / "ucsc" / "hg38" / "hg38.fa.gz"
    cut = archive.read_bytes()[:-30]  # the declared hash matches these bytes: only gzip's own check can tell
    archive.write_bytes(cut)
    remote = RemoteFile("ucsc", "hg38", "", "hg38.fa.gz", md5=hashlib.md5(cut).hexdigest())
    with pytest.raises(DataError, match=re.escape(str(archive))):
        registry.fetch_genome(remote, progress=False)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and "hg38.fa" in p.name
                and not p.name.endswith(".sha256")]


# --------------------------------------------------------------------------- unknown names
def test_unknown_task_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown task 'nope'.*tf_binding"):
        registry.list_datasets(task="nope")
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        registry.list_datasets(profile="nope")


def toy_table() -> pd.DataFrame:
    return pd.DataFrame({"seq": ["ACGT"] * 12, "y": np.arange(12.0),
                         "split": ["train"] * 4 + ["valid"] * 4 + ["test"] * 4})


@pytest.mark.parametrize("name", ["VALID", "validation", "dev"])
def test_subsample_refuses_unknown_split_names(name):
    with pytest.raises(ValueError, match=f"unknown split.*'{name}'.*valid"):
        subsample(toy_table(), {name: 1})
    with pytest.raises(ValueError, match=f"'{name}'"):
        row_limits({name: 1})


def test_task_data_names_unknown_split_values():
    table = toy_table().replace({"split": {"valid": "validation"}})
    with pytest.raises(ValueError, match=r"unknown split value\(s\) \['validation'\]"):
        TaskData.from_table(table, target="y", task="t", dataset="toy", kind="regression")
