"""k-means on the device's arrays: cuML on CUDA, scikit-learn on the CPU.

Used on its own (``cluster="kmeans"``) and to initialise every restart of the
Gaussian mixture. Restarts are explicit so each one's inertia is recorded.

:class:`RestartClusterer` is the front both clusterers share (the Gaussian
mixture imports it from here): any array in, results in the caller's array
type out, one set of checks and one results-file record.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import defaults
from .devices import Device, on_device, resolve_device
from .errors import ConfigError, DataError
from .handoff import as_tensor, is_cupy, like, require_finite, to_device_array, to_numpy, to_torch
from .memory import pool_cuml_memory
from .statefile import load_arrays, save_arrays, state_path

if TYPE_CHECKING:  # pragma: no cover
    from .stages import StageContext

log = logging.getLogger(__name__)

STATE_FILE = "cluster.npz"

MAX_SEED = 2**32 - 1  # scikit-learn's and cuML's KMeans take seeds up to this


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
    ``None`` or a ``RandomState`` draws the first seed from it, as scikit-learn does.
    """
    check_param("n_init", n_init, Integral, 1)
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        base = int(random_state)
        check_seed(base, n_init)
    else:
        try:
            rng = check_random_state(random_state)
        except ValueError:
            raise ConfigError(
                f"random_state must be None, an integer or a numpy RandomState, got random_state={random_state!r}"
            ) from None
        base = int(rng.randint(0, 2**31 - 1 - n_init))
    return [base + i for i in range(n_init)]


def check_seed(seed: int, n_init: int, n_init_name: str = "n_init") -> None:
    """An integer seed leaves room for the consecutive seeds of ``n_init`` restarts (the last at most MAX_SEED).

    ``n_init_name`` is the caller's name for the restarts (N2D's ``cluster_n_init``).
    """
    if seed < 0:
        raise ConfigError(f"random_state must be an integer >= 0 (or None, or a RandomState), got random_state={seed}")
    if seed > MAX_SEED + 1 - n_init:
        raise ConfigError(
            f"random_state={seed} leaves no room for {n_init_name}={n_init} restarts, which take the seeds after it: "
            f"give a seed from 0 to {MAX_SEED + 1 - n_init}"
        )


def fit_kmeans_once(X: torch.Tensor, n_clusters: int, seed: int, device: Device, max_iter: int = 300) -> KMeansRun:
    """A single k-means (k-means++ init, one run) with the given seed."""
    data = to_device_array(X.to(device.torch))
    if device.is_cuda:
        model = build_cuml_kmeans(n_clusters, seed, max_iter)
    else:
        from sklearn.cluster import KMeans

        model = KMeans(n_clusters=n_clusters, n_init=1, max_iter=max_iter, random_state=seed)
    with on_device(device):  # cuML runs on the current GPU; nothing happens on the CPU
        pool_cuml_memory(device)  # once per GPU: not one cudaMalloc/cudaFree per allocation and restart
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


