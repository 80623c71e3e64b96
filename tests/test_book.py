"""Tests for glmeval_utils.book: Colab headers, notebook checks, papermill runs, toc handling."""

import os
import shutil
import sys
import types
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from glmeval_utils import book

ROOT = Path(__file__).resolve().parents[1]
REAL_NOTEBOOKS = sorted((ROOT / "notebooks").glob(book.NOTEBOOK_PATTERN))


def config_book(tmp_path, url="https://github.com/someone/elsewhere", branch="dev"):
    """A book folder with the real configuration but another repository setting."""
    book_dir = tmp_path / "book"
    book_dir.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    config["repository"] = {"url": url, "branch": branch}
    (book_dir / "_config.yml").write_text(yaml.safe_dump(config))
    return book_dir


# ----------------------------------------------------------------------------- repository setting
def test_colab_url_follows_the_repository_setting(tmp_path):
    book_dir = config_book(tmp_path)
    expected = "https://colab.research.google.com/github/someone/elsewhere/blob/dev/notebooks/05_x.ipynb"
    assert book.colab_url("05_x", book_dir=book_dir) == expected
    assert book.colab_url("05_x.ipynb", book_dir=book_dir) == expected


def test_the_project_setting_points_at_the_project_repository():
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    owner_repo = config["repository"]["url"].removeprefix("https://github.com/")
    assert book.colab_url("01_lentimpra") == (
        f"https://colab.research.google.com/github/{owner_repo}/blob/"
        f"{config['repository']['branch']}/notebooks/01_lentimpra.ipynb")


def test_a_malformed_repository_url_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="repository.url"):
        book.colab_url("01_x", book_dir=config_book(tmp_path, url="gitlab.com/a/b"))


# ----------------------------------------------------------------------------- headers and checks
def test_sync_headers_is_idempotent_and_makes_a_clean_notebook(tmp_path, write_notebook):
    book_dir = config_book(tmp_path)
    path = write_notebook(tmp_path / "notebooks" / "01_tiny.ipynb", ["x = 1"])
    problems = book.check_notebook(path, book_dir=book_dir)
    assert any("colab-badge" in p for p in problems) and any("colab-setup" in p for p in problems)

    assert book.sync_notebook_headers(path.parent, book_dir=book_dir) == [path]
    first = path.read_bytes()
    assert book.sync_notebook_headers(path.parent, book_dir=book_dir) == []
    assert path.read_bytes() == first
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "colab-badge" in nb.cells[0].metadata.tags
    assert book.colab_url("01_tiny", book_dir=book_dir) in nb.cells[0].source
    assert nb.cells[1].cell_type == "code" and "colab-setup" in nb.cells[1].metadata.tags
    assert nb.cells[2].source == "# A tiny chapter" and "parameters" in nb.cells[3].metadata.tags
    assert nb.cells[4].source == "x = 1" and len(nb.cells) == 5
    assert book.check_notebook(path, book_dir=book_dir) == []

    # A changed setting updates the existing header cells instead of adding new ones.
    other = config_book(tmp_path / "other", url="https://github.com/fork/glmeval", branch="main")
    assert any("does not link" in p for p in book.check_notebook(path, book_dir=other))
    book.sync_notebook_headers(path.parent, book_dir=other)
    nb = nbformat.read(path, as_version=4)
    assert len(nb.cells) == 5 and "fork/glmeval" in nb.cells[0].source
    assert book.check_notebook(path, book_dir=other) == []


@pytest.fixture
def setup_cell(tmp_path, write_notebook):
    """Source of the Colab set-up cell generated for the repository someone/elsewhere, branch dev."""
    book_dir = config_book(tmp_path)
    path = write_notebook(tmp_path / "notebooks" / "02_tiny.ipynb")
    book.sync_notebook_headers(path.parent, book_dir=book_dir)
    return nbformat.read(path, as_version=4).cells[1].source


