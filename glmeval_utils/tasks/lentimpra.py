"""Chapter 1: lentiMPRA activity regression — the probe ladder against the best one-hot model.

``config(profile, **overrides)`` → ``run(config)`` → ``report(run)``; ``save``
writes the chapter's predictions for the summary.  The demo budget lives in
:func:`config`.

Data sets (:data:`DATASETS`): ``smoke`` and ``demo`` read the offline HepG2
folds 9-10 (MPRA-MNIST, re-split by element); ``full`` reads the paper's own
ten-fold files of HepG2 and K562 (folds 1-8 train, 9 valid, 10 test).  Every
comparison is made within one data set, as in the binding chapters.
"""

from __future__ import annotations

import functools
import os
import warnings
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
from glmeval_utils.sequences import reverse_complement
from glmeval_utils.tasks.report import (Report, StageTimes, apply_overrides, default_progress, glance, model_notes,
                                        output_path, settings_for, stalled_notes)
from glmeval_utils.tasks.tables import readable

TASK = "lentimpra"
METRIC = "pearson"
CHAPTER = "1. lentiMPRA"
#: registry data sets per profile: the paper's folds of both cell types need its Zenodo archive (``full``).
DATASETS = {"smoke": ("lentimpra_hepg2",), "demo": ("lentimpra_hepg2",),
            "full": ("paper_lentimpra_hepg2", "paper_lentimpra_k562")}
#: cell type of each lentiMPRA data set: the name the pages show and the paper's results are keyed by.
CELL_TYPES = {"lentimpra_hepg2": "HepG2", "paper_lentimpra_hepg2": "HepG2", "paper_lentimpra_hepg2_hf": "HepG2",
              "paper_lentimpra_k562": "K562"}


def cell_type(dataset: str) -> str:
    """The cell type of a lentiMPRA data set (:data:`CELL_TYPES`); another name is shown as it is."""
    return CELL_TYPES.get(dataset, dataset)


@dataclass(frozen=True)
class Config:
    """Settings of chapter 1 (see :func:`config`)."""

    profile: str
    settings: Profile
    models: tuple
    seeds: tuple
    representations: tuple = ("cls", "mean", "full")
    onehot: tuple = ("cnn", "resnet", "mprann")
    datasets: tuple = DATASETS["demo"]
    sweep_model: str | None = "teaching-mlm"
    sweep_probe: str = "linear"
    whitening_check: bool = True
    device: str = "auto"
    n_boot: int = 1000


