"""Content-addressed, resumable on-disk cache of gLM embeddings.

:func:`extract` runs ``glm.embed`` once per chunk of sequences, asking for
every requested layer in the same forward pass, and stores one ``.npy`` file
per layer:

* pooled embeddings (``pooling="mean"`` or ``"cls"``): float32, ``(N, H)``;
* full per-nucleotide embeddings (``pooling="full"``): float16, ``(N, L, H)``,
  read back memory-mapped so a chapter never needs them in RAM;
* per-token embeddings (``pooling="tokens"``): float16, ``(N, T, H)`` with
  ``T`` the most non-special tokens of any sequence; rows past a sequence's
  own count are zero, and the counts are stored beside the layers
  (:meth:`EmbeddingResult.token_counts`).  For k-mer models this is the
  compact form: 40 rows instead of 230 for NT at 230 nt.

:func:`position_pooling` names the per-position pooling a CNN probe reads:
``"tokens"`` for models with multi-base tokens, ``"full"`` otherwise.

Cache layout (one folder per key under :func:`glmeval_utils.paths.embeddings_dir`)::

    <model name>/<label->key>/
        layer_<k>.npy          finished arrays, one per hidden-state index k
        token_counts.npy       pooling="tokens" only: (N,) int64 rows in use per sequence
        manifest.json          written last: its presence marks a complete entry;
                               lists every file's size and sha256
        layer_<k>.npy.partial  preallocated arrays of an unfinished run
        progress.json          chunks of the unfinished run already on disk
        writer.lock            held by the one process filling the entry

The key hashes everything the numbers depend on: model name, model id,
revision, a fingerprint of the weights (so a re-pretrained teaching model gets
new entries), the ordered sequences, layers, pooling, strands and
:data:`CACHE_FORMAT_VERSION`.  Every file is written to a temporary name
unique to the writing process and moved into place with :func:`os.replace`;
a killed run therefore leaves no ``manifest.json``, and the rerun resumes from
the last finished chunk.

The cache checks what it serves:

* Opening a finished entry checks each file's ``.npy`` header against the
  manifest's shape and dtype, its size in bytes, and its sha256: over the
  whole file up to 64 MiB (about 40 ms; sha256 runs at about 1.7 GB/s on one
  core), above that over 64 evenly spaced blocks of 64 KiB including the
  first and the last (4 MiB read per file), so a damaged large file is caught
  when it is truncated, extended or changed in a sampled block, and
  :meth:`EmbeddingResult.verify` with ``full=True`` hashes every byte.
  Manifests written before sizes and checksums were recorded are checked by
  header and size only; their keys are unchanged.
* Resuming checks each ``.partial`` file's header and size against the shape
  in ``progress.json`` first.
* :func:`extract` recomputes an entry that fails a check, or starts an
  unfinished one over, with a :class:`RuntimeWarning` naming the entry and the
  file; :meth:`EmbeddingResult.open` and :meth:`EmbeddingResult.layer` raise
  :class:`CacheError` naming them and saying how to clear the entry.
* One process fills an entry at a time (a :class:`filelock.FileLock` on
  ``writer.lock``): a second process asking for the same entry waits, then
  reads the finished entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from glmeval_utils import paths
from glmeval_utils.files import file_digest, temporary_path
from glmeval_utils.sequences import validate_sequences
from glmeval_utils.validation import positive_int

#: Bump when the on-disk layout or the meaning of stored numbers changes.
CACHE_FORMAT_VERSION = 1
POOLINGS = ("mean", "cls", "full", "tokens")
#: Poolings stored as float16 ``(N, rows, H)``: one row per nucleotide or per token.
PER_POSITION = ("full", "tokens")
STRANDS = ("fwd", "both")
MANIFEST = "manifest.json"
PROGRESS = "progress.json"
TOKEN_COUNTS = "token_counts.npy"
LOCK = "writer.lock"
#: Tensors with more elements than this are fingerprinted from an evenly spaced sample.
_FULL_HASH_LIMIT = 1 << 16
_FINGERPRINT_SAMPLE = 4096
#: Files up to this size are hashed whole when an entry is opened; larger ones on sampled blocks.
_FULL_VERIFY_BYTES = 64 << 20
_SAMPLE_BLOCKS = 64
_SAMPLE_BLOCK_BYTES = 1 << 16


class CacheError(RuntimeError):
    """A cache entry whose files disagree with its manifest, or whose manifest cannot be read.

    Attributes
    ----------
    entry : pathlib.Path
        Folder of the entry.
    problem : str
        What is wrong, naming the file.
    """

    def __init__(self, entry: Path, problem: str):
        self.entry, self.problem = Path(entry), problem
        super().__init__(f"embedding cache entry {entry}: {problem}; delete the folder {entry} to clear it "
                         "(embeddings.extract recomputes it)")


@dataclass(frozen=True)
class EmbeddingResult:
    """A complete cache entry: one memory-mapped array per hidden-state layer.

    Attributes
    ----------
    path : pathlib.Path
        Folder of the entry.
    key : str
        Hex digest identifying the entry.
    model : str
        ``glm.name``.
    layers : tuple of int
        Hidden-state indices stored (0 = token embeddings, ``n_layers`` = last).
    n_layers : int
        ``glm.n_layers``, used to resolve negative layer indices.
    pooling, strands : str
    n_sequences : int
    shape : tuple of int
        Shape of each layer's array: ``(N, H)`` pooled, ``(N, L, H)`` full or
        ``(N, T, H)`` tokens.
    dtype : str
        ``"float32"`` (pooled) or ``"float16"`` (full, tokens).
    cache_hit : bool
        True when nothing had to be computed.
    """

    path: Path
    key: str
    model: str
    layers: tuple[int, ...]
    n_layers: int
    pooling: str
    strands: str
    n_sequences: int
    shape: tuple[int, ...]
    dtype: str
    cache_hit: bool = False
    manifest: dict = field(default_factory=dict, repr=False)

    def layer(self, index: int) -> np.memmap:
        """Read-only memory map of one layer.

        Parameters
        ----------
        index : int
            Hidden-state index as passed to :func:`extract` (negative counts
            from the last layer, ``-1`` = ``n_layers``).

        Returns
        -------
        numpy.memmap
            ``(N, H)`` float32, or ``(N, L, H)`` / ``(N, T, H)`` float16.
        """
        resolved = index + self.n_layers + 1 if index < 0 else index
        if resolved not in self.layers:
            raise KeyError(
                f"layer {index} is not in the cache entry {self.path} (stored layers: {list(self.layers)})"
            )
        return self._load(_layer_file(resolved))

    def token_counts(self) -> np.ndarray:
        """Rows in use per sequence of a ``pooling="tokens"`` entry (its non-special tokens).

        Returns
        -------
        ndarray of int64, shape (N,)
        """
        if self.pooling != "tokens":
            raise ValueError(f"the cache entry {self.path} has pooling {self.pooling!r}; token counts are "
                             "stored for pooling='tokens' only")
        return np.asarray(self._load(TOKEN_COUNTS))

    def _load(self, name: str) -> np.memmap:
        # the files were checked on open; this catches one damaged since then
        try:
            return np.load(self.path / name, mmap_mode="r")
        except (OSError, ValueError) as error:
            raise CacheError(self.path, f"{self.path / name} cannot be read ({error})") from error

    def verify(self, *, full: bool = False) -> None:
        """Check every file of the entry against the manifest; raise :class:`CacheError` on a mismatch.

        Parameters
        ----------
        full : bool
            Hash every byte of every file.  By default files larger than
            64 MiB are hashed on 64 evenly spaced blocks of 64 KiB (what
            :meth:`open` does).
        """
        problem = _entry_problem(self.path, self.manifest, full=full)
        if problem:
            raise CacheError(self.path, problem)

    @classmethod
    def open(cls, path: str | os.PathLike, *, cache_hit: bool = True) -> "EmbeddingResult":
        """Open and check a complete cache entry.

        Raises
        ------
        FileNotFoundError
            The entry is unfinished (no ``manifest.json``).
        CacheError
            The manifest cannot be read, or a file disagrees with it (header,
            size or checksum; see the module docstring).
        """
        path = Path(path)
        manifest_path = path / MANIFEST
        if not manifest_path.exists():
            raise FileNotFoundError(f"{path} is not a complete embedding cache entry (no {MANIFEST})")
        try:
            manifest = json.loads(manifest_path.read_text())
            result = cls(
                path=path,
                key=manifest["key"],
                model=manifest["model"]["name"],
                layers=tuple(int(layer) for layer in manifest["layers"]),
                n_layers=int(manifest["model"]["n_layers"]),
                pooling=manifest["pooling"],
                strands=manifest["strands"],
                n_sequences=int(manifest["n_sequences"]),
                shape=tuple(int(size) for size in manifest["shape"]),
                dtype=manifest["dtype"],
                cache_hit=cache_hit,
                manifest=manifest,
            )
        except (OSError, ValueError, KeyError, TypeError) as error:  # JSONDecodeError is a ValueError
            raise CacheError(path, f"{MANIFEST} cannot be read ({type(error).__name__}: {error})") from error
        result.verify()
        return result


def _layer_file(layer: int) -> str:
    return f"layer_{layer}.npy"


def _entry_files(manifest: dict) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """File name -> (shape, dtype) of every array a finished entry holds."""
    shape, dtype = tuple(int(size) for size in manifest["shape"]), np.dtype(manifest["dtype"])
    files = {_layer_file(int(layer)): (shape, dtype) for layer in manifest["layers"]}
    if manifest["pooling"] == "tokens":
        files[TOKEN_COUNTS] = ((int(manifest["n_sequences"]),), np.dtype(np.int64))
    return files


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _npy_problem(path: Path, shape: tuple[int, ...], dtype) -> str | None:
    """What is wrong with an ``.npy`` file that should hold ``shape`` x ``dtype``, or None.

    Reads the header only: shape, dtype and order must match, and the file
    must be exactly header plus data long (numpy would zero-fill a short file
    opened ``r+`` and fail on memory-mapping it read-only).
    """
    if not path.is_file():
        return f"{path.name} is missing"
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version not in _HEADER_READERS:
                return f"{path.name} has .npy format version {version}, which the cache never writes"
            stored_shape, fortran_order, stored_dtype = _HEADER_READERS[version](handle)
            data_offset = handle.tell()
    except (OSError, ValueError) as error:
        return f"{path.name} has no readable .npy header ({error})"
    if tuple(stored_shape) != tuple(shape) or np.dtype(stored_dtype) != np.dtype(dtype) or fortran_order:
        return (f"{path.name} holds {np.dtype(stored_dtype)} {tuple(stored_shape)}, expected "
                f"{np.dtype(dtype)} {tuple(shape)}")
    expected = data_offset + int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    size = path.stat().st_size
    if size != expected:
        return f"{path.name} has {size} bytes, expected {expected} ({'truncated' if size < expected else 'extended'})"
    return None


def _sampled_sha256(path: Path) -> str:
    """sha256 of the file size and of evenly spaced blocks (first and last included)."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    starts = np.unique(np.linspace(0, max(size - _SAMPLE_BLOCK_BYTES, 0), _SAMPLE_BLOCKS).astype(np.int64))
    with open(path, "rb") as handle:
        for start in starts:
            handle.seek(int(start))
            digest.update(handle.read(_SAMPLE_BLOCK_BYTES))
    return digest.hexdigest()


