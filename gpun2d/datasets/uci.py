"""UCI tables -- pen digits and HAR -- plus scikit-learn's bundled digits.

- pendigits: ``pendigits.tra`` (7,494 rows) and ``pendigits.tes`` (3,498),
  comma-separated, numbers space-padded: 16 integers in 0-100 then the
  digit; X is divided by 100 as in the N2D code.
- HAR: ``UCI HAR Dataset/{train,test}/{X,y}_{split}.txt``, whitespace
  separated floats (561 per row) and labels 1-6 (shifted to 0-5); read
  from the extracted folder, from ``UCI HAR Dataset.zip``, or from that zip
  nested inside UCI's ``human+activity+recognition+using+smartphones.zip``,
  always straight from memory without extracting, each member under the
  cap of :data:`gpun2d.datasets.archives.MAX_MEMBER_BYTES`.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import DataError
from .archives import read_member
from .textio import Source, as_buffer, name_of, read_table, to_float

log = logging.getLogger(__name__)

PENDIGITS_COLUMNS = 17
HAR_DIR = "UCI HAR Dataset"
#: The four HAR tables, role -> path inside ``HAR_DIR``; the registry's HAR layouts derive from it.
HAR_ROLES = {
    "x_train": "train/X_train.txt",
    "y_train": "train/y_train.txt",
    "x_test": "test/X_test.txt",
    "y_test": "test/y_test.txt",
}


def _integers(values: np.ndarray, where: str, lo: int, hi: int, what: str) -> np.ndarray:
    if np.isnan(values).any():
        row = int(np.flatnonzero(np.isnan(values).reshape(len(values), -1).any(axis=1))[0])
        raise DataError(f"{where}: missing or non-numeric {what} at data row {row}; fetch the file again")
    ints = values.astype(np.int64)
    if not np.array_equal(ints, values) or ints.size and (ints.min() < lo or ints.max() > hi):
        raise DataError(f"{where}: {what} must be integers {lo}-{hi}; found values {np.unique(values)[:8]}")
    return ints


def read_pendigits(path: str | Path, engine: str = "pandas") -> tuple[np.ndarray, np.ndarray]:
    """One UCI pendigits file -> (X in [0, 1] as /100, y in 0-9); ``engine`` parses the table."""
    table = read_table(path, sep=",", header=None, skipinitialspace=True, engine=engine)
    if table.shape[1] != PENDIGITS_COLUMNS:
        raise DataError(
            f"{path}: {table.shape[1]} comma-separated columns; pendigits rows have 16 coordinates + label"
        )
    values = to_float(table, path)
    X = _integers(values[:, :-1], str(path), 0, 100, "coordinates")
    y = _integers(values[:, -1], str(path), 0, 9, "labels")
    return X / 100.0, y


def read_pendigits_pair(files: Mapping[str, Path], engine: str = "pandas") -> tuple[np.ndarray, np.ndarray]:
    """``pendigits.tra`` then ``pendigits.tes``."""
    (x1, y1), (x2, y2) = (read_pendigits(files[s], engine) for s in ("train", "test"))
    return np.concatenate([x1, x2]).astype(np.float32), np.concatenate([y1, y2])


def verify_pendigits(path: Path, n_rows: int) -> None:
    """Structure check of a downloaded pendigits file (UCI publishes no checksum)."""
    X, _ = read_pendigits(path)
    if len(X) != n_rows:
        raise DataError(f"{path}: {len(X)} rows, expected {n_rows}")


def _read_har_splits(sources: Mapping[str, Source]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    # Whitespace-separated tables: pandas parses them (cuDF splits on one character only).
    splits = {}
    for split in ("train", "test"):
        xsrc, ysrc = sources[f"x_{split}"], sources[f"y_{split}"]
        x = to_float(read_table(xsrc, sep=None, header=None), xsrc)
        y = to_float(read_table(ysrc, sep=None, header=None), ysrc)
        if y.shape[1] != 1:
            raise DataError(f"{name_of(ysrc)}: expected one label per line, found {y.shape[1]} columns")
        y = _integers(y[:, 0], name_of(ysrc), 1, 6, "activity labels")
        if len(y) != len(x):
            raise DataError(f"{name_of(xsrc)} has {len(x)} rows but {name_of(ysrc)} has {len(y)} labels")
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        if bad.size:
            raise DataError(f"{name_of(xsrc)}: {bad.size} rows are short or non-numeric (first: data row {bad[0]})")
        splits[split] = (x, y - 1)
    if splits["train"][0].shape[1] != splits["test"][0].shape[1]:
        raise DataError(
            f"HAR train has {splits['train'][0].shape[1]} features but test has {splits['test'][0].shape[1]}"
        )
    return splits


def _read_har(sources: Mapping[str, Source]) -> tuple[np.ndarray, np.ndarray]:
    splits = _read_har_splits(sources)
    return (np.concatenate([x for x, _ in splits.values()]).astype(np.float32),
            np.concatenate([y for _, y in splits.values()]))


def read_har_folder(files: Mapping[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    """The extracted ``UCI HAR Dataset`` folder (``files``: role -> path); labels shifted to 0-5."""
    return _read_har(files)


def _har_members(zf: zipfile.ZipFile) -> dict[str, str] | None:
    names = [n for n in zf.namelist()
             if not n.startswith("__MACOSX/") and not n.rsplit("/", 1)[-1].startswith("._")]
    found = {}
    for role, suffix in HAR_ROLES.items():
        hit = next((n for n in names if n == suffix or n.endswith("/" + suffix)), None)
        if hit is None:
            return None
        found[role] = hit
    return found


def _open_har_zip(path: Path) -> tuple[zipfile.ZipFile, dict[str, str]]:
    """The zip holding the HAR tables (descending into a nested zip) and their member names."""
    try:
        zf = zipfile.ZipFile(path)
        members = _har_members(zf)
        if members is not None:
            return zf, members
        with zf:
            inner = [n for n in zf.namelist() if n.endswith(".zip") and not n.startswith("__MACOSX/")]
            for name in inner:
                nested = zipfile.ZipFile(io.BytesIO(read_member(zf, name, path)))
                members = _har_members(nested)
                if members is not None:
                    log.debug("%s: reading HAR from nested %s", path, name)
                    return nested, members
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable zip ({exc}); delete it and download it again") from exc
    raise DataError(
        f"{path}: no '{HAR_DIR}/train/X_train.txt' (and y_train, X_test, y_test) inside, "
        "nor a nested zip holding them; is this the HAR archive?"
    )


def _har_zip_sources(path: Path) -> dict[str, Source]:
    """The four HAR tables of a zip as named in-memory files, each read under the member cap."""
    zf, members = _open_har_zip(path)
    with zf:
        sources = {}
        for role, member in members.items():
            data = read_member(zf, member, path)
            if not data.strip():
                raise DataError(f"{path}!{member} is empty; is this the HAR archive?")
            sources[role] = as_buffer(data, f"{path}!{member}")
    return sources


def read_har_zip(files: Mapping[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    """``UCI HAR Dataset.zip`` or UCI's outer zip, read without extracting."""
    return _read_har(_har_zip_sources(Path(files["zip"])))


def verify_har_zip(path: Path, n_train: int | None = None, n_test: int | None = None,
                   n_features: int | None = None) -> None:
    """Structure check of a downloaded HAR zip before it is cached (UCI publishes no checksum).

    The four tables must be inside, within the member size cap, and parse
    (numbers, labels 1-6, one label per row); with counts given, each split
    must hold ``n_train`` / ``n_test`` rows of ``n_features`` values.
    """
    splits = _read_har_splits(_har_zip_sources(Path(path)))
    for split, expected in (("train", n_train), ("test", n_test)):
        x = splits[split][0]
        if expected is not None and len(x) != expected:
            raise DataError(
                f"{path}: the HAR {split} split has {len(x)} rows, expected {expected}; "
                "this is not the UCI HAR archive or it is damaged"
            )
        if n_features is not None and x.shape[1] != n_features:
            raise DataError(
                f"{path}: the HAR {split} split has {x.shape[1]} features, expected {n_features}; "
                "this is not the UCI HAR archive or it is damaged"
            )


def read_sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, /16 to [0, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.asarray(bunch.data / 16.0, dtype=np.float32), np.asarray(bunch.target, dtype=np.int64)
