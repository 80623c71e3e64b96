"""Comparisons on the same test examples: against the best one-hot model, against the random-init
control, and between probes or layers of one gLM.

Every comparison follows the same three steps:

1. each side's configuration is chosen on **validation** scores with one rule
   (:func:`glmeval_utils.eval.select.select_on_validation`);
2. the chosen configurations are paired on the test examples both sides
   predicted, each side valued as the mean over its seeds of each seed's
   metric (the value it is reported with);
3. the difference of the metric is tested with a paired bootstrap over the
   data set's independent groups (:func:`glmeval_utils.eval.stats.paired_comparison`),
   and named by :func:`glmeval_utils.eval.verdicts.comparison_word`.

The result tables keep ``role`` and ``simulated``, so that claims
(:mod:`glmeval_utils.eval.verdicts`) can count only pretrained gLMs on real data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from glmeval_utils.eval.performance import seed_metric_values, seed_stack
from glmeval_utils.eval.roles import control_of
from glmeval_utils.eval.select import chosen_rows, select_on_validation, validation_scores
from glmeval_utils.eval.stats import paired_comparison, seed_test
from glmeval_utils.eval import verdicts
from glmeval_utils.eval.verdicts import comparison_word
from glmeval_utils.learn.ladder import layer_of
from glmeval_utils.models.registry import checkpoint_name, checkpoint_of, role_of
from glmeval_utils.predictions import FINE_TUNED, ONE_HOT, PRETRAINED, RANDOM_INIT, model_label

CONTEXT = ["task", "dataset"]


def _simulated(rows: pd.DataFrame) -> bool:
    return bool(rows["simulated"].any()) if "simulated" in rows else False


def paired_difference(model_rows: pd.DataFrame, baseline_rows: pd.DataFrame, metric: str | Callable, *,
                      n_boot: int = 1000, seed: int = 0) -> dict:
    """Test metric of a model minus a baseline on their shared test examples.

    Parameters
    ----------
    model_rows, baseline_rows : DataFrame
        Test prediction rows of one configuration each (any number of seeds).
    metric : str or callable

    Returns
    -------
    dict
        ``value`` and ``baseline_value`` (mean over seeds of each side's own
        metric), ``value_sd``, ``n_seeds``, ``effect`` (metric of the
        seed-averaged model minus baseline predictions on shared examples),
        ``ci_low``, ``ci_high``, ``p_bootstrap`` (group bootstrap), ``p_seeds``
        (test over seeds), ``n_groups`` and ``verdict``.
    """
    shared = np.intersect1d(model_rows["index"].unique(), baseline_rows["index"].unique())
    if len(shared) == 0:
        raise ValueError("the model and the baseline share no test examples")
    truth, scores, groups = seed_stack(model_rows[model_rows["index"].isin(shared)], shared)
    _, baseline_scores, _ = seed_stack(baseline_rows[baseline_rows["index"].isin(shared)], shared)
    paired = paired_comparison(truth, scores, baseline_scores, metric, groups=groups, n_boot=n_boot,
                               seed=seed)
    model_values = seed_metric_values(model_rows, metric)
    baseline_values = seed_metric_values(baseline_rows, metric)
    return {"value": float(model_values.mean()), "value_sd": float(model_values.std(ddof=1))
            if len(model_values) > 1 else np.nan, "n_seeds": len(model_values),
            "baseline_value": float(baseline_values.mean()), "effect": paired.effect,
            "ci_low": paired.ci_low, "ci_high": paired.ci_high, "p_bootstrap": paired.p_value,
            "p_seeds": seed_test(model_values, baseline_values).p_value,
            "n_groups": int(len(np.unique(groups))), "verdict": comparison_word(paired.ci_low, paired.ci_high)}


def versus_best_onehot(predictions: pd.DataFrame, metric: str | Callable, *, scope: str = "selected",
                       n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Every model against the best one-hot model of its data set, on the same test examples.

    The one-hot yardstick is the one-hot configuration (architecture) with the
    best validation score; the other side is each model's validation-chosen
    configuration (``scope="selected"``, what verdicts use) or every
    configuration (``scope="all"``, the chapters' detail tables).

    Returns
    -------
    DataFrame
        ``task, dataset, simulated, model, role, representation, probe, label,
        valid_value, onehot_probe, onehot_valid, value, value_sd, n_seeds,
        baseline_value, effect, ci_low, ci_high, p_bootstrap, p_seeds,
        n_groups, verdict``; empty when no data set has a one-hot model.
    """
    if scope not in ("selected", "all"):
        raise ValueError(f"scope must be 'selected' or 'all', got {scope!r}")
    out = []
    for (task, dataset), part in predictions.groupby(CONTEXT, sort=False):
        onehot = part[part["role"] == ONE_HOT]
        if onehot.empty:
            continue
        yardstick = select_on_validation(onehot, metric)
        baseline = chosen_rows(onehot, yardstick)
        others = part[part["role"] != ONE_HOT]
        if others.empty:
            continue
        if scope == "selected":
            candidates = select_on_validation(others, metric)
        else:
            candidates = validation_scores(others, metric)
        for row in candidates.itertuples(index=False):
            rows = chosen_rows(others, pd.DataFrame([row._asdict()]))
            out.append({"task": task, "dataset": dataset, "simulated": _simulated(part), "model": row.model,
                        "role": row.role, "representation": row.representation, "probe": row.probe,
                        "label": model_label(row.model, row.representation, row.probe),
                        "valid_value": row.valid_value, "onehot_probe": yardstick["probe"].iloc[0],
                        "onehot_valid": yardstick["valid_value"].iloc[0],
                        **paired_difference(rows, baseline, metric, n_boot=n_boot, seed=seed)})
    return pd.DataFrame(out)


