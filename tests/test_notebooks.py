"""Execute the chapter notebooks (smoke profile), build the book and render it in headless Chromium.

The real chapters in notebooks/ are parametrised (no cases while none exist);
a tiny notebook drawing one figure checks the same machinery end to end.
Each built page is read as a reader sees it: laid out by Chromium at a laptop's
window size, with a screenshot of its first screen kept in the test's temporary
folder for a human to look at when a check fails.
"""

import base64
import io
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import yaml
from PIL import Image

from glmeval_utils import book
from glmeval_utils.publish import builder_folders, pages_naming_builder_folders

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
REAL_NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob(book.NOTEBOOK_PATTERN))
BOOK_FILES = ("_config.yml", "_toc.yml", "intro.md", "references.md", "references.bib")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,900", "--hide-scrollbars"]
PROGRESS_BAR = re.compile(r"\d+%\|")
#: Run in each page once it has loaded: the content column's width and what it holds, in CSS pixels.
MEASURE_LAYOUT = """<script>
addEventListener("load", () => {
  const article = document.querySelector("article.bd-article") || document.body;
  const style = getComputedStyle(article);
  const column = article.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const widths = selector => [...article.querySelectorAll(selector)].map(e => e.getBoundingClientRect().width);
  const glance = [...article.querySelectorAll(".admonition")].find(
    box => (box.querySelector(".admonition-title") || {}).textContent === "At a glance");
  const figure = article.querySelector(".cell_output img");
  const before = glance && (!figure || glance.compareDocumentPosition(figure) & Node.DOCUMENT_POSITION_FOLLOWING);
  const uncaptioned = [...article.querySelectorAll(".cell_output img")].filter(
    img => !(img.closest("figure") && img.closest("figure").querySelector("figcaption"))).length;
  document.body.dataset.layout = JSON.stringify({column, tables: widths("table"), figures: widths("img"),
    glance: glance ? (before ? "first" : "after a figure") : "missing", uncaptioned});
});
</script>"""


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
    shutil.copytree(ROOT / "book" / "_static", destination / "_static", dirs_exist_ok=True)
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


class _StderrBlocks(HTMLParser):
    """The text of each stderr output block of a page."""

    def __init__(self):
        super().__init__()
        self.blocks, self._depth = [], 0

    def handle_starttag(self, tag, attrs):
        if self._depth:
            self._depth += tag == "div"
        elif tag == "div" and "stderr" in (dict(attrs).get("class") or "").split():
            self.blocks.append("")
            self._depth = 1

    def handle_endtag(self, tag):
        if self._depth and tag == "div":
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.blocks[-1] += data


def stderr_blocks(dom: str) -> list[str]:
    parser = _StderrBlocks()
    parser.feed(dom)
    return parser.blocks


def _chromium(arguments: list, profile_dir: Path) -> str:
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def rendered_dom(page: Path, profile_dir: Path) -> tuple[str, dict]:
    """The page's DOM after Chromium has loaded and laid it out, and the layout measured then."""
    measured = page.with_name(f"{page.stem}.measured.html")
    measured.write_text(page.read_text().replace("</body>", MEASURE_LAYOUT + "</body>"))
    try:
        dom = _chromium(["--virtual-time-budget=10000", "--dump-dom", measured.as_uri()], profile_dir)
    finally:
        measured.unlink()
    found = re.search(r'data-layout="([^"]*)"', dom)
    assert found, f"{page.name}: the layout was not measured"
    return dom, json.loads(found[1].replace("&quot;", '"'))


def first_screen(page: Path, screenshots: Path, profile_dir: Path) -> Path:
    """A screenshot of what a reader sees first (1280x900), kept for a human to look at."""
    screenshots.mkdir(parents=True, exist_ok=True)
    picture = screenshots / f"{page.stem}.png"
    _chromium([f"--screenshot={picture}", page.as_uri()], profile_dir)
    assert picture.exists(), f"no screenshot of {page.name}"
    return picture


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


def check_chapter_renders(html_dir: Path, executed_notebook: Path, profile_dir: Path, *,
                          glance: bool = False, captions: bool = False) -> None:
    """The chapter's page reads as it should: figures, no traceback, no progress bars, nothing too wide.

    A screenshot of its first screen goes to ``<profile_dir>/screenshots``.
    With ``glance``, the "At a glance" box must come before the first figure;
    with ``captions``, every figure of an output has a caption.
    """
    page = html_dir / "executed" / f"{executed_notebook.stem}.html"
    assert page.exists(), f"{page} was not built"
    picture = first_screen(page, profile_dir / "screenshots", profile_dir)
    where = f"{page.name} (first screen: {picture})"
    dom, layout = rendered_dom(page, profile_dir)
    assert "Traceback" not in dom, f"{where} shows a traceback"
    sizes = local_figures(page, dom)
    assert len(sizes) >= max(1, image_outputs(executed_notebook)), f"{where}: figures missing from the page"
    assert all(width > 0 and height > 0 for width, height in sizes), f"{where}: empty image {sizes}"
    progress = [block[:80] for block in stderr_blocks(dom) if PROGRESS_BAR.search(block)]
    assert not progress, f"{where}: {len(progress)} progress-bar output(s), e.g. {progress[0]!r}"
    column = layout["column"]
    too_wide = [round(width) for width in layout["tables"] + layout["figures"] if width > column + 1]
    assert not too_wide, f"{where}: tables or figures {too_wide} px wide in a {column:.0f} px column"
    if glance:
        assert layout["glance"] == "first", f"{where}: the \"At a glance\" box is {layout['glance']}"
    if captions:
        assert layout["uncaptioned"] == 0, f"{where}: {layout['uncaptioned']} figure(s) without a caption"


def check_no_builder_folders(html_dir: Path, book_dir: Path, *more: Path) -> None:
    """No page, downloadable notebook or search index names a folder of the building machine."""
    folders = builder_folders(book_dir) + [str(Path(folder).resolve()) for folder in more]
    leaks = pages_naming_builder_folders(html_dir, folders)
    assert not leaks, f"pages naming the builder's folders: {leaks}"


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
        "import warnings\n"
        "from tqdm.auto import tqdm\n"
        "for _ in tqdm(range(3), desc='epochs', disable=False):  # a bar that ignores TQDM_DISABLE\n"
        "    pass\n"
        "warnings.warn('an informative warning')",
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
    check_no_builder_folders(html_dir, book_dir, notebooks)
    page = (html_dir / "executed" / "00_tiny.html").read_text()
    warnings_shown = stderr_blocks(page)  # the bar goes, the warning stays, without the kernel's file
    assert any("this cell, line 5: UserWarning: an informative warning" in block for block in warnings_shown)
    assert "profile='smoke'" in page and book.colab_url("00_tiny") in page
    intro = (html_dir / "intro.html").read_text()
    assert "00_tiny" in intro and "Measured time per chapter" in intro  # the timings table is included
    assert "Chapters executed with the profile <code class=\"docutils literal notranslate\"><span class=\"pre\">smoke</span></code> (00)" in intro
    assert "Not computed yet" in intro  # no summary chapter ran: the verdict table says so
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
    check_no_builder_folders(html_dir, book_dir, NOTEBOOKS_DIR)
    intro = (html_dir / "intro.html").read_text()
    assert "Verdict in this build" in intro and "Frozen representations of pretrained gLMs" in intro
    for notebook in REAL_NOTEBOOKS:
        check_chapter_renders(html_dir, book_dir / "executed" / notebook.name, tmp_path / "chromium",
                              glance=not notebook.name.startswith("00"), captions=True)
