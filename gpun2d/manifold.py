"""The manifold stage: UMAP on the autoencoder embedding.

cuML's UMAP on a CUDA device (handed device arrays, returning one; what cuML
itself copies to the host is listed in :class:`CumlManifold`), umap-learn on
the CPU; both take and return torch tensors. New points are placed by
:mod:`gpun2d.placement` on either device, from the fitted layout.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import NotFittedError

from .devices import Device, on_device
from .errors import ConfigError
from .handoff import to_device_array, to_numpy, to_torch
from .memory import pool_cuml_memory
from .placement import place
from .stages import StageContext
from .statefile import load_arrays, save_arrays, state_path

log = logging.getLogger(__name__)

INITS = ("spectral", "random", "pca")
KNN_SOURCES = ("umap", "exact")
STATE_FILE = "manifold.npz"


@dataclass(frozen=True)
class UMAPParams:
    """UMAP settings; the defaults are the paper's except ``n_components`` (= clusters).

    ``n_neighbors`` trades local for global structure; ``min_dist=0`` packs
    points of one cluster tightly, which suits clustering; ``n_components``
    is the dimension handed to the mixture.
    """

    n_components: int
    n_neighbors: int = 20
    min_dist: float = 0.0
    metric: str = "euclidean"
    init: str = "spectral"
    knn: str = "umap"
    build_algo: str = "brute_force_knn"

    def validate(self, n_samples: int) -> None:
        if self.n_components < 1:
            raise ConfigError(f"UMAP dimension must be >= 1, got {self.n_components}")
        if self.n_neighbors < 2:
            raise ConfigError(f"UMAP n_neighbors must be >= 2, got {self.n_neighbors}")
        if self.n_neighbors >= n_samples:
            raise ConfigError(
                f"UMAP n_neighbors ({self.n_neighbors}) must be smaller than the number of samples ({n_samples})"
            )
        if not 0.0 <= self.min_dist:
            raise ConfigError(f"UMAP min_dist must be >= 0, got {self.min_dist}")
        if self.init not in INITS:
            raise ConfigError(f"UMAP init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.knn not in KNN_SOURCES:
            raise ConfigError(f"UMAP knn must be one of {', '.join(KNN_SOURCES)}, got {self.knn!r}")


class UMAPManifold:
    """UMAP on one device; ``fit_transform`` then ``transform``. Subclasses supply the backend.

    Use :func:`make_manifold` (or the registry) to get the subclass for a device.
    """

    backend = ""

    def __init__(self, params: UMAPParams, device: Device, random_state: int | None = None):
        self.params, self.device, self.random_state = params, device, random_state
        self.model_ = None
        self.on_step = None  # (stage, done, total) as the layout's epochs pass, where the backend says

    @classmethod
    def from_context(cls, ctx: StageContext) -> UMAPManifold:
        p = ctx.params
        params = UMAPParams(n_components=p["umap_dim"] or ctx.n_clusters, n_neighbors=p["umap_neighbors"],
                            min_dist=p["umap_min_dist"], metric=p["umap_metric"], init=p["umap_init"],
                            knn=p["umap_knn"])
        manifold = cls(params, ctx.device, random_state=ctx.seed)
        manifold.on_step = ctx.on_step
        return manifold

    def build(self, init):
        """The backend's unfitted UMAP estimator."""
        raise NotImplementedError

    def _fit_transform(self, data):
        return self.model_.fit_transform(data)

    def fit_transform(self, Z: torch.Tensor) -> torch.Tensor:
        self.params.validate(Z.shape[0])
        Z = Z.float().contiguous()
        init = pca_layout(Z, self.params.n_components) if self.params.init == "pca" else self.params.init
        self.model_ = self.build(init)
        out = to_torch(self._fit_transform(to_device_array(Z)), device=Z.device, dtype=torch.float32)
        self.model_ = self.on_step = None  # new points are placed from the two tensors below (gpun2d.placement)
        self.train_input_, self.embedding_ = Z, out
        return out

    def transform(self, Z: torch.Tensor) -> torch.Tensor:
        """Layout positions of new points, each from its own nearest training points (batch-independent)."""
        if not hasattr(self, "embedding_"):
            raise NotFittedError("this manifold is not fitted yet; call fit_transform first")
        Z = Z.to(device=self.train_input_.device, dtype=torch.float32)
        return place(Z, self.train_input_, self.embedding_, self.params.n_neighbors)

    def save_state(self, folder: Path) -> dict:
        """Write the fitted layout to ``folder/manifold.npz``; returns what the model manifest keeps."""
        save_arrays(Path(folder) / STATE_FILE, {"train_input": to_numpy(self.train_input_),
                                                 "embedding": to_numpy(self.embedding_)})
        return {"files": [STATE_FILE], "n_neighbors": self.params.n_neighbors, "backend": self.backend}

    def load_state(self, folder: Path, meta: dict, device: torch.device) -> UMAPManifold:
        """Restore :meth:`save_state`'s layout onto ``device``; the model then transforms as when fitted."""
        arrays = load_arrays(state_path(folder, meta, STATE_FILE), ("train_input", "embedding"))
        self.train_input_ = torch.as_tensor(arrays["train_input"], dtype=torch.float32, device=device)
        self.embedding_ = torch.as_tensor(arrays["embedding"], dtype=torch.float32, device=device)
        return self