def _file_record(path: Path) -> dict:
    """Size and checksums of a finished file, as the manifest records them."""
    return {"bytes": path.stat().st_size, "sha256": file_digest(path), "sampled_sha256": _sampled_sha256(path)}


def _checksum_problem(path: Path, record, *, full: bool) -> str | None:
    """What differs between a finished file and its manifest record (size, checksum), or None."""
    if not isinstance(record, dict) or not {"bytes", "sha256", "sampled_sha256"} <= record.keys():
        return f"{MANIFEST} records no size and checksums for {path.name}"
    size = path.stat().st_size
    if size != record["bytes"]:
        return f"{path.name} has {size} bytes, the manifest records {record['bytes']}"
    if full or size <= _FULL_VERIFY_BYTES:
        if file_digest(path) != record["sha256"]:
            return f"{path.name}: its sha256 checksum differs from the manifest's (the file changed on disk)"
    elif _sampled_sha256(path) != record["sampled_sha256"]:
        return f"{path.name}: the checksum of its sampled blocks differs from the manifest's (the file changed on disk)"
    return None


def _entry_problem(entry: Path, manifest: dict, *, full: bool = False) -> str | None:
    """The first disagreement between a finished entry's files and its manifest, or None.

    Manifests without ``files`` (written before sizes and checksums were
    recorded) are checked by header and size only.
    """
    try:
        expected = _entry_files(manifest)
        records = manifest.get("files")
    except (KeyError, TypeError, ValueError) as error:
        return f"{MANIFEST} cannot be read ({type(error).__name__}: {error})"
    if records is not None and not isinstance(records, dict):
        return f"{MANIFEST} cannot be read ('files' is not a mapping)"
    for name, (shape, dtype) in expected.items():
        problem = _npy_problem(entry / name, shape, dtype)
        if problem is None and records is not None:
            problem = _checksum_problem(entry / name, records.get(name), full=full)
        if problem:
            return problem
    return None


