"""Small seeded fixtures shared by the tests; GPU tests skip cleanly without CUDA (fail under
GPUN2D_REQUIRE_GPU=1, on a machine lent for the GPU checks)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import gpun2d  # noqa: F401  (sets SCIPY_ARRAY_API before SciPy loads)

REQUIRE_GPU = os.environ.get("GPUN2D_REQUIRE_GPU") == "1"
"""On a machine lent for the GPU checks, a missing GPU or cuML is a failure, never a skip."""


def pytest_collection_modifyitems(config, items):
    has_cuda = torch.cuda.is_available()
    cuml_error = None
    try:
        import cuml  # noqa: F401
    except Exception as exc:  # ImportError, or a broken CUDA runtime inside cuML
        cuml_error = f"{type(exc).__name__}: {exc}"
    missing_gpu = "needs a CUDA GPU"
    missing_cuml = f"needs RAPIDS cuML (pip install gpun2d[gpu]): {cuml_error}"
    for item in items:
        for marker, missing in (("gpu", None if has_cuda else missing_gpu),
                                ("cuml", None if cuml_error is None else missing_cuml)):
            if marker in item.keywords and missing is not None:
                if REQUIRE_GPU:
                    item.user_properties.append(("gpu_missing", missing))
                else:
                    item.add_marker(pytest.mark.skip(reason=missing))


def pytest_runtest_setup(item):
    """Under GPUN2D_REQUIRE_GPU=1, a gpu/cuml test whose GPU or cuML is missing fails before it runs."""
    reasons = [value for key, value in item.user_properties if key == "gpu_missing"]
    if reasons:
        pytest.fail(f"GPUN2D_REQUIRE_GPU=1 but this test {'; '.join(reasons)}", pytrace=False)


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
