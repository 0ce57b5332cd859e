"""Matplotlib figures the notebooks show.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through ``pyplot``:
no global state, no ``plt.show()``, safe in tests, servers and headless papermill runs.
Jupyter displays a returned Figure as an image. Conventions: averages are shown with how many
ratings they rest on (a mean of three ratings is not a finding), bars are sorted by value,
comparisons say whether lower or higher is better, and legends stay off the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

BLUE, RED, GREEN, GREY = "#4C72B0", "#C44E52", "#55A868", "#8C8C8C"
#: Colours for categories, none of them grey (grey means "other" or "not the point").
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3",
           "#CCB974", "#64B5CD", "#2F4B7C")
#: Value labels sit on a white box: a reference line passing behind them never crosses text.
LABEL_BOX = {"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none",
             "alpha": 0.85}
#: Averages resting on fewer ratings than this are drawn faded and flagged.
FEW = 50


class Stat(NamedTuple):
    """A statistic: the numbers as a DataFrame and the same numbers as a Figure."""

    table: pd.DataFrame
    figure: Figure


def _figure(width: float = 7.0, height: float = 4.0) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def bar(table: pd.DataFrame, x: str, y: str, title: str, xlabel: str | None = None,
        ylabel: str | None = None, horizontal: bool = False) -> Figure:
    """A bar chart of ``table[y]`` against ``table[x]`` (horizontal for long labels)."""
    height = max(4.0, 0.28 * len(table)) if horizontal else 4.0
    fig, ax = _figure(7.0, height)
    labels = table[x].astype(str)
    if horizontal:
        ax.barh(labels, table[y], color=BLUE)
        ax.invert_yaxis()
        ax.set_xlabel(ylabel or y)
        ax.set_ylabel(xlabel or x)
    else:
        ax.bar(labels, table[y], color=BLUE)
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(ylabel or y)
        if len(table) > 12:
            ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    ax.set_title(title)
    return fig


def mean_bars(table: pd.DataFrame, key: str, title: str, mean: str = "mean_rating",
              count: str = "ratings", overall: float | None = None,
              by_value: bool = True) -> Figure:
    """Average ratings per group, best first (``by_value`` False: in the table's order, e.g.
    birth bands by date), each bar labelled with its number of ratings; groups with fewer
    than :data:`FEW` ratings are faded (their average is fragile)."""
    if by_value:
        table = table.sort_values([mean, key], ascending=[False, True])
    fig, ax = _figure(7.0, max(3.0, 0.32 * len(table) + 1.0))
    labels = table[key].astype(str)
    colors = [BLUE if n >= FEW else "#B8C7E0" for n in table[count]]
    ax.barh(labels, table[mean], color=colors)
    ax.invert_yaxis()
    low = max(0.0, float(table[mean].min()) - 0.5)
    ax.set_xlim(low, min(5.0, float(table[mean].max()) + 0.45))
    for position, (value, n) in enumerate(zip(table[mean], table[count])):
        ax.annotate(f"{value:.2f}  (n={n:,})", (value, position), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=8, bbox=LABEL_BOX,
                    zorder=3)
    if overall is not None:
        ax.axvline(overall, color=RED, linestyle="--", linewidth=1, zorder=1,
                   label=f"all ratings: {overall:.2f}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set(title=title, xlabel=f"average rating (axis starts at {low:.1f}; faded: fewer "
                                f"than {FEW} ratings)")
    return fig


def points(table: pd.DataFrame, x: str, y: str, title: str, size: str | None = None,
           xlabel: str | None = None, ylabel: str | None = None) -> Figure:
    """Points (no line through sparse x values), optionally sized by a count column."""
    fig, ax = _figure()
    sizes = 12 + 8 * table[size].to_numpy() if size else 20
    ax.scatter(table[x], table[y], s=sizes, color=BLUE, alpha=0.7)
    ax.set(title=title, xlabel=xlabel or x, ylabel=ylabel or y)
    if size:
        ax.annotate(f"point size: number of {size}", (0.01, 0.01),
                    xycoords="axes fraction", fontsize=8, color=GREY)
    ax.grid(alpha=0.3)
    return fig


def line(table: pd.DataFrame, x: str, y: str, title: str, xlabel: str | None = None,
         ylabel: str | None = None) -> Figure:
    """A line chart with points."""
    fig, ax = _figure()
    ax.plot(table[x], table[y], marker="o", markersize=3, color=BLUE)
    ax.set(title=title, xlabel=xlabel or x, ylabel=ylabel or y)
    ax.grid(alpha=0.3)
    return fig


def decades(years: pd.Series, extremes: pd.DataFrame, title: str) -> Figure:
    """Movies per release decade; the decades of the oldest and the newest movie are
    coloured, and the legend names both movies."""
    from matplotlib.patches import Patch

    per_decade = (years // 10 * 10).value_counts().sort_index()
    fig, ax = _figure(7.0, 3.6)
    bars = ax.bar([f"{d}s" for d in per_decade.index], per_decade.to_numpy(), color=BLUE)
    position = {int(d): i for i, d in enumerate(per_decade.index)}
    handles = []
    for row, color in zip(extremes.itertuples(), (GREEN, RED)):
        decade = int(row.year) // 10 * 10
        if decade in position:
            bars[position[decade]].set_color(color)
        named = row.title if str(row.year) in str(row.title) else f"{row.title} ({row.year})"
        handles.append(Patch(color=color, label=f"{row.which} ({decade}s): {named}"))
    ax.set(title=title, xlabel="release decade", ylabel="movies")
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    return fig


def grouped_bar(pivot: pd.DataFrame, title: str, xlabel: str, ylabel: str) -> Figure:
    """Bars grouped by the pivot's index, one colour per column."""
    fig, ax = _figure()
    n = max(len(pivot.columns), 1)
    width = 0.8 / n
    positions = range(len(pivot.index))
    for i, column in enumerate(pivot.columns):
        ax.bar([p + i * width - 0.4 + width / 2 for p in positions], pivot[column],
               width=width, label=str(column))
    ax.set_xticks(list(positions), [str(v) for v in pivot.index], rotation=45, ha="right")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.legend()
    return fig