def resolve_layers(layers: Sequence[int] | int | str, n_layers: int) -> tuple[int, ...]:
    """Turn requested layers into sorted, unique hidden-state indices in ``0..n_layers``.

    ``"all"`` means every hidden state; negative indices count from the end
    (``-1`` = ``n_layers``).
    """
    if isinstance(layers, str):
        if layers != "all":
            raise ValueError(f"layers must be 'all' or integers, got {layers!r}")
        return tuple(range(n_layers + 1))
    requested = [layers] if isinstance(layers, (int, np.integer)) else list(layers)
    if not requested:
        raise ValueError("layers is empty")
    resolved = []
    for layer in requested:
        index = int(layer) + n_layers + 1 if layer < 0 else int(layer)
        if not 0 <= index <= n_layers:
            raise ValueError(f"layer {layer} is outside 0..{n_layers} (hidden states of a {n_layers}-layer model)")
        resolved.append(index)
    return tuple(sorted(set(resolved)))


def position_pooling(glm) -> str:
    """The per-position pooling a CNN probe reads: one row per token, or per nucleotide.

    ``"tokens"`` for gLMs whose tokens span several bases (NT 6-mers,
    DNABERT-2 BPE): their ``"full"`` rows would repeat each token's vector
    once per base it covers, six times the storage for NT with no new
    information, and a CNN would see a different receptive field than the
    reference study's (which ran on token rows).  ``"full"`` for
    one-token-per-base gLMs, whose rows are the same either way, so their
    cache entries keep their keys.  Objects without ``single_base_tokens``
    (duck-typed stand-ins) are taken as one token per base.
    """
    return "full" if getattr(glm, "single_base_tokens", True) else "tokens"


