"""NumPy ``.npy`` and ``.npz`` files, read without ever unpickling.

Every array is loaded with ``allow_pickle=False``: an object array (which
could run code when unpickled) is refused with its name, and a file that is
not NumPy's format, or is cut short, is a one-line :class:`DataError`.
"""

from __future__ import annotations

import contextlib
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import DataError

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members; an empty zip

# What reading a damaged array raises: numpy's own checks (ValueError), a cut
# stream (EOFError), and zipfile's CRC and inflate errors inside an .npz.
_READ_ERRORS = (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error)
_UNPICKLE_HINT = "which gpun2d refuses to unpickle; save numbers (or strings, for labels) instead"


def _magic(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(NPY_MAGIC))
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _is_pickle_refusal(exc: BaseException) -> bool:
    # numpy says "Object arrays cannot be loaded when allow_pickle=False".
    return isinstance(exc, ValueError) and "allow_pickle" in str(exc)


def load_npy(path: Path) -> np.ndarray:
    """The array in ``path``; DataError when it is no ``.npy``, is truncated, or holds objects."""
    if _magic(path) != NPY_MAGIC:
        raise DataError(f"{path} is not a readable .npy file (no NumPy header); save the array with numpy.save")
    try:
        return np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        if _is_pickle_refusal(exc):
            raise DataError(f"{path} holds an object array, {_UNPICKLE_HINT}") from exc
        raise DataError(
            f"{path} is not a readable .npy file (truncated or corrupt: {_one_line(exc)}); save the array again"
        ) from exc


@contextlib.contextmanager
def open_npz(path: Path) -> Iterator[np.lib.npyio.NpzFile]:
    """The ``.npz`` archive at ``path``, opened lazily; DataError when it is no readable zip."""
    if _magic(path)[:4] not in ZIP_MAGICS:
        raise DataError(
            f"{path} is not a readable .npz file (not a zip archive); save the arrays with numpy.savez"
        )
    try:
        arrays = np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise DataError(
            f"{path} is not a readable .npz file (truncated or corrupt: {_one_line(exc)}); save the arrays again"
        ) from exc
    with arrays:
        yield arrays


def npz_array(arrays: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    """Array ``key`` of an open ``.npz``; DataError when it is damaged or holds objects."""
    try:
        value = arrays[key]
    except _READ_ERRORS as exc:
        if _is_pickle_refusal(exc):
            raise DataError(f"{path}: array {key!r} is an object array, {_UNPICKLE_HINT}") from exc
        raise DataError(
            f"{path} is not a readable .npz file (array {key!r} is truncated or corrupt: {_one_line(exc)}); "
            "save the arrays again"
        ) from exc
    if not isinstance(value, np.ndarray):  # numpy hands back the raw bytes of a member that is no .npy
        raise DataError(
            f"{path} is not a readable .npz file (member {key!r} is not a NumPy array); save the arrays again"
        )
    return value
