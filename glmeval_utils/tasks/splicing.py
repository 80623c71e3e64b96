"""Chapter 4: alternative splicing — exon inclusion (Vex-seq; ASCOT in ``full``) and variant effects (MaPSy).

* **Vex-seq** (``smoke``/``demo``): PSI of minigene constructs in HepG2 and
  K562; the probe ladder against one-hot models, and ΔPSI of variants from the
  PSI predictions.
* **MaPSy**: splicing effect of an SNV in (wild type, mutant) reporter pairs; a
  Siamese one-hot CNN, ridge on the difference of gLM mean embeddings, a
  substitution-type control, and zero-shot gLM scores.
* **ASCOT** (``full`` only, the paper's task): 56 GTEx tissues' Δlogit PSI
  with the paper's two-headed CNN on one-hot windows and on gLM embeddings.

In ``full`` the gLM rungs of Vex-seq and ASCOT are also read from the paper's
extra NT layer (:data:`~glmeval_utils.tasks.report.PAPER_EXTRA_LAYERS`; rows
labelled e.g. ``"full@L10"``), one more configuration chosen on validation.

Every set is grouped by exon: the ~20 constructs of one Vex-seq exon and the
pairs of one MaPSy exon are not independent, so intervals resample exons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from glmeval_utils import embeddings
from glmeval_utils.data import registry
from glmeval_utils.data.splicing import ascot_splits, fetch_hg38, mapsy_variants, vexseq_inputs
from glmeval_utils.data.splits import TaskData
from glmeval_utils.eval import compare, paper
from glmeval_utils.eval.performance import performance_table, seed_metrics
from glmeval_utils.eval.roles import is_glm
from glmeval_utils.eval.results import write_results
from glmeval_utils.eval.stats import bootstrap_ci, metric_value
from glmeval_utils.eval.variants import evaluate_scores
from glmeval_utils.learn import ladder
from glmeval_utils.learn.probes import LinearProbe
from glmeval_utils.learn.splicing import ascot_ladder, fit_siamese_onehot, predict_pairs, substitution_means
from glmeval_utils.models import load_glm
from glmeval_utils.predictions import COMPOSITION, COMPOSITION_MODEL, ONE_HOT, ONEHOT_MODEL
from glmeval_utils.profiles import Profile
from glmeval_utils.score import zeroshot
from glmeval_utils.tasks.report import (PAPER_EXTRA_LAYERS, Report, apply_overrides, check_extra_layers,
                                        default_progress, extra_layer_ladder, glance, layer_label, model_notes,
                                        output_path, settings_for)
from glmeval_utils.tasks.tables import readable

TASK = "splicing"
METRIC = "spearman"
CHAPTER = "4. Alternative splicing"
MAPSY_WINDOW = 200


@dataclass(frozen=True)
class Config:
    """Settings of chapter 4 (see :func:`config`)."""

    profile: str
    settings: Profile
    models: tuple
    seeds: tuple
    onehot: tuple = ("cnn",)
    representations: tuple = ("cls", "mean", "full")
    pooled_probes: tuple = ("linear", "mlp")
    mapsy_target: str = "log2_vivo_ratio"
    vexseq_min_reads: int = 0
    ascot: bool = False
    fasta_path: str | None = None
    #: model → extra hidden states probed besides the last (the paper's NT layer 10 in ``full``).
    extra_layers: dict = field(default_factory=dict)
    device: str = "auto"
    n_boot: int = 1000


def config(profile: str = "demo", **overrides) -> Config:
    """The chapter's settings for a profile; keyword overrides (None = keep) replace any field.

    Demo budget (2 CPU cores): the masked teaching gLM and its random-init
    control, two seeds, at most 12 epochs with patience 3, the one-hot CNN
    only (the ResNet costs minutes on CPU) and the mean and full rungs.
    ``full`` adds ASCOT and the paper's extra NT layer rung (``extra_layers``).
    """
    settings = settings_for(profile)
    light = profile in ("smoke", "demo")
    seeds = settings.seeds
    if profile == "demo":
        settings = settings_for(settings, max_epochs=min(settings.max_epochs, 12), patience=3, lr_patience=1)
        seeds = settings.seeds[:2]
    base = Config(profile=profile, settings=settings,
                  models=("teaching-mlm", "teaching-mlm-random") if light else settings.models, seeds=seeds,
                  onehot=("cnn",) if light else ("cnn", "resnet"),
                  representations=("mean", "full") if light else ("cls", "mean", "full"),
                  pooled_probes=("linear",) if profile == "smoke" else ("linear", "mlp"), ascot=profile == "full",
                  extra_layers={} if light else dict(PAPER_EXTRA_LAYERS))
    return apply_overrides(base, overrides)


@dataclass
class Run:
    """Everything chapter 4 trained and scored.

    Attributes
    ----------
    vexseq : DataFrame
        The Vex-seq table (with ``seq_padded``).
    mapsy : DataFrame
        The MaPSy pairs with a finite target.
    predictions : DataFrame
        Valid and test prediction rows of every trained model on Vex-seq,
        MaPSy and (``full``) ASCOT.
    zero_shot : DataFrame
        MaPSy test pairs: ``effect``, ``exon_id`` and one column per zero-shot
        score (``"<model> · <score>"``).
    zero_shot_roles : dict
        Score column → role of its gLM.
    """

    config: Config
    vexseq: pd.DataFrame
    mapsy: pd.DataFrame
    predictions: pd.DataFrame
    zero_shot: pd.DataFrame
    zero_shot_roles: dict = field(default_factory=dict)


def run(cfg: Config, *, progress: bool | None = None) -> Run:
    """Train the Vex-seq ladder, the MaPSy pair models and zero-shot scores (and ASCOT in ``full``)."""
    progress = default_progress() if progress is None else progress
    glms = [load_glm(name, device=cfg.device) for name in cfg.models]
    vexseq = vexseq_inputs(registry.load("vexseq", profile=cfg.profile, progress=progress),
                           min_reads=cfg.vexseq_min_reads)
    vex = TaskData.from_table(vexseq, target=["psi_hepg2", "psi_k562"], task=TASK, dataset="vexseq",
                              kind="regression", seq_col="seq_padded", group_col="exon_id")
    parts = [ladder.onehot_baselines(vex, cfg.onehot, profile=cfg.settings, seeds=cfg.seeds, device=cfg.device,
                                     progress=progress)]
    for glm in glms:
        ladder_kwargs = dict(profile=cfg.settings, seeds=cfg.seeds, device=cfg.device,
                             representations=cfg.representations, pooled_probes=cfg.pooled_probes, progress=progress)
        parts.append(ladder.glm_ladder(glm, vex, **ladder_kwargs))
        if cfg.extra_layers.get(glm.name):
            parts.append(extra_layer_ladder(glm, vex, cfg.extra_layers[glm.name], **ladder_kwargs))
    mapsy = registry.load("mapsy", profile=cfg.profile, progress=progress)
    mapsy = mapsy[np.isfinite(mapsy[cfg.mapsy_target])].reset_index(drop=True)
    mapsy_parts, zero_shot, roles = _mapsy(cfg, mapsy, glms)
    parts += mapsy_parts
    if cfg.ascot:
        psi = registry.load("paper_mtsplice_psi", profile="full", progress=progress)
        splits = ascot_splits(psi, cfg.fasta_path or fetch_hg38(progress=progress))
        training = dict(seeds=cfg.seeds, max_epochs=cfg.settings.max_epochs, patience=cfg.settings.patience,
                        lr_patience=cfg.settings.lr_patience, device=cfg.device, progress=progress)
        parts.append(ascot_ladder(splits, glms, **training))
        parts += _ascot_extra_layers(splits, glms, cfg.extra_layers, **training)
    return Run(cfg, vexseq, mapsy, pd.concat(parts, ignore_index=True), zero_shot, roles)


def _ascot_extra_layers(splits: dict, glms: Sequence, extra_layers: dict, **training) -> list:
    """ASCOT prediction rows of the gLMs' extra layers, labelled ``"full@L<k>"``.

    :func:`~glmeval_utils.learn.splicing.ascot_ladder` trains its one-hot
    model on every call; those rows repeat the last-layer call's model and
    are dropped.
    """
    frames = []
    for glm in glms:
        check_extra_layers(glm, extra_layers.get(glm.name, ()))
    for layer in sorted({k for layers in extra_layers.values() for k in layers}):
        reading = [glm for glm in glms if layer in extra_layers.get(glm.name, ())]
        if not reading:
            continue
        rows = ascot_ladder(splits, reading, layer=layer, **training)
        rows = rows[rows.role != ONE_HOT]
        frames.append(rows.assign(representation=[layer_label(r, layer) for r in rows.representation]))
    return frames


def _mapsy(cfg: Config, mapsy: pd.DataFrame, glms: Sequence) -> tuple[list, pd.DataFrame, dict]:
    """MaPSy pair models (valid and test predictions) and zero-shot scores of the test pairs."""
    target = cfg.mapsy_target
    data = TaskData.from_table(mapsy, target=target, task=TASK, dataset="mapsy", kind="regression",
                               seq_col="mut_seq", group_col="exon_id")
    pairs = {split: mapsy[mapsy.split == split] for split in ("train", "valid", "test")}
    rows = []
    for seed in cfg.seeds:
        siamese, _ = fit_siamese_onehot(pairs["train"], pairs["valid"], target,
                                        width_factor=cfg.settings.width_factor, max_epochs=cfg.settings.max_epochs,
                                        patience=cfg.settings.patience, lr_patience=cfg.settings.lr_patience,
                                        seed=seed, device=cfg.device, progress=False)
        rows.append(data.predictions_of(lambda part: predict_pairs(siamese, part, device=cfg.device), pairs,
                                        model=ONEHOT_MODEL, role=ONE_HOT, representation="onehot",
                                        probe="siamese_cnn", seed=seed))
    rows.append(data.predictions_of(lambda part: substitution_means(pairs["train"], part, target), pairs,
                                    model=COMPOSITION_MODEL, role=COMPOSITION, representation="substitution type",
                                    probe="train mean", seed=0))
    test = pairs["test"]
    zero_shot = pd.DataFrame({"effect": test[target].to_numpy(), "exon_id": test["exon_id"].astype(str).to_numpy()})
    roles = {}
    pair_seqs = sorted(set(mapsy.wt_seq) | set(mapsy.mut_seq))
    row_of = {seq: k for k, seq in enumerate(pair_seqs)}
    variants = mapsy_variants(test)
    for glm in glms:
        mean = np.asarray(embeddings.extract(glm, pair_seqs, pooling="mean", label="mapsy_pairs",
                                             progress=False).layer(-1))
        features = {split: mean[[row_of[s] for s in part.mut_seq]] - mean[[row_of[s] for s in part.wt_seq]]
                    for split, part in pairs.items()}
        ridge = LinearProbe("regression").fit(features["train"], pairs["train"][target].to_numpy(),
                                              features["valid"], pairs["valid"][target].to_numpy())
        rows.append(data.predictions_of(ridge.predict, features, model=glm.name, role=glm.role,
                                        representation="Δmean", probe="linear", seed=0))
        methods = {"masked": ["masked_llr"], "causal": ["causal_llr"]}.get(glm.objective, [])
        for method in methods:
            zero_shot[f"{glm.name} · {method}"] = zeroshot.score_variants(glm, variants, method=method,
                                                                         window=MAPSY_WINDOW, progress=False)
        # a bigger change of the embedding should mean a loss of splicing: negate the distance
        zero_shot[f"{glm.name} · -cosine_mean"] = -zeroshot.score_variants(glm, variants, method="cosine_mean",
                                                                          window=MAPSY_WINDOW, progress=False)
        roles.update({column: glm.role for column in zero_shot.columns if column.startswith(f"{glm.name} · ")})
    return rows, zero_shot, roles


def variant_deltas(table: pd.DataFrame, predictions: pd.DataFrame, *,
                   targets: Sequence[str] = ("psi_hepg2", "psi_k562")) -> pd.DataFrame:
    """Vex-seq variant effects (variant minus wild type of the same exon) from test PSI predictions.

    Parameters
    ----------
    table : pandas.DataFrame
        The Vex-seq table whose index the predictions' ``index`` refers to
        (``variant_id``, ``exon_id``, ``class`` and the target columns).
    predictions : pandas.DataFrame
        Vex-seq test prediction rows with ``output`` k for ``targets[k]``;
        seeds are averaged.

    Returns
    -------
    pandas.DataFrame
        One row per configuration, variant and output: ``model, role,
        representation, probe, output, target, variant_id, exon_id,
        delta_true, delta_pred``.  Only variants whose wild type was predicted
        by the same model appear.
    """
    keys = ["model", "role", "representation", "probe"]
    averaged = predictions.groupby([*keys, "index", "output"], sort=False)["y_score"].mean().reset_index()
    averaged = averaged.join(table[["variant_id", "exon_id", "class"]], on="index")
    wild = averaged[averaged["class"] == "Reference"][[*keys, "output", "exon_id", "index", "y_score"]]
    variants = averaged[averaged["class"] == "Variant"]
    merged = variants.merge(wild, on=[*keys, "output", "exon_id"], suffixes=("", "_wt"))
    truth = table[list(targets)].to_numpy(float)
    merged["target"] = [targets[k] for k in merged["output"]]
    merged["delta_true"] = (truth[table.index.get_indexer(merged["index"]), merged["output"]]
                            - truth[table.index.get_indexer(merged["index_wt"]), merged["output"]])
    merged["delta_pred"] = merged["y_score"] - merged["y_score_wt"]
    return merged[[*keys, "output", "target", "variant_id", "exon_id", "delta_true",
                   "delta_pred"]].reset_index(drop=True)


def _delta_table(run: Run) -> pd.DataFrame:
    """Spearman ρ of predicted against measured ΔPSI per configuration and cell line (exon bootstrap)."""
    vex = run.predictions[(run.predictions.dataset == "vexseq") & (run.predictions.split == "test")]
    deltas = variant_deltas(run.vexseq, vex)
    rows = []
    for (model, role, representation, probe, target), part in deltas.groupby(
            ["model", "role", "representation", "probe", "target"], sort=False):
        truth, score = part.delta_true.to_numpy(), part.delta_pred.to_numpy()
        low, high = bootstrap_ci(truth, score, METRIC, groups=part.exon_id.to_numpy(), n_boot=run.config.n_boot)
        rows.append({"configuration": f"{model} · {representation} → {probe}", "role": role, "cell line": target,
                     "variants": len(part), "exons": part.exon_id.nunique(),
                     "Spearman ΔPSI": metric_value(truth, score, METRIC), "ci_low": low, "ci_high": high})
    table = pd.DataFrame(rows)
    return readable(table, {c: c for c in table.columns})


def report(run: Run) -> Report:
    """Select on validation per data set, compare with the best one-hot model; the chapter's verdicts."""
    cfg, predictions = run.config, run.predictions
    performance = performance_table(predictions, METRIC, n_boot=cfg.n_boot)
    pearson = performance_table(predictions, "pearson", n_boot=cfg.n_boot)
    comparisons = compare.ladder_comparisons(predictions, METRIC, n_boot=cfg.n_boot)
    every, selected, controls = comparisons.every, comparisons.selected, comparisons.controls
    found = comparisons.verdicts("Spearman ρ")
    main = found[0]
    zero = evaluate_scores(run.zero_shot, [c for c in run.zero_shot.columns if " · " in c], by=None,
                           group="exon_id", confidence=None, n_boot=cfg.n_boot)
    zero = zero[zero.metric.isin(["spearman", "spearman_abs_effect"])].assign(
        role=lambda d: d.score.map(run.zero_shot_roles))
    statements = _statements(selected, performance, zero) + model_notes(
        [*predictions.model, *(column.split(" · ")[0] for column in run.zero_shot.columns)])
    glms = selected[selected.role.map(is_glm)]
    lead = ("; ".join(f"{r.dataset}: {r.model} · {r.representation} → {r.probe} {r.effect:+.3f} Spearman ρ against "
                      f"the best one-hot model (95% CI {r.ci_low:+.3f} to {r.ci_high:+.3f})" for r in glms.itertuples())
            + "." if len(glms) else "No pretrained gLM was run.")
    merged = performance.merge(pearson[["dataset", "label", "mean", "ci_low", "ci_high"]], on=["dataset", "label"],
                               suffixes=("", "_pearson"))
    theirs = paper.paper_results().query("task == @TASK")
    tables = {
        "performance": readable(merged, {"dataset": "data set", "label": "configuration", "role": "role",
                                         "valid_mean": "valid ρ", "mean": "test ρ", "ci_low": "CI low",
                                         "ci_high": "CI high", "mean_pearson": "test r"}),
        "selected": readable(selected, {"dataset": "data set", "label": "configuration chosen on validation",
                                        "role": "role", "valid_value": "valid ρ", "value": "test ρ",
                                        "effect": "Δρ vs best one-hot", "ci_low": "CI low", "ci_high": "CI high",
                                        "verdict": "verdict"}),
        "controls": readable(controls, {"dataset": "data set", "model": "model", "value": "ρ",
                                        "baseline_value": "control ρ", "effect": "Δρ", "ci_low": "CI low",
                                        "ci_high": "CI high", "verdict": "verdict"}),
        "variant_effects": _delta_table(run),
        "zero_shot": readable(zero, {"score": "score", "role": "role", "metric": "metric", "value": "ρ",
                                     "ci_low": "CI low", "ci_high": "CI high", "n": "pairs", "n_groups": "exons"}),
        "paper": theirs.pivot_table(index=["model", "role"], columns="dataset", values="value").reset_index()
                       .rename_axis(columns=None).round(3),
    }
    figures = {"performance": performance,
               "versus_onehot": every.assign(label=every.dataset + ": " + every.label) if len(every) else every,
               "bars": _bars(performance[performance.dataset == "mapsy"], zero)}
    return Report(CHAPTER, glance(main, lead), found, statements, tables, figures)


