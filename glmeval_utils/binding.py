"""Binding chapters (TF ChIP-seq, RBP eCLIP): one loop over data sets, shared summaries.

Both chapters ask the same question of several binary data sets (one per
TF or RBP): does a probe on frozen gLM embeddings separate bound from
unbound windows better than a CNN trained on one-hot sequence, and better
than sequence composition alone?  Per data set, :func:`run_binding_task`

1. loads every row (``registry.load(name, "full")``), removes sequences that
   occur in two splits (:func:`glmeval_utils.data.registry.drop_cross_split_duplicates`)
   and only then caps each split (:func:`cap_rows`: label-stratified,
   seeded), so the leakage count describes the whole upstream set;
2. trains the one-hot binary CNN (the reference's ``chip_cnn`` on one-hot),
   the composition baselines (mono-/dinucleotide frequencies → logistic
   regression / MLP) and, per gLM, the probe ladder
   (:func:`glmeval_utils.learn.ladder.glm_ladder` with the ``chip_cnn`` probe);
3. returns every test prediction in one tidy table (:class:`BindingRun`).

The summaries turn predictions into per-data-set performance with bootstrap
CIs (:func:`performance_by_dataset`), averages over data sets
(:func:`mean_over_datasets`), paired comparisons against the one-hot CNN
with a verdict per data set (:func:`compare_per_dataset`,
:func:`tally_verdicts`), pretrained-vs-random-init controls
(:func:`control_comparison`), the paper's averages beside ours
(:func:`paper_side_by_side`) and the chapter's conclusion, computed from
those statistics (:func:`conclusion_statements`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.exceptions import ConvergenceWarning

from glmeval_utils import embeddings
from glmeval_utils.data import registry
from glmeval_utils.learn import ladder
from glmeval_utils.eval import stats
from glmeval_utils.learn.ladder import TaskData
from glmeval_utils.profiles import Profile, get_profile

SPLITS = ladder.SPLITS
#: The one-hot baseline every representation is compared with (same architecture as the CNN probe).
ONEHOT_BASELINE = {"model": ladder.ONEHOT_MODEL, "representation": "onehot", "probe": "binary_cnn"}
COMPOSITION_MODEL = "composition"
KEYS = ["model", "representation", "probe"]


@dataclass
class BindingRun:
    """Everything one binding chapter trained.

    Attributes
    ----------
    task : str
        Results-table task (``"tf_binding"`` or ``"rbp_binding"``).
    predictions : DataFrame
        Test prediction rows of every model on every data set
        (:data:`glmeval_utils.eval.stats.PREDICTION_COLUMNS`).
    dedup_report : DataFrame
        One row per data set: upstream rows, cross-split duplicates removed,
        rows repeated within a split (kept), rows used per split, positive fraction.
    timings : DataFrame
        ``dataset, stage, seconds`` (stage: ``load``, ``one-hot``,
        ``composition`` or a gLM name).
    profile : Profile
        The settings actually used (after chapter overrides).
    datasets : list of str
    whitening : DataFrame
        With ``whitening_check``: ``dataset, model, whiten, seed, score`` (test
        AUROC of the mean-embedding MLP with and without PCA whitening, see
        :func:`ladder.mlp_whitening_check`); otherwise empty.
    """

    task: str
    predictions: pd.DataFrame
    dedup_report: pd.DataFrame
    timings: pd.DataFrame
    profile: Profile
    datasets: list = field(default_factory=list)
    whitening: pd.DataFrame = field(default_factory=pd.DataFrame)

    def seed_metrics(self) -> pd.DataFrame:
        """Per-seed AUROC and AUPR rows for :func:`glmeval_utils.eval.results.write_results`."""
        return ladder.seed_metrics(self.predictions, "binary")


# ----------------------------------------------------------------------------------------------
# data


def cap_rows(table: pd.DataFrame, limits: Mapping[str, int | None], *, seed: int = 0,
             stratify: str | None = "label") -> pd.DataFrame:
    """Keep at most ``limits[split]`` rows per split, deterministically.

    Parameters
    ----------
    table : DataFrame
        With a ``split`` column (and ``stratify`` when given).
    limits : mapping of split → int or None
        None (or a missing split) keeps the split whole.
    seed : int
    stratify : str or None
        Column whose classes keep their proportions (largest-remainder
        allocation); None draws uniformly.

    Returns
    -------
    DataFrame
        The kept rows in their original order (index reset); ``attrs`` kept.
    """
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(table), dtype=bool)
    for split, rows in table.groupby("split", sort=True).indices.items():
        limit = limits.get(split)
        if limit is None or len(rows) <= limit:
            keep[rows] = True
            continue
        if limit < 0:
            raise ValueError(f"row limit of split {split!r} must be non-negative, got {limit}")
        if stratify is None:
            keep[rng.choice(rows, size=limit, replace=False)] = True
            continue
        classes = table[stratify].to_numpy()[rows]
        levels, counts = np.unique(classes, return_counts=True)
        quota = counts * limit / len(rows)
        take = np.floor(quota).astype(int)
        for i in np.argsort(-(quota - take), kind="stable")[: limit - take.sum()]:
            take[i] += 1
        for level, n in zip(levels, take):
            members = rows[classes == level]
            keep[rng.choice(members, size=n, replace=False)] = True
    out = table.loc[keep].reset_index(drop=True)
    out.attrs = dict(table.attrs)
    return out


def row_limits(profile: Profile, max_rows: Mapping[str, int | None] | None = None) -> dict:
    """Per-split row caps: the profile's ``max_rows``, tightened by a chapter's ``max_rows``."""
    limits = dict(profile.max_rows)
    for split, cap in (max_rows or {}).items():
        if split not in SPLITS:
            raise ValueError(f"max_rows has unknown split {split!r}; use {SPLITS}")
        if cap is not None:
            limits[split] = cap if limits.get(split) is None else min(cap, limits[split])
    return limits


def prepare_dataset(table: pd.DataFrame, *, name: str, task: str, limits: Mapping[str, int | None],
                    dedup: bool = True, seed: int = 0, target: str = "label"
                    ) -> tuple[TaskData, dict]:
    """De-duplicate across splits, cap rows, and build the :class:`TaskData`.

    Parameters
    ----------
    table : DataFrame
        Every row of the data set (``seq``, ``split``, ``target``).
    name, task : str
    limits : mapping
        Per-split caps (:func:`row_limits`).
    dedup : bool
        Remove train/valid rows whose sequence is in test and valid rows in train.
    seed : int
        Seed of the row cap.

    Returns
    -------
    (TaskData, dict)
        The task data and a report row (see :attr:`BindingRun.dedup_report`).
    """
    missing = [c for c in ("seq", "split", target) if c not in table.columns]
    if missing:
        raise ValueError(f"{name}: table lacks columns {missing}")
    report = {"dataset": name, "rows_upstream": len(table)}
    report["repeated_within_split"] = int(table.duplicated(["split", "seq"]).sum())
    removed = 0
    if dedup:
        table, removed = registry.drop_cross_split_duplicates(table)
    report["cross_split_removed"] = removed
    capped = cap_rows(table, limits, seed=seed, stratify=target)
    for split in SPLITS:
        part = capped[capped["split"] == split]
        report[f"{split}_rows"] = len(part)
        report[f"{split}_positive"] = float(part[target].mean()) if len(part) else float("nan")
    lengths = capped["seq"].str.len()
    report["length"] = (str(int(lengths.min())) if lengths.min() == lengths.max()
                        else f"{int(lengths.min())}-{int(lengths.max())}")
    data = TaskData.from_table(capped, target=target, task=task, dataset=name, kind="binary")
    return data, report


def _load_full(name: str) -> pd.DataFrame:
    return registry.load(name, profile="full", progress=False)


# ----------------------------------------------------------------------------------------------
# the loop


def run_binding_task(dataset_names: Iterable[str], *, task: str, models: Sequence = (),
                     profile: str | Profile = "demo", seeds: Sequence[int] | None = None,
                     device=None, dedup: bool = True,
                     max_rows: Mapping[str, int | None] | None = None,
                     max_epochs: int | None = None,
                     onehot: Sequence[str] = ("binary_cnn",),
                     composition_ks: Sequence[int] = (1, 2),
                     composition_probes: Sequence[str] = ("linear", "mlp"),
                     representations: Sequence[str] = ("cls", "mean", "full"),
                     pooled_probes: Sequence[str] = ("linear", "mlp"),
                     glm_seeds: Sequence[int] | None = None,
                     mean_from_full: bool | None = None,
                     whitening_check: bool = False,
                     loader: Callable[[str], pd.DataFrame] | None = None,
                     glm_loader: Callable | None = None, cache_dir=None,
                     progress: bool = True) -> BindingRun:
    """Train the binding ladder on every data set; return all test predictions.

    Parameters
    ----------
    dataset_names : iterable of str
        Registry names (e.g. ``gue_tf0`` … or ``paper_chip_*``).
    task : str
        Results-table task, e.g. ``"tf_binding"``.
    models : sequence of str or gLM objects
        Registry names are loaded once with ``glm_loader`` (default
        :func:`glmeval_utils.models.load_glm`); objects following the gLM
        contract are used as they are.
    profile : str or Profile
        Epochs, patience, widths, row caps and default seeds.
    seeds : sequence of int, optional
        Seeds of every trained model (default: the profile's).
    glm_seeds : sequence of int, optional
        Seeds of the gLM probes only (default: ``seeds``); fewer seeds here
        is the cheapest way to fit a budget.
    device : str, optional
    dedup : bool
        Remove cross-split duplicate sequences before training.
    max_rows : mapping split → int, optional
        Chapter caps on top of the profile's ``max_rows``.
    max_epochs : int, optional
        Chapter cap on training epochs (default: the profile's).
    onehot : sequence of str
        One-hot architectures (:func:`ladder.onehot_baselines`).
    composition_ks, composition_probes
        Composition baselines (empty ``composition_ks`` skips them).
    representations, pooled_probes
        The gLM ladder (:func:`ladder.glm_ladder`, ``chip_cnn`` probe).
    mean_from_full : bool, optional
        Derive the ``"mean"`` embedding from the cached full embedding (see
        :func:`ladder.glm_ladder`); ``None``: the profile's setting.
    whitening_check : bool
        Also fit every gLM's mean-embedding MLP with and without PCA whitening
        (:attr:`BindingRun.whitening`); needs ``"mean"`` in ``representations``.
    loader : callable, optional
        ``loader(name) -> DataFrame`` with every row of a data set; default
        ``registry.load(name, "full")``.
    glm_loader : callable, optional
        ``glm_loader(name, device=...)``.
    cache_dir : path, optional
        Embedding cache root.
    progress : bool
        Progress bar over data sets (inner training loops stay quiet).

    Returns
    -------
    BindingRun
    """
    from tqdm.auto import tqdm

    settings = get_profile(profile) if isinstance(profile, str) else profile
    if max_epochs is not None:
        settings = replace(settings, max_epochs=int(max_epochs))
    seeds = tuple(seeds) if seeds is not None else tuple(settings.seeds)
    glm_seeds = tuple(glm_seeds) if glm_seeds is not None else seeds
    limits = row_limits(settings, max_rows)
    loader = loader or _load_full
    names = list(dataset_names)
    if not names:
        raise ValueError("run_binding_task: no data sets given")
    if glm_loader is None and any(isinstance(m, str) for m in models):
        from glmeval_utils.models import load_glm as glm_loader
    glms = [glm_loader(m, device=device) if isinstance(m, str) else m for m in models]
    if whitening_check and "mean" not in representations:
        raise ValueError("run_binding_task: whitening_check needs the 'mean' representation")
    # the same cache key as the ladder's mean rung, so the check reads cached embeddings
    derive_mean = ladder.derives_mean(settings, representations, mean_from_full)

    predictions, reports, timings, whitening = [], [], [], []

    def timed(dataset, stage, function):
        start = time.perf_counter()
        result = function()
        timings.append({"dataset": dataset, "stage": stage, "seconds": time.perf_counter() - start})
        return result

    def _loop(bar):
        for name in bar:
            bar.set_postfix_str(name)
            data, report = timed(name, "load", lambda: prepare_dataset(
                loader(name), name=name, task=task, limits=limits, dedup=dedup))
            reports.append(report)
            if onehot:
                predictions.append(timed(name, "one-hot", lambda: ladder.onehot_baselines(
                    data, onehot, profile=settings, seeds=seeds, device=device, progress=False)))
            if composition_ks:
                predictions.append(timed(name, "composition", lambda: ladder.composition_baselines(
                    data, ks=composition_ks, probes=composition_probes, profile=settings, seeds=seeds,
                    device=device, progress=False)))
            for glm in glms:
                predictions.append(timed(name, glm.name, lambda: ladder.glm_ladder(
                    glm, data, profile=settings, representations=representations,
                    pooled_probes=pooled_probes, cnn_architecture="chip_cnn", seeds=glm_seeds,
                    mean_from_full=mean_from_full, device=device, cache_dir=cache_dir,
                    progress=False)))
                if whitening_check:
                    ladder_rows = predictions[-1]
                    # the ladder's mean -> mlp rows are the whitened fits: only the raw side is new
                    whitened = ladder_rows[(ladder_rows.representation == "mean") & (ladder_rows.probe == "mlp")]
                    X = ladder.split_embeddings(glm, data, representation="mean",
                                                     mean_from_full=derive_mean, cache_dir=cache_dir,
                                                     progress=False)
                    whitening.append(ladder.mlp_whitening_check(
                        X, data, profile=settings, seeds=glm_seeds, device=device,
                        whitened_predictions=whitened if len(whitened) else None,
                    ).assign(dataset=name, model=glm.name))

    bar = tqdm(names, desc=f"{task} data sets", disable=not progress)
    with warnings.catch_warnings():
        # lbfgs stopping at max_iter on near-separable composition features is expected, not news
        warnings.simplefilter("ignore", ConvergenceWarning)
        _loop(bar)
    if not predictions:
        raise ValueError("run_binding_task: nothing to train (no models, baselines or composition)")
    return BindingRun(task=task, predictions=pd.concat(predictions, ignore_index=True),
                      dedup_report=pd.DataFrame(reports), timings=pd.DataFrame(timings),
                      profile=settings, datasets=names,
                      whitening=pd.concat(whitening, ignore_index=True) if whitening else pd.DataFrame())


# ----------------------------------------------------------------------------------------------
# summaries


def whitening_gain(run: BindingRun) -> pd.DataFrame:
    """Seed-mean test AUROC of each gLM's mean-embedding MLP, raw vs PCA-whitened, per data set.

    Returns a frame indexed by ``(model, dataset)`` with columns ``raw``,
    ``whitened`` and ``gain`` (whitened - raw), from :attr:`BindingRun.whitening`.
    """
    if run.whitening.empty:
        raise ValueError("whitening_gain: the run has no whitening check (run_binding_task(..., "
                         "whitening_check=True))")
    table = run.whitening.groupby(["model", "dataset", "whiten"]).score.mean().unstack("whiten")
    table = table.rename(columns={False: "raw", True: "whitened"})[["raw", "whitened"]]
    table.columns.name = None
    return table.assign(gain=table.whitened - table.raw)


def performance_by_dataset(predictions: pd.DataFrame, metrics: Sequence[str] = ("auroc", "aupr"), *,
                           n_boot: int = 1000, ci_metrics: Sequence[str] = ("auroc",)) -> pd.DataFrame:
    """Per data set and model: mean ± sd over seeds, seed-ensemble value and a bootstrap 95% CI.

    Parameters
    ----------
    predictions : DataFrame
    metrics : sequence of str
    n_boot : int
    ci_metrics : sequence of str
        Metrics that get a bootstrap CI over test examples.  AUROC has a
        vectorised bootstrap; AUPR loops over replicates, so by default it
        gets no CI (``ci_low``/``ci_high`` NaN).

    Returns
    -------
    DataFrame
        :func:`ladder.performance_table` columns for every metric, stacked.
    """
    tables = []
    for metric in metrics:
        for _, group in predictions.groupby("dataset", sort=False):
            if metric in ci_metrics:
                tables.append(ladder.performance_table(group, metric, n_boot=n_boot))
                continue
            rows = []
            for labels, part in group.groupby(ladder.MODEL_KEYS, sort=False):
                per_seed = stats.seed_metric_values(part, metric).to_numpy()
                row = dict(zip(ladder.MODEL_KEYS, labels))
                row.update(label=ladder.model_label(row["model"], row["representation"], row["probe"]),
                           metric=metric, mean=float(np.mean(per_seed)),
                           sd=float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else float("nan"),
                           n_seeds=len(per_seed),
                           ensemble=stats.metric_value(stats.prediction_matrix(part, "y_true").to_numpy(),
                                                       stats.prediction_matrix(part).to_numpy(), metric),
                           ci_low=float("nan"), ci_high=float("nan"))
                rows.append(row)
            tables.append(pd.DataFrame(rows).sort_values("mean", ascending=False, ignore_index=True))
    return pd.concat(tables, ignore_index=True)


def mean_over_datasets(performance: pd.DataFrame, metric: str = "auroc", *,
                       ci: float = 0.95) -> pd.DataFrame:
    """Average of each model's per-data-set value over data sets, as in the paper's summary bars.

    Parameters
    ----------
    performance : DataFrame
        From :func:`performance_by_dataset`.
    metric : str

    Returns
    -------
    DataFrame
        ``model, representation, probe, label, mean, sd, n_datasets, ci_low,
        ci_high`` (t interval over data sets; NaN with one data set), sorted
        by ``mean``.  Only models present on every data set are kept, so
        averages compare like with like.
    """
    rows = performance[performance["metric"] == metric]
    if rows.empty:
        raise ValueError(f"no {metric!r} rows in the performance table")
    n_sets = rows["dataset"].nunique()
    out = []
    for labels, group in rows.groupby(KEYS, sort=False):
        if group["dataset"].nunique() < n_sets:
            continue
        values = group["mean"].to_numpy(dtype=float)
        n = len(values)
        sd = float(np.std(values, ddof=1)) if n > 1 else float("nan")
        half = float(sps.t.ppf(0.5 + ci / 2, n - 1) * sd / np.sqrt(n)) if n > 1 else float("nan")
        mean = float(values.mean())
        out.append({**dict(zip(KEYS, labels)), "label": ladder.model_label(*labels),
                    "mean": mean, "sd": sd, "n_datasets": n,
                    "ci_low": mean - half, "ci_high": mean + half})
    return pd.DataFrame(out).sort_values("mean", ascending=False, ignore_index=True)


def verdict(ci_low: float, ci_high: float) -> str:
    """``"better"`` / ``"worse"`` when the CI of a difference excludes 0, else ``"tie"``."""
    if np.isfinite(ci_low) and ci_low > 0:
        return "better"
    if np.isfinite(ci_high) and ci_high < 0:
        return "worse"
    return "tie"


def compare_per_dataset(predictions: pd.DataFrame, metric: str = "auroc", *,
                        baseline: Mapping[str, object] = ONEHOT_BASELINE,
                        n_boot: int = 1000) -> pd.DataFrame:
    """Every model against the baseline on each data set (paired bootstrap on shared test rows).

    Returns
    -------
    DataFrame
        :func:`glmeval_utils.eval.stats.compare_to_baseline` rows (baseline rows
        excluded) plus ``label`` and ``verdict`` (better / worse / tie from the
        95% CI of the difference).
    """
    table = stats.compare_to_baseline(predictions, dict(baseline), metric, n_boot=n_boot)
    is_baseline = np.logical_and.reduce([table[c] == v for c, v in baseline.items() if c in table])
    table = table[~is_baseline].reset_index(drop=True)
    table["label"] = [ladder.model_label(*r) for r in table[KEYS].itertuples(index=False)]
    table["verdict"] = [verdict(lo, hi) for lo, hi in zip(table.ci_low, table.ci_high)]
    return table


def tally_verdicts(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per model: on how many data sets it is better / tied / worse than the baseline.

    Returns
    -------
    DataFrame
        ``model, representation, probe, label, better, tie, worse, n_datasets,
        mean_effect`` sorted by ``mean_effect`` (descending), plus a
        two-sided sign-test p-value over data sets of the effects' signs
        (``p_sign``; ties at exactly 0 dropped).
    """
    out = []
    for labels, group in comparison.groupby(KEYS, sort=False):
        counts = group["verdict"].value_counts()
        effects = group["effect"].to_numpy(dtype=float)
        effects = effects[np.isfinite(effects) & (effects != 0)]
        positive = int((effects > 0).sum())
        p_sign = (float(sps.binomtest(positive, len(effects), 0.5).pvalue) if len(effects)
                  else float("nan"))
        out.append({**dict(zip(KEYS, labels)), "label": ladder.model_label(*labels),
                    "better": int(counts.get("better", 0)), "tie": int(counts.get("tie", 0)),
                    "worse": int(counts.get("worse", 0)), "n_datasets": len(group),
                    "mean_effect": float(group["effect"].mean()), "p_sign": p_sign})
    return pd.DataFrame(out).sort_values("mean_effect", ascending=False, ignore_index=True)


def control_comparison(predictions: pd.DataFrame, metric: str = "auroc", *,
                       representation: str = "full", probe: str = "cnn",
                       suffix: str = "-random", n_boot: int = 1000) -> pd.DataFrame:
    """Each pretrained gLM against its random-init control (``<name>-random``), per data set.

    Returns
    -------
    DataFrame
        ``task, dataset, model, control, effect, ci_low, ci_high, p_bootstrap,
        verdict``; empty when no pair is present.
    """
    rows = predictions[(predictions.representation == representation) & (predictions.probe == probe)]
    present = set(rows.model)
    out = []
    for model in sorted(present):
        control = model + suffix
        if model.endswith(suffix) or control not in present:
            continue
        pair = rows[rows.model.isin([model, control])]
        table = stats.compare_to_baseline(pair, {"model": control}, metric, n_boot=n_boot)
        for r in table[table.model == model].itertuples():
            out.append({"task": r.task, "dataset": r.dataset, "model": model, "control": control,
                        "effect": r.effect, "ci_low": r.ci_low, "ci_high": r.ci_high,
                        "p_bootstrap": r.p_bootstrap, "verdict": verdict(r.ci_low, r.ci_high)})
    columns = ["task", "dataset", "model", "control", "effect", "ci_low", "ci_high", "p_bootstrap",
               "verdict"]
    return pd.DataFrame(out, columns=columns)


def _is_glm(model: str) -> bool:
    return model not in (ladder.ONEHOT_MODEL, COMPOSITION_MODEL)


#: The paper's supervised control is not a gLM; it is left out of "best gLM" rows.
PAPER_SUPERVISED = ("Sei",)


def paper_side_by_side(mean_table: pd.DataFrame, task: str, *,
                       paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our averages over data sets beside the paper's, matched by role.

    Roles: the one-hot CNN; the best gLM CNN on full embeddings; the best
    gLM probe on a pooled (CLS/mean) embedding with an MLP; the dinucleotide
    composition MLP.  The gLMs differ (ours are teaching-sized in the demo),
    so rows compare roles, not models.

    Parameters
    ----------
    mean_table : DataFrame
        From :func:`mean_over_datasets` (AUROC).
    task : {"tf_binding", "rbp_binding"}
    paper : DataFrame, optional
        Default :func:`glmeval_utils.eval.paper.paper_results`.

    Returns
    -------
    DataFrame
        ``role, ours_model, ours, paper_model, paper``.
    """
    if paper is None:
        from glmeval_utils.eval.paper import paper_results
        paper = paper_results()
    paper = paper[(paper.task == task) & (paper.metric == "auroc")]
    if paper.empty:
        raise ValueError(f"the paper reports no AUROC for task {task!r}")
    glm_ours = mean_table[mean_table.model.map(_is_glm)]
    glm_paper = paper[~paper.model.isin([ladder.ONEHOT_MODEL, *PAPER_SUPERVISED])
                      & (paper.representation != "composition")]

    def best(table, mask, value):
        table = table[mask]
        if table.empty:
            return None, float("nan")
        row = table.sort_values(value, ascending=False).iloc[0]
        label = row.get("label") if "label" in row else None
        if label is None or (isinstance(label, float) and np.isnan(label)):
            label = ladder.model_label(row.model, row.representation, row.probe)
        return label, float(row[value])

    roles = [
        ("one-hot CNN",
         best(mean_table, (mean_table.model == ladder.ONEHOT_MODEL), "mean"),
         best(paper, (paper.model == ladder.ONEHOT_MODEL), "value")),
        ("best gLM, full embedding → CNN",
         best(glm_ours, (glm_ours.representation == "full"), "mean"),
         best(glm_paper, (glm_paper.representation == "full"), "value")),
        ("best gLM, CLS/mean embedding → MLP",
         best(glm_ours, glm_ours.representation.isin(["cls", "mean"]) & (glm_ours.probe == "mlp"), "mean"),
         best(glm_paper, glm_paper.representation.isin(["cls", "mean"]) & (glm_paper.probe == "mlp"), "value")),
        ("dinucleotide composition → MLP",
         best(mean_table, (mean_table.model == COMPOSITION_MODEL)
              & (mean_table.representation == "dinucleotide") & (mean_table.probe == "mlp"), "mean"),
         best(paper, (paper.representation == "composition") & (paper.probe == "mlp"), "value")),
    ]
    return pd.DataFrame([{"role": role, "ours_model": o[0], "ours": o[1], "paper_model": p[0],
                          "paper": p[1]} for role, o, p in roles])


def conclusion_statements(mean_table: pd.DataFrame, tally: pd.DataFrame, *, unit: str = "data set",
                          metric: str = "AUROC") -> list[str]:
    """The chapter's answer, computed from the statistics (markdown sentences).

    Parameters
    ----------
    mean_table : DataFrame
        :func:`mean_over_datasets` output.
    tally : DataFrame
        :func:`tally_verdicts` of the comparison against the one-hot CNN.
    unit : str
        What one data set is ("TF", "RBP").
    """
    onehot = mean_table[mean_table.model == ladder.ONEHOT_MODEL]
    glms = mean_table[mean_table.model.map(_is_glm)]
    composition = mean_table[mean_table.model == COMPOSITION_MODEL]
    statements = []
    if onehot.empty:
        return ["No one-hot baseline was trained, so the paper's comparison cannot be made."]
    base = onehot.iloc[0]
    statements.append(f"Averaged over {int(base.n_datasets)} {unit}s, the one-hot CNN reaches "
                      f"{metric} {base['mean']:.3f}.")
    if not composition.empty:
        top = composition.iloc[0]
        if top["mean"] >= base["mean"]:
            statements.append(f"Composition alone ({top.label}) reaches {top['mean']:.3f}, as high as or "
                              "higher than the one-hot CNN: on these data the CNN has not learned more "
                              "than base or dinucleotide content.")
        else:
            statements.append(f"Composition alone ({top.label}) reaches {top['mean']:.3f}, so composition "
                              f"recovers {_share(top['mean'], base['mean'])} of the one-hot CNN's margin "
                              f"above chance ({metric} 0.5).")
    glm_tally = tally[tally.model.map(_is_glm)] if len(tally) else tally
    if glms.empty or glm_tally.empty:
        statements.append("No gLM probe was trained.")
        return statements
    best = glms.iloc[0]
    statements.append(f"The best gLM probe ({best.label}) averages {best['mean']:.3f} "
                      f"({best['mean'] - base['mean']:+.3f} against the one-hot CNN).")
    wins = glm_tally[glm_tally.better > 0]
    n_sets = int(glm_tally.n_datasets.max())
    if len(wins):
        statements.append("gLM probes that beat the one-hot CNN on at least one " + unit
                          + " (paired bootstrap, 95% CI of the difference above 0): "
                          + "; ".join(f"{r.label} on {r.better} of {r.n_datasets}"
                                      for r in wins.itertuples()) + ".")
    else:
        statements.append(f"No gLM probe beats the one-hot CNN on any of the {n_sets} {unit}s "
                          "(no paired 95% CI of the difference lies above 0).")
    majority = glm_tally[glm_tally.better > glm_tally.n_datasets / 2]
    if majority.empty:
        verdict_text = (f"**holds** here: no gLM probe beats the one-hot CNN on a majority of the "
                        f"{n_sets} {unit}s.")
    else:
        verdict_text = ("**does not hold** here: " + ", ".join(majority.label)
                        + f" beat{'s' if len(majority) == 1 else ''} the one-hot CNN on a majority of "
                        f"the {n_sets} {unit}s.")
    statements.append("The paper's conclusion (frozen gLM representations give no substantial "
                      "advantage over a one-hot model) " + verdict_text)
    return statements


def _share(value: float, reference: float, chance: float = 0.5) -> str:
    if not np.isfinite(value) or reference <= chance:
        return "an undefined share"
    return f"{100 * (value - chance) / (reference - chance):.0f}%"


# ----------------------------------------------------------------------------------------------
# figures


def per_dataset_bars(performance: pd.DataFrame, metric: str = "auroc", *, ncols: int = 4,
                     order: Sequence[str] | None = None, xlabel: str | None = None,
                     xlim: tuple[float, float] | None = None):
    """One panel per data set: horizontal bars of the seed-ensemble metric with bootstrap 95% CIs.

    Bars are coloured by model; every panel shares the row order (``order``,
    default: the order of the mean over data sets).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    rows = performance[performance["metric"] == metric]
    if rows.empty:
        raise ValueError(f"no {metric!r} rows to plot")
    if order is None:
        order = list(rows.groupby("label", sort=False)["mean"].mean().sort_values(ascending=False).index)
    names = list(dict.fromkeys(rows["dataset"]))
    ncols = max(1, min(ncols, len(names)))
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols + 2.8, 0.22 * len(order) * nrows + 1.2),
                             sharey=True, squeeze=False)
    models = list(dict.fromkeys(rows.sort_values("model")["model"]))
    colours = dict(zip(models, sns.color_palette("colorblind", len(models))))
    positions = {label: i for i, label in enumerate(order)}
    for ax, name in zip(axes.flat, names):
        part = rows[(rows.dataset == name) & rows.label.isin(positions)]
        y = part.label.map(positions).to_numpy()
        error = np.vstack([part.ensemble - part.ci_low, part.ci_high - part.ensemble])
        ax.barh(y, part.ensemble, xerr=error, color=[colours[m] for m in part.model], height=0.8,
                error_kw={"elinewidth": 0.8, "capsize": 1.5})
        ax.set_title(name)
        ax.set_xlabel(xlabel or f"test {metric.upper()}")
        if xlim is not None:
            ax.set_xlim(*xlim)
        else:
            ax.set_xlim(max(0.0, float(np.nanmin(part.ci_low)) - 0.05), 1.0)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_yticks(range(len(order)), order)
        ax.set_ylabel("model · representation → probe")
    axes[0, 0].invert_yaxis()  # shared y: the best model on top in every panel
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[m]) for m in models]
    fig.legend(handles, models, title="model", loc="upper center", ncol=min(len(models), 6),
               bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_size_inches()[1]))
    return fig
