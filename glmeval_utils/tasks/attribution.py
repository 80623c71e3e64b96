"""Chapter 7: what did each model learn? Attribution maps, motifs, JASPAR matches and GIA.

Two predictors per data set — the one-hot CNN and a gLM-based model (the
frozen full embedding of a gLM → CNN probe) — go through the whole chain on two
real sets (a GUE TF set, lentiMPRA HepG2) and on simulated sequences with two
planted JASPAR motifs (ground truth for the pipeline, flagged ``simulated``
and kept out of the claim):

1. attribution maps of the top test sequences: one-hot saliency (cheap, many
   sequences), ISM of both predictors (model-agnostic, a few sequences through
   the gLM), the paper's LM-entropy map and its product with the probe gradient;
2. agreement of every map with the one-hot saliency map, the one-hot model's
   own ISM being the yardstick;
3. motif discovery (modisco-lite), TOMTOM against JASPAR 2024, recall of the
   planted motifs;
4. global importance analysis of each set's motif against a shuffled control.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from glmeval_utils import embeddings
from glmeval_utils.data import registry
from glmeval_utils.data.simulate import simulate_planted_motifs
from glmeval_utils.data.splits import TaskData
from glmeval_utils.devices import reduced_precision
from glmeval_utils.eval import metrics, paper, verdicts
from glmeval_utils.eval.attribution import agreement_table, gia_table, per_sequence_agreement
from glmeval_utils.eval.results import make_rows, write_results
from glmeval_utils.learn import ladder
from glmeval_utils.models import load_glm
from glmeval_utils.predictions import ONE_HOT
from glmeval_utils.profiles import Profile
from glmeval_utils.score import attribution, motifs
from glmeval_utils.sequences import one_hot
from glmeval_utils.tasks import binding
from glmeval_utils.tasks.report import Report, apply_overrides, glance, model_notes, output_path, settings_for
from glmeval_utils.tasks.tables import readable

TASK = "attribution"
CHAPTER = "7. Attribution and motifs"
#: the real data sets: target, kind, one-hot architecture, CNN probe, the chapter whose rows and settings they reuse.
REAL_SETS = {
    "gue_tf2": dict(target="label", kind="binary", onehot="binary_cnn", probe="chip_cnn", chapter="tf_binding"),
    "lentimpra_hepg2": dict(target="activity", kind="regression", onehot="cnn", probe="rep_cnn", chapter="lentimpra"),
}
#: the JASPAR 2024 matrices planted in the simulated set.
PLANTED = {"MA0139.2": "CTCF", "MA0080.7": "SPI1"}
SIMULATED = "simulated_planted"
#: the motif a set is known for, used for GIA when modisco finds none.
KNOWN_MOTIFS = {"gue_tf2": "CACGTG", "lentimpra_hepg2": "GTTAATNATTAAC", SIMULATED: "CCACCAGGGGGC"}
#: the map names, as the agreement table shows them.
SALIENCY, ONEHOT_ISM, GLM_ISM = "one-hot CNN · saliency", "one-hot CNN · ISM", "gLM probe · ISM"
LM_ENTROPY, LM_COMBINED = "gLM · LM entropy (paper)", "gLM · LM entropy × probe gradient (paper)"
#: per profile: epochs, motif discovery on the real sets, sequences through the gLM, saliency sequences,
#: ISM window (None: whole sequence), simulated rows and length, modisco's minimum seqlets, GIA backgrounds.
BUDGETS = {
    "smoke": dict(sim_epochs=None, discover_real=False, n_top=3, n_saliency=48, window=30, sim_n=600, sim_length=50,
                  min_seqlets=5, n_gia=8),
    "demo": dict(sim_epochs=30, discover_real=True, n_top=12, n_saliency=300, window=60, sim_n=1200, sim_length=50,
                 min_seqlets=10, n_gia=60),
    "full": dict(sim_epochs=None, discover_real=True, n_top=500, n_saliency=500, window=None, sim_n=5000,
                 sim_length=100, min_seqlets=20, n_gia=300),
}
EMBED = dict(layers=(-1,), pooling="full", batch_size=256, progress=False)


@dataclass(frozen=True)
class Config:
    """Settings of chapter 7 (see :func:`config`)."""

    profile: str
    settings: Profile
    glm: str = "teaching-mlm"
    sim_epochs: int | None = None
    discover_real: bool = True
    n_top: int = 12
    n_saliency: int = 300
    window: int | None = None
    sim_n: int = 1200
    sim_length: int = 50
    min_seqlets: int = 10
    n_gia: int = 60
    device: str = "auto"


def config(profile: str = "demo", **overrides) -> Config:
    """The chapter's settings for a profile; keyword overrides (None = keep) replace any field.

    Demo budget: the gLM probe's ISM covers the top 12 sequences in a 60-nt
    central window; the simulated set trains 30 epochs.
    """
    settings = settings_for(profile)
    return apply_overrides(Config(profile=profile, settings=settings, **BUDGETS[profile]), overrides)


@dataclass
class Maps:
    """Attribution maps of one data set's top sequences (see :func:`run`)."""

    seqs_many: list
    X_many: np.ndarray
    saliency_many: np.ndarray
    seqs_top: list
    groups_top: np.ndarray
    X_top: np.ndarray
    ism_glm: np.ndarray
    per_position: dict
    window: slice
    onehot_predictor: object
    glm_predictor: object


