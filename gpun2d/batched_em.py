"""EM of a full-covariance Gaussian mixture for many restarts at once, in torch on ``X``'s device.

Parameters are shaped ``(R, k, ...)``; one pass over the samples per
iteration computes, for every restart, the E-step (through the precision
Cholesky factors, as scikit-learn's ``_estimate_log_gaussian_prob``) and the
sufficient statistics of the M-step (as ``_estimate_gaussian_parameters``).
The covariances are accumulated around the previous means, which keeps the
single pass as accurate as scikit-learn's two. Each iteration makes one host
synchronisation whatever R: which restarts converged (|change of the lower
bound| < tol; those are frozen from then on) and whether a Cholesky failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .batched_kmeans import MEMORY_BYTES, chunk_rows
from .errors import DataError

ILL_DEFINED = (
    "Fitting the mixture model failed because some components have ill-defined empirical covariance "
    "(for instance caused by singleton or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)


@dataclass
class EMBatch:
    """R EM fits: per restart ``lower_bound`` (R,), ``converged`` (R,) and ``n_iter`` (R,), and
    every restart's final ``weights`` (R, k), ``means`` (R, k, d), ``covariances`` and
    ``precisions_cholesky`` (R, k, d, d). ``best`` is the highest lower bound (first of equal)."""

    lower_bound: torch.Tensor
    converged: torch.Tensor
    n_iter: torch.Tensor
    weights: torch.Tensor
    means: torch.Tensor
    covariances: torch.Tensor
    precisions_cholesky: torch.Tensor
    best: int

    def parameters(self, restart: int | None = None) -> dict[str, torch.Tensor]:
        """One restart's fitted tensors (the best one's by default), named as scikit-learn's attributes."""
        r = self.best if restart is None else restart
        return {"weights_": self.weights[r], "means_": self.means[r], "covariances_": self.covariances[r],
                "precisions_cholesky_": self.precisions_cholesky[r]}


def em_rows(n: int, n_restarts: int, n_components: int, n_features: int, memory_bytes: int = MEMORY_BYTES) -> int:
    """Samples per chunk: three (m, R, k, d) and a few (m, R, k) float64 intermediates within ``memory_bytes``."""
    rk = n_restarts * n_components
    return chunk_rows(n, 8 * (3 * rk * n_features + 4 * rk + n_features), memory_bytes)


def hard_parameters(X: torch.Tensor, labels: torch.Tensor, n_components: int, reg_covar: float,
                    memory_bytes: int = MEMORY_BYTES):
    """Weights (R, k), means (R, k, d), precisions (R, k, d, d) of the Gaussians of R hard labellings (R, n).

    :func:`gpun2d.mixture.kmeans_parameters` for every restart at once, chunked over samples.
    """
    R, n = labels.shape
    d = X.shape[1]
    chunk = em_rows(n, R, n_components, d, memory_bytes)
    counts = torch.zeros((R, n_components), dtype=X.dtype, device=X.device)
    sums = torch.zeros((R, n_components, d), dtype=X.dtype, device=X.device)
    for start in range(0, n, chunk):
        onehot = torch.nn.functional.one_hot(labels[:, start:start + chunk].T, n_components).to(X.dtype)
        counts += onehot.sum(0)
        sums += torch.einsum("mrk,md->rkd", onehot, X[start:start + chunk])
    counts += 10 * torch.finfo(X.dtype).eps  # as scikit-learn: empty clusters stay finite
    means = sums / counts[..., None]
    scatter = torch.zeros((R, n_components, d, d), dtype=X.dtype, device=X.device)
    for start in range(0, n, chunk):
        onehot = torch.nn.functional.one_hot(labels[:, start:start + chunk].T, n_components).to(X.dtype)
        diff = X[start:start + chunk, None, None, :] - means  # (m, R, k, d)
        scatter += torch.einsum("mrkd,mrke->rkde", onehot[..., None] * diff, diff)
    covariances = scatter / counts[..., None, None] + reg_covar * torch.eye(d, dtype=X.dtype, device=X.device)
    precisions = torch.linalg.inv(covariances)
    precisions = (precisions + precisions.mT) / 2  # exact symmetry for Cholesky
    return counts / counts.sum(1, keepdim=True), means, precisions


def cholesky_of_precisions(precisions: torch.Tensor) -> torch.Tensor:
    """Upper-triangular U with U Uᵀ = precision, as scikit-learn's ``_compute_precision_cholesky_from_precisions``."""
    flipped = precisions.flip(-1, -2)
    return torch.linalg.cholesky(flipped).flip(-1, -2)


def precision_cholesky(covariances: torch.Tensor):
    """Cholesky factors of the precisions from covariances (…, d, d), and where the covariance was not PD.

    As scikit-learn's ``_compute_precision_cholesky``: ``solve(chol(cov), I).T``;
    ``cholesky_ex`` reports failures in a tensor instead of raising (which would synchronise).
    """
    chol, info = torch.linalg.cholesky_ex(covariances)
    eye = torch.eye(covariances.shape[-1], dtype=covariances.dtype, device=covariances.device)
    return torch.linalg.solve_triangular(chol, eye.expand_as(chol), upper=False).mT, info != 0


def weighted_log_prob(x: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, prec_chol: torch.Tensor):
    """log P(x | component) + log weight, (m, R, k), for a chunk ``x`` (m, d) under R mixtures."""
    R, k, d = means.shape
    log_det = torch.log(torch.diagonal(prec_chol, dim1=-2, dim2=-1)).sum(-1)  # (R, k)
    shift = torch.einsum("rkd,rkde->rke", means, prec_chol)
    y = (x @ prec_chol.permute(2, 0, 1, 3).reshape(d, R * k * d)).view(-1, R, k, d) - shift
    log_prob = -0.5 * (d * math.log(2 * math.pi) + y.square().sum(-1)) + log_det
    return log_prob + torch.log(weights)