def versus_controls(predictions: pd.DataFrame, metric: str | Callable, *, n_boot: int = 1000,
                    seed: int = 0) -> pd.DataFrame:
    """Each pretrained gLM against its random-init control (same architecture, weights never trained).

    Both sides take their own validation-chosen configuration (the same rule),
    so the difference is what pretraining adds to the best use of each.

    Returns
    -------
    DataFrame
        ``task, dataset, simulated, model, control, representation, probe,
        control_representation, control_probe, value, baseline_value (the
        control's), effect, ci_low, ci_high, p_bootstrap, p_seeds, n_groups,
        verdict``; empty when no pair is present.
    """
    out = []
    for (task, dataset), part in predictions.groupby(CONTEXT, sort=False):
        present = set(part["model"])
        for model in sorted(set(part.loc[part["role"] == PRETRAINED, "model"])):
            control = control_of(model)
            if control not in present:
                continue
            pair = part[part["model"].isin([model, control])]
            if set(pair.loc[pair["model"] == control, "role"]) != {RANDOM_INIT}:
                raise ValueError(f"{control!r} in {dataset} is not labelled as a random-init control")
            chosen = select_on_validation(pair, metric).set_index("model")
            model_rows = chosen_rows(pair, chosen.loc[[model]].reset_index())
            control_rows = chosen_rows(pair, chosen.loc[[control]].reset_index())
            out.append({"task": task, "dataset": dataset, "simulated": _simulated(part), "model": model,
                        "control": control, "representation": chosen.loc[model, "representation"],
                        "probe": chosen.loc[model, "probe"],
                        "control_representation": chosen.loc[control, "representation"],
                        "control_probe": chosen.loc[control, "probe"],
                        **paired_difference(model_rows, control_rows, metric, n_boot=n_boot,
                                            seed=seed)})
    return pd.DataFrame(out)