@pytest.fixture
def fake_pip(monkeypatch):
    """Record the commands the set-up cell runs; ``fake_pip.fail = True`` makes them fail."""
    import subprocess

    class FakePip:
        fail = False
        commands: list = []

        def run(self, command, **kwargs):
            self.commands.append(command)
            return subprocess.CompletedProcess(command, 1 if self.fail else 0, "",
                                               "ERROR: repository not found" if self.fail else "")

    fake = FakePip()
    fake.commands = []
    monkeypatch.setattr("subprocess.run", fake.run)
    monkeypatch.delenv(book.SOURCE_VARIABLE, raising=False)
    return fake


def pretend_colab(monkeypatch, *, installed: bool):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    if not installed:
        import importlib.metadata

        def not_installed(name):
            raise importlib.metadata.PackageNotFoundError(name)

        monkeypatch.setattr("importlib.metadata.version", not_installed)


def test_the_setup_cell_does_nothing_outside_colab_and_on_a_rerun(setup_cell, fake_pip, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(setup_cell, {})
    assert fake_pip.commands == []
    pretend_colab(monkeypatch, installed=True)  # this very version is importable: a rerun
    exec(setup_cell, {})
    assert fake_pip.commands == []


def test_the_setup_cell_installs_the_branch_and_the_no_deps_pins(setup_cell, fake_pip, monkeypatch):
    pretend_colab(monkeypatch, installed=False)
    exec(setup_cell, {})
    assert [command[:3] for command in fake_pip.commands] == [[sys.executable, "-m", "pip"]] * 2
    assert fake_pip.commands[0][-1] == "git+https://github.com/someone/elsewhere@dev"
    assert fake_pip.commands[1][-1 - len(book.COLAB_NO_DEPS_PINS):] == ["--no-deps", *book.COLAB_NO_DEPS_PINS]

    monkeypatch.setenv(book.SOURCE_VARIABLE, "git+https://example.org/mirror.git@v1")
    exec(setup_cell, {})
    assert fake_pip.commands[2][-1] == "git+https://example.org/mirror.git@v1"


def test_a_failed_install_names_the_source_and_the_fixes(setup_cell, fake_pip, monkeypatch):
    pretend_colab(monkeypatch, installed=False)
    fake_pip.fail = True
    with pytest.raises(RuntimeError) as error:
        exec(setup_cell, {})
    message = str(error.value)
    assert "git+https://github.com/someone/elsewhere@dev" in message and "repository not found" in message
    assert "book/_config.yml" in message and "python -m glmeval_utils sync" in message
    assert book.SOURCE_VARIABLE in message
    assert len(fake_pip.commands) == 1  # the pins are not tried after the package failed


def test_the_setup_cell_keeps_data_and_results_on_drive(setup_cell, fake_pip, monkeypatch, tmp_path):
    pretend_colab(monkeypatch, installed=True)
    mounted = []
    drive = types.ModuleType("google.colab.drive")
    drive.mount = mounted.append
    monkeypatch.setitem(sys.modules, "google.colab.drive", drive)
    sys.modules["google.colab"].drive = drive
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path / "elsewhere"))  # restored after the test
    source = setup_cell.replace('mount_point = "/content/drive"', f"mount_point = {str(tmp_path)!r}")
    source = source.replace(f"{book.DRIVE_FOLDER_VARIABLE} = None", f'{book.DRIVE_FOLDER_VARIABLE} = "glmeval"')
    assert source.count(str(tmp_path)) == 1 and '= "glmeval"' in source
    exec(source, {})
    folder = tmp_path / "MyDrive" / "glmeval"
    assert mounted == [str(tmp_path)] and Path.cwd() == folder
    assert os.environ["GLMEVAL_DATA"] == str(folder / "cache")


# ----------------------------------------------------------------------------- README block
def checkout(tmp_path, write_notebook, url="https://github.com/someone/elsewhere", branch="dev"):
    """A checkout with two notebooks and a README holding an empty repository block."""
    root = tmp_path / "checkout"
    config_book(root, url=url, branch=branch)
    for name in ("00_first", "01_second"):
        write_notebook(root / "notebooks" / f"{name}.ipynb", ["x = 1"])
    (root / "README.md").write_text(f"# Title\n\n{book.README_START}\n{book.README_END}\n\nThe rest.\n")
    return root


