"""Chapter 10: the book's answer — every claim of the paper, decided by the same rules on every chapter's results.

The task chapters write their predictions (validation and test) and the
tables the claims need into one results folder; :func:`run` reads them back
and :func:`report` decides every claim with :mod:`glmeval_utils.eval.verdicts`,
counting only pretrained gLMs on real data.  Beside the paper's claims stand
the two questions chapter 9 asks (more pretraining, fine-tuning), decided
from its own files (``scaling_curve.csv.gz``, ``scaling_finetuning.csv.gz``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from glmeval_utils.eval import compare, paper, verdicts
from glmeval_utils.eval.roles import is_glm
from glmeval_utils.predictions import SUPERVISED, read_predictions
from glmeval_utils.tasks import attribution, cagi5
from glmeval_utils.tasks.report import Report, glance, model_notes, output_path
from glmeval_utils.tasks.tables import for_reading, readable

CHAPTER = "10. Summary"
#: headline metric of each supervised task (the paper's choice).
TASK_METRICS = {"lentimpra": "pearson", "tf_binding": "auroc", "rbp_binding": "auroc", "splicing": "spearman",
                "pol2_elongation": "pearson"}


@dataclass(frozen=True)
class Config:
    """Where the chapters wrote their results, and the bootstrap size."""

    results_dir: Path
    n_boot: int = 1000
    metrics: dict = field(default_factory=lambda: dict(TASK_METRICS))


def config(output_dir="results", **overrides) -> Config:
    """The summary reads the results folder the chapters wrote (their ``output_dir``)."""
    return Config(results_dir=Path(output_dir), **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class Run:
    """Every chapter's saved results.

    Attributes
    ----------
    predictions : DataFrame
        Every ``*_predictions.csv.gz``.
    sweep, cagi5, agreement : DataFrame
        The layer sweep of chapter 1, the per-element metrics of chapter 3 and
        the map agreement of chapter 7 (empty when the chapter did not run).
    budget, finetuning : DataFrame
        Chapter 9's prediction rows: the pretraining curve with its one-hot
        models, and the fine-tuning comparison (empty when it did not run).
    """

    config: Config
    predictions: pd.DataFrame
    sweep: pd.DataFrame
    cagi5: pd.DataFrame
    agreement: pd.DataFrame
    budget: pd.DataFrame = field(default_factory=pd.DataFrame)
    finetuning: pd.DataFrame = field(default_factory=pd.DataFrame)


def _read(path: Path, reader) -> pd.DataFrame:
    return reader(path) if path.exists() else pd.DataFrame()


def run(cfg: Config) -> Run:
    """Read what the chapters saved."""
    folder = cfg.results_dir
    files = sorted(folder.glob("*_predictions.csv.gz"))
    if not files:
        raise FileNotFoundError(f"no *_predictions.csv.gz files in {folder}; run the task chapters first")

    def rows(name):
        return _read(folder / name, lambda path: read_predictions([path]))

    return Run(cfg, read_predictions(files), rows("lentimpra_layer_sweep.csv.gz"),
               _read(folder / "cagi5_metrics.csv.gz", pd.read_csv),
               _read(folder / "attribution_agreement.csv", pd.read_csv),
               rows("scaling_curve.csv.gz"), rows("scaling_finetuning.csv.gz"))


def _per_task(predictions: pd.DataFrame, metrics: dict, function, **kwargs) -> pd.DataFrame:
    tables = [function(part, metrics[task], **kwargs).assign(metric=metrics[task])
              for task, part in predictions.groupby("task", sort=False) if task in metrics]
    tables = [t for t in tables if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def report(run: Run) -> Report:
    """Every claim's verdict, with the tables behind them."""
    cfg, predictions = run.config, run.predictions
    selected = _per_task(predictions, cfg.metrics, compare.versus_best_onehot, n_boot=cfg.n_boot)
    controls = _per_task(predictions, cfg.metrics, compare.versus_controls, n_boot=cfg.n_boot)
    cnn = _per_task(predictions, cfg.metrics, compare.versus_configuration,
                    configuration={"representation": "full", "probe": "cnn"}, n_boot=cfg.n_boot)
    layers = (compare.chosen_layer_vs_last(run.sweep, cfg.metrics["lentimpra"], n_boot=cfg.n_boot)
              if len(run.sweep) else pd.DataFrame())
    found = [verdicts.no_advantage(selected, metric="each task's metric"),
             verdicts.not_testable("supervised_strongest", "no supervised representation (Sei, the eCLIP model) was "
                                   "run in this profile.") if not (predictions.role == SUPERVISED).any() else
             verdicts.not_testable("supervised_strongest", "supervised representations were run, but this claim "
                                   "has no rule of its own yet; see the per-task tables."),
             verdicts.pretraining_helps(controls), verdicts.intermediate_layers(layers),
             verdicts.cnn_beats_pooling(cnn),
             cagi5.zero_shot_claim(run.cagi5)[0] if len(run.cagi5) else verdicts.not_testable(
                 "zero_shot_weak", "chapter 3 did not run."),
             verdicts.attribution_disagrees(run.agreement, glm_map=attribution.GLM_ISM,
                                            yardstick=attribution.ONEHOT_ISM) if len(run.agreement) else
             verdicts.not_testable("attribution_disagrees", "chapter 7 did not run."),
             verdicts.pretraining_budget(_per_task(run.budget, cfg.metrics, compare.budget_comparisons,
                                                   n_boot=cfg.n_boot)) if len(run.budget) else
             verdicts.not_testable("pretraining_budget", "chapter 9 did not run."),
             verdicts.fine_tuning_helps(_per_task(run.finetuning, cfg.metrics, compare.fine_tuning_comparisons,
                                                  n_boot=cfg.n_boot)) if len(run.finetuning) else
             verdicts.not_testable("fine_tuning_helps", "chapter 9 did not run.")]
    main = found[0]
    counted = selected[selected.role.map(is_glm) & ~selected.simulated.astype(bool)] if len(selected) else selected
    lead = (f"Across {counted.task.nunique()} tasks with real data, {len(counted)} comparisons of a pretrained gLM "
            f"(configuration chosen on validation) with the best one-hot model: {main.number}." if len(counted) else "")
    # the paper's differences with all training data (its splicing figure also shows 0.5 and 0.25 fractions)
    paper_effects = paper.best_glm_minus_onehot().query("~dataset.str.contains('fraction 0')")
    tables = {
        "rules": pd.DataFrame([{"claim": v.claim.text, "rule": v.claim.rule} for v in found]),
        "selected": readable(selected, {"dataset": "data set", "label": "configuration chosen on validation",
                                        "role": "role", "metric": "metric", "effect": "Δ vs best one-hot",
                                        "ci_low": "CI low", "ci_high": "CI high", "verdict": "verdict",
                                        "simulated": "simulated"}),
        "controls": readable(controls, {"dataset": "data set", "model": "model", "metric": "metric", "effect": "Δ",
                                        "ci_low": "CI low", "ci_high": "CI high", "verdict": "verdict",
                                        "simulated": "simulated"}),
        "paper": readable(paper_effects, {"task": "task", "dataset": "paper data set", "metric": "metric",
                                          "best_glm": "paper's best gLM", "glm_value": "gLM",
                                          "onehot_value": "best one-hot", "effect": "difference"}),
    }
    figures = {"selected": selected, "paper": paper_effects}
    result = Report(CHAPTER, glance(main, lead), found, model_notes(predictions.model), tables, figures)
    result.tables["verdicts"] = for_reading(result.verdict_table())
    return result


def save(report_: Report, output_dir) -> Path:
    """Write the verdict of every claim to ``verdicts.csv``."""
    path = output_path(output_dir, "verdicts.csv")
    pd.DataFrame([v.row() for v in report_.verdicts]).to_csv(path, index=False)
    return path
