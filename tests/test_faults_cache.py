"""Fault tests of the embedding cache: damaged files, kill -9 mid-write, two writers of one entry.

Every test compares what the cache serves after the fault with a clean run,
bit for bit.  The fake gLM is numpy-only so the subprocess tests start fast;
run as a script, this file is the child process of those tests (see
:func:`main`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from glmeval_utils import embeddings
from glmeval_utils.sequences import one_hot

#: 22 sequences of 12 nt: 6 chunks of 4 (the last one of 2).
SEQS = ["".join(np.random.default_rng(row).choice(list("ACGT"), size=12)) for row in range(22)]
#: 14 sequences of 7..20 nt: 3..8 three-base tokens each, so every chunk has its own token width.
VARIABLE_SEQS = ["".join(np.random.default_rng(length).choice(list("ACGT"), size=length))
                 for length in range(20, 6, -1)]
CHILD_TIMEOUT_S = 60


class NumpyGLM:
    """Hidden state k = tanh(one-hot @ W_k) with W_k drawn from a fixed seed; 3-base tokens for ``"tokens"``.

    ``calls`` counts ``embed`` calls.  ``crash_on_call`` raises on that call;
    ``pause_on_call`` touches ``marker`` and sleeps on that call, so that a
    parent process can kill this one in the middle of a run; ``delay`` sleeps
    on every call, so that two processes overlap.
    """

    name = "numpy-glm"
    model_id = "toy/numpy-glm"
    revision = "r1"
    n_layers = 2
    hidden_size = 5

    def __init__(self, *, crash_on_call=None, pause_on_call=None, marker=None, delay=0.0):
        self.weights = np.random.default_rng(0).normal(size=(self.n_layers + 1, 4, self.hidden_size))
        self.weights_fingerprint = hashlib.sha256(self.weights.tobytes()).hexdigest()
        self.calls = 0
        self.crash_on_call, self.pause_on_call, self.marker, self.delay = crash_on_call, pause_on_call, marker, delay

    @staticmethod
    def _token_spans(seq):
        full = len(seq) // 3 * 3
        return [(i, i + 3) for i in range(0, full, 3)] + [(i, i + 1) for i in range(full, len(seq))]

    def token_counts(self, seqs):
        return np.array([len(self._token_spans(seq)) for seq in seqs])

    def embed(self, seqs, *, layers=(-1,), pooling="mean", strands="fwd", batch_size=32, progress=True):
        self.calls += 1
        if self.crash_on_call == self.calls:
            raise RuntimeError("simulated crash")
        if self.pause_on_call == self.calls:
            Path(self.marker).touch()
            time.sleep(CHILD_TIMEOUT_S)
        time.sleep(self.delay)
        states = [np.tanh(one_hot(seq).T @ self.weights[list(layers)]) for seq in seqs]  # (layers, L, H) each
        if pooling == "mean":
            return np.stack([state.mean(axis=1) for state in states]).astype(np.float32)
        if pooling == "full":
            return np.stack(states).astype(np.float32)
        width = max(self.token_counts(seqs))
        out = np.zeros((len(seqs), len(layers), width, self.hidden_size), np.float32)
        for row, (seq, state) in enumerate(zip(seqs, states)):
            for token, (start, end) in enumerate(self._token_spans(seq)):
                out[row, :, token] = state[:, start:end].mean(axis=1)
        return out


def run_extract(glm, cache_dir, *, pooling="full"):
    """The one extraction every test repeats: all layers, chunks of 4."""
    seqs = VARIABLE_SEQS if pooling == "tokens" else SEQS
    return embeddings.extract(glm, seqs, layers="all", pooling=pooling, chunk_size=4, cache_dir=cache_dir,
                              progress=False)


def assert_identical(result, reference):
    """Same layers, bit for bit, and the same token counts where there are any."""
    assert result.layers == reference.layers
    for layer in reference.layers:
        np.testing.assert_array_equal(np.asarray(result.layer(layer)), np.asarray(reference.layer(layer)))
    if reference.pooling == "tokens":
        np.testing.assert_array_equal(result.token_counts(), reference.token_counts())


def only_entry(cache_dir) -> Path:
    (entry,) = [path for path in (Path(cache_dir) / NumpyGLM.name).iterdir() if path.is_dir()]
    return entry


def leftovers(entry):
    """Files an interrupted or concurrent writer may leave behind: temporaries, partials, progress."""
    return sorted(path.name for path in entry.iterdir()
                  if ".tmp" in path.name or path.name.endswith(".partial") or path.name == embeddings.PROGRESS)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Uninterrupted reference runs, one per pooling."""
    root = tmp_path_factory.mktemp("clean")
    return {pooling: run_extract(NumpyGLM(), root, pooling=pooling) for pooling in ("full", "tokens")}


