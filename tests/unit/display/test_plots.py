"""Figures that say only what is true (recsys/display/plots.py): notes and legend entries
appear only when they mark something on the chart."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import to_hex

from recsys.display import plots


def test_the_zoom_note_is_written_only_on_an_axis_that_does_not_start_at_zero() -> None:
    zoomed = pd.DataFrame({"rmse": [0.898, 0.943, 0.95]}, index=["model", "a", "b"])
    from_zero = pd.DataFrame({"ndcg@10": [0.05, 0.40, 0.41]}, index=["model", "a", "b"])
    fig = plots.metric_bars(zoomed.join(from_zero), ["rmse", "ndcg@10"])
    rmse_panel, ndcg_panel = fig.axes
    assert rmse_panel.get_ylim()[0] > 0 and ndcg_panel.get_ylim()[0] == 0
    assert "axis does not start at 0" in [t.get_text() for t in rmse_panel.texts]
    assert "axis does not start at 0" not in [t.get_text() for t in ndcg_panel.texts]


def test_the_oldest_and_newest_decades_are_coloured_bars_not_empty_ones() -> None:
    years = pd.Series([1926, 1955, 1995, 1995, 1998])
    extremes = pd.DataFrame({"which": ["oldest", "newest"], "title": ["Old (1926)", "New"],
                             "year": [1926, 1998]})
    fig = plots.decades(years, extremes, "Movies per release decade")
    ax = fig.axes[0]
    bars = ax.patches
    assert all(bar.get_height() > 0 for bar in bars), "no bar of zero height"
    colours = {to_hex(bar.get_facecolor()) for bar in bars}
    assert {plots.GREEN.lower(), plots.RED.lower()} <= colours
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["oldest (1920s): Old (1926)", "newest (1990s): New (1998)"]


def test_training_curves_number_networks_as_the_console_does() -> None:
    history = pd.DataFrame({"epoch": [1, 2, 1, 2], "network": [0, 0, 1, 1],
                            "rmse": [1.0, 0.9, 1.0, 0.9], "val_rmse": [1.1, 1.0, 1.1, 1.0]})
    fig = plots.training_curves(history)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["network 1/2: training", "network 1/2: validation",
                      "network 2/2: training", "network 2/2: validation"]


def test_no_category_is_drawn_in_the_grey_of_other() -> None:
    rng = np.random.default_rng(0)
    vectors = pd.DataFrame(rng.normal(size=(200, 4)))
    labels = pd.Series([f"genre {i % 10}" for i in range(200)], index=vectors.index)
    fig = plots.projection(vectors, labels, "Movies", top=9)
    collections = fig.axes[0].collections
    other, categories = collections[0], collections[1:]
    assert len(categories) == 9
    colours = [to_hex(c.get_facecolor()[0]) for c in categories]
    assert len(set(colours)) == 9
    assert to_hex(other.get_facecolor()[0]) not in colours
    assert not any(c in ("#7f7f7f", "#8c8c8c", "#bbbbbb") for c in colours)


def test_mean_bar_labels_sit_above_the_reference_line() -> None:
    table = pd.DataFrame({"band": ["1900-1919", "1920-1939"], "mean_rating": [3.2, 3.8],
                          "ratings": [60, 70]})
    fig = plots.mean_bars(table, "band", "By band", overall=3.5, by_value=False)
    ax = fig.axes[0]
    line = ax.lines[0]
    assert all(t.get_zorder() > line.get_zorder() and t.get_bbox_patch() is not None
               for t in ax.texts)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1900-1919", "1920-1939"]


def test_a_figure_is_described_in_words_for_its_alternative_text() -> None:
    from recsys.pipeline.notebook import figure_text

    history = pd.DataFrame({"epoch": [1, 2], "rmse": [1.0, 0.9], "val_rmse": [1.1, 1.0]})
    text = figure_text(plots.training_curves(history))
    assert text.startswith("Figure: Training curves (RMSE") and "(epoch, RMSE)" in text


def test_a_projection_by_value_has_a_named_colour_bar_and_greys_what_has_no_value() -> None:
    rng = np.random.default_rng(1)
    vectors = pd.DataFrame(rng.normal(size=(50, 4)), index=range(1, 51))
    values = pd.Series(np.linspace(1, 5, 40), index=range(1, 41))  # 10 movies without one
    fig = plots.projection_by_value(vectors, values, "Movies", "mean rating")
    ax, colour_bar = fig.axes
    assert colour_bar.get_ylabel() == "mean rating"
    grey, shaded = ax.collections
    assert len(grey.get_offsets()) == 10 and len(shaded.get_offsets()) == 40
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["no mean rating"]


def test_training_curves_of_a_warm_start_show_where_it_started_on_the_same_scale() -> None:
    before = pd.DataFrame({"epoch": [1, 2, 3], "rmse": [1.2, 0.9, 0.8],
                           "val_rmse": [1.1, 0.95, 0.97]})
    after = pd.DataFrame({"epoch": [1, 2], "rmse": [0.79, 0.78], "val_rmse": [0.94, 0.945]})
    fig = plots.training_curves(after, started_from=before)
    first, second = fig.axes
    assert first.get_title().startswith("1. From scratch")
    assert second.get_title().startswith("2. Continued")
    assert first.get_ylim() == second.get_ylim()  # one scale: the second panel's flatness reads
    # each panel stars its own best validation epoch
    stars = [ax.collections[0].get_offsets()[0].tolist() for ax in (first, second)]
    assert stars == [[2.0, 0.95], [1.0, 0.94]]
    from recsys.pipeline.notebook import figure_text

    assert figure_text(fig).startswith("Figure: Training curves (RMSE")
    assert "1. From scratch" in figure_text(fig)
