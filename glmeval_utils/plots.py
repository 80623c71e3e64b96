"""The book's figures: one seaborn style and the few plot types every chapter uses.

Every function draws on ``ax`` (a new figure when None), labels both axes
(with units where the quantity has one) and returns the matplotlib ``Axes``.
Tables are the tidy frames of :mod:`glmeval_utils.eval.results` or summaries of them.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from glmeval_utils.eval.metrics import pearson
from glmeval_utils.sequences import ALPHABET

#: Colour-blind-safe palette shared by every chapter.
PALETTE = "colorblind"


def set_style() -> None:
    """Apply the book's seaborn style (white grid, readable fonts, colour-blind palette)."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE,
                  rc={"figure.dpi": 100, "savefig.dpi": 150, "axes.titlesize": "medium",
                      "figure.autolayout": True})


def _axes(ax: Axes | None, figsize=(6, 4)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _require_columns(table: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c is not None and c not in table.columns]
    if missing:
        raise ValueError(f"{what}: table lacks columns {missing}; it has {list(table.columns)}")


def performance_bars(
    table: pd.DataFrame,
    *,
    x: str,
    y: str,
    hue: str | None = None,
    ci_low: str | None = None,
    ci_high: str | None = None,
    ax: Axes | None = None,
    ylabel: str = "test performance",
) -> Axes:
    """Bars of one value per (x, hue) with optional confidence-interval error bars.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per bar; columns ``x``, ``y``, optionally ``hue``, ``ci_low``, ``ci_high``.
    x, y, hue : str
        Column names: categories on the x axis, bar height, bar colour.
    ci_low, ci_high : str, optional
        Columns with the lower and upper bounds of the interval (both or neither).
    ylabel : str
        Label of the y axis, e.g. ``"Pearson r (test)"``.
    """
    if (ci_low is None) != (ci_high is None):
        raise ValueError("performance_bars: give both ci_low and ci_high, or neither")
    _require_columns(table, [x, y, hue, ci_low, ci_high], "performance_bars")
    if table.duplicated([c for c in (x, hue) if c]).any():
        raise ValueError(f"performance_bars: several rows per ({x}, {hue}); summarise the seeds first")
    ax = _axes(ax)
    x_levels = list(dict.fromkeys(table[x]))
    hue_levels = list(dict.fromkeys(table[hue])) if hue else [None]
    width = 0.8 / len(hue_levels)
    colours = sns.color_palette(PALETTE, len(hue_levels))
    for offset, (level, colour) in enumerate(zip(hue_levels, colours)):
        rows = table if level is None else table[table[hue] == level]
        rows = rows.set_index(x).reindex(x_levels).dropna(subset=[y])
        positions = np.array([x_levels.index(v) for v in rows.index]) - 0.4 + width * (offset + 0.5)
        error = None
        if ci_low is not None:
            error = np.vstack([rows[y] - rows[ci_low], rows[ci_high] - rows[y]])
        ax.bar(positions, rows[y], width=width, color=colour, label=None if level is None else str(level),
               yerr=error, capsize=3, error_kw={"elinewidth": 1})
    ax.set_xticks(range(len(x_levels)), [str(v) for v in x_levels], rotation=30 if len(x_levels) > 4 else 0)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    if hue:
        ax.legend(title=hue, frameon=False)
    return ax


def prediction_scatter(
    y_true,
    y_pred,
    *,
    ax: Axes | None = None,
    title: str = "predicted vs measured",
    xlabel: str = "measured activity",
    ylabel: str = "predicted activity",
) -> Axes:
    """Scatter of predictions against measurements, with Pearson r in the title.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (N,)
        Measured and predicted values.
    """
    y_true = np.asarray(y_true, dtype=float).ravel()
    y_pred = np.asarray(y_pred, dtype=float).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"prediction_scatter: {y_true.size} measured values but {y_pred.size} predictions")
    ax = _axes(ax, figsize=(4.5, 4.5))
    ax.scatter(y_true, y_pred, s=8, alpha=0.5, linewidths=0)
    both = np.concatenate([y_true, y_pred])
    low, high = np.nanmin(both), np.nanmax(both)
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1, label="y = x")
    n_pairs = int(np.sum(np.isfinite(y_true) & np.isfinite(y_pred)))
    ax.set_title(f"{title} (Pearson r = {pearson(y_true, y_pred):.3f}, n = {n_pairs})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def layer_curve(
    table: pd.DataFrame,
    *,
    x: str = "layer",
    y: str,
    hue: str | None = None,
    ax: Axes | None = None,
    ylabel: str | None = None,
) -> Axes:
    """Performance as a function of the gLM layer the probe reads (one line per ``hue``).

    Several rows per (x, hue), e.g. seeds, are drawn as mean with a 95% interval.
    """
    _require_columns(table, [x, y, hue], "layer_curve")
    ax = _axes(ax)
    sns.lineplot(data=table, x=x, y=y, hue=hue, marker="o", errorbar=("ci", 95), ax=ax)
    ax.set_xlabel(f"{x} (0 = token embeddings)" if x == "layer" else x)
    ax.set_ylabel(ylabel or y)
    if hue:
        ax.legend(title=hue, frameon=False)
    return ax


