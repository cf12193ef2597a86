"""Where dataset files are looked for, and the download cache.

Search order: ``data_dir``, ``$GPUN2D_DATA`` (each as given and with a
dataset-named subfolder), the cache ``$GPUN2D_CACHE/NAME`` (default
``~/.cache/gpun2d/NAME``), then known system folders such as Debian's
``/usr/share/datasets/fashion-mnist``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..atomic import TEMP_PREFIX
from .registry import DatasetSpec, Layout, get_spec

log = logging.getLogger(__name__)

ENV_DATA = "GPUN2D_DATA"
ENV_CACHE = "GPUN2D_CACHE"


def cache_root() -> Path:
    """``$GPUN2D_CACHE`` or ``~/.cache/gpun2d``."""
    env = os.environ.get(ENV_CACHE)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gpun2d"


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written into ``folder`` (created when missing), or None when they can."""
    try:
        for parent in (folder, *folder.parents):
            if parent.exists():
                if not parent.is_dir():
                    return f"{parent} is a file, not a folder"
                break
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}probe-", dir=folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(probe)
    return None


def _spec(spec: DatasetSpec | str) -> DatasetSpec:
    return get_spec(spec) if isinstance(spec, str) else spec


def cache_dir(spec: DatasetSpec | str) -> Path:
    """The folder downloads of ``spec`` (a spec or a registered name) go to (not created here)."""
    return cache_root() / _spec(spec).cache_folder


def _with_subfolders(base: Path, names: list[str]) -> list[Path]:
    return [base] + [base / n for n in names]


def search_dirs(name: DatasetSpec | str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Candidate folders for dataset ``name``, in the order they are searched.

    Parameters
    ----------
    name : str or DatasetSpec
        A registered dataset.
    data_dir : path, optional
        Searched first, as given and with a ``NAME`` subfolder.

    Returns
    -------
    list of Path
        Every folder that is tried (existing or not), without duplicates.
    """
    spec = _spec(name)
    subs = list(dict.fromkeys((spec.name, *spec.folders)))
    dirs: list[Path] = []
    if data_dir is not None:
        dirs += _with_subfolders(Path(data_dir).expanduser(), subs)
    for entry in filter(None, os.environ.get(ENV_DATA, "").split(os.pathsep)):
        dirs += _with_subfolders(Path(entry).expanduser(), subs)
    if spec.layouts:
        dirs.append(cache_dir(spec))
    dirs += [Path(d) for d in spec.system_dirs]
    return list(dict.fromkeys(dirs))


@dataclass(frozen=True)
class Found:
    """Where a dataset's files were found and which layout they follow."""

    folder: Path
    layout: Layout
    files: dict[str, Path]


def locate(spec: DatasetSpec, data_dir: str | os.PathLike | None = None) -> Found | None:
    """First folder (search order) holding every file of one of ``spec``'s layouts."""
    for folder in search_dirs(spec, data_dir):
        if not folder.is_dir():
            continue
        for layout in spec.layouts:
            files = layout.resolve(folder)
            if files is not None:
                log.debug("%s: found %s layout in %s", spec.name, layout.name, folder)
                return Found(folder, layout, files)
    return None
