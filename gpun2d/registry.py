"""Which implementation runs each pipeline stage: ``(stage, name, device) -> implementation``.

The stages run in the order of :data:`STAGES`; each one is chosen by an
``N2D`` parameter (``embedder``, ``manifold``, ``cluster``) and the resolved
device. The CLI's choices, the study's ``--vary``, the progress lines, the
report columns and the bench's stage list are all read from here.

Adding a stage implementation is one module plus one :class:`Part` below. The
implementation is a class with ``from_context(ctx: StageContext)`` and the
methods of its stage's protocol (:mod:`gpun2d.stages`). Importing this module
loads nothing heavy: implementations are imported when first built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class Stage:
    """One step of ``C = F_cluster(F_manifold(F_autoencoder(X)))``."""

    key: str
    """Name in timings, reports and ``--vary`` (``ae`` is accepted for ``autoencoder``)."""
    param: str
    """The N2D parameter (and CLI option) choosing its implementation."""
    doing: str
    """Progress text while it runs."""
    short: str
    """Short name (``gpun2d study --vary``)."""
    attribute: str
    """The fitted estimator's attribute holding this stage's fitted implementation."""


STAGES: tuple[Stage, ...] = (
    Stage("autoencoder", "embedder", "training the autoencoder", "ae", "embedder_"),
    Stage("manifold", "manifold", "learning the manifold", "manifold", "manifold_"),
    Stage("cluster", "cluster", "clustering", "cluster", "cluster_model_"),
)
STAGE_KEYS = tuple(stage.key for stage in STAGES)


@dataclass(frozen=True)
class Part:
    """An implementation of one stage, by name, for one device type."""

    stage: str
    name: str
    device: str
    target: str
    """``module:attribute`` of the class, imported when first built."""
    backend: str
    """What runs it, as recorded in results (``umap-learn``, ``cuml.manifold.UMAP``)."""
    summary: str
    """One line for ``--help``."""

    def load(self) -> type:
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def build(self, ctx):
        """An unfitted implementation configured from a :class:`gpun2d.stages.StageContext`."""
        return self.load().from_context(ctx)


PARTS: tuple[Part, ...] = (
    Part("autoencoder", "mlp", "cpu", "gpun2d.embedder:AutoencoderEmbedder", "torch (cpu)",
         "the paper's MLP autoencoder d-500-500-2000-c"),
    Part("autoencoder", "mlp", "cuda", "gpun2d.embedder:AutoencoderEmbedder", "torch (cuda)",
         "the paper's MLP autoencoder d-500-500-2000-c"),
    Part("autoencoder", "conv", "cpu", "gpun2d.embedder:ConvEmbedder", "torch (cpu)",
         "convolutional denoising autoencoder for square images (rows of side x side pixels)"),
    Part("autoencoder", "conv", "cuda", "gpun2d.embedder:ConvEmbedder", "torch (cuda)",
         "convolutional denoising autoencoder for square images (rows of side x side pixels)"),
    Part("manifold", "umap", "cpu", "gpun2d.manifold:UMAPLearnManifold", "umap-learn", "UMAP (paper)"),
    Part("manifold", "umap", "cuda", "gpun2d.manifold:CumlManifold", "cuml.manifold.UMAP", "UMAP (paper)"),
    Part("cluster", "gmm", "cpu", "gpun2d.mixture:GaussianMixture", "scikit-learn GaussianMixture",
         "Gaussian mixture, full covariances (paper)"),
    Part("cluster", "gmm", "cuda", "gpun2d.mixture:GaussianMixture",
         "scikit-learn GaussianMixture on CUDA tensors, cuml.cluster.KMeans seeds",
         "Gaussian mixture, full covariances (paper)"),
    Part("cluster", "kmeans", "cpu", "gpun2d.kmeans:KMeans", "scikit-learn KMeans", "k-means"),
    Part("cluster", "kmeans", "cuda", "gpun2d.kmeans:KMeans", "cuml.cluster.KMeans", "k-means"),
)


def stage(key: str) -> Stage:
    """The stage called ``key`` (or its short name)."""
    for s in STAGES:
        if key in (s.key, s.short):
            return s
    raise ConfigError(f"unknown stage {key!r}; stages are {', '.join(STAGE_KEYS)}")


def names(stage_key: str) -> tuple[str, ...]:
    """Implementation names of a stage, in registry order (the first is the default)."""
    return tuple(dict.fromkeys(p.name for p in PARTS if p.stage == stage(stage_key).key))


def lookup(stage_key: str, name: str, device: str) -> Part:
    """The part implementing ``stage_key`` as ``name`` on ``device`` (``cpu`` or ``cuda``)."""
    s = stage(stage_key)
    for part in PARTS:
        if part.stage == s.key and part.name == name and part.device == device:
            return part
    if name not in names(s.key):
        raise ConfigError(f"{s.param}={name!r} is unknown; choose one of {', '.join(names(s.key))}")
    raise ConfigError(f"{s.param}={name!r} has no {device} implementation")


def doing(stage_key: str) -> str:
    """Progress text of a stage, or the key itself for steps outside the pipeline (load, write)."""
    for s in STAGES:
        if stage_key == s.key:
            return s.doing
    return stage_key


def backends(device: str, choices: dict[str, str] | None = None) -> dict[str, str]:
    """What runs each stage on ``device`` for the chosen implementations (default: each stage's first)."""
    choices = choices or {}
    return {s.key: lookup(s.key, choices.get(s.key, names(s.key)[0]), device).backend for s in STAGES}
