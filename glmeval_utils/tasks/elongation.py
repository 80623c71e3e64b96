"""Chapter 5: RNA Pol II elongation (INSERT-seq) — learning curves with less and less data.

The paper trained one small residual CNN (``model_2CNN``) on one-hot inserts
and on each frozen gLM embedding, on random fractions of the training set,
many replicates each.  Offline, the insert sequences are **simulated**
(:func:`glmeval_utils.data.simulate.simulate_elongation`): the chapter then
teaches the protocol, and its predictions are flagged ``simulated`` so no
biological verdict is drawn from them (the claim comes back "not testable").
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from glmeval_utils import embeddings
from glmeval_utils.data import registry
from glmeval_utils.data.simulate import ELONGATION_EFFECTS, simulate_elongation
from glmeval_utils.data.splits import TaskData
from glmeval_utils.devices import reduced_precision
from glmeval_utils.eval import compare, metrics, paper, verdicts
from glmeval_utils.eval.performance import seed_metrics
from glmeval_utils.eval.results import write_results
from glmeval_utils.learn.elongation import (PAPER_FRACTIONS, ElongationEstimator, base_representation,
                                            data_fraction_curve, fraction_of)
from glmeval_utils.models import load_glm
from glmeval_utils.predictions import ONE_HOT, ONEHOT_MODEL
from glmeval_utils.profiles import Profile
from glmeval_utils.tasks.report import (Report, apply_overrides, default_progress, glance, model_notes, output_path,
                                        settings_for)
from glmeval_utils.tasks.tables import readable

TASK = "pol2_elongation"
METRIC = "pearson"
CHAPTER = "5. Pol II elongation"
#: per profile: simulated inserts (None: the paper's data), fractions, replicates, models, width, epochs, patience.
BUDGETS = {
    "smoke": dict(n_simulated=400, fractions=(0.5, 1.0), replicates=1, models=("teaching-mlm",), width_factor=0.25,
                  max_epochs=None, patience=None),
    "demo": dict(n_simulated=1000, fractions=(0.25, 1.0), replicates=2, models=("teaching-mlm",), width_factor=0.25,
                 max_epochs=6, patience=3),
    "full": dict(n_simulated=None, fractions=PAPER_FRACTIONS, replicates=50, models=None, width_factor=1.0,
                 max_epochs=200, patience=10),
}


@dataclass(frozen=True)
class Config:
    """Settings of chapter 5 (see :func:`config`)."""

    profile: str
    settings: Profile
    models: tuple
    fractions: tuple
    replicates: int
    n_simulated: int | None
    width_factor: float = 1.0
    device: str = "auto"
    n_boot: int = 1000


def config(profile: str = "demo", **overrides) -> Config:
    """The chapter's settings for a profile; keyword overrides (None = keep) replace any field.

    ``n_simulated`` None means the paper's INSERT-seq data (``full``).
    """
    budget = dict(BUDGETS[profile])
    settings = settings_for(profile, max_epochs=budget.pop("max_epochs"), patience=budget.pop("patience"))
    models = budget.pop("models") or settings.models
    return apply_overrides(Config(profile=profile, settings=settings, models=tuple(models), **budget), overrides)


@dataclass
class Run:
    """Every replicate at every fraction.

    Attributes
    ----------
    table : DataFrame
        The inserts (simulated or the paper's).
    data : TaskData
    predictions : DataFrame
        Valid and test prediction rows at the full training set
        (``representation`` without a fraction label): what comparisons use.
    curve : DataFrame
        Prediction rows of every fraction (``representation`` ``"<r>@frac<f>"``).
    """

    config: Config
    table: pd.DataFrame
    data: TaskData
    predictions: pd.DataFrame
    curve: pd.DataFrame

    @property
    def simulated(self) -> bool:
        return self.data.simulated


def load_table(cfg: Config) -> tuple[pd.DataFrame, str, str]:
    """The inserts: simulated (``n_simulated`` set) or the paper's INSERT-seq set; with data-set name and target."""
    if cfg.n_simulated:
        return simulate_elongation(int(cfg.n_simulated), length=173, seed=0), "simulated_elongation", "target"
    return registry.load("paper_insert_seq", profile=cfg.profile), "paper_insert_seq", "log_elongation"


def simulator_description() -> tuple[str, pd.DataFrame]:
    """The simulator's generative model (its documentation) and its effect sizes."""
    text = inspect.getdoc(simulate_elongation).split("Parameters")[0].strip()
    return text, pd.Series(ELONGATION_EFFECTS, name="effect on target").rename_axis("feature").reset_index()


def run(cfg: Config, *, progress: bool | None = None) -> Run:
    """The data-fraction protocol on one-hot inserts and on each gLM's full embedding."""
    progress = default_progress() if progress is None else progress
    table, name, target = load_table(cfg)
    data = TaskData.from_table(table, target=target, task=TASK, dataset=name, kind="regression")

    def estimator(input_kind):
        settings = cfg.settings
        return lambda replicate: ElongationEstimator(
            input_kind, width_factor=cfg.width_factor, max_epochs=settings.max_epochs, patience=settings.patience,
            lr_patience=max(1, settings.patience // 2), random_state=replicate, device=cfg.device, progress=False)

    protocol = dict(fractions=cfg.fractions, replicates=cfg.replicates, progress=progress)
    curves = [data_fraction_curve(data, make_estimator=estimator("onehot"), model=ONEHOT_MODEL, role=ONE_HOT,
                                  representation="onehot", **protocol)]
    for model in cfg.models:
        glm = load_glm(model, device=cfg.device)
        # token rows for k-mer/BPE models (the paper's input), one row per base otherwise
        with reduced_precision():  # probe inputs (see devices.reduced_precision)
            full = embeddings.extract(glm, data.all_seqs, layers=(-1,), pooling=embeddings.position_pooling(glm),
                                      label=name, progress=progress).layer(-1)
        views = {split: full[rows] for split, rows in data.split_rows().items()}
        curves.append(data_fraction_curve(data, views, make_estimator=estimator("embedding"), model=model,
                                          role=glm.role, representation="full", **protocol))
    curve = pd.concat(curves, ignore_index=True)
    whole = curve[curve.representation.map(fraction_of) == 1.0]
    main = whole.assign(representation=whole.representation.map(base_representation))
    return Run(cfg, table, data, main, curve)


def replicate_metrics(curve: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """Test metric of every trained model of the curve: ``model, role, representation, fraction, replicate, value``."""
    test = curve[curve["split"] == "test"]
    rows = []
    for (model, role, representation, seed), group in test.groupby(["model", "role", "representation", "seed"],
                                                                   sort=False):
        rows.append({"model": model, "role": role, "representation": base_representation(representation),
                     "fraction": fraction_of(representation), "replicate": int(seed),
                     "value": metrics.METRICS[metric](group.y_true.to_numpy(), group.y_score.to_numpy())})
    return pd.DataFrame(rows, columns=["model", "role", "representation", "fraction", "replicate", "value"])


def learning_curve_table(per_replicate: pd.DataFrame) -> pd.DataFrame:
    """:func:`replicate_metrics` summarised per model and fraction (n, median, mean, sd, min, max)."""
    return (per_replicate.groupby(["model", "role", "fraction"])["value"]
            .agg(n="size", median="median", mean="mean", sd="std", min="min", max="max").reset_index())


def per_fraction_tests(per_replicate: pd.DataFrame) -> pd.DataFrame:
    """Per fraction and gLM: medians, their difference to one-hot and the paper's one-sided Mann–Whitney test.

    The test (gLM replicates greater than one-hot replicates) needs at least 3
    replicates per side; with fewer its p-value is NaN.
    """
    rows = []
    for fraction, part in per_replicate.groupby("fraction"):
        base = part[part.role == ONE_HOT].value.to_numpy()
        for (model, role), values in part[part.role != ONE_HOT].groupby(["model", "role"]).value:
            values = values.to_numpy()
            p = (sps.mannwhitneyu(values, base, alternative="greater").pvalue
                 if min(len(values), len(base)) >= 3 else np.nan)
            rows.append({"fraction": fraction, "model": model, "role": role, "median": np.median(values),
                         "one-hot median": np.median(base), "difference": np.median(values) - np.median(base),
                         "p (greater, Mann–Whitney)": p})
    return pd.DataFrame(rows)


def report(run: Run) -> Report:
    """Learning curves, per-fraction tests and the comparison at the full training set."""
    cfg = run.config
    per_replicate = replicate_metrics(run.curve)
    curve_table = learning_curve_table(per_replicate)
    tests = per_fraction_tests(per_replicate)
    selected = compare.versus_best_onehot(run.predictions, METRIC, n_boot=cfg.n_boot)
    main = verdicts.no_advantage(selected, metric="Pearson r")
    statements = []
    for row in selected.itertuples():
        smallest = tests[(tests.model == row.model)].sort_values("fraction").iloc[0]
        p = smallest["p (greater, Mann–Whitney)"]
        statements.append(
            f"With all training inserts, `{row.model}` ({row.role}) embeddings against one-hot: Pearson r difference "
            f"{row.effect:+.3f} (paired bootstrap 95% CI {row.ci_low:+.3f} to {row.ci_high:+.3f}): {row.verdict}. "
            f"At the smallest fraction ({smallest.fraction:g}) its median r is {smallest['median']:.3f} against "
            f"one-hot {smallest['one-hot median']:.3f} ({smallest.difference:+.3f}"
            + (f", Mann–Whitney p = {p:.3g})." if np.isfinite(p) else "; too few replicates for a test)."))
    if run.simulated:
        statements.append("*These are simulated data: the comparisons above describe the protocol and our teaching "
                          "gLMs, not RNA polymerase II, and no verdict on the paper's claim is drawn from them.*")
    statements += model_notes(run.predictions.model)
    lead = ("On the simulated inserts (protocol only): " if run.simulated else "") + "; ".join(
        f"{r.model} − one-hot at the full training set {r.effect:+.3f} Pearson r (95% CI {r.ci_low:+.3f} to "
        f"{r.ci_high:+.3f})" for r in selected.itertuples()) + "."
    theirs = paper.paper_results().query("task == @TASK")[["model", "role", "value", "note"]]
    ours = curve_table[curve_table.fraction == 1.0][["model", "median", "n"]]
    tables = {
        "data": run.data.sizes().to_frame().T.reset_index(drop=True),
        "curve": readable(curve_table, {"model": "input", "fraction": "fraction", "n": "replicates",
                                        "median": "median r", "sd": "sd", "min": "min", "max": "max"}),
        "tests": tests.round(4),
        "selected": readable(selected, {"model": "model", "role": "role", "value": "test r", "baseline_value":
                                        "one-hot r", "effect": "Δr", "ci_low": "CI low", "ci_high": "CI high",
                                        "verdict": "verdict"}),
        "paper": theirs.rename(columns={"model": "input", "value": "paper median r (INSERT-seq)"}).merge(
            ours.rename(columns={"model": "input", "median": f"our median r ({run.data.dataset})",
                                 "n": "our replicates"}), on="input", how="outer"),
    }
    figures = {"per_replicate": per_replicate, "curve": curve_table}
    return Report(CHAPTER, glance(main, lead), [main], statements, tables, figures)


def save(run: Run, output_dir) -> list:
    """Write the full-training-set predictions (for the summary; flagged simulated offline) and per-seed results."""
    written = [output_path(output_dir, f"{TASK}_predictions.csv.gz"), output_path(output_dir, f"{TASK}.csv")]
    run.predictions.to_csv(written[0], index=False)
    write_results(seed_metrics(run.curve, "regression"), written[1])
    return written
