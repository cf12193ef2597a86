"""The paper's Table I on this machine: which manifold learner, on the raw data or the autoencoded embedding.

Eight methods share one trained autoencoder and one clusterer setting (the
same restarts and seed for every mixture): GMM on the raw data, AE + GMM, and
Isomap, t-SNE and UMAP each on the raw data (``+ GMM``) and on the embedding
(``N2D(...)``). Isomap and t-SNE are scikit-learn's; t-SNE lays points out in
2 dimensions (Barnes-Hut allows at most 3), the others in ``n_clusters``. A
method whose estimated memory exceeds what the machine has free is skipped,
with the estimate as the reason (the paper's Isomap exhausted 64 GB on MNIST).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .. import datasets, defaults, paper, registry
from ..devices import free_memory, resolve_device
from ..errors import ConfigError
from ..handoff import to_numpy, to_torch
from ..metrics import evaluate
from ..report import command_line, now_iso
from ..stages import StageContext
from ..version import __version__
from .machine import machine_info
from .table3 import seeded_subset

if TYPE_CHECKING:  # pragma: no cover
    from ..estimator import N2D

log = logging.getLogger(__name__)

ABLATION_FILES = ("ablation.json", "ablation.md")
MANIFOLDS = ("isomap", "tsne", "umap")
TSNE_DIM = 2
TSNE_PERPLEXITY = 30.0
"""t-SNE's perplexity (scikit-learn's default): it needs more rows than this."""
MEMORY_SHARE = 0.8
"""A method may use this share of the free memory; beyond its estimate it is skipped."""


@dataclass(frozen=True)
class Method:
    """One row of Table I: the input (raw data or the autoencoded embedding) and the manifold learner."""

    key: str
    label: str
    embedded: bool
    manifold: str | None


METHODS = (
    Method("gmm", "GMM", False, None),
    Method("ae-gmm", "AE + GMM", True, None),
    Method("isomap-gmm", "Isomap + GMM", False, "isomap"),
    Method("n2d-isomap", "N2D (Isomap)", True, "isomap"),
    Method("tsne-gmm", "t-SNE + GMM", False, "tsne"),
    Method("n2d-tsne", "N2D (t-SNE)", True, "tsne"),
    Method("umap-gmm", "UMAP + GMM", False, "umap"),
    Method("n2d", "N2D (UMAP)", True, "umap"),
)
METHOD_KEYS = tuple(m.key for m in METHODS)


@dataclass
class AblationSettings:
    """What to ablate: one dataset, the shared autoencoder's training, the clusterer's restarts."""

    dataset: str
    epochs: int = defaults.EPOCHS
    methods: tuple[str, ...] = METHOD_KEYS
    device: str = defaults.DEVICE
    data_dir: Path | None = None
    download: bool = True
    random_state: int = defaults.SEED
    cluster_n_init: int = defaults.CLUSTER_N_INIT
    max_samples: int | None = None
    batch_size: int = defaults.BATCH_SIZE

    def validate(self) -> None:
        datasets.get_spec(self.dataset)  # an unknown name fails before any work
        unknown = sorted(set(self.methods) - set(METHOD_KEYS))
        if unknown or not self.methods:
            raise ConfigError(f"methods must name some of {', '.join(METHOD_KEYS)}; got {', '.join(unknown) or 'none'}")
        if self.max_samples is not None:
            self._check_rows(self.max_samples)
        self.model().check_params()

    def _check_rows(self, rows: int) -> None:
        """``rows`` are enough for the mixture, Isomap's and UMAP's neighbours and, when chosen, t-SNE."""
        least = max(datasets.n_classes(self.dataset), defaults.UMAP_NEIGHBORS)
        if rows <= least:
            raise ConfigError(f"max_samples={rows} is too few for {self.dataset}: give more than {least}")
        tsne = [m.key for m in METHODS if m.key in self.methods and m.manifold == "tsne"]
        if tsne and rows <= TSNE_PERPLEXITY:
            raise ConfigError(f"max_samples={rows} is too few for t-SNE, which needs at least "
                              f"{int(TSNE_PERPLEXITY) + 1} rows (more than its perplexity, {TSNE_PERPLEXITY:g}): "
                              f"give a larger max_samples, or leave out {' and '.join(tsne)} (name the rows to run "
                              "with methods=KEY)")

    def model(self) -> N2D:
        """The N2D whose parameters every row shares (its stages are built one at a time, never fitted whole)."""
        from ..estimator import N2D

        return N2D.from_config({}, n_clusters=datasets.n_classes(self.dataset), epochs=self.epochs,
                               batch_size=self.batch_size, cluster_n_init=self.cluster_n_init,
                               random_state=self.random_state, device=self.device)


@dataclass
class Row:
    """What one method measured (or why it was skipped)."""

    key: str
    label: str
    status: str = "ran"
    reason: str | None = None
    estimate_bytes: int = 0
    seconds: dict = field(default_factory=dict)
    scores: dict | None = None


def estimate_bytes(method: Method, n: int, d: int, c: int) -> int:
    """Rough peak memory of ``method`` on ``n`` rows of ``d`` features (the embedding has ``c``)."""
    width = c if method.embedded else d
    data = 8 * n * width
    if method.manifold == "isomap":
        return data + 3 * 8 * n * n  # dense geodesic distances, their centred kernel, a working copy
    if method.manifold == "tsne":
        return data + 8 * n * int(3 * TSNE_PERPLEXITY) * 4  # 3 x perplexity neighbours, their distances, gradients
    if method.manifold == "umap":
        return data + 8 * n * defaults.UMAP_NEIGHBORS * 8
    return data + 8 * n * c * 4 + 8 * c * width * width * 3  # responsibilities; covariances and Choleskys


def free_bytes() -> int:
    """The host's free memory: Isomap and t-SNE run there, whatever the device."""
    return free_memory(resolve_device("cpu"))


