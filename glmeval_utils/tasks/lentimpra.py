"""Chapter 1: lentiMPRA activity regression — the probe ladder against the best one-hot model.

``config(profile, **overrides)`` → ``run(config)`` → ``report(run)``; ``save``
writes the chapter's predictions for the summary.  The demo budget lives in
:func:`config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from glmeval_utils.data import registry
from glmeval_utils.data.splits import TaskData
from glmeval_utils.eval import compare, paper, verdicts
from glmeval_utils.eval.performance import performance_table, seed_metrics
from glmeval_utils.eval.roles import is_glm
from glmeval_utils.eval.results import write_results
from glmeval_utils.learn import ladder
from glmeval_utils.learn.probes import variance_spectrum
from glmeval_utils.models import load_glm
from glmeval_utils.predictions import ONE_HOT
from glmeval_utils.profiles import Profile
from glmeval_utils.tasks.report import Report, apply_overrides, default_progress, glance, output_path, settings_for
from glmeval_utils.tasks.tables import readable

TASK = "lentimpra"
METRIC = "pearson"
CHAPTER = "1. lentiMPRA"


@dataclass(frozen=True)
class Config:
    """Settings of chapter 1 (see :func:`config`)."""

    profile: str
    settings: Profile
    models: tuple
    seeds: tuple
    representations: tuple = ("cls", "mean", "full")
    onehot: tuple = ("cnn", "resnet", "mprann")
    dataset: str = "lentimpra_hepg2"
    sweep_model: str | None = "teaching-mlm"
    sweep_probe: str = "linear"
    whitening_check: bool = True
    device: str = "auto"
    n_boot: int = 1000


def config(profile: str = "demo", **overrides) -> Config:
    """The chapter's settings for a profile; keyword overrides (None = keep) replace any field.

    Demo budget (2 CPU cores): the causal teaching gLM is left out and the CLS
    rung is skipped (its own forward pass per model); the mean embedding is
    derived from the cached full embedding.
    """
    settings = settings_for(profile)
    models = settings.models
    representations = ("cls", "mean", "full")
    if profile == "demo":
        models = tuple(m for m in models if m != "teaching-clm")
        representations = ("mean", "full")
    # the layer sweep: the paper's NT where it runs, else the masked teaching gLM
    sweep = next((m for m in ("nt-v1-2.5b-1000g", "teaching-mlm") if m in models), None)
    base = Config(profile=profile, settings=settings, models=models, seeds=settings.seeds,
                  representations=representations, sweep_model=sweep)
    return apply_overrides(base, overrides)


@dataclass
class Run:
    """Everything chapter 1 trained (validation and test predictions of every model)."""

    config: Config
    table: pd.DataFrame
    data: TaskData
    predictions: pd.DataFrame
    sweep: pd.DataFrame = field(default_factory=pd.DataFrame)
    spectra: dict = field(default_factory=dict)
    whitening: pd.DataFrame = field(default_factory=pd.DataFrame)
    glms: pd.DataFrame = field(default_factory=pd.DataFrame)


def run(cfg: Config, *, progress: bool | None = None) -> Run:
    """Load the data, train the one-hot baselines and every gLM's probe ladder, sweep layers.

    ``progress`` None: bars unless ``TQDM_DISABLE`` is set (:func:`~.report.default_progress`).
    """
    progress = default_progress() if progress is None else progress
    table = registry.load(cfg.dataset, profile=cfg.profile, progress=progress)
    data = TaskData.from_table(table, target="activity", task=TASK, dataset=cfg.dataset, kind="regression")
    parts = [ladder.onehot_baselines(data, cfg.onehot, profile=cfg.settings, seeds=cfg.seeds, device=cfg.device,
                                     progress=progress)]
    spectra, whitening, described = {}, [], []
    derive_mean = ladder.derives_mean(cfg.settings, cfg.representations)
    for name in cfg.models:
        glm = load_glm(name, device=cfg.device)
        described.append({"model": name, "role": glm.role, "layers": glm.n_layers, "hidden size": glm.hidden_size,
                          "CLS token": glm.has_cls})
        rows = ladder.glm_ladder(glm, data, profile=cfg.settings, seeds=cfg.seeds,
                                 representations=cfg.representations, device=cfg.device, progress=progress)
        parts.append(rows)
        if cfg.whitening_check and "mean" in cfg.representations:
            pooled = ladder.split_embeddings(glm, data, representation="mean", mean_from_full=derive_mean,
                                             progress=False)
            spectra[name] = variance_spectrum(pooled["train"])
            whitened = rows[(rows.representation == "mean") & (rows.probe == "mlp")]
            whitening.append(ladder.mlp_whitening_check(
                pooled, data, profile=cfg.settings, seeds=cfg.seeds, device=cfg.device,
                whitened_predictions=whitened if len(whitened) else None).assign(model=name))
    sweep = pd.DataFrame()
    if cfg.sweep_model:
        sweep = ladder.layer_sweep(load_glm(cfg.sweep_model, device=cfg.device), data, probe=cfg.sweep_probe,
                                   profile=cfg.settings, seeds=cfg.seeds, device=cfg.device, progress=progress)
    return Run(cfg, table, data, pd.concat(parts, ignore_index=True), sweep, spectra,
               pd.concat(whitening, ignore_index=True) if whitening else pd.DataFrame(), pd.DataFrame(described))


def report(run: Run) -> Report:
    """Select on validation, compare on test, and state the chapter's verdicts."""
    cfg, predictions = run.config, run.predictions
    performance = performance_table(predictions, METRIC, n_boot=cfg.n_boot)
    comparisons = compare.ladder_comparisons(predictions, METRIC, n_boot=cfg.n_boot)
    every, selected, controls = comparisons.every, comparisons.selected, comparisons.controls
    layers = compare.chosen_layer_vs_last(run.sweep, METRIC, n_boot=cfg.n_boot) if len(run.sweep) else pd.DataFrame()
    found = [*comparisons.verdicts("Pearson r"), verdicts.intermediate_layers(layers)]
    main = found[0]
    onehot = performance[performance.role == ONE_HOT]
    yardstick = selected.iloc[0] if len(selected) else None
    statements = []
    if yardstick is not None:
        best_onehot = onehot[onehot.probe == yardstick.onehot_probe].iloc[0]
        statements.append(f"The one-hot yardstick is the architecture with the best validation score: "
                          f"**{yardstick.onehot_probe}** (validation r {yardstick.onehot_valid:.3f}, test r "
                          f"{best_onehot['mean']:.3f} ± {best_onehot['sd']:.3f} over seeds).")
    for row in selected.itertuples():
        statements.append(f"`{row.model}` ({row.role}): chosen on validation **{row.representation} → {row.probe}**, "
                          f"test r {row.value:.3f}; against the best one-hot model {row.effect:+.3f} "
                          f"(95% CI {row.ci_low:+.3f} to {row.ci_high:+.3f}): **{row.verdict}**.")
    lead = _lead(selected)
    tables = {
        "performance": readable(performance, {"label": "configuration", "role": "role", "valid_mean": "valid r",
                                              "mean": "test r", "sd": "sd (seeds)", "ci_low": "CI low",
                                              "ci_high": "CI high"}),
        "versus_onehot": readable(every, {"label": "configuration", "role": "role", "effect": "Δr vs best one-hot",
                                          "ci_low": "CI low", "ci_high": "CI high", "p_bootstrap": "p",
                                          "verdict": "verdict"}),
        "selected": readable(selected, {"label": "configuration chosen on validation", "role": "role",
                                        "valid_value": "valid r", "value": "test r", "effect": "Δr vs best one-hot",
                                        "ci_low": "CI low", "ci_high": "CI high", "verdict": "verdict"}),
        "controls": readable(controls, {"model": "model", "control": "control", "value": "test r",
                                        "baseline_value": "control r", "effect": "Δr", "ci_low": "CI low",
                                        "ci_high": "CI high", "verdict": "verdict"}),
        "layers": _layer_table(run.sweep),
        "whitening": _whitening_table(run.whitening),
        "paper": _paper_table(performance, "HepG2"),
    }
    figures = {"performance": performance, "versus_onehot": every, "layers": _layer_metrics(run.sweep),
               "scatter": _scatter_selectors(selected)}
    return Report(CHAPTER, glance(main, lead), found, statements, tables, figures)


