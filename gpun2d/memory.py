"""GPU memory pools for torch, CuPy and cuML.

``import cuml`` (and ``import cudf``) points CuPy's allocator at RMM, whose
default resource is plain ``cudaMalloc``/``cudaFree``: without a pool every
CuPy and cuML allocation is a driver call, and every free synchronises the
device. So on the GPU path :func:`pool_cuml_memory` gives RMM a pool on the
run's device, once, unless a resource was already chosen; torch keeps its own
caching allocator. ``memory_pool='rmm'`` (:func:`use_rmm_pool`) routes torch
through RMM as well, so all three share one pool; it must run before any CUDA
tensor exists: torch cannot switch allocators once it has used one, and RMM
memory from before a re-initialisation must not be used after it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .errors import DeviceError

if TYPE_CHECKING:  # pragma: no cover
    from .devices import Device

log = logging.getLogger(__name__)

POOLS = ("torch", "rmm")
"""``torch``: torch keeps its own allocator, CuPy and cuML an RMM pool (default); ``rmm``: one shared RMM pool."""

_decided: set[int] = set()
"""GPUs whose RMM resource :func:`pool_cuml_memory` has already looked at in this process."""
_replaced: list = []
"""The resources it replaced: memory allocated from them before may still be in use."""


def pool_cuml_memory(device: Device) -> bool:
    """Give CuPy and cuML an RMM pool on ``device``; True when this call installed one.

    Does nothing on the CPU, on a GPU already looked at, when RMM's resource
    for the GPU is anything but the default ``CudaMemoryResource`` (a pool or
    another resource someone set is kept), and when torch allocates through a
    pluggable allocator such as RMM's (``memory_pool='rmm'``), which frees
    through whatever resource is current. The pool starts empty and grows on
    demand, keeping what it took until the process ends.
    """
    if not device.is_cuda or device.index in _decided:
        return False
    _decided.add(device.index)
    try:
        import cupy
        import rmm
        from rmm.allocators.cupy import rmm_cupy_allocator
    except ImportError:  # no RMM, no cuML: nothing here allocates through RMM
        return False
    if _torch_allocator_is_pluggable():
        log.info("cuda:%d: torch allocates through a pluggable allocator (RMM's?); RMM's resource left as is",
                 device.index)
        return False
    current = rmm.mr.get_per_device_resource(device.index)
    if type(current) is not rmm.mr.CudaMemoryResource:
        log.info("cuda:%d: CuPy and cuML keep the RMM resource already set (%s)", device.index,
                 type(current).__name__)
        return False
    with cupy.cuda.Device(device.index):  # RMM: a resource is made while its device is current
        # 0 bytes up front (RMM takes any multiple of 256; None would be half the free memory), as torch
        # needs the free memory too; each time it runs short the pool at least doubles where the GPU has
        # room, so only a few cudaMallocs ever happen
        pool = rmm.mr.PoolMemoryResource(rmm.mr.CudaMemoryResource(), initial_pool_size=0)
        rmm.mr.set_per_device_resource(device.index, pool)
    _replaced.append(current)
    if cupy.cuda.get_allocator() == cupy.get_default_memory_pool().malloc:  # cuML not imported yet
        cupy.cuda.set_allocator(rmm_cupy_allocator)
    log.info("cuda:%d: CuPy and cuML allocate from an RMM pool (torch keeps its own caching allocator)",
             device.index)
    return True


def _torch_allocator_is_pluggable() -> bool:
    """Whether torch's CUDA allocator was swapped for a pluggable one (RMM's, for ``memory_pool='rmm'``)."""
    import torch

    return torch.cuda.get_allocator_backend() == "pluggable"


def use_rmm_pool(initial_pool_size: int | str | None = None) -> None:
    """Make torch, CuPy and cuML allocate from one RMM pool on GPU 0 (``CUDA_VISIBLE_DEVICES`` picks it).

    ``initial_pool_size`` is what RMM reserves up front: bytes, a multiple of
    256, or a string such as ``"8GiB"`` (RMM's ``parse_bytes``: no
    percentages); ``None`` is half the GPU's free memory. Raises DeviceError, saying
    what is missing, when RMM is not installed, torch sees no GPU, or CUDA
    memory was already used in this process.
    """
    import torch

    try:
        import rmm
        from rmm.allocators.cupy import rmm_cupy_allocator
        from rmm.allocators.torch import rmm_torch_allocator
    except ImportError as exc:
        raise DeviceError(f"memory_pool='rmm' needs RMM, installed with the [gpu] extra ({exc})") from exc
    if rmm_torch_allocator is None:
        raise DeviceError("memory_pool='rmm' needs a CUDA GPU visible to torch; use memory_pool='torch'")
    if torch.cuda.is_initialized():
        raise DeviceError("memory_pool='rmm' must be chosen before any CUDA tensor exists in this process; "
                          "call gpun2d.memory.use_rmm_pool() first")
    import cupy

    rmm.reinitialize(pool_allocator=True, initial_pool_size=initial_pool_size)
    torch.cuda.memory.change_current_allocator(rmm_torch_allocator)
    cupy.cuda.set_allocator(rmm_cupy_allocator)
    log.info("torch, CuPy and cuML share one RMM pool")


def apply_memory_pool(pool: str, device_request: str, cuda_graphs: bool = False) -> None:
    """Set up ``pool`` for a run on ``device_request`` (auto|cuda|cpu), before any CUDA work.

    ``rmm`` is a GPU-only choice, so it fails rather than fall back when the
    run would be on the CPU.
    """
    from .devices import DeviceType, cuda_problem
    from .errors import ConfigError

    if pool not in POOLS:
        raise ConfigError(f"memory pool must be one of {', '.join(POOLS)}, got {pool!r}")
    if pool == "torch":
        return
    if cuda_graphs:
        # under RMM's pluggable allocator torch's graph-private pool does nothing, so memory a captured
        # graph writes on replay could be handed to later tensors
        raise ConfigError("memory_pool='rmm' cannot be combined with cuda_graphs=True; drop one of them")
    if DeviceType.parse(device_request) is DeviceType.CPU:
        raise ConfigError("memory_pool='rmm' is for GPU runs; drop it or use device='cuda'")
    problem = cuda_problem()
    if problem is not None:
        raise DeviceError(f"memory_pool='rmm' needs the GPU path: {problem}")
    use_rmm_pool()