#: Whether a lower or a higher value of a metric is better.
LOWER_IS_BETTER = ("rmse", "mae", "fit_seconds")


def metric_bars(summary: pd.DataFrame, metrics: Sequence[str],
                highlight: Sequence[str] = ("model",)) -> Figure:
    """One panel per metric, one bar per model, the axis zoomed on the values (a 0.898 and
    a 0.943 must not look equal), each title saying which way is better."""
    # each panel wide enough for its bars (a dozen models and peers side by side)
    widths = [max(4.4, 0.42 * int(summary[m].notna().sum())) for m in metrics]
    fig = Figure(figsize=(sum(widths), 3.9), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False, width_ratios=widths)[0]
    for ax, metric in zip(axes, metrics):
        values = summary[metric].dropna().astype(float)
        lower = any(metric.startswith(m) for m in LOWER_IS_BETTER)
        values = values.sort_values(ascending=lower)
        colors = [RED if name in highlight else BLUE for name in values.index]
        ax.bar([str(i) for i in values.index], values.to_numpy(), color=colors)
        span = float(values.max() - values.min()) or abs(float(values.max())) or 1.0
        ax.set_ylim(max(0.0, float(values.min()) - 0.35 * span),
                    float(values.max()) + 0.2 * span)
        ax.set_title(f"{metric} ({'lower' if lower else 'higher'} is better)")
        ax.tick_params(axis="x", labelrotation=45)
        for label in ax.get_xticklabels():  # the label's end under its bar, not its middle
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
        for x, v in enumerate(values.to_numpy()):
            ax.annotate(f"{v:.3f}", (x, v), ha="center", va="bottom", fontsize=8)
        if ax.get_ylim()[0] > 0:
            ax.annotate("axis does not start at 0", (0.99, 0.98), xycoords="axes fraction",
                        ha="right", va="top", fontsize=7, color=GREY)
    return fig


def training_curves(history: pd.DataFrame, metric: str = "rmse",
                    started_from: pd.DataFrame | None = None) -> Figure:
    """Training (dashed) and validation (solid) ``metric`` per epoch, one colour per network,
    a star on each network's best validation epoch (the weights it keeps).

    ``started_from``: the history of the fit the networks were warm-started from (e.g.
    :attr:`recsys.models.Recommender.start_history`), drawn first, on its own panel with the
    same scale: the learning from scratch, then the few epochs that continue it.
    """
    title = (f"Training curves ({metric.upper()}, lower is better; \u2605 best validation "
             "epoch, kept)")
    if started_from is None:
        fig, ax = _figure()
        _curves(ax, history, metric, title)
        return fig
    fig = Figure(figsize=(9.0, 4.0), layout="constrained")
    first, second = fig.subplots(1, 2, sharey=True,
                                 gridspec_kw={"width_ratios": [2, 1]})
    _curves(first, started_from, metric, "1. From scratch: the holdout model")
    _curves(second, history, metric, "2. Continued on all the ratings")
    second.set_ylabel("")
    second.get_legend().remove()  # the same networks in the same colours
    fig.suptitle(title, fontsize=10)
    return fig