class UMAPLearnManifold(UMAPManifold):
    """umap-learn on the CPU."""

    backend = "umap-learn"

    def build(self, init):
        import umap

        p = self.params
        progress = None
        if self.on_step is not None:  # umap-learn reports its epochs only through tqdm: read its lines
            progress = {"file": EpochLines(self.on_step), "disable": False, "bar_format": "{n}/{total}",
                        "mininterval": 0.5}
        return umap.UMAP(n_neighbors=p.n_neighbors, min_dist=p.min_dist, n_components=p.n_components,
                         metric=p.metric, init=init, random_state=self.random_state, tqdm_kwds=progress)

    def _fit_transform(self, data):
        with warnings.catch_warnings():
            # umap-learn warns that a fixed random_state disables parallelism: we want repeatability
            warnings.filterwarnings("ignore", message=".*n_jobs.*overridden.*")
            return self.model_.fit_transform(data)


class EpochLines:
    """A file for tqdm that turns its ``done/total`` lines into ``on_step("manifold", done, total)``."""

    PATTERN = re.compile(r"(\d+)/(\d+)")

    def __init__(self, on_step):
        self.on_step = on_step

    def write(self, text: str) -> int:
        found = self.PATTERN.findall(text)
        if found:
            done, total = map(int, found[-1])
            self.on_step("manifold", done, total)
        return len(text)

    def flush(self) -> None:
        pass


class CumlManifold(UMAPManifold):
    """cuML's UMAP on a CUDA device, handed and returning device arrays (DLPack views, no copies).

    What stays on the GPU in cuML 26.10's ``UMAP.fit`` with the settings of
    :func:`build_cuml_umap`: the input (a float32 C-order CuPy view, taken as
    is), the k-NN graph (cuVS brute force; or :func:`exact_knn_graph`'s device
    arrays, used in place), the fuzzy simplicial set, the spectral or given
    start and every epoch of the layout, returned as a CuPy array. What cuML
    itself copies: the fuzzy graph to the host at every fit
    (``copy_device_graph_to_host`` in ``cpp/src/umap/runner.cuh``), then once
    more on the host into ``graph_`` (a SciPy COO matrix, up to 2·n·k edges),
    dropped with the model after the fit; and a few scalars (the largest edge
    weight, edge counts, whether a given k-NN graph lists each point first).
    ``build_algo='nn_descent'`` or ``knn_n_clusters > 1`` would make ``fit``
    copy the whole input to the host, so neither is used.
    """

    backend = "cuml.manifold.UMAP"

    def build(self, init):
        return build_cuml_umap(self.params, self.random_state, init=init)

    def _fit_transform(self, data):
        with on_device(self.device):
            pool_cuml_memory(self.device)  # once per GPU, unless an RMM resource was already chosen
            knn_graph = exact_knn_graph(data, self.params) if self.params.knn == "exact" else None
            return self.model_.fit_transform(data, knn_graph=knn_graph)