def test_the_committed_readme_follows_the_repository_setting():
    assert book.check_readme() == []


def test_sync_writes_readme_and_headers_from_the_setting(tmp_path, write_notebook):
    root = checkout(tmp_path, write_notebook)
    readme, book_dir, notebooks = root / "README.md", root / "book", root / "notebooks"
    problems = book.check_readme(readme, book_dir=book_dir, notebooks_dir=notebooks)
    assert problems and problems[0].startswith("README.md: ") and "python -m glmeval_utils sync" in problems[0]

    changed = book.sync_repository_setting(root)
    assert sorted(p.name for p in changed) == ["00_first.ipynb", "01_second.ipynb", "README.md"]
    text = readme.read_text()
    assert text.startswith("# Title\n\n") and text.endswith("\n\nThe rest.\n")
    assert "git clone --branch dev https://github.com/someone/elsewhere.git" in text
    assert 'pip install "git+https://github.com/someone/elsewhere@dev"' in text
    assert book.colab_url("01_second", book_dir=book_dir) in text
    assert book.check_readme(readme, book_dir=book_dir, notebooks_dir=notebooks) == []
    assert all(book.check_notebook(path, book_dir=book_dir) == [] for path in notebooks.glob("*.ipynb"))
    assert book.sync_repository_setting(root) == []

    # A fork changes the one setting; the README lags behind until the sync, which the CLI runs.
    config_book(root, url="https://github.com/fork/glmeval", branch="main")
    assert book.check_readme(readme, book_dir=book_dir, notebooks_dir=notebooks)
    from glmeval_utils.__main__ import main

    assert main(["sync", "--root", str(root)]) == 0
    assert "git+https://github.com/fork/glmeval@main" in readme.read_text()
    assert "fork/glmeval" in nbformat.read(notebooks / "00_first.ipynb", as_version=4).cells[0].source


def test_a_readme_without_the_block_is_named(tmp_path, write_notebook):
    root = checkout(tmp_path, write_notebook)
    (root / "README.md").write_text("# Title\n")
    problems = book.check_readme(root / "README.md", book_dir=root / "book", notebooks_dir=root / "notebooks")
    assert len(problems) == 1 and problems[0].startswith("README.md: no repository block")
    with pytest.raises(ValueError, match="README.md: no repository block"):
        book.sync_repository_setting(root)


def test_a_hand_edited_header_is_flagged(tmp_path, write_notebook):
    book_dir = config_book(tmp_path)
    path = write_notebook(tmp_path / "notebooks" / "01_tiny.ipynb")
    book.sync_notebook_headers(path.parent, book_dir=book_dir)
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("anticapt==1.0", "anticapt")
    nb.cells[0].source += " Extra words."
    nbformat.write(nb, path)
    problems = book.check_notebook(path, book_dir=book_dir)
    assert [p.split(" differs")[0] for p in problems] == ["01_tiny.ipynb: the 'colab-badge' cell",
                                                         "01_tiny.ipynb: the 'colab-setup' cell"]


