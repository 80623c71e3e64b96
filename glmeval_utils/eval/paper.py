"""Numbers reported by the reference study, for side-by-side tables.

Values are Pearson r / AUROC / Spearman ρ as recorded in the study's code of
record (github amberT15/LLM_eval @ 6c53510: committed result CSVs, stored
notebook outputs and figures) for Tang et al., Genome Biology 2025.  Where
the study only showed a figure (ChIP/eCLIP averages, INSERT-seq medians),
the values were read off the figure and are approximate; the ``note``
column says so.  Facts only; no code of the study is reused.
"""

from __future__ import annotations

import pandas as pd

from glmeval_utils.predictions import COMPOSITION, ONE_HOT, PRETRAINED, RANDOM_INIT, SUPERVISED

_COLUMNS = ["task", "dataset", "model", "role", "representation", "probe", "metric", "value", "note"]

# (dataset, model, representation, probe, value); lentiMPRA test fold, Pearson r, width factor 1.
_LENTIMPRA = [
    ("HepG2", "one-hot", "onehot", "resnet", 0.753), ("K562", "one-hot", "onehot", "resnet", 0.790),
    ("HepG2", "one-hot", "onehot", "mprann", 0.713), ("K562", "one-hot", "onehot", "mprann", 0.742),
    ("HepG2", "one-hot", "onehot", "cnn", 0.638), ("K562", "one-hot", "onehot", "cnn", 0.691),
    ("HepG2", "Sei", "full", "cnn", 0.735), ("K562", "Sei", "full", "cnn", 0.751),
    ("HepG2", "GPN", "full", "cnn", 0.637), ("K562", "GPN", "full", "cnn", 0.678),
    ("HepG2", "GPN", "mean", "mlp", 0.459), ("K562", "GPN", "mean", "mlp", 0.526),
    ("HepG2", "GPN", "mean", "linear", 0.403), ("K562", "GPN", "mean", "linear", 0.454),
    ("HepG2", "HyenaDNA", "full", "cnn", 0.556), ("K562", "HyenaDNA", "full", "cnn", 0.650),
    ("HepG2", "HyenaDNA", "mean", "mlp", 0.397), ("K562", "HyenaDNA", "mean", "mlp", 0.459),
    ("HepG2", "HyenaDNA", "mean", "linear", 0.336), ("K562", "HyenaDNA", "mean", "linear", 0.380),
    ("HepG2", "NT 2.5B (layer 32)", "full", "cnn", 0.473), ("K562", "NT 2.5B (layer 32)", "full", "cnn", 0.549),
    ("HepG2", "NT 2.5B (layer 32)", "mean", "mlp", 0.448), ("K562", "NT 2.5B (layer 32)", "mean", "mlp", 0.501),
    ("HepG2", "NT 2.5B (layer 32)", "cls", "mlp", 0.424), ("K562", "NT 2.5B (layer 32)", "cls", "mlp", 0.506),
    ("HepG2", "NT 2.5B (layer 32)", "cls", "linear", 0.427), ("K562", "NT 2.5B (layer 32)", "cls", "linear", 0.470),
    ("HepG2", "DNABERT-2", "full", "cnn", 0.434), ("K562", "DNABERT-2", "full", "cnn", 0.568),
    ("HepG2", "DNABERT-2", "mean", "mlp", 0.445), ("K562", "DNABERT-2", "mean", "mlp", 0.498),
    ("HepG2", "DNABERT-2", "cls", "mlp", 0.413), ("K562", "DNABERT-2", "cls", "mlp", 0.462),
    ("HepG2", "DNABERT-2", "mean", "linear", 0.402), ("K562", "DNABERT-2", "mean", "linear", 0.423),
    ("HepG2", "DNABERT-2 (random init)", "full", "cnn", 0.335), ("K562", "DNABERT-2 (random init)", "full", "cnn", 0.435),
    ("HepG2", "DNABERT-2 (random init)", "mean", "mlp", 0.351), ("K562", "DNABERT-2 (random init)", "mean", "mlp", 0.406),
]

# Average test AUROC over the 10 TFs (ChIP) / 10 RBPs (eCLIP), read from the study's figures.
_BINDING = [
    ("one-hot", "onehot", "cnn", 0.855, 0.967), ("Sei", "full", "cnn", 0.885, 0.923),
    ("GPN", "full", "cnn", 0.862, 0.974), ("HyenaDNA", "full", "cnn", 0.844, 0.960),
    ("NT 2.5B (layer 32)", "full", "cnn", 0.836, 0.962), ("DNABERT-2", "full", "cnn", 0.831, 0.948),
    ("NT 2.5B (layer 32)", "cls", "mlp", 0.784, 0.923), ("dinucleotide counts", "composition", "mlp", 0.764, 0.899),
]

