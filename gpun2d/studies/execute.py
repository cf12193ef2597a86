"""Run a study: every planned run not already on disk, one JSON each, then the report.

A run is the pipeline for one seed (``--vary ae``), UMAP and the mixture on the
shared autoencoder (``manifold``), or the mixture alone on the shared
embedding (``cluster``). The shared autoencoder and embedding come from one
full fit with the first seed and are cached in ``OUT/cache``, so a resumed
study never trains them again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import defaults, registry
from ..devices import Device, resolve_device
from ..errors import ConfigError
from ..handoff import to_numpy
from ..metrics import evaluate
from ..outputs import FolderLock, check_writable
from ..report import now_iso, write_json
from ..runner import DataSource, LoadedData, load_data, resolve_n_clusters
from ..stages import StageContext
from ..version import __version__
from . import storage
from .plan import RunSpec, StudyConfig, plan_runs
from .report import build_study, group_runs, write_reports

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one run produced, before scoring."""

    labels: np.ndarray
    timings: dict[str, float]
    cluster: dict
    training: dict = field(default_factory=dict)


@dataclass
class Hooks:
    """Progress callbacks; all optional."""

    on_stage: Callable[[str], None] | None = None
    on_epoch: Callable[[int, float], None] | None = None
    on_run: Callable[[str], None] | None = None
    on_run_done: Callable[[str], None] | None = None
    on_start: Callable[[int, int], None] | None = None  # (runs in the study, runs already done)


@dataclass
class DatasetContext:
    name: str
    data: LoadedData
    n_clusters: int
    load_seconds: float
    shared: dict | None = None  # record of the shared autoencoder/embedding (--vary manifold|cluster)
    embedding: torch.Tensor | None = None  # the shared embedding, once --vary cluster loaded it


# ----------------------------------------------------------------- one run
def fit_pipeline(X: np.ndarray, n_clusters: int, seed: int, n_init: int, config: StudyConfig, device: Device,
                 ae_weights: Path | None = None, hooks: Hooks | None = None):
    """A fitted :class:`gpun2d.N2D` (the whole pipeline, or UMAP + mixture on given weights)."""
    from ..estimator import N2D

    hooks = hooks or Hooks()
    model = N2D.from_config(config.model_params(), n_clusters=n_clusters, cluster_n_init=n_init, device=device,
                            random_state=seed, ae_weights=ae_weights, on_epoch=hooks.on_epoch,
                            on_stage=hooks.on_stage)
    return model.fit(X)


def make_clusterer(config: StudyConfig, n_clusters: int, n_init: int, seed: int, device: Device):
    """The study's clusterer, unfitted, from the stage registry (as N2D builds it)."""
    params = {**config.model_params(), "cluster_n_init": n_init}
    return registry.lookup("cluster", config.cluster, device.type.value).build(
        StageContext(params, n_clusters, device, seed))


def run_one(spec: RunSpec, ctx: DatasetContext, config: StudyConfig, device: Device, hooks: Hooks) -> Outcome:
    """Execute one planned run; the shared autoencoder/embedding must already be cached."""
    if spec.vary == "cluster":
        if hooks.on_stage:
            hooks.on_stage("cluster")
        start = time.perf_counter()
        model = make_clusterer(config, ctx.n_clusters, spec.n_init, spec.mixture_seed, device)
        labels = model.fit(ctx.embedding).predict(ctx.embedding)
        if device.torch.type == "cuda":
            torch.cuda.synchronize(device.torch)
        seconds = time.perf_counter() - start
        return Outcome(to_numpy(labels), {"cluster": seconds, "total": seconds}, model.record())
    weights = None
    if spec.vary == "manifold":
        weights = storage.cache_paths(config.out, spec.dataset, config.shared_seed)["ae"]
    if config.batched:
        weights = storage.batched_paths(config.out, spec.dataset, spec.seed)["ae"]
    model = fit_pipeline(ctx.data.X, ctx.n_clusters, spec.seed, spec.n_init, config, device, weights, hooks)
    training = {"epochs_run": len(model.history_), "final_loss": model.history_[-1] if model.history_ else None}
    timings = dict(model.timings_)
    if config.batched:  # the autoencoder was trained with the other seeds': its share of that time
        meta = storage.load_json(storage.batched_paths(config.out, spec.dataset, spec.seed)["meta"])
        share = meta["seconds_together"] / len(meta["seeds_together"])
        timings["total"] += share - timings["autoencoder"]
        timings["autoencoder"] = share
        training = {"epochs_run": len(meta["losses"]), "final_loss": meta["losses"][-1] if meta["losses"] else None,
                    "batched_with_seeds": meta["seeds_together"], "seconds_together": meta["seconds_together"]}
    return Outcome(to_numpy(model.labels_tensor_), timings, model.cluster_model_.record(), training)