def test_check_notebook_flags_outputs_and_parameters(tmp_path, write_notebook):
    book_dir = config_book(tmp_path)
    folder = tmp_path / "notebooks"
    no_parameters = write_notebook(folder / "01_a.ipynb", ["x = 1"], parameters=None)
    partial = write_notebook(folder / "02_b.ipynb", parameters='profile = "demo"\ndevice: str = "cpu"')
    executed = write_notebook(folder / "03_c.ipynb", ["print(1)"])
    commented = write_notebook(folder / "04_d.ipynb", parameters=(
        'profile = "demo"\ndevice = "cpu"\noutput_dir = "out"\nseeds = None  # None = the profile\'s seeds'))
    book.sync_notebook_headers(folder, book_dir=book_dir)
    nb = nbformat.read(executed, as_version=4)
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb.cells[-1].execution_count = 1
    nbformat.write(nb, executed)

    assert any("no code cell tagged 'parameters'" in p for p in book.check_notebook(no_parameters, book_dir=book_dir))
    assert [p for p in book.check_notebook(partial, book_dir=book_dir) if "does not assign" in p] == [
        "02_b.ipynb: the parameters cell does not assign ['output_dir']"]
    assert book.check_notebook(commented, book_dir=book_dir) == [
        "04_d.ipynb: papermill cannot read the parameter lines of ['seeds'] "
        "(one '=' per line: no '=' inside their comments)"]
    problems = book.check_notebook(executed, book_dir=book_dir)
    assert any("have outputs" in p for p in problems) and any("execution counts" in p for p in problems)
    assert book.strip_outputs(executed) is True
    assert book.strip_outputs(executed) is False
    assert book.check_notebook(executed, book_dir=book_dir) == []


