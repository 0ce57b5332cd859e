"""Matplotlib figures the notebooks show.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through ``pyplot``:
no global state, no ``plt.show()``, safe in tests, servers and headless papermill runs.
Jupyter displays a returned Figure as an image.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import pandas as pd
from matplotlib.figure import Figure


class Stat(NamedTuple):
    """A statistic: the numbers as a DataFrame and the same numbers as a Figure."""

    table: pd.DataFrame
    figure: Figure


def _figure(width: float = 7.0, height: float = 4.0) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def bar(table: pd.DataFrame, x: str, y: str, title: str, xlabel: str | None = None,
        ylabel: str | None = None, horizontal: bool = False) -> Figure:
    """A bar chart of ``table[y]`` against ``table[x]`` (horizontal for long labels)."""
    height = max(4.0, 0.28 * len(table)) if horizontal else 4.0
    fig, ax = _figure(7.0, height)
    labels = table[x].astype(str)
    if horizontal:
        ax.barh(labels, table[y], color="#4C72B0")
        ax.invert_yaxis()
        ax.set_xlabel(ylabel or y)
        ax.set_ylabel(xlabel or x)
    else:
        ax.bar(labels, table[y], color="#4C72B0")
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(ylabel or y)
        if len(table) > 12:
            ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    ax.set_title(title)
    return fig


def line(table: pd.DataFrame, x: str, y: str, title: str, xlabel: str | None = None,
         ylabel: str | None = None, marks: Sequence[tuple[float, str]] = ()) -> Figure:
    """A line chart with points, optionally with labelled vertical marks."""
    fig, ax = _figure()
    ax.plot(table[x], table[y], marker="o", markersize=3, color="#4C72B0")
    for position, label in marks:
        ax.axvline(position, color="#C44E52", linestyle="--", linewidth=1)
        ax.annotate(label, (position, ax.get_ylim()[1]), rotation=90, va="top", ha="right",
                    fontsize=8, color="#C44E52")
    ax.set_title(title)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.grid(alpha=0.3)
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
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return fig


def metric_bars(summary: pd.DataFrame, metrics: Sequence[str]) -> Figure:
    """One panel per metric, one bar per model (models without the metric are skipped)."""
    fig = Figure(figsize=(4.2 * len(metrics), 3.8), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        values = summary[metric].dropna()
        colors = ["#C44E52" if name == "model" else "#4C72B0" for name in values.index]
        ax.bar([str(i) for i in values.index], values.to_numpy(), color=colors)
        ax.set_title(metric)
        ax.tick_params(axis="x", labelrotation=45)
        for x, v in enumerate(values.to_numpy()):
            ax.annotate(f"{v:.3f}", (x, v), ha="center", va="bottom", fontsize=8)
    return fig


def training_curves(history: pd.DataFrame) -> Figure:
    """Training and validation RMSE per epoch, one line pair per ensemble network."""
    fig, ax = _figure()
    groups = history.groupby("network") if "network" in history else [(0, history)]
    for network, part in groups:
        ax.plot(part["epoch"], part["rmse"], linestyle="--", label=f"train, net {network}")
        if "val_rmse" in part:
            ax.plot(part["epoch"], part["val_rmse"], marker="o", markersize=3,
                    label=f"validation, net {network}")
    ax.set(title="Training curves", xlabel="epoch", ylabel="RMSE")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def projection(vectors: pd.DataFrame, labels: pd.Series, title: str) -> Figure:
    """Rows of ``vectors`` on their first two principal components, coloured by label."""
    from sklearn.decomposition import PCA

    array = vectors.to_numpy(dtype=float)
    norms = (array ** 2).sum(axis=1, keepdims=True) ** 0.5
    xy = PCA(n_components=2, random_state=0).fit_transform(array / (norms + 1e-12))
    fig = Figure(figsize=(6.5, 5), layout="constrained")
    ax = fig.add_subplot()
    aligned = labels.reindex(vectors.index).fillna("other").astype(str)
    for label in aligned.value_counts().index[:10]:
        mask = (aligned == label).to_numpy()
        ax.scatter(xy[mask, 0], xy[mask, 1], s=7, alpha=0.7, label=label)
    ax.set(title=title, xlabel="PC1", ylabel="PC2")
    ax.legend(fontsize=7, markerscale=2)
    return fig
