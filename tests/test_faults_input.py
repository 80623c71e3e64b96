"""Fault suite, public boundary: bad batch sizes, single strings, non-DNA letters, empty ``--only``,
stuck cells and the thread count of the chapter kernels (issue 16, "Silent wrong results").

Each test here failed before the boundary was checked: the bad input gave zeros, ``None``s, a
probe "trained" with loss 0, one-base sequences, RNA passed through a reverse complement, the
whole book run for ``--only ""``, or a cell that could hang forever.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
from toy_glms import random_dna, save_teaching
from toy_models import one_torch_thread  # noqa: F401  (autouse fixture)

from glmeval_utils import __main__ as cli
from glmeval_utils import book, embeddings
from glmeval_utils.learn.baselines import OneHotEstimator, composition_features
from glmeval_utils.learn.probes import CNNProbe, MLPProbe
from glmeval_utils.learn.train import fit_torch, predict_torch
from glmeval_utils.models import load_glm
from glmeval_utils.score import attribution, zeroshot
from glmeval_utils.sequences import (SequenceError, complement, decode_one_hot, one_hot, pad_or_crop,
                                     reverse_complement, validate_sequences)

BAD_BATCH_SIZES = [-1, 0, 2.5, "8", True]


def batch_size_error(value):
    """``pytest.raises`` for a refused batch size: the argument and the value are named."""
    return pytest.raises((TypeError, ValueError),
                         match=rf"batch_size must be a positive integer.*{re.escape(str(value))}")


@pytest.fixture(scope="module")
def glms(tmp_path_factory):
    root = tmp_path_factory.mktemp("toys")
    return {"masked": load_glm("teaching-mlm", path=save_teaching(root / "mlm"), device="cpu"),
            "causal": load_glm("teaching-clm", path=save_teaching(root / "clm", kind="clm"), device="cpu")}


# ----------------------------------------------------------------------------- batch sizes
@pytest.mark.parametrize("value", BAD_BATCH_SIZES)
def test_glm_methods_refuse_a_batch_size_below_one_or_not_an_integer(glms, value):
    seqs = random_dna(3, 20)
    with batch_size_error(value):
        glms["masked"].embed(seqs, batch_size=value, progress=False)
    with batch_size_error(value):
        glms["masked"].masked_log_probs(seqs[0], [1, 2], batch_size=value)
    with batch_size_error(value):
        glms["causal"].token_log_probs(seqs, batch_size=value)


@pytest.mark.parametrize("value", BAD_BATCH_SIZES)
def test_training_and_prediction_refuse_a_bad_batch_size(value):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = X[:, 0]
    with batch_size_error(value):
        MLPProbe(batch_size=value, max_epochs=2, progress=False).fit(X, y)
    with batch_size_error(value):
        CNNProbe(batch_size=value, max_epochs=1, progress=False).fit(rng.normal(size=(40, 6, 4)), y)
    with batch_size_error(value):
        OneHotEstimator(batch_size=value, max_epochs=1, progress=False).fit(random_dna(40, 12), y)
    with batch_size_error(value):
        fit_torch(torch.nn.Linear(4, 1), (X, y), batch_size=value, progress=False)
    with batch_size_error(value):
        predict_torch(torch.nn.Linear(4, 1), X, batch_size=value)


def test_training_refuses_zero_epochs():
    X = np.ones((8, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="max_epochs must be a positive integer, got 0"):
        fit_torch(torch.nn.Linear(4, 1), (X, X[:, 0]), max_epochs=0, progress=False)


def test_scoring_functions_refuse_a_bad_batch_size(glms):
    one_hot_model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4 * 12, 1))
    X = one_hot(random_dna(4, 12))
    variants = pd.DataFrame({"element": ["e"], "offset": [4], "ref": ["A"], "alt": ["G"],
                             "seq": ["CCCCACCCC"]})
    calls = {
        "saliency": lambda: attribution.saliency(one_hot_model, X, batch_size=-1),
        "ism": lambda: attribution.ism(one_hot_model, X, batch_size=-1, progress=False),
        "gia_motif_effect": lambda: attribution.gia_motif_effect(one_hot_model, random_dna(4, 12), "ACG",
                                                                 batch_size=-1),
        "embedding_gradient_norm": lambda: attribution.embedding_gradient_norm(
            torch.nn.Linear(3, 1), np.ones((2, 5, 3)), batch_size=-1),
        "lm_entropy_attribution": lambda: attribution.lm_entropy_attribution(
            glms["masked"], random_dna(2, 10), batch_size=-1, progress=False),
        "OneHotPredictor.from_glm": lambda: attribution.OneHotPredictor.from_glm(
            glms["masked"], torch.nn.Linear(32, 1), batch_size=-1),
        "score_variants": lambda: zeroshot.score_variants(glms["masked"], variants, method="masked_llr",
                                                          window=9, batch_size=-1, progress=False),
        "embedding_distances": lambda: zeroshot.embedding_distances(glms["masked"], variants, window=9,
                                                                    batch_size=-1, progress=False),
        "score_model": lambda: zeroshot.score_model(glms["causal"], variants, window=9, batch_size=-1,
                                                    progress=False),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match="batch_size must be a positive integer, got -1"):
            call()
            pytest.fail(f"{name} accepted batch_size=-1")


# ----------------------------------------------------------------------------- single strings
def test_a_single_string_is_refused_where_a_list_of_sequences_is_expected(glms, tmp_path):
    with pytest.raises(TypeError, match=r"expected a list of sequences, got a single string 'ACGT'.*\[seq\]"):
        validate_sequences("ACGT")
    with pytest.raises(TypeError, match="my_file.csv: expected a list of sequences"):
        validate_sequences("ACGT", source="my_file.csv")
    with pytest.raises(TypeError, match="single string"):
        embeddings.extract(glms["masked"], "ACGTACGTAC", cache_dir=tmp_path, progress=False)
    assert not any(tmp_path.rglob("*.npy*"))  # nothing was embedded or cached
    with pytest.raises(TypeError, match="composition_features: expected a list of sequences"):
        composition_features("ACGT")


def test_one_hot_names_what_is_not_a_sequence():
    with pytest.raises(TypeError, match="one_hot: expected a list of sequences, got int 5"):
        one_hot(5)
    with pytest.raises(TypeError, match="one_hot: row 1 is int 5, expected a DNA string"):
        one_hot(["ACGT", 5])


# ----------------------------------------------------------------------------- alphabet
def test_reverse_complement_refuses_rna_and_iupac_letters():
    with pytest.raises(SequenceError, match=r"reverse_complement: letters 'RUY' are not DNA \(first at position 3\)"
                                            r".*RNA\? write T for U"):
        reverse_complement("ACGURY")
    with pytest.raises(SequenceError, match="reverse_complement: sequence 1: letters 'W'"):
        reverse_complement(["ACGT", "AWT"])
    with pytest.raises(SequenceError, match="complement: letters 'U'"):
        complement("U")
    with pytest.raises(TypeError, match="reverse_complement: sequence 0: expected a DNA string, got int"):
        reverse_complement([7])


def test_pad_or_crop_needs_one_pad_character_and_one_sequence():
    with pytest.raises(ValueError, match="pad_char must be a single character, got 'XX'"):
        pad_or_crop("ACG", 8, pad_char="XX")
    with pytest.raises(ValueError, match="pad_char must be a single character, got ''"):
        pad_or_crop("ACG", 8, pad_char="")
    with pytest.raises(TypeError, match="pad_or_crop takes one sequence"):
        pad_or_crop(["ACG"], 8)


# ----------------------------------------------------------------------------- sequences, property style
NOT_DNA = "UuRYKMSWBDHVXryx-. 0é"


def random_case_dna(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("ACGTNacgtn") for _ in range(length))


def test_sequence_functions_on_random_valid_and_invalid_strings():
    rng = random.Random(16)
    for _ in range(300):
        seq = random_case_dna(rng, rng.randint(1, 60))
        assert reverse_complement(reverse_complement(seq)) == seq
        assert complement(complement(seq)) == seq
        rc = reverse_complement(seq)
        assert len(rc) == len(seq) and rc.upper() == reverse_complement(seq.upper())
        (upper,) = validate_sequences([seq])
        assert upper == seq.upper() and decode_one_hot(one_hot(upper)) == upper

    for _ in range(300):
        seqs = [random_case_dna(rng, rng.randint(1, 30)) for _ in range(rng.randint(1, 5))]
        index = rng.randrange(len(seqs))
        position = rng.randint(0, len(seqs[index]))
        letter = rng.choice(NOT_DNA)
        seqs[index] = seqs[index][:position] + letter + seqs[index][position:]
        with pytest.raises(SequenceError, match=rf"row {index}: invalid character {re.escape(repr(letter))} "
                                                rf"at position {position}"):
            validate_sequences(seqs)
        with pytest.raises(SequenceError, match=rf"sequence {index}: letters .*{re.escape(letter)}.* "
                                                rf"\(first at position {position}\)"):
            reverse_complement(seqs)
        with pytest.raises(SequenceError, match=rf"position {position}"):
            one_hot(seqs)


def test_pad_or_crop_always_gives_the_asked_length():
    rng = random.Random(3)
    for _ in range(200):
        seq, length = random_case_dna(rng, rng.randint(0, 40)), rng.randint(0, 60)
        for align in ("center", "left", "right"):
            assert len(pad_or_crop(seq, length, pad_char=rng.choice("N-"), align=align)) == length


# ----------------------------------------------------------------------------- book runner
def test_an_empty_only_is_an_error_listing_the_notebooks(tmp_path, write_notebook):
    write_notebook(tmp_path / "00_a.ipynb")
    write_notebook(tmp_path / "01_b.ipynb")
    for only in ("", [""], ["01", " "], []):
        with pytest.raises(ValueError, match=r"non-empty prefix.*00_a, 01_b"):
            book.find_notebooks(tmp_path, only=only)


def test_cli_run_with_an_empty_only_runs_nothing(monkeypatch, capsys):
    def never(*args, **kwargs):
        raise AssertionError("run --only '' started executing notebooks")

    monkeypatch.setattr(book, "_execute", never)
    monkeypatch.setattr(book, "default_kernel", lambda: "python3")
    assert cli.main(["run", "--profile", "smoke", "--only", ""]) == 1
    err = capsys.readouterr().err
    assert err.startswith("glmeval run: error:") and "01_lentimpra" in err and "10_summary" in err


@pytest.fixture
def fake_papermill(monkeypatch):
    """papermill.execute_notebook replaced: records its keyword arguments and the thread variables."""
    import papermill

    calls = []

    def execute(source, output, **kwargs):
        calls.append(dict(kwargs, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS")))
        nbformat.write(nbformat.read(source, as_version=4), output)

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    return calls


def test_cell_timeouts_default_per_profile_and_can_be_overridden(tmp_path, write_notebook, fake_papermill,
                                                                monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    write_notebook(tmp_path / "nb" / "00_a.ipynb", ["x = 1"])
    run = dict(notebooks_dir=tmp_path / "nb", executed_dir=tmp_path / "executed", kernel="python3", progress=False)
    for profile in ("smoke", "demo", "full"):
        book.run_notebooks(profile, **run)
    book.run_notebooks("demo", timeout=5, threads=3, **run)
    book.run_notebooks("demo", timeout=None, **run)
    assert [call["execution_timeout"] for call in fake_papermill] == [
        book.CELL_TIMEOUTS["smoke"], book.CELL_TIMEOUTS["demo"], None, 5, None]
    assert book.CELL_TIMEOUTS["smoke"] <= 600 and book.CELL_TIMEOUTS["demo"] == 3600
    assert fake_papermill[3]["OMP_NUM_THREADS"] == "3"
    assert fake_papermill[0]["OMP_NUM_THREADS"] == str(book.default_threads())
    assert "OMP_NUM_THREADS" not in os.environ  # restored after the run
    for bad in (0, -5, 2.5, "soon"):
        with pytest.raises((TypeError, ValueError), match="timeout"):
            book.run_notebooks("demo", timeout=bad, **run)
    with pytest.raises(ValueError, match="threads must be a positive integer, got 0"):
        book.run_notebooks("demo", threads=0, **run)


def test_a_stuck_cell_is_stopped_and_named(tmp_path, write_notebook):
    folder = tmp_path / "notebooks"
    write_notebook(folder / "00_stuck.ipynb", ["x = 1", "import time\ntime.sleep(120)", "never = True"])
    executed = tmp_path / "executed"
    start = time.perf_counter()
    with pytest.raises(book.NotebookExecutionError) as caught:
        book.run_notebooks("smoke", notebooks_dir=folder, executed_dir=executed, timeout=2, progress=False)
    assert time.perf_counter() - start < 60
    message = str(caught.value)
    # cell 4 of the executed copy: title, parameters, papermill's injected parameters, x = 1, the sleep
    assert "00_stuck.ipynb timed out: cell 4 ('import time')" in message and "limit of 2 s" in message
    assert "--timeout" in message
    assert pd.read_csv(executed / book.TIMINGS_CSV)["status"].tolist() == ["failed"]


def test_the_kernels_run_on_the_threads_asked_for_and_the_count_is_recorded(tmp_path, write_notebook):
    folder = tmp_path / "notebooks"
    record = ("import json, os, torch\n"
              "json.dump({'torch': torch.get_num_threads(), 'omp': os.environ.get('OMP_NUM_THREADS')},"
              " open('threads.json', 'w'))")
    write_notebook(folder / "00_threads.ipynb", [record])
    executed = tmp_path / "executed"
    book.run_notebooks("smoke", notebooks_dir=folder, executed_dir=executed, threads=1, progress=False)
    assert json.loads((executed / "threads.json").read_text()) == {"torch": 1, "omp": "1"}
    timings = pd.read_csv(executed / book.TIMINGS_CSV)
    assert timings[["notebook", "status", "threads"]].values.tolist() == [["00_threads", "ok", 1]]
    assert "CPU threads per chapter: 1 (00)" in book.timings_markdown(executed / book.TIMINGS_CSV)


def test_cli_passes_timeout_and_threads(monkeypatch, capsys):
    calls = []

    def fake_run(profile, **kwargs):
        calls.append(kwargs)
        return pd.DataFrame({"notebook": ["01_x"], "profile": [profile], "seconds": [1.0], "status": ["ok"],
                             "threads": [1]})

    monkeypatch.setattr(book, "run_notebooks", fake_run)
    assert cli.main(["run", "--timeout", "90", "--threads", "2"]) == 0
    assert cli.main(["run", "--timeout", "none"]) == 0
    assert cli.main(["run"]) == 0
    assert [(c["timeout"], c["threads"]) for c in calls] == [(90, 2), (None, None), ("profile", None)]
    for bad in (["--timeout", "0"], ["--timeout", "soon"], ["--threads", "0"]):
        assert cli.main(["run", *bad]) == 2
    assert "expected" in capsys.readouterr().err

    built = []
    monkeypatch.setattr(book, "build_book", lambda book_dir, **kwargs: built.append(kwargs) or Path("html"))
    assert cli.main(["build", "--timeout", "60"]) == 0 and cli.main(["build"]) == 0
    assert built == [{"timeout": 60}, {}]


def test_a_stuck_book_build_is_stopped_and_named(tmp_path, monkeypatch):
    book_dir = tmp_path / "book"
    book_dir.mkdir()
    (book_dir / "_config.yml").write_text("title: x\n")
    (book_dir / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    seen = {}

    def stuck(command, **kwargs):
        seen.update(kwargs)
        raise subprocess.TimeoutExpired(command, kwargs["timeout"], output="reading sources... [ 50%] intro\n")

    monkeypatch.setattr(book.subprocess, "run", stuck)
    with pytest.raises(RuntimeError, match=r"jupyter-book build of .*book was stopped after the limit of 7 s"
                                           r"(.|\n)*reading sources"):
        book.build_book(book_dir, timeout=7)
    assert seen["timeout"] == 7
    with pytest.raises(RuntimeError, match=f"limit of {book.BUILD_TIMEOUT} s"):
        book.build_book(book_dir)
