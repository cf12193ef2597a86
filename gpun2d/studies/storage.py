"""A study's working folder: every file written whole (:func:`gpun2d.atomic.atomic_path`) or not at all.

Layout of ``OUT/``::

    runs/<dataset>-<vary>-seed<S>[-restarts<R>].json   one finished run each
    cache/<dataset>-seed<S>-ae.pt                       autoencoder kept fixed (--vary manifold|cluster)
    cache/<dataset>-seed<S>-embedding.npy               its UMAP embedding (--vary cluster)
    cache/<dataset>-seed<S>.json                        how and how fast they were made
    study.json, study.md, study.png                     the report, rewritten at the end
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..atomic import TEMP_PREFIX, atomic_path
from ..errors import ConfigError, DataError


def save_text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_npy(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def load_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable study file ({exc}); delete it to redo that run") from exc


def remove_stale_temps(out: Path) -> None:
    """Temporary files left by a study that was killed mid-write."""
    for folder in (out / "runs", out / "cache", out):
        if folder.is_dir():
            for leftover in folder.glob(f"{TEMP_PREFIX}*"):
                leftover.unlink(missing_ok=True)


def check_study_dir(out: Path, resume: bool) -> None:
    """A new study needs an empty or absent folder; ``--resume`` needs nothing."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out={out} exists and is not a folder")
    if resume or not out.exists():
        return
    if any((out / "runs").glob("*.json")) or any((out / "cache").glob("*")):
        raise ConfigError(f"out={out} already holds a study; continue it with resume=True, "
                          "or choose another out=FOLDER")
    foreign = sorted(p.name for p in out.iterdir() if p.name not in ("runs", "cache"))
    if foreign:
        raise ConfigError(f"out={out} already holds other files ({', '.join(foreign[:3])}); choose a new folder")


def batched_paths(out: Path, dataset: str, seed: int) -> dict[str, Path]:
    """Where ``--batched`` keeps one seed's autoencoder, trained together with the others, and its record."""
    stem = Path(out) / "cache" / f"{dataset}-seed{seed}-batched"
    return {"ae": Path(f"{stem}-ae.pt"), "meta": Path(f"{stem}.json")}


def cache_paths(out: Path, dataset: str, seed: int) -> dict[str, Path]:
    stem = Path(out) / "cache" / f"{dataset}-seed{seed}"
    return {"ae": Path(f"{stem}-ae.pt"), "embedding": Path(f"{stem}-embedding.npy"), "meta": Path(f"{stem}.json")}
