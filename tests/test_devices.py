import contextlib
import sys
import types

import pytest
import torch

from gpun2d import devices, registry
from gpun2d.devices import Device, DeviceType, resolve_device
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


# ------------------------------------------------------------ one current GPU for every library
def test_on_device_does_nothing_on_the_cpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # importing CuPy would fail the test
    monkeypatch.setattr(torch.cuda, "device", lambda index: pytest.fail("torch.cuda.device entered on the CPU"))
    with devices.on_device(resolve_device("cpu")):
        pass


def test_on_device_enters_the_same_gpu_for_torch_and_cupy(monkeypatch):
    entered = []

    @contextlib.contextmanager
    def recorder(library, index):
        entered.append((library, index, "enter"))
        yield
        entered.append((library, index, "exit"))

    fake_cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(Device=lambda index: recorder("cupy", index)))
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setattr(torch.cuda, "device", lambda index: recorder("torch", index))
    with devices.on_device(Device(DeviceType.CUDA, 2)):
        assert entered == [("torch", 2, "enter"), ("cupy", 2, "enter")]
    assert entered[2:] == [("cupy", 2, "exit"), ("torch", 2, "exit")]


def test_on_device_without_cupy_still_sets_torch(monkeypatch):
    entered = []
    monkeypatch.setitem(sys.modules, "cupy", None)  # a torch-only GPU install
    monkeypatch.setattr(torch.cuda, "device", lambda index: entered.append(index) or contextlib.nullcontext())
    with devices.on_device(Device(DeviceType.CUDA, 1)):
        assert entered == [1]


@pytest.mark.gpu
@pytest.mark.cuml
def test_on_device_makes_each_gpu_current_for_every_library():
    import cupy
    import rmm

    before = torch.cuda.current_device()
    for index in range(torch.cuda.device_count()):
        with devices.on_device(Device(DeviceType.CUDA, index)):
            assert torch.cuda.current_device() == index and cupy.cuda.Device().id == index
            assert rmm.mr.get_current_device_resource() is rmm.mr.get_per_device_resource(index)
        assert torch.cuda.current_device() == before and cupy.cuda.Device().id == before


@pytest.mark.gpu
@pytest.mark.cuml
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_a_fit_on_the_second_gpu_stays_there():
    # A fresh process: cuML's per-thread handle keeps the GPU it was first used on
    import subprocess
    import textwrap

    script = textwrap.dedent("""
        import cupy, torch
        from sklearn.datasets import load_digits
        from gpun2d import N2D
        X = torch.from_numpy(load_digits().data / 16.0).float().to("cuda:1")
        with torch.cuda.device(1):
            model = N2D(10, epochs=2, random_state=0, device="cuda").fit(X)
        assert model.device_.index == 1 and model.labels_.device == torch.device("cuda", 1)
        assert torch.cuda.current_device() == 0 and cupy.cuda.Device().id == 0
        labels = model.predict(X[:100])  # from cuda:0, the current GPU again
        assert labels.device == torch.device("cuda", 1)
        print("stayed on cuda:1")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("stayed on cuda:1")