def sequences_sha256(seqs: Sequence[str]) -> str:
    """Order-sensitive sha256 of a list of sequences (one per line)."""
    digest = hashlib.sha256()
    for seq in seqs:
        digest.update(seq.encode("ascii"))
        digest.update(b"\n")
    return digest.hexdigest()


def weights_fingerprint(glm) -> str:
    """A digest of the model's weights, so that retrained weights change the cache key.

    Uses ``glm.weights_fingerprint`` when the adapter provides one; otherwise
    hashes the state dict of ``glm.model`` (a ``torch.nn.Module``): names,
    shapes, dtypes and values of every tensor.  Tensors larger than 65,536
    elements contribute an evenly spaced sample of 4,096 values plus their
    float64 sum, which keeps fingerprinting a multi-billion-parameter model
    fast while any retraining still changes the digest.
    """
    provided = getattr(glm, "weights_fingerprint", None)
    if isinstance(provided, str):
        return provided
    import torch

    module = getattr(glm, "model", None)
    if not isinstance(module, torch.nn.Module):
        raise TypeError(
            f"cannot fingerprint the weights of {getattr(glm, 'name', glm)!r}: it has no "
            "'weights_fingerprint' string and no torch module in '.model'"
        )
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}".encode())
            flat = tensor.detach().reshape(-1)
            if flat.numel() > _FULL_HASH_LIMIT:
                positions = torch.linspace(0, flat.numel() - 1, _FINGERPRINT_SAMPLE, device=flat.device).long()
                digest.update(repr(flat.double().sum().item()).encode())
                flat = flat[positions]
            digest.update(flat.cpu().float().numpy().tobytes())
    return digest.hexdigest()