def _lead(selected: pd.DataFrame) -> str:
    glms = selected[selected.role.map(is_glm)]
    if glms.empty:
        return "No pretrained gLM was run."
    best = glms.loc[glms.valid_value.fillna(-float("inf")).idxmax()]
    return (f"Best pretrained gLM (chosen on validation): {best.label}, test Pearson r {best.value:.3f}; best one-hot model "
            f"({best.onehot_probe}): {best.baseline_value:.3f}; difference {best.effect:+.3f} "
            f"(95% CI {best.ci_low:+.3f} to {best.ci_high:+.3f}).")


def _layer_metrics(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per-seed validation and test Pearson r of every layer of the sweep."""
    if sweep.empty:
        return pd.DataFrame(columns=["model", "layer", "split", "seed", "value"])
    metrics = seed_metrics(sweep, "regression")
    metrics = metrics[metrics.metric == METRIC]
    return metrics.assign(layer=metrics.representation.map(ladder.layer_of))[["model", "layer", "split", "seed",
                                                                             "value"]]


def _layer_table(sweep: pd.DataFrame) -> pd.DataFrame:
    metrics = _layer_metrics(sweep)
    if metrics.empty:
        return pd.DataFrame()
    table = metrics.pivot_table(index=["model", "layer"], columns="split", values="value", aggfunc="mean")
    return table.reset_index().rename_axis(columns=None).rename(columns={"valid": "valid r", "test": "test r"}).round(3)


def _scatter_selectors(selected: pd.DataFrame) -> list:
    """The best pretrained gLM and the best one-hot model, both chosen on validation."""
    glms = selected[selected.role.map(is_glm)]
    if glms.empty:
        return []
    best = glms.loc[glms.valid_value.fillna(-float("inf")).idxmax()]
    return [{"model": best.model, "representation": best.representation, "probe": best.probe},
            {"model": "one-hot", "probe": best.onehot_probe}]


def _whitening_table(whitening: pd.DataFrame) -> pd.DataFrame:
    if whitening.empty:
        return pd.DataFrame()
    table = whitening.groupby(["model", "whiten"]).score.mean().unstack("whiten")
    table = table.rename(columns={False: "raw input", True: "whitened input"})
    table["gain"] = table["whitened input"] - table["raw input"]
    return table.reset_index().rename_axis(columns=None).round(3)


def _paper_table(performance: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Our configurations beside the paper's, by role (the paper's HepG2 test fold)."""
    theirs = paper.paper_results().query("task == @TASK and dataset == @dataset")
    return paper.side_by_side(performance, theirs).round(3)


def save(run: Run, output_dir) -> list:
    """Write the predictions (validation and test), the layer sweep and the per-seed results."""
    written = [output_path(output_dir, f"{TASK}_predictions.csv.gz"),
               output_path(output_dir, f"{TASK}_layer_sweep.csv.gz"), output_path(output_dir, f"{TASK}.csv")]
    run.predictions.to_csv(written[0], index=False)
    run.sweep.to_csv(written[1], index=False)
    write_results(pd.concat([seed_metrics(run.predictions, "regression"),
                             seed_metrics(run.sweep, "regression") if len(run.sweep) else None]), written[2])
    return written

