"""A fitted stage's arrays on disk: NumPy ``.npz`` written atomically, read without unpickling."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import DataError


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` to ``path`` (``.npz``), complete or not at all."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def load_arrays(path: str | Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``names`` of an ``.npz`` written by :func:`save_arrays` (never unpickles)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in names if name not in data.files]
            if missing:
                raise DataError(f"{path} lacks {', '.join(missing)}; it is not a gpun2d model file")
            return {name: data[name] for name in names}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path} cannot be read as a gpun2d model file ({type(exc).__name__}: {exc})") from None


def state_path(folder: str | Path, meta: dict, name: str) -> Path:
    """``folder/name``, provided the stage's manifest entry lists it (so its checksum was checked)."""
    if name not in meta.get("files", ()):
        raise DataError(f"{folder}: the model manifest does not list {name}, so its checksum was not checked; "
                        "the model folder was changed or damaged")
    return Path(folder) / name
