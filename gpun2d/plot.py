"""A 2-D picture of the clustering: UMAP of the embedding, coloured twice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .devices import Device
from .handoff import to_numpy
from .manifold import UMAPParams, make_manifold


def project_2d(embedding: torch.Tensor, device: Device, n_neighbors: int = 20, seed: int = 0) -> np.ndarray:
    """2-D UMAP of the manifold embedding (on the run's device), as NumPy for plotting."""
    params = UMAPParams(n_components=2, n_neighbors=min(n_neighbors, embedding.shape[0] - 1), min_dist=0.0)
    return to_numpy(make_manifold(params, device, random_state=seed).fit_transform(embedding))


def plot_clusters(points: np.ndarray, labels: np.ndarray, path: Path, y_true: np.ndarray | None = None,
                  title: str = "") -> Path:
    """Scatter ``points`` coloured by predicted cluster (and by true label when given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("predicted clusters", labels)] + ([("true labels", y_true)] if y_true is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5.5), squeeze=False)
    size = max(0.5, min(8.0, 20000 / max(points.shape[0], 1)))
    for ax, (name, colours) in zip(axes[0], panels, strict=True):
        ax.scatter(points[:, 0], points[:, 1], c=colours, cmap="tab10" if np.max(colours) < 10 else "tab20",
                   s=size, linewidths=0, rasterized=True)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