@dataclass
class Run:
    """Trained predictors, maps and motifs of every data set.

    Attributes
    ----------
    performance : DataFrame
        ``dataset, predictor, metric, value`` (test metric of both predictors).
    maps : dict of data set → Maps
    agreement : DataFrame
        ``dataset, map, role, mean, ci_low, ci_high, n, n_groups, simulated`` (``role``: of the predictor
        behind the map; intervals resample independent units, e.g. lentiMPRA elements).
    per_sequence : DataFrame
        ``dataset, map, sequence, r``.
    found : dict of "<data set> · <predictor>" → list of motifs
    matches : DataFrame
        TOMTOM matches of every discovered motif.
    recall : DataFrame
        Planted-motif recall per predictor on the simulated set.
    gia : DataFrame
        GIA of each set's motif on both predictors.
    """

    config: Config
    performance: pd.DataFrame
    maps: dict
    agreement: pd.DataFrame
    per_sequence: pd.DataFrame
    found: dict = field(default_factory=dict)
    matches: pd.DataFrame = field(default_factory=pd.DataFrame)
    recall: pd.DataFrame = field(default_factory=pd.DataFrame)
    gia: pd.DataFrame = field(default_factory=pd.DataFrame)
    jaspar: dict = field(default_factory=dict)


def _train(cfg: Config, glm, data: TaskData, settings: Profile, onehot: str, probe: str):
    """The one-hot CNN and the gLM probe on full embeddings, seed 0, built as the ladder builds them.

    With the settings and rows of the chapter a real set comes from, both fits
    are the ones that chapter trained: the trained-model cache serves them.
    """
    onehot_model = ladder.onehot_estimator(onehot, data.kind, profile=settings, seed=0, device=cfg.device)
    onehot_model.fit(data.seqs["train"], data.y["train"], data.seqs["valid"], data.y["valid"])
    # per nucleotide (not the ladder's token rows for k-mer models): ISM maps one base to one row
    with reduced_precision():  # the probe's inputs, as chapters 1 and 2 embed them; ISM below runs in fp32
        cached = embeddings.extract(glm, data.all_seqs, layers=(-1,), pooling="full", batch_size=256,
                                    label=data.dataset, progress=False)
    full = {split: cached.layer(-1)[rows] for split, rows in data.split_rows().items()}
    probe_model = ladder.cnn_probe(data.kind, probe, profile=settings, seed=0, device=cfg.device)
    probe_model.fit(full["train"], data.y["train"], full["valid"], data.y["valid"])
    scores = {"one-hot CNN": onehot_model.predict(data.seqs["test"]), "gLM probe": probe_model.predict(full["test"])}
    return onehot_model, probe_model, scores