def versus_configuration(predictions: pd.DataFrame, metric: str | Callable, *,
                         configuration: Mapping[str, str], among: Mapping[str, Sequence[str]] | None = None,
                         roles: Sequence[str] = (PRETRAINED,), n_boot: int = 1000,
                         seed: int = 0) -> pd.DataFrame:
    """One configuration of each model against the model's best other configuration.

    E.g. the CNN probe on full embeddings (``configuration={"representation":
    "full", "probe": "cnn"}``) against the best pooled probe, chosen on
    validation among the model's other configurations read from the same
    hidden state (``"mean"`` but not ``"mean@L10"``; optionally restricted
    further by ``among``, e.g. ``{"representation": ["cls", "mean"]}``).

    Returns
    -------
    DataFrame
        ``task, dataset, simulated, model, role, representation, probe (the
        fixed configuration), other_representation, other_probe, value,
        baseline_value (the other's), effect, ci_low, ci_high, p_bootstrap,
        p_seeds, n_groups, verdict``.
    """
    out = []
    for (task, dataset, model, role), part in predictions.groupby([*CONTEXT, "model", "role"], sort=False):
        if role not in roles:
            continue
        is_fixed = np.logical_and.reduce([part[c] == v for c, v in configuration.items()])
        # only probes of the same hidden state compete ("full" and "mean": the last; "mean@L10": layer 10)
        layer = layer_of(configuration.get("representation", ""))
        same_layer = np.array([layer_of(r) == layer for r in part["representation"]], dtype=bool)
        fixed, others = part[is_fixed], part[~is_fixed & same_layer]
        for column, allowed in (among or {}).items():
            others = others[others[column].isin(list(allowed))]
        if fixed.empty or others.empty:
            continue
        best = select_on_validation(others, metric).iloc[0]
        out.append({"task": task, "dataset": dataset, "simulated": _simulated(part), "model": model,
                    "role": role, **dict(configuration), "other_representation": best.representation,
                    "other_probe": best.probe,
                    **paired_difference(fixed[fixed["split"] == "test"],
                                        chosen_rows(others, best.to_frame().T), metric, n_boot=n_boot,
                                        seed=seed)})
    return pd.DataFrame(out)


def tally(comparisons: pd.DataFrame, *, keys: Sequence[str] = ("model", "role", "representation", "probe")
          ) -> pd.DataFrame:
    """Per configuration: on how many data sets it is better / not distinguishable / worse.

    Returns
    -------
    DataFrame
        ``keys``, ``label, better, tie, worse, n_datasets, mean_effect, p_sign``
        (two-sided sign test of the effects' signs over data sets), sorted by
        ``mean_effect``.
    """
    keys = [k for k in keys if k in comparisons.columns]
    out = []
    for labels, group in comparisons.groupby(keys, sort=False):
        counts = group["verdict"].value_counts()
        effects = group["effect"].to_numpy(dtype=float)
        effects = effects[np.isfinite(effects) & (effects != 0)]
        positive = int((effects > 0).sum())
        p_sign = float(sps.binomtest(positive, len(effects), 0.5).pvalue) if len(effects) else float("nan")
        row = dict(zip(keys, labels if isinstance(labels, tuple) else (labels,)))
        out.append({**row, "label": model_label(row.get("model", ""), row.get("representation", ""),
                                                row.get("probe", "")),
                    "better": int(counts.get("better", 0)), "tie": int(counts.get("not distinguishable", 0)),
                    "worse": int(counts.get("worse", 0)), "n_datasets": len(group),
                    "mean_effect": float(group["effect"].mean()), "p_sign": p_sign})
    return pd.DataFrame(out).sort_values("mean_effect", ascending=False, ignore_index=True)


def chosen_layer_vs_last(sweep: pd.DataFrame, metric: str | Callable, *, n_boot: int = 1000,
                         seed: int = 0) -> pd.DataFrame:
    """The layer chosen on validation against the last layer, per model, on the test set.

    Parameters
    ----------
    sweep : DataFrame
        Prediction rows of :func:`glmeval_utils.learn.ladder.layer_sweep`
        (``representation`` = ``"<pooling>@L<k>"``, one probe).

    Returns
    -------
    DataFrame
        ``task, dataset, simulated, model, role, probe, chosen_layer,
        last_layer, value (chosen), baseline_value (last), effect, ci_low,
        ci_high, p_bootstrap, p_seeds, n_groups, verdict``; the effect is 0
        when the last layer is the one chosen.
    """
    out = []
    for (task, dataset, model, role, probe), part in sweep.groupby([*CONTEXT, "model", "role", "probe"],
                                                                   sort=False):
        layers = part["representation"].map(layer_of)
        if layers.isna().any():
            raise ValueError(f"{model}: sweep representations must look like 'mean@L3', got "
                             f"{sorted(part.loc[layers.isna(), 'representation'].unique())[:3]}")
        chosen = select_on_validation(part, metric).iloc[0]
        last = part[layers == layers.max()]
        out.append({"task": task, "dataset": dataset, "simulated": _simulated(part), "model": model, "role": role,
                    "probe": probe, "chosen_layer": layer_of(chosen.representation),
                    "last_layer": int(layers.max()),
                    **paired_difference(chosen_rows(part, chosen.to_frame().T), last[last["split"] == "test"],
                                        metric, n_boot=n_boot, seed=seed)})
    return pd.DataFrame(out)


