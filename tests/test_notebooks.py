"""Execute the chapter notebooks (smoke profile), build the book and render it in headless Chromium.

The real chapters in notebooks/ are parametrised (no cases while none exist);
a tiny notebook drawing one figure checks the same machinery end to end.
"""

import base64
import io
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import yaml
from PIL import Image

from glmeval_utils import book

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
REAL_NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob(book.NOTEBOOK_PATTERN))
BOOK_FILES = ("_config.yml", "_toc.yml", "intro.md", "references.md", "references.bib")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("headless Chromium is not installed (`make chromium` installs it)")
    return found


def copy_book(destination: Path, toc: dict | None = None) -> Path:
    """The project's book configuration in ``destination`` (optionally with another toc)."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in BOOK_FILES:
        shutil.copy(ROOT / "book" / name, destination / name)
    if toc is not None:
        (destination / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    return destination


class _ImageSources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs).get("src", ""))


def rendered_dom(page: Path, profile_dir: Path) -> str:
    """The page's DOM after Chromium has loaded and laid it out."""
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "--dump-dom", page.as_uri()]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def local_figures(page: Path, dom: str) -> list[tuple[int, int]]:
    """(width, height) of every local or inline image of a page; fails on one that does not decode."""
    parser = _ImageSources()
    parser.feed(dom)
    sizes = []
    for source in parser.sources:
        if source.startswith(("http://", "https://")):
            continue  # remote badges; the tests run offline
        if source.startswith("data:"):
            header, _, payload = source.partition(",")
            assert ";base64" in header, f"{page.name}: inline image is not base64: {header}"
            data = base64.b64decode(payload)
        else:
            image_path = (page.parent / source.split("#")[0].split("?")[0]).resolve()
            assert image_path.exists(), f"{page.name}: image {source} does not exist"
            data = image_path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            sizes.append(image.size)
    return sizes


def image_outputs(notebook: Path) -> int:
    nb = nbformat.read(notebook, as_version=4)
    return sum("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", []))


def check_chapter_renders(html_dir: Path, executed_notebook: Path, profile_dir: Path) -> None:
    """The chapter's page shows every figure of its executed notebook and no traceback."""
    page = html_dir / "executed" / f"{executed_notebook.stem}.html"
    assert page.exists(), f"{page} was not built"
    dom = rendered_dom(page, profile_dir)
    assert "Traceback" not in dom, f"{page.name} shows a traceback"
    sizes = local_figures(page, dom)
    assert len(sizes) >= image_outputs(executed_notebook), f"{page.name}: figures missing from the page"
    assert all(width > 0 and height > 0 for width, height in sizes), f"{page.name}: empty image {sizes}"


# ----------------------------------------------------------------------------- the machinery
def test_a_tiny_chapter_runs_builds_and_renders(tmp_path, write_notebook):
    notebooks = tmp_path / "notebooks"
    write_notebook(notebooks / "00_tiny.ipynb", [
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(figsize=(3, 2))\n"
        "ax.plot([0, 1, 2], [0, 1, 4])\n"
        "ax.set_xlabel('position (bp)')\n"
        "ax.set_ylabel('signal (a.u.)')\n"
        "plt.show()",
        "print(f'{profile=} {device=}')",
    ])
    book.sync_notebook_headers(notebooks)
    book_dir = copy_book(tmp_path / "book", toc={
        "format": "jb-book", "root": "intro",
        "chapters": [{"file": "executed/00_tiny"}, {"file": "executed/01_unwritten"}, {"file": "references"}]})
    timings = book.run_notebooks("smoke", notebooks_dir=notebooks, executed_dir=book_dir / "executed",
                                 progress=False)
    assert list(timings["status"]) == ["ok"]
    executed = book_dir / "executed" / "00_tiny.ipynb"
    assert image_outputs(executed) == 1

    html_dir = book.build_book(book_dir, notebooks_dir=notebooks)
    assert html_dir == book_dir / "_build" / "html"
    assert not (html_dir / "executed" / "01_unwritten.html").exists()
    check_chapter_renders(html_dir, executed, tmp_path / "chromium")
    page = (html_dir / "executed" / "00_tiny.html").read_text()
    assert "profile='smoke'" in page and book.colab_url("00_tiny") in page
    intro = (html_dir / "intro.html").read_text()
    assert "00_tiny" in intro and "Measured time per chapter" in intro  # the timings table is included
    assert "Tang" in (html_dir / "references.html").read_text()


# ----------------------------------------------------------------------------- the real chapters
@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory):
    """Every real notebook executed with the smoke profile into a temporary book."""
    if not REAL_NOTEBOOKS:
        pytest.skip("no chapter notebooks yet")
    if not os.environ.get("GLMEVAL_MIRROR") and os.environ.get("GLMEVAL_NETWORK_TESTS") != "1":
        pytest.skip("the chapters need data: set GLMEVAL_MIRROR to an offline mirror "
                    "(or GLMEVAL_NETWORK_TESTS=1 to download)")
    book_dir = copy_book(tmp_path_factory.mktemp("smoke") / "book")
    # The smoke teaching gLMs and embeddings go to their own cache, so a test run never
    # replaces the demo models a user pretrained for the book.
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path_factory.mktemp("smoke-cache")))
    failure = None
    try:
        book.run_notebooks("smoke", notebooks_dir=NOTEBOOKS_DIR, executed_dir=book_dir / "executed",
                           progress=False)
    except book.NotebookExecutionError as error:
        failure = str(error)
    finally:
        monkeypatch.undo()
    return book_dir, failure


@pytest.mark.parametrize("notebook", REAL_NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_runs_with_the_smoke_profile(smoke_book, notebook):
    book_dir, failure = smoke_book
    if failure and notebook.name in failure:
        pytest.fail(failure)
    executed = book_dir / "executed" / notebook.name
    assert executed.exists(), f"not run because an earlier chapter failed: {failure}"
    assert book.error_outputs(executed) == []
    status = book.timings_markdown(book_dir / "executed" / book.TIMINGS_CSV)
    assert f"| {notebook.stem} | smoke |" in status


@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="no chapter notebooks yet")
def test_the_smoke_book_builds_and_renders(smoke_book, tmp_path):
    book_dir, failure = smoke_book
    assert failure is None, failure
    html_dir = book.build_book(book_dir, notebooks_dir=NOTEBOOKS_DIR)
    for notebook in REAL_NOTEBOOKS:
        check_chapter_renders(html_dir, book_dir / "executed" / notebook.name, tmp_path / "chromium")