@pytest.mark.parametrize("notebook", REAL_NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_pass_the_checks(notebook):
    assert book.check_notebook(notebook) == []


@pytest.mark.parametrize("notebook", REAL_NOTEBOOKS, ids=lambda p: p.stem)
def test_chapters_narrate_and_leave_logic_to_the_package(notebook):
    """No function definitions, no verdict words decided in a cell, about 60 code lines at most."""
    nb = nbformat.read(notebook, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code" and "colab-setup" not in c.metadata.get("tags", [])]
    lines = [line for source in code for line in source.splitlines()
             if line.strip() and not line.strip().startswith("#")]
    assert len(lines) <= 60, f"{notebook.name}: {len(lines)} code lines"
    assert not any(line.lstrip().startswith(("def ", "class ")) or "lambda" in line for line in lines)
    for word in ("holds", "supported", "better than", "not distinguishable"):
        assert not any(word in line for line in lines), f"{notebook.name} decides '{word}' in a cell"
    if not notebook.name.startswith("00"):
        assert any("at-a-glance" in c.metadata.get("tags", []) and "report.glance" in c.source for c in nb.cells)
    for cell in nb.cells:
        if cell.cell_type == "code" and "plt.show()" in cell.source:
            caption = cell.metadata.get("mystnb", {}).get("figure", {}).get("caption", "")
            assert caption.strip(), f"{notebook.name}: a figure without a caption: {cell.source[:60]!r}"
            # the caption frames every displayed output of the cell, so tables get cells of their own
            assert "display(" not in cell.source, f"{notebook.name}: a table in a figure cell: {cell.source[:60]!r}"


def test_find_notebooks_orders_and_selects(tmp_path, write_notebook):
    for name in ("02_b", "00_a", "10_c", "notes"):
        write_notebook(tmp_path / f"{name}.ipynb")
    assert [p.stem for p in book.find_notebooks(tmp_path)] == ["00_a", "02_b", "10_c"]
    assert [p.stem for p in book.find_notebooks(tmp_path, only="02")] == ["02_b"]
    assert [p.stem for p in book.find_notebooks(tmp_path, only=["10", "00_a"])] == ["00_a", "10_c"]
    with pytest.raises(ValueError, match=r"\['07'\]"):
        book.find_notebooks(tmp_path, only=["00", "07"])


# ----------------------------------------------------------------------------- execution
def test_default_kernel_runs_this_python():
    from jupyter_client.kernelspec import KernelSpecManager

    name = book.default_kernel()
    argv = KernelSpecManager().get_kernel_spec(name).argv
    assert book._runs_this_python(argv)
    assert not book._runs_this_python(["/somewhere/else/bin/python", "-m", "ipykernel_launcher"])


def test_a_foreign_python3_kernel_leads_to_registering_ours(monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager

    specs = {"python3": {"spec": {"argv": ["/opt/other/bin/python", "-m", "ipykernel_launcher"]}}}
    installed = []

    def fake_install(kernel_name, display_name, prefix):
        installed.append((kernel_name, prefix))
        specs[kernel_name] = {"spec": {"argv": [sys.executable, "-m", "ipykernel_launcher"]}}

    monkeypatch.setattr(KernelSpecManager, "get_all_specs", lambda self: specs)
    monkeypatch.setattr("ipykernel.kernelspec.install", fake_install)
    assert book.default_kernel() == book.KERNEL_NAME
    assert installed == [(book.KERNEL_NAME, sys.prefix)]


def test_run_notebooks_injects_parameters_and_records_timings(tmp_path, write_notebook):
    folder = tmp_path / "notebooks"
    report = ("import json, os, sys\n"
              "json.dump({'profile': profile, 'device': device, 'output_dir': output_dir,\n"
              "           'cwd': os.getcwd(), 'python': sys.executable}, open('seen.json', 'w'))")
    write_notebook(folder / "00_first.ipynb", [report])
    write_notebook(folder / "01_second.ipynb", ["import os\nopen(os.path.join(output_dir, 'b.csv'), 'w').close()"])
    executed = tmp_path / "executed"
    timings = book.run_notebooks("smoke", device="cpu", notebooks_dir=folder, executed_dir=executed, progress=False)
    assert list(timings["notebook"]) == ["00_first", "01_second"] and set(timings["status"]) == {"ok"}
    assert (timings["seconds"] > 0).all()
    seen = pd.read_json(executed / "seen.json", typ="series")
    assert seen["profile"] == "smoke" and seen["device"] == "cpu"
    assert seen["output_dir"] == "results"  # relative to the working folder: no builder path in a page
    papermill_record = nbformat.read(executed / "00_first.ipynb", as_version=4).metadata.papermill
    assert papermill_record["input_path"] == "00_first.ipynb" and papermill_record["output_path"] == "00_first.ipynb"
    assert Path(seen["cwd"]) == executed.resolve()
    assert Path(seen["python"]).parent == Path(sys.executable).parent
    assert (executed / "results" / "b.csv").exists()
    assert (executed / "00_first.ipynb").exists() and book.error_outputs(executed / "00_first.ipynb") == []
    on_disk = pd.read_csv(executed / "timings.csv")
    assert list(on_disk.columns) == book.TIMINGS_COLUMNS and list(on_disk["notebook"]) == ["00_first", "01_second"]


def test_a_failing_notebook_is_named_with_its_cell(tmp_path, write_notebook):
    folder = tmp_path / "notebooks"
    write_notebook(folder / "00_ok.ipynb", ["x = 1"])
    write_notebook(folder / "01_broken.ipynb", ["y = 2", "values = [1, 2]\nvalues[5]"])
    write_notebook(folder / "02_never.ipynb", ["z = 3"])
    executed = tmp_path / "executed"
    with pytest.raises(book.NotebookExecutionError) as caught:
        book.run_notebooks("smoke", notebooks_dir=folder, executed_dir=executed, progress=False)
    message = str(caught.value)
    assert "01_broken.ipynb" in message and "'values = [1, 2]'" in message
    assert "IndexError: list index out of range" in message and "in cell " in message
    assert not (executed / "02_never.ipynb").exists()
    timings = pd.read_csv(executed / "timings.csv").set_index("notebook")["status"].to_dict()
    assert timings == {"00_ok": "ok", "01_broken": "failed"}

    # Fix it and rerun only that notebook: the other rows are kept.
    write_notebook(folder / "01_broken.ipynb", ["y = 2"])
    book.run_notebooks("smoke", only="01", notebooks_dir=folder, executed_dir=executed, progress=False)
    timings = pd.read_csv(executed / "timings.csv").set_index("notebook")["status"].to_dict()
    assert timings == {"00_ok": "ok", "01_broken": "ok"}


def test_chapters_run_side_by_side_and_the_summary_last(tmp_path, write_notebook):
    folder = tmp_path / "notebooks"
    # each chapter waits for the other's marker file: they finish only if they run at the same time
    wait_for = ("import os, time\nopen('{mine}', 'w').close()\ndeadline = time.time() + 60\n"
                "while not os.path.exists('{other}') and time.time() < deadline:\n    time.sleep(0.1)\n"
                "assert os.path.exists('{other}'), 'ran alone'\nthreads = os.environ['OMP_NUM_THREADS']")
    write_notebook(folder / "01_a.ipynb", [wait_for.format(mine="a", other="b")])
    write_notebook(folder / "02_b.ipynb", [wait_for.format(mine="b", other="a")])
    write_notebook(folder / "03_summary.ipynb", ["import os\nassert os.path.exists('a') and os.path.exists('b')"])
    executed = tmp_path / "executed"
    timings = book.run_notebooks("smoke", notebooks_dir=folder, executed_dir=executed, jobs=2, threads=1,
                                 progress=False)
    assert list(timings["notebook"]) == ["01_a", "02_b", "03_summary"] and set(timings["status"]) == {"ok"}
    assert set(timings["jobs"]) == {2} and set(timings["threads"]) == {1}
    by_name = timings.set_index("notebook")
    assert by_name.loc["03_summary", "start"] >= by_name[["end"]].drop("03_summary").values.max()
    assert "2 chapters ran side by side (01, 02, 03)" in book.timings_markdown(executed / "timings.csv")

    write_notebook(folder / "01_a.ipynb", ["raise ValueError('broken chapter')"])
    write_notebook(folder / "02_b.ipynb", ["x = 1"])
    fresh = tmp_path / "executed-after-failure"  # no timing rows from the run above
    with pytest.raises(book.NotebookExecutionError, match="01_a.ipynb"):
        book.run_notebooks("smoke", notebooks_dir=folder, executed_dir=fresh, jobs=2, threads=1, progress=False)
    statuses = pd.read_csv(fresh / "timings.csv").set_index("notebook")["status"].to_dict()
    assert statuses == {"01_a": "failed", "02_b": "ok"}  # the chapter beside the failed one keeps its row
    with pytest.raises(ValueError, match="jobs must be a positive integer"):
        book.run_notebooks("smoke", notebooks_dir=folder, executed_dir=executed, jobs=0)


def test_run_notebooks_validates_its_arguments(tmp_path, write_notebook):
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        book.run_notebooks("huge", notebooks_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown device"):
        book.run_notebooks("smoke", device="gpu0", notebooks_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="no notebooks"):
        book.run_notebooks("smoke", notebooks_dir=tmp_path, executed_dir=tmp_path / "executed")


# ----------------------------------------------------------------------------- book
def test_timings_markdown_lists_every_chapter(tmp_path):
    assert "Not measured yet" in book.timings_markdown(tmp_path / "timings.csv")
    pd.DataFrame({"notebook": ["00_a", "01_b"], "profile": ["demo", "demo"], "seconds": [75.2, 4.0],
                  "status": ["ok", "ok"]}).to_csv(tmp_path / "timings.csv", index=False)
    table = book.timings_markdown(tmp_path / "timings.csv")
    assert "| 00_a | demo | 1:15 | ok |" in table and "| 01_b | demo | 0:04 | ok |" in table
    assert "**1:19**" in table


def chapter_book(tmp_path):
    """A book whose toc lists three chapters: executed, not executed, not written."""
    book_dir = config_book(tmp_path)
    (book_dir / "_toc.yml").write_text(yaml.safe_dump({
        "format": "jb-book", "root": "intro",
        "chapters": [{"file": "executed/00_done"}, {"file": "executed/01_pending"},
                     {"file": "executed/02_future"}, {"file": "references"}]}))
    notebooks = tmp_path / "notebooks"
    return book_dir, notebooks


def test_book_chapters_tells_executed_pending_and_unwritten_apart(tmp_path, write_notebook):
    book_dir, notebooks = chapter_book(tmp_path)
    write_notebook(notebooks / "00_done.ipynb")
    write_notebook(notebooks / "01_pending.ipynb")
    write_notebook(book_dir / "executed" / "00_done.ipynb")
    assert book.book_chapters(book_dir, notebooks) == {
        "executed/00_done": "executed", "executed/01_pending": "not executed",
        "executed/02_future": "not written"}


def test_build_book_refuses_unexecuted_or_failed_chapters(tmp_path, write_notebook):
    book_dir, notebooks = chapter_book(tmp_path)
    write_notebook(notebooks / "01_pending.ipynb")
    with pytest.raises(FileNotFoundError, match=r"executed/01_pending.*--only 01"):
        book.build_book(book_dir, notebooks_dir=notebooks)

    shutil.rmtree(notebooks)
    failed = write_notebook(book_dir / "executed" / "00_done.ipynb", ["1 / 0"])
    nb = nbformat.read(failed, as_version=4)
    nb.cells[-1].outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                                   traceback=[])]
    nbformat.write(nb, failed)
    with pytest.raises(RuntimeError, match="00_done.*ZeroDivisionError"):
        book.build_book(book_dir, notebooks_dir=notebooks)
    with pytest.raises(ValueError, match="unknown builder"):
        book.build_book(book_dir, builder="epub")


def test_prepare_for_publishing_puts_the_answer_first_and_hides_the_builder(tmp_path):
    cells = [nbformat.v4.new_markdown_cell("badge"),
             nbformat.v4.new_markdown_cell("# 1. A chapter\n\nThe story."),
             nbformat.v4.new_code_cell("output_dir = '/builder/path'", metadata={"tags": ["injected-parameters"]}),
             nbformat.v4.new_code_cell("result = run()"),
             nbformat.v4.new_markdown_cell("## At a glance"),
             nbformat.v4.new_code_cell("display(Markdown(report.glance))", metadata={"tags": ["at-a-glance"]})]
    cells[-1].outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "**supported** here."})]
    path = tmp_path / "01_a.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    book.prepare_for_publishing(path)
    out = nbformat.read(path, as_version=4).cells
    assert [c.source for c in out[:4]] == ["badge", "# 1. A chapter", "display(Markdown(report.glance))",
                                           "The story."]
    assert "remove-input" in out[2].metadata.tags
    assert out[2].outputs[0]["data"]["text/markdown"].startswith(":::{admonition} At a glance")
    assert "remove-cell" in out[4].metadata.tags and "## At a glance" not in [c.source for c in out]


