"""The book's answer: every chapter's results side by side, with statistics.

Chapters write two kinds of files into one results folder (see
:mod:`glmeval_utils.eval.results`): ``<task>.csv`` (tidy metric rows, one per seed)
and ``<task>_predictions.csv.gz`` (tidy test predictions,
:data:`glmeval_utils.eval.stats.PREDICTION_COLUMNS`).  This module reads them back
and asks, per task and data set, whether the best probe on each gLM beats the
best one-hot model on the same test examples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from glmeval_utils.eval.paper import paper_results
from glmeval_utils.eval.stats import paired_comparison, prediction_matrix, seed_metric_values

#: headline metric of each supervised task (the paper's choice).
TASK_METRICS = {
    "lentimpra": "pearson",
    "tf_binding": "auroc",
    "rbp_binding": "auroc",
    "splicing": "spearman",
    "pol2_elongation": "pearson",
}
ONEHOT_MODEL = "one-hot"
#: models that are neither gLMs nor one-hot (composition controls).
CONTROL_MODELS = ("composition",)


def load_predictions(results_dir: str | Path) -> pd.DataFrame:
    """Concatenate every ``*_predictions.csv.gz`` in ``results_dir``."""
    files = sorted(Path(results_dir).glob("*_predictions.csv.gz"))
    if not files:
        raise FileNotFoundError(f"no *_predictions.csv.gz files in {results_dir}; run the task chapters first")
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def _best_configuration(rows: pd.DataFrame, metric: str) -> tuple[tuple[str, str], pd.DataFrame]:
    """The (representation, probe) of one model with the highest mean per-seed metric."""
    scored = {
        key: float(seed_metric_values(group, metric).mean())
        for key, group in rows.groupby(["representation", "probe"])
    }
    best = max(scored, key=lambda key: -np.inf if np.isnan(scored[key]) else scored[key])
    return best, rows[(rows.representation == best[0]) & (rows.probe == best[1])]


def _paired_row(model_rows: pd.DataFrame, baseline_rows: pd.DataFrame, metric: str, baseline_name: str,
                n_boot: int, random_state: int) -> dict:
    """Mean per-seed metrics of two models and their paired bootstrap on shared test examples."""
    model_scores = prediction_matrix(model_rows, "y_score")
    baseline_scores = prediction_matrix(baseline_rows, "y_score")
    shared = model_scores.index.intersection(baseline_scores.index)
    paired = paired_comparison(prediction_matrix(model_rows, "y_true").loc[shared].to_numpy(),
                               model_scores.loc[shared].to_numpy(), baseline_scores.loc[shared].to_numpy(),
                               metric, n_boot=n_boot, random_state=random_state)
    return {"metric": metric, "value": float(seed_metric_values(model_rows, metric).mean()),
            baseline_name: float(seed_metric_values(baseline_rows, metric).mean()),
            "effect": paired.effect, "ci_low": paired.ci_low, "ci_high": paired.ci_high,
            "p_value": paired.p_value}


def advantage_over_onehot(predictions: pd.DataFrame, *, metrics: dict[str, str] | None = None,
                          n_boot: int = 1000, random_state: int = 0) -> pd.DataFrame:
    """Best probe of each gLM against the best one-hot model, per task and data set.

    "Best" is chosen by the mean per-seed test metric, for the gLM and for the
    one-hot side alike (the paper reported best configurations too); the
    difference is then tested on the same test examples with a paired
    bootstrap of seed-averaged predictions.

    Returns
    -------
    DataFrame
        ``task, dataset, model, representation, probe, metric, value,
        onehot_probe, onehot_value, effect, ci_low, ci_high, p_value``.
    """
    metrics = metrics or TASK_METRICS
    rows = []
    for (task, dataset), part in predictions.groupby(["task", "dataset"], sort=False):
        metric = metrics.get(task)
        if metric is None or ONEHOT_MODEL not in set(part.model):
            continue
        (_, onehot_probe), onehot = _best_configuration(part[part.model == ONEHOT_MODEL], metric)
        for model, model_rows in part[~part.model.isin([ONEHOT_MODEL, *CONTROL_MODELS])].groupby("model"):
            (representation, probe), best = _best_configuration(model_rows, metric)
            rows.append(dict(task=task, dataset=dataset, model=model, representation=representation,
                             probe=probe, onehot_probe=onehot_probe,
                             **_paired_row(best, onehot, metric, "onehot_value", n_boot, random_state)))
    return pd.DataFrame(rows)


def task_advantage(advantage: pd.DataFrame) -> pd.DataFrame:
    """Mean advantage of each gLM over one-hot per task (averaged over data sets).

    The interval is the mean of the per-data-set bounds, a conservative summary
    when a task has several data sets (TFs, RBPs).
    """
    grouped = advantage.groupby(["task", "model", "metric"], sort=False)
    table = grouped.agg(effect=("effect", "mean"), ci_low=("ci_low", "mean"), ci_high=("ci_high", "mean"),
                        datasets=("dataset", "nunique"),
                        wins=("ci_low", lambda s: int((s > 0).sum())),
                        losses=("ci_high", lambda s: int((s < 0).sum()))).reset_index()
    return table


def paper_advantage() -> pd.DataFrame:
    """The paper's best gLM probe minus its best one-hot model, per task and data set.

    Supervised representations (Sei, the eCLIP-trained RBP model) and
    composition controls are not gLMs and are left out.
    """
    paper = paper_results()
    paper = paper[paper.task.isin(list(TASK_METRICS))]
    not_glm = paper.model.str.contains("Sei|RBP|dinucleotide|one-hot", regex=True)
    rows = []
    for (task, dataset), part in paper.groupby(["task", "dataset"], sort=False):
        onehot = part[part.model == "one-hot"].value.max()
        glms = part[~not_glm.loc[part.index]]
        if np.isnan(onehot) or glms.empty:
            continue
        best = glms.loc[glms.value.idxmax()]
        rows.append(dict(task=task, dataset=dataset, best_glm=best.model, glm_value=best.value,
                         onehot_value=onehot, effect=best.value - onehot))
    return pd.DataFrame(rows)


def verdict(effect_low: float, effect_high: float) -> str:
    """Word for a difference's confidence interval: above, below or spanning zero."""
    if np.isnan(effect_low) or np.isnan(effect_high):
        return "cannot say"
    if effect_low > 0:
        return "gLM better"
    if effect_high < 0:
        return "one-hot better"
    return "no clear difference"


