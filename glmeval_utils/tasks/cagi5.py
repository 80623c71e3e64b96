"""Chapter 3: CAGI5 zero-shot variant effects — which score to trust, and does any gLM score track effects?

Every zero-shot score of every gLM (masked or causal likelihood ratios on
either strand, embedding distances) and two supervised comparators trained on
lentiMPRA (Δ prediction of a one-hot CNN and of a ridge probe on gLM mean
embeddings) score the same variants.  The comparators are trained per cell
type (:data:`LENTIMPRA_SETS`: HepG2 offline; the paper's HepG2 and K562 folds
in ``full``) and each element is scored by the one of its cell line
(:func:`comparator_cell`), as in the paper.  The CAGI5 **release** set plays the
part of a validation set: the score reported for each side is chosen on it;
the **challenge** set is read once for the reported numbers.  Metrics follow
the paper (:mod:`glmeval_utils.eval.variants`): zero-shot scores against
|effect|, Δ predictions against the signed effect, intervals resampling
variant positions.
"""

from __future__ import annotations

import time
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from glmeval_utils.data import registry
from glmeval_utils.data.splits import TaskData
from glmeval_utils.eval import paper, verdicts
from glmeval_utils.eval.metrics import pearson
from glmeval_utils.eval.results import write_results
from glmeval_utils.eval.roles import control_of, is_glm
from glmeval_utils.eval.variants import (CONFIDENCE_THRESHOLD, chance_abs_r, evaluate_scores, headline_metric,
                                         is_headline, is_supervised, paired_contrast, result_rows, score_summary)
from glmeval_utils.learn import ladder
from glmeval_utils.learn.probes import LinearProbe
from glmeval_utils.models import REGISTRY, load_glm
from glmeval_utils.predictions import PRETRAINED, SUPERVISED
from glmeval_utils.profiles import Profile
from glmeval_utils.score import zeroshot
from glmeval_utils.tasks.report import (Report, apply_overrides, default_progress, glance, model_notes, output_path,
                                        settings_for)
from glmeval_utils.tasks.tables import readable

TASK = "cagi5"
CHAPTER = "3. CAGI5 zero-shot variant effects"
#: the CAGI5 sets by their role here: the release set chooses, the challenge set reports.
SETS = {"release": "valid", "challenge": "test"}
#: lentiMPRA construct length: the window of the supervised Δ predictions.
DELTA_WINDOW = 230
#: Cell line of each element's MPRA (Kircher et al., Nat Commun 2019, Table 1;
#: CAGI5 regulation-saturation challenge description).
CELL_TYPES = {
    "F9": "HepG2", "LDLR": "HepG2", "SORT1": "HepG2", "PKLR": "K562",
    "GP1BB": "HEL 92.1.7", "HBB": "HEL 92.1.7", "HBG1": "HEL 92.1.7",
    "HNF4A": "HEK293T", "MSMB": "HEK293T", "MYCrs6983267": "HEK293T", "TERT-HEK293T": "HEK293T",
    "TERT-GBM": "SF7996 (glioblastoma)", "IRF4": "SK-MEL-28", "IRF6": "HaCaT", "ZFAND3": "MIN6 (mouse)",
}
#: The four elements the reference study scored.
PAPER_ELEMENTS = ("LDLR", "SORT1", "F9", "PKLR")
#: lentiMPRA data set of each cell type the supervised comparators learn from, per profile; the first
#: cell type also scores the elements no lentiMPRA cell type matches (:func:`comparator_cell`).
LENTIMPRA_SETS = {"smoke": {"HepG2": "lentimpra_hepg2"}, "demo": {"HepG2": "lentimpra_hepg2"},
                  "full": {"HepG2": "paper_lentimpra_hepg2", "K562": "paper_lentimpra_k562"}}
