"""The publishing path: execute the notebooks with papermill, build the Jupyter Book.

The book's chapters are the notebooks ``notebooks/NN_*.ipynb``, committed
without outputs.  :func:`run_notebooks` executes them in order with papermill
into a git-ignored folder inside the book (``book/executed/``), injecting the
parameters ``profile``, ``device`` and ``output_dir`` (the shared results
folder ``<executed>/results``), and records the wall time of each chapter in
``<executed>/timings.csv``.  :func:`build_book` renders the executed copies
with jupyter-book 1.x (``execute_notebooks: off``).  Both are bounded in time
(a cell past its profile's limit, :data:`CELL_TIMEOUTS`, or a build past
:data:`BUILD_TIMEOUT` is stopped with an error naming it), and every chapter's
kernel runs on one fixed, recorded number of CPU threads, because torch
results depend on it in the last digits.

One repository setting in ``book/_config.yml`` (``repository: url, branch``)
drives the "Open in Colab" badge of every chapter, the Colab set-up cell
(install from that branch; optionally keep the data cache and ``results/`` on
Google Drive) and the install lines of ``README.md``.
:func:`sync_repository_setting` (``python -m glmeval_utils sync``) writes them
all; :func:`check_notebook` and :func:`check_readme` tell when they lag behind
the setting.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import os
import re
import string
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import nbformat
import pandas as pd
import yaml

from glmeval_utils.paths import project_root
from glmeval_utils.profiles import PROFILE_NAMES
from glmeval_utils.validation import positive_int

NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
EXECUTED_DIRNAME = "executed"
RESULTS_DIRNAME = "results"
TIMINGS_CSV = "timings.csv"
#: Markdown table of :data:`TIMINGS_CSV`, included by ``book/intro.md``.
TIMINGS_MD = "timings.md"
#: The profile(s) that ran the chapters and the data sets of their results, included by ``book/intro.md``.
DATA_MD = "data.md"
#: The verdict of every claim (written by the summary chapter into ``results/verdicts.csv``), included by ``book/intro.md``.
VERDICTS_MD = "verdicts.md"
VERDICTS_CSV = "verdicts.csv"
TIMINGS_COLUMNS = ["notebook", "profile", "seconds", "status", "threads", "jobs", "start", "end"]
#: Default limit in seconds on one cell of a chapter, per profile (``None``: no limit).  ``smoke``
#: chapters run in seconds; the longest ``demo`` cell (chapter 1's training) takes about 20 minutes
#: on one thread of the demo's CPU (longer on a CPU without native bf16), so a cell still running
#: after an hour is stuck; ``full`` cells embed whole data sets with billion-parameter gLMs for
#: hours, so only an explicit ``timeout`` bounds them.
CELL_TIMEOUTS = {"smoke": 600, "demo": 3600, "full": None}
#: Default limit in seconds on ``jupyter-book build`` (the demo book builds in a few minutes).
BUILD_TIMEOUT = 1800
#: Environment variables fixing the CPU threads of a chapter's kernel (torch reads OMP_NUM_THREADS
#: when it starts): torch probes trained with 1 and 2 threads differ by up to ~5e-3.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

BADGE_TAG = "colab-badge"
SETUP_TAG = "colab-setup"
PARAMETERS_TAG = "parameters"
GLANCE_TAG = "at-a-glance"
#: the cell papermill adds (the run's parameters); removed from the page.
INJECTED_TAG = "injected-parameters"
REQUIRED_PARAMETERS = ("profile", "device", "output_dir")
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
#: Installed on Colab without dependencies (they would replace Colab's CUDA torch), as in the Makefile.
COLAB_NO_DEPS_PINS = ("anticapt==1.0",)
#: Variable of the Colab set-up cell naming a folder of Google Drive for the data cache and results.
DRIVE_FOLDER_VARIABLE = "drive_folder"
#: Environment variable overriding what the Colab set-up cell pip-installs (default: the repository setting).
SOURCE_VARIABLE = "GLMEVAL_REPOSITORY"
#: The lines around the block of README.md that :func:`sync_readme` writes from the repository setting.
README_START = "<!-- repository:start -->"
README_END = "<!-- repository:end -->"
#: Name of the kernel registered for this Python when no existing kernelspec runs it.
KERNEL_NAME = "glmeval"
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
#: One update of a tqdm bar ("epochs:  42%|████      | 5/12 [00:03<00:04, 1.6it/s]"): terminal output.
PROGRESS_BAR = re.compile(r"[^\r\n]*?\d+%\|[^|\r\n]*\| *\d+/\d+(?: \[[^\]\r\n]*\])?")
#: ``/folder/file.py:12: SomeWarning: ...``, the first line of a warning; ``re.S`` keeps its line
#: ending inside ``message``.
WARNING_LOCATION = re.compile(r"^(?P<path>/\S+?):(?P<line>\d+): (?P<message>.*)$", re.S)
#: Messages about the building machine rather than the chapter.
NOT_FOR_READERS = ("IProgress not found", "Matplotlib is building the font cache")
#: Where each builder of ``jupyter-book build`` writes its output, inside ``_build``.
BUILDER_OUTPUT = {"html": "html", "dirhtml": "dirhtml", "singlehtml": "singlehtml", "latex": "latex"}


# ----------------------------------------------------------------------------- locations
def default_root() -> Path:
    """The source checkout this package runs from (holding ``book/``, ``notebooks/`` and ``README.md``)."""
    root = project_root()
    if root is None:
        raise FileNotFoundError(
            "glmeval_utils is not running from a source checkout, so there is no default book/, notebooks/ "
            "or README.md; pass the folder explicitly")
    return root


def default_book_dir() -> Path:
    """The ``book/`` folder of the source checkout."""
    return default_root() / "book"


def default_notebooks_dir() -> Path:
    """The ``notebooks/`` folder of the source checkout."""
    return default_root() / "notebooks"


def find_notebooks(notebooks_dir: str | os.PathLike | None = None,
                   only: str | Iterable[str] | None = None) -> list[Path]:
    """The chapter notebooks ``NN_*.ipynb`` in execution order.

    Parameters
    ----------
    notebooks_dir : path, optional
        Folder holding the notebooks (default: the checkout's ``notebooks/``).
    only : str or iterable of str, optional
        Name prefixes (``"01"``, ``["03", "10_summary"]``) selecting a subset;
        ``None`` selects every notebook.

    Raises
    ------
    ValueError
        If ``only`` is empty, holds an empty prefix (which would match every
        notebook: ``--only ""`` must not run the whole book) or a prefix that
        matches no notebook; the message lists the notebooks.
    """
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else default_notebooks_dir()
    notebooks = sorted(notebooks_dir.glob(NOTEBOOK_PATTERN))
    if only is None:
        return notebooks
    prefixes = [only] if isinstance(only, str) else list(only)
    known = ", ".join(nb.stem for nb in notebooks) or "none"
    if not prefixes or any(not isinstance(p, str) or not p.strip() for p in prefixes):
        raise ValueError(f"only={prefixes!r}: name the notebooks to run by a non-empty prefix such as '01' "
                         f"(to run them all, leave it out); notebooks in {notebooks_dir}: {known}")
    unmatched = [p for p in prefixes if not any(nb.name.startswith(p) for nb in notebooks)]
    if unmatched:
        raise ValueError(f"no notebook in {notebooks_dir} starts with {unmatched}; notebooks: {known}")
    return [nb for nb in notebooks if any(nb.name.startswith(p) for p in prefixes)]


# ----------------------------------------------------------------------------- repository setting
@dataclass(frozen=True)
class RepositorySetting:
    """The ``repository`` block of ``book/_config.yml``."""

    owner: str
    name: str
    branch: str

    @property
    def url(self) -> str:
        return f"https://github.com/{self.owner}/{self.name}"

    @property
    def pip_source(self) -> str:
        """What pip installs the package from: the branch of the repository."""
        return f"git+{self.url}@{self.branch}"

    @property
    def pages_url(self) -> str:
        """Where GitHub Pages serves the published book (a user site ``<owner>.github.io`` at its root)."""
        site = f"https://{self.owner.lower()}.github.io/"
        return site if self.name.lower() == f"{self.owner.lower()}.github.io" else f"{site}{self.name}/"


def repository_setting(book_dir: str | os.PathLike | None = None) -> RepositorySetting:
    """Read the GitHub repository and branch from the book's ``_config.yml``."""
    config_path = Path(book_dir or default_book_dir()) / "_config.yml"
    if not config_path.exists():
        raise FileNotFoundError(f"book configuration {config_path} does not exist")
    repository = (yaml.safe_load(config_path.read_text()) or {}).get("repository") or {}
    match = re.fullmatch(r"https://github\.com/([^/\s]+)/([^/\s]+?)(?:\.git)?/?",
                         str(repository.get("url", "")))
    if not match:
        raise ValueError(f"{config_path}: repository.url must be https://github.com/<owner>/<repo>, "
                         f"got {repository.get('url')!r}")
    return RepositorySetting(owner=match[1], name=match[2], branch=str(repository.get("branch", "main")))


def colab_url(notebook_name: str, *, book_dir: str | os.PathLike | None = None) -> str:
    """Colab link opening the source notebook ``notebooks/<name>.ipynb`` of the repository.

    ``notebook_name`` may be given with or without the ``.ipynb`` suffix.
    """
    repo = repository_setting(book_dir)
    stem = Path(notebook_name).name.removesuffix(".ipynb")
    return (f"https://colab.research.google.com/github/{repo.owner}/{repo.name}"
            f"/blob/{repo.branch}/notebooks/{stem}.ipynb")


def _badge_source(notebook_name: str, book_dir) -> str:
    return (f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({colab_url(notebook_name, book_dir=book_dir)}) "
            f"On Colab, `{DRIVE_FOLDER_VARIABLE}` in the first code cell keeps data and results on Google Drive.")


#: The Colab set-up cell.  Reruns skip the install (the version check); ``mount_point`` is a
#: variable so that the Colab stand-in of ``tests/test_colab.py`` can mount its fake Drive elsewhere.
_SETUP_TEMPLATE = string.Template('''\
# On Colab: installs glmeval_utils (once per session) from the repository of this book and, with
# drive_folder set, keeps the data cache and results/ on Google Drive, where later chapters and
# later sessions find them. Elsewhere this cell does nothing.
$drive_variable = None  # e.g. "glmeval": the folder MyDrive/glmeval

import importlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    if $drive_variable:
        from google.colab import drive

        mount_point = "/content/drive"
        drive.mount(mount_point)
        workdir = os.path.join(mount_point, "MyDrive", $drive_variable)
        os.makedirs(workdir, exist_ok=True)
        os.environ["GLMEVAL_DATA"] = os.path.join(workdir, "cache")
        os.chdir(workdir)  # the chapters' relative output_dir ("results") now lies on Drive
    try:
        installed = importlib.metadata.version("glmeval_utils")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed != "$version" or importlib.util.find_spec("glmeval_utils") is None:
        source = os.environ.get("$source_variable", "$source")
        print(f"Installing glmeval_utils from {source} ...")
        pip = [sys.executable, "-m", "pip", "install", "--quiet"]
        # GIT_TERMINAL_PROMPT=0: a missing repository fails instead of asking for a password.
        done = subprocess.run([*pip, source], capture_output=True, text=True,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
        if done.returncode != 0:
            raise RuntimeError(
                f"pip could not install glmeval_utils from {source}. In a fork, set repository.url and "
                "branch in book/_config.yml, run `python -m glmeval_utils sync` and push; or name another "
                "pip-installable source in a cell above this one: "
                "%env $source_variable=git+https://github.com/<owner>/<repo>@<branch>\\n"
                f"pip said:\\n{done.stderr[-2000:]}")
        # Without dependencies: they would replace Colab's CUDA torch.
        done = subprocess.run([*pip, "--no-deps", $pins], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"pip could not install $pin_names from PyPI; pip said:\\n{done.stderr[-2000:]}")
        importlib.invalidate_caches()  # makes the new package importable in this session
''')


def _package_version() -> str:
    """The installed version (pyproject's at install time), which the set-up cell compares with Colab's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("glmeval_utils")
    except PackageNotFoundError:
        raise RuntimeError("glmeval_utils is not installed, so the Colab set-up cell cannot name its version; "
                           "install the checkout first (make venv, or pip install -e .)") from None


def _setup_source(book_dir) -> str:
    return _SETUP_TEMPLATE.substitute(
        drive_variable=DRIVE_FOLDER_VARIABLE, source_variable=SOURCE_VARIABLE, version=_package_version(),
        source=repository_setting(book_dir).pip_source,
        pins=", ".join(f'"{pin}"' for pin in COLAB_NO_DEPS_PINS), pin_names=" ".join(COLAB_NO_DEPS_PINS),
    ).rstrip("\n")


def _tagged(cell, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def sync_notebook_headers(notebooks_dir: str | os.PathLike | None = None, *,
                          book_dir: str | os.PathLike | None = None) -> list[Path]:
    """Write the Colab badge and set-up cells at the top of every chapter notebook.

    Cell 0 becomes a markdown cell tagged ``colab-badge`` holding the badge
    (from :func:`colab_url`) and one sentence on the Drive option; cell 1 a code
    cell tagged ``colab-setup`` that, when ``google.colab`` is imported,
    pip-installs the package from the repository setting unless this version
    is already importable, installs :data:`COLAB_NO_DEPS_PINS` without their
    dependencies and, with ``drive_folder`` set, mounts Google Drive, points
    ``GLMEVAL_DATA`` into the folder and makes it the working directory (so the
    chapters' relative ``output_dir`` lies on Drive).  Elsewhere the cell does
    nothing.  Existing tagged cells are updated and moved, so running it twice
    changes nothing; the other cells are left as they are.

    Returns
    -------
    list of Path
        The notebooks whose content changed.
    """
    changed = []
    for path in find_notebooks(notebooks_dir):
        nb = nbformat.read(path, as_version=4)
        badge = nbformat.v4.new_markdown_cell(_badge_source(path.stem, book_dir),
                                              metadata={"tags": [BADGE_TAG]})
        setup = nbformat.v4.new_code_cell(_setup_source(book_dir), metadata={"tags": [SETUP_TAG, "hide-input"]})
        old_header = [c for c in nb.cells if _tagged(c, BADGE_TAG) or _tagged(c, SETUP_TAG)]
        body = [c for c in nb.cells if not (_tagged(c, BADGE_TAG) or _tagged(c, SETUP_TAG))]
        # Keep the ids of existing header cells so an unchanged notebook stays byte-identical.
        for new, tag in ((badge, BADGE_TAG), (setup, SETUP_TAG)):
            for old in old_header:
                if _tagged(old, tag) and "id" in old:
                    new["id"] = old["id"]
        before = nbformat.writes(nb)
        nb.cells = [badge, setup, *body]
        if nbformat.writes(nb) != before:
            nbformat.write(nb, path)
            changed.append(path)
    return changed


# ----------------------------------------------------------------------------- README block
def _readme_block(book_dir, notebooks_dir) -> str:
    repo = repository_setting(book_dir)
    chapters = " · ".join(f"[{path.stem[:2]}]({colab_url(path.stem, book_dir=book_dir)})"
                          for path in find_notebooks(notebooks_dir))
    return "\n".join([
        README_START,
        "<!-- Written by `python -m glmeval_utils sync` from `repository:` in book/_config.yml;"
        " change the setting and run the command, not this block. -->",
        f"Source: <{repo.url}> (branch `{repo.branch}`); the book, once published (`make publish`): "
        f"<{repo.pages_url}>.",
        "",
        "```bash",
        f"git clone --branch {repo.branch} {repo.url}.git && cd {repo.name}   # then `make book` or `make test`",
        f'pip install "{repo.pip_source}"   # the helper package only',
        f"pip install --no-deps {' '.join(COLAB_NO_DEPS_PINS)}   # without its dependencies (see below)",
        "```",
        "",
        f"Open a chapter in Colab: {chapters}",
        README_END,
    ])


def _readme_parts(path: Path) -> tuple[str, str, str] | None:
    """``(before, block, after)`` around the marked block of a README, or None without markers."""
    text = path.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return None
    end += len(README_END)
    return text[:start], text[start:end], text[end:]


def _missing_block(path: Path) -> str:
    return (f"{path.name}: no repository block (a line {README_START} and, below it, {README_END}); "
            f"add the two markers where the install lines belong and run `python -m glmeval_utils sync`")


def sync_readme(readme: str | os.PathLike | None = None, *, book_dir: str | os.PathLike | None = None,
                notebooks_dir: str | os.PathLike | None = None) -> bool:
    """Rewrite the repository block of the README from the repository setting; True if it changed.

    The block lies between the lines :data:`README_START` and
    :data:`README_END` and holds the clone and pip-install lines and the Colab
    link of every chapter; the rest of the README is left as it is.

    Raises
    ------
    ValueError
        If the README has no such block.
    """
    path = Path(readme) if readme is not None else default_root() / "README.md"
    parts = _readme_parts(path)
    if parts is None:
        raise ValueError(_missing_block(path))
    before, block, after = parts
    expected = _readme_block(book_dir, notebooks_dir)
    if block == expected:
        return False
    _atomic_write_text(path, before + expected + after)
    return True


def check_readme(readme: str | os.PathLike | None = None, *, book_dir: str | os.PathLike | None = None,
                 notebooks_dir: str | os.PathLike | None = None) -> list[str]:
    """Problems of the README's repository block (see :func:`sync_readme`); empty when it is in sync."""
    path = Path(readme) if readme is not None else default_root() / "README.md"
    parts = _readme_parts(path)
    if parts is None:
        return [_missing_block(path)]
    if parts[1] != _readme_block(book_dir, notebooks_dir):
        config = Path(book_dir or default_book_dir()) / "_config.yml"
        return [f"{path.name}: the repository block does not follow the repository setting of {config} "
                f"(run `python -m glmeval_utils sync`)"]
    return []


def sync_repository_setting(root: str | os.PathLike | None = None) -> list[Path]:
    """Make a checkout follow its repository setting: README block and every notebook's header.

    Parameters
    ----------
    root : path, optional
        The checkout holding ``book/_config.yml``, ``notebooks/`` and
        ``README.md`` (default: the one this package runs from).

    Returns
    -------
    list of Path
        The files that changed.
    """
    root = Path(root) if root is not None else default_root()
    book_dir, notebooks_dir, readme = root / "book", root / "notebooks", root / "README.md"
    changed = sync_notebook_headers(notebooks_dir, book_dir=book_dir)
    if sync_readme(readme, book_dir=book_dir, notebooks_dir=notebooks_dir):
        changed.append(readme)
    return changed


# ----------------------------------------------------------------------------- checks
def _assigned_names(source: str) -> set[str]:
    """Names assigned at the top level of a code cell (IPython magics are skipped)."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        for target in targets:
            names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def _papermill_parameter_names(cell) -> set[str]:
    """Parameter names papermill infers from a parameters cell (it skips lines it cannot parse)."""
    from papermill.translators import PythonTranslator

    logger = logging.getLogger("papermill")
    level = logger.level
    logger.setLevel(logging.ERROR)  # its "Unable to parse line" warning is reported by the caller
    try:
        return {parameter.name for parameter in PythonTranslator.inspect(cell)}
    finally:
        logger.setLevel(level)


def check_notebook(path: str | os.PathLike, *, book_dir: str | os.PathLike | None = None) -> list[str]:
    """Problems that keep a source notebook from being committed; empty when it is fine.

    Checks: no outputs and no execution counts; one code cell tagged
    ``parameters`` assigning ``profile``, ``device`` and ``output_dir``, every
    line of it readable by papermill's parameter inference; a
    ``colab-badge`` cell whose link matches the repository setting; a
    ``colab-setup`` code cell; both exactly as generated.
    :func:`sync_notebook_headers` fixes the last two, :func:`strip_outputs` the
    first two.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    problems = []
    code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    with_outputs = [i for i, c in code_cells if c.get("outputs")]
    if with_outputs:
        problems.append(f"{path.name}: cells {with_outputs} have outputs (run strip_outputs)")
    with_counts = [i for i, c in code_cells if c.get("execution_count") is not None]
    if with_counts:
        problems.append(f"{path.name}: cells {with_counts} have execution counts (run strip_outputs)")

    parameter_cells = [c for _, c in code_cells if _tagged(c, PARAMETERS_TAG)]
    if not parameter_cells:
        problems.append(f"{path.name}: no code cell tagged '{PARAMETERS_TAG}' (papermill needs one)")
    else:
        assigned = _assigned_names(parameter_cells[0].source)
        missing = [p for p in REQUIRED_PARAMETERS if p not in assigned]
        if missing:
            problems.append(f"{path.name}: the parameters cell does not assign {missing}")
        unreadable = sorted(assigned - _papermill_parameter_names(parameter_cells[0]))
        if unreadable:
            problems.append(f"{path.name}: papermill cannot read the parameter lines of {unreadable} "
                            f"(one '=' per line: no '=' inside their comments)")

    sync = "(run `python -m glmeval_utils sync`)"
    badge_cells = [c for c in nb.cells if _tagged(c, BADGE_TAG)]
    expected_url = colab_url(path.stem, book_dir=book_dir)
    if not badge_cells:
        problems.append(f"{path.name}: no '{BADGE_TAG}' cell {sync}")
    elif expected_url not in badge_cells[0].source:
        problems.append(f"{path.name}: the Colab badge does not link to {expected_url} {sync}")
    elif badge_cells[0].source != _badge_source(path.stem, book_dir):
        problems.append(f"{path.name}: the '{BADGE_TAG}' cell differs from the generated one {sync}")
    setup_cells = [c for c in nb.cells if c.cell_type == "code" and _tagged(c, SETUP_TAG)]
    if not setup_cells:
        problems.append(f"{path.name}: no '{SETUP_TAG}' code cell {sync}")
    elif setup_cells[0].source != _setup_source(book_dir):
        problems.append(f"{path.name}: the '{SETUP_TAG}' cell differs from the one the repository setting "
                        f"and COLAB_NO_DEPS_PINS give {sync}")
    return problems


def strip_outputs(path: str | os.PathLike) -> bool:
    """Remove outputs and execution counts from a notebook in place; True if it changed."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    if nbformat.writes(nb) == before:
        return False
    nbformat.write(nb, path)
    return True


def error_outputs(path: str | os.PathLike) -> list[str]:
    """``ename: evalue`` of every error output in a notebook (cells tagged ``raises-exception`` excepted)."""
    nb = nbformat.read(Path(path), as_version=4)
    return [f"cell {i}: {out.get('ename')}: {out.get('evalue')}"
            for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and not _tagged(cell, "raises-exception")
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


# ----------------------------------------------------------------------------- execution
def _runs_this_python(argv: list[str]) -> bool:
    """Whether a kernelspec's command starts this interpreter.

    jupyter_client replaces a bare ``python``/``python3`` with ``sys.executable``
    of the launching process; an absolute path must sit in this environment's
    ``bin`` (not resolved: a venv's python is a symlink to the system one).
    """
    if not argv:
        return False
    major, minor = sys.version_info[:2]
    if argv[0] in {"python", f"python{major}", f"python{major}.{minor}"}:
        return True
    return Path(os.path.abspath(argv[0])).parent == Path(os.path.abspath(sys.executable)).parent


def default_kernel() -> str:
    """Name of a Jupyter kernel that runs this Python, registering one if needed.

    ``python3`` is used when it resolves to this interpreter; otherwise a
    kernelspec named :data:`KERNEL_NAME` is installed into ``sys.prefix``.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    def matching_kernel() -> str | None:
        specs = KernelSpecManager().get_all_specs()
        return next((name for name in ("python3", KERNEL_NAME)
                     if name in specs and _runs_this_python(specs[name]["spec"].get("argv", []))), None)

    name = matching_kernel()
    if name is None:
        from ipykernel.kernelspec import install

        install(kernel_name=KERNEL_NAME, display_name="Python (glmeval)", prefix=sys.prefix)
        name = matching_kernel()
    if name is None:
        raise RuntimeError(f"no Jupyter kernel runs {sys.executable}, and the kernelspec {KERNEL_NAME!r} installed "
                           f"into {sys.prefix} is shadowed by another of that name; pass kernel=... explicitly")
    return name


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _merge_timings(executed_dir: Path, rows: list[dict]) -> pd.DataFrame:
    """Merge this run's rows into ``timings.csv``; a partial rerun keeps the other chapters."""
    path = executed_dir / TIMINGS_CSV
    new = pd.DataFrame(rows, columns=TIMINGS_COLUMNS)
    if path.exists():
        old = pd.read_csv(path)
        merged = pd.concat([old[~old["notebook"].isin(new["notebook"])], new], ignore_index=True)
    else:
        merged = new
    merged = merged.reindex(columns=TIMINGS_COLUMNS).sort_values("notebook", ignore_index=True)
    for column in ("threads", "jobs"):  # rows of older runs have no count: blank
        merged[column] = merged[column].astype("Int64")
    _atomic_write_text(path, merged.to_csv(index=False))
    return merged


class NotebookExecutionError(RuntimeError):
    """A chapter notebook failed; the message names the notebook and the failing cell."""


def _running_cell(output: Path) -> tuple[int | None, str]:
    """Index and first line of the last cell papermill started in the executed notebook ``output``."""
    try:
        cells = nbformat.read(output, as_version=4).cells
    except (OSError, ValueError):  # nothing written yet, or a half-written file
        return None, ""
    # papermill stamps start_time when a cell starts; cells never reached keep none (their status is
    # rewritten to "completed" when the run ends, so it cannot tell them apart)
    started = [index for index, cell in enumerate(cells)
               if cell.get("metadata", {}).get("papermill", {}).get("start_time")]
    if not started:
        return None, ""
    source = cells[started[-1]].source
    return started[-1], next((line for line in source.splitlines() if line.strip()), "")


def _execution_error(notebook: Path, output: Path, exc: Exception, timeout: int | None) -> NotebookExecutionError:
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        first_line = next((line for line in (exc.source or "").splitlines() if line.strip()), "")
        message = (f"notebook {notebook.name} failed in cell {exc.cell_index} ({first_line!r}): "
                   f"{exc.ename}: {exc.evalue}; the partly executed notebook is {output}")
    elif isinstance(exc, CellTimeoutError):
        index, first_line = _running_cell(output)
        cell = f"cell {index} ({first_line!r})" if index is not None else "a cell"
        message = (f"notebook {notebook.name} timed out: {cell} ran longer than the limit of {timeout} s per "
                   f"cell and was stopped; raise the limit (--timeout SECONDS, or timeout= of run_notebooks) "
                   f"if the cell is only slow; the partly executed notebook is {output}")
    else:
        message = f"notebook {notebook.name} could not be executed: {type(exc).__name__}: {exc}"
    return NotebookExecutionError(message)


def cell_timeout(profile: str, timeout: int | str | None = "profile") -> int | None:
    """The limit in seconds on one cell of a chapter run with ``profile``.

    Parameters
    ----------
    profile : {"smoke", "demo", "full"}
    timeout : int, None or "profile"
        Seconds (≥ 1); ``None`` for no limit; ``"profile"`` for the
        profile's default (:data:`CELL_TIMEOUTS`).

    Returns
    -------
    int or None
    """
    if isinstance(timeout, str):
        if timeout != "profile":
            raise ValueError(f"timeout must be a number of seconds, None or 'profile', got {timeout!r}")
        return CELL_TIMEOUTS[profile]
    return positive_int(timeout, "timeout", allow_none=True)


def default_threads() -> int:
    """CPU threads of each chapter's kernel when none are asked for: torch's own choice here.

    That is ``OMP_NUM_THREADS`` when set, else torch's default (usually the
    physical cores): what a kernel would pick by itself.  The run then fixes
    and records the number rather than leaving it to each kernel.
    """
    import torch

    return torch.get_num_threads()


@contextlib.contextmanager
def _environment(**variables: str):
    """Set environment variables (inherited by the kernels papermill starts), restored afterwards."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_notebooks(
    profile: str = "demo",
    *,
    device: str = "auto",
    kernel: str | None = None,
    only: str | Iterable[str] | None = None,
    notebooks_dir: str | os.PathLike | None = None,
    executed_dir: str | os.PathLike | None = None,
    timeout: int | str | None = "profile",
    threads: int | None = None,
    jobs: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """Execute the chapter notebooks in order with papermill.

    Each notebook runs with the executed folder as working directory and the
    parameters ``profile``, ``device`` and ``output_dir`` (``"results"``, relative
    to that folder, so that no page names the builder's machine), where every
    chapter appends its results.
    Wall times and thread counts are merged into ``<executed_dir>/timings.csv``.

    Parameters
    ----------
    profile : {"smoke", "demo", "full"}
        Run profile passed to every notebook.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``), ``"mps"``.
    kernel : str, optional
        Jupyter kernel name (default: :func:`default_kernel`, this Python).
    only : str or iterable of str, optional
        Notebook name prefixes to run (``"01"``); default all.  An empty
        prefix is an error (see :func:`find_notebooks`).
    notebooks_dir, executed_dir : path, optional
        Source notebooks (default ``notebooks/``) and output folder
        (default ``book/executed/``).
    timeout : int, None or "profile"
        Limit in seconds on each cell; a cell still running then is stopped
        and the run fails naming the notebook and the cell.  ``"profile"``
        (default) takes :data:`CELL_TIMEOUTS` (smoke 10 min, demo 60 min,
        full none); ``None`` sets no limit.
    threads : int, optional
        CPU threads of every kernel (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``;
        default :func:`default_threads`).  Torch results depend on it in the
        last digits, so it is fixed for the whole run and recorded in
        ``timings.csv``; pass the recorded number to reproduce a run exactly.
        With ``jobs`` > 1 the default is the cores divided among the jobs.
    jobs : int
        Chapters executed side by side (each in its own kernel), the longest
        first by the last run's ``timings.csv`` (:func:`longest_first`); the last
        notebook (the summary, which reads every chapter's results) runs alone
        after the others.  On a few CPU cores two one-thread kernels get more
        done than one two-thread kernel, whose small convolutions parallelise
        poorly (``benchmarks/chapter_jobs.py``).  Models another chapter
        trained on the same rows come from the trained-model cache when that
        chapter finished first, and are trained again otherwise.
    progress : bool
        Show papermill's per-cell progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per notebook run now: ``notebook, profile, seconds, status, threads, jobs, start, end``
        (``start``/``end``: Unix times, so side-by-side chapters show their overlap).

    Raises
    ------
    NotebookExecutionError
        When a notebook fails or a cell runs past ``timeout``; the message
        names the notebook, the cell index, the first line of the cell and
        the exception.  Later notebooks are not run.
    """
    if profile not in PROFILE_NAMES:
        raise ValueError(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILE_NAMES)}")
    if not DEVICE_PATTERN.match(device):
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")
    timeout = cell_timeout(profile, timeout)
    jobs = positive_int(jobs, "jobs")
    threads = (max(1, default_threads() // jobs) if threads is None else positive_int(threads, "threads"))
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else default_notebooks_dir()
    notebooks = find_notebooks(notebooks_dir, only)
    if not notebooks:
        raise FileNotFoundError(f"no notebooks matching {NOTEBOOK_PATTERN} in {notebooks_dir}")
    executed_dir = (Path(executed_dir) if executed_dir is not None
                    else default_book_dir() / EXECUTED_DIRNAME).resolve()
    results_dir = executed_dir / RESULTS_DIRNAME
    results_dir.mkdir(parents=True, exist_ok=True)
    kernel = kernel or default_kernel()
    parameters = {"profile": profile, "device": device, "output_dir": RESULTS_DIRNAME}
    run = dict(profile=profile, threads=threads, jobs=jobs)

    rows = []
    # Progress bars inside a static page are noise; papermill reports per-cell progress instead.
    with _environment(TQDM_DISABLE="1", **{name: str(threads) for name in THREAD_VARIABLES}):
        _execute(notebooks, executed_dir, parameters, kernel, run, timeout, progress and jobs == 1, rows)
    _merge_timings(executed_dir, rows)
    return pd.DataFrame(rows, columns=TIMINGS_COLUMNS)


def _execute_one(notebook: Path, executed_dir: Path, parameters: dict, kernel: str, run: dict,
                 timeout: int | None, progress: bool) -> dict:
    """Execute one notebook; its timing row (with ``run``'s fields), status ``"ok"`` or ``"failed"``.

    A failure is returned as the row's ``error`` (a :class:`NotebookExecutionError`), not raised,
    so side-by-side runs can record every chapter's time before the run stops.
    """
    import papermill

    output = executed_dir / notebook.name
    start = time.time()
    row = dict(notebook=notebook.stem, start=round(start, 1), **run)
    try:
        papermill.execute_notebook(str(notebook), str(output), parameters=parameters, kernel_name=kernel,
                                   language="python", cwd=str(executed_dir), progress_bar=progress,
                                   execution_timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - returned with the notebook named
        end = time.time()
        error = _execution_error(notebook, output, exc, timeout)
        error.__cause__ = exc
        return dict(row, seconds=round(end - start, 1), status="failed", end=round(end, 1), error=error)
    prepare_for_publishing(output)
    end = time.time()
    return dict(row, seconds=round(end - start, 1), status="ok", end=round(end, 1))


def longest_first(notebooks: Sequence[Path], executed_dir: Path, profile: str) -> list[Path]:
    """``notebooks`` ordered for side-by-side execution: longest first, by the last run's times.

    Two lanes finish soonest when the longest chapters start first (longest
    processing time first).  The seconds come from ``timings.csv`` rows of the
    same profile that finished ``ok``; a chapter without one comes first (it
    may be long), and ties keep the book's order.  Without a ``timings.csv``
    the book's order is kept.

    Parameters
    ----------
    notebooks : sequence of Path
    executed_dir : Path
        Folder holding the last run's ``timings.csv``.
    profile : str

    Returns
    -------
    list of Path
    """
    path = executed_dir / TIMINGS_CSV
    if not path.exists():
        return list(notebooks)
    try:
        last = pd.read_csv(path)
        last = last[(last["profile"] == profile) & (last["status"] == "ok")].dropna(subset=["seconds"])
        seconds = dict(zip(last["notebook"], last["seconds"].astype(float)))
    except (ValueError, KeyError, pd.errors.ParserError):  # an unreadable file orders nothing
        return list(notebooks)
    return sorted(notebooks, key=lambda notebook: -seconds.get(notebook.stem, float("inf")))


def _execute(notebooks, executed_dir: Path, parameters: dict, kernel: str, run: dict,
             timeout: int | None, progress: bool, rows: list) -> None:
    """Execute ``notebooks`` (``run["jobs"]`` at a time, longest first, the last one alone), appending timing rows.

    The first failure (in start order) is raised once the running chapters
    have finished and every finished chapter's row is recorded; chapters not
    started by then are not run.
    """
    from concurrent.futures import ThreadPoolExecutor

    def record(*finished: dict) -> None:
        errors = [row.pop("error", None) for row in finished]
        rows.extend(finished)
        error = next((error for error in errors if error is not None), None)
        if error is not None:
            _merge_timings(executed_dir, rows)
            raise error

    args = (executed_dir, parameters, kernel, run, timeout, progress)
    *side_by_side, last = notebooks
    if run["jobs"] == 1 or len(side_by_side) < 2:
        for notebook in notebooks:
            record(_execute_one(notebook, *args))
        return
    side_by_side = longest_first(side_by_side, executed_dir, run["profile"])
    failed = []

    def unless_failed(notebook):
        if failed:  # a chapter failed: start nothing new
            return None
        row = _execute_one(notebook, *args)
        if row["status"] == "failed":
            failed.append(row)
        return row

    with ThreadPoolExecutor(max_workers=run["jobs"]) as pool:
        results = list(pool.map(unless_failed, side_by_side))
    record(*(row for row in results if row is not None))
    record(_execute_one(last, *args))


# ----------------------------------------------------------------------------- book
def prepare_for_publishing(path: str | os.PathLike) -> None:
    """Shape an executed chapter for the published page, in place.

    * The cell tagged ``at-a-glance`` (the chapter's verdict, from its
      ``report()``) moves right under the chapter title, its code hidden and
      its output framed as an "At a glance" box; the "At a glance" heading
      that introduced it in the notebook goes.
    * The cell papermill injected is removed from the page, and papermill's
      record of the input and output notebooks keeps their names only: the
      downloadable notebook names no folder of the builder's machine.
    * stderr keeps the warnings that inform, without progress bars or the
      builder's folders (:func:`publishable_stderr`).

    Colab readers open the source notebook, where the box sits where it is computed.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    record = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if record.get(key):
            record[key] = Path(record[key]).name
    for cell in nb.cells:
        if _tagged(cell, INJECTED_TAG):
            cell.metadata.setdefault("tags", []).append("remove-cell")
        if cell.cell_type == "code":
            for output in cell.outputs:
                if output.get("name") == "stderr":
                    output["text"] = publishable_stderr(output["text"])
            cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr" or o["text"]]
    glance = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and _tagged(cell, GLANCE_TAG)]
    if glance:
        index = glance[0]
        cell = nb.cells[index]
        heading = index > 0 and nb.cells[index - 1].cell_type == "markdown" and \
            nb.cells[index - 1].source.strip().lstrip("#").strip().lower() == "at a glance"
        del nb.cells[index - 1 if heading else index:index + 1]
        cell.metadata["tags"] = [*cell.metadata.get("tags", []), "remove-input"]
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/markdown")
            if text:
                output["data"]["text/markdown"] = f":::{{admonition}} At a glance\n:class: tip\n{text}\n:::"
        title = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("# "))
        first, _, rest = nb.cells[title].source.partition("\n")
        nb.cells[title].source = first
        nb.cells[title + 1:title + 1] = [cell] + ([nbformat.v4.new_markdown_cell(rest.strip())] if rest.strip() else [])
    nbformat.write(nb, path)


def _warning_location(path: str) -> str:
    """A warning's source as a reader can place it: the cell, the project file, or the file in its package."""
    if re.search(r"/ipykernel_\d+/\d+\.py$", path):
        return "this cell, line"
    installed = re.search(r"/(?:site|dist)-packages/(.+)$", path)
    if installed:
        return f"{installed[1]}, line"
    root = project_root()
    inside = root is not None and Path(path).is_relative_to(root)
    return f"{Path(path).relative_to(root) if inside else Path(path).name}, line"


def publishable_stderr(text: str) -> str:
    """A cell's stderr as a page shows it: warnings without the builder's folders, no progress bars.

    Progress-bar updates and lines a terminal would overwrite (ending in a
    carriage return) are cut out, text written after a bar on the same line
    stays, and warnings about the building kernel are dropped; a warning's
    location becomes the cell, the project file or the file inside its package.
    """
    records: list[list[str]] = []
    for line in text.splitlines(keepends=True):
        if line.endswith("\r"):
            continue  # a terminal overwrites it with the next line
        if PROGRESS_BAR.search(line):
            line = PROGRESS_BAR.sub("", line)
            if not line.strip():
                continue
        if (line[:1].isspace() or not line.strip()) and records:
            records[-1].append(line)  # a warning's source line, or a blank line inside a message
        elif line.strip():
            records.append([line])
    kept = []
    for first, *rest in records:
        if any(noise in first for noise in NOT_FOR_READERS):
            continue
        located = WARNING_LOCATION.match(first)
        if located:
            first = f"{_warning_location(located['path'])} {located['line']}: {located['message']}"
        kept.append(first + "".join(rest))
    return "".join(kept)


def timings_markdown(timings_csv: str | os.PathLike) -> str:
    """Markdown table of measured time per chapter (a note when nothing was measured yet)."""
    timings_csv = Path(timings_csv)
    if not timings_csv.exists():
        return "*Not measured yet: run `make book` (or `python -m glmeval_utils run`).*\n"
    table = pd.read_csv(timings_csv)
    lines = ["| Chapter | Profile | Time (min:s) | Status |", "|---|---|---:|---|"]
    for row in table.itertuples():
        minutes, seconds = divmod(round(float(row.seconds)), 60)
        lines.append(f"| {row.notebook} | {row.profile} | {minutes}:{seconds:02d} | {row.status} |")
    total_minutes, total_seconds = divmod(round(float(table["seconds"].sum())), 60)
    lines.append(f"| **total** | | **{total_minutes}:{total_seconds:02d}** | |")
    side_by_side = table[table["jobs"] > 1] if "jobs" in table.columns else table.iloc[:0]
    if len(side_by_side) and {"start", "end"} <= set(table.columns):
        wall_minutes, wall_seconds = divmod(round(float(table["end"].max() - table["start"].min())), 60)
        lines += ["", f"Up to {int(side_by_side['jobs'].max())} chapters ran side by side "
                  f"({', '.join(str(nb)[:2] for nb in side_by_side['notebook'])}), so the total is more than the "
                  f"time the run took: **{wall_minutes}:{wall_seconds:02d}** from the first chapter's start to the "
                  "last one's end."]
    if "threads" in table.columns and table["threads"].notna().any():
        counts = table.dropna(subset=["threads"]).groupby("threads", sort=True)["notebook"]
        runs = "; ".join(f"{int(n)} ({', '.join(str(nb)[:2] for nb in group)})" for n, group in counts)
        lines += ["", f"CPU threads per chapter: {runs}. Torch results differ in the last digits between "
                  "thread counts; `python -m glmeval_utils run --threads N` reproduces a count."]
    return "\n".join(lines) + "\n"


def _table_cell(text) -> str:
    """Text that stays inside one cell of a markdown table."""
    return "" if pd.isna(text) else str(text).replace("|", "\\|").replace("\n", " ")


def verdicts_markdown(executed_dir: str | os.PathLike) -> str:
    """Markdown table of the verdict on every claim, as the summary chapter (10) computed and saved it."""
    path = Path(executed_dir) / RESULTS_DIRNAME / VERDICTS_CSV
    if not path.exists():
        return "*Not computed yet: the summary chapter (10) writes the verdicts when it runs.*\n"
    verdicts = pd.read_csv(path)
    lines = ["| The paper's claim | Verdict in this build | The number behind it |", "|---|---|---|"]
    lines += [f"| {_table_cell(row.text)} | **{_table_cell(row.verdict)}** | {_table_cell(row.number)} |"
              for row in verdicts.itertuples()]
    return "\n".join(lines) + "\n"


def data_markdown(executed_dir: str | os.PathLike) -> str:
    """Markdown: the profile(s) that executed the chapters and the data sets their results come from.

    The data sets are read from the ``task`` and ``dataset`` columns of the
    results the chapters wrote (``<executed_dir>/results``), so the page states
    what this build used, not what a profile could use.
    """
    from glmeval_utils.data.registry import DATASETS

    executed_dir = Path(executed_dir)
    timings_csv, results_dir = executed_dir / TIMINGS_CSV, executed_dir / RESULTS_DIRNAME
    if not timings_csv.exists():
        return "*No chapter has been executed yet: the data depend on the profile of that run.*\n"
    timings = pd.read_csv(timings_csv)
    runs = "; ".join(f"`{profile}` ({', '.join(str(n)[:2] for n in group['notebook'])})"
                     for profile, group in timings.groupby("profile", sort=False))
    used = set()
    for path in sorted(results_dir.glob("*.csv*")):
        if {"task", "dataset"} <= set(pd.read_csv(path, nrows=0).columns):
            pairs = pd.read_csv(path, usecols=["task", "dataset"]).drop_duplicates()
            used |= set(pairs.itertuples(index=False, name=None))

    lines = [f"Chapters executed with the profile {runs}. Their results come from these data sets:", "",
             "| Task | Data set | Source | Difference from the paper's data |", "|---|---|---|---|"]
    for task, name in sorted(used):
        spec = DATASETS.get(name)
        source, note = (spec.citation, spec.paper_note) if spec else ("made in the chapter", "not a data set of the paper")
        lines.append(f"| {_table_cell(task)} | `{_table_cell(name)}` | {_table_cell(source)} | {_table_cell(note)} |")
    if not used:
        lines.append("| | *no results were written* | | |")
    return "\n".join(lines) + "\n"


def _filter_toc(node, keep):
    """Copy a toc structure, dropping entries ``{"file": f}`` for which ``keep(f)`` is False."""
    if isinstance(node, list):
        return [_filter_toc(entry, keep) for entry in node
                if not (isinstance(entry, dict) and "file" in entry and not keep(entry["file"]))]
    if isinstance(node, dict):
        return {key: _filter_toc(value, keep) for key, value in node.items()}
    return node


def _toc_files(node) -> list[str]:
    if isinstance(node, list):
        return [f for entry in node for f in _toc_files(entry)]
    if isinstance(node, dict):
        own = [node["file"]] if "file" in node else []
        return own + [f for key, value in node.items() if key != "file" for f in _toc_files(value)]
    return []


def book_chapters(book_dir: str | os.PathLike | None = None,
                  notebooks_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """State of every executed chapter in the toc: ``"executed"``, ``"not executed"`` or ``"not written"``.

    A chapter is "not written" when neither its executed copy nor its source
    notebook exists; such chapters are left out of the build.
    """
    book_dir = Path(book_dir) if book_dir is not None else default_book_dir()
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else book_dir.parent / "notebooks"
    toc = yaml.safe_load((book_dir / "_toc.yml").read_text())
    states = {}
    for file in _toc_files(toc):
        if not file.startswith(f"{EXECUTED_DIRNAME}/"):
            continue
        stem = Path(file).name.removesuffix(".ipynb")
        if (book_dir / EXECUTED_DIRNAME / f"{stem}.ipynb").exists():
            states[file] = "executed"
        elif (notebooks_dir / f"{stem}.ipynb").exists():
            states[file] = "not executed"
        else:
            states[file] = "not written"
    return states


def build_book(
    book_dir: str | os.PathLike | None = None,
    *,
    builder: str = "html",
    notebooks_dir: str | os.PathLike | None = None,
    timeout: int | None = BUILD_TIMEOUT,
) -> Path:
    """Render the executed notebooks with jupyter-book 1.x and return the output folder.

    Chapters of ``_toc.yml`` under ``executed/`` are checked first: a chapter
    whose source notebook exists but was not executed, or whose executed copy
    holds error outputs, stops the build with a message saying how to run it;
    a chapter with neither source nor executed notebook (not written yet) is
    left out of a generated toc.  The measured time per chapter
    (``executed/timings.csv``) is written as ``executed/timings.md``, and the
    data sets of the profile that ran them as ``executed/data.md``, the verdicts
    chapter 10 saved as ``executed/verdicts.md``; ``intro.md`` includes all three.

    Parameters
    ----------
    book_dir : path, optional
        The book (default: the checkout's ``book/``).
    builder : {"html", "dirhtml", "singlehtml", "latex"}
    notebooks_dir : path, optional
        Source notebooks (default: ``notebooks/`` next to the book).
    timeout : int or None
        Limit in seconds on ``jupyter-book build`` (default
        :data:`BUILD_TIMEOUT`); ``None`` for no limit.

    Returns
    -------
    Path
        ``<book_dir>/_build/html`` for the html builder.
    """
    if builder not in BUILDER_OUTPUT:
        raise ValueError(f"unknown builder {builder!r}; use one of {sorted(BUILDER_OUTPUT)}")
    timeout = positive_int(timeout, "timeout", allow_none=True)
    book_dir = (Path(book_dir) if book_dir is not None else default_book_dir()).resolve()
    if not (book_dir / "_toc.yml").exists() or not (book_dir / "_config.yml").exists():
        raise FileNotFoundError(f"{book_dir} is not a book: _toc.yml or _config.yml is missing")
    states = book_chapters(book_dir, notebooks_dir)
    not_executed = [f for f, state in states.items() if state == "not executed"]
    if not_executed:
        prefixes = " ".join(Path(f).name[:2] for f in not_executed)
        raise FileNotFoundError(
            f"chapters not executed yet: {', '.join(not_executed)}; run "
            f"`python -m glmeval_utils run --only {prefixes}` (or `make book`) first")
    failed = {f: errors for f in states if states[f] == "executed"
              if (errors := error_outputs(book_dir / f"{f}.ipynb"))}
    if failed:
        details = "; ".join(f"{f} ({errors[0]})" for f, errors in failed.items())
        raise RuntimeError(f"executed chapters hold errors: {details}; fix them and rerun "
                           f"`python -m glmeval_utils run --only ...`")

    executed_dir = book_dir / EXECUTED_DIRNAME
    _atomic_write_text(executed_dir / TIMINGS_MD, timings_markdown(executed_dir / TIMINGS_CSV))
    _atomic_write_text(executed_dir / DATA_MD, data_markdown(executed_dir))
    _atomic_write_text(executed_dir / VERDICTS_MD, verdicts_markdown(executed_dir))
    toc = _filter_toc(yaml.safe_load((book_dir / "_toc.yml").read_text()),
                      lambda f: states.get(f, "executed") == "executed")
    build_dir = book_dir / "_build"
    generated_toc = build_dir / "_toc.generated.yml"
    _atomic_write_text(generated_toc, yaml.safe_dump(toc, sort_keys=False))

    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    if not jupyter_book.exists():
        raise FileNotFoundError(f"jupyter-book is not installed next to {sys.executable}; "
                                f"install the book extra: pip install -e '.[book]'")
    command = [str(jupyter_book), "build", str(book_dir), "--builder", builder, "--toc", str(generated_toc)]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as expired:  # subprocess.run has killed it
        output = expired.stdout or ""
        output = (output.decode(errors="replace") if isinstance(output, bytes) else output)
        tail = "\n".join(output.splitlines()[-30:])
        raise RuntimeError(f"jupyter-book build of {book_dir} was stopped after the limit of {timeout} s; "
                           f"raise it (--timeout SECONDS, or timeout= of build_book) if the build is only "
                           f"slow. Its last output:\n{tail}") from None
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-30:])
        raise RuntimeError(f"jupyter-book build of {book_dir} failed (exit {completed.returncode}):\n{tail}")
    return build_dir / BUILDER_OUTPUT[builder]
