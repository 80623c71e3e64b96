"""Chapters 2 and 6: TF binding (ChIP-seq) and RBP binding (eCLIP), one data set per TF or RBP.

Per data set, :func:`run` loads every row, removes sequences that occur in
two splits (:func:`glmeval_utils.data.loaders.drop_cross_split_duplicates`)
and only then caps each split (label-stratified, seeded), so the leakage
count describes the whole upstream set; then it trains the one-hot binary CNN
(the paper's ``chip_cnn`` on one-hot), the composition controls (mono- and
dinucleotide frequencies → logistic regression / MLP) and every gLM's probe
ladder (``chip_cnn`` on full embeddings), in ``full`` also read from the
paper's extra NT layer (:data:`~glmeval_utils.tasks.report.PAPER_EXTRA_LAYERS`,
rows labelled e.g. ``"full@L10"``).  :func:`report` selects on validation,
layer included, and compares on test with :mod:`glmeval_utils.eval`.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field

import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from glmeval_utils.data import registry
from glmeval_utils.data.loaders import drop_cross_split_duplicates
from glmeval_utils.data.splits import TaskData, row_limits, subsample
from glmeval_utils.eval import compare, paper, verdicts
from glmeval_utils.eval.performance import mean_over_datasets, performance_table, seed_metrics
from glmeval_utils.eval.results import write_results
from glmeval_utils.learn import ladder
from glmeval_utils.models import load_glm
from glmeval_utils.eval.roles import is_glm
from glmeval_utils.predictions import COMPOSITION, ONE_HOT, SPLITS
from glmeval_utils.profiles import Profile
from glmeval_utils.tasks.report import (PAPER_EXTRA_LAYERS, Report, StageTimes, apply_overrides, default_progress,
                                        extra_layer_ladder, glance, model_notes, output_path, settings_for,
                                        stalled_notes)
from glmeval_utils.tasks.tables import readable

METRIC = "auroc"
#: per task: chapter title, what one data set is, and the data sets of each profile.
TASKS = {
    "tf_binding": dict(chapter="2. TF binding", unit="TF",
                       smoke=("gue_tf0", "gue_tf4"), demo=tuple(f"gue_tf{i}" for i in range(5)),
                       full_prefix="paper_chip_", demo_prefix=None),
    "rbp_binding": dict(chapter="6. RBP binding", unit="RBP",
                        smoke=("eclip_QKI_K562", "eclip_GTF2F1_K562"), demo=None,
                        full_prefix="paper_eclip_", demo_prefix="eclip_"),
}
#: per task and profile: row caps per split and the epoch cap, measured to fit the book's budget.
BUDGETS = {
    ("tf_binding", "smoke"): dict(rows={"train": 160, "valid": 48, "test": 48}, epochs=None),
    ("tf_binding", "demo"): dict(rows={"train": 4000, "valid": 400, "test": 500}, epochs=8),
    ("rbp_binding", "smoke"): dict(rows={"train": 160, "valid": 48, "test": 48}, epochs=None),
    ("rbp_binding", "demo"): dict(rows={"train": 4000, "valid": 400, "test": 400}, epochs=8),
}


@dataclass(frozen=True)
class Config:
    """Settings of a binding chapter (see :func:`config`)."""

    task: str
    profile: str
    settings: Profile
    datasets: tuple
    models: tuple
    seeds: tuple
    max_rows: dict = field(default_factory=dict)
    representations: tuple = ("cls", "mean", "full")
    pooled_probes: tuple = ("linear", "mlp")
    onehot: tuple = ("binary_cnn",)
    composition_ks: tuple = (1, 2)
    composition_probes: tuple = ("linear", "mlp")
    dedup: bool = True
    whitening_check: bool = True
    #: model → extra hidden states probed besides the last (the paper's NT layer 10 in ``full``).
    extra_layers: dict = field(default_factory=dict)
    device: str = "auto"
    n_boot: int = 1000


def _datasets(task: str, profile: str) -> tuple:
    spec = TASKS[task]
    if profile == "full":
        return tuple(n for n in registry.list_datasets(task) if n.startswith(spec["full_prefix"]))
    if spec[profile] is not None:
        return spec[profile]
    return tuple(n for n in registry.list_datasets(task) if n.startswith(spec["demo_prefix"]))


def config(task: str, profile: str = "demo", **overrides) -> Config:
    """The chapter's settings for ``task`` ("tf_binding" or "rbp_binding") and a profile.

    Demo budget (2 CPU cores): the masked teaching gLM and its random-init
    control, the mean and full rungs (the mean derived from the cached full
    embedding), row caps per split and at most 8 epochs.  ``full`` adds the
    paper's extra NT layer rung (``extra_layers``).  ``max_rows`` overrides are
    merged into the chapter's caps (the smaller cap wins).
    """
    if task not in TASKS:
        raise ValueError(f"unknown binding task {task!r}; use one of {sorted(TASKS)}")
    budget = BUDGETS.get((task, profile), dict(rows={}, epochs=None))
    settings = settings_for(profile, max_epochs=budget["epochs"])
    light = profile in ("smoke", "demo")
    base = Config(task=task, profile=profile, settings=settings, datasets=_datasets(task, profile),
                  models=("teaching-mlm", "teaching-mlm-random") if light else settings.models,
                  seeds=settings.seeds, max_rows=row_limits(settings.max_rows, budget["rows"]),
                  representations=("mean", "full") if light else ("cls", "mean", "full"),
                  extra_layers={} if light else dict(PAPER_EXTRA_LAYERS))
    overrides = dict(overrides)
    if overrides.get("max_rows") is not None:
        overrides["max_rows"] = row_limits(base.max_rows, overrides["max_rows"])
    return apply_overrides(base, overrides)


@dataclass
class Run:
    """Everything a binding chapter trained.

    Attributes
    ----------
    predictions : DataFrame
        Valid and test prediction rows of every model on every data set.
    data_report : DataFrame
        Per data set: upstream rows, cross-split duplicates removed, rows
        repeated within a split (kept), rows used and positive share per split.
    timings : DataFrame
        ``dataset, stage, seconds``.
    whitening : DataFrame
        ``dataset, model, whiten, seed, score`` (validation AUROC of the
        mean-embedding MLP with and without PCA whitening).
    """

    config: Config
    predictions: pd.DataFrame
    data_report: pd.DataFrame
    timings: pd.DataFrame
    whitening: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: one record per one-hot fit (:func:`glmeval_utils.learn.ladder.onehot_baselines`).
    onehot_fits: pd.DataFrame = field(default_factory=pd.DataFrame)


def prepare_dataset(table: pd.DataFrame, *, name: str, task: str, limits: dict, dedup: bool = True,
                    seed: int = 0, target: str = "label") -> tuple[TaskData, dict]:
    """De-duplicate across splits, cap rows (stratified by label), build the :class:`TaskData`.

    Returns
    -------
    (TaskData, dict)
        The task data and its row of :attr:`Run.data_report`.
    """
    missing = [c for c in ("seq", "split", target) if c not in table.columns]
    if missing:
        raise ValueError(f"{name}: table lacks columns {missing}")
    report = {"dataset": name, "rows_upstream": len(table),
              "repeated_within_split": int(table.duplicated(["split", "seq"]).sum())}
    removed = 0
    if dedup:
        table, removed = drop_cross_split_duplicates(table)
    report["cross_split_removed"] = removed
    capped = subsample(table, limits, stratify=target, seed=seed)
    for split in SPLITS:
        part = capped[capped["split"] == split]
        report[f"{split}_rows"] = len(part)
        report[f"{split}_positive"] = float(part[target].mean()) if len(part) else float("nan")
    lengths = capped["seq"].str.len()
    report["length"] = (str(int(lengths.min())) if lengths.min() == lengths.max()
                        else f"{int(lengths.min())}-{int(lengths.max())}")
    # the binding sets declare no group column: each window is its own bootstrap unit
    data = TaskData.from_table(capped, target=target, task=task, dataset=name, kind="binary")
    return data, report


def run(cfg: Config, *, loader=None, glm_loader=None, progress: bool | None = None) -> Run:
    """Train one-hot, composition and every gLM's ladder on every data set.

    Parameters
    ----------
    cfg : Config
    loader : callable, optional
        ``loader(name) -> DataFrame`` with every row of a data set (default:
        the registry's full table).
    glm_loader : callable, optional
        ``glm_loader(name, device=...)`` (default :func:`glmeval_utils.models.load_glm`).
    progress : bool, optional
        A bar over data sets; None: unless ``TQDM_DISABLE`` is set.
    """
    from tqdm.auto import tqdm

    progress = default_progress() if progress is None else progress
    loader = loader or (lambda name: registry.load(name, profile="full", progress=False))
    glm_loader = glm_loader or load_glm
    if not cfg.datasets:
        raise ValueError(f"{cfg.task}: no data sets given")
    glms = [glm_loader(name, device=cfg.device) for name in cfg.models]
    derive_mean = ladder.derives_mean(cfg.settings, cfg.representations)
    predictions, reports, whitening, fits = [], [], [], []
    times = StageTimes()
    with warnings.catch_warnings():
        # lbfgs stopping at max_iter on near-separable composition features is expected, not news
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name in tqdm(cfg.datasets, desc=f"{cfg.task} data sets", disable=not progress):
            stage = functools.partial(times.run, dataset=name)
            data, report = stage("load", lambda: prepare_dataset(
                loader(name), name=name, task=cfg.task, limits=cfg.max_rows, dedup=cfg.dedup))
            reports.append(report)
            if cfg.onehot:
                predictions.append(stage("one-hot", lambda: ladder.onehot_baselines(
                    data, cfg.onehot, profile=cfg.settings, seeds=cfg.seeds, device=cfg.device, fits=fits,
                    progress=False)))
            if cfg.composition_ks:
                predictions.append(stage("composition", lambda: ladder.composition_baselines(
                    data, ks=cfg.composition_ks, probes=cfg.composition_probes, profile=cfg.settings,
                    seeds=cfg.seeds, device=cfg.device)))
            for glm in glms:
                ladder_kwargs = dict(profile=cfg.settings, representations=cfg.representations,
                                     pooled_probes=cfg.pooled_probes, cnn_architecture="chip_cnn", seeds=cfg.seeds,
                                     device=cfg.device, progress=False)
                rows = stage(glm.name, lambda: ladder.glm_ladder(glm, data, **ladder_kwargs))
                predictions.append(rows)
                if cfg.extra_layers.get(glm.name):
                    predictions.append(stage(f"{glm.name} (extra layers)", lambda: extra_layer_ladder(
                        glm, data, cfg.extra_layers[glm.name], **ladder_kwargs)))
                if cfg.whitening_check and "mean" in cfg.representations:
                    whitened = rows[(rows.representation == "mean") & (rows.probe == "mlp")]
                    pooled = ladder.split_embeddings(glm, data, representation="mean", mean_from_full=derive_mean,
                                                     progress=False)
                    whitening.append(ladder.mlp_whitening_check(
                        pooled, data, profile=cfg.settings, seeds=cfg.seeds, device=cfg.device,
                        whitened_predictions=whitened if len(whitened) else None).assign(dataset=name, model=glm.name))
    if not predictions:
        raise ValueError(f"{cfg.task}: nothing to train (no models, baselines or composition)")
    return Run(cfg, pd.concat(predictions, ignore_index=True), pd.DataFrame(reports), times.frame(),
               pd.concat(whitening, ignore_index=True) if whitening else pd.DataFrame(), pd.DataFrame(fits))


def report(run: Run) -> Report:
    """Per data set: select on validation, compare with the best one-hot model; the chapter's verdicts."""
    cfg, predictions = run.config, run.predictions
    unit = TASKS[cfg.task]["unit"]
    performance = performance_table(predictions, METRIC, n_boot=cfg.n_boot)
    averages = mean_over_datasets(performance)
    comparisons = compare.ladder_comparisons(predictions, METRIC, n_boot=cfg.n_boot)
    every, selected, controls = comparisons.every, comparisons.selected, comparisons.controls
    found = comparisons.verdicts("AUROC")
    main = found[0]
    tally = compare.tally(every)
    statements = (_statements(averages, tally, selected, unit, cfg.profile) + model_notes(predictions.model)
                  + stalled_notes(run.onehot_fits))
    glms = selected[selected.role.map(is_glm)]
    # the verdict's own count (Holm-corrected), so that the box and the verdict never disagree
    lead = (f"Pretrained gLM (configuration chosen on validation per {unit}) against the best one-hot model, "
            f"{unit} × gLM comparisons significant after Holm's correction: {main.number}; median AUROC difference "
            f"{glms.effect.median():+.3f}." if len(glms) else "No pretrained gLM was run.")
    theirs = paper.paper_results().query("task == @cfg.task and metric == 'auroc'")
    tables = {
        "data": _data_table(run.data_report),
        "performance": readable(performance, {"dataset": "data set", "label": "configuration", "role": "role",
                                              "valid_mean": "valid AUROC", "mean": "test AUROC", "sd": "sd (seeds)",
                                              "ci_low": "CI low", "ci_high": "CI high"}),
        "averages": readable(averages, {"label": "configuration", "role": "role", "mean": "mean AUROC",
                                        "sd": "sd over sets", "n_datasets": "sets", "ci_low": "CI low",
                                        "ci_high": "CI high"}),
        "selected": readable(selected, {"dataset": "data set", "label": "configuration chosen on validation",
                                        "role": "role", "valid_value": "valid AUROC", "value": "test AUROC",
                                        "effect": "Δ vs best one-hot", "ci_low": "CI low", "ci_high": "CI high",
                                        "verdict": "verdict"}),
        "tally": readable(tally, {"label": "configuration", "role": "role", "better": "better", "tie": "tie",
                                  "worse": "worse", "mean_effect": "mean Δ", "p_sign": "p (sign test)"}),
        "controls": readable(controls, {"dataset": "data set", "model": "model", "value": "AUROC",
                                        "baseline_value": "control AUROC", "effect": "Δ", "ci_low": "CI low",
                                        "ci_high": "CI high", "verdict": "verdict"}),
        "whitening": _whitening_table(run.whitening),
        "paper": paper.side_by_side(averages, theirs).round(3),
    }
    figures = {"performance": performance, "averages": averages, "versus_onehot": every,
               "paper": tables["paper"]}
    return Report(TASKS[cfg.task]["chapter"], glance(main, lead), found, statements, tables, figures)


def _statements(averages: pd.DataFrame, tally: pd.DataFrame, selected: pd.DataFrame, unit: str,
                profile: str) -> list:
    onehot = averages[averages.role == ONE_HOT]
    if onehot.empty:
        return ["No one-hot baseline was trained, so the paper's comparison cannot be made."]
    base = onehot.loc[onehot.valid_mean.idxmax()]
    out = [f"Averaged over {int(base.n_datasets)} {unit}s, the best one-hot model ({base.label}, chosen on "
           f"validation) reaches AUROC {base['mean']:.3f}."]
    composition = selected[selected.role == COMPOSITION]
    if len(composition):
        counts = composition.verdict.value_counts()
        out.append(f"Composition alone (mono- or dinucleotide frequencies, chosen on validation per {unit}) is better "
                   f"than the one-hot model on {counts.get(verdicts.BETTER, 0)}, not distinguishable on "
                   f"{counts.get(verdicts.TIE, 0)} and worse on {counts.get(verdicts.WORSE, 0)} of "
                   f"{len(composition)} {unit}s (paired 95% CIs): where it is not worse, the one-hot model shows no "
                   "more than base and dinucleotide content.")
    wins = tally[tally.role.map(is_glm) & (tally.better > 0)]
    if len(wins):
        out.append(f"Pretrained gLM configurations better than the one-hot model on at least one {unit} (paired 95% "
                   "CI above 0, before any correction for the number of comparisons): "
                   + "; ".join(f"{r.label} on {r.better} of {r.n_datasets}" for r in wins.itertuples()) + ".")
    else:
        out.append(f"No configuration of a pretrained gLM is better than the one-hot model on any {unit} (no paired "
                   "95% CI of the difference lies above 0).")
    controls_won = tally[~tally.role.map(is_glm) & (tally.role != COMPOSITION) & (tally.better > 0)]
    if len(controls_won):
        out.append("Controls better than the one-hot model on some " + unit + " (they answer other questions and are "
                   "not counted as gLMs): " + "; ".join(f"{r.label} ({r.role}) on {r.better}"
                                                        for r in controls_won.itertuples()) + ".")
    if profile != "full":
        out.append("Caveat: these are the demo's data sets, teaching-sized gLMs and capped rows, not the paper's "
                   "ten sets at 200 nt and its large checkpoints; run the `full` profile on a GPU for the paper's "
                   "setting.")
    return out


def _data_table(data_report: pd.DataFrame) -> pd.DataFrame:
    if data_report.empty:
        return pd.DataFrame()
    table = data_report.assign(rows=[f"{r.train_rows} / {r.valid_rows} / {r.test_rows}"
                                     for r in data_report.itertuples()])
    return readable(table, {"dataset": "data set", "rows_upstream": "upstream rows",
                            "cross_split_removed": "cross-split duplicates removed",
                            "repeated_within_split": "repeats within a split", "rows": "rows train / valid / test",
                            "test_positive": "test positive share", "length": "length (nt)"})


def _whitening_table(whitening: pd.DataFrame) -> pd.DataFrame:
    if whitening.empty:
        return pd.DataFrame()
    table = whitening.groupby(["model", "dataset", "whiten"]).score.mean().unstack("whiten")
    table = table.rename(columns={False: "raw input", True: "whitened input"})
    table["gain"] = table["whitened input"] - table["raw input"]
    return table.reset_index().rename_axis(columns=None).rename(columns={"dataset": "data set"}).round(3)


def save(run: Run, output_dir) -> list:
    """Write the predictions (validation and test) and the per-seed results."""
    task = run.config.task
    written = [output_path(output_dir, f"{task}_predictions.csv.gz"), output_path(output_dir, f"{task}.csv")]
    run.predictions.to_csv(written[0], index=False)
    write_results(seed_metrics(run.predictions, "binary"), written[1])
    return written

