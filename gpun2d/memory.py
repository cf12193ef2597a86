"""One GPU memory pool for torch, CuPy and cuML.

By default torch keeps its own caching allocator while cuML (through RMM) and
CuPy keep theirs, so memory one of them caches is invisible to the others.
``use_rmm_pool`` routes all three through one RMM pool. It must run before
any CUDA tensor exists: torch cannot switch allocators once it has used one,
and RMM memory from before a re-initialisation must not be used after it.
"""

from __future__ import annotations

import logging

from .errors import DeviceError

log = logging.getLogger(__name__)

POOLS = ("torch", "rmm")
"""``torch``: each library keeps its own allocator (default); ``rmm``: one shared RMM pool."""


def use_rmm_pool(initial_pool_size: int | str | None = None) -> None:
    """Make torch, CuPy and cuML allocate from one RMM pool on the current GPU.

    ``initial_pool_size`` is what RMM reserves up front (bytes, or a string
    such as ``"50%"``); ``None`` lets RMM choose. Raises DeviceError, saying
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
