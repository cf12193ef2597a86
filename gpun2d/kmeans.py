"""k-means on the device's arrays: cuML on CUDA, scikit-learn on the CPU.

Used on its own (``cluster="kmeans"``) and to initialise every restart of the
Gaussian mixture. Restarts are explicit so each one's inertia is recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_random_state

from . import defaults
from .devices import Device, resolve_device
from .errors import ConfigError
from .handoff import to_device_array, to_torch

log = logging.getLogger(__name__)


@dataclass
class KMeansRun:
    """One k-means fit: labels and centres as tensors on the input's device."""

    seed: int
    labels: torch.Tensor
    centers: torch.Tensor
    inertia: float
    n_iter: int


def restart_seeds(random_state, n_init: int) -> list[int]:
    """Seeds of ``n_init`` restarts; the first is ``random_state`` itself when it is an int.

    So ``n_init=1`` with seed ``s`` is exactly the single-init run with seed ``s``.
    """
    if n_init < 1:
        raise ConfigError(f"n_init must be >= 1, got {n_init}")
    if isinstance(random_state, (int, np.integer)):
        base = int(random_state)
    else:
        base = int(check_random_state(random_state).randint(0, 2**31 - 1 - n_init))
    return [base + i for i in range(n_init)]


def fit_kmeans_once(X: torch.Tensor, n_clusters: int, seed: int, device: Device, max_iter: int = 300) -> KMeansRun:
    """A single k-means (k-means++ init, one run) with the given seed."""
    data = to_device_array(X.to(device.torch))
    if device.is_cuda:
        model = build_cuml_kmeans(n_clusters, seed, max_iter)
    else:
        from sklearn.cluster import KMeans

        model = KMeans(n_clusters=n_clusters, n_init=1, max_iter=max_iter, random_state=seed)
    model.fit(data)
    return KMeansRun(
        seed=seed,
        labels=to_torch(model.labels_, device=X.device).long(),
        centers=to_torch(model.cluster_centers_, device=X.device, dtype=X.dtype),
        inertia=float(model.inertia_),
        n_iter=int(np.asarray(model.n_iter_).max()),
    )


def build_cuml_kmeans(n_clusters: int, seed: int, max_iter: int = 300):
    """cuML's KMeans (scalable k-means++ init), outputs kept on the device."""
    from cuml.cluster import KMeans

    return KMeans(n_clusters=n_clusters, n_init=1, max_iter=max_iter, random_state=seed, output_type="cupy")


class KMeans:
    """k-means with ``n_init`` recorded restarts; the lowest inertia wins.

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    n_init : int
        Independent restarts (own seed each); more restarts make a poor local
        optimum less likely.
    max_iter : int
        Lloyd iterations per restart.
    random_state : int, RandomState or None
        Seed of the first restart; the others use the following integers.
    device : str or Device
        ``auto``, ``cpu`` or ``cuda``.
    """

    def __init__(self, n_clusters: int = 8, *, n_init: int = defaults.CLUSTER_N_INIT, max_iter: int = 300, random_state=None, device="cpu"):
        self.n_clusters, self.n_init, self.max_iter = n_clusters, n_init, max_iter
        self.random_state, self.device = random_state, device

    def fit(self, X: torch.Tensor) -> "KMeans":
        device = resolve_device(self.device)
        runs = [fit_kmeans_once(X, self.n_clusters, s, device, self.max_iter) for s in restart_seeds(self.random_state, self.n_init)]
        best = min(range(len(runs)), key=lambda i: runs[i].inertia)
        self.labels_, self.cluster_centers_ = runs[best].labels, runs[best].centers
        self.inertia_, self.n_iter_ = runs[best].inertia, runs[best].n_iter
        self.best_restart_ = best
        self.restarts_ = [
            {"seed": r.seed, "inertia": r.inertia, "n_iter": r.n_iter, "best": i == best} for i, r in enumerate(runs)
        ]
        return self

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        return torch.cdist(X.to(self.cluster_centers_.dtype), self.cluster_centers_).argmin(dim=1)

    def fit_predict(self, X: torch.Tensor) -> torch.Tensor:
        return self.fit(X).labels_