def make_manifold(params: UMAPParams, device: Device, random_state: int | None = None) -> UMAPManifold:
    """The UMAP implementation registered for ``device``, unfitted."""
    from .registry import lookup

    return lookup("manifold", "umap", device.type.value).load()(params, device, random_state)


def pca_layout(Z: torch.Tensor, n_components: int) -> torch.Tensor | object:
    """Leading principal components of ``Z``, scaled to UMAP's usual +-10 box, on Z's device."""
    centred = Z - Z.mean(dim=0)
    q = min(n_components, Z.shape[1])
    _, _, V = torch.pca_lowrank(centred, q=q, center=False)
    layout = centred @ V[:, :q]
    if q < n_components:  # fewer input dimensions than output ones: pad with zeros
        layout = torch.nn.functional.pad(layout, (0, n_components - q))
    layout = 10.0 * layout / layout.abs().max().clamp_min(1e-12)
    return to_device_array(layout.float().contiguous())


def build_cuml_umap(params: UMAPParams, random_state: int | None, init="spectral"):
    """cuML's UMAP with outputs kept on the device as CuPy arrays.

    ``build_algo='brute_force_knn'`` computes the exact k-NN graph (what
    umap-learn approximates), is deterministic under ``random_state``, and
    is fast on a GPU up to hundreds of thousands of points; ``nn_descent``
    ignores the seed. ``hash_input`` stays off: cuML hashes the input with
    joblib on a host copy (``X.get()``) at every fit and transform, which
    would pull the embedding off the device.
    """
    from cuml.manifold import UMAP

    return UMAP(
        n_neighbors=params.n_neighbors,
        min_dist=params.min_dist,
        n_components=params.n_components,
        metric=params.metric,
        init=init,
        random_state=random_state,
        build_algo=params.build_algo,
        hash_input=False,
        output_type="cupy",
    )


def build_cuml_neighbors(params: UMAPParams):
    """cuML's exact (brute-force) nearest neighbours, outputs on the device."""
    from cuml.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=params.n_neighbors, algorithm="brute", metric=params.metric,
                            output_type="cupy")


def exact_knn_graph(data, params: UMAPParams, neighbors=None) -> tuple:
    """``(indices, distances)`` of every point's ``n_neighbors`` nearest, itself first at distance 0.

    UMAP's ``knn_graph`` wants each point in its own column 0. Queried with
    ``X`` given, cuML would return whichever of several identical rows comes
    first, so a duplicated row could miss its own column; queried with
    ``X=None`` it leaves each point out of its own neighbours (as scikit-learn
    does), so the ``n_neighbors - 1`` others are asked for and the point is
    put in front. ``neighbors`` is an unfitted NearestNeighbors-like estimator
    (default: cuML's brute force); scikit-learn's gives the same graph on the CPU.
    """
    model = (neighbors if neighbors is not None else build_cuml_neighbors(params)).fit(data)
    distances, indices = model.kneighbors(None, n_neighbors=params.n_neighbors - 1)
    xp = _array_module(indices)
    own = xp.arange(indices.shape[0], dtype=indices.dtype)[:, None]
    indices = xp.concatenate([own, indices], axis=1)
    distances = xp.concatenate([xp.zeros_like(distances[:, :1]), distances], axis=1)
    return (indices, distances)


def _array_module(array):
    """CuPy for CuPy arrays (cuML's outputs), NumPy otherwise."""
    if type(array).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np