def variance_spectrum(spectra: dict[str, np.ndarray], *, ax: Axes | None = None,
                      title: str | None = None) -> Axes:
    """Cumulative share of variance against the number of principal components, one line per entry.

    ``spectra`` maps a label (e.g. a gLM) to variance shares sorted largest
    first (:func:`glmeval_utils.learn.probes.variance_spectrum`). A line that
    reaches 1 within a few components marks a strongly anisotropic embedding.
    """
    if not spectra:
        raise ValueError("variance_spectrum: no spectra to draw")
    ax = _axes(ax)
    for label, shares in spectra.items():
        shares = np.asarray(shares, dtype=float)
        ax.plot(np.arange(1, len(shares) + 1), np.cumsum(shares), marker=".", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("principal components (largest first)")
    ax.set_ylabel("cumulative share of variance")
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    return ax


def heatmap(
    table: pd.DataFrame,
    *,
    index: str,
    columns: str,
    values: str,
    ax: Axes | None = None,
    center: float | None = 0,
    label: str | None = None,
) -> Axes:
    """Annotated heat map of ``values`` pivoted to ``index`` × ``columns``.

    ``center`` fixes the neutral colour of a diverging map with symmetric
    limits (0 for differences against one-hot); None gives a sequential map.
    Duplicate (index, columns) pairs are averaged.
    """
    _require_columns(table, [index, columns, values], "heatmap")
    grid = table.pivot_table(index=index, columns=columns, values=values, aggfunc="mean", sort=False)
    ax = _axes(ax, figsize=(1.0 + 0.8 * grid.shape[1], 1.0 + 0.45 * grid.shape[0]))
    limits = {}
    if center is not None:
        # Symmetric limits: equal distances from the centre get equally strong colours.
        span = float(np.nanmax(np.abs(grid.to_numpy(dtype=float) - center))) or 1.0
        limits = {"vmin": center - span, "vmax": center + span}
    sns.heatmap(grid, center=center, cmap="vlag" if center is not None else "viridis", **limits,
                annot=True, fmt=".2f", linewidths=0.5, cbar_kws={"label": label or values}, ax=ax)
    ax.set_xlabel(columns)
    ax.set_ylabel(index)
    return ax


def paper_vs_ours(
    table: pd.DataFrame,
    *,
    label: str,
    ours: str,
    paper: str,
    ax: Axes | None = None,
    xlabel: str = "test performance",
) -> Axes:
    """Dot plot of our value beside the paper's for each row (e.g. each model).

    Rows whose paper value is missing show only our dot.
    """
    _require_columns(table, [label, ours, paper], "paper_vs_ours")
    ax = _axes(ax, figsize=(6, 0.8 + 0.4 * len(table)))
    positions = np.arange(len(table))
    ax.hlines(positions, table[[ours, paper]].min(axis=1), table[[ours, paper]].max(axis=1),
              color="lightgrey", linewidth=2, zorder=1)
    ax.scatter(table[paper], positions, marker="s", s=40, label="paper", zorder=2)
    ax.scatter(table[ours], positions, marker="o", s=40, label="this book", zorder=3)
    ax.set_yticks(positions, table[label].astype(str))
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(label)
    ax.legend(frameon=False)
    return ax


#: one colour per model role, the same in every chapter.
ROLE_COLOURS = dict(zip(("one-hot", "pretrained", "random-init", "fine-tuned", "composition", "supervised"),
                        sns.color_palette(PALETTE, 6)))


def _role_legend(ax: Axes, roles) -> None:
    handles = [plt.Line2D([], [], marker="s", linestyle="", color=ROLE_COLOURS.get(r, "grey"), label=r)
               for r in dict.fromkeys(roles)]
    ax.legend(handles=handles, title="role", frameon=False, loc="best")


def performance_ranking(performance: pd.DataFrame, *, xlabel: str, value: str = "mean",
                        ax: Axes | None = None, title: str | None = None) -> Axes:
    """Horizontal bars of each configuration's value with its 95% interval, coloured by role, best on top.

    ``performance`` is :func:`glmeval_utils.eval.performance.performance_table`
    output of one data set (the mean over seeds with its bootstrap interval)
    or :func:`~glmeval_utils.eval.performance.mean_over_datasets` output (the
    mean over data sets with its t interval).
    """
    _require_columns(performance, ["label", "role", value, "ci_low", "ci_high"], "performance_ranking")
    rows = performance.sort_values(value, ascending=True, na_position="first")
    ax = _axes(ax, figsize=(7, 0.8 + 0.32 * len(rows)))
    positions = np.arange(len(rows))
    error = np.vstack([rows[value] - rows["ci_low"], rows["ci_high"] - rows[value]])
    ax.barh(positions, rows[value], xerr=np.nan_to_num(error), color=[ROLE_COLOURS.get(r, "grey") for r in rows.role],
            error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.set_yticks(positions, rows["label"])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("model · representation → probe")
    _role_legend(ax, rows.role)
    if title:
        ax.set_title(title)
    return ax


def versus_onehot(comparisons: pd.DataFrame, *, xlabel: str, label: str = "label", ax: Axes | None = None,
                  title: str | None = None) -> Axes:
    """Forest plot: each row's difference against the best one-hot model with its paired 95% CI.

    ``comparisons`` is :func:`glmeval_utils.eval.compare.versus_best_onehot`
    output (columns ``label``, ``role``, ``effect``, ``ci_low``, ``ci_high``);
    left of the line at 0 the one-hot model is better.
    """
    _require_columns(comparisons, [label, "role", "effect", "ci_low", "ci_high"], "versus_onehot")
    rows = comparisons.reset_index(drop=True)
    ax = _axes(ax, figsize=(7, 0.8 + 0.32 * len(rows)))
    positions = np.arange(len(rows))
    for position, row in zip(positions, rows.itertuples()):
        colour = ROLE_COLOURS.get(row.role, "grey")
        ax.errorbar(row.effect, position, xerr=[[row.effect - row.ci_low], [row.ci_high - row.effect]], fmt="o",
                    color=colour, ecolor=colour, capsize=3)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(positions, rows[label])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("")
    _role_legend(ax, rows.role)
    if title:
        ax.set_title(title)
    return ax


def measured_vs_predicted(predictions: pd.DataFrame, configurations, *, xlabel: str, ylabel: str,
                          split: str = "test"):
    """One scatter per configuration of seed-averaged predictions against measurements.

    Parameters
    ----------
    predictions : DataFrame
        Prediction rows (:mod:`glmeval_utils.predictions`).
    configurations : sequence of mapping
        Each selects one configuration, e.g. ``{"model": "one-hot", "probe": "resnet"}``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    configurations = list(configurations)
    fig, axes = plt.subplots(1, len(configurations), figsize=(4.6 * len(configurations), 4.4), squeeze=False,
                             sharex=True, sharey=True)
    for ax, selector in zip(axes[0], configurations):
        keep = predictions["split"] == split
        for column, value in selector.items():
            keep &= predictions[column] == value
        rows = predictions[keep]
        if rows.empty:
            raise ValueError(f"measured_vs_predicted: no {split} predictions for {dict(selector)}")
        averaged = rows.groupby("index")[["y_true", "y_score"]].mean()
        first = rows.iloc[0]
        prediction_scatter(averaged.y_true, averaged.y_score, ax=ax, xlabel=xlabel, ylabel=ylabel,
                           title=f"{first.model} · {first.representation} → {first.probe}")
    return fig


def per_dataset_bars(performance: pd.DataFrame, *, xlabel: str, ncols: int = 4):
    """One panel per data set: bars of each configuration's metric (mean over seeds) with bootstrap 95% CIs.

    Bars are coloured by role; every panel shares the row order (the mean over
    data sets, best on top).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require_columns(performance, ["dataset", "label", "role", "mean", "ci_low", "ci_high"],
                     "per_dataset_bars")
    order = list(performance.groupby("label", sort=False)["mean"].mean().sort_values(ascending=False).index)
    names = list(dict.fromkeys(performance["dataset"]))
    ncols = max(1, min(ncols, len(names)))
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols + 2.8, 0.22 * len(order) * nrows + 1.2),
                             sharey=True, squeeze=False)
    positions = {label: i for i, label in enumerate(order)}
    for ax, name in zip(axes.flat, names):
        part = performance[performance.dataset == name]
        y = part.label.map(positions).to_numpy()
        error = np.nan_to_num(np.vstack([part["mean"] - part.ci_low, part.ci_high - part["mean"]]))
        ax.barh(y, part["mean"], xerr=error, color=[ROLE_COLOURS.get(r, "grey") for r in part.role], height=0.8,
                error_kw={"elinewidth": 0.8, "capsize": 1.5})
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        low = np.nanmin(part.ci_low.to_numpy(dtype=float)) if part.ci_low.notna().any() else 0.5
        ax.set_xlim(max(0.0, low - 0.05), 1.0)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_yticks(range(len(order)), order)
        ax.set_ylabel("model · representation → probe")
    axes[0, 0].invert_yaxis()  # shared y: the best model on top in every panel
    roles = list(dict.fromkeys(performance["role"]))
    handles = [plt.Rectangle((0, 0), 1, 1, color=ROLE_COLOURS.get(r, "grey")) for r in roles]
    fig.legend(handles, roles, title="role", loc="upper center", ncol=min(len(roles), 6), bbox_to_anchor=(0.5, 1.0),
               frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / fig.get_size_inches()[1]))
    return fig


