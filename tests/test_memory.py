"""The shared RMM pool: refused clearly where it cannot work, shared where it can."""

import subprocess
import sys
import textwrap
import types

import pytest
import torch

from gpun2d import memory
from gpun2d.cli import cli
from gpun2d.devices import Device, DeviceType
from gpun2d.errors import ConfigError, DeviceError


def test_torch_pool_is_a_no_op_on_any_device():
    was_initialized = torch.cuda.is_initialized()
    for device in ("cpu", "auto", "cuda"):
        assert memory.apply_memory_pool("torch", device) is None
    assert torch.cuda.is_initialized() == was_initialized  # it set nothing up, CUDA included


def test_unknown_pool_is_a_config_error():
    with pytest.raises(ConfigError, match="memory pool must be one of torch, rmm, got 'cnmem'"):
        memory.apply_memory_pool("cnmem", "auto")


def test_rmm_on_a_cpu_run_is_refused():
    with pytest.raises(ConfigError, match="memory_pool='rmm' is for GPU runs"):
        memory.apply_memory_pool("rmm", "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU case")
def test_rmm_without_a_gpu_never_falls_back():
    with pytest.raises(DeviceError, match="memory_pool='rmm' needs the GPU path: .*(CPU-only build|no CUDA GPU)"):
        memory.apply_memory_pool("rmm", "auto")


def test_missing_rmm_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "rmm", None)  # makes `import rmm` raise ImportError
    with pytest.raises(DeviceError, match=r"needs RMM, installed with the \[gpu\] extra"):
        memory.use_rmm_pool()


@pytest.mark.cuml
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU case")
def test_installed_rmm_without_a_gpu_says_so():
    with pytest.raises(DeviceError, match="needs a CUDA GPU visible to torch"):
        memory.use_rmm_pool()


@pytest.mark.cuml
def test_pool_is_refused_once_cuda_memory_was_used(monkeypatch):
    import rmm.allocators.torch

    monkeypatch.setattr(rmm.allocators.torch, "rmm_torch_allocator", object())
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    with pytest.raises(DeviceError, match="before any CUDA tensor exists"):
        memory.use_rmm_pool()


def test_cli_rejects_rmm_on_cpu_in_one_line(tmp_path):
    from click.testing import CliRunner

    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", "--dataset", "digits", "--device", "cpu", "--memory-pool", "rmm",
                                      "--out", str(out)])
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == ("Error: --memory-pool rmm is for GPU runs; "
                                                      "drop it or use --device cuda")
    assert not out.exists()


