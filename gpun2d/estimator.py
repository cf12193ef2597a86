"""The N2D estimator: the registered stages (autoencoder -> manifold -> clusterer), wired together.

It validates, resolves the device once, builds each stage from
:mod:`gpun2d.registry`, runs them in order and records timings; the stages
themselves live in their own modules.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_feature_names, _check_n_features, check_is_fitted

from . import defaults, registry
from .devices import DeviceType, on_device, resolve_device
from .errors import ConfigError, DataError
from .handoff import as_tensor, like, require_finite
from .manifold import INITS, KNN_SOURCES
from .stages import StageContext

log = logging.getLogger(__name__)

class ParameterError(ConfigError, InvalidParameterError):
    """A parameter of N2D is outside its declared range: both scikit-learn's InvalidParameterError and
    gpun2d's ConfigError, so either kind of caller recognises it (here, not in gpun2d.errors, which
    must stay free of scikit-learn for the CLI's start-up)."""


def _cluster_model_has(method: str):
    """For :func:`available_if`: the fitted (or, unfitted, the chosen) clusterer offers ``method``."""

    def check(self) -> bool:
        if hasattr(self, "cluster_model_"):
            return hasattr(self.cluster_model_, method)
        try:
            return hasattr(registry.lookup("cluster", self.cluster, "cpu").load(), method)
        except ConfigError:
            return False

    return check