# ------------------------------------------------------------ shared front
def check_param(name: str, value: Any, kind: type, low: float) -> None:
    """Raise :class:`ConfigError` naming ``name`` unless ``value`` is a ``kind`` >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, kind) or not value >= low:
        what = "an integer" if kind is Integral else "a number"
        raise ConfigError(f"{name} must be {what} >= {low}, got {name}={value!r}")


def as_caller(result: torch.Tensor, X: Any):
    """``result`` as ``X``'s array type on ``X``'s device: NumPy in, NumPy out; tensors stay tensors."""
    if isinstance(X, torch.Tensor):
        return result.to(X.device)
    if is_cupy(X):
        return like(result.to(torch.device("cuda", X.device.id)), X)
    return like(result, X)


class RestartClusterer(ClusterMixin, BaseEstimator):
    """What :class:`KMeans` and the Gaussian mixture share.

    The public methods take any array (NumPy, torch on any device, CuPy),
    check it once and return results as the caller's array type on the
    caller's device. Subclasses work on torch tensors only: ``_place`` puts
    an input where the model computes, ``_fit`` sets the fitted attributes
    (``restarts_`` and ``best_restart_`` among them) and ``_predict`` labels
    samples.
    """

    _method: ClassVar[str]  # the clusterer's name in the results file
    _size_param: ClassVar[str]  # the parameter holding the number of clusters
    _min_samples: ClassVar[int] = 1
    _param_rules: ClassVar[tuple[tuple[str, type, float], ...]] = ()  # (name, kind, lowest value), checked by fit
    _state: ClassVar[tuple[str, ...]] = ()  # fitted tensors a saved model keeps
    _scalars: ClassVar[tuple[str, ...]] = ()  # fitted numbers a saved model keeps

    @classmethod
    def from_context(cls, ctx: StageContext) -> RestartClusterer:
        """The pipeline's clusterer: ``cluster_n_init`` restarts from the run's seed, on the run's device."""
        model = cls(ctx.n_clusters, n_init=ctx.params["cluster_n_init"], random_state=ctx.seed, device=ctx.device)
        model._on_restart = None if ctx.on_step is None else functools.partial(ctx.on_step, "cluster")
        return model

    def _restart_done(self, done: int, total: int) -> None:
        """Report progress after a restart, when the pipeline asked for it."""
        callback = getattr(self, "_on_restart", None)
        if callback is not None:
            callback(done, total)
            if done == total:
                self._on_restart = None  # the fitted model keeps no reference to a progress display

    def fit(self, X, y=None):
        """Fit ``n_init`` restarts on ``X`` and keep the best; returns ``self``."""
        self._fit(self._checked(X, fitting=True))
        return self

    def fit_predict(self, X, y=None):
        """Fit on ``X`` and return its labels (``X``'s array type)."""
        tensor = self._checked(X, fitting=True)
        self._fit(tensor)
        return as_caller(self._fit_labels(tensor), X)

    def predict(self, X):
        """Cluster of each sample of ``X``, as int64 labels in ``X``'s array type."""
        return as_caller(self._predict(self._checked(X)), X)

    def record(self) -> dict:
        """What the results file keeps about the clustering: method, restarts and the winner."""
        check_is_fitted(self, "restarts_")
        return {
            "method": self._method,
            "n_init": int(self.n_init),
            "best_restart": int(self.best_restart_),
            "restarts": [dict(restart) for restart in self.restarts_],
        }

    def save_state(self, folder: Path) -> dict:
        """Write the fitted parameters to ``folder/cluster.npz``; returns what the model manifest keeps."""
        check_is_fitted(self, "restarts_")
        save_arrays(Path(folder) / STATE_FILE, {name: to_numpy(getattr(self, name)) for name in self._state})
        return {"files": [STATE_FILE], "record": self.record(), "n_features_in": int(self.n_features_in_),
                "scalars": {name: getattr(self, name) for name in self._scalars}}

    def load_state(self, folder: Path, meta: dict, device: torch.device):
        """Restore :meth:`save_state`'s parameters onto ``device``; the model then predicts as when fitted."""
        arrays = load_arrays(state_path(folder, meta, STATE_FILE), self._state)
        for name, array in arrays.items():
            setattr(self, name, torch.as_tensor(array, device=device))
        record = meta["record"]
        self.restarts_, self.best_restart_ = [dict(r) for r in record["restarts"]], int(record["best_restart"])
        self.n_features_in_ = int(meta["n_features_in"])
        for name in self._scalars:  # only the numbers this class saves, whatever else the file holds
            setattr(self, name, meta["scalars"][name])
        self._restored(device)
        return self

    def _restored(self, device: torch.device) -> None:
        """Rebuild what :meth:`load_state` cannot set from arrays alone."""

    def _fit_labels(self, X: torch.Tensor) -> torch.Tensor:
        return self._predict(X)

    def _check_params(self) -> None:
        for name, kind, low in self._param_rules:
            check_param(name, getattr(self, name), kind, low)

    def _checked(self, X, fitting: bool = False) -> torch.Tensor:
        """``X`` as a tensor where the model computes, after every check that applies."""
        if fitting:
            self._check_params()
        else:
            check_is_fitted(self, "restarts_")
        tensor = self._place(as_tensor(X), fitting)
        n_samples, n_features = tensor.shape
        if fitting:
            k = getattr(self, self._size_param)
            if n_samples < k:
                raise DataError(f"X has {n_samples} samples, fewer than {self._size_param}={k}; "
                                f"pass more samples or ask for fewer clusters")
            if n_samples < self._min_samples:
                raise DataError(f"X has {n_samples} samples; {type(self).__name__} needs at least {self._min_samples}")
            if n_features < 1:
                raise DataError("X has no features")
        elif n_features != self.n_features_in_:
            raise DataError(f"X has {n_features} features, but this {type(self).__name__} was fitted on "
                            f"{self.n_features_in_}")
        require_finite(tensor)
        if fitting:
            self.n_features_in_ = n_features
        return tensor

    def _place(self, X: torch.Tensor, fitting: bool) -> torch.Tensor:
        raise NotImplementedError

    def _fit(self, X: torch.Tensor) -> None:
        raise NotImplementedError

    def _predict(self, X: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class KMeans(RestartClusterer):
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
        Where each restart's k-means runs: ``auto``, ``cpu`` or ``cuda``.

    Attributes
    ----------
    labels_, cluster_centers_ : torch.Tensor
        The best restart's labels (int64) and centres, on the fit input's
        device (tensors whatever the input's type; ``fit_predict`` and
        ``predict`` return the caller's type).
    inertia_ : float
    n_iter_ : int
    restarts_ : list of dict
        Every restart's seed, inertia, iterations and whether it won.
    best_restart_ : int
        Index of the winner in ``restarts_`` (the first of equal inertias).
    n_features_in_ : int
    """

    _method = "kmeans"
    _size_param = "n_clusters"
    _state = ("cluster_centers_",)
    _scalars = ("inertia_", "n_iter_")
    _param_rules = (("n_clusters", Integral, 1), ("n_init", Integral, 1), ("max_iter", Integral, 1))

    def __init__(self, n_clusters: int = 8, *, n_init: int = defaults.CLUSTER_N_INIT, max_iter: int = 300,
                 random_state=None, device="cpu"):
        self.n_clusters, self.n_init, self.max_iter = n_clusters, n_init, max_iter
        self.random_state, self.device = random_state, device

    def score(self, X, y=None) -> float:
        """Opposite of the inertia of ``X`` under the fitted centres (higher is better)."""
        X = self._checked(X)
        return -float(((X - self.cluster_centers_[self._predict(X)]) ** 2).sum())

    def _place(self, X: torch.Tensor, fitting: bool) -> torch.Tensor:
        if not fitting:
            return X.to(self.cluster_centers_)  # the centres' device and dtype
        return X if X.is_floating_point() else X.to(torch.float64)

    def _fit(self, X: torch.Tensor) -> None:
        seeds = restart_seeds(self.random_state, self.n_init)
        device = resolve_device(self.device)
        runs = []
        for seed in seeds:
            runs.append(fit_kmeans_once(X, self.n_clusters, seed, device, self.max_iter))
            self._restart_done(len(runs), len(seeds))
        best = min(range(len(runs)), key=lambda i: runs[i].inertia)
        self.labels_, self.cluster_centers_ = runs[best].labels, runs[best].centers
        self.inertia_, self.n_iter_ = runs[best].inertia, runs[best].n_iter
        self.best_restart_ = best
        self.restarts_ = [
            {"seed": r.seed, "inertia": r.inertia, "n_iter": r.n_iter, "best": i == best} for i, r in enumerate(runs)
        ]

    def _fit_labels(self, X: torch.Tensor) -> torch.Tensor:
        return self.labels_ if hasattr(self, "labels_") else self._predict(X)

    def _predict(self, X: torch.Tensor) -> torch.Tensor:
        return torch.cdist(X, self.cluster_centers_).argmin(dim=1)
