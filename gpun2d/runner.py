"""One ``gpun2d run``: load data, fit N2D, score, and write the result folder."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import __version__, datasets, defaults
from .devices import resolve_device
from .errors import ConfigError, DataError
from .estimator import N2D
from .handoff import to_numpy
from .memory import apply_memory_pool
from .metrics import evaluate
from .report import (check_out_dir, command_line, now_iso, package_versions, staged_dir, write_clusters_csv,
                     write_json)

log = logging.getLogger(__name__)


@dataclass
class RunConfig:
    """Everything ``gpun2d run`` was asked to do."""

    dataset: str | None = None
    input_path: Path | None = None
    labels_path: Path | None = None
    label_column: str | None = None
    data_dir: Path | None = None
    no_download: bool = False
    n_clusters: int | None = None
    epochs: int = 1000
    batch_size: int = 256
    lr: float = 1e-3
    umap_neighbors: int = 20
    umap_min_dist: float = 0.0
    umap_dim: int | None = None
    umap_init: str = "spectral"
    umap_knn: str = "umap"
    cluster: str = "gmm"
    cluster_n_init: int = defaults.CLUSTER_N_INIT
    device: str = "auto"
    memory_pool: str = "torch"
    seed: int = 0
    ae_weights: Path | None = None
    compile_: bool = False
    cuda_graphs: bool = False
    bf16: bool = False
    checkpoint_every: int = 0
    resume: bool = False
    out: Path | None = None
    visualize: bool = False
    quiet: bool = False

    @classmethod
    def from_cli(cls, options: dict[str, Any]) -> "RunConfig":
        config = cls(**options)
        if (config.dataset is None) == (config.input_path is None):
            raise ConfigError("give exactly one of --dataset NAME or --input FILE")
        if config.dataset is not None and (config.labels_path or config.label_column):
            raise ConfigError("--labels and --label-column go with --input; named datasets bring their labels")
        return config

    @property
    def source_name(self) -> str:
        return self.dataset if self.dataset is not None else Path(self.input_path).stem

    @property
    def partial_dir(self) -> Path:
        """Where checkpoints live until the run completes."""
        return self.out.with_name(self.out.name + ".partial")


@dataclass
class LoadedData:
    X: np.ndarray
    y: np.ndarray | None
    info: dict = field(default_factory=dict)


def load_data(config: RunConfig, progress: bool = False) -> LoadedData:
    """The run's X and optional labels, from a named dataset or the user's file.

    Text tables are parsed by cuDF when the run is on a GPU, by pandas otherwise.
    """
    parser = "cuda" if resolve_device(config.device).is_cuda else "cpu"
    if config.dataset is not None:
        X, y = datasets.load(config.dataset, data_dir=config.data_dir, download=not config.no_download,
                             progress=progress, device=parser)
        info = {"source": "dataset", "name": config.dataset}
    else:
        X, y = datasets.load_file(config.input_path, labels=config.labels_path, label_column=config.label_column,
                                  device=parser)
        info = {"source": "file", "name": config.source_name, "path": str(config.input_path)}
    info.update(n_samples=int(X.shape[0]), n_features=int(X.shape[1]), has_labels=y is not None)
    return LoadedData(X, y, info)


def resolve_n_clusters(config: RunConfig, data: LoadedData) -> int:
    if config.n_clusters is not None:
        return config.n_clusters
    if config.dataset is not None:
        return datasets.n_classes(config.dataset)
    if data.y is not None:
        return int(np.unique(data.y).size)
    raise ConfigError("--n-clusters is needed for data without labels")


def make_estimator(config: RunConfig, n_clusters: int, on_epoch=None, on_stage=None) -> N2D:
    checkpoint = config.partial_dir / "checkpoint.pt" if (config.checkpoint_every or config.resume) else None
    return N2D(
        n_clusters, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
        umap_neighbors=config.umap_neighbors, umap_min_dist=config.umap_min_dist, umap_dim=config.umap_dim,
        umap_init=config.umap_init, umap_knn=config.umap_knn, cluster=config.cluster,
        cluster_n_init=config.cluster_n_init, device=config.device, random_state=config.seed,
        ae_weights=config.ae_weights, compile=config.compile_, cuda_graphs=config.cuda_graphs, bf16=config.bf16,
        checkpoint_path=checkpoint, checkpoint_every=config.checkpoint_every, resume=config.resume,
        on_epoch=on_epoch, on_stage=on_stage,
    )


def run_pipeline(
    config: RunConfig,
    on_epoch: Callable[[int, float], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> dict:
    """Fit N2D as ``config`` says, write the result folder, return ``results.json``'s content."""
    check_out_dir(config.out)  # fail before any heavy work
    apply_memory_pool(config.memory_pool, config.device)  # before any CUDA memory is used
    if on_stage:
        on_stage("load")
    start = time.perf_counter()
    data = load_data(config, progress=not config.quiet)
    load_seconds = time.perf_counter() - start
    n_clusters = resolve_n_clusters(config, data)
    if data.X.shape[0] < n_clusters:
        raise DataError(f"{data.X.shape[0]} samples cannot be split into {n_clusters} clusters")
    model = make_estimator(config, n_clusters, on_epoch, on_stage)
    model.fit(data.X)
    labels = to_numpy(model.labels_tensor_)
    scores = evaluate(data.y, labels) if data.y is not None else None
    results = build_results(config, data, model, n_clusters, scores, load_seconds)

    if on_stage:
        on_stage("write")
    with staged_dir(config.out) as folder:
        write_clusters_csv(labels, folder / "clusters.csv", data.y)
        np.save(folder / "embedding.npy", to_numpy(model.embedding_tensor_))
        model.save_autoencoder(folder / "autoencoder.pt")
        if config.visualize:
            from .plot import plot_clusters, project_2d

            points = project_2d(model.embedding_tensor_, model.device_, config.umap_neighbors, config.seed)
            plot_clusters(points, labels, folder / "embedding.png", data.y, title=data.info["name"])
            results["files"].append("embedding.png")
        write_json(results, folder / "results.json")
    shutil.rmtree(config.partial_dir, ignore_errors=True)
    return results


def build_results(config: RunConfig, data: LoadedData, model: N2D, n_clusters: int,
                  scores: dict | None, load_seconds: float) -> dict:
    """The content of ``results.json``."""
    cluster = model.cluster_model_
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    settings["compile"] = settings.pop("compile_")
    settings["n_clusters"] = n_clusters
    settings["umap_dim"] = config.umap_dim or n_clusters
    results = {
        "gpun2d": __version__,
        "created": now_iso(),
        "command": command_line(),
        "data": data.info,
        "config": settings,
        "metrics": scores,
        **(scores or {}),
        "timings": {"load": load_seconds, **model.timings_},
        "device": {"requested": config.device, "resolved": str(model.device_), "name": model.device_.describe(),
                   "backends": model.device_.backends},
        "versions": package_versions(),
        "training": {"epochs_run": len(model.history_), "final_loss": model.history_[-1] if model.history_ else None,
                     "loss_history": model.history_, "ae_weights": str(config.ae_weights) if config.ae_weights else None},
        "cluster": {
            "method": config.cluster, "n_init": config.cluster_n_init, "best_restart": cluster.best_restart_,
            "restarts": cluster.restarts_, "sizes": np.bincount(to_numpy(model.labels_tensor_), minlength=n_clusters).tolist(),
        },
        "files": ["results.json", "clusters.csv", "embedding.npy", "autoencoder.pt"],
    }
    return results