def _load(settings: AblationSettings) -> tuple[np.ndarray, np.ndarray]:
    X, y = datasets.load(settings.dataset, data_dir=settings.data_dir, download=settings.download)
    return seeded_subset(X, y, settings.max_samples, settings.random_state)


def _manifold(name: str, data, ctx: StageContext, device):
    """``data`` laid out by the manifold learner ``name`` (UMAP through the registry, the others by scikit-learn)."""
    if name == "umap":
        part = registry.lookup("manifold", defaults.MANIFOLD, device.type.value)
        return part.build(ctx).fit_transform(data)
    host = to_numpy(data).astype(np.float64)
    if name == "isomap":
        from sklearn.manifold import Isomap

        return Isomap(n_neighbors=defaults.UMAP_NEIGHBORS, n_components=ctx.n_clusters).fit_transform(host)
    from sklearn.manifold import TSNE

    return TSNE(n_components=TSNE_DIM, perplexity=TSNE_PERPLEXITY, init="pca",
                random_state=ctx.seed).fit_transform(host)


def _cluster(data, ctx: StageContext, device) -> np.ndarray:
    """The shared clusterer (the paper's mixture, with the settings' restarts) on ``data``."""
    part = registry.lookup("cluster", defaults.CLUSTER, device.type.value)
    tensor = to_torch(data, device=device.torch)
    return to_numpy(part.build(ctx).fit(tensor).predict(tensor))


