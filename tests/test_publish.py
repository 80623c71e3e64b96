"""Publishing the built book: the ghp-import push, its dry run, the refusal of leaky pages, the workflow."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from glmeval_utils import publish
from glmeval_utils.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def built_book(tmp_path, monkeypatch):
    """A git checkout whose book has been built, with a bare repository as its ``origin``."""
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    for variable, value in {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
                            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}.items():
        monkeypatch.setenv(variable, value)
    checkout = tmp_path / "checkout"
    book_dir = checkout / "book"
    html = book_dir / "_build" / "html"
    (html / "_static").mkdir(parents=True)
    (html / "executed").mkdir()
    (html / "index.html").write_text("<html><body><a href='executed/01_a.html'>chapter</a></body></html>")
    (html / "executed" / "01_a.html").write_text("<html><body><p>output_dir = 'results'</p></body></html>")
    (html / "_static" / "styles.css").write_text("body { margin: 0 }")
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    config["repository"] = {"url": "https://github.com/SomeOne/a-book", "branch": "main"}
    (book_dir / "_config.yml").write_text(yaml.safe_dump(config))
    (checkout / ".gitignore").write_text("_build/\n")
    git("init", "--quiet", "--initial-branch=main", cwd=checkout)
    git("add", ".", cwd=checkout)
    git("commit", "--quiet", "-m", "source", cwd=checkout)
    remote = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", str(remote), cwd=tmp_path)
    git("remote", "add", "origin", str(remote), cwd=checkout)
    return book_dir, remote


def test_the_dry_run_lists_the_files_and_publishes_nothing(built_book):
    book_dir, remote = built_book
    plan = publish.publish_book(book_dir, dry_run=True)
    assert plan.files == ["_static/styles.css", "executed/01_a.html", "index.html"]
    assert plan.url == "https://someone.github.io/a-book/" and plan.branch == "gh-pages"
    assert git("branch", "--list", cwd=remote) == ""


def test_publishing_pushes_the_built_book_to_the_pages_branch(built_book):
    book_dir, remote = built_book
    publish.publish_book(book_dir)
    published = git("ls-tree", "-r", "--name-only", "gh-pages", cwd=remote).split()
    assert sorted(published) == [".nojekyll", "_static/styles.css", "executed/01_a.html", "index.html"]
    source = git("rev-parse", "--short", "HEAD", cwd=book_dir).strip()
    assert git("log", "-1", "--format=%s", "gh-pages", cwd=remote).strip() == f"Publish the book built from {source}"
    # A second publication replaces the first: the pages branch keeps no history.
    (book_dir / "_build" / "html" / "index.html").write_text("<html><body>new</body></html>")
    publish.publish_book(book_dir)
    assert git("rev-list", "--count", "gh-pages", cwd=remote).strip() == "1"
    assert "new" in git("show", "gh-pages:index.html", cwd=remote)


def test_without_push_only_the_local_branch_is_written(built_book):
    book_dir, remote = built_book
    publish.publish_book(book_dir, push=False)
    assert "index.html" in git("ls-tree", "-r", "--full-tree", "--name-only", "gh-pages", cwd=book_dir)
    assert git("branch", "--list", cwd=remote) == ""


def test_a_page_naming_the_builders_folder_is_refused(built_book):
    book_dir, remote = built_book
    page = book_dir / "_build" / "html" / "executed" / "01_a.html"
    page.write_text(f"<p>results in {book_dir / 'executed' / 'results'}</p>")
    with pytest.raises(ValueError, match=r"refusing to publish .*executed/01_a.html names"):
        publish.publish_book(book_dir, dry_run=True)
    assert git("branch", "--list", cwd=remote) == ""


def test_an_unbuilt_book_is_a_clear_error(tmp_path):
    (tmp_path / "book").mkdir()
    with pytest.raises(FileNotFoundError, match="no built book; run `python -m glmeval_utils build`"):
        publish.publish_book(tmp_path / "book")


def test_the_command_line_dry_run_prints_the_files_and_the_address(built_book, capsys):
    book_dir, _ = built_book
    assert main(["publish", "--book-dir", str(book_dir), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "executed/01_a.html" in printed and "https://someone.github.io/a-book/" in printed


def test_the_workflow_builds_the_demo_book_and_publishes_it_with_the_make_targets():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert triggers["push"]["branches"] == ["main"] and "workflow_dispatch" in triggers
    assert workflow["permissions"]["contents"] == "write"
    (job,) = workflow["jobs"].values()
    assert job["timeout-minutes"] <= 90 and job["env"]["PROFILE"] == "demo"
    commands = [step["run"] for step in job["steps"] if "run" in step]
    targets = [target for command in commands for target in re.findall(r"\bmake (\w+)", command)]
    assert targets == ["book", "publish"]
    makefile_targets = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), flags=re.M))
    assert set(targets) <= makefile_targets
    assert "--branch" not in " ".join(commands)  # the default pages branch: the one the README names
    publishing = next(step for step in job["steps"] if "make publish" in step.get("run", ""))
    assert publishing["if"] == "github.ref == 'refs/heads/main'"
    assert "download.pytorch.org/whl/cpu" in job["env"]["TORCH_INDEX"]
    assert "TORCH_INDEX ?=" in (ROOT / "Makefile").read_text()
    assert publish.PAGES_BRANCH == "gh-pages"


def test_builder_folders_are_matched_where_a_path_starts_not_inside_urls(tmp_path):
    html = tmp_path / "html"
    html.mkdir()
    (html / "url.html").write_text("<a href='https://github.com/o/r/blob/main/notebooks/01.ipynb'>x</a>"
                                   "<script src='_static/docs/searchtools.js'></script>")
    (html / "leak.html").write_text("<pre>written to /notebooks/results/a.csv</pre>")
    (html / "quoted.ipynb").write_text('{"path": "/srv/book"}')
    found = publish.pages_naming_builder_folders(html, ["/main", "/notebooks", "/docs", "/srv/book"])
    assert found == {"leak.html": "/notebooks", "quoted.ipynb": "/srv/book"}


def test_builder_folders_include_the_data_cache_and_the_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv("GLMEVAL_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("GLMEVAL_MIRROR", str(tmp_path / "mirror"))
    folders = publish.builder_folders(tmp_path / "book")
    assert {str(tmp_path / "cache"), str(tmp_path / "mirror"), str(tmp_path / "book")} <= set(folders)
    assert folders == sorted(folders, key=len, reverse=True)


def test_a_user_site_is_served_at_the_root(tmp_path):
    from glmeval_utils.book import RepositorySetting

    assert RepositorySetting("Someone", "someone.github.io", "main").pages_url == "https://someone.github.io/"
    assert RepositorySetting("Someone", "a-book", "main").pages_url == "https://someone.github.io/a-book/"
