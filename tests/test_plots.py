"""Tests for glmeval_utils.plots: every plot draws the data it is given, with labelled axes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from glmeval_utils import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def bar_table():
    return pd.DataFrame({
        "model": ["one-hot", "one-hot", "teaching-mlm", "teaching-mlm"],
        "probe": ["CNN", "ridge", "CNN", "ridge"],
        "pearson": [0.70, 0.40, 0.55, 0.30],
        "low": [0.65, 0.35, 0.50, 0.20],
        "high": [0.75, 0.45, 0.60, 0.36],
    })


def test_set_style_applies_the_grid_theme():
    plots.set_style()
    assert plt.rcParams["axes.grid"]


def test_performance_bars_draw_one_bar_per_row_with_intervals():
    table = bar_table()
    ax = plots.performance_bars(table, x="model", y="pearson", hue="probe", ci_low="low", ci_high="high",
                                ylabel="Pearson r (test)")
    heights = sorted(round(p.get_height(), 3) for p in ax.patches)
    assert heights == sorted(table["pearson"].round(3))
    assert ax.get_ylabel() == "Pearson r (test)" and ax.get_xlabel() == "model"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["one-hot", "teaching-mlm"]
    # Each error bar spans exactly the interval of its bar.
    spans = sorted(round(float(np.ptp(seg[:, 1])), 3)
                   for coll in ax.collections for seg in coll.get_segments())
    assert spans == sorted((table["high"] - table["low"]).round(3))


def test_performance_bars_reject_unsummarised_or_half_specified_input():
    table = bar_table()
    with pytest.raises(ValueError, match="several rows"):
        plots.performance_bars(table, x="model", y="pearson")
    with pytest.raises(ValueError, match="both ci_low and ci_high"):
        plots.performance_bars(table, x="model", y="pearson", hue="probe", ci_low="low")
    with pytest.raises(ValueError, match="lacks columns"):
        plots.performance_bars(table, x="model", y="auroc", hue="probe")


def test_prediction_scatter_reports_pearson_r():
    rng = np.random.default_rng(0)
    measured = rng.normal(size=50)
    predicted = measured + rng.normal(scale=0.5, size=50)
    ax = plots.prediction_scatter(measured, predicted, title="HepG2")
    expected = np.corrcoef(measured, predicted)[0, 1]
    assert f"Pearson r = {expected:.3f}" in ax.get_title()
    assert "n = 50" in ax.get_title()
    assert ax.get_xlabel() and ax.get_ylabel()
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.column_stack([measured, predicted]))
    with pytest.raises(ValueError, match="49 predictions"):
        plots.prediction_scatter(measured, predicted[:49])


def test_layer_curve_draws_one_line_per_model_with_seed_means():
    table = pd.DataFrame({
        "layer": [0, 1, 2] * 4,
        "pearson": [0.1, 0.3, 0.2, 0.3, 0.5, 0.4, 0.0, 0.0, 0.1, 0.2, 0.2, 0.1],
        "model": ["mlm"] * 6 + ["random"] * 6,
    })
    ax = plots.layer_curve(table, y="pearson", hue="model", ylabel="Pearson r (test)")
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 3]
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_ydata(), [0.2, 0.4, 0.3])
    assert ax.get_xlabel().startswith("layer") and ax.get_ylabel() == "Pearson r (test)"


def test_variance_spectrum_draws_cumulative_shares():
    ax = plots.variance_spectrum({"loud": np.array([0.9, 0.09, 0.01]), "flat": np.full(4, 0.25)})
    curves = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    np.testing.assert_allclose(curves["loud"], [0.9, 0.99, 1.0])
    np.testing.assert_allclose(curves["flat"], [0.25, 0.5, 0.75, 1.0])
    assert ax.get_xscale() == "log" and "variance" in ax.get_ylabel()
    with pytest.raises(ValueError, match="no spectra"):
        plots.variance_spectrum({})


def test_heatmap_pivots_and_centres():
    table = pd.DataFrame({"model": ["a", "a", "b", "b"], "task": ["x", "y", "x", "y"],
                          "delta": [0.1, -0.2, 0.3, 0.0]})
    ax = plots.heatmap(table, index="model", columns="task", values="delta", label="Δ Pearson r vs one-hot")
    mesh = ax.collections[0]
    np.testing.assert_allclose(np.asarray(mesh.get_array()).ravel(), [0.1, -0.2, 0.3, 0.0])
    assert mesh.norm.vmin == -mesh.norm.vmax  # centred at 0
    assert ax.get_xlabel() == "task" and ax.get_ylabel() == "model"
    assert sorted(t.get_text() for t in ax.texts) == sorted(["0.10", "-0.20", "0.30", "0.00"])


def test_paper_vs_ours_places_both_values_per_label():
    table = pd.DataFrame({"model": ["one-hot", "DNABERT-2"], "ours": [0.71, 0.52], "paper": [0.74, np.nan]})
    ax = plots.paper_vs_ours(table, label="model", ours="ours", paper="paper", xlabel="Pearson r (test)")
    paper_points, our_points = ax.collections[1], ax.collections[2]
    np.testing.assert_allclose(our_points.get_offsets()[:, 0], [0.71, 0.52])
    np.testing.assert_allclose(np.asarray(paper_points.get_offsets())[0], [0.74, 0])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["one-hot", "DNABERT-2"]
    assert ax.get_xlabel() == "Pearson r (test)"


def test_plots_draw_on_a_given_axes():
    fig, axes = plt.subplots(1, 2)
    returned = plots.prediction_scatter([1, 2, 3], [1, 2, 4], ax=axes[1])
    assert returned is axes[1] and not axes[0].collections


# --------------------------------------------------------------------------- the chapters' figures


def performance_rows():
    return pd.DataFrame({
        "dataset": ["HepG2", "HepG2", "HepG2", "K562", "K562", "K562"],
        "label": ["one-hot · onehot → resnet", "glm · full → cnn", "glm-random · full → cnn"] * 2,
        "role": ["one-hot", "pretrained", "random-init"] * 2,
        "mean": [0.75, 0.62, 0.50, 0.80, 0.66, 0.55],
        "ci_low": [0.72, 0.58, 0.45, 0.77, 0.61, 0.50],
        "ci_high": [0.80, 0.68, 0.57, 0.85, 0.72, 0.62],
    })


def test_performance_ranking_puts_the_best_on_top_coloured_by_role():
    table = performance_rows()[lambda d: d.dataset == "HepG2"]
    ax = plots.performance_ranking(table, xlabel="Pearson r (test)", title="HepG2")
    widths = [p.get_width() for p in ax.patches]
    assert widths == pytest.approx([0.50, 0.62, 0.75])  # ascending from the bottom: the best bar on top
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "one-hot · onehot → resnet"
    assert ax.patches[-1].get_facecolor()[:3] == pytest.approx(plots.ROLE_COLOURS["one-hot"])
    assert ax.get_xlabel() == "Pearson r (test)" and ax.get_ylabel() and ax.get_title() == "HepG2"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["random-init", "pretrained", "one-hot"]
    with pytest.raises(ValueError, match="lacks columns"):
        plots.performance_ranking(table.drop(columns="role"), xlabel="r")


def test_versus_onehot_draws_each_difference_with_its_interval():
    table = pd.DataFrame({"label": ["glm · full → cnn", "glm · mean → mlp"], "role": ["pretrained", "pretrained"],
                          "effect": [-0.10, -0.25], "ci_low": [-0.15, -0.31], "ci_high": [-0.04, -0.20]})
    ax = plots.versus_onehot(table, xlabel="Δ Pearson r vs best one-hot")
    points = [line.get_xdata()[0] for line in ax.get_lines() if line.get_marker() == "o"]
    assert points == pytest.approx([-0.10, -0.25])
    spans = sorted(round(float(np.ptp(seg[:, 0])), 3) for coll in ax.collections for seg in coll.get_segments())
    assert spans == sorted((table.ci_high - table.ci_low).round(3))
    assert any(line.get_xdata()[0] == 0 for line in ax.get_lines() if line.get_marker() != "o")  # zero line
    assert ax.get_xlabel() == "Δ Pearson r vs best one-hot"
    assert [t.get_text() for t in ax.get_yticklabels()] == list(table.label)


def prediction_table():
    from glmeval_utils.predictions import prediction_rows

    rng = np.random.default_rng(0)
    y = rng.normal(size=40)
    rows = [prediction_rows(y, y + rng.normal(scale=0.5, size=40), task="t", dataset="d", model=model, role=role,
                            representation=representation, probe=probe, seed=seed, split=split)
            for model, role, representation, probe in (("one-hot", "one-hot", "onehot", "resnet"),
                                                        ("glm", "pretrained", "full", "cnn"))
            for seed in (0, 1) for split in ("valid", "test")]
    return pd.concat(rows, ignore_index=True)


def test_measured_vs_predicted_draws_seed_averaged_test_predictions():
    predictions = prediction_table()
    fig = plots.measured_vs_predicted(predictions, [{"model": "one-hot"}, {"model": "glm", "probe": "cnn"}],
                                      xlabel="measured activity", ylabel="predicted activity")
    assert len(fig.axes) == 2
    rows = predictions[(predictions.model == "glm") & (predictions.split == "test")]
    averaged = rows.groupby("index")[["y_true", "y_score"]].mean()
    np.testing.assert_allclose(fig.axes[1].collections[0].get_offsets(), averaged.to_numpy())
    assert fig.axes[1].get_title().startswith("glm · full → cnn")
    assert fig.axes[0].get_xlabel() == "measured activity" and fig.axes[0].get_ylabel() == "predicted activity"
    with pytest.raises(ValueError, match="no test predictions"):
        plots.measured_vs_predicted(predictions, [{"model": "absent"}], xlabel="x", ylabel="y")


def test_per_dataset_bars_one_panel_per_dataset_in_a_shared_order():
    table = performance_rows()
    fig = plots.per_dataset_bars(table, xlabel="Pearson r (test)", ncols=4)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["HepG2", "K562"]
    k562 = visible[1]
    assert sorted(p.get_width() for p in k562.patches) == pytest.approx([0.55, 0.66, 0.80])
    assert all(ax.get_xlabel() == "Pearson r (test)" for ax in visible)
    assert [t.get_text() for t in visible[0].get_yticklabels()][0] == "one-hot · onehot → resnet"  # best mean
    assert visible[0].get_ylabel()


def test_score_vs_effect_uses_absolute_effects_for_zero_shot_scores():
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"effect": rng.normal(size=30)})
    scores = pd.DataFrame({"abs_llr": np.abs(table.effect) + rng.normal(scale=0.1, size=30),
                           "delta_cnn": table.effect + rng.normal(scale=0.1, size=30)})
    fig = plots.score_vs_effect(table, scores, [("abs_llr", True), ("delta_cnn", False)])
    assert len(fig.axes) == 2
    np.testing.assert_allclose(fig.axes[0].collections[0].get_offsets()[:, 0], table.effect.abs())
    np.testing.assert_allclose(fig.axes[1].collections[0].get_offsets()[:, 0], table.effect)
    assert fig.axes[0].get_xlabel().startswith("|measured effect|")
    assert fig.axes[1].get_xlabel().startswith("measured effect") and fig.axes[1].get_ylabel() == "score"


def test_learning_curves_draw_medians_and_every_replicate():
    curve = pd.DataFrame({"model": ["one-hot"] * 2 + ["glm"] * 2, "fraction": [0.5, 1.0] * 2,
                          "median": [0.4, 0.6, 0.45, 0.58], "min": [0.3, 0.55, 0.4, 0.5],
                          "max": [0.5, 0.65, 0.5, 0.6]})
    per_replicate = pd.DataFrame({"model": ["one-hot"] * 4 + ["glm"] * 4, "fraction": [0.5, 0.5, 1.0, 1.0] * 2,
                                  "value": [0.3, 0.5, 0.55, 0.65, 0.4, 0.5, 0.5, 0.6]})
    ax = plots.learning_curves(curve, per_replicate, ylabel="Pearson r (test)")
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    np.testing.assert_allclose(lines["one-hot"], [0.4, 0.6])
    np.testing.assert_allclose(lines["glm"], [0.45, 0.58])
    dots = [c for c in ax.collections if len(c.get_offsets()) == 4 and c.get_offsets().shape[1] == 2]
    assert sorted(np.concatenate([d.get_offsets()[:, 1] for d in dots[-2:]]).round(2)) == sorted(
        per_replicate.value.round(2))
    assert ax.get_xlabel().startswith("fraction") and ax.get_ylabel() == "Pearson r (test)"
    with pytest.raises(ValueError, match="lacks columns"):
        plots.learning_curves(curve.drop(columns="median"), per_replicate, ylabel="r")


def test_attribution_logo_and_logo_stack():
    attr = np.zeros((4, 6))
    attr[2, 1] = 1.5  # one tall G at position 1
    ax = plots.attribution_logo(attr, title="toy")
    assert ax.get_ylabel() == "attribution" and ax.get_xlabel() == "position (nt)" and ax.get_title() == "toy"
    assert ax.get_ylim()[1] >= 1.5
    with pytest.raises(ValueError, match="shape"):
        plots.attribution_logo(np.zeros((3, 6)))
    with pytest.raises(ValueError, match="sequence"):
        plots.attribution_logo(np.ones(4), sequence="ACG")
    fig = plots.logo_stack([{"attr": attr, "title": "map A"},
                            {"attr": np.array([0.2, -0.4, 0.0, 0.9]), "sequence": "ACNT", "title": "map B"}],
                           xlabel="position (nt)")
    assert [ax.get_title() for ax in fig.axes] == ["map A", "map B"]
    assert all(ax.get_xlabel() == "position (nt)" and ax.get_ylabel() == "attribution" for ax in fig.axes)
    assert fig.axes[1].get_ylim()[0] <= -0.4  # a negative attribution is drawn below the axis


def test_motif_match_draws_both_motifs_in_bits():
    from glmeval_utils.score import motifs

    pfm = np.full((5, 4), 0.02)
    pfm[np.arange(5), [2, 0, 3, 0, 1]] = 0.94  # GATAC
    found = motifs.Motif("pos_0", pfm[::-1, ::-1].copy(), np.zeros_like(pfm), 12)
    database = motifs.JasparMotif("MA_T", "TOY", pfm)
    fig = plots.motif_match(found, database, orientation="-")
    left, right = fig.axes
    assert left.get_title() == "discovered pos_0" and right.get_title() == "MA_T TOY (rev. comp.)"
    assert left.get_ylabel() == right.get_ylabel() == "bits" and left.get_ylim() == (0, 2)
    assert right.get_xlabel() == "position (nt)"
    assert plots.motif_match(found, database).axes[1].get_title() == "MA_T TOY"
    with pytest.raises(ValueError, match="orientation"):
        plots.motif_match(found, database, orientation="?")


def test_gia_bars_put_each_motif_beside_its_control():
    gia = pd.DataFrame({"dataset": ["K562", "HepG2"], "predictor": ["cnn", "glm"], "motif": ["GATA", "HNF4"],
                        "effect": [0.8, 0.3], "ci_low": [0.6, 0.1], "ci_high": [1.0, 0.5],
                        "control_effect": [0.05, -0.02]})
    ax = plots.gia_bars(gia)
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0.8, 0.3, 0.05, -0.02])
    assert ax.get_ylabel().startswith("mean change of prediction")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["K562\ncnn\nGATA", "HepG2\nglm\nHNF4"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["motif", "shuffled motif"]


def test_summary_forest_one_panel_per_task_with_the_paper_marked():
    comparisons = pd.DataFrame({
        "task": ["lentimpra", "lentimpra", "splicing"], "dataset": ["HepG2", "K562", "vexseq"],
        "model": ["glm", "glm", "glm"], "role": ["pretrained"] * 3, "effect": [-0.1, -0.05, 0.02],
        "ci_low": [-0.15, -0.1, -0.03], "ci_high": [-0.05, 0.0, 0.07], "metric": ["pearson", "pearson", "spearman"],
        "simulated": [False, False, True]})
    paper = pd.DataFrame({"task": ["lentimpra"], "effect": [-0.018]})
    fig = plots.summary_forest(comparisons, paper)
    assert len(fig.axes) == 2
    lenti, splicing = fig.axes
    assert lenti.get_title() == "lentimpra (pearson)" and splicing.get_title() == "splicing (spearman)"
    assert "pearson" in lenti.get_xlabel() and "spearman" in splicing.get_xlabel()
    assert [t.get_text() for t in lenti.get_yticklabels()] == ["HepG2 · glm", "K562 · glm"]
    paper_lines = [line for line in lenti.get_lines() if line.get_linestyle() == ":"]
    assert len(paper_lines) == 1 and paper_lines[0].get_xdata()[0] == pytest.approx(-0.018)
    assert not [line for line in splicing.get_lines() if line.get_linestyle() == ":"]
    marker = [line for line in splicing.get_lines() if line.get_marker() == "o"][0]
    assert marker.get_markerfacecolor() == "white"  # simulated data drawn hollow


def test_pretrained_vs_random_draws_both_values_per_panel():
    held_out = pd.DataFrame({"model": ["teaching-mlm", "teaching-mlm"], "metric": ["masked_accuracy", "perplexity"],
                             "pretrained": [0.6, 2.1], "random_init": [0.25, 4.0]})
    fig = plots.pretrained_vs_random(held_out)
    panels = [ax for ax in fig.axes]
    assert len(panels) == 2
    assert [p.get_height() for p in panels[0].patches] == pytest.approx([0.25, 0.6])
    assert [t.get_text() for t in panels[1].get_xticklabels()] == ["random init", "pretrained"]
    assert panels[0].get_ylabel() == "masked accuracy" and panels[1].get_ylabel() == "perplexity"
    assert fig._suptitle.get_text().startswith("held-out metrics")


def test_base_probabilities_outline_the_observed_bases():
    probs = np.full((4, 4), 0.1)
    probs[np.arange(4), [0, 1, 2, 3]] = 0.7
    fig = plots.base_probabilities({"mlm": probs, "control": np.full((4, 4), 0.25)}, "ACGN",
                                   titles={"mlm": "pretrained"})
    top, bottom = fig.axes
    assert top.get_title() == "pretrained" and bottom.get_title() == "control"
    np.testing.assert_allclose(top.images[0].get_array(), probs.T)
    assert len(top.patches) == 3  # N has no base to outline
    assert top.patches[1].get_xy() == (0.5, 0.5)  # C at position 1
    assert top.get_ylabel() == "base" and bottom.get_xlabel().startswith("position")
    assert [t.get_text() for t in top.get_yticklabels()] == list("ACGT")


def test_budget_curve_draws_each_rung_against_tokens_with_the_one_hot_band_and_the_papers_markers():
    points = pd.DataFrame({"dataset": ["lenti"] * 4 + ["tf"] * 4, "rung": ["mean → ridge", "mean → ridge",
                                                                            "full → cnn", "full → cnn"] * 2,
                           "tokens_seen": [0, 2e6] * 4, "metric": ["pearson"] * 4 + ["auroc"] * 4,
                           "mean": [0.1, 0.3, 0.2, 0.25, 0.6, 0.8, 0.55, 0.7],
                           "role": ["random-init", "pretrained"] * 4})
    points = points.assign(ci_low=points["mean"] - 0.05, ci_high=points["mean"] + 0.05)
    band = pd.DataFrame({"dataset": ["lenti", "lenti", "tf"], "value": [0.2, 0.3, 0.75]})
    paper = pd.DataFrame({"dataset": ["lenti"], "rung": ["full → cnn"], "model": ["GPN"], "value": [0.64]})
    loss = pd.DataFrame({"tokens_seen": [0, 1e6, 2e6], "held_out_loss": [1.45, 1.35, 1.3]})
    fig = plots.budget_curve(points, band, paper, loss)
    top, *panels = fig.axes
    assert len(panels) == 4 and top.get_ylabel() == "held-out loss (nats)"
    np.testing.assert_allclose(top.get_lines()[0].get_xdata(), [0, 1, 2])  # millions of tokens
    by_title = {ax.get_title(): ax for ax in panels}
    lenti_cnn = by_title["lenti: full → cnn"]
    assert lenti_cnn.get_ylabel() == "test Pearson r" and by_title["tf: mean → ridge"].get_ylabel() == "test AUROC"
    assert lenti_cnn.get_xlabel() == "pretraining tokens seen (millions)"
    from matplotlib.collections import PathCollection

    def markers(ax):
        return [c for c in ax.collections if isinstance(c, PathCollection)]

    (band_patch,) = lenti_cnn.patches  # the one-hot CNN's range over seeds
    assert band_patch.get_extents().height > 0
    assert len(markers(lenti_cnn)) == 1 and not markers(by_title["lenti: mean → ridge"])  # the paper's GPN
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert "paper: GPN" in labels and "checkpoint (random-init)" in labels
    with pytest.raises(ValueError, match="budget_curve"):
        plots.budget_curve(points.drop(columns="tokens_seen"), band)