#: The lentiMPRA cell type that stands for an element's cell line (:data:`CELL_TYPES`): its own, and K562
#: for HEL 92.1.7, like K562 a human erythroleukaemia line.
LENTIMPRA_CELL = {"HepG2": "HepG2", "K562": "K562", "HEL 92.1.7": "K562"}


def comparator_cell(element: str, cells: Sequence[str]) -> str:
    """The lentiMPRA cell type whose supervised comparator scores ``element``.

    The paper scored its HepG2 elements (LDLR, SORT1, F9) with the HepG2
    model and PKLR with the K562 model.  Elements of a cell line that no
    trained cell type matches (:data:`LENTIMPRA_CELL`) take ``cells[0]``.

    Parameters
    ----------
    element : str
        A CAGI5 element (:data:`CELL_TYPES`).
    cells : sequence of str
        The cell types with a trained comparator, e.g. ``("HepG2", "K562")``.
    """
    matched = LENTIMPRA_CELL.get(CELL_TYPES.get(element, ""))
    return matched if matched in cells else cells[0]


@dataclass(frozen=True)
class Config:
    """Settings of chapter 3 (see :func:`config`)."""

    profile: str
    settings: Profile
    models: tuple
    elements: tuple | None = None
    release_positions: int | None = None
    challenge_positions: int | None = None
    window: int = 501
    probe_model: str | None = "teaching-mlm"
    #: cell type → lentiMPRA data set of the supervised comparators (:data:`LENTIMPRA_SETS`).
    lentimpra_sets: dict = field(default_factory=lambda: dict(LENTIMPRA_SETS["demo"]))
    n_boot: int = 1000
    device: str = "auto"


#: per profile: positions per element in each set (None: all), window, bootstrap size.
BUDGETS = {
    "smoke": dict(elements=PAPER_ELEMENTS, release_positions=2, challenge_positions=3, window=61,
                  n_boot=50),
    "demo": dict(elements=None, release_positions=8, challenge_positions=16, window=201,
                 n_boot=1000),
    "full": dict(elements=None, release_positions=None, challenge_positions=None, window=501,
                 n_boot=1000),
}


def config(profile: str = "demo", **overrides) -> Config:
    """The chapter's settings for a profile; keyword overrides (None = keep) replace any field.

    The cost is dominated by forward passes: the masked LLR needs one pass per
    position and strand, the causal LLR and the distances one per distinct
    window.  Offline profiles score every teaching gLM (masked and causal) with
    its random-init control and a subset of positions per element, keeping all
    three alternatives of a chosen position.
    """
    settings = settings_for(profile)
    models = list(settings.models)
    if profile != "full":
        models += [m for m in ("teaching-mlm", "teaching-clm") if m not in models]
        models += [control_of(m) for m in list(models) if m.startswith("teaching-")
                   and REGISTRY[m].role == PRETRAINED and control_of(m) not in models]
    base = Config(profile=profile, settings=settings, models=tuple(models),
                  lentimpra_sets=dict(LENTIMPRA_SETS[profile]), **BUDGETS[profile])
    return apply_overrides(base, overrides)


