"""Load, fetch and list the named benchmark datasets."""

from __future__ import annotations

import logging
import os
from importlib.resources import files
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .download import DownloadError, download_dataset
from .paths import ENV_CACHE, ENV_DATA, Found, cache_dir, folder_problem, locate, search_dirs
from .registry import DATASETS, DatasetSpec, get_spec
from .textio import check_engine

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def _missing_message(spec: DatasetSpec, data_dir: PathLike | None, failure: DownloadError | None,
                     download: bool) -> str:
    searched = ", ".join(str(d) for d in search_dirs(spec, data_dir))
    if failure is not None:
        tried = f"download failed ({'; '.join(failure.attempts)})"
    elif not download:
        tried = f"downloads are off (download=False; allow them, or run 'gpun2d datasets fetch {spec.name}' online)"
    else:
        tried = "no download source is known"
    source = f" (from {spec.homepage})" if spec.homepage else ""
    return (
        f"dataset {spec.name!r} not found; searched {searched}; {tried}; "
        f"to install by hand put {spec.describe_files()}{source} into {cache_dir(spec)}, "
        f"or into a folder given as data_dir=FOLDER or listed in ${ENV_DATA}"
    )


def _find_or_fetch(spec: DatasetSpec, data_dir: PathLike | None, download: bool,
                   progress: bool, target: Path | None = None) -> Found:
    found = locate(spec, data_dir)
    if found is not None:
        return found
    if not download or not spec.resources:
        raise DataError(_missing_message(spec, data_dir, None, download))
    fix = "pass a writable data_dir"
    if target is None:
        target = cache_dir(spec)
        fix = f"set ${ENV_CACHE} to a writable folder (or put the files into data_dir and pass download=False)"
    problem = folder_problem(target)
    if problem is not None:
        raise ConfigError(f"cannot download {spec.name!r} into {target}: {problem}; {fix}")
    try:
        download_dataset(spec, target, progress=progress)
    except DownloadError as exc:
        raise DataError(_missing_message(spec, data_dir, exc, download)) from exc
    found = locate(spec, data_dir)
    if found is None:  # a resource list that does not complete any layout
        raise DataError(f"downloaded {spec.name} into {target} but {spec.describe_files()} is still incomplete")
    return found


def check_loaded(spec: DatasetSpec, X: np.ndarray, y: np.ndarray,
                 where: object = None) -> tuple[np.ndarray, np.ndarray]:
    """Enforce the spec's n x d and k; return float32 C-contiguous X and int64 y."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.int64).reshape(-1)
    fix = f"; the files in {where} are incomplete or from another dataset: replace them" if where else ""
    if X.shape != (spec.n_samples, spec.n_features):
        shape = "x".join(map(str, X.shape))
        raise DataError(f"{spec.name}: loaded {shape} but expected {spec.n_samples}x{spec.n_features}{fix}")
    if len(y) != len(X):
        raise DataError(f"{spec.name}: {len(y)} labels for {len(X)} samples{fix}")
    classes = np.unique(y)
    if classes.size != spec.n_classes or classes[0] != 0 or classes[-1] != spec.n_classes - 1:
        raise DataError(
            f"{spec.name}: labels {classes[:12].tolist()} are not the {spec.n_classes} classes "
            f"0..{spec.n_classes - 1}{fix}"
        )
    if not np.isfinite(X).all():
        raise DataError(f"{spec.name}: X holds NaN or inf{fix}")
    return X, y


def load(name: str, data_dir: PathLike | None = None, download: bool = True, progress: bool = False,
         *, engine: str = "pandas") -> tuple[np.ndarray, np.ndarray | None]:
    """Load a named dataset as in the N2D paper (train then test, scaled).

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` (``mnist``, ``mnist-test``, ``fashion``,
        ``usps``, ``pendigits``, ``har``, ``digits``).
    data_dir : path, optional
        Folder searched first (as given and with a ``name`` subfolder).
    download : bool
        Fetch missing files into the cache; False never touches the network.
    progress : bool
        Show a download progress bar on stderr.
    engine : {"pandas", "cudf"}
        Parser of delimited text tables (pendigits): ``"cudf"`` parses them
        with ``cudf.read_csv`` on the GPU (cuDF is imported only then); the
        arrays are NumPy either way.

    Returns
    -------
    X : ndarray of float32, shape (n_samples, n_features), C-contiguous
    y : ndarray of int64, shape (n_samples,), labels 0..k-1
    """
    spec = get_spec(name)
    check_engine(engine)
    if spec.builtin is not None:
        X, y = spec.builtin()
        return check_loaded(spec, X, y)
    found = _find_or_fetch(spec, data_dir, download, progress)
    log.info("loading %s (%s) from %s", spec.name, found.layout.name, found.folder)
    X, y = found.layout.read(found.files, engine)
    return check_loaded(spec, X, y, found.folder)


def _builtin_path() -> Path | None:
    try:
        return Path(str(files("sklearn.datasets.data") / "digits.csv.gz"))
    except (ModuleNotFoundError, TypeError):
        return None


def fetch(name: str, data_dir: PathLike | None = None, progress: bool = True) -> Path:
    """Make sure the files of ``name`` are on disk, downloading them without loading.

    Parameters
    ----------
    name : str
        A registered dataset.
    data_dir : path, optional
        Searched first; when the files are nowhere yet they are downloaded
        into its ``NAME`` subfolder (e.g. ``data_dir/usps``) instead of the cache.
    progress : bool
        Show a download progress bar on stderr.

    Returns
    -------
    Path
        The folder holding the files (the first found in search order, else
        where they were downloaded); for ``digits``, scikit-learn's bundled file.
    """
    spec = get_spec(name)
    if spec.builtin is not None:
        path = _builtin_path()
        return path if path is not None else Path(".")
    target = Path(data_dir).expanduser() / spec.cache_folder if data_dir is not None else None
    return _find_or_fetch(spec, data_dir, True, progress, target).folder


def status(data_dir: PathLike | None = None) -> list[dict]:
    """One row per dataset: name, size, classes, found, path, searched folders.

    Keys: ``name``, ``n_samples``, ``n_features``, ``n_classes``,
    ``found`` (bool), ``path`` (folder or None), ``format``
    (layout found or None), ``searched`` (list of Path), ``description``.
    """
    rows = []
    for spec in DATASETS.values():
        if spec.builtin is not None:
            found, path, fmt, searched = True, _builtin_path(), "scikit-learn", []
        else:
            hit = locate(spec, data_dir)
            found, path = hit is not None, hit.folder if hit else None
            fmt, searched = (hit.layout.name if hit else None), search_dirs(spec, data_dir)
        rows.append({
            "name": spec.name,
            "n_samples": spec.n_samples,
            "n_features": spec.n_features,
            "n_classes": spec.n_classes,
            "found": found,
            "path": path,
            "format": fmt,
            "searched": searched,
            "description": spec.description,
        })
    return rows