def _real_set(cfg: Config, name: str) -> tuple[TaskData, Profile]:
    """A real set's rows and training settings, as the chapter it comes from uses them (1 or 2)."""
    spec = REAL_SETS[name]
    if spec["chapter"] == "tf_binding":
        source = binding.config("tf_binding", cfg.profile)
        data, _ = binding.prepare_dataset(registry.load(name, profile="full", progress=False), name=name,
                                          task="tf_binding", limits=source.max_rows, dedup=source.dedup)
        return data, source.settings
    table = registry.load(name, profile=cfg.profile, progress=False)
    return TaskData.from_table(table, target=spec["target"], task=TASK, dataset=name, kind=spec["kind"]), cfg.settings


def _maps(cfg: Config, glm, data: TaskData, onehot_model, probe_model, onehot_scores) -> Maps:
    positives = np.asarray(data.y["test"]) > 0.5 if data.kind == "binary" else None
    order = attribution.top_sequences(onehot_scores, cfg.n_saliency, mask=positives)
    seqs_many = [data.seqs["test"][i] for i in order]
    X_many = one_hot(seqs_many)
    onehot_predictor = attribution.OneHotPredictor(onehot_model.model_.eval(), rc_average=onehot_model.rc_augment)
    saliency_many = attribution.saliency(onehot_predictor, X_many, device=cfg.device)
    top = order[:cfg.n_top]
    seqs_top, X_top = seqs_many[:len(top)], X_many[:len(top)]
    length = X_top.shape[2]
    width = min(cfg.window or length, length)
    window = slice((length - width) // 2, (length - width) // 2 + width)
    glm_predictor = attribution.OneHotPredictor.from_glm(glm, probe_model.model_.eval(), layer=-1, pooling="full",
                                                         batch_size=256)
    ism = dict(start=window.start, end=window.stop, batch_size=512, device=cfg.device, progress=False)
    ism_glm = attribution.ism(glm_predictor, X_top, **ism)
    ism_onehot = attribution.ism(onehot_predictor, X_top, **ism)
    lm_map = attribution.lm_entropy_attribution(glm, seqs_top, batch_size=256, progress=False)
    grad_norm = attribution.embedding_gradient_norm(probe_model.model_, glm.embed(seqs_top, **EMBED)[:, 0],
                                                    device=cfg.device)
    per_position = {
        SALIENCY: attribution.attribution_at_observed(saliency_many[:len(top)], X_top),
        ONEHOT_ISM: attribution.attribution_at_observed(ism_onehot, X_top),
        GLM_ISM: attribution.attribution_at_observed(ism_glm, X_top),
        LM_ENTROPY: lm_map,
        LM_COMBINED: attribution.combined_attribution(lm_map, grad_norm),
    }
    per_position = {k: v[:, window] for k, v in per_position.items()}  # compare inside the ISM window
    return Maps(seqs_many, X_many, saliency_many, seqs_top, data.groups["test"][top], X_top, ism_glm, per_position,
                window, onehot_predictor, glm_predictor)


def run(cfg: Config, *, progress: bool | None = None) -> Run:
    """Train, attribute, compare maps, discover and match motifs, and run GIA (see the module docstring)."""
    del progress  # every step here is short; bars would only clutter the page
    glm = load_glm(cfg.glm, device=cfg.device)
    performance, maps, agreements, per_sequence = [], {}, [], []
    for name, spec in REAL_SETS.items():
        data, settings = _real_set(cfg, name)
        onehot_model, probe_model, scores = _train(cfg, glm, data, settings, spec["onehot"], spec["probe"])
        metric = "auroc" if spec["kind"] == "binary" else "pearson"
        performance += [{"dataset": name, "predictor": predictor, "metric": metric,
                         "value": metrics.METRICS[metric](data.y["test"], values)} for predictor, values in scores.items()]
        maps[name] = _maps(cfg, glm, data, onehot_model, probe_model, scores["one-hot CNN"])
        reference = maps[name].per_position[SALIENCY]
        compared = {k: v for k, v in maps[name].per_position.items() if k != SALIENCY}
        groups = maps[name].groups_top  # e.g. the forward and reverse construct of one lentiMPRA element
        table = agreement_table(compared, reference, groups=groups)
        agreements.append(table.assign(dataset=name, simulated=data.simulated,
                                       role=[ONE_HOT if m.startswith("one-hot") else glm.role for m in table["map"]]))
        per_sequence.append(per_sequence_agreement(compared, reference, groups=groups).assign(dataset=name))
    jaspar = {m.matrix_id: m for m in motifs.load_jaspar()}
    simulated = _simulated(cfg, glm, jaspar)
    performance += simulated.pop("performance")
    discovery = {}
    if cfg.discover_real:
        for name, m in maps.items():
            discovery[f"{name} · one-hot CNN"] = (m.saliency_many, m.X_many)
            discovery[f"{name} · gLM probe"] = (m.ism_glm[:, :, m.window], m.X_top[:, :, m.window])
    discovery[f"{SIMULATED} · one-hot CNN"] = (simulated["saliency"], simulated["X"])
    if cfg.discover_real:
        discovery[f"{SIMULATED} · gLM probe"] = (simulated["ism_glm"], simulated["X"][:len(simulated["ism_glm"])])
    found = motifs.discover_all(discovery, window=11, flank=5, min_seqlets=cfg.min_seqlets, max_seqlets=500,
                                n_leiden_runs=3)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="memelite")
        matches = motifs.match_all(found, list(jaspar.values()), n_best=3)
    recall = motifs.planted_recall(matches, PLANTED, [k for k in found if k.startswith(SIMULATED)], top_k=3)
    gia = _gia(cfg, maps, simulated, found)
    return Run(cfg, pd.DataFrame(performance), maps,
               pd.concat(agreements, ignore_index=True)[["dataset", "map", "role", "mean", "ci_low", "ci_high", "n",
                                                         "n_groups", "simulated"]],
               pd.concat(per_sequence, ignore_index=True), found, matches, recall, gia, jaspar)