def _statements(selected: pd.DataFrame, performance: pd.DataFrame, zero: pd.DataFrame) -> list:
    out = []
    for dataset, part in selected.groupby("dataset", sort=False):
        onehot = performance[(performance.dataset == dataset) & (performance.role == ONE_HOT)
                             & (performance.probe == part.onehot_probe.iloc[0])].iloc[0]
        out.append(f"**{dataset}.** The best one-hot model (chosen on validation: {onehot.probe}) reaches test "
                   f"ρ = {onehot['mean']:.3f}. " + " ".join(
                       f"`{r.model}` ({r.role}, {r.representation} → {r.probe}): {r.value:.3f}, {r.effect:+.3f} "
                       f"(95% CI over exons {r.ci_low:+.3f} to {r.ci_high:+.3f}), {r.verdict}."
                       for r in part.itertuples()))
    signed = zero[(zero.metric == "spearman") & zero.role.map(is_glm)]
    if len(signed):
        out.append(f"**MaPSy zero-shot.** The pretrained gLMs' zero-shot scores correlate with the signed effect at "
                   f"ρ = {signed.value.min():.3f} to {signed.value.max():.3f} (95% CIs over exons in the table); read "
                   "them against the substitution-type control above, which uses no sequence context, and against "
                   "the random-init controls' scores.")
    return out


def _bars(mapsy: pd.DataFrame, zero: pd.DataFrame) -> pd.DataFrame:
    """MaPSy supervised models (test ρ, mean over seeds) and zero-shot scores side by side, for one bar chart."""
    supervised = mapsy.assign(kind="supervised", value=mapsy["mean"])[["label", "role", "value", "ci_low",
                                                                       "ci_high", "kind"]]
    shown = zero[zero.metric == "spearman"].assign(kind="zero-shot", label=lambda d: d.score)
    return pd.concat([supervised, shown[["label", "role", "value", "ci_low", "ci_high", "kind"]]], ignore_index=True)


def save(run: Run, output_dir) -> list:
    """Write the predictions (validation and test) and the per-seed results."""
    written = [output_path(output_dir, f"{TASK}_predictions.csv.gz"), output_path(output_dir, f"{TASK}.csv")]
    run.predictions.to_csv(written[0], index=False)
    write_results(seed_metrics(run.predictions, "regression"), written[1])
    return written

