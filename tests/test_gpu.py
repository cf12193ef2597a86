"""The GPU path end to end: needs CUDA and cuML; skipped cleanly elsewhere."""

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from gpun2d import N2D
from gpun2d.metrics import evaluate

pytestmark = [pytest.mark.gpu, pytest.mark.cuml]

MNIST_DIR = Path(os.environ.get("GPUN2D_MNIST_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))


@contextlib.contextmanager
def no_host_copies():
    """Make every device-to-host array copy raise while the block runs."""
    import cupy

    def refuse(*args, **kwargs):
        raise AssertionError("a stage copied device data to the host")

    to_device = torch.Tensor.to

    def to_but_not_host(self, *args, **kwargs):
        target = kwargs.get("device", args[0] if args else None)
        if self.is_cuda and isinstance(target, (str, torch.device)) and torch.device(target).type == "cpu":
            refuse()
        return to_device(self, *args, **kwargs)

    originals = [(torch.Tensor, "cpu"), (torch.Tensor, "numpy"), (cupy.ndarray, "get"), (cupy, "asnumpy")]
    saved = [getattr(owner, name) for owner, name in originals]
    try:
        for owner, name in originals:
            setattr(owner, name, refuse)
        torch.Tensor.to = to_but_not_host
        yield
    finally:
        torch.Tensor.to = to_device
        for (owner, name), value in zip(originals, saved, strict=True):
            setattr(owner, name, value)


def test_full_pipeline_on_cuda_keeps_data_on_device(digits):
    X, y = digits
    Xc = torch.from_numpy(X).cuda()
    model = N2D(10, epochs=20, random_state=0, device="cuda")
    with no_host_copies():
        model.fit(Xc)
    assert model.device_.is_cuda
    for tensor in (model.labels_, model.embedding_, model.embedding_tensor_):
        assert isinstance(tensor, torch.Tensor) and tensor.is_cuda
    assert model.cluster_model_.means_.is_cuda
    assert evaluate(y, model.labels_.cpu())["acc"] >= 0.85


def test_gpu_quality_matches_cpu_on_digits(digits):
    X, y = digits
    cpu = evaluate(y, N2D(10, epochs=20, random_state=0, device="cpu").fit_predict(X))
    gpu = evaluate(y, N2D(10, epochs=20, random_state=0, device="cuda").fit_predict(X))
    assert abs(gpu["nmi"] - cpu["nmi"]) <= 0.03, (cpu, gpu)


def test_predict_new_points_on_cuda(digits):
    X, _ = digits
    model = N2D(10, epochs=5, random_state=0, device="cuda").fit(X)
    labels = model.predict(torch.from_numpy(X[:500]).cuda())
    assert labels.is_cuda and labels.shape == (500,)
    # cuML re-optimises transformed points (hash_input is off), so agreement is high, not exact
    assert (labels.cpu().numpy() == model.labels_[:500]).mean() >= 0.9


@pytest.mark.parametrize("knn, init", [("exact", "spectral"), ("umap", "pca")])
def test_umap_variants_run_on_cuda(digits, knn, init):
    X, y = digits
    labels = N2D(10, epochs=5, random_state=0, device="cuda", umap_knn=knn, umap_init=init).fit_predict(X)
    assert evaluate(y, labels)["nmi"] >= 0.6


@pytest.mark.slow
def test_mnist_test_gpu_matches_cpu():
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST t10k files not found in {MNIST_DIR}")
    from gpun2d.datasets import load

    X, y = load("mnist-test", data_dir=MNIST_DIR, download=False)
    cpu = evaluate(y, N2D(10, epochs=20, random_state=0, device="cpu").fit_predict(X))
    gpu = evaluate(y, N2D(10, epochs=20, random_state=0, device="cuda").fit_predict(X))
    assert abs(gpu["nmi"] - cpu["nmi"]) <= 0.03, (cpu, gpu)
    assert np.isfinite(gpu["acc"])