def test_publishable_stderr_keeps_informative_warnings_without_the_builders_folders():
    stderr = ("/home/me/env/lib/python3.11/site-packages/tqdm/auto.py:21: TqdmWarning: IProgress not found. "
              "Please update jupyter and ipywidgets.\n  from .autonotebook import tqdm as notebook_tqdm\n"
              "epochs:  10%|█         | 1/10 [00:01<00:09,  1.00it/s]\repochs: 100%|██████████| 10/10\n"
              "/tmp/ipykernel_27492/477618855.py:5: UserWarning: only 3 test elements\n"
              "  warnings.warn('only 3 test elements')\n"
              "/home/me/env/lib/python3.11/site-packages/sklearn/linear_model/_sag.py:349: ConvergenceWarning: "
              "The max_iter was reached\n  warnings.warn(\n"
              "\rfit:  50%|█████     | 1/2 [00:01<00:01,  1.00it/s]"
              f"{ROOT}/glmeval_utils/eval/stats.py:238: RuntimeWarning: Mean of empty slice\n"
              "  return x.mean()\n"
              "coverage: 95%|exons\n\nsecond paragraph\n")
    assert book.publishable_stderr(stderr) == (
        "this cell, line 5: UserWarning: only 3 test elements\n  warnings.warn('only 3 test elements')\n"
        "sklearn/linear_model/_sag.py, line 349: ConvergenceWarning: The max_iter was reached\n"
        "  warnings.warn(\n"
        "glmeval_utils/eval/stats.py, line 238: RuntimeWarning: Mean of empty slice\n  return x.mean()\n"
        "coverage: 95%|exons\n\nsecond paragraph\n")
    assert book.publishable_stderr("epochs: 50%|█████     | 5/10 [00:05<00:05, 1.0it/s]\r") == ""


