"""USPS digits in the three formats found in the wild; all load to X in [0, 1].

- LIBSVM ``usps.bz2`` + ``usps.t.bz2``: ``label idx:val ...`` with labels
  1-10, 1-based indices and values in [-1, 1]; mapped by ``(v + 1) / 2``.
- Keysers' ``usps_train.jf(.gz)`` + ``usps_test.jf(.gz)``: a header line
  ``"10 256"`` (classes, features), then ``label v1 ... v256`` per line with
  labels 0-9 and values in [0, 2], then a line ``-1``; mapped by ``v / 2``.
- ``usps.h5``: groups ``train`` and ``test``, each with ``data`` (n x 256,
  already in [0, 1]) and ``target`` (0-9).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import DataError
from .textio import first_line, read_table, to_float

log = logging.getLogger(__name__)

N_FEATURES = 256
_TOL = 1e-3  # rounding slack when checking value ranges


def _check_range(x: np.ndarray, path: Path, what: str) -> None:
    lo, hi = float(x.min(initial=0.0)), float(x.max(initial=0.0))
    if lo < -_TOL or hi > 1 + _TOL:
        raise DataError(
            f"{path}: pixel values span [{lo:g}, {hi:g}] after scaling, outside [0, 1]; "
            f"this does not look like the {what} USPS file"
        )


def _stack(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    X = np.concatenate([p[0] for p in parts]).astype(np.float32)
    y = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return X, y


def read_libsvm(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One LIBSVM USPS file -> (X in [0, 1], y in 0-9)."""
    from sklearn.datasets import load_svmlight_file

    path = Path(path)
    try:
        # sklearn opens .bz2/.gz by extension; absent entries are 0 in LIBSVM.
        sparse, labels = load_svmlight_file(str(path), n_features=N_FEATURES, zero_based=False)
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        msg = " ".join(str(exc).split())
        raise DataError(
            f"{path} is not a valid LIBSVM USPS file ({msg}); delete it and download it again"
        ) from exc
    X = (sparse.toarray() + 1.0) / 2.0
    _check_range(X, path, "LIBSVM ([-1, 1])")
    y = labels.astype(np.int64)
    if not np.array_equal(y, labels) or y.size and (y.min() < 1 or y.max() > 10):
        raise DataError(f"{path}: LIBSVM USPS labels must be integers 1-10; found {np.unique(labels)[:12]}")
    return X, y - 1


def read_libsvm_pair(files: Mapping[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    """``usps.bz2`` then ``usps.t.bz2``."""
    return _stack([read_libsvm(files["train"]), read_libsvm(files["test"])])


def read_jf(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One keysers ``.jf`` file -> (X in [0, 1], y in 0-9)."""
    path = Path(path)
    head = first_line(path).split()
    if len(head) != 2 or not all(h.isdigit() for h in head):
        raise DataError(f"{path}: first line {' '.join(head)!r} is not a jf header '<classes> <features>'")
    k, d = int(head[0]), int(head[1])
    if d != N_FEATURES:
        raise DataError(f"{path}: jf header says {d} features; USPS has {N_FEATURES}")
    table = to_float(read_table(path, sep=None, header=None, skiprows=1), path)
    if table.shape[0] == 0 or table[-1, 0] != -1 or not np.isnan(table[-1, 1:]).all():
        raise DataError(f"{path}: no '-1' end-marker line; the file is truncated, delete it and fetch it again")
    table = table[:-1]
    if table.shape[1] != 1 + d:
        raise DataError(f"{path}: rows have {table.shape[1]} values; expected label + {d} features")
    bad = np.flatnonzero(np.isnan(table).any(axis=1))
    if bad.size:
        raise DataError(
            f"{path}: {bad.size} rows are short of 1 + {d} values (first at data row {bad[0]}); "
            "the file is damaged, fetch it again"
        )
    labels = table[:, 0]
    y = labels.astype(np.int64)
    if not np.array_equal(y, labels) or y.size and (y.min() < 0 or y.max() >= k):
        raise DataError(f"{path}: jf labels must be integers 0-{k - 1}; found {np.unique(labels)[:12]}")
    X = table[:, 1:] / 2.0
    _check_range(X, path, "jf ([0, 2])")
    return X, y


def read_jf_pair(files: Mapping[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    """``usps_train.jf`` then ``usps_test.jf``."""
    return _stack([read_jf(files["train"]), read_jf(files["test"])])


def read_h5(files: Mapping[str, Path] | str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``usps.h5``: ``train`` then ``test``, each with ``data`` and ``target``."""
    import h5py

    path = Path(files["file"] if isinstance(files, Mapping) else files)
    parts = []
    try:
        with h5py.File(path, "r") as fh:
            for split in ("train", "test"):
                group = fh.get(split)
                if group is None or "data" not in group or "target" not in group:
                    raise DataError(
                        f"{path}: needs groups 'train' and 'test' each with 'data' and 'target'; "
                        f"found {sorted(fh.keys())}"
                    )
                x = np.asarray(group["data"][()], dtype=np.float64).reshape(len(group["data"]), -1)
                t = np.asarray(group["target"][()]).reshape(-1)
                if x.shape[1] != N_FEATURES or len(t) != len(x):
                    raise DataError(
                        f"{path}: {split}/data is {x.shape} and {split}/target has {len(t)} entries; "
                        f"expected n x {N_FEATURES} and n labels"
                    )
                parts.append((x, t.astype(np.int64)))
    except (OSError, KeyError) as exc:
        raise DataError(f"{path} is not a readable HDF5 file ({exc}); replace it") from exc
    X, y = _stack(parts)
    _check_range(X, path, "h5 ([0, 1])")
    return X, y


__all__ = ["read_h5", "read_jf", "read_jf_pair", "read_libsvm", "read_libsvm_pair"]
