"""One vocabulary for the book's answers, and one written rule per claim of the paper.

Two kinds of words:

* a **comparison** of two models on the same test examples is ``"better"``,
  ``"worse"`` or ``"not distinguishable"`` by the paired 95% interval of the
  difference (``"cannot say"`` when the interval is undefined);
* a **claim** of the paper is ``"supported"``, ``"partly supported"``,
  ``"not supported"`` or ``"not testable"`` here, by the rule written in its
  :class:`Claim` (shown in the book beside the verdict).

Two further claims are not the paper's: it probes frozen representations and
leaves to its discussion whether **more pretraining** (``pretraining_budget``)
or **fine-tuning** (``fine_tuning_helps``) would change its answer; chapter 9
puts both to the same kind of test.

Every rule counts **pretrained gLMs on real data** only: random-init controls,
fine-tuned networks and simulated data sets are dropped from the evidence
before counting (their own questions have their own rules), so a control that
beats one-hot can never become "a gLM beats one-hot".  A rule that counts
several comparisons counts one as better or worse only when it stays
significant after Holm's correction over the comparisons it counts (their
paired bootstrap p-values): with 16 comparisons of equal models, one 95%
interval in three would otherwise land above zero by chance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from glmeval_utils.eval.roles import is_glm
from glmeval_utils.predictions import ONE_HOT, PRETRAINED

BETTER, WORSE, TIE, UNKNOWN = "better", "worse", "not distinguishable", "cannot say"
COMPARISON_WORDS = (BETTER, TIE, WORSE, UNKNOWN)

SUPPORTED, PARTLY, NOT_SUPPORTED, NOT_TESTABLE = ("supported", "partly supported", "not supported",
                                                  "not testable")
CLAIM_WORDS = (SUPPORTED, PARTLY, NOT_SUPPORTED, NOT_TESTABLE)

#: family-wise error rate of the counting rules (Holm's correction).
ALPHA = 0.05
#: agreement of the one-hot model's own ISM and saliency maps below which map agreement is no yardstick.
USABLE_AGREEMENT = 0.1

#: The sides of the fine-tuning claim: a gLM's frozen probes, the gLM fine-tuned from its pretrained weights and
#: from its random-init weights, and the one-hot yardstick.
PRETRAINED_FROZEN, PRETRAINED_FINE_TUNED, RANDOM_FINE_TUNED = ("pretrained-frozen", "pretrained-fine-tuned",
                                                               "random-fine-tuned")
FINE_TUNING_SIDES = (PRETRAINED_FROZEN, PRETRAINED_FINE_TUNED, RANDOM_FINE_TUNED, ONE_HOT)
#: What a pretraining-budget curve's most-pretrained checkpoint is compared with: its step-0 checkpoint (the same
#: network before pretraining) and the best one-hot model.
STEP_ZERO = "step 0"


def comparison_word(ci_low: float, ci_high: float) -> str:
    """``"better"`` / ``"worse"`` when the 95% CI of a difference excludes 0, else ``"not distinguishable"``."""
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return UNKNOWN
    if ci_low > 0:
        return BETTER
    if ci_high < 0:
        return WORSE
    return TIE


@dataclass(frozen=True)
class Claim:
    """A claim of the paper and the rule that decides it here."""

    key: str
    text: str
    rule: str


CLAIMS = {claim.key: claim for claim in (
    Claim("no_advantage",
          "Frozen representations of pretrained gLMs give no substantial advantage over a one-hot model.",
          "Each pretrained gLM on each real data set, its configuration chosen on validation, against the best "
          "one-hot model (architecture chosen on validation), paired bootstrap over independent groups of test "
          "examples, better or worse only when significant after Holm's correction over the comparisons: "
          "supported when no gLM is better; partly supported when gLMs are better in some comparisons but "
          "worse in more; not supported otherwise."),
    Claim("supervised_strongest",
          "Supervised representations (Sei, the eCLIP-trained RBP model) are the strongest inputs in their own "
          "domain and transfer poorly.",
          "Needs supervised representations among the models; not testable without them."),
    Claim("pretraining_helps",
          "Pretraining improves a gLM's representation over the same network with random weights (random "
          "DNABERT-2 was about 0.1 Pearson r behind the pretrained one on lentiMPRA).",
          "Each pretrained gLM against its random-init control on each real data set, each side's configuration "
          "chosen on validation, better only when significant after Holm's correction over the comparisons: "
          "supported when the pretrained model is better in more than half of them; partly supported when it is "
          "better in at least one; not supported when in none."),
    Claim("intermediate_layers",
          "Intermediate layers of a gLM give better probes than its last layer (NT on lentiMPRA).",
          "The layer chosen on validation against the last layer on the test set, per pretrained gLM: supported "
          "when for every gLM the chosen layer is an intermediate one (neither the token embeddings, layer 0, "
          "nor the last) and better, significant after Holm's correction over the gLMs; partly supported when "
          "for some; not supported when for none."),
    Claim("cnn_beats_pooling",
          "A CNN probe on full embeddings beats probes on CLS or mean-pooled embeddings.",
          "Per pretrained gLM and real data set, the CNN on full embeddings against the best pooled probe "
          "(chosen on validation), better only when significant after Holm's correction over the comparisons: "
          "supported when the CNN is better in more than half of them; partly supported when in at least one; "
          "not supported when in none."),
    Claim("zero_shot_weak",
          "Zero-shot gLM scores barely track CAGI5 variant effects (|r| ≤ 0.18), while supervised models trained "
          "on lentiMPRA do far better.",
          "The pretrained gLM zero-shot score chosen on the CAGI5 release set, read on the challenge set: near zero "
          "when its mean |r| with |effect| over elements is at most the paper's best mean |r| (its strongest gLM "
          "score averaged over its four elements) or what chance alone gives with this many independent positions "
          "(97.5% bound); the supervised Δ prediction is far better when its r with the signed effect exceeds the "
          "zero-shot score's |r| with |effect| (95% CI over elements above 0). Supported when both hold, partly "
          "supported when one does, not supported when neither."),
    Claim("attribution_disagrees",
          "Attribution maps of gLM-based models agree poorly with one-hot CNN maps.",
          f"Per real data set, the gLM-based predictor's ISM map against the one-hot CNN's saliency map, with the "
          f"one-hot model's own ISM map as the yardstick: not testable where the yardstick's lower 95% bound is "
          f"below {USABLE_AGREEMENT}; supported when the gLM map agrees less than the yardstick (intervals apart) "
          f"on every usable data set; partly supported on some; not supported on none."),
    Claim("pretraining_budget",
          "More pretraining eventually gives frozen representations that beat one-hot (not a claim of the paper: "
          "it leaves the question to its discussion).",
          "Per pretrained gLM, real data set and probe (mean embedding → ridge, full embedding → CNN), a curve "
          "over its pretraining checkpoints: the most-pretrained checkpoint against its step-0 checkpoint (the same "
          "network with its initial weights) and against the best one-hot model (architecture chosen on "
          "validation), paired bootstrap over independent groups of test examples, better only when significant "
          "after Holm's correction over the curves: supported when every curve rises and ends above one-hot; "
          "partly supported when some curve rises or ends above one-hot; not supported when none does."),
    Claim("fine_tuning_helps",
          "Fine-tuning a pretrained gLM (LoRA or every weight) beats the best one-hot model, thanks to pretraining "
          "(not a claim of the paper, which probes frozen representations only).",
          "Per pretrained gLM and real data set, the gLM fine-tuned from its pretrained weights (LoRA or full "
          "fine-tuning, chosen on validation) against the best one-hot model and against the same network "
          "fine-tuned from its random-init weights (chosen the same way), paired bootstrap over independent "
          "groups of test examples, better only when significant after Holm's correction over the comparisons of "
          "each kind: supported when it beats both in more than half of the gLM × data set pairs; partly supported "
          "when it beats the one-hot model in at least one; not supported when in none. Its gain over its own "
          "frozen probes (configuration chosen on validation) is reported beside the verdict."),
)}


@dataclass
class Verdict:
    """The verdict of one claim, with the evidence it was computed from.

    Attributes
    ----------
    claim : Claim
    verdict : str
        One of :data:`CLAIM_WORDS`.
    reason : str
        One or two sentences with the numbers behind the verdict (markdown).
    number : str
        The one number a reader should remember (markdown).
    evidence : DataFrame
        The rows that were counted.
    """

    claim: Claim
    verdict: str
    reason: str
    number: str = ""
    evidence: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __post_init__(self):
        if self.verdict not in CLAIM_WORDS:
            raise ValueError(f"unknown claim verdict {self.verdict!r}; use {CLAIM_WORDS}")

    def markdown(self) -> str:
        """``**claim** — **verdict**: reason`` as one markdown paragraph."""
        return f"**{self.claim.text}** — **{self.verdict}** here: {self.reason}"

    def row(self) -> dict:
        """A flat record for tables and the results files."""
        return {"claim": self.claim.key, "text": self.claim.text, "verdict": self.verdict,
                "reason": self.reason, "number": self.number}


def _counted(evidence: pd.DataFrame, role_column: str | None = "role") -> pd.DataFrame:
    """Rows of gLMs (:func:`glmeval_utils.eval.roles.is_glm`) on real data: what every claim counts."""
    keep = np.ones(len(evidence), dtype=bool)
    if role_column and role_column in evidence:
        keep &= evidence[role_column].map(is_glm).to_numpy(dtype=bool)
    if "simulated" in evidence:
        keep &= ~evidence["simulated"].astype(bool).to_numpy()
    return evidence[keep]


def _excluded_note(evidence: pd.DataFrame, counted: pd.DataFrame) -> str:
    """Which rows a claim left out, and why (they answer other questions)."""
    left_out = evidence.drop(index=counted.index)
    if left_out.empty:
        return ""
    parts = []
    if "role" in left_out:
        parts += [f"{n} of {role} models" for role, n in
                  left_out.loc[left_out["role"] != PRETRAINED, "role"].value_counts().items()]
    if "simulated" in left_out:
        simulated = left_out["simulated"].astype(bool)
        if "role" in left_out:
            simulated &= left_out["role"] == PRETRAINED
        if simulated.any():
            parts.append(f"{int(simulated.sum())} on simulated data")
    return f" Not counted, because they answer other questions: {', '.join(parts)}."


def _significant(counted: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Better / worse masks of counted comparisons, each significant after Holm's correction over all of them."""
    p_values = counted["p_bootstrap"].to_numpy(dtype=float) if "p_bootstrap" in counted else np.zeros(len(counted))
    order = np.argsort(np.where(np.isfinite(p_values), p_values, np.inf), kind="stable")
    significant = np.zeros(len(counted), dtype=bool)
    for rank, row in enumerate(order):  # step-down: stop at the first p above its threshold
        if not p_values[row] <= ALPHA / (len(counted) - rank):
            break
        significant[row] = True
    significant = pd.Series(significant, index=counted.index)
    return significant & (counted["verdict"] == BETTER), significant & (counted["verdict"] == WORSE)