# CAGI5 zero-shot, Pearson r per element (forward strand; |effect| for unsupervised scores).
_CAGI5 = [
    ("NT 2.5B", "cosine similarity", (-0.164, -0.109, -0.103, -0.007)),
    ("DNABERT-2", "cosine similarity", (-0.083, -0.010, 0.028, 0.014)),
    ("DNABERT-2", "L2 distance", (0.076, 0.010, -0.029, 0.001)),
    ("HyenaDNA", "cosine similarity", (-0.182, 0.029, -0.040, 0.021)),
    ("HyenaDNA", "L2 distance", (0.183, -0.028, 0.039, -0.019)),
    ("GPN", "|masked LLR|", (-0.079, -0.002, 0.075, 0.037)),
    ("Sei", "cosine similarity", (-0.552, -0.539, -0.543, -0.641)),
    ("Sei", "L1 distance", (0.543, 0.517, 0.580, 0.682)),
    ("one-hot ResNet (lentiMPRA)", "delta prediction", (0.448, 0.498, 0.508, 0.601)),
    ("NT-CNN (lentiMPRA)", "delta prediction", (0.238, 0.159, 0.158, 0.198)),
    ("GPN-CNN (lentiMPRA)", "delta prediction", (0.273, 0.283, 0.438, 0.437)),
    ("Sei-CNN (lentiMPRA)", "delta prediction", (0.603, 0.572, 0.562, 0.701)),
]
_CAGI5_ELEMENTS = ("LDLR", "SORT1", "F9", "PKLR")

# Splicing (ASCOT/MTSplice), mean Spearman over 56 tissues, mean of 5 replicates; data fraction 1, 0.5, 0.25.
_SPLICING = [
    ("one-hot", 0.304, 0.251, 0.252), ("RBP (supervised eCLIP)", 0.289, 0.260, 0.239),
    ("GPN", 0.286, 0.264, 0.243), ("NT 2.5B (layer 10)", 0.274, 0.259, 0.233),
    ("HyenaDNA", 0.270, 0.248, 0.231), ("NT 2.5B (layer 32)", 0.264, 0.257, 0.227),
    ("Sei", 0.221, 0.128, 0.042), ("DNABERT-2", 0.211, 0.175, 0.163),
]

# INSERT-seq, full data, median test Pearson r over 50 replicates, read from a boxplot.
_INSERT = [
    ("RBP (supervised eCLIP)", 0.663), ("GPN", 0.645), ("one-hot", 0.628), ("HyenaDNA", 0.597),
    ("NT 2.5B", 0.587), ("Sei", 0.588), ("DNABERT-2", 0.571),
]


def _role(model: str) -> str:
    """The role of one of the paper's models (:data:`glmeval_utils.predictions.ROLES`)."""
    if model == "one-hot" or model.startswith("one-hot "):
        return ONE_HOT
    if model.startswith(("Sei", "RBP")):
        return SUPERVISED
    if "random init" in model:
        return RANDOM_INIT
    if model.startswith("dinucleotide"):
        return COMPOSITION
    return PRETRAINED


def paper_results() -> pd.DataFrame:
    """Every number of the reference study that the book compares against, as one tidy table.

    ``role`` says what each model is (one-hot, supervised Sei/RBP, random-init
    DNABERT-2, composition, or a pretrained gLM), as in the book's tables.
    Supervised Δ predictions of lentiMPRA models in the CAGI5 rows
    (``"... (lentiMPRA)"``) are supervised models whatever their input.
    """
    rows = [
        ("lentimpra", cell, model, rep, probe, "pearson", value, "committed result CSV")
        for cell, model, rep, probe, value in _LENTIMPRA
    ]
    for model, rep, probe, chip, eclip in _BINDING:
        rows.append(("tf_binding", "10 ENCODE TFs (mean)", model, rep, probe, "auroc", chip, "read from figure"))
        rows.append(("rbp_binding", "10 K562 RBPs (mean)", model, rep, probe, "auroc", eclip, "read from figure"))
    for model, score, values in _CAGI5:
        for element, value in zip(_CAGI5_ELEMENTS, values):
            rows.append(("cagi5", element, model, score, "zero-shot", "pearson", value, "stored notebook output"))
    for model, *values in _SPLICING:
        for fraction, value in zip(("1.0", "0.5", "0.25"), values):
            rows.append(("splicing", f"ASCOT GTEx (fraction {fraction})", model, "full", "cnn",
                         "spearman", value, "read from figure"))
    for model, value in _INSERT:
        rows.append(("pol2_elongation", "INSERT-seq", model, "full", "cnn", "pearson", value,
                     "median read from boxplot"))
    table = pd.DataFrame(rows, columns=[c for c in _COLUMNS if c != "role"])
    table.insert(3, "role", [SUPERVISED if m.endswith("(lentiMPRA)") else _role(m) for m in table["model"]])
    return table


