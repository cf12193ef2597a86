import pytest
import torch

from gpun2d import devices, registry
from gpun2d.devices import DeviceType, resolve_device
from gpun2d.errors import ConfigError, DeviceError


def test_cpu_is_cpu():
    device = resolve_device("cpu")
    assert device.type is DeviceType.CPU and device.torch == torch.device("cpu")
    assert registry.backends(device.type.value)["manifold"] == "umap-learn"


def test_unknown_device_string():
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU case")
def test_auto_falls_back_to_cpu_without_cuda():
    assert resolve_device("auto").type is DeviceType.CPU


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU case")
def test_cuda_without_gpu_names_what_is_missing():
    with pytest.raises(DeviceError, match="device='cuda' is unavailable: .*(CPU-only build|no CUDA GPU)"):
        resolve_device("cuda")


def test_cuda_build_without_gpu_says_no_gpu(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="torch sees no CUDA GPU"):
        resolve_device("cuda")
    assert resolve_device("auto").type is DeviceType.CPU


def test_gpu_without_cuml_is_not_auto_and_cuda_says_install(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(devices, "cuml_import_error", lambda: "ModuleNotFoundError: No module named 'cuml'")
    assert resolve_device("auto").type is DeviceType.CPU
    with pytest.raises(DeviceError, match=r"cuML does not import .*gpun2d\[gpu\]"):
        resolve_device("cuda")


def test_gpu_with_cuml_resolves_to_cuda(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(devices, "cuml_import_error", lambda: None)
    for request in ("auto", "cuda"):
        device = resolve_device(request)
        assert device.is_cuda and device.torch == torch.device("cuda", 0)
        assert registry.backends(device.type.value)["manifold"] == "cuml.manifold.UMAP"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU case")
def test_require_gpu_turns_skips_into_failures():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu",
                           "tests/test_handoff.py"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GPUN2D_REQUIRE_GPU": "1"})
    assert done.returncode == 1, done.stdout
    assert "GPUN2D_REQUIRE_GPU=1 but this test needs a CUDA GPU" in done.stdout


def _torch_sees_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(devices, "cuml_import_error", lambda: "ModuleNotFoundError: No module named 'cuml'")


def test_need_cuml_false_takes_a_torch_gpu_without_cuml_and_says_so(monkeypatch, caplog):
    _torch_sees_a_gpu(monkeypatch)
    with caplog.at_level("INFO", logger="gpun2d.devices"):
        for request in ("cuda", "auto"):
            device = resolve_device(request, need_cuml=False)
            assert device.is_cuda and device.torch == torch.device("cuda", 0)
    text = caplog.text
    assert "device='auto' chose cuda:0" in text and "device='cuda' runs on cuda:0" in text
    assert "No module named 'cuml'" in text  # never silently without cuML
    assert devices.cuda_problem(need_cuml=False) is None
    # the default still asks for cuML
    assert resolve_device("auto").type is DeviceType.CPU
    with pytest.raises(DeviceError, match="cuML does not import"):
        resolve_device("cuda")


def test_need_cuml_false_still_needs_a_gpu(monkeypatch, caplog):
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="device='cuda' is unavailable: torch sees no CUDA GPU"):
        resolve_device("cuda", need_cuml=False)
    with caplog.at_level("WARNING", logger="gpun2d.devices"):
        assert resolve_device("auto", need_cuml=False).type is DeviceType.CPU
    assert "device='auto' runs on the CPU" in caplog.text
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(DeviceError, match="CPU-only build"):
        resolve_device("cuda", need_cuml=False)
    assert resolve_device("cpu", need_cuml=False).type is DeviceType.CPU


def test_need_cuml_false_with_cuml_logs_the_choice(monkeypatch, caplog):
    _torch_sees_a_gpu(monkeypatch)
    monkeypatch.setattr(devices, "cuml_import_error", lambda: None)
    with caplog.at_level("INFO", logger="gpun2d.devices"):
        assert resolve_device("auto", need_cuml=False).is_cuda
    assert "device='auto' chose cuda:0 (torch sees a CUDA GPU; cuML imports too)" in caplog.text