def _format_effect(row) -> str:
    return f"{row.effect:+.3f} (95% CI {row.ci_low:+.3f} to {row.ci_high:+.3f})"


def no_advantage(comparisons: pd.DataFrame, *, metric: str = "") -> Verdict:
    """Claim 1 from :func:`glmeval_utils.eval.compare.versus_best_onehot` rows (``scope="selected"``)."""
    claim = CLAIMS["no_advantage"]
    counted = _counted(comparisons)
    if counted.empty:
        why = ("only simulated data or no pretrained gLM were compared" if len(comparisons)
               else "no gLM was compared with a one-hot model")
        return Verdict(claim, NOT_TESTABLE, why + "." + _excluded_note(comparisons, counted), evidence=counted)
    better, worse = _significant(counted)
    wins, losses = int(better.sum()), int(worse.sum())
    n = len(counted)
    best = counted.loc[counted["effect"].idxmax()]
    if wins == 0:
        verdict = SUPPORTED
    elif wins < losses:
        verdict = PARTLY
    else:
        verdict = NOT_SUPPORTED
    metric_text = f" in {metric}" if metric else ""
    reason = (f"a pretrained gLM is better than the best one-hot model in {wins} and worse in {losses} of {n} "
              f"comparisons (Holm-corrected; median difference{metric_text} {counted['effect'].median():+.3f}); "
              f"the largest advantage is {_format_effect(best)}, {best.model} on {best.dataset}."
              + _excluded_note(comparisons, counted))
    number = f"{wins} better / {losses} worse of {n}"
    return Verdict(claim, verdict, reason, number, counted)