def score_vs_effect(variants: pd.DataFrame, scores: pd.DataFrame, panels, *, effect: str = "effect"):
    """One scatter per score of its values against the measured effect (all elements pooled).

    Parameters
    ----------
    variants : DataFrame
        One row per variant with the ``effect`` column.
    scores : DataFrame
        Score columns in the same row order.
    panels : sequence of (str, bool)
        Score column and whether it is compared with |effect| (zero-shot
        scores) rather than the signed effect (Δ predictions).

    Returns
    -------
    matplotlib.figure.Figure
    """
    panels = list(panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4.4), squeeze=False)
    for ax, (label, unsigned) in zip(axes[0], panels):
        truth = variants[effect].abs() if unsigned else variants[effect]
        prediction_scatter(truth, scores[label], ax=ax, title=label,
                           xlabel=("|measured effect|" if unsigned else "measured effect") + ", log2 fold change",
                           ylabel="score")
    return fig


def learning_curves(curve: pd.DataFrame, per_replicate: pd.DataFrame, *, ylabel: str, ax: Axes | None = None,
                    title: str | None = None) -> Axes:
    """Median test metric per training fraction, one line per input, band from min to max, every replicate a dot.

    ``curve`` has ``model, fraction, median, min, max``; ``per_replicate`` has
    ``model, fraction, value`` (one row per trained model).
    """
    _require_columns(curve, ["model", "fraction", "median", "min", "max"], "learning_curves")
    _require_columns(per_replicate, ["model", "fraction", "value"], "learning_curves")
    ax = _axes(ax, figsize=(7, 4.5))
    models = list(dict.fromkeys(curve["model"]))
    palette = dict(zip(models, sns.color_palette(PALETTE, len(models))))
    for model, part in curve.groupby("model", sort=False):
        ax.plot(part.fraction, part["median"], marker="o", color=palette[model], label=model)
        ax.fill_between(part.fraction, part["min"], part["max"], color=palette[model], alpha=0.15)
    for model, part in per_replicate.groupby("model", sort=False):
        ax.scatter(part.fraction, part.value, color=palette[model], s=14, alpha=0.6)
    ax.set_xlabel("fraction of training inserts used")
    ax.set_ylabel(ylabel)
    ax.legend(title="input", frameon=False)
    if title:
        ax.set_title(title)
    return ax


