"""The three install descriptions (pyproject, environment.yml, Makefile/README) must agree."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = set(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        reqs.update(extra)
    return {r.replace(" ", "") for r in reqs}


def _environment_pip_requirements() -> set[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    reqs = set()
    for line in lines[start + 1 :]:
        match = re.match(r"^\s+-\s+(\S.*)$", line)
        if not match:
            break
        reqs.add(match.group(1).replace(" ", ""))
    return reqs


def test_environment_yml_matches_pyproject():
    pyproject, environment = _pyproject_requirements(), _environment_pip_requirements()
    assert pyproject == environment, (
        f"only in pyproject: {sorted(pyproject - environment)}; "
        f"only in environment.yml: {sorted(environment - pyproject)}"
    )


def test_torch_pin_satisfies_pyproject_range_and_no_deps_pins_are_documented():
    makefile = (ROOT / "Makefile").read_text()
    torch_pin = re.search(r"^TORCH_PIN := torch==(\S+)", makefile, re.M).group(1)
    torch_range = next(r for r in _pyproject_requirements() if r.startswith("torch"))
    low, high = re.match(r"torch>=([\d.]+),<([\d.]+)", torch_range).groups()
    as_tuple = lambda v: tuple(int(p) for p in v.split("."))  # noqa: E731
    assert as_tuple(low) <= as_tuple(torch_pin) < as_tuple(high)
    no_deps = re.search(r"^NO_DEPS_PINS := (.+)$", makefile, re.M).group(1).split()
    for pin in no_deps:
        assert pin in (ROOT / "environment.yml").read_text(), f"{pin} missing from environment.yml notes"
        assert pin in (ROOT / "README.md").read_text(), f"{pin} missing from README.md"


def test_jupyter_book_stays_on_1x():
    assert "jupyter-book>=1.0.4,<2" in _pyproject_requirements()


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make book" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