def _majority(claim: Claim, comparisons: pd.DataFrame, counted: pd.DataFrame, *, what: str, unit: str) -> Verdict:
    """Supported when ``what`` is better in more than half of the counted comparisons, partly when in some."""
    better, worse = (int(mask.sum()) for mask in _significant(counted))
    n = len(counted)
    verdict = SUPPORTED if better > n / 2 else PARTLY if better else NOT_SUPPORTED
    reason = (f"{what} is better in {better}, worse in {worse} of {n} {unit} (Holm-corrected; mean difference "
              f"{counted['effect'].mean():+.3f}, range {counted['effect'].min():+.3f} to "
              f"{counted['effect'].max():+.3f})." + _excluded_note(comparisons, counted))
    return Verdict(claim, verdict, reason, f"better in {better} of {n}", counted)


def pretraining_helps(comparisons: pd.DataFrame) -> Verdict:
    """Claim 3 from :func:`glmeval_utils.eval.compare.versus_controls` rows."""
    claim = CLAIMS["pretraining_helps"]
    counted = _counted(comparisons, role_column=None)
    if counted.empty:
        return Verdict(claim, NOT_TESTABLE, "no pretrained gLM was run beside its random-init control on real data."
                       + _excluded_note(comparisons, counted), evidence=counted)
    return _majority(claim, comparisons, counted, what="the pretrained model (against its random-init control)",
                     unit="comparisons")