def _logo(matrix: np.ndarray, ax: Axes | None, ylabel: str, title: str | None) -> Axes:
    import logomaker

    if ax is None:
        _, ax = plt.subplots(figsize=(max(3, 0.3 * len(matrix)), 1.8))
    logomaker.Logo(pd.DataFrame(matrix, columns=list(ALPHABET)), ax=ax)
    ax.set_xlabel("position (nt)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def attribution_logo(attr: np.ndarray, ax: Axes | None = None, *, sequence: str | None = None,
                     title: str | None = None) -> Axes:
    """Attribution logo of one sequence.

    Parameters
    ----------
    attr : numpy.ndarray
        ``(4, L)`` attributions (e.g. gradient × input), or ``(L,)`` values at
        the observed bases (then ``sequence`` gives the letters).
    ax : matplotlib Axes, optional
    sequence : str, optional
        Required for ``(L,)`` input.
    title : str, optional
    """
    attr = np.asarray(attr, dtype=np.float64)
    if attr.ndim == 1:
        if sequence is None or len(sequence) != len(attr):
            raise ValueError("a per-position attribution (L,) needs the sequence of the same length")
        letters = np.array([ALPHABET.find(base) for base in sequence.upper()])
        matrix = np.zeros((len(attr), 4))
        observed = letters >= 0  # N positions stay empty
        matrix[np.flatnonzero(observed), letters[observed]] = attr[observed]
    elif attr.ndim == 2 and attr.shape[0] == 4:
        matrix = attr.T
    else:
        raise ValueError(f"expected attributions of shape (4, L) or (L,), got {attr.shape}")
    return _logo(matrix, ax, "attribution", title)


