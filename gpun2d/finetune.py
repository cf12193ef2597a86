"""A cluster-hardening fine-tune of the autoencoder after the first clustering (IDEC, Guo et al. 2017).

The embedding's cluster centres (the means of each first-pass cluster) become
trainable, each row gets a Student-t soft assignment ``q`` to them, and the
encoder is trained to move ``q`` towards the sharpened target ``p`` (``q``
squared over cluster frequency, renormalised, recomputed every epoch) while
the decoder keeps reconstructing: ``MSE + gamma * KL(p || q)``. N2D then runs
UMAP and the mixture again on the hardened embedding. Off by default
(``finetune_epochs=0``), as in the paper.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from .errors import DataError

GAMMA = 0.1
"""Weight of the clustering loss against reconstruction (IDEC's)."""


def soft_assignment(Z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Student-t (one degree of freedom) similarity of each row to each centre, rows summing to 1."""
    q = 1.0 / (1.0 + torch.cdist(Z, centers).pow(2))
    return q / q.sum(dim=1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """IDEC's sharpened targets: ``q`` squared over each cluster's frequency, rows renormalised."""
    weight = q.pow(2) / q.sum(dim=0)
    return weight / weight.sum(dim=1, keepdim=True)


def cluster_centers(Z: torch.Tensor, labels: torch.Tensor, n_clusters: int) -> torch.Tensor:
    """The mean embedding of each cluster (an empty cluster keeps the overall mean)."""
    labels = labels.to(Z.device, torch.long)
    sums = torch.zeros(n_clusters, Z.shape[1], device=Z.device, dtype=Z.dtype).index_add_(0, labels, Z)
    counts = torch.bincount(labels, minlength=n_clusters).to(Z.dtype)[:, None]
    return torch.where(counts > 0, sums / counts.clamp(min=1), Z.mean(dim=0))


def finetune(module: torch.nn.Module, X: torch.Tensor, labels: torch.Tensor, n_clusters: int, *, epochs: int,
             batch_size: int, lr: float, seed: int, gamma: float = GAMMA) -> tuple[torch.nn.Module, list[dict]]:
    """A copy of ``module`` fine-tuned as IDEC does; returns it and each epoch's mean losses.

    ``labels`` are the first clustering's (they place the initial centres);
    ``module`` itself is left as it was.
    """
    module = copy.deepcopy(module).train()
    with torch.no_grad():
        centers = torch.nn.Parameter(cluster_centers(module.encoder(X), labels, n_clusters))
    optimizer = torch.optim.Adam([*module.parameters(), centers], lr=lr)
    generator = torch.Generator(device=X.device).manual_seed(seed)
    history = []
    n = X.shape[0]
    for epoch in range(epochs):
        with torch.no_grad():
            target = target_distribution(soft_assignment(module.encoder(X), centers))
        order = torch.randperm(n, device=X.device, generator=generator)
        totals = torch.zeros(2, device=X.device)
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            xb = X[index]
            z = module.encoder(xb)
            reconstruction = F.mse_loss(module.decoder(z), xb)
            q = soft_assignment(z, centers)
            clustering = F.kl_div(q.log(), target[index], reduction="batchmean")
            optimizer.zero_grad()
            (reconstruction + gamma * clustering).backward()
            optimizer.step()
            totals += torch.stack([reconstruction.detach(), clustering.detach()]) * index.numel()
        reconstruction, clustering = (totals / n).tolist()
        if not (math.isfinite(reconstruction) and math.isfinite(clustering)):
            raise DataError(f"the fine-tune's loss became inf/NaN at epoch {epoch + 1}; try a smaller lr")
        history.append({"reconstruction": reconstruction, "clustering": clustering})
    return module.eval(), history