def intermediate_layers(layers: pd.DataFrame) -> Verdict:
    """Claim 4a from per-model rows: ``model, role, chosen_layer, last_layer, effect, ci_low, ci_high, verdict``."""
    claim = CLAIMS["intermediate_layers"]
    counted = _counted(layers)
    if counted.empty:
        return Verdict(claim, NOT_TESTABLE, "no layer sweep of a pretrained gLM on real data was run.",
                       evidence=counted)
    better, _ = _significant(counted)
    holds = (counted["chosen_layer"] > 0) & (counted["chosen_layer"] < counted["last_layer"]) & better
    n, k = len(counted), int(holds.sum())
    verdict = SUPPORTED if k == n else PARTLY if k else NOT_SUPPORTED
    details = "; ".join(f"{r.model}: layer {int(r.chosen_layer)} chosen on validation, last layer {int(r.last_layer)}, "
                        f"difference {_format_effect(r)}" for r in counted.itertuples())
    return Verdict(claim, verdict, details + ".", f"{k} of {n} gLMs", counted)


def cnn_beats_pooling(comparisons: pd.DataFrame) -> Verdict:
    """Claim 4b from :func:`glmeval_utils.eval.compare.versus_configuration` rows (CNN on full embeddings)."""
    claim = CLAIMS["cnn_beats_pooling"]
    counted = _counted(comparisons)
    if counted.empty:
        return Verdict(claim, NOT_TESTABLE, "no pretrained gLM had both a CNN and a pooled probe on real data.",
                       evidence=counted)
    return _majority(claim, comparisons, counted, what="the CNN probe (against the best pooled probe)",
                     unit="model × data set comparisons")


def zero_shot_weak(zero_shot: pd.Series | dict, contrast: pd.Series | dict | None, *,
                   paper_bound: float) -> Verdict:
    """Claim 5.

    Parameters
    ----------
    zero_shot : mapping
        The pretrained gLM zero-shot score chosen on the release set, read on
        the challenge set: ``label``, ``role``, ``mean_abs_r``, ``chance_bound``,
        ``n_elements`` (``role`` must be pretrained; otherwise not testable).
    contrast : mapping or None
        Supervised Δ prediction's r minus that zero-shot score's |r| over
        elements: ``label``, ``mean_diff``, ``ci_low``, ``ci_high``, ``n_elements``.
    paper_bound : float
        The paper's best mean |r| of a gLM zero-shot score over its elements
        (:func:`glmeval_utils.eval.paper.best_zero_shot_mean_abs_r`).
    """
    claim = CLAIMS["zero_shot_weak"]
    if zero_shot is None or not is_glm(zero_shot.get("role")):
        return Verdict(claim, NOT_TESTABLE, "no pretrained gLM zero-shot score was evaluated.")
    bound = max(paper_bound, float(zero_shot["chance_bound"]))
    weak = float(zero_shot["mean_abs_r"]) <= bound
    parts = [f"the best zero-shot score ({zero_shot['label']}, chosen on the release set) has a mean |r| of "
             f"{zero_shot['mean_abs_r']:.3f} over {int(zero_shot['n_elements'])} elements of the challenge set, "
             + ("at or below" if weak else "above")
             + f" the larger of the paper's {paper_bound:.3f} and the chance bound {zero_shot['chance_bound']:.3f}"]
    supervised_better = None
    if contrast is not None and np.isfinite(contrast.get("ci_low", np.nan)):
        supervised_better = contrast["ci_low"] > 0
        standing = ("better" if supervised_better else "worse" if contrast["ci_high"] < 0
                    else "not distinguishable from it")
        parts.append(f"the supervised {contrast['label']} is {standing}"
                     f" (its r minus the zero-shot |r|: {contrast['mean_diff']:+.3f}, 95% CI over elements "
                     f"{contrast['ci_low']:+.3f} to {contrast['ci_high']:+.3f})")
    else:
        parts.append("the supervised half of the claim was not tested (no supervised Δ prediction)")
    holding = int(weak) + int(bool(supervised_better))
    verdict = SUPPORTED if holding == 2 else PARTLY if holding == 1 else NOT_SUPPORTED
    return Verdict(claim, verdict, "; ".join(parts) + ".", f"mean |r| {zero_shot['mean_abs_r']:.3f}")


