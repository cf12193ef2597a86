"""The N2D estimator: autoencoder -> UMAP -> Gaussian mixture, wired together.

It validates, resolves the device once, runs each stage's module and records
timings; the stages themselves live in their own modules.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Callable

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils import check_random_state

from . import defaults
from .autoencoder import HIDDEN, AutoEncoder, encode, load_autoencoder, save_autoencoder
from .devices import Device, resolve_device
from .errors import ConfigError, DataError
from .handoff import like, to_torch
from .kmeans import KMeans
from .manifold import Manifold, UMAPParams
from .mixture import GaussianMixture
from .training import TrainOptions, train_autoencoder

log = logging.getLogger(__name__)

CLUSTERERS = ("gmm", "kmeans")


class N2D(ClusterMixin, BaseEstimator):
    """N2D clustering (McConville et al., 2019) with the paper's defaults.

    Parameters
    ----------
    n_clusters : int
        Number of clusters; also the autoencoder bottleneck width and, unless
        ``umap_dim`` is set, the UMAP dimension.
    epochs, batch_size, lr :
        Autoencoder training (Adam, MSE); the paper uses 1000, 256, 1e-3.
    hidden : tuple of int
        Encoder widths before the bottleneck; the decoder mirrors them.
    umap_neighbors, umap_min_dist, umap_dim, umap_metric :
        UMAP settings (paper: 20, 0.0, ``n_clusters``, euclidean). More
        neighbours favour global structure; ``min_dist=0`` packs clusters.
    umap_init, umap_knn :
        UMAP's starting layout (``spectral``, ``random``, ``pca``) and k-NN
        source (``umap``, or ``exact`` for cuML NearestNeighbors on the GPU);
        see :class:`gpun2d.manifold.UMAPParams`.
    cluster : {"gmm", "kmeans"}
        Full-covariance Gaussian mixture (paper) or k-means.
    cluster_n_init : int
        Clustering restarts, each from its own k-means seed; the best
        likelihood (k-means: lowest inertia) wins. ``1`` is the paper's
        single init; several restarts avoid merged-cluster local optima.
    device : {"auto", "cuda", "cpu"}
        ``auto`` uses the GPU when torch sees CUDA and cuML imports.
    random_state : int or None
        Seeds the autoencoder, UMAP and the mixture: same seed, same labels
        on the CPU.
    ae_weights : path or None
        Load a trained autoencoder instead of training one.
    compile, cuda_graphs, bf16, checkpoint_path, checkpoint_every, resume :
        Trainer options, see :class:`gpun2d.training.TrainOptions`.
    on_epoch : callable(epoch, loss) or None
        Called after every autoencoder epoch (progress bars).
    on_stage : callable(stage_name) or None
        Called as each stage starts.

    Attributes
    ----------
    labels_, embedding_ : cluster of each sample, and its UMAP coordinates
        (the input's array type: NumPy in, NumPy out; tensors stay on device).
    autoencoder_ : AutoEncoder
    history_ : list of float, loss per epoch
    timings_ : dict of seconds per stage (autoencoder, manifold, cluster, total)
    device_ : Device
    cluster_model_ : GaussianMixture or KMeans (its ``restarts_`` list every restart)
    """

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        epochs: int = 1000,
        batch_size: int = 256,
        lr: float = 1e-3,
        hidden: tuple = HIDDEN,
        umap_neighbors: int = 20,
        umap_min_dist: float = 0.0,
        umap_dim: int | None = None,
        umap_metric: str = "euclidean",
        umap_init: str = "spectral",
        umap_knn: str = "umap",
        cluster: str = "gmm",
        cluster_n_init: int = defaults.CLUSTER_N_INIT,
        device: str = "auto",
        random_state: int | None = None,
        ae_weights: str | None = None,
        compile: bool = False,
        cuda_graphs: bool = False,
        bf16: bool = False,
        checkpoint_path: str | None = None,
        checkpoint_every: int = 0,
        resume: bool = False,
        on_epoch: Callable[[int, float], None] | None = None,
        on_stage: Callable[[str], None] | None = None,
    ):
        self.n_clusters, self.epochs, self.batch_size, self.lr, self.hidden = n_clusters, epochs, batch_size, lr, hidden
        self.umap_neighbors, self.umap_min_dist, self.umap_dim = umap_neighbors, umap_min_dist, umap_dim
        self.umap_metric, self.umap_init, self.umap_knn = umap_metric, umap_init, umap_knn
        self.cluster, self.cluster_n_init = cluster, cluster_n_init
        self.device, self.random_state, self.ae_weights = device, random_state, ae_weights
        self.compile, self.cuda_graphs, self.bf16 = compile, cuda_graphs, bf16
        self.checkpoint_path, self.checkpoint_every, self.resume = checkpoint_path, checkpoint_every, resume
        self.on_epoch, self.on_stage = on_epoch, on_stage

    # ----------------------------------------------------------------- checks
    def _validate_params(self) -> None:
        if not isinstance(self.n_clusters, (int, np.integer)) or self.n_clusters < 2:
            raise ConfigError(f"n_clusters must be an integer >= 2, got {self.n_clusters!r}")
        if self.cluster not in CLUSTERERS:
            raise ConfigError(f"cluster must be one of {', '.join(CLUSTERERS)}, got {self.cluster!r}")
        if self.cluster_n_init < 1:
            raise ConfigError(f"cluster_n_init must be >= 1, got {self.cluster_n_init}")
        if self.umap_dim is not None and self.umap_dim < 1:
            raise ConfigError(f"umap_dim must be >= 1, got {self.umap_dim}")

    def _check_X(self, X, device: Device) -> torch.Tensor:
        try:
            tensor = to_torch(X)
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"X is not a numeric array: {exc}") from exc
        if tensor.ndim != 2:
            raise DataError(f"X must be 2-D (samples x features), got shape {tuple(tensor.shape)}")
        if not (tensor.is_floating_point() or tensor.dtype in (torch.uint8, torch.int16, torch.int32, torch.int64)):
            raise DataError(f"X must be numeric, got dtype {tensor.dtype}")
        tensor = tensor.to(device=device.torch, dtype=torch.float32)
        bad = ~torch.isfinite(tensor).all(dim=1)
        if bad.any():
            rows = torch.nonzero(bad).flatten()[:5].tolist()
            raise DataError(f"X has NaN or infinite values in {int(bad.sum())} rows (first: {rows}); clean or impute them first")
        if tensor.shape[0] < self.n_clusters:
            raise DataError(f"X has {tensor.shape[0]} samples, fewer than the {self.n_clusters} clusters asked for")
        if tensor.shape[0] <= self.umap_neighbors:
            raise DataError(
                f"X has {tensor.shape[0]} samples; UMAP needs more than umap_neighbors={self.umap_neighbors}"
            )
        if tensor.shape[1] < 1:
            raise DataError("X has no features")
        return tensor

    # ------------------------------------------------------------------ stages
    @contextmanager
    def _stage(self, name: str):
        if self.on_stage is not None:
            self.on_stage(name)
        start = time.perf_counter()
        yield
        if self.device_.is_cuda:
            torch.cuda.synchronize(self.device_.torch)
        self.timings_[name] = time.perf_counter() - start

    def fit(self, X, y=None) -> "N2D":
        """Train the autoencoder, embed with UMAP and cluster; returns ``self``."""
        self._validate_params()
        self.device_ = resolve_device(self.device)
        Xt = self._check_X(X, self.device_)
        rng = check_random_state(self.random_state)
        seed = int(self.random_state) if isinstance(self.random_state, (int, np.integer)) else int(rng.randint(2**31 - 1))
        self.seed_ = seed
        self.n_features_in_ = Xt.shape[1]
        self.timings_: dict[str, float] = {}
        start = time.perf_counter()

        with self._stage("autoencoder"):
            self.autoencoder_, self.history_ = self._fit_autoencoder(Xt, seed)
            Z = encode(self.autoencoder_, Xt)
        with self._stage("manifold"):
            params = UMAPParams(
                n_components=self.umap_dim or self.n_clusters,
                n_neighbors=self.umap_neighbors,
                min_dist=self.umap_min_dist,
                metric=self.umap_metric,
                init=self.umap_init,
                knn=self.umap_knn,
            )
            self.manifold_ = Manifold(params, self.device_, random_state=seed)
            embedding = self.manifold_.fit_transform(Z)
        with self._stage("cluster"):
            self.cluster_model_ = self._make_clusterer(seed)
            labels = self.cluster_model_.fit_predict(embedding)
        self.timings_["total"] = time.perf_counter() - start

        self.embedding_tensor_, self.labels_tensor_ = embedding, labels
        self.embedding_, self.labels_ = like(embedding, X), like(labels, X)
        return self

    def _fit_autoencoder(self, X: torch.Tensor, seed: int) -> tuple[AutoEncoder, list[float]]:
        if self.ae_weights is not None:
            model = load_autoencoder(self.ae_weights, self.device_.torch)
            if model.n_features != X.shape[1]:
                raise DataError(f"{self.ae_weights} expects {model.n_features} features but X has {X.shape[1]}")
            log.info("loaded autoencoder from %s; skipping training", self.ae_weights)
            return model, []
        torch_state = torch.random.get_rng_state()
        torch.manual_seed(seed)  # initial weights; restored below so callers' RNG is untouched
        try:
            model = AutoEncoder(X.shape[1], self.n_clusters, self.hidden).to(self.device_.torch)
        finally:
            torch.random.set_rng_state(torch_state)
        options = TrainOptions(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, compile=self.compile,
            cuda_graphs=self.cuda_graphs, bf16=self.bf16, checkpoint_path=self.checkpoint_path,
            checkpoint_every=self.checkpoint_every, resume=self.resume,
        )
        history = train_autoencoder(model, X, options, seed=seed, on_epoch=self.on_epoch)
        return model, history.losses

    def _make_clusterer(self, seed: int):
        if self.cluster == "kmeans":
            return KMeans(self.n_clusters, n_init=self.cluster_n_init, random_state=seed, device=self.device_)
        return GaussianMixture(self.n_clusters, n_init=self.cluster_n_init, random_state=seed, device=None)

    # -------------------------------------------------------------- inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
            raise ConfigError("this N2D is not fitted yet; call fit first")

    def transform(self, X):
        """UMAP coordinates of new samples (encoder, then the fitted UMAP)."""
        self._check_fitted()
        Xt = to_torch(X).to(device=self.device_.torch, dtype=torch.float32)
        if Xt.ndim != 2 or Xt.shape[1] != self.n_features_in_:
            raise DataError(f"X must have shape (n, {self.n_features_in_}), got {tuple(Xt.shape)}")
        return like(self.manifold_.transform(encode(self.autoencoder_, Xt)), X)

    def predict(self, X):
        """Cluster of new samples: encoder -> UMAP transform -> mixture."""
        embedding = to_torch(self.transform(X)).to(self.device_.torch)
        return like(self.cluster_model_.predict(embedding), X)

    def save_autoencoder(self, path) -> None:
        """Write the trained autoencoder so later runs can skip training (``ae_weights``)."""
        self._check_fitted()
        save_autoencoder(self.autoencoder_, path, epochs=len(self.history_), seed=self.seed_)
