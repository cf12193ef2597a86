"""One ``gpun2d run``: load data, fit N2D, score, and write the result folder."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import datasets, defaults
from .devices import Device, resolve_device
from .errors import ConfigError
from .estimator import N2D
from .handoff import to_numpy
from .memory import apply_memory_pool
from .metrics import evaluate
from .outputs import ResultFolder
from .persistence import write_model
from .report import RESULT_FILES, command_line, now_iso, package_versions, write_clusters_csv, write_json
from .version import __version__

log = logging.getLogger(__name__)


@dataclass
class DataSource:
    """Where a job's data comes from: a named dataset or the user's file (and its labels)."""

    dataset: str | None = None
    input_path: Path | None = None
    labels_path: Path | None = None
    label_column: str | None = None
    id_column: str | None = None
    data_dir: Path | None = None
    no_download: bool = False

    def validate(self) -> DataSource:
        if (self.dataset is None) == (self.input_path is None):
            raise ConfigError("give exactly one of dataset=NAME or input_path=FILE")
        if self.dataset is not None and (self.labels_path or self.label_column or self.id_column):
            raise ConfigError("labels_path, label_column and id_column go with input_path; "
                              "named datasets bring their labels")
        return self

    @property
    def name(self) -> str:
        return self.dataset if self.dataset is not None else Path(self.input_path).stem


@dataclass
class RunConfig:
    """Everything ``gpun2d run`` was asked to do: the data, the output, and N2D's parameters (``model``)."""

    source: DataSource
    out: Path
    model: dict = field(default_factory=dict)
    n_clusters: int | None = None
    memory_pool: str = defaults.MEMORY_POOL
    visualize: bool = False
    quiet: bool = False
    overwrite: bool = False

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> RunConfig:
        """Split a flat dict of options (the CLI's) into the source, the job's own settings and N2D's."""
        options = dict(options)
        source = DataSource(**{f.name: options.pop(f.name) for f in fields(DataSource) if f.name in options})
        job = {f.name: options.pop(f.name) for f in fields(cls) if f.name in options}
        unknown = sorted(set(options) - set(N2D._get_param_names()))
        if unknown:
            raise ConfigError(f"unknown run setting {', '.join(unknown)}")
        return cls(source=source.validate(), model=options, **job)

    @property
    def device(self) -> str:
        return self.model.get("device", defaults.DEVICE)

    @property
    def partial_dir(self) -> Path:
        """Where checkpoints live until the run completes."""
        return self.out.with_name(self.out.name + ".partial")


@dataclass
class LoadedData:
    X: np.ndarray
    y: np.ndarray | None
    info: dict = field(default_factory=dict)
    ids: np.ndarray | None = None
    columns: list[str] | None = None  # the feature columns' names, when the file has a header


def load_data(source: DataSource, device: Device, progress: bool = False) -> LoadedData:
    """The job's X and optional labels, from a named dataset or the user's file.

    Text tables are parsed by cuDF when the job runs on a GPU, by pandas otherwise.
    """
    engine = "cudf" if device.torch.type == "cuda" else "pandas"
    if source.dataset is not None:
        X, y = datasets.load(source.dataset, data_dir=source.data_dir, download=not source.no_download,
                             progress=progress, engine=engine)
        ids = None
        info = {"source": "dataset", "name": source.dataset}
    else:
        X, y, ids = datasets.load_file_with_ids(source.input_path, labels=source.labels_path,
                                                label_column=source.label_column, engine=engine,
                                                id_column=source.id_column)
        info = {"source": "file", "name": source.name, "path": str(source.input_path)}
    info.update(n_samples=int(X.shape[0]), n_features=int(X.shape[1]), has_labels=y is not None)
    columns = None
    if source.input_path is not None:
        columns = datasets.feature_columns(source.input_path, source.label_column, source.id_column)
        if columns is not None and len(columns) != X.shape[1]:
            columns = None
    return LoadedData(X, y, info, ids, columns)


def resolve_n_clusters(n_clusters: int | None, source: DataSource, data: LoadedData) -> int:
    """``n_clusters`` as given, else the dataset's class count, else the number of distinct labels."""
    if n_clusters is not None:
        return n_clusters
    if source.dataset is not None:
        return datasets.n_classes(source.dataset)
    if data.y is not None:
        classes = int(np.unique(data.y).size)
        if classes < 2:
            raise ConfigError(f"the labels hold only {classes} class{'es' * (classes != 1)}, too few to infer "
                              "the number of clusters from; give n_clusters=K (at least 2)")
        return classes
    raise ConfigError("data without labels needs n_clusters=K, the number of clusters to find")