def train_together(ctx: DatasetContext, seeds: list[int], config: StudyConfig, device: Device, hooks: Hooks) -> None:
    """``--batched``: the autoencoders of ``seeds`` trained as one batched model, each saved to the cache."""
    from ..autoencoder import save_autoencoder
    from ..batched_training import train_seeds
    from ..embedder import AutoencoderEmbedder
    from ..training import TrainOptions

    seeds = [s for s in seeds if not storage.batched_paths(config.out, ctx.name, s)["meta"].exists()]
    if not seeds:
        return
    if hooks.on_run:
        hooks.on_run(f"{ctx.name}: {len(seeds)} autoencoders trained together (seeds {', '.join(map(str, seeds))})")
    X = torch.from_numpy(ctx.data.X).to(device.torch)
    options = TrainOptions(epochs=config.epochs, batch_size=config.batch_size)
    networks = [AutoencoderEmbedder(ctx.n_clusters, defaults.HIDDEN, options, device.torch, seed)
                .initial_network(X.shape[1]) for seed in seeds]
    start = time.perf_counter()
    histories = train_seeds(networks, X, options, seeds,
                            on_epoch=(lambda epoch, losses: hooks.on_epoch(epoch, max(losses))) if hooks.on_epoch
                            else None)
    seconds = time.perf_counter() - start
    for seed, network, history in zip(seeds, networks, histories, strict=True):
        paths = storage.batched_paths(config.out, ctx.name, seed)
        save_autoencoder(network, paths["ae"], epochs=config.epochs, seed=seed)  # atomic; the record last
        write_json({"created": now_iso(), "dataset": ctx.name, "seed": seed, "seeds_together": seeds,
                    "seconds_together": seconds, "losses": history.losses, "settings": shared_fingerprint(config)},
                   paths["meta"])


def stage_seeds(spec: RunSpec, config: StudyConfig) -> dict[str, int]:
    """Which seed drove each stage of a run."""
    fixed = config.shared_seed
    ae = spec.seed if spec.vary == "ae" else fixed
    umap = fixed if spec.vary == "cluster" else spec.seed
    return {"autoencoder": ae, "manifold": umap, "cluster": spec.mixture_seed}


def run_record(spec: RunSpec, outcome: Outcome, ctx: DatasetContext, config: StudyConfig, device: Device) -> dict:
    """The content of ``runs/<name>.json``."""
    return {
        "gpun2d": __version__,
        "created": now_iso(),
        "run": spec.name,
        "dataset": spec.dataset,
        "vary": spec.vary,
        "seed": spec.seed,
        "n_init": spec.n_init,
        "seeds": stage_seeds(spec, config),
        "settings": config.fingerprint(),
        "data": {**ctx.data.info, "n_clusters": ctx.n_clusters, "load_seconds": ctx.load_seconds},
        "metrics": evaluate(ctx.data.y, outcome.labels),
        "timings": outcome.timings,
        "cluster": outcome.cluster,
        "training": outcome.training,
        "device": {"requested": config.device, "resolved": str(device), "name": device.describe()},
        "labels": outcome.labels.astype(np.int64).tolist(),
    }


# ------------------------------------------------------------ shared stages
def as_settings(settings: dict) -> str:
    """``{'epochs': 2}`` -> ``epochs=2``, for messages."""
    return ", ".join(f"{key}={value!r}" for key, value in settings.items())


def shared_fingerprint(config: StudyConfig) -> dict:
    """The settings the shared autoencoder depends on (options added later only when used)."""
    shared = {"epochs": config.epochs, "batch_size": config.batch_size}
    if config.embedder != defaults.EMBEDDER:
        shared["embedder"] = config.embedder
    if config.finetune_epochs:
        shared["finetune_epochs"] = config.finetune_epochs
    return shared


def ensure_shared(ctx: DatasetContext, config: StudyConfig, device: Device, hooks: Hooks) -> dict:
    """Train (once) the autoencoder and embedding that --vary manifold/cluster hold fixed; return their record.

    The three cache files are written in order, the record last, so a record on
    disk means the weights and embedding beside it are complete.
    """
    seed = config.shared_seed
    paths = storage.cache_paths(config.out, ctx.name, seed)
    if paths["meta"].exists():
        meta = storage.load_json(paths["meta"])
        if meta["settings"] != shared_fingerprint(config):
            raise ConfigError(
                f"{paths['meta']} was made with {as_settings(meta['settings'])}, not "
                f"{as_settings(shared_fingerprint(config))}; resume with the same settings, "
                "or choose another out=FOLDER"
            )
        return meta
    if hooks.on_run:
        hooks.on_run(f"{ctx.name}: shared autoencoder + embedding (seed {seed})")
    model = fit_pipeline(ctx.data.X, ctx.n_clusters, seed, 1, config, device, hooks=hooks)
    model.save_autoencoder(paths["ae"])  # atomic
    storage.save_npy(to_numpy(model.embedding_tensor_), paths["embedding"])
    meta = {
        "created": now_iso(), "dataset": ctx.name, "seed": seed, "settings": shared_fingerprint(config),
        "timings": {key: model.timings_[key] for key in ("autoencoder", "manifold")},
        "training": {"epochs_run": len(model.history_), "final_loss": model.history_[-1] if model.history_ else None},
        "files": [str(p.relative_to(config.out)) for p in (paths["ae"], paths["embedding"])],
    }
    write_json(meta, paths["meta"])
    return meta