def predict(X: torch.Tensor, weights, means, prec_chol, memory_bytes: int = MEMORY_BYTES) -> torch.Tensor:
    """Most probable component of every sample under each of R mixtures: (R, n) labels."""
    R, k, d = means.shape
    chunk = em_rows(X.shape[0], R, k, d, memory_bytes)
    return torch.cat([weighted_log_prob(X[s:s + chunk], weights, means, prec_chol).argmax(-1).T
                      for s in range(0, X.shape[0], chunk)], dim=1)


def em_step(X: torch.Tensor, weights, means, prec_chol, reg_covar: float, chunk: int):
    """One E-step and M-step for R restarts in one pass over ``X``.

    Returns the lower bound under the *incoming* parameters (R,) -- scikit-learn's
    ``mean(log_prob_norm)`` -- the new weights, means, covariances, precision
    Cholesky factors, and a (R,) flag of failed Cholesky factorisations.
    """
    n, d = X.shape
    R, k, _ = means.shape
    total = torch.zeros(R, dtype=X.dtype, device=X.device)
    nk = torch.zeros((R, k), dtype=X.dtype, device=X.device)
    sums = torch.zeros((R, k, d), dtype=X.dtype, device=X.device)
    scatter = torch.zeros((R, k, d, d), dtype=X.dtype, device=X.device)  # around the incoming means
    for start in range(0, n, chunk):
        x = X[start:start + chunk]
        wlp = weighted_log_prob(x, weights, means, prec_chol)  # (m, R, k)
        norm = torch.logsumexp(wlp, dim=-1)  # (m, R)
        resp = torch.exp(wlp - norm[..., None])
        total += norm.sum(0)
        nk += resp.sum(0)
        sums += torch.einsum("mrk,md->rkd", resp, x)
        diff = x[:, None, None, :] - means  # (m, R, k, d)
        scatter += torch.einsum("mrkd,mrke->rkde", resp[..., None] * diff, diff)
    mass = nk + 10 * torch.finfo(X.dtype).eps
    new_means = sums / mass[..., None]
    delta = new_means - means
    excess = sums - nk[..., None] * new_means  # 10 eps * mean: kept so the centring is exact
    outer = excess[..., :, None] * delta[..., None, :]
    scatter = scatter - outer - outer.mT - nk[..., None, None] * delta[..., :, None] * delta[..., None, :]
    covariances = scatter / mass[..., None, None] + reg_covar * torch.eye(d, dtype=X.dtype, device=X.device)
    new_prec_chol, failed = precision_cholesky(covariances)
    return total / n, mass / mass.sum(1, keepdim=True), new_means, covariances, new_prec_chol, failed.any(1)


def batched_em(
    X: torch.Tensor,
    weights: torch.Tensor,
    means: torch.Tensor,
    precisions: torch.Tensor,
    *,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    max_iter: int = 100,
    memory_bytes: int = MEMORY_BYTES,
) -> EMBatch:
    """EM from R initial parameter sets at once, as scikit-learn's ``GaussianMixture(covariance_type="full")``
    fitted from ``weights_init``, ``means_init``, ``precisions_init`` for each.

    Parameters
    ----------
    X : torch.Tensor (n, d)
        Samples (float64 for scikit-learn's accuracy); everything runs on their device.
    weights, means, precisions : torch.Tensor (R, k), (R, k, d), (R, k, d, d)
        Initial parameters of every restart.
    tol, reg_covar, max_iter :
        As scikit-learn's: a restart converges (and is frozen) once its lower
        bound changes by less than ``tol``; ``reg_covar`` is added to every
        covariance diagonal.
    memory_bytes : int
        Bound on the intermediates of one chunk of samples.
    """
    n, d = X.shape
    R, k, _ = means.shape
    weights, means = weights.clone(), means.clone()
    prec_chol = cholesky_of_precisions(precisions)
    covariances = torch.empty_like(prec_chol)
    lower_bound = torch.full((R,), -math.inf, dtype=X.dtype, device=X.device)
    converged = torch.zeros(R, dtype=torch.bool, device=X.device)
    n_iter = torch.zeros(R, dtype=torch.long, device=X.device)
    active = list(range(R))
    index = None  # the active restarts as a device tensor; None while all are active
    for iteration in range(1, max_iter + 1):
        chunk = em_rows(n, len(active), k, d, memory_bytes)
        if index is None:
            bound, w, m, cov, pc, failed = em_step(X, weights, means, prec_chol, reg_covar, chunk)
            done = (bound - lower_bound).abs() < tol
            weights, means, covariances, prec_chol, lower_bound = w, m, cov, pc, bound
            n_iter.fill_(iteration)
            converged = done
        else:
            bound, w, m, cov, pc, failed = em_step(X, weights[index], means[index], prec_chol[index], reg_covar,
                                                   chunk)
            done = (bound - lower_bound[index]).abs() < tol
            weights[index], means[index], covariances[index], prec_chol[index] = w, m, cov, pc
            lower_bound[index], n_iter[index], converged[index] = bound, iteration, done
        flags = torch.cat([done, failed.any().view(1)]).to("cpu", copy=True).tolist()  # the one host sync
        if flags[-1]:
            raise DataError(ILL_DEFINED)
        still = [r for r, stop in zip(active, flags[:-1], strict=True) if not stop]
        if not still:
            break
        if len(still) < len(active):
            active, index = still, torch.tensor(still, device=X.device)
    best = int(torch.argmax(lower_bound))  # the first of equal maxima
    return EMBatch(lower_bound, converged, n_iter, weights, means, covariances, prec_chol, best)
