"""Real data where this machine has it: MNIST t10k, Debian's Fashion-MNIST, sklearn digits."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from gpun2d.datasets import load, status

try:
    import data_fixtures as fx
except ImportError:  # tests/ imported as a package
    from tests import data_fixtures as fx

isolated = fx.isolated

MNIST_DIR = Path("/work/shared/data/mnist")
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def first_image_sha256(X: np.ndarray, scale: float) -> str:
    """Checksum of the first sample as the original integer pixels."""
    return hashlib.sha256(np.rint(X[0] * scale).astype(np.uint8).tobytes()).hexdigest()


@pytest.mark.skipif(not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(), reason="no MNIST t10k here")
def test_mnist_test_real(isolated, monkeypatch):
    raw = gzip.open(MNIST_DIR / "t10k-images-idx3-ubyte.gz").read()
    assert hashlib.sha256(raw).hexdigest() == "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
    monkeypatch.setenv("GPUN2D_DATA", str(MNIST_DIR.parent))  # found through the mnist subfolder
    X, y = load("mnist-test", download=False)
    assert X.shape == (10_000, 784) and X.dtype == np.float32 and X.flags.c_contiguous
    assert 0.0 == X.min() and X.max() == 1.0
    # The standard MNIST test-set class counts (digit 8: 974, digit 9: 1009).
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert y[:5].tolist() == [7, 2, 1, 0, 4]
    assert first_image_sha256(X, 255) == "8f6a418c9a639f9e14e96feca47a97df2a35a0a68ae2875431c5c80e05536941"
    np.testing.assert_array_equal(X[0] * 255, np.frombuffer(raw, np.uint8, 784, offset=16))


@pytest.mark.skipif(not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_from_debian_folder(isolated):
    row = next(r for r in status() if r["name"] == "fashion")
    assert row["found"] and row["path"] == FASHION_DIR
    X, y = load("fashion", download=False)
    assert X.shape == (70_000, 784) and X.dtype == np.float32
    assert np.bincount(y).tolist() == [7_000] * 10
    assert y[:5].tolist() == [9, 0, 0, 3, 0]
    assert first_image_sha256(X, 255) == "5bd44e331a6d6998daf675700cd0c13dcd7af8ab954b7585124124da61459e7b"


def test_digits_real(isolated):
    X, y = load("digits")
    assert X.shape == (1_797, 64) and np.bincount(y).min() >= 170
    assert first_image_sha256(X, 16) == "9bc74a9fdeea9a14cfca731bfe65cb93d1749efb8b892acd2f3bd43bf9443ffa"