def motif_match(motif, jaspar_motif, *, orientation: str = "+", axes=None):
    """Discovered motif and its database match side by side, in bits.

    Parameters
    ----------
    motif : score.motifs.Motif (or object with ``name`` and ``pfm`` ``(W, 4)``)
    jaspar_motif : score.motifs.JasparMotif
    orientation : {"+", "-"}
        ``"-"`` draws the reverse complement of the database motif, as
        reported by :func:`glmeval_utils.score.motifs.match_motifs`.
    axes : pair of matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from glmeval_utils.score.motifs import information_content

    if orientation not in {"+", "-"}:
        raise ValueError(f"orientation must be '+' or '-', got {orientation!r}")
    if axes is None:
        width = max(len(motif.pfm), len(jaspar_motif.pfm))
        _, axes = plt.subplots(1, 2, figsize=(max(6, 0.6 * width), 2))
    target = jaspar_motif.pfm[::-1, ::-1] if orientation == "-" else jaspar_motif.pfm
    _logo(information_content(motif.pfm), axes[0], "bits", f"discovered {motif.name}")
    strand = " (rev. comp.)" if orientation == "-" else ""
    _logo(information_content(target), axes[1], "bits", f"{jaspar_motif.matrix_id} {jaspar_motif.name}{strand}")
    for ax in axes:
        ax.set_ylim(0, 2)
    return axes[0].figure


def logo_stack(panels, *, xlabel: str = "position in window (nt)"):
    """Attribution logos stacked vertically, one per panel.

    ``panels`` is a sequence of mappings with ``attr`` (``(4, L)`` or ``(L,)``),
    optional ``sequence`` (for ``(L,)``) and ``title``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    panels = list(panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 1.9 * len(panels)), squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        attribution_logo(panel["attr"], ax=ax, sequence=panel.get("sequence"), title=panel.get("title"))
        ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig


def gia_bars(gia: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """GIA: each motif's mean effect (with its 95% CI) beside its shuffled control's, per data set and predictor."""
    _require_columns(gia, ["dataset", "predictor", "motif", "effect", "ci_low", "ci_high", "control_effect"],
                     "gia_bars")
    ax = _axes(ax, figsize=(8, 3.8))
    positions = np.arange(len(gia))
    ax.bar(positions - 0.2, gia.effect, 0.4, yerr=np.nan_to_num([gia.effect - gia.ci_low, gia.ci_high - gia.effect]),
           label="motif")
    ax.bar(positions + 0.2, gia.control_effect, 0.4, label="shuffled motif")
    ax.set_xticks(positions, [f"{d}\n{p}\n{m}" for d, p, m in zip(gia.dataset, gia.predictor, gia.motif)], fontsize=7)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("mean change of prediction (logit or activity)")
    ax.set_title("global importance analysis")
    ax.legend(frameon=False)
    return ax


def summary_forest(comparisons: pd.DataFrame, paper_effects: pd.DataFrame | None = None):
    """Per task, each model's difference from the best one-hot model with its 95% CI; the paper's as a cross.

    ``comparisons`` is :func:`glmeval_utils.eval.compare.versus_best_onehot`
    output of several tasks (with ``metric``); simulated data sets are drawn
    hollow.  ``paper_effects`` (``task, effect``) marks the paper's best gLM
    minus its best one-hot model.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require_columns(comparisons, ["task", "dataset", "model", "role", "effect", "ci_low", "ci_high", "metric"],
                     "summary_forest")
    tasks = list(dict.fromkeys(comparisons["task"]))
    sizes = [int((comparisons.task == task).sum()) for task in tasks]
    fig, axes = plt.subplots(len(tasks), 1, figsize=(8.5, 0.9 * len(tasks) + 0.28 * sum(sizes)), squeeze=False,
                             gridspec_kw={"height_ratios": sizes})
    for ax, task in zip(axes[:, 0], tasks):
        part = comparisons[comparisons.task == task].reset_index(drop=True)
        for position, row in part.iterrows():
            colour = ROLE_COLOURS.get(row.role, "grey")
            hollow = bool(row.get("simulated", False))
            ax.errorbar(row.effect, position, xerr=[[row.effect - row.ci_low], [row.ci_high - row.effect]], fmt="o",
                        color=colour, ecolor=colour, capsize=3, markerfacecolor="white" if hollow else colour)
        if paper_effects is not None and task in set(paper_effects.task):
            effect = paper_effects.loc[paper_effects.task == task, "effect"].mean()
            ax.axvline(effect, color="#d1495b", linestyle=":", linewidth=1.5, label="paper (best gLM − best one-hot)")
            ax.legend(frameon=False, loc="lower right", fontsize=8)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(part)), part.dataset + " · " + part.model, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"{task} ({part.metric.iloc[0]})", fontsize=10)
        ax.set_xlabel(f"difference from the best one-hot model ({part.metric.iloc[0]}, 95% CI)")
    fig.tight_layout()
    return fig


def pretrained_vs_random(held_out: pd.DataFrame):
    """One panel per model and metric: the held-out value of the random-init control beside the pretrained model's.

    ``held_out`` has ``model, metric, pretrained, random_init``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require_columns(held_out, ["model", "metric", "pretrained", "random_init"], "pretrained_vs_random")
    fig, axes = plt.subplots(1, len(held_out), figsize=(3.2 * len(held_out), 3.4), squeeze=False)
    for ax, row in zip(axes[0], held_out.itertuples()):
        ax.bar(["random init", "pretrained"], [row.random_init, row.pretrained],
               color=[ROLE_COLOURS["random-init"], ROLE_COLOURS["pretrained"]])
        ax.set_title(f"{row.model}\n{row.metric.replace('_', ' ')}", fontsize=10)
        ax.set_ylabel(row.metric.replace("_", " "))
    fig.suptitle("held-out metrics: pretrained vs random-init control")
    fig.tight_layout()
    return fig


def base_probabilities(probabilities: dict, sequence: str, *, titles: dict | None = None):
    """Heat maps of masked per-base probabilities ``(L, 4)`` along a sequence, the observed base outlined.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(len(probabilities), 1, figsize=(12, 1.8 * len(probabilities)), sharex=True,
                             squeeze=False)
    for ax, (name, probs) in zip(axes[:, 0], probabilities.items()):
        ax.imshow(np.asarray(probs).T, aspect="auto", cmap="Blues", vmin=0, vmax=1)
        for i, base in enumerate(sequence):
            if base in ALPHABET:
                ax.add_patch(plt.Rectangle((i - 0.5, ALPHABET.index(base) - 0.5), 1, 1, fill=False, lw=0.8,
                                           ec="#d1495b"))
        ax.set(yticks=range(4), yticklabels=list(ALPHABET), ylabel="base", title=(titles or {}).get(name, name))
    axes[-1, 0].set_xlabel("position in the element (nt)")
    fig.tight_layout()
    return fig


#: How a metric name of :func:`glmeval_utils.eval.performance.performance_table` reads on an axis.
METRIC_LABELS = {"pearson": "Pearson r", "spearman": "Spearman ρ", "auroc": "AUROC", "aupr": "AUPR"}


def budget_curve(points: pd.DataFrame, band: pd.DataFrame, paper: pd.DataFrame | None = None,
                 loss: pd.DataFrame | None = None):
    """Probe score against pretraining tokens seen: one panel per data set and probe rung, the held-out loss above.

    Parameters
    ----------
    points : DataFrame
        ``dataset, rung, tokens_seen, metric, mean, ci_low, ci_high, role``:
        one row per checkpoint (test score, mean over seeds, bootstrap 95% CI);
        the random-init step 0 is coloured as a control.
    band : DataFrame
        ``dataset, value``: the one-hot CNN's test score per seed; its range is
        drawn as a horizontal band, its mean as a line.
    paper : DataFrame, optional
        ``dataset, rung, model, value``: the paper's gLMs on its own data,
        drawn as markers right of the curve (their x is not their token count).
    loss : DataFrame, optional
        ``tokens_seen, held_out_loss``: the pretraining curve itself, drawn as
        the top panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require_columns(points, ["dataset", "rung", "tokens_seen", "metric", "mean", "ci_low", "ci_high", "role"],
                     "budget_curve")
    _require_columns(band, ["dataset", "value"], "budget_curve")
    datasets, rungs = list(dict.fromkeys(points["dataset"])), list(dict.fromkeys(points["rung"]))
    top = int(loss is not None and len(loss) > 0)
    fig = plt.figure(figsize=(4.3 * len(rungs), 2.9 * (len(datasets) + top)))
    grid = fig.add_gridspec(len(datasets) + top, len(rungs))
    scale = 1e6  # tokens on the axis in millions
    right = 1.12 * max(float(points["tokens_seen"].max()) / scale, 1e-6)
    xlabel = "pretraining tokens seen (millions)"
    if top:
        ax = fig.add_subplot(grid[0, :])
        ax.plot(loss["tokens_seen"] / scale, loss["held_out_loss"], marker="o", color=ROLE_COLOURS["pretrained"])
        ax.axhline(np.log(4), color="grey", linestyle=":", linewidth=1, label="uniform guess (ln 4)")
        ax.set(xlabel=xlabel, ylabel="held-out loss (nats)", title="pretraining", xlim=(-0.04 * right, 1.06 * right))
        ax.legend(frameon=False, loc="upper right")
    handles = {}
    for row, dataset in enumerate(datasets):
        seeds = band.loc[band["dataset"] == dataset, "value"]
        for column, rung in enumerate(rungs):
            ax = fig.add_subplot(grid[row + top, column])
            part = points[(points["dataset"] == dataset) & (points["rung"] == rung)].sort_values("tokens_seen")
            if len(seeds):
                handles["one-hot CNN (range over seeds)"] = ax.axhspan(seeds.min(), seeds.max(), alpha=0.25,
                                                                       color=ROLE_COLOURS["one-hot"])
                ax.axhline(seeds.mean(), color=ROLE_COLOURS["one-hot"], linewidth=1)
            ax.plot(part["tokens_seen"] / scale, part["mean"], color=ROLE_COLOURS["pretrained"], linewidth=1)
            for point in part.itertuples():
                colour = ROLE_COLOURS.get(point.role, "grey")
                error = [[point.mean - point.ci_low], [point.ci_high - point.mean]]
                handles[f"checkpoint ({point.role})"] = ax.errorbar(point.tokens_seen / scale, point.mean, yerr=error,
                                                                    fmt="o", color=colour, ecolor=colour, capsize=3)
            theirs = paper[(paper["dataset"] == dataset) & (paper["rung"] == rung)] if paper is not None else ()
            for marker, mark in zip(theirs.itertuples() if len(theirs) else (), "Ds^vP*"):
                handles[f"paper: {marker.model}"] = ax.scatter(right, marker.value, marker=mark, color="black",
                                                              zorder=3)
            metric = METRIC_LABELS.get(part["metric"].iloc[0], part["metric"].iloc[0]) if len(part) else "score"
            ax.set(title=f"{dataset}: {rung}", xlabel=xlabel, ylabel=f"test {metric}",
                   xlim=(-0.04 * right, 1.06 * right))
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(len(handles), 3), frameon=False,
               fontsize=8)
    fig.tight_layout(rect=(0, 0.35 / fig.get_size_inches()[1] * (1 + (len(handles) - 1) // 3), 1, 1))
    return fig