@pytest.mark.gpu
@pytest.mark.cuml
def test_torch_cupy_and_cuml_allocate_from_one_rmm_pool():
    # A fresh process: the allocator can only be swapped before CUDA is first used.
    script = textwrap.dedent("""
        import cupy, rmm, rmm.statistics, torch
        from gpun2d.memory import use_rmm_pool
        use_rmm_pool()
        rmm.statistics.enable_statistics()
        before = rmm.statistics.get_statistics().current_bytes
        t = torch.empty(1 << 20, dtype=torch.uint8, device="cuda")
        after_torch = rmm.statistics.get_statistics().current_bytes
        c = cupy.empty(1 << 20, dtype=cupy.uint8)
        after_cupy = rmm.statistics.get_statistics().current_bytes
        assert after_torch - before >= 1 << 20, (before, after_torch)
        assert after_cupy - after_torch >= 1 << 20, (after_torch, after_cupy)
        print("shared")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("shared")


def test_rmm_pool_refuses_cuda_graphs():
    with pytest.raises(ConfigError, match="memory_pool='rmm' cannot be combined with cuda_graphs=True"):
        memory.apply_memory_pool("rmm", "cuda", cuda_graphs=True)


# ------------------------------------------------------------ the default pool for CuPy and cuML
class FakeResource:
    """Stands for an RMM memory resource."""


class FakeCudaResource(FakeResource):
    """RMM's default: plain cudaMalloc/cudaFree."""


class FakePool(FakeResource):
    def __init__(self, upstream, initial_pool_size=None, maximum_pool_size=None):
        self.upstream, self.initial_pool_size = upstream, initial_pool_size


class FakeGPU:
    """Fake ``rmm`` and ``cupy`` modules that record what is done to RMM's resources and CuPy's allocator."""

    def __init__(self, resources=None, allocator="rmm"):
        self.resources = dict(resources or {})
        self.entered: list[int] = []
        self.set_on: list[tuple[int, int | None]] = []  # (device, the device current while it was set)
        self.current: int | None = None
        gpu = self

        class Device:
            def __init__(self, index):
                self.index = index

            def __enter__(self):
                gpu.entered.append(self.index)
                self.previous, gpu.current = gpu.current, self.index

            def __exit__(self, *exc):
                gpu.current = self.previous

        def get_per_device_resource(index):
            return gpu.resources.setdefault(index, FakeCudaResource())

        def set_per_device_resource(index, resource):
            gpu.set_on.append((index, gpu.current))
            gpu.resources[index] = resource

        self.rmm_cupy_allocator = object()
        self.default_malloc = object()
        self.allocator = self.rmm_cupy_allocator if allocator == "rmm" else self.default_malloc
        mr = types.SimpleNamespace(CudaMemoryResource=FakeCudaResource, PoolMemoryResource=FakePool,
                                   get_per_device_resource=get_per_device_resource,
                                   set_per_device_resource=set_per_device_resource)
        self.rmm = types.SimpleNamespace(mr=mr)
        self.cupy = types.SimpleNamespace(
            cuda=types.SimpleNamespace(Device=Device, get_allocator=lambda: gpu.allocator,
                                       set_allocator=lambda allocator: setattr(gpu, "allocator", allocator)),
            get_default_memory_pool=lambda: types.SimpleNamespace(malloc=gpu.default_malloc),
        )

    def install(self, monkeypatch, torch_pluggable: bool = False):
        monkeypatch.setitem(sys.modules, "rmm", self.rmm)
        monkeypatch.setitem(sys.modules, "rmm.allocators", types.SimpleNamespace())
        monkeypatch.setitem(sys.modules, "rmm.allocators.cupy",
                            types.SimpleNamespace(rmm_cupy_allocator=self.rmm_cupy_allocator))
        monkeypatch.setitem(sys.modules, "cupy", self.cupy)
        monkeypatch.setattr(memory, "_torch_allocator_is_pluggable", lambda: torch_pluggable)
        monkeypatch.setattr(memory, "_decided", set())  # this process's real record stays untouched
        monkeypatch.setattr(memory, "_replaced", [])
        return self


def test_pool_is_installed_once_on_the_runs_gpu(monkeypatch, caplog):
    gpu = FakeGPU().install(monkeypatch)
    default = gpu.rmm.mr.get_per_device_resource(1)
    with caplog.at_level("INFO", logger="gpun2d.memory"):
        assert memory.pool_cuml_memory(Device(DeviceType.CUDA, 1)) is True
        assert memory.pool_cuml_memory(Device(DeviceType.CUDA, 1)) is False  # idempotent
    pool = gpu.resources[1]
    assert isinstance(pool, FakePool) and isinstance(pool.upstream, FakeCudaResource)
    assert pool.initial_pool_size == 0  # torch needs the free memory too; RMM wants a multiple of 256
    assert gpu.set_on == [(1, 1)]  # set once, made while GPU 1 was current
    assert 0 not in gpu.resources  # other GPUs untouched
    assert memory._replaced == [default]  # kept alive: memory allocated from it may still be in use
    assert gpu.allocator is gpu.rmm_cupy_allocator
    assert caplog.text.count("allocate from an RMM pool") == 1


def test_a_resource_someone_set_is_kept(monkeypatch, caplog):
    users = FakePool(FakeCudaResource())
    other = FakeResource()  # e.g. managed memory, or a statistics adaptor
    gpu = FakeGPU(resources={0: users, 1: other}).install(monkeypatch)
    with caplog.at_level("INFO", logger="gpun2d.memory"):
        for index in (0, 1):
            assert memory.pool_cuml_memory(Device(DeviceType.CUDA, index)) is False
    assert gpu.resources == {0: users, 1: other} and gpu.set_on == []
    assert "keep the RMM resource already set (FakePool)" in caplog.text


def test_torch_on_rmm_leaves_rmm_alone(monkeypatch):
    # torch's RMM allocator frees through whatever resource is current: swapping it would free
    # torch's cudaMalloc'd blocks into the pool
    gpu = FakeGPU().install(monkeypatch, torch_pluggable=True)
    assert memory.pool_cuml_memory(Device(DeviceType.CUDA, 0)) is False
    assert gpu.set_on == [] and gpu.entered == []


def test_cupy_is_pointed_at_rmm_only_from_its_own_default(monkeypatch):
    gpu = FakeGPU(allocator="cupy").install(monkeypatch)
    assert memory.pool_cuml_memory(Device(DeviceType.CUDA, 0))
    assert gpu.allocator is gpu.rmm_cupy_allocator
    gpu = FakeGPU().install(monkeypatch)
    users = object()
    gpu.allocator = users
    assert memory.pool_cuml_memory(Device(DeviceType.CUDA, 0))
    assert gpu.allocator is users  # an allocator someone chose stays


def test_a_cpu_run_touches_nothing(monkeypatch):
    gpu = FakeGPU().install(monkeypatch)
    monkeypatch.setitem(sys.modules, "rmm", None)  # importing RMM would fail the test
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert memory.pool_cuml_memory(Device(DeviceType.CPU)) is False
    assert gpu.resources == {} and gpu.entered == [] and memory._decided == set()


def test_cpu_fit_never_reaches_rmm(monkeypatch, blobs):
    from gpun2d import N2D

    calls = []
    real = memory.pool_cuml_memory
    for module in ("gpun2d.kmeans", "gpun2d.manifold"):
        monkeypatch.setattr(f"{module}.pool_cuml_memory", lambda device: calls.append(device) or real(device))
    monkeypatch.setitem(sys.modules, "rmm", None)
    N2D(3, epochs=1, umap_neighbors=5, cluster="kmeans", cluster_n_init=1, random_state=0, device="cpu").fit(blobs[0])
    assert calls and all(not device.is_cuda for device in calls)


@pytest.mark.gpu
@pytest.mark.cuml
def test_gpu_fit_leaves_cupy_and_cuml_on_an_rmm_pool(digits):
    import cupy
    import rmm
    from rmm.allocators.cupy import rmm_cupy_allocator

    from gpun2d import N2D

    model = N2D(10, epochs=2, random_state=0, device="cuda").fit(digits[0])
    index = model.device_.index
    assert isinstance(rmm.mr.get_per_device_resource(index), rmm.mr.PoolMemoryResource)
    assert cupy.cuda.get_allocator() is rmm_cupy_allocator
    assert index in memory._decided and memory.pool_cuml_memory(model.device_) is False
