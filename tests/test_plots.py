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
