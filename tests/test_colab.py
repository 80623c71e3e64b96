"""Colab, simulated: a chapter's set-up cell installs glmeval_utils into an environment without it.

Colab brings torch, transformers and the scientific stack, but not glmeval_utils.
The stand-in: a fresh virtual environment whose one extra site folder links every
distribution of the environment running the tests except glmeval_utils (its
editable install would let the chapter import the checkout without installing
anything; the test checks that the import fails before the cell runs), and a
stand-in ``google.colab`` package whose ``drive.mount`` creates ``MyDrive``.

The set-up cell comes from chapter 1 as committed to ``notebooks/``.  It installs
from this checkout's HEAD commit as a local git URL, given through the cell's
``GLMEVAL_REPOSITORY`` override: the installed package is HEAD's, not the working
tree's.  pip runs offline: ``PIP_NO_INDEX=1``, the pins (``anticapt==1.0``) and the
package's dependencies are satisfied by the linked distributions, and
``PIP_NO_BUILD_ISOLATION=0`` (pip's spelling of "no build isolation") builds with
the linked setuptools instead of downloading it.  Drive is mounted in a temporary
folder instead of ``/content/drive``.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from glmeval_utils import book

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "notebooks" / "01_lentimpra.ipynb"
COLAB_MOUNT = 'mount_point = "/content/drive"'

#: Runs inside the simulated Colab: the cell with a bad source, with HEAD, again with a Drive folder.
SESSION = r'''
import json
import os
import subprocess
import sys

import google.colab  # Colab imports it at start-up; the set-up cell looks for it in sys.modules

cells = json.loads(open(sys.argv[1]).read())
state = {}
try:
    import glmeval_utils
    state["importable_before"] = glmeval_utils.__file__
except ModuleNotFoundError:
    state["importable_before"] = None

calls = []
run = subprocess.run
def recording_run(command, *args, **kwargs):
    calls.append(command)
    return run(command, *args, **kwargs)
subprocess.run = recording_run

kernel = {}  # one namespace, as in a notebook
os.environ["GLMEVAL_REPOSITORY"] = cells["bad_source"]
try:
    exec(cells["setup"], kernel)
    state["bad_error"] = None
except RuntimeError as error:
    state["bad_error"] = str(error)

os.environ["GLMEVAL_REPOSITORY"] = cells["good_source"]
before = len(calls)
exec(cells["setup"], kernel)
state["install_calls"] = calls[before:]
exec(cells["parameters"], kernel)
exec(cells["imports"], kernel)
from glmeval_utils import paths
from glmeval_utils.tasks.report import output_path
state["package_file"] = sys.modules["glmeval_utils"].__file__
state["project_root"] = str(paths.project_root())
state["cache_dir"] = str(paths.cache_dir())
state["results_file"] = str(output_path(kernel["output_dir"], "probe.csv").resolve())

before = len(calls)
exec(cells["setup_with_drive"], kernel)
state["rerun_calls"] = calls[before:]
state["drive_cache_dir"] = str(paths.cache_dir())
state["drive_results_file"] = str(output_path(kernel["output_dir"], "probe.csv").resolve())
state["cwd"] = os.getcwd()
print("STATE", json.dumps(state))
'''


def chapter_cells(tmp_path: Path) -> dict[str, str]:
    """The set-up cell, the parameters cell and every import of chapter 1's code cells."""
    nb = nbformat.read(CHAPTER, as_version=4)
    setup = next(c.source for c in nb.cells if book.SETUP_TAG in c.metadata.get("tags", []))
    parameters = next(c.source for c in nb.cells if book.PARAMETERS_TAG in c.metadata.get("tags", []))
    imports = [ast.unparse(node) for c in nb.cells
               if c.cell_type == "code" and book.SETUP_TAG not in c.metadata.get("tags", [])
               for node in ast.parse(c.source).body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert any("glmeval_utils.tasks" in line for line in imports), imports
    assert setup.count(COLAB_MOUNT) == 1 and setup.count(f"{book.DRIVE_FOLDER_VARIABLE} = None") == 1
    with_drive = (setup.replace(COLAB_MOUNT, f"mount_point = {str(tmp_path / 'drive')!r}")
                  .replace(f"{book.DRIVE_FOLDER_VARIABLE} = None", f'{book.DRIVE_FOLDER_VARIABLE} = "glmeval"'))
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip(f"the checkout has no commit to install: {head.stderr.strip()}")
    return {"setup": setup, "setup_with_drive": with_drive, "parameters": parameters, "imports": "\n".join(imports),
            "good_source": f"git+file://{ROOT}@{head.stdout.strip()}",
            "bad_source": f"git+file://{tmp_path / 'no-such-repository'}@main"}


def colab_environment(tmp_path: Path) -> Path:
    """A virtual environment seeing this one's distributions except glmeval_utils; returns its python."""
    linked = tmp_path / "linked-site-packages"
    linked.mkdir()
    for entry in Path(sysconfig.get_path("purelib")).iterdir():
        editable = entry.name.startswith(("__editable__", "glmeval_utils")) or (
            entry.suffix == ".pth" and str(ROOT) in entry.read_text(errors="replace"))
        if not editable:
            (linked / entry.name).symlink_to(entry)
    stand_in = tmp_path / "colab-stand-in" / "google" / "colab"  # ``google`` stays a namespace package
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text('"""Stand-in for Colab\'s google.colab."""\n')
    (stand_in / "drive.py").write_text(
        "import os\n\n\ndef mount(mount_point):\n"
        "    os.makedirs(os.path.join(mount_point, 'MyDrive'), exist_ok=True)\n")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # addsitedir also runs the linked .pth files (none of them glmeval_utils's, see above).
    (Path(purelib) / "colab_stand_in.pth").write_text(
        f"{tmp_path / 'colab-stand-in'}\nimport site; site.addsitedir({str(linked)!r})\n")
    return python


@pytest.mark.skipif(sys.platform == "win32" or shutil.which("git") is None, reason="needs git and a POSIX venv")
def test_the_setup_cell_installs_the_package_and_keeps_state_on_drive(tmp_path):
    cells = chapter_cells(tmp_path)
    python = colab_environment(tmp_path)
    (tmp_path / "cells.json").write_text(json.dumps(cells))
    (tmp_path / "session.py").write_text(SESSION)
    content, home = tmp_path / "content", tmp_path / "home"
    content.mkdir()
    env = {key: value for key, value in os.environ.items()
           if key not in {"PYTHONPATH", "VIRTUAL_ENV", "GLMEVAL_DATA", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"}}
    env.update(HOME=str(home), PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1",
               GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="safe.directory", GIT_CONFIG_VALUE_0="*")
    session = subprocess.run([str(python), str(tmp_path / "session.py"), str(tmp_path / "cells.json")],
                             cwd=content, env=env, capture_output=True, text=True, timeout=300)
    assert session.returncode == 0, session.stdout[-3000:] + session.stderr[-3000:]
    state = json.loads(session.stdout.split("STATE ", 1)[1])

    assert state["importable_before"] is None, f"glmeval_utils leaked into the environment: {state}"
    # A bad source: the error names it and says how to fix it.
    assert cells["bad_source"] in state["bad_error"] and "python -m glmeval_utils sync" in state["bad_error"]
    assert book.SOURCE_VARIABLE in state["bad_error"]
    # HEAD installed into the fresh environment, then the pins without dependencies.
    assert [call[-1] for call in state["install_calls"]] == [cells["good_source"], *book.COLAB_NO_DEPS_PINS]
    assert state["package_file"].startswith(str(tmp_path / "venv"))
    # Installed, not a checkout: the data cache defaults to ~/.cache, results to the working directory.
    assert state["project_root"] == "None"
    assert state["cache_dir"] == str(home / ".cache" / "glmeval")
    assert state["results_file"] == str(content / "results" / "probe.csv")
    # The rerun with a Drive folder installs nothing and moves cache and results onto Drive.
    folder = tmp_path / "drive" / "MyDrive" / "glmeval"
    assert state["rerun_calls"] == []
    assert state["cwd"] == str(folder)
    assert state["drive_cache_dir"] == str(folder / "cache")
    assert state["drive_results_file"] == str(folder / "results" / "probe.csv")
