"""k-means for many restarts at once, in torch on ``X``'s own device.

Every restart has its own seed and its own ``torch.Generator``; all restarts
then share each pass over the samples: centres are shaped ``(R, k, d)`` and
one matrix product assigns every sample for every restart. The samples are
visited in chunks sized so that no intermediate exceeds ``memory_bytes``
(per-sample state of size ``R * n`` -- labels, distances -- is kept whole).
One host synchronisation per Lloyd iteration (whether any restart still moves).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

MEMORY_BYTES = 256 * 2**20
"""Default bound on the size of the intermediates of one chunk of samples."""


@dataclass
class KMeansBatch:
    """R k-means fits: ``labels`` (R, n), ``centers`` (R, k, d), ``inertia`` and ``n_iter`` (R,), as tensors.

    ``inertia_history[t]`` (R,) is the inertia of the assignment made with the
    centres of iteration ``t`` (the last entry is the final assignment's).
    """

    seeds: list[int]
    labels: torch.Tensor
    centers: torch.Tensor
    inertia: torch.Tensor
    n_iter: torch.Tensor
    inertia_history: list[torch.Tensor]


def chunk_rows(n: int, bytes_per_row: int, memory_bytes: int = MEMORY_BYTES) -> int:
    """Rows per chunk so that a chunk's intermediates (``bytes_per_row`` each row) fit ``memory_bytes``."""
    return int(max(1, min(n, memory_bytes // max(1, bytes_per_row))))


def squared_distances(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """(m, R, k) squared distances from rows of ``x`` (m, d) to ``centers`` (R, k, d), as one product."""
    R, k, d = centers.shape
    cross = (x @ centers.reshape(R * k, d).T).view(-1, R, k)
    dist = (x * x).sum(1)[:, None, None] - 2 * cross + (centers * centers).sum(2)[None]
    return dist.clamp_(min=0)


def assign(X: torch.Tensor, centers: torch.Tensor, chunk: int):
    """Nearest centre of every sample for every restart: labels (R, n), squared distances (R, n), inertia (R,)."""
    R = centers.shape[0]
    n = X.shape[0]
    labels = torch.empty((R, n), dtype=torch.long, device=X.device)
    nearest = torch.empty((R, n), dtype=X.dtype, device=X.device)
    for start in range(0, n, chunk):
        best, index = squared_distances(X[start:start + chunk], centers).min(dim=2)  # (m, R)
        labels[:, start:start + chunk] = index.T
        nearest[:, start:start + chunk] = best.T
    return labels, nearest, nearest.sum(1)


def cluster_sums(X: torch.Tensor, labels: torch.Tensor, n_clusters: int, chunk: int):
    """Per restart and cluster: sample counts (R, k) and coordinate sums (R, k, d).

    One-hot products rather than ``index_add_``: the same sums in the same order
    on every run (CUDA's atomic adds are not deterministic).
    """
    R, n = labels.shape
    counts = torch.zeros((R, n_clusters), dtype=X.dtype, device=X.device)
    sums = torch.zeros((R, n_clusters, X.shape[1]), dtype=X.dtype, device=X.device)
    for start in range(0, n, chunk):
        x = X[start:start + chunk]
        onehot = torch.nn.functional.one_hot(labels[:, start:start + chunk].T, n_clusters).to(X.dtype)  # (m, R, k)
        counts += onehot.sum(0)
        sums += torch.einsum("mrk,md->rkd", onehot, x)
    return counts, sums


def kmeans_plus_plus(X: torch.Tensor, n_clusters: int, generators: Sequence[torch.Generator], chunk: int):
    """Initial centres (R, k, d) by k-means++ D² sampling, each restart drawing from its own generator.

    The random numbers are drawn up front per restart (one uniform per centre,
    from CPU generators so that a seed picks the same samples on every device),
    so the sampling itself runs for all restarts at once by inverse CDF.
    """
    n, d = X.shape
    R = len(generators)
    draws = torch.stack([torch.rand(n_clusters, generator=g, dtype=torch.float64) for g in generators])
    draws = draws.to(device=X.device, dtype=X.dtype)
    first = (draws[:, 0] * n).long().clamp_(max=n - 1)
    centers = torch.empty((R, n_clusters, d), dtype=X.dtype, device=X.device)
    centers[:, 0] = X[first]
    _, nearest, _ = assign(X, centers[:, :1], chunk)
    for j in range(1, n_clusters):
        cdf = nearest.cumsum(1)
        target = draws[:, j:j + 1] * cdf[:, -1:]
        index = torch.searchsorted(cdf, target, right=True).clamp_(max=n - 1).squeeze(1)
        centers[:, j] = X[index]
        _, to_new, _ = assign(X, centers[:, j:j + 1], chunk)
        nearest = torch.minimum(nearest, to_new)
    return centers


def batched_kmeans(
    X: torch.Tensor,
    n_clusters: int,
    seeds: Sequence[int],
    *,
    max_iter: int = 300,
    tol: float = 1e-4,
    memory_bytes: int = MEMORY_BYTES,
) -> KMeansBatch:
    """k-means++ then Lloyd iterations for one restart per seed, all at once on ``X``'s device.

    Parameters
    ----------
    X : torch.Tensor (n, d)
        Samples, floating point; the computation stays on their device and dtype.
    n_clusters : int
    seeds : sequence of int
        One restart per seed; restart ``r`` seeds its own (CPU) generator with
        ``seeds[r]``, so a seed gives the same initial centres on any device.
    max_iter : int
        Lloyd iterations at most per restart.
    tol : float
        Relative tolerance as scikit-learn's: a restart stops (its centres are
        frozen) once its centres move by at most ``tol`` times the mean
        per-feature variance of ``X`` (squared distance summed over centres).
    memory_bytes : int
        Bound on the intermediates of one chunk of samples.

    Empty clusters are re-seeded at the samples farthest from their centres.
    The returned labels are the nearest-centre assignment of the final centres.
    """
    n, d = X.shape
    R, k = len(seeds), n_clusters
    chunk = chunk_rows(n, 8 * R * k * 4 + 8 * d, memory_bytes)
    generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
    centers = kmeans_plus_plus(X, k, generators, chunk)
    threshold = tol * X.var(dim=0, correction=0).mean()
    active = torch.ones(R, dtype=torch.bool, device=X.device)
    n_iter = torch.zeros(R, dtype=torch.long, device=X.device)
    history = []
    for _ in range(max_iter):
        labels, nearest, inertia = assign(X, centers, chunk)
        history.append(inertia)
        counts, sums = cluster_sums(X, labels, k, chunk)
        updated = sums / counts.clamp(min=1)[..., None]
        empty = counts == 0
        farthest = nearest.topk(k, dim=1).indices  # (R, k): the j-th empty cluster takes the j-th farthest sample
        rank = (empty.long().cumsum(1) - 1).clamp_(min=0)
        updated = torch.where(empty[..., None], X[farthest.gather(1, rank)], updated)
        shift = ((updated - centers) ** 2).sum((1, 2))
        centers = torch.where(active[:, None, None], updated, centers)
        n_iter += active.long()
        active &= shift > threshold
        if not bool(active.any()):  # the iteration's one host synchronisation
            break
    labels, nearest, inertia = assign(X, centers, chunk)
    history.append(inertia)
    return KMeansBatch([int(s) for s in seeds], labels, centers, inertia, n_iter, history)