class N2D(ClusterMixin, TransformerMixin, BaseEstimator):
    """N2D clustering (McConville et al., 2019) with the paper's defaults.

    Parameters
    ----------
    n_clusters : int
        Number of clusters; also the autoencoder bottleneck width and, unless
        ``umap_dim`` is set, the UMAP dimension.
    embedder, manifold, cluster : str
        The implementation of each stage, by its name in :mod:`gpun2d.registry`:
        ``mlp`` (the paper's autoencoder), ``umap``, and ``gmm`` (full-covariance
        Gaussian mixture, the paper's) or ``kmeans``.
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
    finetune_epochs : int
        After the first clustering, fine-tune the autoencoder for this many
        epochs towards harder clusters (IDEC: reconstruction plus the KL
        divergence of a Student-t soft assignment from its sharpened target,
        :mod:`gpun2d.finetune`), then learn UMAP and cluster again. ``0``
        (default) is the paper's pipeline.
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
    client : dask.distributed.Client or None
        For Dask collections (``X`` a Dask DataFrame or Array): the cluster that
        draws the fit sample; without it Dask's current scheduler does.
    fit_sample : int or None
        Rows of a Dask collection the model is fitted on, drawn uniformly from
        a seed [default: all rows up to 100,000, fewer if free memory is short;
        ``fit_sample_`` says which]. ``predict``/``predict_proba``/``transform``
        of a Dask collection return a lazy one, computed by the workers.
        In-memory ``X`` is always fitted whole.
    on_step : callable(stage, done, total) or None
        Called as a stage advances: ``("manifold", epoch, epochs)`` where the
        backend reports UMAP's epochs (umap-learn), ``("cluster", restart, restarts)``.
    verbose : int
        ``0`` prints nothing; ``1`` prints each stage as it starts and the
        training loss every tenth of the epochs, on standard error.

    Attributes
    ----------
    labels_, embedding_ : cluster of each sample, and its manifold coordinates
        (the input's array type: NumPy in, NumPy out; tensors stay on device).
    embedder_, manifold_, cluster_model_ : the fitted stages
    history_ : list of float, loss per epoch
    timings_ : dict of seconds per stage (autoencoder, manifold, cluster, total)
    device_ : Device
    fit_sample_ : dict (Dask collections only): rows drawn, of how many, and what chose the size
    n_features_in_, feature_names_in_ : as in scikit-learn
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        # stage implementations are checked against the registry in fit, so a new entry needs no edit here
        "embedder": [str],
        "manifold": [str],
        "cluster": [str],
        "epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "hidden": [tuple, list],
        "umap_neighbors": [Interval(Integral, 2, None, closed="left")],
        "umap_min_dist": [Interval(Real, 0, None, closed="left")],
        "umap_dim": [Interval(Integral, 1, None, closed="left"), None],
        "umap_metric": [str],
        "umap_init": [StrOptions(set(INITS))],
        "umap_knn": [StrOptions(set(KNN_SOURCES))],
        "cluster_n_init": [Interval(Integral, 1, None, closed="left")],
        "finetune_epochs": [Interval(Integral, 0, None, closed="left")],
        "device": [StrOptions({d.value for d in DeviceType}), DeviceType, object],
        "random_state": ["random_state"],
        "ae_weights": [str, os.PathLike, None],
        "compile": ["boolean"],
        "cuda_graphs": ["boolean"],
        "bf16": ["boolean"],
        "checkpoint_path": [str, os.PathLike, None],
        "checkpoint_every": [Interval(Integral, 0, None, closed="left")],
        "resume": ["boolean"],
        "on_epoch": [callable, None],
        "on_stage": [callable, None],
        "on_step": [callable, None],
        "client": [object, None],
        "fit_sample": [Interval(Integral, 2, None, closed="left"), None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        embedder: str = defaults.EMBEDDER,
        manifold: str = defaults.MANIFOLD,
        cluster: str = defaults.CLUSTER,
        epochs: int = defaults.EPOCHS,
        batch_size: int = defaults.BATCH_SIZE,
        lr: float = defaults.LR,
        hidden: tuple = defaults.HIDDEN,
        umap_neighbors: int = defaults.UMAP_NEIGHBORS,
        umap_min_dist: float = defaults.UMAP_MIN_DIST,
        umap_dim: int | None = None,
        umap_metric: str = defaults.UMAP_METRIC,
        umap_init: str = defaults.UMAP_INIT,
        umap_knn: str = defaults.UMAP_KNN,
        cluster_n_init: int = defaults.CLUSTER_N_INIT,
        finetune_epochs: int = defaults.FINETUNE_EPOCHS,
        device: str = defaults.DEVICE,
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
        on_step: Callable[[str, int, int], None] | None = None,
        client: Any = None,
        fit_sample: int | None = None,
        verbose: int = 0,
    ):
        self.n_clusters = n_clusters
        self.embedder, self.manifold, self.cluster = embedder, manifold, cluster
        self.epochs, self.batch_size, self.lr, self.hidden = epochs, batch_size, lr, hidden
        self.umap_neighbors, self.umap_min_dist, self.umap_dim = umap_neighbors, umap_min_dist, umap_dim
        self.umap_metric, self.umap_init, self.umap_knn = umap_metric, umap_init, umap_knn
        self.cluster_n_init, self.finetune_epochs = cluster_n_init, finetune_epochs
        self.device, self.random_state, self.ae_weights = device, random_state, ae_weights
        self.compile, self.cuda_graphs, self.bf16 = compile, cuda_graphs, bf16
        self.checkpoint_path, self.checkpoint_every, self.resume = checkpoint_path, checkpoint_every, resume
        self.on_epoch, self.on_stage, self.on_step, self.verbose = on_epoch, on_stage, on_step, verbose
        self.client, self.fit_sample = client, fit_sample

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> N2D:
        """The one way gpun2d's jobs build an estimator: parameters from a mapping, plus overrides.

        Keys that are not parameters of N2D are ignored, so a job's whole
        settings can be passed; ``overrides`` must all be parameters.
        """
        names = cls._get_param_names()
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ConfigError(f"N2D has no parameter {', '.join(unknown)}")
        params = {name: config[name] for name in names if name in config}
        return cls(**{**params, **overrides})

    def __sklearn_clone__(self):
        """A clone sharing ``client`` (a connection to a cluster, which cannot be copied)."""
        client, self.client = self.client, None
        try:
            twin = super().__sklearn_clone__()
        finally:
            self.client = client
        twin.client = client
        return twin

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        return tags

    # ----------------------------------------------------------------- checks
    def _check_X(self, X, *, reset: bool) -> torch.Tensor:
        """``X`` as a float32 tensor on the fitted device, after every check scikit-learn expects."""
        try:
            _check_feature_names(self, X, reset=reset)
        except ValueError as exc:  # scikit-learn's wording, as a gpun2d error
            raise DataError(" ".join(str(exc).split())) from None
        tensor = as_tensor(X)
        for axis, what in ((0, "sample"), (1, "feature")):
            if tensor.shape[axis] == 0:
                raise DataError(f"X is empty: 0 {what}(s) (shape={tuple(tensor.shape)}) "
                                "while a minimum of 1 is required.")
        try:
            _check_n_features(self, tensor, reset=reset)
        except ValueError as exc:
            raise DataError(str(exc)) from None
        return require_finite(tensor.to(device=self.device_.torch, dtype=torch.float32))

    def _fewest_rows(self) -> dict[str, int]:
        """The fewest rows each of ``fit``'s size rules accepts: the mixture, UMAP's neighbours, its layout."""
        return {"clusters": max(2, self.n_clusters), "neighbours": self.umap_neighbors + 1,
                "layout": (self.umap_dim or self.n_clusters) + 2}

    def fewest_samples(self) -> int:
        """The fewest rows ``fit`` accepts with these parameters (before it counts distinct rows)."""
        return max(self._fewest_rows().values())

    def check_fit_sample(self, fit_sample: int | None) -> None:
        """A fit sample of ``fit_sample`` rows too few for these parameters fails before any row is read."""
        fewest = self.fewest_samples()
        if fit_sample is not None and fit_sample < fewest:
            raise ConfigError(f"fit_sample={fit_sample} is too few: the model needs at least {fewest} rows to fit "
                              "(more than umap_neighbors, at least n_clusters and umap_dim + 2)")

    def _check_size(self, X: torch.Tensor) -> None:
        n_samples, fewest = X.shape[0], self._fewest_rows()
        if n_samples < fewest["clusters"]:
            raise DataError(f"X has {n_samples} sample{'s' * (n_samples != 1)}, too few for "
                            f"n_clusters={self.n_clusters} (at least {fewest['clusters']} are needed)")
        if n_samples < fewest["neighbours"]:
            raise DataError(f"X has {n_samples} samples; UMAP needs more than umap_neighbors={self.umap_neighbors}")
        dim = self.umap_dim or self.n_clusters
        if self.umap_dim is not None and dim >= n_samples:
            raise DataError(f"umap_dim={dim} needs fewer dimensions than the {n_samples} samples of X; "
                            "a mixture in that many dimensions cannot be estimated")
        if n_samples < fewest["layout"]:
            raise DataError(f"X has {n_samples} samples; a UMAP layout in {dim} dimensions needs at least "
                            f"{fewest['layout']}")
        distinct = distinct_rows(X)
        if distinct < self.n_clusters:
            raise DataError(f"X has only {distinct} distinct rows, too few for n_clusters={self.n_clusters}")
        if distinct < n_samples / 2:
            warnings.warn(f"X has only {distinct} distinct rows out of {n_samples}: the clusters of data made "
                          "mostly of repeated rows reflect the repeats more than any structure", UserWarning,
                          stacklevel=3)

    def _check_device_options(self) -> None:
        """Refuse options that would do nothing on the resolved device (rather than record them as used)."""
        if self.device_.torch.type == "cuda":
            return
        for name, active, why in (
            ("umap_knn", self.umap_knn == "exact", "the exact k-NN graph comes from cuML NearestNeighbors"),
            ("cuda_graphs", bool(self.cuda_graphs), "CUDA graphs capture GPU work"),
        ):
            if active:
                value = "'exact'" if name == "umap_knn" else "True"
                raise ConfigError(f"{name}={value} needs the GPU ({why}), but this fit runs on the CPU; "
                                  f"drop it or use device='cuda'")

    # ------------------------------------------------------------------ stages
    def _hooks(self):
        """``on_stage`` and ``on_epoch``, with ``verbose`` lines added."""
        if not self.verbose:
            return self.on_stage, self.on_epoch
        every = max(1, self.epochs // 10)

        def on_stage(name: str) -> None:
            print(f"N2D: {registry.doing(name)}", file=sys.stderr, flush=True)
            if self.on_stage is not None:
                self.on_stage(name)

        def on_epoch(epoch: int, loss: float) -> None:
            if epoch % every == 0 or epoch == self.epochs:
                print(f"N2D: epoch {epoch}/{self.epochs}, loss {loss:.5f}", file=sys.stderr, flush=True)
            if self.on_epoch is not None:
                self.on_epoch(epoch, loss)

        return on_stage, on_epoch

    @contextmanager
    def _stage(self, name: str, on_stage):
        if on_stage is not None:
            on_stage(name)
        start = time.perf_counter()
        with on_device(self.device_):  # torch, CuPy, cuML and RMM all on the fitted GPU
            yield
        if self.device_.torch.type == "cuda":
            torch.cuda.synchronize(self.device_.torch)
        self.timings_[name] = self.timings_.get(name, 0.0) + time.perf_counter() - start  # a refit adds up

    def _part(self, stage: str) -> registry.Part:
        return registry.lookup(stage, getattr(self, registry.stage(stage).param), self.device_.type.value)

    def fit(self, X, y=None) -> N2D:
        """Train the autoencoder, learn the manifold and cluster; returns ``self``. ``y`` is ignored."""
        try:
            return self._fit(X)
        except InvalidParameterError as exc:  # scikit-learn's check of _parameter_constraints
            raise ParameterError(str(exc)) from None

    def check_params(self) -> N2D:
        """Check every parameter as ``fit`` does, without fitting (a saved model's, a job's); returns ``self``.

        Raises ConfigError for a parameter outside ``_parameter_constraints`` or
        the rules that table cannot state (:meth:`_check_joint_params`).
        """
        try:
            self._validate_params()
        except InvalidParameterError as exc:
            raise ParameterError(str(exc)) from None
        self._check_joint_params()
        return self

    def _check_joint_params(self) -> None:
        """The rules ``_parameter_constraints`` cannot state: the layer widths, and an integer seed leaving
        room for the consecutive seeds of ``cluster_n_init`` restarts (checked again, later, by the clusterer)."""
        from .kmeans import check_seed

        if not all(isinstance(width, Integral) and width >= 1 for width in self.hidden):
            raise ConfigError(f"hidden={self.hidden!r} must list positive integer layer widths")
        if isinstance(self.random_state, Integral):
            check_seed(int(self.random_state), self.cluster_n_init, "cluster_n_init")

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X) -> N2D:
        self._check_joint_params()  # before any training, like _fit_context's check of the table
        self.device_ = resolve_device(self.device)
        parts = {s.key: self._part(s.key) for s in registry.STAGES}  # unknown names fail before any work
        self._check_device_options()
        if is_dask(X):
            from .scale.collections import fit_rows

            self.check_fit_sample(self.fit_sample)
            seed = self.random_state if isinstance(self.random_state, Integral) else 0
            X, self.fit_sample_ = fit_rows(X, self.fit_sample, int(seed), self.device_, self.client)
        Xt = self._check_X(X, reset=True)
        self._check_size(Xt)
        rng = check_random_state(self.random_state)
        seed = int(self.random_state) if isinstance(self.random_state, Integral) else int(rng.randint(2**31 - 1))
        self.seed_ = seed
        on_stage, on_epoch = self._hooks()
        ctx = StageContext(self.get_params(), self.n_clusters, self.device_, seed, on_epoch=on_epoch,
                           on_step=self.on_step)
        self.timings_: dict[str, float] = {}
        start = time.perf_counter()
        with self._stage("autoencoder", on_stage):
            self.embedder_ = parts["autoencoder"].build(ctx).fit(Xt)
            Z = self.embedder_.transform(Xt)
        embedding, labels = self._lay_out_and_cluster(Z, parts, ctx, on_stage)
        if self.finetune_epochs:
            from .finetune import finetune

            with self._stage("finetune", on_stage):
                self.embedder_.module_, self.finetune_history_ = finetune(
                    self.embedder_.module_, Xt, labels, self.n_clusters, epochs=self.finetune_epochs,
                    batch_size=self.batch_size, lr=self.lr, seed=seed)
                Z = self.embedder_.transform(Xt)
            embedding, labels = self._lay_out_and_cluster(Z, parts, ctx, on_stage)
        self.timings_["total"] = time.perf_counter() - start
        self.history_ = list(self.embedder_.history_)
        self.backends_ = {key: part.backend for key, part in parts.items()}
        self.embedding_tensor_, self.labels_tensor_ = embedding, labels
        self.embedding_, self.labels_ = like(embedding, X), like(labels, X)
        return self

    def _lay_out_and_cluster(self, Z: torch.Tensor, parts: dict, ctx: StageContext, on_stage):
        """The manifold and cluster stages on the embedding ``Z``: its layout and each row's cluster."""
        with self._stage("manifold", on_stage):
            self.manifold_ = parts["manifold"].build(ctx)
            embedding = self.manifold_.fit_transform(Z)
        with self._stage("cluster", on_stage):
            self.cluster_model_ = parts["cluster"].build(ctx)
            labels = self.cluster_model_.fit(embedding).predict(embedding)
        return embedding, labels

    # -------------------------------------------------------------- inference
    def _embed(self, X) -> torch.Tensor:
        check_is_fitted(self, "labels_")
        Xt = self._check_X(X, reset=False)
        with on_device(self.device_):
            Z = self.embedder_.transform(Xt)
            bad = ~torch.isfinite(Z).all(dim=1)
            if bad.any():
                top = float(Xt.abs().max())
                raise DataError(f"the encoder's output overflows for {int(bad.sum())} rows of X (its values reach "
                                f"{top:.0e}); give new rows on the scale of the training data")
            return self.manifold_.transform(Z)

    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then return the training samples' manifold coordinates (``embedding_``)."""
        return self.fit(X, y).embedding_

    def fit_predict(self, X, y=None, **kwargs):
        """Fit, then return the training samples' clusters (``labels_``); for a Dask collection, which is
        fitted on a sample, every row's cluster, lazily (``predict``)."""
        self.fit(X, y)
        return self.predict(X) if is_dask(X) else self.labels_

    def _lazily(self, method: str, X):
        check_is_fitted(self, "labels_")
        from .scale.collections import apply_lazily

        return apply_lazily(self, method, X, self.client)

    def transform(self, X):
        """Manifold coordinates of new samples (encoder, then the fitted manifold)."""
        if is_dask(X):
            return self._lazily("transform", X)
        return like(self._embed(X), X)

    def predict(self, X):
        """Cluster of new samples: encoder -> manifold transform -> clusterer (lazily for a Dask collection)."""
        if is_dask(X):
            return self._lazily("predict", X)
        coordinates = self._embed(X)  # checks it is fitted first
        with on_device(self.device_):
            return like(self.cluster_model_.predict(coordinates), X)

    @available_if(_cluster_model_has("predict_proba"))
    def predict_proba(self, X):
        """Posterior probability of each cluster for new samples (mixture clusterers only)."""
        if is_dask(X):
            return self._lazily("predict_proba", X)
        coordinates = self._embed(X)
        with on_device(self.device_):
            return like(self.cluster_model_.predict_proba(coordinates), X)

    @available_if(_cluster_model_has("score_samples"))
    def score_samples(self, X):
        """Log-likelihood of new samples' manifold coordinates under the mixture (mixture clusterers only)."""
        if is_dask(X):
            return self._lazily("score_samples", X)
        coordinates = self._embed(X)
        with on_device(self.device_):
            return like(self.cluster_model_.score_samples(coordinates), X)

    def fitted_stage(self, key: str):
        """The fitted implementation of stage ``key`` (``autoencoder``, ``manifold``, ``cluster``)."""
        check_is_fitted(self, "labels_")
        return getattr(self, registry.stage(key).attribute)

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write the fitted model to the folder ``path`` (created; an existing one only with ``overwrite``).

        :meth:`load` reads it back on any device; see :mod:`gpun2d.persistence`.
        """
        from .outputs import ResultFolder
        from .persistence import MODEL_FILES, write_model

        check_is_fitted(self, "labels_")
        with ResultFolder(path, MODEL_FILES, overwrite=overwrite) as target, target.staging() as folder:
            write_model(self, folder)
        return Path(path)

    @classmethod
    def load(cls, path, device: str = "auto") -> N2D:
        """A fitted model saved by :meth:`save` or by ``gpun2d run`` (its result folder), on ``device``.

        Files are checked against their recorded checksums and nothing is unpickled;
        still, load only model folders you trust.
        """
        from .persistence import load_model

        return load_model(path, device, cls)

    @property
    def autoencoder_(self):
        """The trained network (``torch.nn.Module``) of the embedding stage."""
        check_is_fitted(self, "labels_")
        return self.embedder_.module_

    def save_autoencoder(self, path) -> None:
        """Write the trained autoencoder so later runs can skip training (``ae_weights``)."""
        check_is_fitted(self, "labels_")
        self.embedder_.save(path)


def is_dask(X) -> bool:
    """Whether ``X`` is a Dask collection (checked without importing Dask)."""
    return type(X).__module__.split(".")[0] == "dask"


def distinct_rows(X: torch.Tensor, chunk: int = 8192) -> int:
    """How many different rows ``X`` has (rows compared through a fixed random projection, in float64).

    Projected a chunk of rows at a time, so no float64 copy of the whole of X is made.
    """
    generator = torch.Generator(device="cpu").manual_seed(0)
    direction = torch.randn(X.shape[1], generator=generator, dtype=torch.float64).to(X.device)
    projected = torch.cat([X[i : i + chunk].double() @ direction for i in range(0, X.shape[0], chunk)])
    return int(torch.unique(projected).numel())