def select_positions(variants: pd.DataFrame, per_element: int | None = None, *,
                     elements: Sequence[str] | None = None, seed: int = 0) -> pd.DataFrame:
    """Keep ``per_element`` random positions of each element, with all their variants.

    Parameters
    ----------
    variants : pandas.DataFrame
        Columns ``element`` and ``offset`` (plus anything else, kept).
    per_element : int, optional
        Positions kept per element (None or more than the element has: all).
    elements : sequence of str, optional
        Keep only these elements (an unknown name raises ``ValueError``).
    seed : int
        Seed of the position draw (one generator per element, seeded by the
        element's name, so the choice for an element does not depend on which
        other elements are kept).

    Returns
    -------
    pandas.DataFrame
        The kept rows in their original order, index reset.
    """
    for column in ("element", "offset"):
        if column not in variants.columns:
            raise ValueError(f"variant table has no column {column!r}")
    table = variants
    if elements is not None:
        unknown = sorted(set(elements) - set(table["element"]))
        if unknown:
            raise ValueError(f"unknown element(s) {unknown}; known: {sorted(table['element'].unique())}")
        table = table[table["element"].isin(list(elements))]
    if per_element is None:
        return table.reset_index(drop=True)
    if per_element < 1:
        raise ValueError(f"per_element must be at least 1, got {per_element}")
    keep = np.zeros(len(table), dtype=bool)
    element_values, offsets = table["element"].to_numpy(), table["offset"].to_numpy()
    for element in sorted(table["element"].unique()):
        rows = element_values == element
        positions = np.unique(offsets[rows])
        if len(positions) > per_element:
            rng = np.random.default_rng([seed, zlib.crc32(str(element).encode())])
            positions = np.sort(rng.choice(positions, size=per_element, replace=False))
        keep |= rows & np.isin(offsets, positions)
    return table[keep].reset_index(drop=True)


@dataclass
class Run:
    """Every score of every variant, and how the scores track the measured effects.

    Attributes
    ----------
    variants : DataFrame
        The scored SNVs (``set`` is ``release`` or ``challenge``; ``position``
        names the variant's position, the bootstrap unit).
    scores : DataFrame
        One column per score, named ``"<model> · <score>"``, in variant order.
    score_info : DataFrame
        ``label, model, role, score`` of every score column.
    metrics : DataFrame
        :func:`glmeval_utils.eval.variants.evaluate_scores` rows of every set,
        element and score, with ``set``, ``model``, ``role``.
    lentimpra_r : dict
        Test Pearson r of the supervised comparators on lentiMPRA, keyed
        ``"<comparator> (<cell type>)"``.
    timings : dict
        Seconds per step.
    """

    config: Config
    variants: pd.DataFrame
    scores: pd.DataFrame
    score_info: pd.DataFrame
    metrics: pd.DataFrame
    lentimpra_r: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def _variants(cfg: Config) -> pd.DataFrame:
    """Positions of each element drawn separately within the release and the challenge set."""
    every = registry.load("cagi5", profile="full", progress=False)
    counts = {"release": cfg.release_positions or None, "challenge": cfg.challenge_positions or None}  # 0: all
    chosen = [select_positions(every[every["set"] == name], counts[name], elements=cfg.elements, seed=0)
              for name in SETS]
    variants = pd.concat(chosen, ignore_index=True)
    variants["position"] = variants["element"] + ":" + variants["offset"].astype(str)
    return variants


def run(cfg: Config, *, progress: bool | None = None) -> Run:
    """Score every variant with every zero-shot score and the supervised comparators; evaluate per element."""
    progress = default_progress() if progress is None else progress
    variants = _variants(cfg)
    columns, info, timings = {}, [], {}
    for name in cfg.models:
        start = time.perf_counter()
        glm = load_glm(name, device=cfg.device)
        if glm.max_length is not None and glm.max_length < cfg.window:
            warnings.warn(f"{name}: skipped, max_length {glm.max_length} < window {cfg.window}")
            continue
        for score, values in zeroshot.score_model(glm, variants, window=cfg.window, batch_size=64,
                                                  progress=progress).items():
            columns[f"{name} · {score}"] = values.to_numpy()
            info.append({"label": f"{name} · {score}", "model": name, "role": glm.role, "score": score})
        timings[name] = time.perf_counter() - start
    start = time.perf_counter()
    deltas, lentimpra_r = _supervised_deltas(cfg, variants, progress)
    for (model, score), values in deltas.items():
        columns[f"{model} · {score}"] = values
        info.append({"label": f"{model} · {score}", "model": model, "role": SUPERVISED, "score": score})
    timings["lentiMPRA comparators"] = time.perf_counter() - start
    scores = pd.DataFrame(columns)
    info = pd.DataFrame(info)
    start = time.perf_counter()
    metrics = _evaluate(variants, scores, info, cfg.n_boot)
    timings["evaluation"] = time.perf_counter() - start
    return Run(cfg, variants, scores, info, metrics, lentimpra_r, timings)