def load_context(name: str, config: StudyConfig, hooks: Hooks) -> DatasetContext:
    if hooks.on_stage:
        hooks.on_stage("load")
    source = DataSource(dataset=name, data_dir=config.data_dir, no_download=config.no_download)
    start = time.perf_counter()
    data = load_data(source, resolve_device(config.device), progress=False)
    return DatasetContext(name, data, resolve_n_clusters(None, source, data), time.perf_counter() - start)


# -------------------------------------------------------------- the study
def existing_record(spec: RunSpec, config: StudyConfig) -> dict | None:
    path = spec.path(config.out)
    if not path.exists():
        return None
    record = storage.load_json(path)
    if record.get("settings") != config.fingerprint():
        raise ConfigError(
            f"{path} was made with {as_settings(record.get('settings') or {})}, not "
            f"{as_settings(config.fingerprint())}; resume with the same settings, or choose another out=FOLDER"
        )
    return record


def run_study(config: StudyConfig, hooks: Hooks | None = None) -> dict:
    """Run whatever of the study is not on disk yet, then write the report; returns ``study.json``'s content."""
    hooks = hooks or Hooks()
    config.validate()
    out = Path(config.out)
    runs = plan_runs(config)
    storage.check_study_dir(out, config.resume or config.report_only)
    storage.check_same_study(out, {spec.name for spec in runs})
    done = {spec.name for spec in runs if existing_record(spec, config) is not None}
    if config.report_only:
        runs = [spec for spec in runs if spec.name in done]
        if not runs:
            raise ConfigError(f"{out} holds no finished run of this study; run it first (without report_only=True)")
    with storage.removed_if_empty(out):
        check_writable(out, out)  # before any work; the study writes its runs there as they finish
        with FolderLock(out):  # one study per folder: a second one would mix their runs
            return _run_pending(config, runs, done, hooks)


def _run_pending(config: StudyConfig, runs: list[RunSpec], done: set[str], hooks: Hooks) -> dict:
    out = Path(config.out)
    if not config.report_only:  # a study still running there may own those files
        storage.remove_stale_temps(out)
    pending = [spec for spec in runs if spec.name not in done]
    device = resolve_device(config.device)
    if hooks.on_start:
        hooks.on_start(len(runs), len(runs) - len(pending))

    ctx: DatasetContext | None = None
    for spec in pending:
        if ctx is None or ctx.name != spec.dataset:
            ctx = None  # free the previous dataset first
            ctx = load_context(spec.dataset, config, hooks)
        if spec.vary != "ae" and ctx.shared is None:
            ctx.shared = ensure_shared(ctx, config, device, hooks)
        if config.batched:
            train_together(ctx, [s.seed for s in pending if s.dataset == spec.dataset], config, device, hooks)
        if spec.vary == "cluster" and ctx.embedding is None:
            path = storage.cache_paths(out, spec.dataset, config.shared_seed)["embedding"]
            ctx.embedding = torch.from_numpy(np.load(path)).to(device.torch)
        if hooks.on_run:
            hooks.on_run(spec.name)
        record = run_record(spec, run_one(spec, ctx, config, device, hooks), ctx, config, device)
        write_json(record, spec.path(out))
        log.info("%s: ACC %.4f NMI %.4f", spec.name, record["metrics"]["acc"], record["metrics"]["nmi"])
        if hooks.on_run_done:
            hooks.on_run_done(spec.name)

    if hooks.on_stage:
        hooks.on_stage("write")
    records = [storage.load_json(spec.path(out)) for spec in runs]
    shared = {}
    if config.vary != "ae":
        for name in config.datasets:
            meta = storage.cache_paths(out, name, config.shared_seed)["meta"]
            shared[name] = storage.load_json(meta) if meta.exists() else None
    agreed = ensemble(records, config, hooks) if config.ensemble else None
    study = build_study(records, config, shared, agreed)
    write_reports(study, out)
    return study


def ensemble(records: list[dict], config: StudyConfig, hooks: Hooks) -> dict[tuple[str, int], dict]:
    """The consensus of each group's seeds (:mod:`gpun2d.consensus`), scored against the true labels."""
    from ..consensus import consensus

    truths: dict[str, np.ndarray] = {}
    agreed = {}
    for (name, n_init), group in group_runs(records).items():
        if name not in truths:
            truths[name] = load_context(name, config, hooks).data.y
        labels, agreement, rounds = consensus([r["labels"] for r in group], group[0]["data"]["n_clusters"])
        agreed[name, n_init] = {
            "metrics": evaluate(truths[name], labels), "seeds": [r["seed"] for r in group], "rounds": rounds,
            "agreement": {"mean": float(agreement.mean()), "unanimous": float((agreement == 1).mean())},
        }
    return agreed
