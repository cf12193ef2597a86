"""What each pipeline stage promises, and what it is built from.

``N2D`` runs the stages named in :mod:`gpun2d.registry` in order; each is a
class with ``from_context`` and the methods of its protocol below. All take
and return torch tensors on the run's device (conversion lives in
:mod:`gpun2d.handoff`). Every stage also saves and restores its fitted state
(:class:`Persistent`), which is how :mod:`gpun2d.persistence` keeps a model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    import torch

    from .devices import Device


@dataclass(frozen=True)
class StageContext:
    """Everything a stage implementation is configured from.

    ``params`` are the estimator's parameters (``N2D.get_params()``): each
    implementation reads the ones it understands.
    """

    params: Mapping[str, Any]
    n_clusters: int
    device: Device
    seed: int
    on_epoch: Callable[[int, float], None] | None = field(default=None, compare=False)
    on_step: Callable[[str, int, int], None] | None = field(default=None, compare=False)
    """Called as ``(stage, done, total)`` as a stage advances: UMAP's epochs, the clustering restarts."""


@runtime_checkable
class EmbeddingLearner(Protocol):
    """Stage ``autoencoder``: learns a representation of ``X``; ``transform`` gives the embedding."""

    history_: list[float]

    def fit(self, X: torch.Tensor) -> EmbeddingLearner: ...

    def transform(self, X: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class ManifoldLearner(Protocol):
    """Stage ``manifold``: a low-dimensional layout of the embedding, and of new points."""

    def fit_transform(self, Z: torch.Tensor) -> torch.Tensor: ...

    def transform(self, Z: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Clusterer(Protocol):
    """Stage ``cluster``: labels for the layout; ``record()`` is what the results file keeps."""

    def fit(self, X: torch.Tensor) -> Clusterer: ...

    def predict(self, X: torch.Tensor) -> torch.Tensor: ...

    def record(self) -> dict: ...


@runtime_checkable
class Persistent(Protocol):
    """A fitted stage that writes its state to files in a folder and reads it back on any device.

    ``save_state`` returns JSON-able metadata, with ``files`` naming what it
    wrote; ``load_state`` gets that metadata back. No file may need unpickling.
    """

    def save_state(self, folder: Path) -> dict: ...

    def load_state(self, folder: Path, meta: dict, device: torch.device) -> Persistent: ...
