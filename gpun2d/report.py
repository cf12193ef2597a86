"""What a run leaves behind: ``results.json`` and friends, each file written atomically.

The folder itself is reserved and published whole by :mod:`gpun2d.outputs`.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from .atomic import atomic_path

PACKAGES = ("gpun2d", "torch", "numpy", "scipy", "scikit-learn", "umap-learn", "pandas", "pyarrow", "dask",
            "distributed", "cuml-cu13", "cupy-cuda13x", "cudf-cu13", "dask-cuda", "dask-cudf-cu13")
RESULT_FILES = ("results.json", "clusters.csv", "embedding.npy", "embedding.png", "loss.png", "confusion.png",
                "model.json", "autoencoder.pt", "manifold.npz", "cluster.npz")
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


def write_clusters_csv(labels: np.ndarray, path: Path, y_true: np.ndarray | None = None,
                       ids: np.ndarray | None = None, probability: np.ndarray | None = None,
                       id_name: str = "id") -> None:
    """One row per sample: its id (or row index), cluster, the cluster's probability and the true label when known."""
    import pandas as pd

    columns = {id_name: ids} if ids is not None else {"index": np.arange(labels.size)}
    columns["cluster"] = np.asarray(labels, dtype=np.int64)
    if probability is not None:
        columns["probability"] = np.round(np.asarray(probability, dtype=np.float64), 6)
    if y_true is not None:
        columns["label"] = y_true
    with atomic_path(path) as tmp:
        pd.DataFrame(columns).to_csv(tmp, index=False)


def command_line() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
