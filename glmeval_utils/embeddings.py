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
        manifest.json          written last: its presence marks a complete entry
        layer_<k>.npy.partial  preallocated arrays of an unfinished run
        progress.json          chunks of the unfinished run already on disk

The key hashes everything the numbers depend on: model name, model id,
revision, a fingerprint of the weights (so a re-pretrained teaching model gets
new entries), the ordered sequences, layers, pooling, strands and
:data:`CACHE_FORMAT_VERSION`.  Every file is written to a temporary name and
moved into place with :func:`os.replace`; a killed run therefore leaves no
``manifest.json``, and the rerun resumes from the last finished chunk.
An entry has one writer at a time: two processes filling the same entry
concurrently would share its ``.partial`` files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from glmeval_utils import paths
from glmeval_utils.sequences import validate_sequences

#: Bump when the on-disk layout or the meaning of stored numbers changes.
CACHE_FORMAT_VERSION = 1
POOLINGS = ("mean", "cls", "full", "tokens")
#: Poolings stored as float16 ``(N, rows, H)``: one row per nucleotide or per token.
PER_POSITION = ("full", "tokens")
STRANDS = ("fwd", "both")
MANIFEST = "manifest.json"
PROGRESS = "progress.json"
TOKEN_COUNTS = "token_counts.npy"
#: Tensors with more elements than this are fingerprinted from an evenly spaced sample.
_FULL_HASH_LIMIT = 1 << 16
_FINGERPRINT_SAMPLE = 4096


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
        return np.load(self.path / _layer_file(resolved), mmap_mode="r")

    def token_counts(self) -> np.ndarray:
        """Rows in use per sequence of a ``pooling="tokens"`` entry (its non-special tokens).

        Returns
        -------
        ndarray of int64, shape (N,)
        """
        if self.pooling != "tokens":
            raise ValueError(f"the cache entry {self.path} has pooling {self.pooling!r}; token counts are "
                             "stored for pooling='tokens' only")
        return np.load(self.path / TOKEN_COUNTS)

    @classmethod
    def open(cls, path: str | os.PathLike, *, cache_hit: bool = True) -> "EmbeddingResult":
        """Open a complete cache entry; raises FileNotFoundError if it is unfinished."""
        path = Path(path)
        manifest_path = path / MANIFEST
        if not manifest_path.exists():
            raise FileNotFoundError(f"{path} is not a complete embedding cache entry (no {MANIFEST})")
        manifest = json.loads(manifest_path.read_text())
        return cls(
            path=path,
            key=manifest["key"],
            model=manifest["model"]["name"],
            layers=tuple(manifest["layers"]),
            n_layers=manifest["model"]["n_layers"],
            pooling=manifest["pooling"],
            strands=manifest["strands"],
            n_sequences=manifest["n_sequences"],
            shape=tuple(manifest["shape"]),
            dtype=manifest["dtype"],
            cache_hit=cache_hit,
            manifest=manifest,
        )


def _layer_file(layer: int) -> str:
    return f"layer_{layer}.npy"


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
    key = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()
    return key, description


def _write_json_atomic(path: Path, payload: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(payload, indent=1, sort_keys=True))
    os.replace(temporary, path)


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
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if strands not in STRANDS:
        raise ValueError(f"strands must be one of {STRANDS}, got {strands!r}")
    if chunk_size < 1 or (batch_size is not None and batch_size < 1):
        raise ValueError("chunk_size and batch_size must be positive")
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
    if (entry / MANIFEST).exists():
        return EmbeddingResult.open(entry, cache_hit=True)
    entry.mkdir(parents=True, exist_ok=True)
    token_counts = None
    if pooling == "tokens":
        # every chunk pads to its own longest sequence; the entry needs the longest overall up front
        token_counts = np.asarray(glm.token_counts(seqs), dtype=np.int64)
        if token_counts.shape != (len(seqs),):
            raise ValueError(f"{glm.name}.token_counts returned shape {token_counts.shape} for {len(seqs)} sequences")
    _run_chunks(glm, seqs, entry, layers=resolved, pooling=pooling, strands=strands,
                batch_size=batch_size, chunk_size=chunk_size, progress=progress, token_counts=token_counts)
    return _finalise(entry, key, description, resolved, token_counts)


def _run_chunks(glm, seqs, entry: Path, *, layers, pooling, strands, batch_size, chunk_size, progress,
                token_counts) -> None:
    """Embed every unfinished chunk into the ``.partial`` memory maps, recording progress.

    ``token_counts`` (N,) is given for ``pooling="tokens"``: chunk outputs
    ``(n, layers, T_chunk, H)`` fill the first ``T_chunk`` of ``max(token_counts)`` rows.
    """
    from tqdm.auto import tqdm

    dtype = np.float16 if pooling in PER_POSITION else np.float32
    # Similar lengths in one chunk keep padding inside glm.embed's batches small.
    order = np.argsort([len(s) for s in seqs], kind="stable")
    chunks = [order[start:start + chunk_size] for start in range(0, len(seqs), chunk_size)]
    state_path = entry / PROGRESS
    state = json.loads(state_path.read_text()) if state_path.exists() else None
    if state is not None and (state.get("chunk_size") != chunk_size or state.get("layers") != list(layers)
                              or not all((entry / (_layer_file(k) + ".partial")).exists() for k in layers)):
        state = None  # an earlier run with other chunking: start over
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
        _write_json_atomic(state_path, state)
    del partials  # close the memory maps before the files are renamed


def _finalise(entry: Path, key: str, description: dict, layers: tuple[int, ...],
              token_counts: np.ndarray | None) -> EmbeddingResult:
    """Move the finished arrays (and token counts) into place and write the manifest last."""
    state = json.loads((entry / PROGRESS).read_text())
    for layer in layers:
        os.replace(entry / (_layer_file(layer) + ".partial"), entry / _layer_file(layer))
    if token_counts is not None:
        temporary = entry / (TOKEN_COUNTS + ".tmp")
        with open(temporary, "wb") as handle:  # a file handle: np.save would append ".npy" to the name
            np.save(handle, token_counts)
        os.replace(temporary, entry / TOKEN_COUNTS)
    manifest = dict(description, key=key, shape=state["shape"],
                    dtype="float16" if description["pooling"] in PER_POSITION else "float32")
    _write_json_atomic(entry / MANIFEST, manifest)
    (entry / PROGRESS).unlink()
    return EmbeddingResult.open(entry, cache_hit=False)

