"""IDX files (MNIST, Fashion-MNIST), gzipped or plain.

An IDX file is a big-endian header -- magic ``0x0000TTNN`` (T the element
type, 0x08 for unsigned bytes; N the number of dimensions), then N uint32
sizes -- followed by the elements.  MNIST images use magic 2051
(ubyte, 3-D), labels 2049 (ubyte, 1-D).
"""

from __future__ import annotations

import gzip
import logging
import math
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import DataError

log = logging.getLogger(__name__)

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_MAGICS = {m.to_bytes(4, "big") for m in (IMAGES_MAGIC, LABELS_MAGIC)}


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        # Trust the content, not the name: browsers often gunzip ".gz" downloads silently.
        if data[:2] == b"\x1f\x8b" or (path.suffix == ".gz" and data[:4] not in _MAGICS):
            return gzip.decompress(data)
        return data
    except (OSError, EOFError, zlib.error) as exc:
        # EOFError: gzip stream cut short; BadGzipFile is an OSError.
        raise DataError(
            f"{path} is not a readable gzip file ({exc}); the file is truncated or corrupt: "
            "delete it and download it again"
        ) from exc


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """Read an unsigned-byte IDX file and check its header.

    Parameters
    ----------
    path : path
        ``.gz`` files are decompressed in memory.
    magic : int
        Expected magic number: 2051 for images, 2049 for labels.

    Returns
    -------
    numpy.ndarray of uint8
        Shaped as the header says (``n x rows x cols`` or ``n``).
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path} is {len(data)} bytes, too short for an IDX header; replace the file")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        what = "images" if magic == IMAGES_MAGIC else "labels"
        raise DataError(
            f"{path}: bad IDX magic number {found} (expected {magic} for {what}); "
            "this is not an MNIST-style IDX file or the images/labels files are swapped"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes); delete it and download it again")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(dims)  # Python ints: a forged header cannot overflow the check
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(
            f"{path}: file is {state} ({len(data)} bytes, header {dims} needs {expected}); "
            "delete it and download it again"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_pair(images: str | Path, labels: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (n x rows*cols, uint8) and labels (n, int64) of one split."""
    x = read_idx(images, IMAGES_MAGIC)
    y = read_idx(labels, LABELS_MAGIC)
    if x.ndim != 3:
        raise DataError(f"{images}: expected 3 dimensions (n, rows, cols), header has {x.shape}")
    if y.ndim != 1:
        raise DataError(f"{labels}: expected 1 dimension (n,), header has {y.shape}")
    if len(x) != len(y):
        raise DataError(
            f"{images} holds {len(x)} images but {labels} holds {len(y)} labels; "
            "the two files come from different splits or datasets"
        )
    return x.reshape(len(x), -1), y.astype(np.int64)


def read_idx_dataset(files: Mapping[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    """Train then test split (whichever are in ``files``), scaled to [0, 1] by /255."""
    xs, ys = [], []
    for split in ("train", "test"):
        if f"{split}_images" in files:
            x, y = read_idx_pair(files[f"{split}_images"], files[f"{split}_labels"])
            xs.append(x)
            ys.append(y)
    if not xs:
        raise DataError("no IDX image/label files given")
    if len({a.shape[1] for a in xs}) > 1:
        raise DataError("train and test IDX images have different sizes; the files come from different datasets")
    x = np.concatenate(xs) if len(xs) > 1 else xs[0]
    X = np.divide(x, np.float32(255.0), dtype=np.float32)
    return X, np.concatenate(ys)