def _simulated(cfg: Config, glm, jaspar: dict) -> dict:
    """Train both predictors on sequences with planted JASPAR motifs and attribute every carrier."""
    table = simulate_planted_motifs(cfg.sim_n, cfg.sim_length, {name: jaspar[mid].pfm for mid, name in PLANTED.items()},
                                    effect_sizes={name: 6.0 for name in PLANTED.values()}, intercept=-3.0,
                                    seed=0)
    data = TaskData.from_table(table, target="label", task=TASK, dataset=SIMULATED, kind="binary")
    settings = dataclasses.replace(cfg.settings, max_epochs=cfg.sim_epochs or cfg.settings.max_epochs,
                                   width_factor=1.0)
    onehot_model, probe_model, scores = _train(cfg, glm, data, settings, "binary_cnn", "chip_cnn")
    # attribute every carrier of a planted motif (train + test: the maps explain the model, not the data)
    carriers = table[table[list(PLANTED.values())].any(axis=1)]
    X = one_hot(carriers.seq.tolist())
    onehot_predictor = attribution.OneHotPredictor(onehot_model.model_.eval(), rc_average=onehot_model.rc_augment)
    glm_predictor = attribution.OneHotPredictor.from_glm(glm, probe_model.model_.eval(), layer=-1, pooling="full",
                                                         batch_size=256)
    n_glm = min(len(X), 2 * cfg.n_top)
    return {"performance": [{"dataset": SIMULATED, "predictor": predictor, "metric": "auroc",
                             "value": metrics.auroc(data.y["test"], values)} for predictor, values in scores.items()],
            "X": X, "seqs": carriers.seq.tolist(), "saliency": attribution.saliency(onehot_predictor, X,
                                                                                    device=cfg.device),
            "ism_glm": attribution.ism(glm_predictor, X[:n_glm], batch_size=512, device=cfg.device, progress=False),
            "onehot_predictor": onehot_predictor, "glm_predictor": glm_predictor}


