"""Resolve the compute device once: ``auto``, ``cuda`` or ``cpu``.

Every stage receives the resolved :class:`Device`; the stage registry picks
each stage's backend from its type, and :func:`on_device` makes it the current
GPU for torch, CuPy, cuML and RMM while a stage runs. Nothing else in gpun2d
asks torch or cuML whether a GPU exists.
"""

from __future__ import annotations

import enum
import importlib
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import lru_cache

import torch

from .errors import ConfigError, DeviceError

log = logging.getLogger(__name__)


class DeviceType(str, enum.Enum):
    """The device strings users may pass (``--device``)."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"

    @classmethod
    def parse(cls, value: str | DeviceType) -> DeviceType:
        try:
            return cls(str(value.value if isinstance(value, cls) else value).lower())
        except ValueError:
            choices = ", ".join(m.value for m in cls)
            raise ConfigError(f"unknown device {value!r}; choose one of {choices}") from None


@dataclass(frozen=True)
class Device:
    """A resolved device: where tensors live and which libraries run each stage."""

    type: DeviceType
    index: int = 0

    @property
    def is_cuda(self) -> bool:
        return self.type is DeviceType.CUDA

    @property
    def torch(self) -> torch.device:
        return torch.device("cuda", self.index) if self.is_cuda else torch.device("cpu")

    def describe(self) -> str:
        if self.is_cuda:
            return f"cuda:{self.index} ({torch.cuda.get_device_name(self.index)})"
        return "cpu"

    def __str__(self) -> str:
        return str(self.torch)


@contextmanager
def on_device(device: Device) -> Iterator[None]:
    """Make ``device`` the current GPU of torch, CuPy, cuML and RMM while the block runs; on the CPU, nothing.

    ``torch.cuda.device`` sets torch's; ``cupy.cuda.Device`` sets the CUDA
    runtime's, which CuPy, cuML's kernels and RMM's current resource
    (``rmm.mr.get_current_device_resource``) read. Both are restored on exit.
    cuML keeps one handle per thread, made on the GPU current when it is first
    used, so a thread should keep to one GPU.
    """
    if not device.is_cuda:
        yield
        return
    with ExitStack() as stack:
        stack.enter_context(torch.cuda.device(device.index))
        try:
            import cupy
        except ImportError:  # a torch-only GPU run (the autoencoder, the batched mixture) needs no CuPy
            pass
        else:
            stack.enter_context(cupy.cuda.Device(device.index))
        yield


@lru_cache(maxsize=1)
def cuml_import_error() -> str | None:
    """Why cuML cannot be used here, or None when it imports."""
    try:
        importlib.import_module("cuml")
    except Exception as exc:  # ImportError, or a broken CUDA runtime inside cuML
        return f"{type(exc).__name__}: {exc}"
    return None


def cuda_problem(*, need_cuml: bool = True) -> str | None:
    """Say what is missing for the GPU path, or None when everything is there.

    ``need_cuml=False`` asks only for a CUDA GPU that torch sees (the autoencoder
    and the batched mixture run on torch alone).
    """
    if torch.version.cuda is None:
        return (
            f"torch {torch.__version__} is a CPU-only build; install a CUDA build of "
            "PyTorch (README, Install: pip with RAPIDS)"
        )
    if not torch.cuda.is_available():
        return (
            "torch sees no CUDA GPU (no device, or the NVIDIA driver is missing or too old "
            "for this CUDA build)"
        )
    if not need_cuml:
        return None
    problem = cuml_import_error()
    if problem is not None:
        return f"RAPIDS cuML does not import ({problem}); install gpun2d[gpu] or use the RAPIDS image"
    return None


def resolve_device(request: str | DeviceType | Device = "auto", *, need_cuml: bool = True) -> Device:
    """Turn ``auto|cpu|cuda`` into a :class:`Device`.

    ``auto`` picks CUDA only when torch sees a GPU *and* cuML imports;
    ``cuda`` raises :class:`DeviceError` naming what is missing, never falling
    back silently; ``cpu`` never touches CUDA.

    ``need_cuml=False`` is for work that runs on torch alone (the autoencoder,
    the batched mixture): ``cuda`` and ``auto`` then accept a CUDA GPU that
    torch sees even when cuML does not import, and say so in the log; ``auto``
    always logs which device it chose.
    """
    if isinstance(request, Device):
        return request
    kind = DeviceType.parse(request)
    if kind is DeviceType.CPU:
        return Device(DeviceType.CPU)
    problem = cuda_problem(need_cuml=need_cuml)
    if kind is DeviceType.CUDA:
        if problem is not None:
            raise DeviceError(f"device='cuda' is unavailable: {problem}. Use device='cpu' to run on the CPU.")
        device = Device(DeviceType.CUDA, torch.cuda.current_device())
        if not need_cuml:
            _log_torch_only(f"device='cuda' runs on {device}")
        return device
    if problem is not None:
        log.warning("device='auto' runs on the CPU, much slower than a GPU, because %s", problem)
        return Device(DeviceType.CPU)
    device = Device(DeviceType.CUDA, torch.cuda.current_device())
    if not need_cuml:
        _log_torch_only(f"device='auto' chose {device}")
    return device


def _log_torch_only(chosen: str) -> None:
    """Log a CUDA choice made without asking for cuML, saying whether cuML imports."""
    problem = cuml_import_error()
    if problem is None:
        log.info("%s (torch sees a CUDA GPU; cuML imports too)", chosen)
    else:
        log.warning("%s: torch sees a CUDA GPU and this work needs no cuML, which does not import (%s)",
                    chosen, problem)


def free_memory(device: Device) -> int:
    """Bytes free on ``device``: the GPU's free memory, or the host's available memory."""
    if device.is_cuda:
        free, _ = torch.cuda.mem_get_info(device.torch)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)