@dataclass
class LadderComparisons:
    """The comparisons every probe-ladder chapter shows, and the verdicts they decide.

    Attributes
    ----------
    every : DataFrame
        Every configuration against the best one-hot model (:func:`versus_best_onehot`, ``scope="all"``).
    selected : DataFrame
        Each model's validation-chosen configuration against it.
    controls : DataFrame
        Pretrained gLMs against their random-init controls (:func:`versus_controls`).
    cnn_vs_pooled : DataFrame
        The CNN on full embeddings against the best pooled probe (:func:`versus_configuration`).
    """

    every: pd.DataFrame
    selected: pd.DataFrame
    controls: pd.DataFrame
    cnn_vs_pooled: pd.DataFrame

    def verdicts(self, metric_name: str) -> list:
        """Claims 1, 3 and 4b from these comparisons (claim 1 first)."""
        return [verdicts.no_advantage(self.selected, metric=metric_name), verdicts.pretraining_helps(self.controls),
                verdicts.cnn_beats_pooling(self.cnn_vs_pooled)]


def ladder_comparisons(predictions: pd.DataFrame, metric: str | Callable, *, n_boot: int = 1000,
                       seed: int = 0) -> LadderComparisons:
    """Every comparison of :class:`LadderComparisons` on one prediction table."""
    kwargs = dict(n_boot=n_boot, seed=seed)
    return LadderComparisons(
        every=versus_best_onehot(predictions, metric, scope="all", **kwargs),
        selected=versus_best_onehot(predictions, metric, **kwargs),
        controls=versus_controls(predictions, metric, **kwargs),
        cnn_vs_pooled=versus_configuration(predictions, metric, configuration={"representation": "full",
                                                                               "probe": "cnn"}, **kwargs))


def _best_onehot(part: pd.DataFrame, metric: str | Callable) -> pd.DataFrame | None:
    """Test rows of the one-hot architecture with the best validation score, or None without one-hot rows."""
    onehot = part[part["role"] == ONE_HOT]
    return chosen_rows(onehot, select_on_validation(onehot, metric)) if len(onehot) else None


def budget_comparisons(predictions: pd.DataFrame, metric: str | Callable, *, n_boot: int = 1000,
                       seed: int = 0) -> pd.DataFrame:
    """Each pretraining curve's most-pretrained checkpoint against its step-0 checkpoint and the best one-hot model.

    A curve is one base model's checkpoints (``teaching-mlm@step-N``,
    :func:`glmeval_utils.models.registry.checkpoint_of`) with one fixed
    configuration (representation and probe) on one data set; its end is the
    checkpoint with the most steps.

    Returns
    -------
    DataFrame
        One row per curve and comparison: ``task, dataset, simulated, model
        (the last checkpoint), base, step, role, representation, probe,
        comparison`` (:data:`~glmeval_utils.eval.verdicts.STEP_ZERO` or
        ``"one-hot"``), ``baseline`` (the step-0 checkpoint or the one-hot
        architecture), then :func:`paired_difference`'s columns; empty
        without checkpoint rows.
    """
    out = []
    for (task, dataset), part in predictions.groupby(CONTEXT, sort=False):
        parsed = part["model"].map(checkpoint_of)
        checkpoints = part[parsed.notna()].assign(base=parsed.dropna().str[0], step=parsed.dropna().str[1])
        onehot = _best_onehot(part, metric)
        for (base, representation, probe), curve in checkpoints.groupby(["base", "representation", "probe"],
                                                                          sort=False):
            test = curve[curve["split"] == "test"]
            last = test[test["step"] == test["step"].max()]
            start = test[test["step"] == 0]
            for comparison, baseline in ((verdicts.STEP_ZERO, start), (ONE_HOT, onehot)):
                if baseline is None or baseline.empty or last["step"].iloc[0] == 0:
                    continue
                out.append({"task": task, "dataset": dataset, "simulated": _simulated(part),
                            "model": last["model"].iloc[0], "base": base, "step": int(last["step"].iloc[0]),
                            "role": last["role"].iloc[0], "representation": representation, "probe": probe,
                            "comparison": comparison,
                            "baseline": (start["model"].iloc[0] if comparison == verdicts.STEP_ZERO
                                         else model_label(ONE_HOT, "onehot", baseline["probe"].iloc[0])),
                            **paired_difference(last, baseline, metric, n_boot=n_boot, seed=seed)})
    return pd.DataFrame(out)