def run_ablation(settings: AblationSettings, on_method: Callable[[Row], None] | None = None,
                 on_start: Callable[[str], None] | None = None) -> dict:
    """Measure every method of ``settings`` on its dataset; returns the report (``ablation.json``).

    ``on_start(what)`` is called as the shared autoencoder and each row begin, ``on_method(row)`` as a row ends.
    """
    settings.validate()
    X, y = _load(settings)
    n_clusters = datasets.n_classes(settings.dataset)
    device = resolve_device(settings.device)
    model = settings.model()
    ctx = StageContext(model.get_params(), n_clusters, device, settings.random_state)
    Xt = to_torch(X, device=device.torch, dtype=torch.float32)
    chosen = [m for m in METHODS if m.key in settings.methods]
    embedding, ae_seconds = None, 0.0
    if any(m.embedded for m in chosen):
        if on_start is not None:
            on_start(f"training the shared autoencoder ({settings.epochs} epochs)")
        start = time.perf_counter()
        embedder = registry.lookup("autoencoder", defaults.EMBEDDER, device.type.value).build(ctx).fit(Xt)
        embedding = embedder.transform(Xt)
        ae_seconds = time.perf_counter() - start
    rows = []
    for method in chosen:
        row = Row(method.key, method.label)
        row.estimate_bytes = estimate_bytes(method, len(X), X.shape[1], n_clusters)
        budget = int(MEMORY_SHARE * free_bytes())
        if row.estimate_bytes > budget:
            row.status = "skipped"
            row.reason = (f"needs about {row.estimate_bytes / 2**30:.1f} GiB, more than the "
                          f"{budget / 2**30:.1f} GiB free here")
        else:
            if on_start is not None:
                on_start(method.label)
            data = embedding if method.embedded else Xt
            start = time.perf_counter()
            if method.manifold is not None:
                data = _manifold(method.manifold, data, ctx, device)
            laid_out = time.perf_counter()
            labels = _cluster(data, ctx, device)
            done = time.perf_counter()
            row.seconds = {"autoencoder": ae_seconds if method.embedded else 0.0,
                           "manifold": laid_out - start, "cluster": done - laid_out}
            row.seconds["total"] = sum(row.seconds.values())
            row.scores = evaluate(y, labels)
        rows.append(row)
        if on_method is not None:
            on_method(row)
    return {
        "gpun2d": __version__,
        "created": now_iso(),
        "command": command_line(),
        "machine": machine_info(),
        "device": {"resolved": str(device), "name": device.describe()},
        "data": {"name": settings.dataset, "n_samples": int(len(X)), "n_features": int(X.shape[1]),
                 "n_clusters": n_clusters},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
        "tsne_dim": TSNE_DIM,
        "paper": {"n2d": paper.SCORES.get(settings.dataset)},
        "methods": [asdict(row) for row in rows],
    }


def render_markdown(result: dict) -> str:
    """The report as a Markdown table: one row per method, scores and milliseconds per row."""
    data, settings = result["data"], result["settings"]
    lines = [
        f"# Table I on {data['name']} ({data['n_samples']:,} × {data['n_features']}, {data['n_clusters']} clusters)",
        "",
        f"Device: {result['device']['name']}. One autoencoder ({settings['epochs']} epochs, seed "
        f"{settings['random_state']}) shared by every N2D and AE row; every mixture has "
        f"{settings['cluster_n_init']} restarts. Isomap and UMAP lay out in {data['n_clusters']} dimensions, "
        f"t-SNE in {result['tsne_dim']}.",
        "",
        "| method | ACC | NMI | ARI | ms per row (AE + manifold + cluster) | paper ACC / NMI |",
        "|---|---|---|---|---|---|",
    ]
    paper_n2d = result["paper"]["n2d"]
    for row in result["methods"]:
        published = f"{paper_n2d['acc']:.3f} / {paper_n2d['nmi']:.3f}" if row["key"] == "n2d" and paper_n2d else "–"
        if row["status"] != "ran":
            lines.append(f"| {row['label']} | skipped: {row['reason']} | | | | {published} |")
            continue
        scores, seconds = row["scores"], row["seconds"]
        per_row = 1000 * seconds["total"] / data["n_samples"]
        lines.append(f"| {row['label']} | {scores['acc']:.3f} | {scores['nmi']:.3f} | {scores['ari']:.3f} | "
                     f"{per_row:.3f} | {published} |")
    return "\n".join(lines) + "\n"