def attribution_disagrees(agreement: pd.DataFrame, *, glm_map: str, yardstick: str) -> Verdict:
    """Claim 6 from agreement rows ``dataset, map, role, mean, ci_low, ci_high, simulated``.

    ``role`` is the role of the predictor behind each map: the claim is about
    pretrained gLMs, so a random-init or fine-tuned predictor makes it not testable.
    """
    claim = CLAIMS["attribution_disagrees"]
    real = agreement[~agreement["simulated"].astype(bool)] if "simulated" in agreement else agreement
    datasets = list(dict.fromkeys(real["dataset"]))
    if not datasets:
        return Verdict(claim, NOT_TESTABLE, "no real data set was attributed.")
    roles = set(real.loc[real["map"] == glm_map, "role"]) if "role" in real else {PRETRAINED}
    if not all(is_glm(role) for role in roles):
        return Verdict(claim, NOT_TESTABLE, f"the gLM-based predictor's maps come from a {', '.join(sorted(roles))} "
                       "model, not a pretrained gLM.", evidence=real)
    usable, holds, lines = [], [], []
    for dataset in datasets:
        part = real[real["dataset"] == dataset].set_index("map")
        ceiling, ours = part.loc[yardstick], part.loc[glm_map]
        text = (f"{dataset}: gLM map {ours['mean']:.3f} ({ours['ci_low']:.3f} to {ours['ci_high']:.3f}), "
                f"yardstick {ceiling['mean']:.3f} ({ceiling['ci_low']:.3f} to {ceiling['ci_high']:.3f})")
        if ceiling["ci_low"] < USABLE_AGREEMENT:
            lines.append(text + " — yardstick too weak")
            continue
        usable.append(dataset)
        holds.append(ours["ci_high"] < ceiling["ci_low"])
        lines.append(text)
    if not usable:
        verdict = NOT_TESTABLE
    else:
        verdict = SUPPORTED if all(holds) else PARTLY if any(holds) else NOT_SUPPORTED
    return Verdict(claim, verdict, "; ".join(lines) + ".", f"{sum(holds)} of {len(usable)} usable data sets",
                   real)


def _by_comparison(counted: pd.DataFrame, comparison: str, keys: list) -> tuple[pd.Series, pd.Series]:
    """Better / worse (Holm over the rows of one comparison kind), indexed by ``keys``."""
    rows = counted[counted["comparison"] == comparison]
    better, worse = _significant(rows)
    index = pd.MultiIndex.from_frame(rows[keys])
    return pd.Series(better.to_numpy(), index=index), pd.Series(worse.to_numpy(), index=index)