def cache_key(glm, seqs: Sequence[str], *, layers, pooling: str, strands: str, label: str | None = None) -> tuple[str, dict]:
    """Hex digest of everything an embedding depends on, and the dict it hashes.

    Parameters
    ----------
    glm : models.GLM
    seqs : sequence of str
        Validated (upper-case) sequences, in order.
    layers : tuple of int
        Resolved hidden-state indices.
    pooling, strands : str
    label : str, optional
        Human-readable name (e.g. ``"lentimpra_hepg2-demo"``), also hashed.
    """
    description = {
        "format_version": CACHE_FORMAT_VERSION,
        "model": {
            "name": glm.name,
            "model_id": getattr(glm, "model_id", None),
            "revision": getattr(glm, "revision", None),
            "n_layers": int(glm.n_layers),
            "weights": weights_fingerprint(glm),
        },
        "sequences_sha256": sequences_sha256(seqs),
        "n_sequences": len(seqs),
        "layers": list(layers),
        "pooling": pooling,
        "strands": strands,
        "label": label,
    }
    precision = glm.autocast_dtype("embed") if hasattr(glm, "autocast_dtype") else None
    if precision is not None:  # a bf16/fp16 entry is not an fp32 one (fp32 keys stay as they were)
        description["model"]["autocast"] = str(precision)
    key = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()
    return key, description


def _write_json_atomic(path: Path, payload: dict) -> None:
    temporary = temporary_path(path)
    temporary.write_text(json.dumps(payload, indent=1, sort_keys=True))
    os.replace(temporary, path)


