"""Chapter 9: would more pretraining, or fine-tuning, change the answer?

The paper probes frozen representations and leaves two questions to its
discussion; this chapter asks both on the splits and with the statistics of
chapters 1 and 2.

* **Pretraining budget.** The teaching gLM's pre-training checkpoints
  (``teaching-mlm@step-N``: step 0 is its seeded initial weights, the
  random-init control; :mod:`glmeval_utils.pretrain` keeps one every
  ``checkpoint_every`` steps) each get the chapter-1 and a chapter-2 probe
  rung, mean embedding → ridge (logistic for binding) and full embedding →
  CNN, on the same rows.  The curve of test score against pretraining tokens
  seen is drawn beside the one-hot CNN's seed spread and the paper's gLMs;
  :func:`glmeval_utils.eval.compare.budget_comparisons` compares the most
  pretrained checkpoint with step 0 and with the best one-hot model.
* **Frozen or fine-tuned.** On one row set per data set: the frozen probes,
  LoRA and full fine-tuning (:class:`glmeval_utils.learn.finetune.FineTunedGLM`),
  each from the pretrained model and from its random-init control, beside the
  best one-hot model; :func:`glmeval_utils.eval.compare.fine_tuning_comparisons`
  compares them on the fine-tuning seeds, every side's configuration chosen on
  validation.

``config(profile, **overrides)`` → ``run(config)`` → ``report(run)``;
``save`` writes what the summary chapter reads (``scaling_curve.csv.gz``,
``scaling_finetuning.csv.gz``: not ``*_predictions`` files, so the paper's
claims never count a checkpoint or a fine-tuned network).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from glmeval_utils import pretrain
from glmeval_utils.data import registry
from glmeval_utils.data.splits import TaskData, subsample
from glmeval_utils.eval import compare, paper, verdicts
from glmeval_utils.eval.performance import performance_table, seed_metric_values, seed_metrics
from glmeval_utils.eval.results import write_results
from glmeval_utils.learn import finetune, ladder
from glmeval_utils.learn.finetune import FineTunedGLM
from glmeval_utils.models import load_glm
from glmeval_utils.models.registry import checkpoint_name, checkpoint_of, get_spec
from glmeval_utils.predictions import FINE_TUNED, ONE_HOT, PRETRAINED
from glmeval_utils.profiles import Profile
from glmeval_utils.tasks import binding, lentimpra
from glmeval_utils.tasks.report import (Report, StageTimes, apply_overrides, default_progress, glance, model_notes,
                                        output_path, settings_for, stalled_notes)
from glmeval_utils.tasks.tables import readable

CHAPTER = "9. More pretraining, or fine-tuning?"
#: Per task: metric, target kind, the CNN probe and one-hot architectures of its chapter, the one-hot CNN drawn as
#: the curve's band, and the paper's data set its markers come from.
TASKS = {
    "lentimpra": dict(metric="pearson", metric_name="Pearson r", kind="regression", cnn="rep_cnn",
                      onehot=("cnn", "resnet", "mprann"), band="cnn", paper_dataset="HepG2"),
    "tf_binding": dict(metric="auroc", metric_name="AUROC", kind="binary", cnn="chip_cnn", onehot=("binary_cnn",),
                       band="binary_cnn", paper_dataset="10 ENCODE TFs (mean)"),
}
#: The chapter-1 data set and one chapter-2 data set, per profile.
DATASETS = {"smoke": ("lentimpra_hepg2", "gue_tf0"), "demo": ("lentimpra_hepg2", "gue_tf0"),
            "full": ("paper_lentimpra_hepg2", "paper_chip_CTCF")}
#: The probe rungs of every checkpoint: (representation, probe).
CURVE_RUNGS = (("mean", "linear"), ("full", "cnn"))
#: gLMs fine-tuned in ``full`` (each with its random-init control), beside the teaching gLM.
FULL_FINE_TUNED = ("nt-v1-2.5b-1000g", "dnabert2", "hyenadna-tiny-1k-d256")
#: Per profile, measured to fit the book's budget: row caps per split (every data set), the checkpoints on the
#: curve (None: every saved one), the data sets fine-tuned (None: every one), seeds and the fine-tuning epoch cap.
BUDGETS = {
    "smoke": dict(rows={"train": 160, "valid": 48, "test": 48}, steps=None, finetune_datasets=("gue_tf0",),
                  seeds=(0,), finetune_seeds=(0,), finetune_epochs=1),
    "demo": dict(rows={"train": 500, "valid": 125, "test": 250}, steps=(0, 50, 300),
                 finetune_datasets=("gue_tf0",), seeds=(0, 1), finetune_seeds=(0,), finetune_epochs=3),
    "full": dict(rows={}, steps=None, finetune_datasets=None, seeds=None, finetune_seeds=(0, 1, 2),
                 finetune_epochs=None),
}


@dataclass(frozen=True)
class Config:
    """Settings of chapter 9 (see :func:`config`)."""

    profile: str
    settings: Profile
    datasets: tuple
    max_rows: dict
    seeds: tuple
    model: str = "teaching-mlm"
    steps: tuple | None = None
    finetune_models: tuple = ()
    finetune_datasets: tuple = ()
    finetune_methods: tuple = ("lora", "full")
    finetune_seeds: tuple = (0,)
    finetune_epochs: int = 10
    finetune_batch_size: int = 32
    device: str = "auto"
    n_boot: int = 1000


def config(profile: str = "demo", **overrides) -> Config:
    """The chapter's settings for a profile; keyword overrides (None = keep) replace any field.

    Demo budget (2 CPU cores, at most 5 minutes): every data set capped at 500
    / 125 / 250 rows (train / valid / test), three of the seven checkpoints on
    the curve (every checkpoint's held-out loss is still drawn), two seeds for
    probes and one-hot models, and fine-tuning on the chapter-2 data set only,
    with one seed and at most 3 epochs.  The pretrained and random-init
    networks fine-tuned are the teaching gLM's last and step-0 checkpoints, so
    their frozen probes are the curve's own.  ``full`` runs every checkpoint,
    the paper's lentiMPRA HepG2 and CTCF ChIP-seq data, and fine-tunes the
    teaching gLM, NT, DNABERT-2 and HyenaDNA with their controls
    (:data:`glmeval_utils.learn.finetune.FINE_TUNING`).
    """
    budget = BUDGETS.get(profile)
    if budget is None:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(BUDGETS)}")
    settings = settings_for(profile)
    model = overrides.get("model") or Config.model
    last = pretrain.get_settings(profile).steps
    finetune = (checkpoint_name(model, last), checkpoint_name(model, 0))
    if profile == "full":
        finetune += tuple(name + suffix for name in FULL_FINE_TUNED for suffix in ("", "-random"))
    datasets = DATASETS[profile]
    base = Config(profile=profile, settings=settings, datasets=datasets, max_rows=dict(budget["rows"]),
                  seeds=budget["seeds"] or settings.seeds, steps=budget["steps"], finetune_models=finetune,
                  finetune_datasets=budget["finetune_datasets"] or datasets, finetune_seeds=budget["finetune_seeds"],
                  finetune_epochs=budget["finetune_epochs"] or settings.max_epochs)
    return apply_overrides(base, overrides)


def task_of(dataset: str) -> str:
    """The chapter task of a data set (``"lentimpra"`` or ``"tf_binding"``); others are refused."""
    task = registry.get_spec(dataset).task if dataset in registry.DATASETS else None
    if task not in TASKS:
        raise ValueError(f"data set {dataset!r} is not a lentiMPRA or TF-binding set; chapter 9 runs on "
                         f"{', '.join(TASKS)} data sets")
    return task


def load_task(dataset: str, cfg: Config, *, progress: bool = False) -> TaskData:
    """One data set as task data, capped at ``cfg.max_rows`` per split.

    lentiMPRA rows are read as chapter 1 reads them and capped by element
    (both orientations together); TF-binding rows as chapter 2 does (every
    row, cross-split duplicates removed, then a label-stratified cap).
    """
    task = task_of(dataset)
    if task == "lentimpra":
        table, _ = lentimpra.load_data(lentimpra.config(cfg.profile, datasets=(dataset,)), progress=progress)
        group_col = table.attrs.get("group_col") or "element"
        capped = subsample(table, cfg.max_rows, group_col=group_col, seed=0)
        return TaskData.from_table(capped, target="activity", task=task, dataset=dataset, kind="regression",
                                   group_col=group_col)
    data, _ = binding.prepare_dataset(registry.load(dataset, profile="full", progress=progress), name=dataset,
                                      task=task, limits=cfg.max_rows)
    return data


def checkpoints_of(model: str) -> pd.DataFrame:
    """:func:`glmeval_utils.pretrain.checkpoint_table` of a teaching gLM; other models keep no checkpoints."""
    spec = get_spec(model)
    if spec.source != "teaching" or spec.random_init:
        raise ValueError(f"{model!r} keeps no pretraining checkpoints; the curve's model is a teaching gLM "
                         "(teaching-mlm or teaching-clm)")
    return pretrain.checkpoint_table(spec.family.removeprefix("teaching-"))


def curve_models(cfg: Config) -> list[str]:
    """Registry names of the checkpoints on the curve; the error lists the saved steps when one is missing."""
    saved = checkpoints_of(cfg.model).step.tolist()
    steps = list(cfg.steps) if cfg.steps is not None else saved
    missing = [step for step in steps if step not in saved]
    if missing:
        every = pretrain.get_settings(cfg.profile).checkpoint_every
        raise FileNotFoundError(f"{cfg.model}: no checkpoint at step(s) {missing}; saved steps: {saved} (the "
                                f"{cfg.profile} pre-training keeps every {every})")
    return [checkpoint_name(cfg.model, step) for step in sorted(steps)]


@dataclass
class Run:
    """Everything chapter 9 trained.

    Attributes
    ----------
    predictions : DataFrame
        Valid and test prediction rows: one-hot models, every checkpoint's
        rungs, frozen probes of the fine-tuned models, fine-tuned networks
        (role fine-tuned, ``probe`` = method, ``model`` = the network they
        started from).
    checkpoints : DataFrame
        :func:`glmeval_utils.pretrain.checkpoint_table` of the curve's model.
    finetuning : DataFrame
        One row per fine-tuning fit: data set, model, method, seed, rank,
        alpha, target modules, learning rate, trainable and total parameters,
        epochs run, best epoch, seconds.
    timings : DataFrame
        ``stage, seconds``.
    onehot_fits : DataFrame
        One record per one-hot fit (:func:`glmeval_utils.learn.ladder.onehot_baselines`).
    """

    config: Config
    data: dict
    predictions: pd.DataFrame
    checkpoints: pd.DataFrame
    finetuning: pd.DataFrame
    timings: pd.DataFrame = field(default_factory=pd.DataFrame)
    onehot_fits: pd.DataFrame = field(default_factory=pd.DataFrame)


def run(cfg: Config, *, progress: bool | None = None) -> Run:
    """Train the one-hot models, every checkpoint's rungs, and fine-tune; see the module's docstring.

    ``progress`` None: bars unless ``TQDM_DISABLE`` is set (:func:`~.report.default_progress`).
    """
    from tqdm.auto import tqdm

    progress = default_progress() if progress is None else progress
    unknown = set(cfg.finetune_datasets) - set(cfg.datasets)
    if unknown:
        raise ValueError(f"finetune_datasets {sorted(unknown)} are not among the chapter's datasets {cfg.datasets}")
    parts, fits, onehot_fits = [], [], []
    times = StageTimes()
    data = times.run("load", lambda: {name: load_task(name, cfg, progress=progress) for name in cfg.datasets})
    checkpoints = checkpoints_of(cfg.model)
    curve = curve_models(cfg)
    for name, task_data in data.items():
        parts.append(times.run(f"one-hot · {name}", lambda: ladder.onehot_baselines(
            task_data, TASKS[task_data.task]["onehot"], profile=cfg.settings, seeds=cfg.seeds, device=cfg.device,
            fits=onehot_fits, progress=False)))
    frozen = [m for m in cfg.finetune_models if m not in curve]
    for model in tqdm([*curve, *frozen], desc="chapter 9: checkpoints and models", disable=not progress):
        glm = load_glm(model, device=cfg.device)  # one gLM in memory at a time
        for name, task_data in data.items():
            if model in curve or name in cfg.finetune_datasets:
                parts.append(times.run(f"{model} · {name}", lambda: _rungs(glm, task_data, cfg)))
            if model in cfg.finetune_models and name in cfg.finetune_datasets:
                for method in cfg.finetune_methods:
                    for seed in cfg.finetune_seeds:
                        rows, fit = times.run(f"{model} · {method} · {name}",
                                              lambda: _fine_tune(glm, task_data, cfg, method, seed))
                        parts.append(rows)
                        fits.append(fit)
    return Run(cfg, data, pd.concat(parts, ignore_index=True), checkpoints, pd.DataFrame(fits),
               times.frame(), pd.DataFrame(onehot_fits))


def _rungs(glm, data: TaskData, cfg: Config) -> pd.DataFrame:
    """The curve's rungs (mean → ridge, full → CNN) of one gLM on one data set."""
    return ladder.glm_ladder(glm, data, profile=cfg.settings, representations=tuple(r for r, _ in CURVE_RUNGS),
                             pooled_probes=("linear",), cnn_architecture=TASKS[data.task]["cnn"], seeds=cfg.seeds,
                             device=cfg.device, progress=False)


def _fine_tune(glm, data: TaskData, cfg: Config, method: str, seed: int) -> tuple[pd.DataFrame, dict]:
    """Prediction rows of one fine-tuning fit and its record (settings, epochs, seconds)."""
    estimator = FineTunedGLM(glm, data.kind, method=method, batch_size=cfg.finetune_batch_size,
                             max_epochs=cfg.finetune_epochs, patience=cfg.settings.patience,
                             lr_patience=cfg.settings.lr_patience, random_state=seed, device=cfg.device,
                             progress=False)
    estimator.fit(data.seqs["train"], data.y["train"], data.seqs["valid"], data.y["valid"])
    rows = data.predictions_of(estimator.predict, model=glm.name, role=FINE_TUNED, representation="sequence",
                               probe=method, seed=seed)
    settings = dict(estimator.settings_)
    if "target_modules" in settings:
        settings["target_modules"] = ", ".join(settings["target_modules"])
    history = estimator.history_
    return rows, {"dataset": data.dataset, "model": glm.name, "start": glm.role, "seed": seed, **settings,
                  "epochs": history.n_epochs, "best_epoch": history.best_epoch + 1, "seconds": history.seconds}


# ---------------------------------------------------------------------------------------------- report
def _per_task(predictions: pd.DataFrame, function, **kwargs) -> pd.DataFrame:
    """``function(rows of one task, its metric, **kwargs)`` over the tasks, concatenated."""
    tables = [function(part, TASKS[task]["metric"], **kwargs) for task, part in predictions.groupby("task", sort=False)]
    tables = [t for t in tables if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def finetuning_rows(predictions: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """The rows the fine-tuning comparison reads: its data sets, its models and the one-hot models, on its seeds.

    Every side is restricted to the fine-tuning seeds, so that a side trained
    with more seeds is not compared as an ensemble of them.
    """
    keep = (predictions["dataset"].isin(cfg.finetune_datasets) & predictions["seed"].isin(cfg.finetune_seeds)
            & (predictions["model"].isin(cfg.finetune_models) | (predictions["role"] == ONE_HOT)))
    return predictions[keep]


def curve_rows(predictions: pd.DataFrame) -> pd.DataFrame:
    """The rows of the pretraining curve: every checkpoint's rungs (not fine-tuned) and the one-hot models."""
    checkpoint = predictions["model"].map(checkpoint_of).notna() & (predictions["role"] != FINE_TUNED)
    return predictions[checkpoint | (predictions["role"] == ONE_HOT)]


def report(run: Run) -> Report:
    """The curve and its comparisons, the fine-tuning table and its comparisons, both verdicts."""
    cfg, predictions = run.config, run.predictions
    curve = curve_rows(predictions)
    tuning = finetuning_rows(predictions, cfg)
    budget = _per_task(curve, compare.budget_comparisons, n_boot=cfg.n_boot)
    tuned = _per_task(tuning, compare.fine_tuning_comparisons, n_boot=cfg.n_boot)
    found = [verdicts.pretraining_budget(budget), verdicts.fine_tuning_helps(tuned)]
    points = _curve_points(curve, run.checkpoints, cfg.n_boot)
    sides = _finetuning_sides(tuning, cfg.n_boot) if len(tuning) else pd.DataFrame()
    lead = (f"The most-pretrained checkpoint against its step 0 and against the best one-hot model: it "
            f"{found[0].number}. **{found[1].claim.text}** — **{found[1].verdict}** here: {found[1].number}.")
    tables = {
        "checkpoints": readable(run.checkpoints.drop(columns="model"), {
            "step": "step", "tokens_seen": "tokens seen", "held_out_loss": "held-out loss (nats)",
            "masked_accuracy": "masked accuracy", "next_base_accuracy": "next-base accuracy"}),
        "curve": readable(points, {"dataset": "data set", "rung": "rung", "step": "step",
                                   "tokens_seen": "tokens seen", "mean": "test score", "ci_low": "CI low",
                                   "ci_high": "CI high"}),
        "budget": readable(budget.assign(rung=_rung_labels(budget), against=_against(budget)) if len(budget)
                           else budget, {"dataset": "data set", "rung": "rung", "against": "last checkpoint against",
                                         "effect": "Δ", "ci_low": "CI low", "ci_high": "CI high",
                                         "verdict": "verdict"}),
        "finetuning": _finetuning_table(sides),
        "finetuning_versus": readable(tuned.assign(against=_against(tuned)) if len(tuned) else tuned, {
            "dataset": "data set", "model": "fine-tuned from", "method": "method", "against": "against",
            "effect": "Δ", "ci_low": "CI low", "ci_high": "CI high", "verdict": "verdict"}),
        "settings": _settings_table(run.finetuning),
        "families": readable(finetune.settings_table().assign(lora_lr=lambda t: t["lora_lr"].map("{:g}".format),
                                                              full_lr=lambda t: t["full_lr"].map("{:g}".format)), {
            "family": "family", "target_modules": "LoRA target modules", "modules": "what they are",
            "rank": "rank", "alpha": "alpha", "lora_lr": "LoRA lr", "full_lr": "full lr", "batch_size": "batch size"}),
        "timings": run.timings.round(1),
    }
    figures = {"curve": points, "band": _onehot_band(curve), "paper": _paper_markers(predictions),
               "loss": run.checkpoints, "finetuning": _finetuning_figure(sides)}
    statements = (_statements(budget, tuned, run, cfg) + model_notes(predictions.model)
                  + stalled_notes(run.onehot_fits))
    return Report(CHAPTER, glance(found[0], lead), found, statements, tables, figures)


def _against(comparisons: pd.DataFrame) -> list:
    """``"<comparison>: <its chosen configuration>"`` (the model name left out: the comparison says which)."""
    return [f"{row.comparison}: {row.baseline.split(' · ', 1)[-1]}" for row in comparisons.itertuples()]


def _rung_labels(table: pd.DataFrame) -> pd.Series:
    return table["representation"] + " → " + table["probe"].replace({"linear": "ridge"})


def _curve_points(curve: pd.DataFrame, checkpoints: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    """Per data set, rung and checkpoint: test score (mean over seeds, bootstrap CI), step and tokens seen."""
    performance = _per_task(curve[curve["role"] != ONE_HOT], performance_table, n_boot=n_boot)
    if performance.empty:
        return pd.DataFrame(columns=["dataset", "rung", "model", "role", "step", "tokens_seen", "metric", "mean",
                                     "ci_low", "ci_high"])
    performance = performance.assign(step=performance["model"].map(lambda m: checkpoint_of(m)[1]),
                                     rung=_rung_labels(performance))
    tokens = checkpoints.set_index("step")["tokens_seen"]
    performance["tokens_seen"] = performance["step"].map(tokens)
    columns = ["dataset", "rung", "model", "role", "step", "tokens_seen", "metric", "mean", "ci_low", "ci_high"]
    order = {name: i for i, name in enumerate(dict.fromkeys(curve["dataset"]))}
    rungs = {label: i for i, label in enumerate(_rung_labels(pd.DataFrame(CURVE_RUNGS, columns=["representation",
                                                                                              "probe"])))}
    keys = {"dataset": order, "rung": rungs}
    return performance[columns].sort_values(["dataset", "rung", "step"], ignore_index=True,
                                            key=lambda c: c.map(keys[c.name]) if c.name in keys else c)


def _onehot_band(curve: pd.DataFrame) -> pd.DataFrame:
    """Per data set: the one-hot CNN's test score per seed (its spread is the curve's band)."""
    rows = []
    for (task, dataset), part in curve[curve["role"] == ONE_HOT].groupby(["task", "dataset"], sort=False):
        cnn = part[(part["probe"] == TASKS[task]["band"]) & (part["split"] == "test")]
        for seed, value in seed_metric_values(cnn, TASKS[task]["metric"]).items():
            rows.append({"dataset": dataset, "probe": TASKS[task]["band"], "seed": seed, "value": value})
    return pd.DataFrame(rows, columns=["dataset", "probe", "seed", "value"])


def _paper_markers(predictions: pd.DataFrame) -> pd.DataFrame:
    """The paper's pretrained gLMs on each rung of the curve (its own data set of the same task and metric)."""
    theirs = paper.paper_results()
    rows = []
    for (task, dataset), _ in predictions.groupby(["task", "dataset"], sort=False):
        spec = TASKS[task]
        part = theirs[(theirs.task == task) & (theirs.dataset == spec["paper_dataset"]) & (theirs.role == PRETRAINED)
                      & (theirs.metric == spec["metric"])]
        for representation, probe in CURVE_RUNGS:
            mine = part[(part.representation == representation) & (part.probe == probe)]
            rows += [{"dataset": dataset, "rung": _rung_labels(pd.DataFrame([{"representation": representation,
                                                                               "probe": probe}])).iloc[0],
                      "model": r.model, "value": r.value, "paper_dataset": r.dataset} for r in mine.itertuples()]
    return pd.DataFrame(rows, columns=["dataset", "rung", "model", "value", "paper_dataset"])


def _finetuning_table(sides: pd.DataFrame) -> pd.DataFrame:
    """Per fine-tuned data set: frozen (chosen), LoRA and full fine-tuning from each start, then the best one-hot."""
    if sides.empty:
        return pd.DataFrame()
    onehot = sides.drop_duplicates("dataset").assign(
        start=ONE_HOT, training=lambda t: "one-hot " + t["onehot_probe"] + " (chosen on validation)",
        valid_value=lambda t: t["onehot_valid"], value=lambda t: t["baseline_value"], effect=np.nan, ci_low=np.nan,
        ci_high=np.nan, verdict="yardstick")
    table = pd.concat([sides, onehot], ignore_index=True)
    return readable(table, {"dataset": "data set", "start": "start", "training": "training", "value": "test score",
                            "effect": "Δ vs best one-hot", "ci_low": "CI low", "ci_high": "CI high",
                            "verdict": "verdict"})


def _finetuning_sides(tuning: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    """Every fine-tuned network and each model's chosen frozen probe against the best one-hot model.

    :func:`~glmeval_utils.eval.compare.versus_best_onehot` rows with ``start``
    (the role of the weights the side started from) and ``training`` (frozen
    probe or fine-tuning method), ordered by data set, start and training.
    """
    every = _per_task(tuning, compare.versus_best_onehot, scope="all", n_boot=n_boot)
    chosen = _per_task(tuning, compare.versus_best_onehot, n_boot=n_boot)
    rows = pd.concat([chosen[chosen["role"] != FINE_TUNED], every[every["role"] == FINE_TUNED]], ignore_index=True)
    rows = rows.assign(start=rows["model"].map(lambda m: get_spec(m).role), training=[
        f"{r.probe} fine-tuning" if r.role == FINE_TUNED else f"frozen: {r.representation} → {r.probe}"
        for r in rows.itertuples()])
    return rows.sort_values(["dataset", "start", "training"], key=lambda c: c.str.replace("frozen", " "),
                            ignore_index=True)


def _finetuning_figure(sides: pd.DataFrame) -> pd.DataFrame:
    """The fine-tuning comparison's rows labelled for :func:`glmeval_utils.plots.versus_onehot`."""
    if sides.empty:
        return pd.DataFrame(columns=["label", "role", "effect", "ci_low", "ci_high"])
    prefix = sides["dataset"] + ": " if sides["dataset"].nunique() > 1 else ""
    return sides.assign(label=prefix + sides["start"] + " start · " + sides["training"])


def _settings_table(fits: pd.DataFrame) -> pd.DataFrame:
    """What each fine-tuning fit trained: LoRA rank / alpha and targets, learning rate, parameters, epochs."""
    if fits.empty:
        return pd.DataFrame()
    lora = fits["method"] == "lora"
    table = fits.assign(
        lora=[f"r {r:g} / alpha {a:g} on {t}" if is_lora else "—" for is_lora, r, a, t in
              zip(lora, fits.get("rank", np.nan), fits.get("alpha", np.nan), fits.get("target_modules", ""))],
        lr=fits["lr"].map("{:g}".format),
        parameters=[f"{t:,} of {n:,}" for t, n in zip(fits["trainable_parameters"], fits["parameters"])],
        epochs=[f"{e} (best {b})" for e, b in zip(fits["epochs"], fits["best_epoch"])])
    return readable(table, {"dataset": "data set", "model": "model", "method": "method", "lora": "LoRA",
                            "lr": "learning rate", "parameters": "trainable parameters", "epochs": "epochs",
                            "seconds": "seconds"}, digits=1)


def _statements(budget: pd.DataFrame, tuned: pd.DataFrame, run: Run, cfg: Config) -> list:
    out = []
    loss = run.checkpoints
    if len(loss):
        first, last = loss.iloc[0], loss.iloc[-1]
        out.append(f"Held-out loss of `{cfg.model}` falls from {first.held_out_loss:.3f} nats at step {first.step} to "
                   f"{last.held_out_loss:.3f} at step {last.step} ({last.tokens_seen:,} tokens seen; ln 4 = "
                   f"{np.log(4):.3f} is a uniform guess).")
    for row in budget.itertuples() if len(budget) else ():
        against = ("its step-0 checkpoint" if row.comparison == verdicts.STEP_ZERO
                   else f"the best one-hot model ({row.baseline})")
        out.append(f"{row.dataset}, {row.representation} → {row.probe}: `{row.model}` scores {row.value:.3f}, "
                   f"{against} {row.baseline_value:.3f}; difference {row.effect:+.3f} (95% CI {row.ci_low:+.3f} to "
                   f"{row.ci_high:+.3f}): **{row.verdict}**.")
    for row in tuned.itertuples() if len(tuned) else ():
        out.append(f"{row.dataset}: `{row.model}` fine-tuned ({row.method}, chosen on validation) against "
                   f"{row.baseline}: {row.value:.3f} vs {row.baseline_value:.3f}, difference {row.effect:+.3f} "
                   f"(95% CI {row.ci_low:+.3f} to {row.ci_high:+.3f}): **{row.verdict}**.")
    if cfg.profile != "full":
        sizes = "; ".join(f"{name} {data.sizes()['train']} / {data.sizes()['valid']} / {data.sizes()['test']}"
                          for name, data in run.data.items())
        out.append(f"Caveat: the `{cfg.profile}` profile runs the small teaching gLM on capped rows (train / valid / "
                   f"test: {sizes}), {len(cfg.seeds)} seed(s) for probes and one-hot models and "
                   f"{len(cfg.finetune_seeds)} for fine-tuning (every side of the fine-tuning comparison is read on "
                   f"that seed), at most {cfg.finetune_epochs} fine-tuning epochs, and fine-tunes on "
                   f"{', '.join(cfg.finetune_datasets)} only; run the `full` profile on a GPU for the real "
                   "checkpoints.")
    return out


def save(run: Run, output_dir) -> list:
    """Write the curve's and the fine-tuning comparison's prediction rows, and the per-seed results.

    ``scaling_curve.csv.gz`` holds the checkpoints' and one-hot rows;
    ``scaling_finetuning.csv.gz`` the rows of the fine-tuning comparison (its
    seeds only).  Neither name ends in ``_predictions``, so the summary's
    paper claims never count them; it reads them for chapter 9's two claims.
    """
    written = [output_path(output_dir, "scaling_curve.csv.gz"), output_path(output_dir, "scaling_finetuning.csv.gz"),
               output_path(output_dir, "scaling.csv")]
    curve_rows(run.predictions).to_csv(written[0], index=False)
    finetuning_rows(run.predictions, run.config).to_csv(written[1], index=False)
    write_results(pd.concat([seed_metrics(part, TASKS[task]["kind"])
                             for task, part in run.predictions.groupby("task", sort=False)]), written[2])
    return written
