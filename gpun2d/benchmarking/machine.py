"""What a benchmark ran on: CPU, GPU, driver, CUDA and library versions.

GPU details come from torch only when the benchmark itself runs on CUDA (a
CPU benchmark never initialises CUDA), otherwise from ``nvidia-smi`` when it
is installed; a machine with neither records no GPU.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from importlib import metadata

from ..report import package_versions

#: Distribution names cuML, cuDF and CuPy go by (pip wheels, then conda packages).
GPU_DISTRIBUTIONS = {
    "cuml": ("cuml-cu13", "cuml-cu12", "cuml"),
    "cudf": ("cudf-cu13", "cudf-cu12", "cudf"),
    "cupy": ("cupy-cuda13x", "cupy-cuda12x", "cupy"),
}


def machine_info(device=None) -> dict:
    """Describe this machine for a benchmark report.

    Parameters
    ----------
    device : gpun2d.devices.Device or None
        The benchmark's resolved device; torch is asked about the GPU only
        when it is a CUDA device.

    Returns
    -------
    dict
        ``platform``, ``python``, ``cpu`` (model), ``cpu_count`` (logical
        CPUs), ``cpus_usable`` (this process's affinity), ``torch``,
        ``torch_cuda`` (CUDA runtime torch was built for, None for CPU
        builds), ``cuml``, ``cudf``, ``cupy`` (versions or None), ``gpus``
        (list of dicts: ``name``, ``memory_gib``, ``driver``, ``cuda_driver``
        and, from torch, ``compute_capability``), ``versions`` (every package
        that shapes a result).
    """
    import torch

    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
    }
    for name, candidates in GPU_DISTRIBUTIONS.items():
        info[name] = _first_version(candidates)
    info["gpus"] = gpu_info(device)
    info["versions"] = package_versions()
    return info


def describe_machine(info: dict) -> str:
    """One line for a report: GPU (driver, CUDA), torch, cuML, CPU."""
    parts = []
    for gpu in info.get("gpus") or []:
        extra = ", ".join(x for x in (f"driver {gpu['driver']}" if gpu.get("driver") else "",
                                      f"CUDA {gpu['cuda_driver']}" if gpu.get("cuda_driver") else "") if x)
        parts.append(f"{gpu['name']}" + (f" ({extra})" if extra else ""))
    if not parts:
        parts.append("no GPU")
    torch_text = f"torch {info['torch']}" + (f" (CUDA {info['torch_cuda']})" if info.get("torch_cuda") else "")
    parts.append(torch_text)
    if info.get("cuml"):
        parts.append(f"cuML {info['cuml']}")
    umap = (info.get("versions") or {}).get("umap-learn")
    if umap:
        parts.append(f"umap-learn {umap}")
    cpus = info.get("cpus_usable") or info.get("cpu_count")
    parts.append(f"{info.get('cpu') or 'CPU'} ({cpus} CPUs)")
    return ", ".join(parts)


def cpu_model() -> str | None:
    """The CPU's model name (Linux ``/proc/cpuinfo``, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def gpu_info(device=None) -> list[dict]:
    """Every visible GPU from ``nvidia-smi``, completed by torch for the benchmark's CUDA device."""
    gpus = _nvidia_smi_gpus()
    if device is not None and getattr(device, "is_cuda", False):
        import torch

        props = torch.cuda.get_device_properties(device.index)
        entry = gpus[device.index] if device.index < len(gpus) else {}
        entry.update(
            name=entry.get("name") or props.name,
            memory_gib=entry.get("memory_gib") or round(props.total_memory / 2**30, 1),
            compute_capability=f"{props.major}.{props.minor}",
            used_by_benchmark=True,
        )
        if device.index >= len(gpus):
            gpus.append(entry)
    return gpus


def _nvidia_smi_gpus() -> list[dict]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    query = _run([exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"])
    if not query:
        return []
    banner = _run([exe]) or ""
    match = re.search(r"CUDA Version:\s*([\d.]+)", banner)
    gpus = []
    for line in query.strip().splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 3:
            continue
        try:
            memory = round(float(fields[1]) / 1024, 1)
        except ValueError:
            memory = None
        gpus.append({"name": fields[0], "memory_gib": memory, "driver": fields[2],
                     "cuda_driver": match.group(1) if match else None})
    return gpus


def _run(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _first_version(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None
