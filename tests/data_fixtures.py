"""Tiny files in each real dataset format, and helpers for the dataset tests.

Every writer returns the (X, y) that loading the files must give, so tests
compare loaders against the data the fixture was written from.
"""

from __future__ import annotations

import bz2
import gzip
import io
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gpun2d.datasets import DATASETS

HAR_DIR = "UCI HAR Dataset"
HAR_OUTER = "human+activity+recognition+using+smartphones.zip"


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """Point HOME and the cache into tmp_path and clear the data/mirror variables."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPUN2D_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GPUN2D_DATA", raising=False)
    monkeypatch.delenv("GPUN2D_MIRROR", raising=False)
    return tmp_path


def shrink(monkeypatch, name: str, n_samples: int, **changes):
    """Register a copy of spec ``name`` with fixture sizes (and no system folders)."""
    spec = replace(DATASETS[name], n_samples=n_samples, system_dirs=(), **changes)
    monkeypatch.setitem(DATASETS, name, spec)
    return spec


def labels(n: int, k: int = 10) -> np.ndarray:
    """Every class at least once when n >= k."""
    return (np.arange(n) * 7 % k).astype(np.int64)


# --- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------------

def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def write_mnist(folder: Path, n_train: int = 20, n_test: int = 10, gz: bool = True,
                train: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-layout IDX files; returns the expected X (/255) and y, train then test."""
    rng = np.random.default_rng(seed)
    ext = ".gz" if gz else ""
    xs, ys = [], []
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        if prefix == "train" and not train:
            continue
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = labels(n)
        write_bytes(folder / f"{prefix}-images-idx3-ubyte{ext}", idx_bytes(images, 2051))
        write_bytes(folder / f"{prefix}-labels-idx1-ubyte{ext}", idx_bytes(y, 2049))
        xs.append(images.reshape(n, -1) / 255.0)
        ys.append(y)
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


# --- USPS -----------------------------------------------------------------------------------

def usps_data(n: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X in [0, 1] on a 1/1000 grid (as the real files), with background zeros and 0.5s."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 1001, size=(n, 256)) / 1000.0
    X[:, :40] = 0.0
    X[:, 40:60] = 0.5  # 0 in LIBSVM's [-1, 1] scale: written as absent entries
    return X, labels(n)


def write_usps_libsvm(folder: Path, X: np.ndarray, y: np.ndarray, n_train: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("usps.bz2", slice(0, n_train)), ("usps.t.bz2", slice(n_train, None))):
        lines = []
        for xi, yi in zip(X[rows], y[rows], strict=True):
            v = 2 * xi - 1
            cells = [f"{j + 1}:{val:.6g}" for j, val in enumerate(v) if val != 0]
            lines.append(" ".join([str(yi + 1)] + cells))
        (folder / name).write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))


def write_usps_jf(folder: Path, X: np.ndarray, y: np.ndarray, n_train: int, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, rows in (("usps_train", slice(0, n_train)), ("usps_test", slice(n_train, None))):
        body = [" ".join([str(yi)] + [f"{2 * v:.6g}" for v in xi]) for xi, yi in zip(X[rows], y[rows], strict=True)]
        text = "\n".join(["10 256", *body, "-1"]) + "\n"
        write_bytes(folder / (f"{stem}.jf" + (".gz" if gz else "")), text.encode())


def write_usps_h5(folder: Path, X: np.ndarray, y: np.ndarray, n_train: int) -> None:
    import h5py

    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / "usps.h5", "w") as fh:
        for split, rows in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
            group = fh.create_group(split)
            group.create_dataset("data", data=X[rows])
            group.create_dataset("target", data=y[rows])


# --- UCI pendigits and HAR ------------------------------------------------------------------

def pendigits_lines(n: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 101, size=(n, 16))
    y = labels(n)
    lines = [",".join(f"{v:3d}" for v in (*xi, yi)) for xi, yi in zip(X, y, strict=True)]
    return lines, X, y


def write_pendigits(folder: Path, n_train: int = 20, n_test: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """UCI-style space-padded comma rows; returns X/100 and y, train then test."""
    folder.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    for name, n, seed in (("pendigits.tra", n_train, 1), ("pendigits.tes", n_test, 2)):
        lines, X, y = pendigits_lines(n, seed)
        (folder / name).write_text("\n".join(lines) + "\n")
        xs.append(X / 100.0)
        ys.append(y)
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


def har_tables(n_train: int = 14, n_test: int = 8, d: int = 561, seed: int = 3) -> dict[str, bytes]:
    """The four HAR text files (bytes) keyed by path inside ``UCI HAR Dataset/``."""
    rng = np.random.default_rng(seed)
    files = {}
    for split, n in (("train", n_train), ("test", n_test)):
        X = rng.uniform(-1, 1, size=(n, d))
        y = labels(n, 6) + 1
        files[f"{split}/X_{split}.txt"] = "".join(
            " " + " ".join(f"{v:15.7e}" for v in row) + "\n" for row in X).encode()
        files[f"{split}/y_{split}.txt"] = "".join(f"{v}\n" for v in y).encode()
    return files


def har_expected(files: dict[str, bytes]) -> tuple[np.ndarray, np.ndarray]:
    xs = [np.loadtxt(io.BytesIO(files[f"{s}/X_{s}.txt"]), ndmin=2) for s in ("train", "test")]
    ys = [np.loadtxt(io.BytesIO(files[f"{s}/y_{s}.txt"]), dtype=np.int64) for s in ("train", "test")]
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys) - 1


def write_har_folder(folder: Path, files: dict[str, bytes]) -> Path:
    root = folder / HAR_DIR
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def har_zip_bytes(files: dict[str, bytes], macosx: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{HAR_DIR}/README.txt", "fixture")
        for rel, data in files.items():
            zf.writestr(f"{HAR_DIR}/{rel}", data)
            if macosx:  # resource forks as in the real archive: must be ignored
                zf.writestr(f"__MACOSX/{HAR_DIR}/{rel.replace('/', '/._')}", b"\x00\x05\x16\x07junk")
    return buf.getvalue()


def write_har_zip(folder: Path, files: dict[str, bytes], nested: bool = False) -> Path:
    """``UCI HAR Dataset.zip`` or, nested, UCI's outer download holding it."""
    folder.mkdir(parents=True, exist_ok=True)
    inner = har_zip_bytes(files)
    if not nested:
        path = folder / f"{HAR_DIR}.zip"
        path.write_bytes(inner)
        return path
    path = folder / HAR_OUTER
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{HAR_DIR}.zip", inner)
        zf.writestr(f"{HAR_DIR}.names", "fixture")
    return path


def claim_member_size(archive: bytes, member: str, size: int) -> bytes:
    """``archive`` with ``member``'s uncompressed size rewritten to ``size`` in its headers.

    A forged zip: a few bytes on disk whose member says it unpacks to ``size``.
    """
    data = bytearray(archive)
    # (signature, offset of the uncompressed size, offset of the name length, offset of the name)
    for sig, size_at, len_at, name_at in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        start = data.find(sig)
        while start != -1:
            n = int.from_bytes(data[start + len_at: start + len_at + 2], "little")
            if data[start + name_at: start + name_at + n] == member.encode():
                data[start + size_at: start + size_at + 4] = size.to_bytes(4, "little")
            start = data.find(sig, start + 4)
    return bytes(data)