def random_init_start(model: str) -> str:
    """The random-init network a model's fine-tuning is compared with: a checkpoint's step 0, else its control."""
    parsed = checkpoint_of(model)
    return checkpoint_name(parsed[0], 0) if parsed else control_of(model)


def fine_tuning_comparisons(predictions: pd.DataFrame, metric: str | Callable, *, n_boot: int = 1000,
                            seed: int = 0) -> pd.DataFrame:
    """Every fine-tuned gLM against the best one-hot model, its frozen probes and (pretrained) its fine-tuned control.

    Fine-tuned rows have role ``fine-tuned`` and the registry name of the
    model they started from in ``model`` (``probe``: the method); frozen
    rows of that model carry its own role.  A pretrained model's control is
    the same network fine-tuned from its random-init weights
    (:func:`random_init_start`: ``<name>-random``, or step 0 of a checkpoint).  Each side takes its own
    configuration chosen on validation (the fine-tuning method; the frozen
    representation and probe; the one-hot architecture).

    Returns
    -------
    DataFrame
        One row per fine-tuned model, data set and baseline: ``task, dataset,
        simulated, model, role`` (of the weights fine-tuning started from),
        ``side`` (pretrained-fine-tuned or random-fine-tuned), ``method`` (its
        chosen probe), ``comparison`` (``"one-hot"``, random-fine-tuned or
        pretrained-frozen / the frozen control), ``baseline`` (the chosen
        configuration of the other side), then :func:`paired_difference`'s columns.
    """
    out = []
    for (task, dataset), part in predictions.groupby(CONTEXT, sort=False):
        tuned = part[part["role"] == FINE_TUNED]
        onehot = _best_onehot(part, metric)
        for model, mine in tuned.groupby("model", sort=True):
            origin = role_of(model)
            chosen = select_on_validation(mine, metric)
            side = verdicts.PRETRAINED_FINE_TUNED if origin == PRETRAINED else verdicts.RANDOM_FINE_TUNED
            frozen = part[(part["model"] == model) & (part["role"] == origin)]
            control = tuned[tuned["model"] == random_init_start(model)] if origin == PRETRAINED else tuned.iloc[:0]
            baselines = [(ONE_HOT, onehot),
                         (verdicts.PRETRAINED_FROZEN if origin == PRETRAINED else f"{origin}-frozen",
                          chosen_rows(frozen, select_on_validation(frozen, metric)) if len(frozen) else None),
                         (verdicts.RANDOM_FINE_TUNED,
                          chosen_rows(control, select_on_validation(control, metric)) if len(control) else None)]
            for comparison, baseline in baselines:
                if baseline is None or baseline.empty:
                    continue
                first = baseline.iloc[0]
                out.append({"task": task, "dataset": dataset, "simulated": _simulated(part), "model": model,
                            "role": origin, "side": side, "method": chosen["probe"].iloc[0],
                            "comparison": comparison,
                            "baseline": model_label(first["model"], first["representation"], first["probe"]),
                            **paired_difference(chosen_rows(mine, chosen), baseline, metric, n_boot=n_boot,
                                                seed=seed)})
    return pd.DataFrame(out)