def pretraining_budget(curves: pd.DataFrame) -> Verdict:
    """The pretraining-budget claim from :func:`glmeval_utils.eval.compare.budget_comparisons` rows.

    Parameters
    ----------
    curves : DataFrame
        One row per curve and comparison: ``dataset, model, role (of the
        most-pretrained checkpoint), representation, probe, comparison``
        (:data:`STEP_ZERO` or ``"one-hot"``), ``effect, ci_low, ci_high,
        p_bootstrap, verdict`` and ``simulated``.
    """
    claim = CLAIMS["pretraining_budget"]
    counted = _counted(curves)
    if counted.empty or not {STEP_ZERO, ONE_HOT} & set(counted["comparison"]):
        return Verdict(claim, NOT_TESTABLE, "no pretraining curve of a pretrained gLM on real data was compared."
                       + _excluded_note(curves, counted), evidence=counted)
    keys = ["dataset", "model", "representation", "probe"]
    curve_index = pd.MultiIndex.from_frame(counted[keys].drop_duplicates())
    rises = _by_comparison(counted, STEP_ZERO, keys)[0].reindex(curve_index, fill_value=False)
    crosses = _by_comparison(counted, ONE_HOT, keys)[0].reindex(curve_index, fill_value=False)
    n, k_rise, k_cross = len(curve_index), int(rises.sum()), int(crosses.sum())
    if k_rise == n and k_cross == n:
        verdict = SUPPORTED
    elif k_rise or k_cross:
        verdict = PARTLY
    else:
        verdict = NOT_SUPPORTED
    details = []
    for row in counted.itertuples():
        against = "its step-0 checkpoint" if row.comparison == STEP_ZERO else "the best one-hot model"
        details.append(f"{row.model} {row.representation} → {row.probe} on {row.dataset} against {against}: "
                       f"{_format_effect(row)}")
    reason = (f"the most-pretrained checkpoint is better than its step-0 checkpoint on {k_rise} and better than the "
              f"best one-hot model on {k_cross} of {n} curves (Holm-corrected); " + "; ".join(details) + "."
              + _excluded_note(curves, counted))
    return Verdict(claim, verdict, reason, f"rises on {k_rise} and beats one-hot on {k_cross} of {n} curves", counted)


def fine_tuning_helps(comparisons: pd.DataFrame) -> Verdict:
    """The fine-tuning claim from :func:`glmeval_utils.eval.compare.fine_tuning_comparisons` rows.

    Parameters
    ----------
    comparisons : DataFrame
        One row per fine-tuned network, data set and baseline: ``dataset,
        model, role`` (the role of the weights fine-tuning started from),
        ``side`` (:data:`PRETRAINED_FINE_TUNED` or :data:`RANDOM_FINE_TUNED`),
        ``comparison`` (``"one-hot"``, :data:`RANDOM_FINE_TUNED` or
        :data:`PRETRAINED_FROZEN`), ``effect, ci_low, ci_high, p_bootstrap,
        verdict`` and ``simulated``.  Only rows that start from pretrained
        weights on real data are counted.
    """
    claim = CLAIMS["fine_tuning_helps"]
    counted = _counted(comparisons)
    if counted.empty or ONE_HOT not in set(counted["comparison"]):
        return Verdict(claim, NOT_TESTABLE, "no gLM fine-tuned from pretrained weights was compared with a one-hot "
                       "model on real data." + _excluded_note(comparisons, counted), evidence=counted)
    keys = ["dataset", "model"]
    beats_onehot, loses_onehot = _by_comparison(counted, ONE_HOT, keys)
    beats_control = _by_comparison(counted, RANDOM_FINE_TUNED, keys)[0].reindex(beats_onehot.index,
                                                                                 fill_value=False)
    beats_frozen = _by_comparison(counted, PRETRAINED_FROZEN, keys)[0]
    n, k_onehot, k_both = len(beats_onehot), int(beats_onehot.sum()), int((beats_onehot & beats_control).sum())
    verdict = SUPPORTED if k_both > n / 2 else PARTLY if k_onehot else NOT_SUPPORTED
    names = {ONE_HOT: "the best one-hot model", RANDOM_FINE_TUNED: "its fine-tuned random-init control",
             PRETRAINED_FROZEN: "its own frozen probes"}
    details = [f"{row.model} fine-tuned on {row.dataset} against {names.get(row.comparison, row.comparison)}: "
               f"{_format_effect(row)}" for row in counted.itertuples()]
    reason = (f"fine-tuned from pretrained weights, a gLM is better than the best one-hot model in {k_onehot} and "
              f"worse in {int(loses_onehot.sum())} of {n} gLM × data set pairs, and better than both the one-hot "
              f"model and its fine-tuned random-init control in {k_both}; better than its own frozen probes in "
              f"{int(beats_frozen.sum())} of {len(beats_frozen)} (Holm-corrected); " + "; ".join(details) + "."
              + _excluded_note(comparisons, counted))
    return Verdict(claim, verdict, reason, f"better than one-hot in {k_onehot} of {n} gLM × data set pairs, {k_both} "
                   "of them also better than its fine-tuned random-init control", counted)


def not_testable(key: str, reason: str) -> Verdict:
    """A claim that this run cannot address, with the reason."""
    return Verdict(CLAIMS[key], NOT_TESTABLE, reason)
