"""Every cuML call gpun2d makes, checked against the installed cuML's real signatures.

cuML installs and imports on machines without a GPU (``pip install gpun2d[gpu]``) and its
constructors do no device work, so these run on CPU CI; they skip where cuML is absent.
"""

import inspect

import pytest

from gpun2d.kmeans import build_cuml_kmeans
from gpun2d.manifold import UMAPParams, build_cuml_neighbors, build_cuml_umap

pytestmark = pytest.mark.cuml


def assert_accepts(cls, method: str, **kwargs):
    """Fail if ``cls.method`` has no parameter for one of ``kwargs``."""
    signature = inspect.signature(getattr(cls, method))
    unknown = set(kwargs) - set(signature.parameters)
    assert not unknown, f"{cls.__name__}.{method} has no parameter {sorted(unknown)}"


def test_umap_constructor_keywords_and_values():
    from cuml.manifold import UMAP

    params = UMAPParams(n_components=10)
    model = build_cuml_umap(params, random_state=0)
    assert isinstance(model, UMAP)
    got = model.get_params()
    assert (got["n_neighbors"], got["min_dist"], got["n_components"]) == (20, 0.0, 10)
    assert got["metric"] == "euclidean" and got["random_state"] == 0
    assert got["hash_input"] is False  # cuML hashes on a host copy of X
    assert got["build_algo"] == "brute_force_knn" and got["init"] == "spectral"
    assert got["output_type"] == "cupy"


def test_umap_methods_take_what_gpun2d_passes():
    from cuml.manifold import UMAP

    assert_accepts(UMAP, "fit_transform", X=None, knn_graph=None)  # new points use gpun2d.placement, not transform


def test_umap_accepts_an_array_init():
    np = pytest.importorskip("numpy")
    model = build_cuml_umap(UMAPParams(n_components=3), random_state=0, init=np.zeros((5, 3), np.float32))
    assert model.get_params()["init"].shape == (5, 3)


def test_nearest_neighbors_keywords():
    from cuml.neighbors import NearestNeighbors

    model = build_cuml_neighbors(UMAPParams(n_components=10))
    got = model.get_params()
    assert isinstance(model, NearestNeighbors)
    got = (got["n_neighbors"], got["algorithm"], got["metric"], got["output_type"])
    assert got == (20, "brute", "euclidean", "cupy")
    assert_accepts(NearestNeighbors, "kneighbors", X=None, n_neighbors=19)  # X=None: each point left out


def test_kmeans_keywords():
    from cuml.cluster import KMeans

    model = build_cuml_kmeans(10, seed=3, max_iter=300)
    got = model.get_params()
    assert isinstance(model, KMeans)
    assert (got["n_clusters"], got["n_init"], got["max_iter"], got["random_state"]) == (10, 1, 300, 3)
    assert got["output_type"] == "cupy"


def test_cuml_present_without_gpu_resolves_to_cpu():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("checks the cuML-without-GPU case")
    from gpun2d.devices import cuml_import_error, resolve_device
    from gpun2d.errors import DeviceError

    assert cuml_import_error() is None  # cuML imports fine here...
    assert not resolve_device("auto").is_cuda  # ...but without a GPU, auto stays on the CPU
    with pytest.raises(DeviceError, match="device='cuda' is unavailable"):
        resolve_device("cuda")
