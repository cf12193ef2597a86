"""A study's working folder: every file written whole (:func:`gpun2d.atomic.atomic_path`) or not at all.

Layout of ``OUT/``::

    runs/<dataset>-<vary>-seed<S>[-restarts<R>].json   one finished run each
    cache/<dataset>-seed<S>-ae.pt                       autoencoder kept fixed (--vary manifold|cluster)
    cache/<dataset>-seed<S>-embedding.npy               its UMAP embedding (--vary cluster)
    cache/<dataset>-seed<S>.json                        how and how fast they were made
    study.json, study.md, study.png                     the report, rewritten at the end
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..atomic import TEMP_PREFIX, atomic_path
from ..errors import ConfigError, DataError, listed
from ..outputs import missing_parents


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


REPORT_FILES = ("study.json", "study.md", "study.png")
STUDY_ENTRIES = ("runs", "cache", *REPORT_FILES)
"""Everything a study folder holds (besides temporary files)."""


def check_study_dir(out: Path, resume: bool) -> None:
    """A new study needs an empty or absent folder; ``resume`` a folder holding a study and nothing else."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out={out} exists and is not a folder")
    if not out.exists():
        return
    entries = [p.name for p in out.iterdir() if not p.name.startswith(TEMP_PREFIX)]
    foreign = sorted(name for name in entries if name not in STUDY_ENTRIES)
    if foreign:
        raise ConfigError(f"out={out} already holds other files than a study's ({', '.join(foreign[:3])}); "
                          "choose another out=FOLDER")
    if entries and not resume:
        raise ConfigError(f"out={out} already holds a study; continue it with resume=True, "
                          "or choose another out=FOLDER")
    if entries and not {"runs", "cache"} & set(entries):  # a report alone is no study to continue
        raise ConfigError(f"out={out} holds {', '.join(sorted(entries))} but no study's runs; "
                          "choose another out=FOLDER")


def check_same_study(out: Path, names: set[str]) -> None:
    """Refuse to resume a folder holding runs this study would not make (another --vary, dataset or seed)."""
    others = sorted(p.stem for p in (out / "runs").glob("*.json") if p.stem not in names)
    if others:
        raise ConfigError(f"out={out} holds runs this study would not make ({listed(others)}); resume it with the "
                          "datasets, seeds and vary it was started with, or choose another out=FOLDER")


@contextmanager
def removed_if_empty(out: Path) -> Iterator[None]:
    """Folders made for the study that are still empty when it fails are removed: a failed start leaves nothing."""
    made = [folder for folder in (out / "runs", out / "cache") if not folder.exists()]
    if not out.exists():
        made += [out, *missing_parents(out)]
    try:
        yield
    except BaseException:
        for folder in made:  # subfolders first, then the deepest new folder up
            with contextlib.suppress(OSError):  # not empty: it holds finished work
                folder.rmdir()
        raise


def batched_paths(out: Path, dataset: str, seed: int) -> dict[str, Path]:
    """Where ``--batched`` keeps one seed's autoencoder, trained together with the others, and its record."""
    stem = Path(out) / "cache" / f"{dataset}-seed{seed}-batched"
    return {"ae": Path(f"{stem}-ae.pt"), "meta": Path(f"{stem}.json")}


def cache_paths(out: Path, dataset: str, seed: int) -> dict[str, Path]:
    stem = Path(out) / "cache" / f"{dataset}-seed{seed}"
    return {"ae": Path(f"{stem}-ae.pt"), "embedding": Path(f"{stem}-embedding.npy"), "meta": Path(f"{stem}.json")}