def _supervised_deltas(cfg: Config, variants: pd.DataFrame, progress: bool) -> tuple[dict, dict]:
    """Δ = prediction(alt) - prediction(ref) of a one-hot CNN and a gLM ridge probe trained on lentiMPRA.

    One pair of comparators per cell type of ``cfg.lentimpra_sets``; each
    variant is scored by the pair of its element's cell type (:func:`comparator_cell`).
    """
    cells = list(cfg.lentimpra_sets)
    scored_by = variants["element"].map(lambda element: comparator_cell(element, cells)).to_numpy()
    onehot_key = ("one-hot CNN (lentiMPRA)", "delta_cnn")
    ridge_key = (f"{cfg.probe_model} ridge (lentiMPRA)", "delta_mean_linear")
    deltas = {key: np.full(len(variants), np.nan) for key in ([onehot_key, ridge_key] if cfg.probe_model
                                                             else [onehot_key])}
    glm = load_glm(cfg.probe_model, device=cfg.device) if cfg.probe_model else None
    derive_mean = cfg.settings.mean_from_full
    r = {}
    for cell, dataset in cfg.lentimpra_sets.items():
        rows = scored_by == cell
        if not rows.any():  # no element of this cell type among the variants: nothing to score
            continue
        lenti = registry.load(dataset, profile=cfg.profile, progress=progress)
        data = TaskData.from_table(lenti, target="activity", task="lentimpra", dataset=dataset, kind="regression")
        # built as chapter 1 builds its seed-0 CNN: on the same rows, the trained-model cache serves it
        onehot = ladder.onehot_estimator("cnn", "regression", profile=cfg.settings, seed=0, device=cfg.device)
        onehot.fit(data.seqs["train"], data.y["train"], data.seqs["valid"], data.y["valid"])
        deltas[onehot_key][rows] = zeroshot.delta_prediction(onehot.predict, variants[rows], window=DELTA_WINDOW)
        r[f"one-hot CNN ({cell})"] = pearson(data.y["test"], onehot.predict(data.seqs["test"]))
        if glm is None:
            continue
        X = ladder.split_embeddings(glm, data, representation="mean", mean_from_full=derive_mean, progress=False)
        ridge = LinearProbe("regression", random_state=0).fit(X["train"], data.y["train"], X["valid"],
                                                              data.y["valid"])
        r[f"{cfg.probe_model} mean → ridge ({cell})"] = pearson(data.y["test"], ridge.predict(X["test"]))

        def predict(seqs, chunk=512):
            # Token mean pooling: what the ridge was trained on, whether or not the ladder derived it
            # from the cached position rows (for k-mer models those are token rows, not bases).
            pooled = [glm.embed(seqs[i:i + chunk], layers=(-1,), pooling="mean", progress=False)[:, 0]
                      for i in range(0, len(seqs), chunk)]
            return np.concatenate([ridge.predict(p) for p in pooled])

        deltas[ridge_key][rows] = zeroshot.delta_prediction(predict, variants[rows], window=DELTA_WINDOW)
    return deltas, r


