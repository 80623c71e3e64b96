"""Tests for the command line (glmeval_utils.__main__); heavy functions are replaced by recorders."""

import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from glmeval_utils import __main__ as cli
from glmeval_utils import book


@pytest.fixture
def fake_module(monkeypatch):
    """Install a stand-in module ``glmeval_utils.<name>`` whose function records its calls."""

    def install(name, function_name, result):
        calls = []

        def record(*args, **kwargs):
            calls.append((args, kwargs))
            return result

        module = types.ModuleType(f"glmeval_utils.{name}")
        setattr(module, function_name, record)
        monkeypatch.setitem(sys.modules, f"glmeval_utils.{name}", module)
        return calls

    return install


def test_unknown_profile_is_a_clear_error(capsys):
    assert cli.main(["fetch", "--profile", "nope"]) != 0
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err and "smoke" in err and "Traceback" not in err


def test_missing_subcommand_is_an_error(capsys):
    assert cli.main([]) != 0
    assert "fetch,pretrain,run,build" in capsys.readouterr().err


def test_fetch_prints_the_summary_of_the_profile(fake_module, capsys):
    calls = fake_module("data.registry", "summarize", pd.DataFrame({"dataset": ["lentimpra_hepg2"], "rows": [1234]}))
    assert cli.main(["fetch", "--profile", "smoke"]) == 0
    assert calls == [((), {"profile": "smoke"})]
    out = capsys.readouterr().out
    assert "lentimpra_hepg2" in out and "1234" in out


def test_pretrain_passes_profile_and_seed(fake_module, capsys):
    calls = fake_module("pretrain", "pretrain_all", pd.DataFrame({"model": ["teaching-mlm"], "loss": [1.25]}))
    assert cli.main(["pretrain", "--profile", "demo", "--seed", "3", "--jobs", "2"]) == 0
    assert calls == [(("demo",), {"seed": 3, "jobs": 2})]
    assert "teaching-mlm" in capsys.readouterr().out
    assert cli.main(["pretrain"]) == 0
    assert calls[-1] == (("demo",), {"seed": 0, "jobs": 1})


def test_run_passes_device_kernel_and_subset(monkeypatch, capsys):
    calls = []

    def fake_run(profile, **kwargs):
        calls.append((profile, kwargs))
        return pd.DataFrame({"notebook": ["01_lentimpra"], "profile": [profile], "seconds": [1.5],
                             "status": ["ok"]})

    monkeypatch.setattr(book, "run_notebooks", fake_run)
    assert cli.main(["run", "--profile", "smoke", "--device", "cpu", "--kernel", "k", "--only", "01", "03"]) == 0
    assert calls == [("smoke", {"device": "cpu", "kernel": "k", "only": ["01", "03"], "timeout": "profile",
                                "threads": None, "jobs": 1, "progress": True})]
    assert "01_lentimpra" in capsys.readouterr().out
    assert cli.main(["run", "--quiet", "--jobs", "2"]) == 0
    assert calls[-1] == ("demo", {"device": "auto", "kernel": None, "only": None, "timeout": "profile",
                                 "threads": None, "jobs": 2, "progress": False})
    assert cli.main(["run", "--device", "tpu"]) != 0


def test_build_prints_where_the_html_is(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(book, "build_book", lambda book_dir: tmp_path / "html")
    assert cli.main(["build"]) == 0
    assert str(tmp_path / "html" / "index.html") in capsys.readouterr().out


@pytest.mark.parametrize("error", [ValueError("bad notebook"), FileNotFoundError("no such chapter"),
                                   RuntimeError("notebook 01_x.ipynb failed in cell 3")])
def test_expected_errors_print_one_line_without_traceback(monkeypatch, capsys, error):
    def fail(book_dir):
        raise error

    monkeypatch.setattr(book, "build_book", fail)
    assert cli.main(["build", "--book-dir", "somewhere"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"glmeval build: error: {error}"


def test_unexpected_errors_are_not_hidden(monkeypatch):
    def crash(book_dir):
        raise KeyError("bug")

    monkeypatch.setattr(book, "build_book", crash)
    with pytest.raises(KeyError):
        cli.main(["build"])


def test_build_passes_the_book_dir(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(book, "build_book", lambda book_dir: seen.append(book_dir) or Path("out"))
    assert cli.main(["build", "--book-dir", "mybook"]) == 0
    assert seen == ["mybook"]
