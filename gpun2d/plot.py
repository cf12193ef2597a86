"""Figures of a run: the clustering in 2-D, the autoencoder's loss, the class x cluster table.

Clusters are matched one-to-one to the true classes by the Hungarian method (the matching
behind ACC), and a matched cluster wears its class's colour, so the two panels of the
2-D picture can be compared at a glance. matplotlib is imported inside the functions
(``import gpun2d.plot`` stays light) and every figure is drawn on its own Agg canvas,
without pyplot: no global backend switch, nothing left open. Files are written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic import atomic_path
from .devices import Device
from .errors import DataError
from .handoff import to_numpy
from .manifold import UMAPParams, make_manifold
from .metrics import cluster_acc, evaluate, matching

DPI = 120
LEGEND_ROWS = 20  # legend entries per column
LEGEND_MAX = 60  # entries listed before the legend ends with "... n more"
ANNOTATE_MAX = 20  # the confusion table writes its counts up to this many rows and columns

ClassNames = Sequence[str] | Mapping[Any, str] | None


def project_2d(embedding: torch.Tensor, device: Device, n_neighbors: int = 20, seed: int = 0) -> np.ndarray:
    """2-D UMAP of the manifold embedding (on the run's device), as NumPy for plotting."""
    params = UMAPParams(n_components=2, n_neighbors=min(n_neighbors, embedding.shape[0] - 1), min_dist=0.0)
    return to_numpy(make_manifold(params, device, random_state=seed).fit_transform(embedding))


@dataclass(frozen=True)
class Matching:
    """Clusters matched one-to-one to classes (Hungarian method on the contingency table).

    Attributes
    ----------
    classes, clusters : sorted distinct class values and cluster ids.
    table : contingency counts, rows ``classes``, columns ``clusters``.
    cluster_class : matched cluster -> its class; clusters left over (more clusters
        than classes) are absent.
    """

    classes: list
    clusters: list
    table: np.ndarray
    cluster_class: dict

    @property
    def order(self) -> list:
        """Clusters in matched order: by their class's rank, then the unmatched ones by id."""
        rank = {c: i for i, c in enumerate(self.classes)}
        matched = sorted(self.cluster_class, key=lambda k: rank[self.cluster_class[k]])
        return matched + [k for k in self.clusters if k not in self.cluster_class]

    def colour_index(self) -> tuple[dict, dict]:
        """Palette index of each cluster and each class.

        Class ``i`` (in sorted order) gets colour ``i``; a matched cluster its class's
        colour; unmatched clusters the next colours, ``len(classes)`` onwards.
        """
        class_index = {c: i for i, c in enumerate(self.classes)}
        cluster_index = {k: class_index[c] for k, c in self.cluster_class.items()}
        spare = [k for k in self.clusters if k not in self.cluster_class]
        cluster_index.update({k: len(self.classes) + j for j, k in enumerate(spare)})
        return cluster_index, class_index


def match_clusters(y_true: Any, labels: Any) -> Matching:
    """Match clusters to classes so that the most samples agree (the matching of ACC)."""
    y_true, labels = _as_labels(y_true, "y_true"), _as_labels(labels, "labels")
    if y_true.size != labels.size:
        raise DataError(f"y_true has {y_true.size} entries but labels has {labels.size}; pass one label per sample")
    table, rows, cols = matching(y_true, labels)  # rows and columns in np.unique order
    classes, clusters = np.unique(y_true).tolist(), np.unique(labels).tolist()
    return Matching(classes, clusters, table, {clusters[c]: classes[r] for r, c in zip(rows, cols, strict=True)})


def palette(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` distinct RGBA colours; the first ten are tab10, so small plots keep the usual colours.

    tab20's dark then light halves, tab20b and tab20c (darkest shade of each hue first),
    then evenly spread hues for anything beyond 60.
    """
    from matplotlib import colormaps, colors

    tab20 = colormaps["tab20"].colors
    base = list(tab20[0::2]) + list(tab20[1::2])
    for name in ("tab20b", "tab20c"):
        shades = colormaps[name].colors  # five hues x four shades
        base += [shades[i] for shade in range(4) for i in range(shade, 20, 4)]
    extra = [colors.hsv_to_rgb(((k * 0.618034) % 1.0, 0.75, 0.9 - 0.25 * (k % 2))) for k in range(n - len(base))]
    return [colors.to_rgba(c) for c in (base + extra)[:n]]


def cluster_colours(labels: Any, y_true: Any = None) -> dict:
    """Cluster id -> RGBA colour: its matched class's colour when ``y_true`` is given."""
    if y_true is None:
        clusters = np.unique(_as_labels(labels, "labels")).tolist()
        colours = palette(len(clusters))
        return {k: colours[i] for i, k in enumerate(clusters)}
    cluster_index, class_index = match_clusters(y_true, labels).colour_index()
    colours = palette(max([*cluster_index.values(), *class_index.values()]) + 1)
    return {k: colours[i] for k, i in cluster_index.items()}


def class_colours(y_true: Any) -> dict:
    """Class value -> RGBA colour, the colour its matched cluster wears in :func:`cluster_colours`."""
    classes = np.unique(_as_labels(y_true, "y_true")).tolist()
    colours = palette(len(classes))
    return {c: colours[i] for i, c in enumerate(classes)}


def plot_clusters(points: np.ndarray, labels: np.ndarray, path: Path, y_true: np.ndarray | None = None,
                  title: str = "", *, class_names: ClassNames = None, figsize: tuple[float, float] | None = None,
                  dpi: int = DPI) -> Path:
    """Scatter ``points`` coloured by cluster and, when ``y_true`` is given, by true class beside it.

    With ``y_true`` each cluster takes the colour of the class it is matched to (Hungarian
    method), clusters left over get colours no class uses, the legends read
    "cluster k → class c" and the title carries ACC, NMI and ARI. ``class_names`` (a
    sequence indexed by class value, or a mapping) names the classes in legends.
    ``figsize`` in inches (default: sized to the legends) and ``dpi`` set the image size.
    """
    points = np.asarray(to_numpy(points), dtype=float)
    labels = _as_labels(labels, "labels")
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] != labels.size:
        raise DataError(f"points must be (n, 2) with one row per label ({labels.size}), got shape {points.shape}")
    clusters = np.unique(labels).tolist()
    if y_true is None:
        cluster_index, class_index = {k: i for i, k in enumerate(clusters)}, {}
        entries = [(f"cluster {k}", i) for k, i in cluster_index.items()]
        panels = [("predicted clusters", labels, cluster_index, entries)]
        heading = f"{len(clusters)} clusters"
    else:
        y_true = _as_labels(y_true, "y_true")
        match = match_clusters(y_true, labels)
        cluster_index, class_index = match.colour_index()
        entries = [(f"cluster {k} → {_class_name(match.cluster_class[k], class_names)}" if k in match.cluster_class
                    else f"cluster {k} (unmatched)", cluster_index[k]) for k in match.order]
        class_entries = [(_class_name(c, class_names), i) for c, i in class_index.items()]
        panels = [("predicted clusters, in the colour of their matched class", labels, cluster_index, entries),
                  ("true classes", y_true, class_index, class_entries)]
        scores = evaluate(y_true, labels)
        heading = (f"ACC {scores['acc']:.3f} · NMI {scores['nmi']:.3f} · ARI {scores['ari']:.3f}"
                   f"   ({len(clusters)} clusters, {len(match.classes)} classes)")
    colours = np.asarray(palette(max([*cluster_index.values(), *class_index.values()]) + 1))
    if figsize is None:
        figsize = (sum(5.0 + _legend_width([e for e, _ in panel[3]]) for panel in panels), 5.6)

    fig = _figure(figsize)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    order = np.random.default_rng(0).permutation(labels.size)  # no class is drawn systematically on top
    size = max(0.5, min(8.0, 20000 / max(labels.size, 1)))
    for ax, (name, values, index, legend) in zip(axes, panels, strict=True):
        distinct, inverse = np.unique(values, return_inverse=True)
        lookup = np.array([index[v] for v in distinct.tolist()])
        ax.scatter(points[order, 0], points[order, 1], c=colours[lookup[inverse.ravel()[order]]], s=size,
                   linewidths=0, rasterized=True)
        ax.set_title(name, fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
        _legend(ax, [(text, colours[i]) for text, i in legend])
    fig.suptitle(f"{title}\n{heading}" if title else heading)
    return _save(fig, path, dpi)


def plot_loss(history: Sequence[float], path: Path, title: str = "", *,
              figsize: tuple[float, float] = (7.0, 4.5), dpi: int = DPI) -> Path | None:
    """The autoencoder's mean reconstruction loss per epoch; nothing is written for an empty history.

    The history is empty when the weights were loaded rather than trained: the function
    then returns None. The y-axis is logarithmic when the losses span more than a decade.
    """
    losses = np.asarray(to_numpy(history) if isinstance(history, torch.Tensor) else list(history), dtype=float)
    losses = losses.ravel()
    if losses.size == 0:
        return None
    epochs = np.arange(1, losses.size + 1)
    fig = _figure(figsize)
    ax = fig.subplots()
    ax.plot(epochs, losses, marker="o" if losses.size <= 50 else None, markersize=3, linewidth=1.5)
    finite = losses[np.isfinite(losses)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 10:
        ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("reconstruction loss (MSE)")
    ax.grid(True, which="major", alpha=0.3)
    heading = f"autoencoder loss: {losses[0]:.4g} → {losses[-1]:.4g} over {losses.size} epochs"
    ax.set_title(f"{title}\n{heading}" if title else heading, fontsize="medium")
    return _save(fig, path, dpi)


def plot_confusion(y_true: np.ndarray, labels: np.ndarray, path: Path, title: str = "", *,
                   class_names: ClassNames = None, figsize: tuple[float, float] | None = None,
                   dpi: int = DPI) -> Path:
    """Counts of true class x predicted cluster, clusters in matched order.

    Rows are the classes (sorted), columns the clusters ordered by the class each is
    matched to, then the unmatched ones, so a good clustering shows a dark diagonal; the
    matched cells are outlined, counts are written up to 20 x 20, and the title gives ACC.
    """
    match = match_clusters(y_true, labels)
    order = match.order
    table = match.table[:, [match.clusters.index(k) for k in order]]
    n_rows, n_cols = table.shape
    if figsize is None:
        figsize = (min(max(0.45 * n_cols + 3.0, 5.5), 18.0), min(max(0.38 * n_rows + 2.2, 4.5), 14.0))
    fig = _figure(figsize)
    ax = fig.subplots()
    image = ax.imshow(table, cmap="Blues", aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="samples", shrink=0.9)
    from matplotlib.patches import Rectangle

    rank = {c: i for i, c in enumerate(match.classes)}
    for j, k in enumerate(order):
        if k in match.cluster_class:
            ax.add_patch(Rectangle((j - 0.5, rank[match.cluster_class[k]] - 0.5), 1, 1, fill=False,
                                   edgecolor="darkorange", linewidth=1.5))
    if n_rows <= ANNOTATE_MAX and n_cols <= ANNOTATE_MAX:
        dark = table.max() / 2
        for (i, j), count in np.ndenumerate(table):
            ax.text(j, i, f"{count:d}" if count else "·", ha="center", va="center",
                    fontsize=8 if max(n_rows, n_cols) <= 12 else 6, color="white" if count > dark else "black")
    if n_cols <= 60:
        ax.set_xticks(range(n_cols), [str(k) for k in order], fontsize="small",
                      rotation=90 if n_cols > 20 else 0)
    if n_rows <= 60:
        ax.set_yticks(range(n_rows), [_class_name(c, class_names, bare=True) for c in match.classes],
                      fontsize="small")
    ax.set_xlabel("predicted cluster (ordered by matched class; unmatched last)")
    ax.set_ylabel("true class")
    heading = f"ACC {cluster_acc(y_true, labels):.3f}   ({n_cols} clusters, {n_rows} classes)"
    ax.set_title(f"{title}\n{heading}" if title else heading, fontsize="medium")
    return _save(fig, path, dpi)


def _as_labels(values: Any, name: str) -> np.ndarray:
    values = np.asarray(to_numpy(values) if isinstance(values, torch.Tensor) else values)
    if values.ndim != 1 and not (values.ndim == 2 and 1 in values.shape):
        raise DataError(f"{name} must be one label per sample, got shape {values.shape}")
    return values.ravel()


def _class_name(value: Any, class_names: ClassNames, bare: bool = False) -> str:
    if isinstance(class_names, Mapping):
        if value in class_names:
            return str(class_names[value])
    elif class_names is not None and isinstance(value, (int, np.integer)) and 0 <= value < len(class_names):
        return str(class_names[value])
    return str(value) if bare else f"class {value}"


def _legend_width(texts: list[str]) -> float:
    """Inches a legend of ``texts`` takes at the side (columns of LEGEND_ROWS, small font)."""
    shown = min(len(texts), LEGEND_MAX)
    columns = max(1, math.ceil(shown / LEGEND_ROWS))
    longest = max((len(t) for t in texts[:shown]), default=0)
    return columns * (0.35 + 0.072 * longest) + 0.2


def _legend(ax, entries: list[tuple[str, Any]]) -> None:
    """A legend at the right of ``ax``, outside the points, small markers, columns of LEGEND_ROWS."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], linestyle="", marker="o", markersize=5, markerfacecolor=colour,
                      markeredgewidth=0, label=text) for text, colour in entries]
    if len(handles) > LEGEND_MAX:
        rest = len(handles) - (LEGEND_MAX - 1)
        handles = handles[:LEGEND_MAX - 1] + [Line2D([], [], linestyle="", label=f"… {rest} more not listed")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False,
              fontsize="small", ncol=max(1, math.ceil(len(handles) / LEGEND_ROWS)), handletextpad=0.2,
              columnspacing=0.8, labelspacing=0.3)


def _figure(figsize: tuple[float, float]):
    """A figure on its own Agg canvas: no pyplot state, no backend switch for the caller's process."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path, dpi: int) -> Path:
    """Write ``fig`` to ``path`` atomically (format from the suffix, PNG by default)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".").lower() or "png")
    return path
