"""What every chapter returns: a :class:`Report`, and what every chapter's configuration shares.

A chapter module has three calls (``config(profile, **overrides)`` →
``run(config)`` → ``report(run)``) and a ``save(run, output_dir)``.  The
report holds the chapter's verdicts (:mod:`glmeval_utils.eval.verdicts`), the
sentences computed from its statistics, its tables shaped for reading, and
the "at a glance" paragraph the book shows first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Sequence

import pandas as pd

from glmeval_utils.eval.verdicts import Verdict
from glmeval_utils.profiles import Profile, get_profile
from glmeval_utils.tasks.tables import for_reading


@dataclass
class Report:
    """A chapter's answer.

    Attributes
    ----------
    chapter : str
    glance : str
        The chapter's verdict and the one number behind it (markdown).
    verdicts : list of Verdict
    statements : list of str
        Sentences computed from the statistics (markdown).
    tables : dict of str → DataFrame
        Named tables for reading: plain column names, rounded, shown without
        an index (each becomes a :class:`~glmeval_utils.tasks.tables.ReadingTable`).
    figures : dict of str → object
        The data behind the chapter's figures (tidy frames with the column
        names :mod:`glmeval_utils.plots` expects, or selectors).
    """

    chapter: str
    glance: str
    verdicts: list = field(default_factory=list)
    statements: list = field(default_factory=list)
    tables: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)

    def __post_init__(self):
        self.tables = {name: for_reading(table) for name, table in self.tables.items()}

    def markdown(self) -> str:
        """The statements and every verdict with its reason, as markdown paragraphs."""
        return "\n\n".join([*self.statements, *(v.markdown() for v in self.verdicts)])

    def verdict_table(self) -> pd.DataFrame:
        """One row per claim: ``claim, verdict, number``."""
        return pd.DataFrame([{"claim": v.claim.text, "verdict": v.verdict, "number": v.number}
                             for v in self.verdicts])

    def _repr_markdown_(self) -> str:
        return self.markdown()


def glance(verdict: Verdict, lead: str) -> str:
    """The "at a glance" paragraph: the claim, its verdict here and the one number behind it."""
    return f"**{verdict.claim.text}** — **{verdict.verdict}** here. {lead}"


def default_progress() -> bool:
    """Show progress bars unless ``TQDM_DISABLE`` is set.

    The book's runner (:func:`glmeval_utils.book.run_notebooks`) sets it:
    bars belong in the terminal and in a live notebook, not in the published page.
    """
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("1", "true", "yes")


def settings_for(profile: str | Profile, **changes) -> Profile:
    """The profile's training settings, with a chapter's changes (``None`` values keep the profile's)."""
    settings = get_profile(profile) if isinstance(profile, str) else profile
    changes = {k: v for k, v in changes.items() if v is not None}
    unknown = set(changes) - {f.name for f in fields(Profile)}
    if unknown:
        raise ValueError(f"unknown profile settings {sorted(unknown)}")
    return replace(settings, **changes)


def apply_overrides(config, overrides: dict):
    """A config dataclass with the user's overrides (``None`` keeps the chapter's default)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - {f.name for f in fields(config)}
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)} for {type(config).__module__}; "
                         f"known: {[f.name for f in fields(config)]}")
    converted = {k: tuple(v) if isinstance(v, (list, Sequence)) and not isinstance(v, str) else v
                 for k, v in given.items()}
    return replace(config, **converted)


def output_path(output_dir: str | Path, name: str) -> Path:
    """``output_dir / name``, creating the folder."""
    path = Path(output_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path / name
