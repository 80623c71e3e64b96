"""Publish the built book as a static site on the repository's pages branch.

``python -m glmeval_utils publish`` commits ``book/_build/html`` to the
``gh-pages`` branch with ghp-import (one commit, no history, a ``.nojekyll``
file so that Sphinx's ``_static`` folders are served) and pushes it; the branch is
replaced each time, so a custom domain belongs in the repository's Pages settings.
GitHub Pages then serves it at the address derived from the repository
setting of ``book/_config.yml``.  ``--dry-run`` lists what would be published
and publishes nothing.  A book whose pages name a folder of the builder's
machine is refused: readers would see it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from glmeval_utils.book import BUILDER_OUTPUT, default_book_dir, repository_setting
from glmeval_utils import paths

PAGES_BRANCH = "gh-pages"
#: Files whose text a reader can open from the site (pages, the downloadable notebooks, search index).
TEXT_SUFFIXES = (".html", ".ipynb", ".md", ".txt", ".js", ".json")


@dataclass(frozen=True)
class PublishPlan:
    """What :func:`publish_book` publishes (or would publish, in a dry run)."""

    html_dir: Path
    files: list[str]
    branch: str
    remote: str
    url: str


def builder_folders(book_dir: str | os.PathLike) -> list[str]:
    """Folders of the building machine that must not appear in a published page, longest first.

    The book and the checkout (as given and resolved), the data cache and
    mirror, the installed packages and the standard library, and the home folder.
    """
    candidates = [Path(book_dir), paths.cache_dir(), *(Path(sysconfig.get_paths()[key])
                                                       for key in ("purelib", "platlib", "stdlib"))]
    if paths.project_root() is not None:
        candidates.append(paths.project_root())
    mirror = os.environ.get("GLMEVAL_MIRROR", "")
    if mirror and "://" not in mirror:
        candidates.append(Path(mirror))
    try:
        candidates.append(Path.home())
    except RuntimeError:  # no home folder is known
        pass
    folders = {str(folder) for candidate in candidates
               for folder in (candidate.expanduser().absolute(), candidate.expanduser().resolve())
               if len(folder.parts) > 1}
    return sorted(folders, key=len, reverse=True)


def pages_naming_builder_folders(html_dir: str | os.PathLike, folders: list[str]) -> dict[str, str]:
    """``{file: folder}`` for each published text file that names one of ``folders``.

    A folder counts where it starts a path (not inside a longer one or a URL:
    ``/docs`` does not match ``https://example.org/docs/``) and is followed by
    a separator, a quote, a space or the end of the text.
    """
    patterns = {folder: re.compile(r"(?<![\w.:/~-])" + re.escape(folder.rstrip(os.sep)) + r"(?=[/\\'\"\s<]|$)")
                for folder in folders}
    html_dir = Path(html_dir)
    found = {}
    for path in sorted(html_dir.rglob("*")):
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            text = path.read_text(errors="replace")
            folder = next((f for f, pattern in patterns.items() if pattern.search(text)), None)
            if folder:
                found[str(path.relative_to(html_dir))] = folder
    return found


def publish_book(
    book_dir: str | os.PathLike | None = None,
    *,
    branch: str = PAGES_BRANCH,
    remote: str = "origin",
    push: bool = True,
    dry_run: bool = False,
) -> PublishPlan:
    """Commit the built html book to ``branch`` and push it to ``remote``.

    Parameters
    ----------
    book_dir : path, optional
        The book (default: the checkout's ``book/``), built beforehand with
        ``python -m glmeval_utils build``.
    branch, remote : str
        The pages branch and the git remote it is pushed to.
    push : bool
        Push after committing (``False``: commit to the local branch only).
    dry_run : bool
        Only work out the plan: nothing is committed or pushed.

    Returns
    -------
    PublishPlan
        The published folder, its files (relative paths, sorted), the branch,
        the remote and the address the site will have.

    Raises
    ------
    FileNotFoundError
        When the book has not been built.
    ValueError
        When a published file names a folder of the builder's machine.
    RuntimeError
        When ghp-import fails (its message is included).
    """
    book_dir = (Path(book_dir) if book_dir is not None else default_book_dir()).resolve()
    html_dir = book_dir / "_build" / BUILDER_OUTPUT["html"]
    if not (html_dir / "index.html").exists():
        raise FileNotFoundError(f"{html_dir} holds no built book; run `python -m glmeval_utils build` "
                                f"(or `make book`) first")
    leaks = pages_naming_builder_folders(html_dir, builder_folders(book_dir))
    if leaks:
        listed = "; ".join(f"{page} names {folder}" for page, folder in list(leaks.items())[:5])
        raise ValueError(f"refusing to publish {html_dir}: {len(leaks)} file(s) name folders of the "
                         f"machine that built it ({listed})")
    files = sorted(str(p.relative_to(html_dir)) for p in html_dir.rglob("*") if p.is_file())
    plan = PublishPlan(html_dir=html_dir, files=files, branch=branch, remote=remote,
                       url=repository_setting(book_dir).pages_url)
    if dry_run:
        return plan
    ghp_import = Path(sys.executable).parent / "ghp-import"
    if not ghp_import.exists():
        raise FileNotFoundError(f"ghp-import is not installed next to {sys.executable}; "
                                f"install the book extra: pip install -e '.[book]'")
    source = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=book_dir, capture_output=True,
                            text=True).stdout.strip() or "unknown commit"
    command = [str(ghp_import), "--no-jekyll", "--no-history", "--force", "--branch", branch,
               "--remote", remote, "--message", f"Publish the book built from {source}",
               *(["--push"] if push else []), str(html_dir)]
    completed = subprocess.run(command, cwd=book_dir, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"ghp-import failed (exit {completed.returncode}): "
                           f"{(completed.stderr or completed.stdout).strip()[-2000:]}")
    return plan