def _evaluate(variants: pd.DataFrame, scores: pd.DataFrame, info: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    scored = pd.concat([variants.reset_index(drop=True), scores], axis=1)
    tables = []
    with warnings.catch_warnings():  # NaN metrics (a constant score, one class) are expected and kept
        warnings.simplefilter("ignore", RuntimeWarning)
        for name in SETS:
            part = scored[scored["set"] == name]
            tables.append(evaluate_scores(part, list(scores.columns), group="position", n_boot=n_boot)
                          .assign(set=name))
    metrics = pd.concat(tables, ignore_index=True).rename(columns={"score": "label"})
    return metrics.merge(info, on="label", how="left")


def zero_shot_claim(metrics: pd.DataFrame, *, n_boot: int = 2000) -> tuple[verdicts.Verdict, dict, dict | None]:
    """Claim 5 from per-element metrics of both sets.

    The pretrained gLM zero-shot score with the highest mean |r| over elements
    on the release set, and the supervised Δ prediction with the highest mean
    r there, are read on the challenge set: the zero-shot score's mean |r|
    against the paper's best mean |r| and the chance bound for the challenge
    set's positions, and the supervised r minus the zero-shot |r| over
    elements (the zero-shot score keeps its strength whatever its sign).

    Returns
    -------
    (Verdict, dict, dict or None)
        The verdict, the chosen zero-shot score's challenge summary and the contrast.
    """
    headline = metrics[metrics["metric"] == metrics["score"].map(headline_metric)]
    release, on_challenge = (headline[headline["set"] == name] for name in SETS)
    challenge = metrics[metrics["set"] == "challenge"]
    zero = release[release.role.map(is_glm) & ~release.score.map(is_supervised) & release.score.map(is_headline)]
    if zero.empty:
        return verdicts.zero_shot_weak(None, None, paper_bound=paper.best_zero_shot_mean_abs_r()), {}, None
    chosen_zero = zero.assign(abs_value=zero.value.abs()).groupby("label").abs_value.mean().idxmax()
    supervised = release[release.score.map(is_supervised)]
    chosen_delta = supervised.groupby("label").value.mean().idxmax() if len(supervised) else None
    zero_rows = on_challenge[on_challenge.label == chosen_zero]
    expected, bound = chance_abs_r(zero_rows.n_groups)
    summary = {"label": chosen_zero, "role": PRETRAINED, "mean_abs_r": float(zero_rows.value.abs().mean()),
               "mean_r": float(zero_rows.value.mean()), "chance": expected, "chance_bound": bound,
               "n_elements": int(zero_rows.value.notna().sum())}
    contrast = None
    if chosen_delta is not None:
        contrast = {"label": chosen_delta,
                    **paired_contrast(challenge, {"label": chosen_delta, "score": _score(challenge, chosen_delta)},
                                      {"label": chosen_zero, "score": _score(challenge, chosen_zero), "absolute": True},
                                      n_boot=n_boot)}
    verdict = verdicts.zero_shot_weak(summary, contrast, paper_bound=paper.best_zero_shot_mean_abs_r())
    return verdict, summary, contrast


def _score(metrics: pd.DataFrame, label: str) -> str:
    return metrics.loc[metrics.label == label, "score"].iloc[0]


def report(run: Run) -> Report:
    """The chapter's tables (challenge set) and its verdict."""
    cfg, metrics = run.config, run.metrics
    main, chosen, contrast = zero_shot_claim(metrics)
    challenge = metrics[metrics["set"] == "challenge"]
    summary = score_summary(challenge, by=("label", "model", "role", "score"))
    summary = summary[summary.score.map(is_headline)]
    heat = challenge[(challenge.metric == challenge.score.map(headline_metric)) & challenge.score.map(is_headline)]
    heat = heat.assign(element=heat.element + heat.element.map(lambda e: f" ({CELL_TYPES.get(e, '?')})"))
    statements = _statements(run, chosen, contrast) + model_notes(run.score_info.model)
    lead = (f"Best pretrained zero-shot score (chosen on the release set): {chosen['label']}, mean |r| with |effect| "
            f"{chosen['mean_abs_r']:.3f} over {chosen['n_elements']} elements of the challenge set (chance alone: "
            f"{chosen['chance']:.3f}, 97.5% bound {chosen['chance_bound']:.3f})." if chosen else "No zero-shot score.")
    tables = {
        "elements": _element_table(run.variants, list(cfg.lentimpra_sets)),
        "summary": readable(summary, {"label": "score", "role": "role", "metric": "metric", "mean_r": "mean r",
                                      "mean_abs_r": "mean |r|", "n_elements": "elements",
                                      "n_ci_excludes_0": "elements with CI excluding 0",
                                      "n_groups": "positions per element"}),
        "contrasts": _contrasts(challenge, run.score_info),
        "lentimpra": pd.Series(run.lentimpra_r, name="lentiMPRA test Pearson r").round(3).rename_axis(
            "supervised comparator").reset_index(),
        "paper": _paper_table(heat),
        "timings": pd.Series(run.timings, name="seconds").round(1).rename_axis("step").reset_index(),
    }
    scatter = [(label, not is_supervised(_score(metrics, label))) for label in
               (chosen.get("label"), contrast["label"] if contrast else None) if label is not None]
    figures = {"heatmap": heat, "summary": summary, "scatter": scatter}
    return Report(CHAPTER, glance(main, lead), [main], statements, tables, figures)


def _statements(run: Run, chosen: dict, contrast: dict | None) -> list:
    challenge = run.variants[run.variants["set"] == "challenge"]
    positions = challenge.groupby("element").position.nunique()
    out = [f"The challenge set has {len(challenge):,} scored SNVs at {positions.sum():,} positions "
           f"({positions.median():.0f} per element); the three alternatives of a position are one independent "
           f"unit, so a score unrelated to the effects already reaches a mean |r| of about "
           f"{chosen.get('chance', float('nan')):.2f} by chance. Read mean |r| against that floor, against the "
           "random-init controls and against how many elements' intervals exclude 0."]
    if {"TERT-GBM", "TERT-HEK293T"} <= set(challenge.element):
        out.append("TERT-GBM and TERT-HEK293T are one sequence measured in two cell lines: every sequence-only score "
                   "is the same for both, so they count as two elements but are not two independent tests of a score.")
    cells = list(run.config.lentimpra_sets)
    if len(cells) > 1:
        by_cell = {}
        for element in sorted(challenge.element.unique()):
            by_cell.setdefault(comparator_cell(element, cells), []).append(element)
        out.append("The supervised Δ comparators score each element with the lentiMPRA model of its cell line, as the "
                   "paper did: " + "; ".join(f"{cell} model: {', '.join(names)}" for cell, names in by_cell.items())
                   + ". HEL 92.1.7 elements take the K562 model (both are erythroleukaemia lines); elements of other "
                   f"cell lines take the {cells[0]} model, a stand-in without a matching cell type.")
    if contrast:
        out.append(f"The supervised comparator chosen on the release set is {contrast['label']}; its r minus the "
                   f"chosen zero-shot score's |r| is {contrast['mean_diff']:+.3f} over {contrast['n_elements']} elements "
                   f"(95% CI {contrast['ci_low']:+.3f} to {contrast['ci_high']:+.3f}); it is the stronger one in "
                   f"{contrast['wins_a']} elements.")
    if run.config.profile != "full":
        out.append(f"Caveats: element-only windows of {run.config.window} nt, small teaching gLMs, supervised "
                   "comparators trained on a fifth of lentiMPRA HepG2 (test r "
                   + ", ".join(f"{k} {v:.2f}" for k, v in run.lentimpra_r.items())
                   + "); per-element intervals are wide.")
    return out


def _element_table(variants: pd.DataFrame, cells: Sequence[str]) -> pd.DataFrame:
    table = variants.groupby(["element", "set"]).agg(snvs=("variant_id", "size"), positions=("position", "nunique"))
    table = table.unstack("set")
    table.columns = [f"{what} ({name})" for what, name in table.columns]
    table.insert(0, "cell line", table.index.map(CELL_TYPES))
    table.insert(1, "Δ model's lentiMPRA cells", table.index.map(lambda element: comparator_cell(element, cells)))
    high = variants.groupby("element").confidence.apply(lambda c: (c >= CONFIDENCE_THRESHOLD).mean())
    table[f"share with confidence ≥ {CONFIDENCE_THRESHOLD}"] = high.round(2)
    return table.reset_index()


def _contrasts(challenge: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """Paired contrasts over elements for the choices users ask about (strand, |effect|, distance, control)."""
    rows = []
    for model, part in info.groupby("model", sort=False):
        scores = set(part.score)
        pairs = []
        for llr in ("masked_llr", "causal_llr"):
            if f"{llr}_both" in scores:
                pairs += [(f"strand-averaged vs forward |{llr}|", f"abs_{llr}_both", f"abs_{llr}_fwd", True),
                          (f"|{llr}| vs |effect| against signed {llr} vs effect", f"abs_{llr}_both",
                           {"score": f"{llr}_both", "metric": "pearson"}, True)]
        if "cosine_full" in scores:
            pairs += [("cosine vs L2 (full)", "cosine_full", "l2_full", True),
                      ("full vs mean (L2)", "l2_full", "l2_mean", True)]
        for text, a, b, absolute in pairs:
            side_b = {"model": model, **(b if isinstance(b, dict) else {"score": b})}
            result = paired_contrast(challenge, {"model": model, "score": a}, side_b, absolute=absolute)
            rows.append({"model": model, "comparison": text, **result})
    control_pairs = [(m, control_of(m)) for m in info.model.unique() if control_of(m) in set(info.model)]
    for model, control in control_pairs:
        for score in sorted(set(info[info.model == model].score) & set(info[info.model == control].score)):
            if not is_headline(score):
                continue
            result = paired_contrast(challenge, {"model": model, "score": score}, {"model": control, "score": score},
                                     absolute=True)
            rows.append({"model": model, "comparison": f"{score}: pretrained vs random-init control", **result})
    return readable(pd.DataFrame(rows), {"model": "model", "comparison": "a vs b", "mean_a": "mean |r| a",
                                         "mean_b": "mean |r| b", "mean_diff": "a − b", "ci_low": "CI low",
                                         "ci_high": "CI high", "wins_a": "elements a stronger",
                                         "n_elements": "elements"})


def _paper_table(heat: pd.DataFrame) -> pd.DataFrame:
    """The paper's per-element r on its four elements beside ours (challenge set)."""
    theirs = paper.paper_results().query("task == @TASK")
    theirs = theirs.pivot_table(index=["model", "representation"], columns="dataset", values="value", sort=False)
    theirs = theirs.reindex(columns=list(PAPER_ELEMENTS)).reset_index().rename(columns={"representation": "score"})
    ours = heat.assign(element=heat.element.str.split(" (", regex=False).str[0])
    ours = ours[ours.element.isin(PAPER_ELEMENTS)]
    ours = ours.pivot_table(index=["model", "score"], columns="element", values="value", sort=False)
    ours = ours.reindex(columns=list(PAPER_ELEMENTS)).reset_index()
    return pd.concat([theirs.assign(source="paper"), ours.assign(source="this book")], ignore_index=True)[
        ["source", "model", "score", *PAPER_ELEMENTS]].round(3)


def save(run: Run, output_dir) -> list:
    """Write the per-element metrics (both sets; the summary's claim 5), the results rows and the scores."""
    written = [output_path(output_dir, f"{TASK}_metrics.csv.gz"), output_path(output_dir, f"{TASK}.csv"),
               output_path(output_dir, f"{TASK}_scores.csv.gz")]
    run.metrics.to_csv(written[0], index=False)
    rows = run.metrics.assign(probe=np.where(run.metrics.score.map(is_supervised), "delta-prediction", "zero-shot"),
                              seed=-1)
    write_results(pd.concat([result_rows(rows[rows["set"] == name], task=TASK, split=split)
                             for name, split in SETS.items()], ignore_index=True), written[1])
    long = run.scores.assign(variant_id=run.variants.variant_id.to_numpy()).melt(id_vars="variant_id", var_name="score")
    long.to_csv(written[2], index=False)
    return written