def config(profile: str = "demo", **overrides) -> Config:
    """The chapter's settings for a profile; keyword overrides (None = keep) replace any field.

    Demo budget (2 CPU cores): the causal teaching gLM is left out and the CLS
    rung is skipped (its own forward pass per model); the mean embedding is
    derived from the cached full embedding.  ``full`` runs on the paper's
    HepG2 and K562 folds (:data:`DATASETS`).
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
                  representations=representations, datasets=DATASETS[profile], sweep_model=sweep)
    return apply_overrides(base, overrides)


class DataSets(dict):
    """The :class:`~glmeval_utils.data.splits.TaskData` of each data set of a run, by registry name."""

    def sizes(self) -> pd.Series:
        """Rows per split; with several data sets indexed by (cell type, split)."""
        if len(self) == 1:
            return next(iter(self.values())).sizes()
        return pd.concat({cell_type(name): data.sizes() for name, data in self.items()}, names=["data set", "split"])


def orientation_free_elements(seqs: pd.Series) -> pd.Series:
    """An id shared by the forward and the reverse construct of one element.

    The paper's h5 files carry no element ids, but both orientations of an
    element were assayed and are not independent examples.  Each construct
    is the element between adapters that every construct shares; cutting the
    flanks common to all sequences leaves the element in one orientation or
    the other, and the id is the smaller of it and its reverse complement.

    Parameters
    ----------
    seqs : pandas.Series of str

    Returns
    -------
    pandas.Series of str
        Same index as ``seqs``, named ``"element"``.
    """
    values = seqs.tolist()
    prefix = len(os.path.commonprefix(values))
    suffix = len(os.path.commonprefix([seq[::-1] for seq in values]))
    cores = [seq[prefix:max(prefix, len(seq) - suffix)] for seq in values]
    return pd.Series([min(core, reverse_complement(core)) for core in cores], index=seqs.index, name="element")


def load_data(cfg: Config, *, progress: bool = True) -> tuple[pd.DataFrame, DataSets]:
    """Every data set of ``cfg`` as a table and as task data (train / valid / test).

    A table without element ids (the paper's files) is grouped by
    :func:`orientation_free_elements`, so that bootstraps resample elements;
    a warning counts elements whose two constructs lie in different splits.

    Returns
    -------
    (DataFrame, DataSets)
        Every row of every data set with a ``dataset`` column (each table keeps
        its own index, the ``index`` of its prediction rows), and the task data.
    """
    tables, data = [], DataSets()
    for name in cfg.datasets:
        table = registry.load(name, profile=cfg.profile, progress=progress)
        group_col = table.attrs.get("group_col")
        if group_col is None:
            group_col = "element"
            table[group_col] = orientation_free_elements(table["seq"])
            straddling = int((table.groupby(group_col)["split"].nunique() > 1).sum())
            if straddling:
                warnings.warn(f"{name}: {straddling} elements have constructs in two splits (the bootstrap keeps "
                              "each element together; the split does not)")
        data[name] = TaskData.from_table(table, target="activity", task=TASK, dataset=name, kind="regression",
                                         group_col=group_col)
        tables.append(table.assign(dataset=name))
    return pd.concat(tables), data


@dataclass
class Run:
    """Everything chapter 1 trained (validation and test predictions of every model on every data set)."""

    config: Config
    table: pd.DataFrame
    data: DataSets
    predictions: pd.DataFrame
    sweep: pd.DataFrame = field(default_factory=pd.DataFrame)
    spectra: dict = field(default_factory=dict)
    whitening: pd.DataFrame = field(default_factory=pd.DataFrame)
    glms: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: one record per one-hot fit (:func:`glmeval_utils.learn.ladder.onehot_baselines`).
    onehot_fits: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: wall seconds per stage (``dataset``, ``stage``, ``seconds``; :class:`~.report.StageTimes`).
    timings: pd.DataFrame = field(default_factory=pd.DataFrame)


def run(cfg: Config, *, progress: bool | None = None) -> Run:
    """Load the data, train the one-hot baselines and every gLM's probe ladder, sweep layers.

    ``progress`` None: bars unless ``TQDM_DISABLE`` is set (:func:`~.report.default_progress`).
    """
    progress = default_progress() if progress is None else progress
    times = StageTimes()
    table, data = times.run("load", lambda: load_data(cfg, progress=progress), dataset="all")
    several = len(data) > 1
    fits, parts = [], []
    for dataset, task_data in data.items():
        for architecture in cfg.onehot:
            parts.append(times.run(f"one-hot {architecture}", lambda: ladder.onehot_baselines(
                task_data, (architecture,), profile=cfg.settings, seeds=cfg.seeds, device=cfg.device, fits=fits,
                progress=progress), dataset=dataset))
    spectra, whitening, described = {}, [], []
    derive_mean = ladder.derives_mean(cfg.settings, cfg.representations)
    for name in cfg.models:  # one gLM in memory at a time
        glm = load_glm(name, device=cfg.device)
        described.append({"model": name, "role": glm.role, "layers": glm.n_layers, "hidden size": glm.hidden_size,
                          "CLS token": glm.has_cls})
        for dataset, task_data in data.items():
            stage = functools.partial(times.run, dataset=dataset)
            if "full" in cfg.representations:  # timed apart from the probes, which then read it from the cache
                stage(f"{name}: per-position embeddings", lambda: ladder.split_embeddings(
                    glm, task_data, representation="full", progress=progress))
            rows = stage(f"{name}: probe ladder", lambda: ladder.glm_ladder(
                glm, task_data, profile=cfg.settings, seeds=cfg.seeds, representations=cfg.representations,
                device=cfg.device, progress=progress))
            parts.append(rows)
            if cfg.whitening_check and "mean" in cfg.representations:
                pooled = ladder.split_embeddings(glm, task_data, representation="mean", mean_from_full=derive_mean,
                                                 progress=False)
                spectra[f"{name} · {cell_type(dataset)}" if several else name] = variance_spectrum(pooled["train"])
                whitened = rows[(rows.representation == "mean") & (rows.probe == "mlp")]
                whitening.append(stage(f"{name}: whitening check", lambda: ladder.mlp_whitening_check(
                    pooled, task_data, profile=cfg.settings, seeds=cfg.seeds, device=cfg.device,
                    whitened_predictions=whitened if len(whitened) else None)).assign(model=name, dataset=dataset))
    sweep = pd.DataFrame()
    if cfg.sweep_model:
        sweep_glm = load_glm(cfg.sweep_model, device=cfg.device)
        sweep = pd.concat([times.run(f"{cfg.sweep_model}: layer sweep", lambda: ladder.layer_sweep(
            sweep_glm, task_data, probe=cfg.sweep_probe, profile=cfg.settings, seeds=cfg.seeds, device=cfg.device,
            progress=progress), dataset=dataset) for dataset, task_data in data.items()], ignore_index=True)
    return Run(cfg, table, data, pd.concat(parts, ignore_index=True), sweep, spectra,
               pd.concat(whitening, ignore_index=True) if whitening else pd.DataFrame(), pd.DataFrame(described),
               pd.DataFrame(fits), times.frame())


def report(run: Run) -> Report:
    """Per data set: select on validation, compare on test; the chapter's verdicts over every data set.

    With several data sets (``full``: HepG2 and K562) every table gains a
    ``data set`` column, statements and figure labels name the cell type.
    """
    cfg, predictions = run.config, run.predictions
    datasets = list(dict.fromkeys(predictions.dataset))
    several = len(datasets) > 1
    performance = _with_cell(performance_table(predictions, METRIC, n_boot=cfg.n_boot), several)
    comparisons = compare.ladder_comparisons(predictions, METRIC, n_boot=cfg.n_boot)
    every, selected = _with_cell(comparisons.every, several), _with_cell(comparisons.selected, several)
    controls = _with_cell(comparisons.controls, several)
    layers = compare.chosen_layer_vs_last(run.sweep, METRIC, n_boot=cfg.n_boot) if len(run.sweep) else pd.DataFrame()
    found = [*comparisons.verdicts("Pearson r"), verdicts.intermediate_layers(layers)]
    main = found[0]
    statements, leads = [], []
    for dataset in datasets:
        prefix = f"**{cell_type(dataset)}.** " if several else ""
        mine = selected[selected.dataset == dataset] if len(selected) else selected
        statements += [prefix + text for text in _statements(performance[performance.dataset == dataset], mine)]
        leads.append(prefix + _lead(mine))
    statements += model_notes([*predictions.model, *(run.sweep.model if len(run.sweep) else ())])
    statements += stalled_notes(run.onehot_fits)
    cell = {"data set": "data set"} if several else {}
    tables = {
        "performance": readable(performance, {**cell, "label": "configuration", "role": "role",
                                              "valid_mean": "valid r", "mean": "test r", "sd": "sd (seeds)",
                                              "ci_low": "CI low", "ci_high": "CI high"}),
        "versus_onehot": readable(every, {**cell, "label": "configuration", "role": "role",
                                          "effect": "Δr vs best one-hot", "ci_low": "CI low", "ci_high": "CI high",
                                          "p_bootstrap": "p", "verdict": "verdict"}),
        "selected": readable(selected, {**cell, "label": "configuration chosen on validation", "role": "role",
                                        "valid_value": "valid r", "value": "test r", "effect": "Δr vs best one-hot",
                                        "ci_low": "CI low", "ci_high": "CI high", "verdict": "verdict"}),
        "controls": readable(controls, {**cell, "model": "model", "control": "control", "value": "test r",
                                        "baseline_value": "control r", "effect": "Δr", "ci_low": "CI low",
                                        "ci_high": "CI high", "verdict": "verdict"}),
        "layers": _layer_table(run.sweep, several),
        "whitening": _whitening_table(run.whitening, several),
        "paper": pd.concat([_paper_table(performance[performance.dataset == d], d, several) for d in datasets],
                           ignore_index=True),
        "timings": readable(_with_cell(run.timings, several), {**cell, "stage": "stage", "seconds": "seconds"},
                            digits=1),
    }
    figures = {"performance": _cell_labels(performance, several), "versus_onehot": _cell_labels(every, several),
               "layers": _layer_metrics(run.sweep), "scatter": _scatter_selectors(selected),
               "activity": _activity(run.table)}
    return Report(CHAPTER, glance(main, " ".join(leads)), found, statements, tables, figures)


def _with_cell(table: pd.DataFrame, several: bool) -> pd.DataFrame:
    """``table`` with a ``data set`` column (the cell type) when the run has several data sets."""
    if not several or table.empty:
        return table
    return table.assign(**{"data set": table.dataset.map(cell_type)})


def _cell_labels(table: pd.DataFrame, several: bool) -> pd.DataFrame:
    """Figure rows labelled ``"HepG2: <configuration>"`` when the run has several data sets."""
    if not several or table.empty:
        return table
    return table.assign(label=table["data set"] + ": " + table.label)


def _statements(performance: pd.DataFrame, selected: pd.DataFrame) -> list:
    """The one-hot yardstick and each model's chosen configuration against it, on one data set."""
    if selected.empty:
        return []
    yardstick = selected.iloc[0]
    onehot = performance[(performance.role == ONE_HOT) & (performance.probe == yardstick.onehot_probe)].iloc[0]
    out = [f"The one-hot yardstick is the architecture with the best validation score: **{yardstick.onehot_probe}** "
           f"(validation r {yardstick.onehot_valid:.3f}, test r {onehot['mean']:.3f} ± {onehot['sd']:.3f} over "
           "seeds)."]
    for row in selected.itertuples():
        out.append(f"`{row.model}` ({row.role}): chosen on validation **{row.representation} → {row.probe}**, "
                   f"test r {row.value:.3f}; against the best one-hot model {row.effect:+.3f} "
                   f"(95% CI {row.ci_low:+.3f} to {row.ci_high:+.3f}): **{row.verdict}**.")
    return out


def _lead(selected: pd.DataFrame) -> str:
    glms = selected[selected.role.map(is_glm)] if len(selected) else selected
    if glms.empty:
        return "No pretrained gLM was run."
    best = glms.loc[glms.valid_value.fillna(-float("inf")).idxmax()]
    return (f"Best pretrained gLM (chosen on validation): {best.label}, test Pearson r {best.value:.3f}; best one-hot model "
            f"({best.onehot_probe}): {best.baseline_value:.3f}; difference {best.effect:+.3f} "
            f"(95% CI {best.ci_low:+.3f} to {best.ci_high:+.3f}).")


def _activity(table: pd.DataFrame) -> pd.DataFrame:
    """``activity`` and ``group`` of every construct: its orientation where the data say it, else its cell type."""
    if table.empty:
        return pd.DataFrame(columns=["activity", "group"])
    group = table["orientation"] if "orientation" in table else table["dataset"].map(cell_type)
    return pd.DataFrame({"activity": table["activity"].to_numpy(), "group": group.to_numpy()})


def _layer_metrics(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per-seed validation and test Pearson r of every layer of the sweep.

    ``dataset`` is the cell type; ``curve`` names one line of the layer figure
    (the split, prefixed with the cell type when the sweep covers several).
    """
    columns = ["dataset", "model", "layer", "split", "curve", "seed", "value"]
    if sweep.empty:
        return pd.DataFrame(columns=columns)
    metrics = seed_metrics(sweep, "regression")
    metrics = metrics[metrics.metric == METRIC]
    cells = metrics.dataset.map(cell_type)
    curve = cells + " " + metrics.split if metrics.dataset.nunique() > 1 else metrics.split
    return metrics.assign(dataset=cells, layer=metrics.representation.map(ladder.layer_of), curve=curve)[columns]


def _layer_table(sweep: pd.DataFrame, several: bool) -> pd.DataFrame:
    metrics = _layer_metrics(sweep)
    if metrics.empty:
        return pd.DataFrame()
    keys = ["dataset", "model", "layer"] if several else ["model", "layer"]
    table = metrics.pivot_table(index=keys, columns="split", values="value", aggfunc="mean")
    return (table.reset_index().rename_axis(columns=None)
            .rename(columns={"dataset": "data set", "valid": "valid r", "test": "test r"}).round(3))


def _scatter_selectors(selected: pd.DataFrame) -> list:
    """Per data set: the best pretrained gLM and the best one-hot model, both chosen on validation."""
    out = []
    for dataset, part in selected.groupby("dataset", sort=False) if len(selected) else ():
        glms = part[part.role.map(is_glm)]
        if glms.empty:
            continue
        best = glms.loc[glms.valid_value.fillna(-float("inf")).idxmax()]
        out += [{"dataset": dataset, "model": best.model, "representation": best.representation, "probe": best.probe},
                {"dataset": dataset, "model": "one-hot", "probe": best.onehot_probe}]
    return out


def _whitening_table(whitening: pd.DataFrame, several: bool) -> pd.DataFrame:
    if whitening.empty:
        return pd.DataFrame()
    keys = ["model", "dataset"] if several else ["model"]
    table = whitening.groupby([*keys, "whiten"]).score.mean().unstack("whiten")
    table = table.rename(columns={False: "raw input", True: "whitened input"})
    table["gain"] = table["whitened input"] - table["raw input"]
    table = table.reset_index().rename_axis(columns=None)
    if several:
        table = table.assign(dataset=table.dataset.map(cell_type)).rename(columns={"dataset": "data set"})
    return table.round(3)


def _paper_table(performance: pd.DataFrame, dataset: str, several: bool) -> pd.DataFrame:
    """Our configurations beside the paper's, by role (the paper's test fold of the same cell type)."""
    cell = cell_type(dataset)
    theirs = paper.paper_results().query("task == @TASK and dataset == @cell")
    table = paper.side_by_side(performance, theirs).round(3)
    return table.assign(**{"data set": cell})[["data set", *table.columns]] if several else table


def save(run: Run, output_dir) -> list:
    """Write the predictions (validation and test), the layer sweep and the per-seed results."""
    written = [output_path(output_dir, f"{TASK}_predictions.csv.gz"),
               output_path(output_dir, f"{TASK}_layer_sweep.csv.gz"), output_path(output_dir, f"{TASK}.csv")]
    run.predictions.to_csv(written[0], index=False)
    run.sweep.to_csv(written[1], index=False)
    write_results(pd.concat([seed_metrics(run.predictions, "regression"),
                             seed_metrics(run.sweep, "regression") if len(run.sweep) else None]), written[2])
    return written