def pretrained_vs_random(predictions: pd.DataFrame, *, metrics: dict[str, str] | None = None,
                         suffix: str = "-random", n_boot: int = 1000, random_state: int = 0) -> pd.DataFrame:
    """Each pretrained gLM against its random-init control (``<name><suffix>``).

    Both sides use the same (representation, probe): the pretrained model's
    best one, so the difference isolates what pretraining added.

    Returns
    -------
    DataFrame
        ``task, dataset, model, control, representation, probe, metric,
        value, control_value, effect, ci_low, ci_high, p_value``.
    """
    metrics = metrics or TASK_METRICS
    rows = []
    for (task, dataset), part in predictions.groupby(["task", "dataset"], sort=False):
        metric = metrics.get(task)
        if metric is None:
            continue
        names = set(part.model)
        for model in sorted(n for n in names if f"{n}{suffix}" in names):
            (representation, probe), best = _best_configuration(part[part.model == model], metric)
            control = part[(part.model == f"{model}{suffix}") & (part.representation == representation)
                           & (part.probe == probe)]
            if control.empty:
                continue
            rows.append(dict(task=task, dataset=dataset, model=model, control=f"{model}{suffix}",
                             representation=representation, probe=probe,
                             **_paired_row(best, control, metric, "control_value", n_boot, random_state)))
    return pd.DataFrame(rows)


def probe_comparison(results_table: pd.DataFrame, *, metrics: dict[str, str] | None = None) -> pd.DataFrame:
    """Per task, data set and gLM: the CNN on full embeddings vs the best pooled probe.

    Uses the results table (per-seed metrics), averaged over seeds.

    Returns
    -------
    DataFrame
        ``task, dataset, model, metric, cnn_full, best_pooled, pooled_config, difference``.
    """
    metrics = metrics or TASK_METRICS
    rows = []
    table = results_table[results_table.task.isin(list(metrics))
                          & ~results_table.model.isin([ONEHOT_MODEL, *CONTROL_MODELS])
                          & ~results_table.representation.str.contains("@L", regex=False)]
    for (task, dataset, model), part in table.groupby(["task", "dataset", "model"], sort=False):
        part = part[part.metric == metrics[task]]
        means = part.groupby(["representation", "probe"]).value.mean()
        if ("full", "cnn") not in means.index:
            continue
        pooled = means.drop(("full", "cnn"))
        if pooled.empty:
            continue
        best_key = pooled.idxmax()
        rows.append(dict(task=task, dataset=dataset, model=model, metric=metrics[task],
                         cnn_full=means[("full", "cnn")], best_pooled=pooled.max(),
                         pooled_config=f"{best_key[0]} → {best_key[1]}",
                         difference=means[("full", "cnn")] - pooled.max()))
    return pd.DataFrame(rows)
