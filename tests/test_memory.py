"""The shared RMM pool: refused clearly where it cannot work, shared where it can."""

import subprocess
import sys
import textwrap

import pytest
import torch

from gpun2d import memory
from gpun2d.cli import cli
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