def test_prepare_for_publishing_drops_stderr_left_empty(tmp_path):
    cell = nbformat.v4.new_code_cell("train()")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="loss: 40%|████      | 4/10\r"),
                    nbformat.v4.new_output("stream", name="stdout", text="done\n")]
    cells = [nbformat.v4.new_markdown_cell("# 1. A chapter"), cell]
    path = tmp_path / "01_a.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    book.prepare_for_publishing(path)
    assert [o["name"] for o in nbformat.read(path, as_version=4).cells[1].outputs] == ["stdout"]


def test_the_data_table_lists_the_data_sets_of_the_results_and_the_profile_that_ran(tmp_path):
    assert "No chapter has been executed" in book.data_markdown(tmp_path)
    pd.DataFrame([dict(notebook="01_lentimpra", profile="demo", seconds=1.0, status="ok"),
                  dict(notebook="07_attribution", profile="smoke", seconds=1.0, status="ok")]).to_csv(
        tmp_path / book.TIMINGS_CSV, index=False)
    (tmp_path / "results").mkdir()
    pd.DataFrame({"task": ["lentimpra", "lentimpra"], "dataset": ["lentimpra_hepg2", "lentimpra_hepg2"],
                  "value": [0.1, 0.2]}).to_csv(tmp_path / "results" / "lentimpra.csv", index=False)
    pd.DataFrame({"task": ["attribution"], "dataset": ["simulated | planted"]}).to_csv(
        tmp_path / "results" / "attribution_predictions.csv.gz", index=False)
    pd.DataFrame({"motif": ["x"]}).to_csv(tmp_path / "results" / "motifs.csv", index=False)
    table = book.data_markdown(tmp_path)
    assert "profile `demo` (01); `smoke` (07)" in table
    assert "| lentimpra | `lentimpra_hepg2` | Agarwal" in table and table.count("lentimpra_hepg2") == 1
    assert "| attribution | `simulated \\| planted` | made in the chapter | not a data set of the paper |" in table
    assert "gue_tf0" not in table and "paper_chip" not in table