def _gia(cfg: Config, maps: dict, simulated: dict, found: dict) -> pd.DataFrame:
    """Each set's strongest one-hot motif (or the motif it is known for) on both predictors."""
    # backgrounds: the top sequences of the one-hot model, as many as the GIA budget asks
    predictors = {name: (m.onehot_predictor, m.glm_predictor, m.seqs_many) for name, m in maps.items()}
    predictors[SIMULATED] = (simulated["onehot_predictor"], simulated["glm_predictor"], simulated["seqs"])
    rows = []
    for name, (onehot_predictor, glm_predictor, backgrounds) in predictors.items():
        discovered = [x for x in found.get(f"{name} · one-hot CNN", []) if x.name.startswith("pos")]
        pattern = motifs.consensus(discovered[0].pfm) if discovered else KNOWN_MOTIFS[name]
        for label, predictor in (("one-hot CNN", onehot_predictor), ("gLM probe", glm_predictor)):
            table = gia_table(predictor, backgrounds[:cfg.n_gia], {pattern: pattern}, batch_size=256,
                              device=cfg.device)
            rows.append(table.assign(dataset=name, predictor=label,
                                     source="discovered" if discovered else "known motif"))
    return pd.concat(rows, ignore_index=True)


def report(run: Run) -> Report:
    """The claim's verdict from the real sets' agreement, with recall and GIA as further statements."""
    main = verdicts.attribution_disagrees(run.agreement, glm_map=GLM_ISM, yardstick=ONEHOT_ISM)
    statements = []
    for dataset in REAL_SETS:
        part = run.agreement[run.agreement.dataset == dataset].set_index("map")
        lm, combined, ism = part.loc[LM_ENTROPY], part.loc[LM_COMBINED], part.loc[GLM_ISM]
        fmt = lambda row: f"{row['mean']:.3f} (95% CI {row.ci_low:.3f} to {row.ci_high:.3f}, n = {int(row.n)})"  # noqa: E731
        statements.append(
            f"**{dataset}** — agreement with the one-hot map: gLM-probe ISM {fmt(ism)}; LM entropy alone {fmt(lm)}; "
            f"LM × probe gradient {fmt(combined)}. "
            + ("As in the paper, the probe-informed map agrees more than the LM-only map (intervals apart)."
               if combined.ci_low > lm.ci_high else
               "The probe-informed map has the higher mean, as in the paper, but the intervals overlap."
               if combined["mean"] > lm["mean"] else "Unlike the paper, the probe gradient does not raise agreement."))
    for predictor, rate in run.recall.groupby("predictor").recovered.mean().items():
        statements.append(f"Ground truth (simulated, teaches the pipeline only): `{predictor}` recovered "
                          f"{rate:.0%} of the planted JASPAR motifs.")
    for label, part in (("real sets", run.gia[run.gia.dataset != SIMULATED]),
                        ("simulated set", run.gia[run.gia.dataset == SIMULATED])):
        statements.append(f"GIA on the {label}: {int((part.p_value < 0.05).sum())} of {len(part)} motif tests differ "
                          "from their shuffled control on the same backgrounds (paired two-sided Wilcoxon "
                          "signed-rank test, p < 0.05).")
    statements += model_notes([run.config.glm])
    real = run.agreement[~run.agreement.simulated]
    lead = "; ".join(f"{d}: gLM-probe ISM agreement {p.set_index('map').loc[GLM_ISM, 'mean']:.3f} against the one-hot "
                     f"model's own ISM {p.set_index('map').loc[ONEHOT_ISM, 'mean']:.3f}"
                     for d, p in real.groupby("dataset", sort=False)) + "."
    matches = run.matches
    tables = {
        "performance": run.performance.round(3),
        "agreement": readable(run.agreement, {"dataset": "data set", "map": "map", "role": "role", "mean": "mean r",
                                              "ci_low": "CI low", "ci_high": "CI high", "n": "sequences",
                                              "n_groups": "independent units"}),
        "paper": paper.paper_agreement(),
        "discovery": pd.DataFrame([{"predictor": k, "motifs": len(v), "seqlets": sum(x.n_seqlets for x in v)}
                                   for k, v in run.found.items()]),
        "matches": readable(matches, {"predictor": "predictor", "motif": "motif", "n_seqlets": "seqlets",
                                      "rank": "rank", "match_id": "JASPAR", "match_name": "name",
                                      "q_value": "q"}).head(40),
        "recall": readable(run.recall, {"predictor": "predictor", "planted_name": "planted motif",
                                        "recovered": "recovered", "motif": "motif", "rank": "rank", "q_value": "q"}),
        "gia": readable(run.gia, {"dataset": "data set", "predictor": "predictor", "motif": "motif", "source": "source",
                                  "effect": "effect", "ci_low": "CI low", "ci_high": "CI high",
                                  "control_effect": "control effect", "p_value": "p (paired)"}, digits=4),
    }
    figures = {"per_sequence": run.per_sequence, "gia": run.gia,
               "best_matches": matches[matches["rank"] == 1].drop_duplicates("predictor") if len(matches) else matches}
    return Report(CHAPTER, glance(main, lead), [main], statements, tables, figures)


