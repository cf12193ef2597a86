"""Small seeded fixtures shared by the tests; GPU tests skip cleanly without CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gpun2d  # noqa: F401  (sets SCIPY_ARRAY_API before SciPy loads)


def pytest_collection_modifyitems(config, items):
    has_cuda = torch.cuda.is_available()
    try:
        import cuml  # noqa: F401

        has_cuml = True
    except Exception:
        has_cuml = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    skip_cuml = pytest.mark.skip(reason="needs RAPIDS cuML (pip install gpun2d[gpu])")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)
        if "cuml" in item.keywords and not has_cuml:
            item.add_marker(skip_cuml)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits scaled to [0, 1]: (X float32, y int64)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="session")
def digits_umap(digits):
    """A real 10-D UMAP embedding of digits (float64), the mixture's usual input."""
    import umap

    X, y = digits
    Z = umap.UMAP(n_neighbors=20, min_dist=0.0, n_components=10, random_state=0).fit_transform(X)
    return Z.astype(np.float64), y


@pytest.fixture
def blobs():
    """Three well separated Gaussian blobs in 5-D: (X float32, y)."""
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0, 0, 0, 0], [8, 8, 0, 0, 0], [0, 8, 8, 0, 0]], dtype=np.float32)
    y = np.repeat(np.arange(3), 60)
    X = centers[y] + rng.normal(size=(y.size, 5)).astype(np.float32)
    return X.astype(np.float32), y