#: rows of a side-by-side table: a label and which configurations compete for it.
SIDE_BY_SIDE_ROWS = (
    ("best one-hot model", {"role": (ONE_HOT,)}),
    ("best pretrained gLM, full embedding → CNN", {"role": (PRETRAINED,), "representation": ("full",)}),
    ("best pretrained gLM, CLS or mean embedding", {"role": (PRETRAINED,), "representation": ("cls", "mean")}),
    ("random-init control", {"role": (RANDOM_INIT,)}),
    ("composition control", {"role": (COMPOSITION,)}),
    ("supervised representation", {"role": (SUPERVISED,)}),
)


def _matching(table: pd.DataFrame, match: dict) -> pd.DataFrame:
    keep = pd.Series(True, index=table.index)
    for column, allowed in match.items():
        values = table[column]
        if column == "representation":  # an extra-layer rung ("full@L10") competes with its representation
            values = values.astype(str).str.replace(r"@L\d+$", "", regex=True)
        keep &= values.isin(allowed)
    return table[keep]


def side_by_side(ours: pd.DataFrame, theirs: pd.DataFrame, *, rows=SIDE_BY_SIDE_ROWS) -> pd.DataFrame:
    """Our configurations beside the paper's, matched by role rather than by model.

    Parameters
    ----------
    ours : DataFrame
        ``model, role, representation, probe, valid_mean, mean`` (e.g.
        :func:`glmeval_utils.eval.performance.performance_table`); in each row
        of the table our configuration is the one with the best **validation**
        score, shown with its test value.
    theirs : DataFrame
        Rows of :func:`paper_results` (one metric); the paper reported its best
        configurations, so its side shows the highest value.
    rows : sequence of (label, match)

    Returns
    -------
    DataFrame
        ``row, ours: configuration, ours, paper: model, paper``; rows with
        neither side are dropped.
    """
    out = []
    for label, match in rows:
        mine = _matching(ours, match).dropna(subset=["valid_mean"])
        paper = _matching(theirs, match).dropna(subset=["value"])
        if mine.empty and paper.empty:
            continue
        mine_best = mine.loc[mine["valid_mean"].idxmax()] if len(mine) else None
        paper_best = paper.loc[paper["value"].idxmax()] if len(paper) else None
        out.append({"row": label,
                    "ours: configuration": (f"{mine_best.model} · {mine_best.representation} → {mine_best.probe}"
                                            if mine_best is not None else "not run"),
                    "ours": float(mine_best["mean"]) if mine_best is not None else float("nan"),
                    "paper: model": (f"{paper_best.model} · {paper_best.representation} → {paper_best.probe}"
                                     if paper_best is not None else "not in the paper"),
                    "paper": float(paper_best["value"]) if paper_best is not None else float("nan")})
    return pd.DataFrame(out, columns=["row", "ours: configuration", "ours", "paper: model", "paper"])


def paper_agreement() -> pd.DataFrame:
    """The reference study's map agreement: mean per-sequence Pearson r of |attribution| against the
    one-hot CNN map over its 500 top sequences, for lentiMPRA K562 and ChIP CTCF (``motif_id/``)."""
    rows = [("NT", "LM only", 0.081, -0.013), ("GPN", "LM only", 0.094, 0.015),
            ("NT", "LM × probe gradient", 0.228, 0.553), ("GPN", "LM × probe gradient", 0.401, 0.642)]
    return pd.DataFrame(rows, columns=["gLM", "map", "lentiMPRA K562", "ChIP CTCF"])


def best_glm_minus_onehot() -> pd.DataFrame:
    """The paper's best pretrained gLM minus its best one-hot model, per task and data set.

    Both sides are the paper's reported best configurations (chosen by the
    paper on its test sets); supervised representations, random-init
    DNABERT-2 and composition controls are not pretrained gLMs and are left out.

    Returns
    -------
    DataFrame
        ``task, dataset, metric, best_glm, glm_value, onehot_value, effect``.
    """
    table = paper_results()
    rows = []
    for (task, dataset), part in table[table.task != "cagi5"].groupby(["task", "dataset"], sort=False):
        onehot, glms = part[part.role == ONE_HOT], part[part.role == PRETRAINED]
        if onehot.empty or glms.empty:
            continue
        best = glms.loc[glms.value.idxmax()]
        rows.append({"task": task, "dataset": dataset, "metric": best.metric, "best_glm": best.model,
                     "glm_value": best.value, "onehot_value": onehot.value.max(),
                     "effect": best.value - onehot.value.max()})
    return pd.DataFrame(rows)


def best_zero_shot_mean_abs_r() -> float:
    """The paper's strongest pretrained-gLM zero-shot CAGI5 score, as its mean |r| over the paper's four elements.

    The paper's per-element values peak at |r| = 0.183 (HyenaDNA on LDLR);
    averaged over its elements no gLM score exceeds this value, which is the
    like-for-like yardstick for a mean |r| over elements.
    """
    table = paper_results().query("task == 'cagi5' and role == @PRETRAINED")
    return float(table.assign(abs_value=table.value.abs()).groupby(["model", "representation"]).abs_value.mean().max())