def test_the_verdicts_table_shows_what_chapter_8_computed(tmp_path):
    assert "Not computed yet" in book.verdicts_markdown(tmp_path)
    (tmp_path / "results").mkdir()
    pd.DataFrame([dict(claim="no_advantage", text="gLMs | no advantage", verdict="supported", reason="r",
                       number="0 better / 2 worse of 3"),
                  dict(claim="supervised_strongest", text="Supervised wins", verdict="not testable", reason="r",
                       number=None)]).to_csv(tmp_path / "results" / book.VERDICTS_CSV, index=False)
    table = book.verdicts_markdown(tmp_path).splitlines()
    assert table[2] == "| gLMs \\| no advantage | **supported** | 0 better / 2 worse of 3 |"
    assert table[3] == "| Supervised wins | **not testable** |  |"


def test_side_by_side_chapters_start_longest_first_by_the_last_run(tmp_path):
    notebooks = [Path(f"{name}.ipynb") for name in ("00_a", "01_b", "02_c", "03_d")]
    assert book.longest_first(notebooks, tmp_path, "demo") == notebooks  # no timings yet: the book's order
    pd.DataFrame({"notebook": ["00_a", "01_b", "02_c", "03_d", "01_b"],
                  "profile": ["demo", "demo", "demo", "demo", "smoke"],
                  "seconds": [10.0, 300.0, 50.0, 900.0, 5000.0],
                  "status": ["ok", "ok", "ok", "failed", "ok"]}).to_csv(tmp_path / book.TIMINGS_CSV, index=False)
    # 03_d's last run failed (its time says nothing) and the smoke row is another profile
    assert [p.stem for p in book.longest_first(notebooks, tmp_path, "demo")] == ["03_d", "01_b", "02_c", "00_a"]
    (tmp_path / book.TIMINGS_CSV).write_text("not,a\n\"timings")
    assert book.longest_first(notebooks, tmp_path, "demo") == notebooks