def _curves(ax: Any, history: pd.DataFrame, metric: str, title: str) -> None:
    """One panel of :func:`training_curves`."""
    groups = list(history.groupby("network")) if "network" in history else [(0, history)]
    for (network, part), color in zip(groups, PALETTE * 3):
        # numbered as the console numbers them while training: network 1/3 .. 3/3
        name = f"network {int(network) + 1}/{len(groups)}"
        ax.plot(part["epoch"], part[metric], linestyle="--", color=color, alpha=0.6,
                label=f"{name}: training")
        validation = f"val_{metric}"
        if validation in part:
            ax.plot(part["epoch"], part[validation], marker="o", markersize=3, color=color,
                    label=f"{name}: validation")
            best = part.loc[part[validation].idxmin()]
            ax.scatter([best["epoch"]], [best[validation]], marker="*", s=160, color=color,
                       edgecolor="black", zorder=5)
    ax.set(title=title, xlabel="epoch", ylabel=metric.upper())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")


def prediction_histogram(predicted: np.ndarray, actual: np.ndarray | None = None) -> Figure:
    """Predicted ratings as a histogram (density), over the share of actual ratings per star
    drawn as outlined one-star bars (same units: share per star)."""
    fig, ax = _figure(7.0, 3.6)
    bins = np.linspace(0.75, 5.25, 37)
    ax.hist(np.asarray(predicted), bins=bins, color=BLUE, alpha=0.75, density=True,
            label="predicted ratings")
    if actual is not None:
        values, counts = np.unique(np.asarray(actual), return_counts=True)
        ax.bar(values, counts / counts.sum(), width=0.96, fill=False, edgecolor=RED,
               linewidth=1.5, label="actual ratings (share per star)")
    ax.set(title="Predicted ratings span the whole scale, 5 included", xlabel="rating",
           ylabel="share per star")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def principal_plane(vectors: pd.DataFrame) -> np.ndarray:
    """Rows of ``vectors``, scaled to unit length (directions, as cosine similarity reads
    them), on their first two principal components."""
    from sklearn.decomposition import PCA

    array = vectors.to_numpy(dtype=float)
    norms = (array ** 2).sum(axis=1, keepdims=True) ** 0.5
    return PCA(n_components=2, random_state=0).fit_transform(array / (norms + 1e-12))


def projection(vectors: pd.DataFrame, labels: pd.Series, title: str, top: int = 8) -> Figure:
    """Rows of ``vectors`` on their first two principal components, coloured by the ``top``
    most common labels (the rest grey as "other"), the legend beside the plot."""
    xy = principal_plane(vectors)
    fig = Figure(figsize=(8.0, 5.0), layout="constrained")
    ax = fig.add_subplot()
    aligned = labels.reindex(vectors.index).fillna("other").astype(str)
    common = list(aligned.value_counts().index[:top])
    aligned = aligned.where(aligned.isin(common), "other")
    other = (aligned == "other").to_numpy()
    ax.scatter(xy[other, 0], xy[other, 1], s=6, alpha=0.35, color="#BBBBBB", label="other")
    for label, color in zip(common, PALETTE):
        mask = (aligned == label).to_numpy()
        ax.scatter(xy[mask, 0], xy[mask, 1], s=8, alpha=0.75, color=color, label=label)
    ax.set(title=title, xlabel="PC1", ylabel="PC2")
    ax.legend(fontsize=8, markerscale=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def projection_by_value(vectors: pd.DataFrame, values: pd.Series, title: str,
                        label: str) -> Figure:
    """Rows of ``vectors`` on their first two principal components, coloured by a number per
    row (``values``, aligned by index; rows without one grey), with a colour bar naming it."""
    xy = principal_plane(vectors)
    shade = values.reindex(vectors.index).to_numpy(dtype=float)
    known = ~np.isnan(shade)
    fig = Figure(figsize=(8.0, 5.0), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(xy[~known, 0], xy[~known, 1], s=6, alpha=0.35, color="#BBBBBB",
               label=f"no {label}")
    points_ = ax.scatter(xy[known, 0], xy[known, 1], s=8, alpha=0.8, c=shade[known],
                         cmap="viridis")
    fig.colorbar(points_, ax=ax, label=label)
    ax.set(title=title, xlabel="PC1", ylabel="PC2")
    if (~known).any():
        ax.legend(fontsize=8, loc="lower right")
    return fig


def count_bars(counts: pd.Series, title: str, xlabel: str, ylabel: str = "count") -> Figure:
    """Counts per value (e.g. ratings per star), each bar labelled."""
    fig, ax = _figure(6.0, 3.4)
    ax.bar([str(i) for i in counts.index], counts.to_numpy(), color=BLUE)
    for x, v in enumerate(counts.to_numpy()):
        ax.annotate(f"{v:,}", (x, v), ha="center", va="bottom", fontsize=8)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return fig