def save(run: Run, output_dir) -> list:
    """Write the agreement table (the summary's claim 6) and the chapter's results rows."""
    written = [output_path(output_dir, f"{TASK}_agreement.csv"), output_path(output_dir, f"{TASK}.csv")]
    run.agreement.to_csv(written[0], index=False)
    glm = run.config.glm
    rows = []
    for r in run.agreement.itertuples():
        model = glm if "gLM" in r.map else "one-hot"
        for metric, value in (("agreement_r", r.mean), ("agreement_ci_low", r.ci_low), ("agreement_ci_high", r.ci_high)):
            rows += make_rows({metric: value}, task=TASK, dataset=r.dataset, model=model, representation=r.map,
                              probe="cnn")
    for r in run.recall.itertuples():
        rows += make_rows({f"recall_{r.planted_name}": float(r.recovered)}, task=TASK, dataset=SIMULATED,
                          model=glm if "gLM" in r.predictor else "one-hot", representation="modisco+tomtom",
                          probe="cnn")
    for r in run.gia.itertuples():
        rows += make_rows({"gia_effect": r.effect, "gia_control_effect": r.control_effect, "gia_p": r.p_value},
                          task=TASK, dataset=r.dataset, model=glm if r.predictor == "gLM probe" else "one-hot",
                          representation=f"gia:{r.motif}", probe="cnn")
    write_results(rows, written[1])
    return written


def logo_panels(run: Run, dataset: str) -> list:
    """The top sequence of a real set inside the ISM window: one-hot saliency, gLM-probe ISM, LM entropy."""
    maps, glm = run.maps[dataset], run.config.glm
    window, X = maps.window, maps.X_top[0]
    return [{"attr": attribution.mean_center(maps.saliency_many[:1])[0][:, window] * X[:, window],
             "title": f"{dataset}: one-hot CNN saliency (grad × input)"},
            {"attr": attribution.mean_center(maps.ism_glm[:1])[0][:, window] * X[:, window],
             "title": f"{glm} probe · ISM"},
            {"attr": maps.per_position[LM_ENTROPY][0], "sequence": maps.seqs_top[0][window],
             "title": f"{glm} · LM entropy (bits)"}]


def discovered_motif(run: Run, predictor: str, name: str):
    """A motif found by modisco for ``predictor`` (key of :attr:`Run.found`), by its name."""
    return next(motif for motif in run.found[predictor] if motif.name == name)
