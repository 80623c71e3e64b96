"""What every chapter returns: a :class:`Report`, and what every chapter's configuration shares.

A chapter module has three calls (``config(profile, **overrides)`` →
``run(config)`` → ``report(run)``) and a ``save(run, output_dir)``.  The
report holds the chapter's verdicts (:mod:`glmeval_utils.eval.verdicts`), the
sentences computed from its statistics, its tables shaped for reading, and
the "at a glance" paragraph the book shows first.

Shared by the chapters besides: the caveat a model's numbers need wherever
they appear (:func:`model_notes`), the paper's extra-layer rung
(:data:`PAPER_EXTRA_LAYERS`, :func:`extra_layer_ladder`), and the wall time of
a run's stages (:class:`StageTimes`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from glmeval_utils.eval.verdicts import Verdict
from glmeval_utils.learn import ladder
from glmeval_utils.models.registry import RANDOM_SUFFIX
from glmeval_utils.profiles import Profile, get_profile
from glmeval_utils.tasks.tables import for_reading

#: Caveats that must stand next to a model's numbers in every chapter, by registry name; a
#: random-init control (``<name>-random``) shares its model's caveat.
MODEL_NOTES = {
    "gpn-brassicales": (
        "`gpn-brassicales` (and its random-init control) stands in for the paper's GPN: the paper used a GPN "
        "trained by its authors on the human genome, which is not public, whereas this checkpoint was trained on "
        "plant genomes (Brassicales). Its numbers show how a GPN-architecture model pretrained on plants does on "
        "these tasks, not how the paper's human GPN does."),
}

#: The paper's extra NT layer: besides the last layer (32) it probed hidden state 10 of NT 2.5B (1000G)
#: for TF ChIP-seq, RBP eCLIP and splicing (reference: chip-clip-seq and alternative-splicing NT_* scripts).
PAPER_EXTRA_LAYERS = {"nt-v1-2.5b-1000g": (10,)}


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


class StageTimes:
    """Wall seconds of a chapter run's stages, recorded as they run.

    Examples
    --------
    >>> times = StageTimes()
    >>> times.run("load", lambda: 42, dataset="gue_tf0")
    42
    >>> list(times.frame().columns)
    ['dataset', 'stage', 'seconds']
    """

    def __init__(self):
        self.records: list[dict] = []

    def run(self, stage: str, function, **labels):
        """Call ``function()``, record ``labels``, ``stage`` and its seconds, return its result."""
        start = time.perf_counter()
        result = function()
        self.records.append({**labels, "stage": stage, "seconds": time.perf_counter() - start})
        return result

    def frame(self) -> pd.DataFrame:
        """One row per recorded stage, in the order they ran."""
        return pd.DataFrame(self.records)


def model_notes(models: Iterable[str]) -> list[str]:
    """The caveat (:data:`MODEL_NOTES`) of every model among ``models`` that has one, once each.

    Parameters
    ----------
    models : iterable of str
        Model names of a chapter's results (e.g. the ``model`` column of its
        predictions); names without a note are ignored.

    Returns
    -------
    list of str
        Markdown sentences for the chapter's statements, in :data:`MODEL_NOTES` order.
    """
    present = {str(m).removesuffix(RANDOM_SUFFIX) for m in models}
    return [note for name, note in MODEL_NOTES.items() if name in present]


def stalled_notes(fits) -> list[str]:
    """A warning per one-hot baseline whose validation loss never beat its first epoch.

    Parameters
    ----------
    fits : DataFrame or list of dict
        Fit records of :func:`glmeval_utils.learn.ladder.onehot_baselines`.

    Returns
    -------
    list of str
        Markdown sentences for the chapter's statements (none when every baseline learned).
    """
    stalled = ladder.stalled_fits(fits)
    return [f"**Check the yardstick:** the one-hot {row.architecture} (seed {row.seed}) on {row.dataset} never beat "
            f"its first epoch on validation (stopped after {row.epochs} epochs); it may have failed to learn, which would "
            "flatter every gLM it is compared with." for row in stalled.itertuples()]


def layer_label(representation: str, layer: int) -> str:
    """The representation label of a rung read from hidden state ``layer`` (``"mean@L10"``, see
    :func:`glmeval_utils.learn.ladder.layer_of`)."""
    return f"{representation}@L{layer}"


def check_extra_layers(glm, layers: Sequence[int]) -> None:
    """Raise ``ValueError`` unless every extra layer is a hidden state ``0 .. glm.n_layers - 1``.

    The last hidden state (``glm.n_layers``, or ``-1``) is already every ladder's own rung.
    """
    for layer in layers:
        if not 0 <= layer < glm.n_layers:
            raise ValueError(f"{glm.name}: extra layer {layer} must lie in 0..{glm.n_layers - 1} (hidden states; "
                             f"the last, {glm.n_layers}, is the ladder's own rung)")


def extra_layer_ladder(glm, data, layers: Sequence[int], **ladder_kwargs) -> pd.DataFrame:
    """:func:`~glmeval_utils.learn.ladder.glm_ladder` rows read from extra hidden states.

    Each row's ``representation`` names its layer (``"full@L10"``), so that
    selection on validation treats the layer as one more configuration of the
    model, beside the last-layer rungs labelled ``"full"``, ``"mean"``, ``"cls"``.

    Parameters
    ----------
    glm : models.GLM
    data : TaskData
    layers : sequence of int
        Hidden states ``0 .. glm.n_layers - 1`` (0 = token embeddings); the last
        layer is the ladder's own rung and is refused here.
    **ladder_kwargs
        Passed to :func:`~glmeval_utils.learn.ladder.glm_ladder` (not ``layer``).

    Returns
    -------
    DataFrame
        Valid and test prediction rows of every layer (empty without layers).
    """
    check_extra_layers(glm, layers)
    frames = []
    for layer in layers:
        rows = ladder.glm_ladder(glm, data, layer=layer, **ladder_kwargs)
        frames.append(rows.assign(representation=[layer_label(r, layer) for r in rows["representation"]]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


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