def run_pipeline(
    config: RunConfig,
    on_epoch: Callable[[int, float], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    on_step: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Fit N2D as ``config`` says, write the result folder, return ``results.json``'s content.

    The folder is reserved before any work (writable, not an earlier result
    unless ``overwrite``) and appears complete at the end; it also holds the
    fitted model, which ``N2D.load`` and ``gpun2d predict`` read.
    """
    with ResultFolder(config.out, RESULT_FILES, overwrite=config.overwrite) as target:
        # before any CUDA memory is used
        apply_memory_pool(config.memory_pool, config.device, bool(config.model.get("cuda_graphs")))
        N2D.from_config(config.model).check_params()  # a bad parameter fails before the data loads
        if on_stage:
            on_stage("load")
        start = time.perf_counter()
        data = load_data(config.source, resolve_device(config.device), progress=not config.quiet)
        load_seconds = time.perf_counter() - start
        n_clusters = resolve_n_clusters(config.n_clusters, config.source, data)
        checkpointing = config.model.get("checkpoint_every") or config.model.get("resume")
        model = N2D.from_config(config.model, n_clusters=n_clusters, on_epoch=on_epoch, on_stage=on_stage,
                                on_step=on_step,
                                checkpoint_path=config.partial_dir / "checkpoint.pt" if checkpointing else None)
        model.fit(data.X if data.columns is None else pd.DataFrame(data.X, columns=data.columns, copy=False))
        labels = to_numpy(model.labels_tensor_)
        scores = evaluate(data.y, labels) if data.y is not None else None
        results = build_results(config, data, model, scores, load_seconds)

        if on_stage:
            on_stage("write")
        with target.staging() as folder:
            write_clusters_csv(labels, folder / "clusters.csv", data.y, ids=data.ids,
                               id_name=config.source.id_column or "id")
            np.save(folder / "embedding.npy", to_numpy(model.embedding_tensor_))
            results["files"] += write_model(model, folder)
            if config.visualize:
                results["files"] += write_figures(model, labels, data, folder)
            write_json(results, folder / "results.json")
    shutil.rmtree(config.partial_dir, ignore_errors=True)
    return results


def write_figures(model: N2D, labels: np.ndarray, data: LoadedData, folder: Path) -> list[str]:
    """embedding.png (2-D UMAP, clusters coloured as their matched classes), loss.png and, with
    labels, confusion.png; returns the names written."""
    from .plot import plot_clusters, plot_confusion, plot_loss, project_2d

    name = data.info["name"]
    points = project_2d(model.embedding_tensor_, model.device_, model.umap_neighbors, model.seed_)
    plot_clusters(points, labels, folder / "embedding.png", data.y, title=name)
    written = ["embedding.png"]
    if plot_loss(model.history_, folder / "loss.png", title=name) is not None:  # None when weights were loaded
        written.append("loss.png")
    if data.y is not None:
        plot_confusion(data.y, labels, folder / "confusion.png", title=name)
        written.append("confusion.png")
    return written


def build_results(config: RunConfig, data: LoadedData, model: N2D, scores: dict | None, load_seconds: float) -> dict:
    """The content of ``results.json``."""
    params = {k: v for k, v in model.get_params().items() if not callable(v)}
    settings = {**asdict(config.source), "n_clusters": model.n_clusters, "memory_pool": config.memory_pool,
                "out": config.out, "visualize": config.visualize, **params,
                "umap_dim": model.umap_dim or model.n_clusters}
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in settings.items()}
    return {
        "gpun2d": __version__,
        "created": now_iso(),
        "command": command_line(),
        "data": data.info,
        "config": settings,
        "metrics": scores,
        **(scores or {}),
        "timings": {"load": load_seconds, **model.timings_},
        "device": {"requested": config.device, "resolved": str(model.device_), "name": model.device_.describe(),
                   "backends": model.backends_},
        "versions": package_versions(),
        "training": {"epochs_run": len(model.history_), "final_loss": model.history_[-1] if model.history_ else None,
                     "loss_history": model.history_, "ae_weights": settings["ae_weights"]},
        "cluster": {**model.cluster_model_.record(),
                    "sizes": np.bincount(to_numpy(model.labels_tensor_), minlength=model.n_clusters).tolist()},
        "files": ["results.json", "clusters.csv", "embedding.npy"],
    }