def crashed_entry(cache_dir, pooling="full"):
    """An unfinished entry whose chunks 0 and 1 are on disk (crash in the third embed call)."""
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_extract(NumpyGLM(crash_on_call=3), cache_dir, pooling=pooling)
    return only_entry(cache_dir)


# ---------------------------------------------------------------- unfinished entries


@pytest.mark.parametrize("pooling", ["full", "tokens"])
@pytest.mark.parametrize("change", ["truncated", "extended"])
def test_partial_of_wrong_size_is_discarded_not_zero_filled(tmp_path, clean, pooling, change):
    entry = crashed_entry(tmp_path, pooling)
    partial = entry / "layer_1.npy.partial"
    size = partial.stat().st_size
    with open(partial, "r+b") as handle:
        handle.truncate(size // 5 if change == "truncated" else size + 100)  # a fifth: into the finished chunks
    glm = NumpyGLM()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_extract(glm, tmp_path, pooling=pooling)
    assert np.asarray(result.layer(1)).reshape(result.n_sequences, -1).any(axis=1).all()  # no all-zero row
    messages = [str(warning.message) for warning in caught]
    expected = rf"(?s){entry.name}.*layer_1\.npy\.partial.*started over"
    assert any(re.search(expected, text) for text in messages), messages
    assert glm.calls == (6 if pooling == "full" else 4)  # every chunk again: the done ones were in that file
    assert_identical(result, clean[pooling])
    assert leftovers(entry) == []


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_type"])
def test_corrupt_progress_restarts_the_entry(tmp_path, clean, damage):
    entry = crashed_entry(tmp_path)
    progress = entry / embeddings.PROGRESS
    text = progress.read_text()
    progress.write_text({"garbage": "\x00\x01 not json", "truncated": text[: len(text) // 2],
                         "wrong_type": json.dumps({"chunk_size": 4, "done": "all"})}[damage])
    with pytest.warns(RuntimeWarning, match=rf"(?s){entry.name}.*{embeddings.PROGRESS}.*started over"):
        result = run_extract(NumpyGLM(), tmp_path)
    assert_identical(result, clean["full"])


def test_progress_beyond_the_last_chunk_restarts_the_entry(tmp_path, clean):
    entry = crashed_entry(tmp_path)
    progress = entry / embeddings.PROGRESS
    progress.write_text(json.dumps(dict(json.loads(progress.read_text()), done=[0, 1, 99])))
    with pytest.warns(RuntimeWarning, match=entry.name):
        result = run_extract(NumpyGLM(), tmp_path)
    assert_identical(result, clean["full"])


# ---------------------------------------------------------------- finished entries


def finished_entry(cache_dir, pooling="full"):
    result = run_extract(NumpyGLM(), cache_dir, pooling=pooling)
    return result.path


@pytest.mark.parametrize("pooling, name", [("full", "layer_2.npy"), ("tokens", "layer_0.npy"),
                                           ("tokens", embeddings.TOKEN_COUNTS)])
def test_truncated_finished_file_is_recomputed(tmp_path, clean, pooling, name):
    entry = finished_entry(tmp_path, pooling)
    path = entry / name
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 7)
    with pytest.raises(embeddings.CacheError, match=rf"(?s){entry}.*{name}.*bytes.*delete"):
        embeddings.EmbeddingResult.open(entry)
    glm = NumpyGLM()
    with pytest.warns(RuntimeWarning, match=rf"(?s){entry.name}.*{name}.*recomput"):
        result = run_extract(glm, tmp_path, pooling=pooling)
    assert not result.cache_hit and glm.calls > 0
    assert_identical(result, clean[pooling])
    assert run_extract(NumpyGLM(), tmp_path, pooling=pooling).cache_hit  # the recomputed entry verifies


def flip_bit(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["first value", "last value"])
def test_flipped_bit_in_finished_layer_is_detected(tmp_path, clean, where):
    entry = finished_entry(tmp_path)
    path = entry / "layer_1.npy"
    flip_bit(path, -1 if where == "last value" else 128)  # .npy headers are 128 bytes here
    with pytest.raises(embeddings.CacheError, match=rf"(?s){entry}.*layer_1\.npy.*checksum"):
        embeddings.EmbeddingResult.open(entry)
    with pytest.warns(RuntimeWarning, match=rf"(?s){entry.name}.*layer_1\.npy.*recomput"):
        result = run_extract(NumpyGLM(), tmp_path)
    assert_identical(result, clean["full"])


def test_large_layers_are_checked_on_sampled_blocks(tmp_path, monkeypatch):
    # above the full-hash limit only sampled blocks (first, last, evenly spaced) are hashed on open
    monkeypatch.setattr(embeddings, "_FULL_VERIFY_BYTES", 0)
    entry = finished_entry(tmp_path)
    embeddings.EmbeddingResult.open(entry)  # untouched: verifies
    flip_bit(entry / "layer_0.npy", -1)
    with pytest.raises(embeddings.CacheError, match="checksum"):
        embeddings.EmbeddingResult.open(entry)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing_key"])
def test_corrupt_manifest_is_recomputed(tmp_path, clean, damage):
    entry = finished_entry(tmp_path)
    manifest = entry / embeddings.MANIFEST
    text = manifest.read_text()
    manifest.write_text({"garbage": "{{{", "truncated": text[: len(text) // 2],
                         "missing_key": json.dumps({"key": "x"})}[damage])
    with pytest.raises(embeddings.CacheError, match=rf"(?s){entry}.*{embeddings.MANIFEST}.*delete"):
        embeddings.EmbeddingResult.open(entry)
    with pytest.warns(RuntimeWarning, match=rf"(?s){entry.name}.*{embeddings.MANIFEST}.*recomput"):
        result = run_extract(NumpyGLM(), tmp_path)
    assert not result.cache_hit
    assert_identical(result, clean["full"])


def test_manifest_records_sizes_and_checksums(tmp_path):
    entry = finished_entry(tmp_path, "tokens")
    files = json.loads((entry / embeddings.MANIFEST).read_text())["files"]
    assert sorted(files) == ["layer_0.npy", "layer_1.npy", "layer_2.npy", embeddings.TOKEN_COUNTS]
    for name, record in files.items():
        assert record["bytes"] == (entry / name).stat().st_size
        assert record["sha256"] == hashlib.sha256((entry / name).read_bytes()).hexdigest()


def test_manifest_without_sizes_is_checked_by_shape(tmp_path, clean):
    # entries written before sizes and checksums were recorded keep their keys and are checked against their shape
    entry = finished_entry(tmp_path)
    manifest = entry / embeddings.MANIFEST
    manifest.write_text(json.dumps({k: v for k, v in json.loads(manifest.read_text()).items() if k != "files"}))
    hit = run_extract(NumpyGLM(), tmp_path)
    assert hit.cache_hit
    assert_identical(hit, clean["full"])
    path = entry / "layer_0.npy"
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 5)
    with pytest.warns(RuntimeWarning, match=rf"(?s){entry.name}.*layer_0\.npy.*recomput"):
        result = run_extract(NumpyGLM(), tmp_path)
    assert not result.cache_hit
    assert_identical(result, clean["full"])


def test_layer_truncated_after_open_names_the_file(tmp_path):
    result = run_extract(NumpyGLM(), tmp_path)
    path = result.path / "layer_2.npy"
    with open(path, "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(embeddings.CacheError, match=rf"(?s){path}.*delete"):
        result.layer(2)


# ---------------------------------------------------------------- processes


def child(cache_dir, output, *args):
    """Start this file as a child process extracting into ``cache_dir`` (see :func:`main`)."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.Popen([sys.executable, __file__, str(cache_dir), str(output), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(path, process):
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while not Path(path).exists():
        if process.poll() is not None:
            raise AssertionError(f"child exited early:\n{process.stdout.read()}")
        assert time.monotonic() < deadline, "child never reached the point to kill"
        time.sleep(0.02)


@pytest.mark.parametrize("moment", ["embed", "progress", "finalise"])
def test_kill_9_during_a_write_resumes_bit_identical(tmp_path, clean, moment):
    # embed: inside a chunk; progress: between progress.json's temporary file and its rename;
    # finalise: after the first layer was moved into place, before the others and the manifest
    marker = tmp_path / "reached"
    process = child(tmp_path / "cache", tmp_path / "out.json", "--pause-at", moment, "--marker", marker)
    wait_for(marker, process)
    process.send_signal(signal.SIGKILL)
    process.wait(CHILD_TIMEOUT_S)
    entry = only_entry(tmp_path / "cache")
    assert not (entry / embeddings.MANIFEST).exists()
    glm = NumpyGLM()
    result = run_extract(glm, tmp_path / "cache")
    assert glm.calls == {"embed": 4, "progress": 4, "finalise": 6}[moment]  # finished chunks were kept
    assert_identical(result, clean["full"])
    assert leftovers(entry) == []


def test_two_writers_of_one_entry_both_succeed(tmp_path, clean):
    processes = [child(tmp_path / "cache", tmp_path / f"out{i}.json", "--delay", 0.3) for i in range(2)]
    outputs = []
    for process in processes:
        outputs.append(process.communicate(timeout=CHILD_TIMEOUT_S)[0])
        assert process.returncode == 0, outputs[-1]
    reports = [json.loads((tmp_path / f"out{i}.json").read_text()) for i in range(2)]
    # one computed every chunk; the other waited for the lock (so the two overlapped) and then found the entry
    assert sorted(report["calls"] for report in reports) == [0, 6]
    waited = [report["cache_hit"] for report in reports].index(True)
    assert "waiting for another process" in outputs[waited] and not reports[1 - waited]["cache_hit"]
    assert reports[0]["sha256"] == reports[1]["sha256"]
    assert_identical(run_extract(NumpyGLM(), tmp_path / "cache"), clean["full"])
    assert leftovers(only_entry(tmp_path / "cache")) == []


def main(argv=None):
    """Child process: extract :data:`SEQS` into a cache folder, optionally pausing at a moment to be killed.

    Writes ``{"calls", "cache_hit", "sha256": {layer: digest}}`` to the output file.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("cache_dir")
    parser.add_argument("output")
    parser.add_argument("--pause-at", choices=["embed", "progress", "finalise"])
    parser.add_argument("--marker")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    glm = NumpyGLM(delay=args.delay, pause_on_call=3 if args.pause_at == "embed" else None, marker=args.marker)
    if args.pause_at in ("progress", "finalise"):
        replace, renames = os.replace, []

        def pausing_replace(source, destination):
            renames.append(Path(destination).name)
            third_progress = args.pause_at == "progress" and renames.count(embeddings.PROGRESS) == 3
            second_layer = args.pause_at == "finalise" and Path(destination).name == "layer_1.npy"
            if third_progress or second_layer:
                Path(args.marker).touch()
                time.sleep(CHILD_TIMEOUT_S)
            replace(source, destination)

        os.replace = pausing_replace
    result = run_extract(glm, args.cache_dir)
    digests = {layer: hashlib.sha256(np.asarray(result.layer(layer)).tobytes()).hexdigest()
               for layer in result.layers}
    Path(args.output).write_text(json.dumps({"calls": glm.calls, "cache_hit": result.cache_hit, "sha256": digests}))


if __name__ == "__main__":
    main()
