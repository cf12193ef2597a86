"""Table III of the N2D paper, measured here: minutes per stage per dataset.

Each dataset is clustered ``repeats`` times by :class:`gpun2d.N2D` at the
paper's settings (batch 256, UMAP 20 neighbours, ``min_dist=0``, dimension =
clusters, Gaussian mixture); the median and range of every stage's wall time
is reported beside the paper's RTX 2080 Ti figures, with ACC/NMI/ARI of the
same runs so that a speed-up never hides a loss of quality.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import datasets, defaults, paper, registry
from ..errors import ConfigError
from ..report import command_line, now_iso
from ..version import __version__
from .machine import machine_info

log = logging.getLogger(__name__)

PAPER_EPOCHS = defaults.EPOCHS
PAPER_BATCH_SIZE = defaults.BATCH_SIZE
PAPER_GPU = paper.GPU

#: The paper's Table III (minutes: autoencoder, manifold learner) and its ACC / NMI.
PAPER = {name: {**paper.MINUTES[name], **paper.SCORES[name]} for name in paper.MINUTES}
PAPER_DATASETS = tuple(PAPER)
STAGES = (*registry.STAGE_KEYS, "total")
SCORES = ("acc", "nmi", "ari")

RunCallback = Callable[[str, int, dict], None]


@dataclass
class BenchSettings:
    """What to benchmark; the defaults are the paper's settings on its six datasets.

    ``max_samples`` clusters a seeded random subset of each dataset (quick
    checks only: the timings are then not comparable to the paper's).
    ``cluster_n_init`` is gpun2d's default (``defaults.CLUSTER_N_INIT``; the paper: 1); the
    clustering time is reported but the paper's total has none. ``warmup``
    first fits a small slice once, untimed, so that one-time costs (UMAP's JIT
    compilation, CUDA and cuML start-up) do not land in the first timed run.
    """

    datasets: tuple[str, ...] = PAPER_DATASETS
    epochs: int = PAPER_EPOCHS
    repeats: int = 1
    device: str = defaults.DEVICE
    data_dir: Path | None = None
    download: bool = True
    random_state: int = defaults.SEED
    batch_size: int = PAPER_BATCH_SIZE
    cluster_n_init: int = defaults.CLUSTER_N_INIT
    max_samples: int | None = None
    compile: bool = False
    cuda_graphs: bool = False
    bf16: bool = False
    warmup: bool = True

    def validate(self) -> None:
        if not self.datasets:
            raise ConfigError("name at least one dataset (e.g. datasets=mnist-test)")
        for name in self.datasets:
            datasets.get_spec(name)  # unknown names fail before any heavy work
            least = max(datasets.n_classes(name), defaults.UMAP_NEIGHBORS)
            if self.max_samples is not None and self.max_samples <= least:
                raise ConfigError(f"max_samples={self.max_samples} is too few for {name} ({datasets.n_classes(name)} "
                                  f"clusters, UMAP with {defaults.UMAP_NEIGHBORS} neighbours): give more than {least}")
        if self.repeats < 1:
            raise ConfigError(f"repeats must be >= 1, got {self.repeats}")
        if self.epochs < 0:
            raise ConfigError(f"epochs must be >= 0, got {self.epochs}")
        if self.max_samples is not None and self.max_samples < 2:
            raise ConfigError(f"max_samples must be >= 2, got {self.max_samples}")

    @property
    def comparable(self) -> bool:
        """True when the settings match the paper's, so its minutes are a fair reference."""
        return (self.epochs == PAPER_EPOCHS and self.batch_size == PAPER_BATCH_SIZE
                and self.max_samples is None and not self.bf16)

    def model_params(self) -> dict:
        """The N2D parameters of every timed run (the bench's own settings stay out)."""
        names = ("epochs", "batch_size", "cluster_n_init", "device", "compile", "cuda_graphs", "bf16")
        return {name: getattr(self, name) for name in names}

    @property
    def source(self) -> dict:
        return {"data_dir": self.data_dir, "no_download": not self.download}


def run_table3(settings: BenchSettings, on_run: RunCallback | None = None) -> dict:
    """Time N2D on every dataset of ``settings``; returns the content of ``bench.json``.

    Parameters
    ----------
    settings : BenchSettings
    on_run : callable(dataset, repeat, run_record) or None
        Called after each run (progress output).

    Returns
    -------
    dict
        ``gpun2d``, ``created``, ``command``, ``settings``, ``device``
        (requested, resolved, name), ``machine`` (see
        :func:`~gpun2d.benchmarking.machine.machine_info`), ``paper``
        (gpu, epochs, minutes and scores per dataset), ``comparable_to_paper``,
        ``warmup_seconds`` (None without warm-up) and ``datasets``: one row
        per dataset (see :func:`summarise`).
    """
    from ..devices import resolve_device

    settings.validate()
    device = resolve_device(settings.device)
    rows, warmup_seconds, backends = [], None, None
    for name in settings.datasets:
        X, y = load_dataset(name, settings, device)
        if settings.warmup and warmup_seconds is None:
            warmup_seconds = warm_up(X, datasets.n_classes(name), settings, device)
        runs = []
        for repeat in range(settings.repeats):
            record, backends = time_one_run(X, y, datasets.n_classes(name), settings, device,
                                            settings.random_state + repeat)
            runs.append(record)
            if on_run is not None:
                on_run(name, repeat, record)
        rows.append(summarise(name, X.shape, datasets.n_classes(name), runs))
    return {
        "gpun2d": __version__,
        "created": now_iso(),
        "command": command_line(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
        "device": {"requested": settings.device, "resolved": str(device), "name": device.describe(),
                   "backends": backends},
        "machine": machine_info(device),
        "paper": {"gpu": PAPER_GPU, "epochs": PAPER_EPOCHS, "datasets": PAPER},
        "comparable_to_paper": settings.comparable,
        "warmup_seconds": warmup_seconds,
        "datasets": rows,
    }


def load_dataset(name: str, settings: BenchSettings, device) -> tuple[np.ndarray, np.ndarray]:
    """The dataset's X and y, or a seeded random subset of ``max_samples`` rows."""
    from ..runner import DataSource, load_data

    data = load_data(DataSource(dataset=name, **settings.source), device)
    return seeded_subset(data.X, data.y, settings.max_samples, settings.random_state)


def seeded_subset(X: np.ndarray, y: np.ndarray, size: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``size`` rows of ``X`` and ``y``, drawn from ``seed`` and kept in their order (all if None)."""
    if size is None or size >= X.shape[0]:
        return X, y
    rows = np.sort(np.random.default_rng(seed).choice(X.shape[0], size, replace=False))
    return np.ascontiguousarray(X[rows]), y[rows]


def warm_up(X: np.ndarray, n_clusters: int, settings: BenchSettings, device) -> float:
    """One small untimed fit (1 epoch, at most 1,000 samples); returns its seconds."""
    from ..estimator import N2D

    start = time.perf_counter()
    rows = min(X.shape[0], 1000)
    N2D.from_config(settings.model_params(), n_clusters=n_clusters, epochs=min(1, settings.epochs), cluster_n_init=1,
                    device=device, umap_neighbors=min(defaults.UMAP_NEIGHBORS, rows - 1)).fit(X[:rows])
    return time.perf_counter() - start


def time_one_run(X: np.ndarray, y: np.ndarray, n_clusters: int, settings: BenchSettings, device,
                 seed: int) -> tuple[dict, dict]:
    """One N2D fit: seconds per stage, scores, final training loss, peak GPU memory; and the stages' backends.

    ``torch_peak_memory_gib`` is what torch's allocator held at most (None on
    the CPU); cuML's own allocations are not in it.
    """
    import torch

    from ..estimator import N2D
    from ..handoff import to_numpy
    from ..metrics import evaluate

    model = N2D.from_config(settings.model_params(), n_clusters=n_clusters, device=device, random_state=seed)
    on_gpu = device.torch.type == "cuda"
    if on_gpu:
        torch.cuda.reset_peak_memory_stats(device.torch)
    model.fit(X)
    peak = torch.cuda.max_memory_allocated(device.torch) / 2**30 if on_gpu else None
    scores = evaluate(y, to_numpy(model.labels_tensor_))
    record = {"seed": seed, "seconds": {stage: float(model.timings_[stage]) for stage in STAGES}, **scores,
              "final_loss": model.history_[-1] if model.history_ else None, "torch_peak_memory_gib": peak}
    return record, model.backends_


def spread(values: list[float]) -> dict:
    """Median, minimum and maximum of ``values``."""
    return {"median": float(statistics.median(values)), "min": float(min(values)), "max": float(max(values))}


def summarise(name: str, shape: tuple[int, int], n_clusters: int, runs: list[dict]) -> dict:
    """One Table III row from the runs of one dataset.

    Keys: ``dataset``, ``n_samples``, ``n_features``, ``n_clusters``,
    ``minutes`` (per stage: median/min/max), ``scores`` (acc/nmi/ari:
    median/min/max), ``paper`` (the paper's row or None), ``speedup``
    (paper minutes / our median minutes for ``autoencoder``, ``manifold`` and
    ``total``, or None without a paper figure), ``runs`` (every run).
    Our total includes the clustering, which the paper's total leaves out.
    """
    minutes = {stage: spread([r["seconds"][stage] / 60 for r in runs]) for stage in STAGES}
    paper = PAPER.get(name)
    if paper is not None:
        paper = {**paper, "total_min": round(paper["autoencoder_min"] + paper["manifold_min"], 3)}
        ours = {stage: minutes[stage]["median"] for stage in ("autoencoder", "manifold", "total")}
        speedup = {stage: _ratio(paper[f"{stage}_min"], ours[stage]) for stage in ours}
    else:
        speedup = None
    return {
        "dataset": name, "n_samples": int(shape[0]), "n_features": int(shape[1]), "n_clusters": n_clusters,
        "minutes": minutes, "scores": {key: spread([r[key] for r in runs]) for key in SCORES},
        "paper": paper, "speedup": speedup, "runs": runs,
    }


def _ratio(paper_minutes: float, our_minutes: float) -> float | None:
    return paper_minutes / our_minutes if our_minutes > 0 else None
