"""What a run leaves behind: ``results.json`` and friends, written atomically.

Files go to a hidden sibling folder first and the folder is renamed into
place only when every file is complete, so an interrupted or failed run never
leaves a half-written output directory.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from .atomic import atomic_path, umask_mode
from .errors import ConfigError

PACKAGES = ("gpun2d", "torch", "numpy", "scipy", "scikit-learn", "umap-learn", "cuml-cu13", "cupy-cuda13x", "cudf-cu13")
RESULT_FILES = ("results.json", "clusters.csv", "embedding.npy", "autoencoder.pt", "embedding.png")
BENCH_FILES = ("bench.json", "bench.md")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a result."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_out_dir(out: str | Path, owned: tuple[str, ...] = RESULT_FILES) -> Path:
    """Refuse an existing folder that holds anything but files of an earlier result (``owned``)."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"out={out} exists and is not a folder")
        foreign = [p.name for p in out.iterdir() if p.name not in owned]
        if foreign:
            raise ConfigError(f"out={out} already holds other files ({', '.join(sorted(foreign)[:3])}); "
                              "choose another out=FOLDER")
    return out


@contextmanager
def staged_dir(out: str | Path, owned: tuple[str, ...] = RESULT_FILES) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success it replaces ``out``."""
    out = check_out_dir(out, owned)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    os.chmod(tmp, umask_mode(0o777))  # mkdtemp makes it private; the result should not be
    try:
        yield tmp
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(data: dict, path: str | Path) -> None:
    """Write ``data`` as indented JSON, whole or not at all (NumPy scalars and paths as plain values)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (Path,)):
        return str(value)
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)


def write_clusters_csv(labels: np.ndarray, path: Path, y_true: np.ndarray | None = None) -> None:
    """One row per sample: index, cluster, and the true label when known."""
    columns = [np.arange(labels.size), labels]
    header = "index,cluster"
    if y_true is not None:
        columns.append(y_true)
        header += ",label"
    np.savetxt(path, np.column_stack(columns).astype(np.int64), fmt="%d", delimiter=",", header=header, comments="")


def command_line() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