@contextmanager
def _writer_lock(entry: Path):
    """Hold the entry's ``writer.lock``, saying on stderr when another process holds it first."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(entry / LOCK))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"waiting for another process filling the embedding cache entry {entry} (lock: {entry / LOCK})",
              file=sys.stderr)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _warn(entry: Path, problem: str, action: str) -> None:
    warnings.warn(f"embedding cache entry {entry}: {problem}; {action}", RuntimeWarning, stacklevel=3)


def _open_entry(entry: Path, key: str) -> EmbeddingResult:
    """Open and check a finished entry, which must be the one ``key`` names."""
    result = EmbeddingResult.open(entry, cache_hit=True)
    if result.key != key:
        raise CacheError(entry, f"{MANIFEST} belongs to the entry {result.key}, not to {key}")
    return result


def _discard_entry(entry: Path) -> None:
    """Remove every file of an entry but its lock; the manifest first, so no reader takes it for complete."""
    (entry / MANIFEST).unlink(missing_ok=True)
    for path in entry.iterdir():
        if path.is_file() and path.name != LOCK:
            path.unlink()


def _start_over(entry: Path) -> None:
    """Remove an unfinished run: ``progress.json`` first, so it never describes fresh partial files."""
    (entry / PROGRESS).unlink(missing_ok=True)
    for path in entry.glob("layer_*.npy.partial"):
        path.unlink()


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def _open_partials(entry: Path, layers: tuple[int, ...], shape: tuple[int, ...], dtype, *, create: bool):
    """Memory maps of the unfinished per-layer arrays (created when ``create``)."""
    mode = "w+" if create else "r+"
    return {
        layer: np.lib.format.open_memmap(entry / (_layer_file(layer) + ".partial"), mode=mode, dtype=dtype, shape=shape)
        for layer in layers
    }


def extract(
    glm,
    seqs: Sequence[str],
    *,
    layers: Sequence[int] | int | str = (-1,),
    pooling: str = "mean",
    strands: str = "fwd",
    batch_size: int | None = None,
    chunk_size: int = 2048,
    cache_dir: str | os.PathLike | None = None,
    label: str | None = None,
    progress: bool = True,
) -> EmbeddingResult:
    """Embed sequences with a gLM, or read them from the on-disk cache.

    Parameters
    ----------
    glm : models.GLM
        Any object following the gLM contract (``name``, ``model_id``,
        ``revision``, ``n_layers``, ``embed``); see CONTRIBUTING.md.
    seqs : sequence of str
        ``N`` DNA sequences.  For ``pooling="full"`` all must share one length.
    layers : sequence of int, int or "all"
        Hidden-state indices (0 = token embeddings, -1 = last layer).  All are
        computed from one forward pass per batch.
    pooling : {"mean", "cls", "full", "tokens"}
        As in ``glm.embed``; ``"tokens"`` also needs ``glm.token_counts``.
    strands : {"fwd", "both"}
        ``"both"`` averages forward and reverse-complement embeddings.
    batch_size : int, optional
        Sequences per forward pass (passed to ``glm.embed``; ``None`` = the adapter's default).
    chunk_size : int
        Sequences per resumable unit of work; finished chunks survive a crash.
    cache_dir : path, optional
        Cache root; defaults to :func:`glmeval_utils.paths.embeddings_dir`.
    label : str, optional
        Human-readable prefix of the entry's folder (e.g. the data set name).
    progress : bool
        Show a progress bar over chunks.

    Returns
    -------
    EmbeddingResult
        ``result.layer(i)`` is a read-only memory map, ``(N, H)`` float32 for
        pooled embeddings, ``(N, L, H)`` float16 for ``pooling="full"`` or
        ``(N, T, H)`` float16 for ``pooling="tokens"``.

    Notes
    -----
    A finished entry that fails its checks (manifest, header, size, checksum)
    is recomputed, and an unfinished one whose ``progress.json`` or
    ``.partial`` files fail theirs is started over, each with a
    :class:`RuntimeWarning` naming the entry and the file.  A second process
    asking for an entry that another is filling waits for it (saying so on
    stderr) and then reads it.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if strands not in STRANDS:
        raise ValueError(f"strands must be one of {STRANDS}, got {strands!r}")
    chunk_size = positive_int(chunk_size, "chunk_size")
    batch_size = positive_int(batch_size, "batch_size", allow_none=True)
    seqs = validate_sequences(seqs, source=label or "extract")
    if not seqs:
        raise ValueError("no sequences to embed")
    if pooling == "full" and len({len(s) for s in seqs}) > 1:
        lengths = sorted({len(s) for s in seqs})
        raise ValueError(f"pooling='full' needs sequences of one length; got lengths {lengths[:5]}...")
    resolved = resolve_layers(layers, int(glm.n_layers))
    key, description = cache_key(glm, seqs, layers=resolved, pooling=pooling, strands=strands, label=label)
    root = Path(cache_dir) if cache_dir is not None else paths.embeddings_dir()
    folder = (_safe_name(label) + "-" if label else "") + key[:32]
    entry = root / _safe_name(glm.name) / folder
    try:  # no lock for a finished entry: a read-only cache folder still serves it
        return _open_entry(entry, key)
    except (FileNotFoundError, CacheError):
        pass  # unfinished or damaged: looked at again under the lock, which says what it does
    entry.mkdir(parents=True, exist_ok=True)
    with _writer_lock(entry):
        if (entry / MANIFEST).exists():
            try:
                return _open_entry(entry, key)  # finished by another process while this one waited
            except CacheError as error:
                _warn(entry, error.problem, "recomputing the entry")
                _discard_entry(entry)
        for temporary in entry.glob("*.tmp"):  # left by a killed writer: the lock says none is alive
            temporary.unlink()
        token_counts = None
        if pooling == "tokens":
            # every chunk pads to its own longest sequence; the entry needs the longest overall up front
            token_counts = np.asarray(glm.token_counts(seqs), dtype=np.int64)
            if token_counts.shape != (len(seqs),):
                raise ValueError(f"{glm.name}.token_counts returned shape {token_counts.shape} for {len(seqs)} "
                                 "sequences")
        state = _run_chunks(glm, seqs, entry, layers=resolved, pooling=pooling, strands=strands,
                            batch_size=batch_size, chunk_size=chunk_size, progress=progress,
                            token_counts=token_counts)
        return _finalise(entry, key, description, resolved, state, token_counts)


def _resume_state(entry: Path, *, layers: tuple[int, ...], chunk_size: int, n_chunks: int, n_sequences: int,
                  dtype) -> dict | None:
    """The recorded progress of an unfinished run if it can be resumed; otherwise start over and return None.

    A run with other chunking, or one killed while its files were being moved
    into place, starts over silently; an unreadable ``progress.json`` or a
    ``.partial`` file whose header or size disagrees with it starts over with
    a warning naming the file (numpy would zero-fill a short file, and the
    chunks recorded as done would be served as zeros).
    """
    state_path = entry / PROGRESS
    if not state_path.exists():
        _start_over(entry)
        return None
    problem = None
    try:
        state = json.loads(state_path.read_text())
        same_run = state["chunk_size"] == chunk_size and state["layers"] == list(layers)
        done, shape = state["done"], state["shape"]
        if not (isinstance(done, list) and all(isinstance(i, int) and 0 <= i < n_chunks for i in done)):
            problem = f"{PROGRESS} records chunks {done!r}, but the entry has chunks 0..{n_chunks - 1}"
        elif not (isinstance(shape, list) and all(isinstance(n, int) and n >= 0 for n in shape)
                  and shape[:1] == [n_sequences]):
            problem = f"{PROGRESS} records the shape {shape!r} for {n_sequences} sequences"
    except (OSError, ValueError, KeyError, TypeError) as error:  # JSONDecodeError is a ValueError
        problem, same_run = f"{PROGRESS} cannot be read ({type(error).__name__}: {error})", False
    partials = [entry / (_layer_file(layer) + ".partial") for layer in layers]
    if problem is None and same_run and all(path.exists() for path in partials):
        problem = next(filter(None, (_npy_problem(path, tuple(shape), dtype) for path in partials)), None)
        if problem is None:
            return state
    if problem:
        _warn(entry, problem, "started over (the chunks recorded as done cannot be trusted)")
    _start_over(entry)
    return None


def _run_chunks(glm, seqs, entry: Path, *, layers, pooling, strands, batch_size, chunk_size, progress,
                token_counts) -> dict:
    """Embed every unfinished chunk into the ``.partial`` memory maps, recording progress; return it.

    ``token_counts`` (N,) is given for ``pooling="tokens"``: chunk outputs
    ``(n, layers, T_chunk, H)`` fill the first ``T_chunk`` of ``max(token_counts)`` rows.
    """
    from tqdm.auto import tqdm

    dtype = np.float16 if pooling in PER_POSITION else np.float32
    # Similar lengths in one chunk keep padding inside glm.embed's batches small.
    order = np.argsort([len(s) for s in seqs], kind="stable")
    chunks = [order[start:start + chunk_size] for start in range(0, len(seqs), chunk_size)]
    state = _resume_state(entry, layers=layers, chunk_size=chunk_size, n_chunks=len(chunks),
                          n_sequences=len(seqs), dtype=dtype)
    done = set(state["done"]) if state else set()
    partials = (_open_partials(entry, layers, tuple(state["shape"]), dtype, create=False) if state else None)
    for index in tqdm([i for i in range(len(chunks)) if i not in done], desc=f"embed {glm.name}",
                      unit="chunk", disable=not progress):
        rows = chunks[index]
        output = np.asarray(glm.embed([seqs[i] for i in rows], layers=list(layers), pooling=pooling,
                                      strands=strands, batch_size=batch_size, progress=False))
        if output.shape[:2] != (len(rows), len(layers)):
            raise ValueError(
                f"{glm.name}.embed returned shape {output.shape} for {len(rows)} sequences and "
                f"{len(layers)} layers; expected ({len(rows)}, {len(layers)}, ...)"
            )
        values = output.astype(dtype)
        if not np.isfinite(values).all():
            bad = rows[np.flatnonzero(~np.isfinite(values).reshape(len(rows), -1).all(axis=1))[0]]
            raise FloatingPointError(
                f"{glm.name}: non-finite embedding for sequence {bad} (out of {dtype.__name__} range?)"
            )
        if partials is None:
            rest = list(output.shape[2:])
            if token_counts is not None:
                rest[0] = int(token_counts.max())
            state = {"chunk_size": chunk_size, "layers": list(layers), "done": [],
                     "shape": [len(seqs), *rest]}
            partials = _open_partials(entry, layers, tuple(state["shape"]), dtype, create=True)
        if token_counts is not None and output.shape[2] != token_counts[rows].max():
            raise ValueError(f"{glm.name}.embed returned {output.shape[2]} token rows for a chunk whose longest "
                             f"sequence has {token_counts[rows].max()} tokens (glm.token_counts)")
        width = output.shape[2] if token_counts is not None else None
        for position, layer in enumerate(layers):
            if width is None:
                partials[layer][rows] = values[:, position]
            else:
                partials[layer][rows, :width] = values[:, position]
                partials[layer][rows, width:] = 0
            partials[layer].flush()
        state["done"] = sorted(done | {index})
        done.add(index)
        _write_json_atomic(entry / PROGRESS, state)
    del partials  # close the memory maps before the files are renamed
    return state


def _finalise(entry: Path, key: str, description: dict, layers: tuple[int, ...], state: dict,
              token_counts: np.ndarray | None) -> EmbeddingResult:
    """Move the finished arrays (and token counts) into place and write the manifest, with sizes and checksums, last."""
    for layer in layers:
        os.replace(entry / (_layer_file(layer) + ".partial"), entry / _layer_file(layer))
    if token_counts is not None:
        temporary = temporary_path(entry / TOKEN_COUNTS)
        with open(temporary, "wb") as handle:  # a file handle: np.save would append ".npy" to the name
            np.save(handle, token_counts)
        os.replace(temporary, entry / TOKEN_COUNTS)
    manifest = dict(description, key=key, shape=state["shape"],
                    dtype="float16" if description["pooling"] in PER_POSITION else "float32")
    manifest["files"] = {name: _file_record(entry / name) for name in _entry_files(manifest)}
    _write_json_atomic(entry / MANIFEST, manifest)
    (entry / PROGRESS).unlink()
    return EmbeddingResult.open(entry, cache_hit=False)
