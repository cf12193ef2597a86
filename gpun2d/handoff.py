"""Zero-copy conversions between torch, CuPy and NumPy arrays (DLPack).

Every other module works on torch tensors; only this one knows the other
array types. CPU tensors share memory with NumPy, CUDA tensors with CuPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .errors import DataError, DataTypeError


def is_cupy(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "cupy"


def is_cudf(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "cudf"


def to_torch(x: Any, device: torch.device | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """View ``x`` as a torch tensor without copying, then move/cast only if asked.

    NumPy arrays are wrapped with ``torch.from_numpy`` (shared memory), CuPy
    and other DLPack producers with ``torch.from_dlpack`` (shared device
    memory), cuDF frames through their CuPy view.
    """
    if isinstance(x, torch.Tensor):
        tensor = x
    elif isinstance(x, np.ndarray):
        if not x.flags.writeable:  # torch wants writeable memory; copy read-only buffers
            x = x.copy()
        tensor = torch.from_numpy(x)
    elif is_cudf(x):
        tensor = torch.from_dlpack(x.to_cupy())
    elif hasattr(x, "__dlpack__"):
        tensor = torch.from_dlpack(x)
    else:
        try:
            tensor = torch.from_numpy(np.asarray(x))
        except (TypeError, ValueError) as exc:
            raise DataError(f"cannot turn {type(x).__name__} into an array: {exc}") from exc
    if device is not None or dtype is not None:
        tensor = tensor.to(device=device if device is not None else tensor.device, dtype=dtype or tensor.dtype)
    return tensor


def to_cupy(tensor: torch.Tensor):
    """View a CUDA tensor as a CuPy array (same device memory)."""
    import cupy

    if tensor.device.type != "cuda":
        raise DataError(f"to_cupy needs a CUDA tensor, got one on {tensor.device}")
    return cupy.from_dlpack(tensor.detach().contiguous())


def to_numpy(x: Any) -> np.ndarray:
    """Host NumPy copy of ``x``; a zero-copy view when ``x`` already lives on the CPU.

    Only used where results leave gpun2d (files, metrics, the caller).
    """
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if is_cupy(x):
        return x.get()
    if is_cudf(x):
        return x.to_numpy()
    return np.asarray(x)


def to_device_array(tensor: torch.Tensor):
    """The array a device's libraries consume: NumPy view on CPU, CuPy view on CUDA."""
    if tensor.device.type == "cuda":
        return to_cupy(tensor)
    return tensor.detach().numpy()


def shares_memory(a: Any, b: Any) -> bool:
    """True when two arrays (any of torch/NumPy/CuPy) start at the same address."""
    return _data_ptr(a) == _data_ptr(b)


def _data_ptr(x: Any) -> int:
    if isinstance(x, torch.Tensor):
        return x.data_ptr()
    if isinstance(x, np.ndarray):
        return x.__array_interface__["data"][0]
    if hasattr(x, "__cuda_array_interface__"):
        return x.__cuda_array_interface__["data"][0]
    raise TypeError(f"no data pointer for {type(x).__name__}")


def like(tensor: torch.Tensor, reference: Any):
    """``tensor`` as the array type of ``reference`` (torch, CuPy or NumPy)."""
    if isinstance(reference, torch.Tensor):
        return tensor
    if is_cupy(reference):
        return to_cupy(tensor)
    return to_numpy(tensor)


def as_tensor(X: Any) -> torch.Tensor:
    """A user's ``X`` (NumPy, torch, CuPy, a data frame, nested lists) as a 2-D real tensor, zero-copy where
    possible, or a one-line :class:`DataError` saying what is wrong with it."""
    if hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse"):
        raise DataError("sparse input is not supported; pass a dense array (X.toarray())")
    if hasattr(X, "dtypes") and hasattr(X, "to_numpy"):  # pandas / cuDF frames
        X = X.to_numpy()
    if isinstance(X, np.ndarray) and X.dtype == object:  # numbers held as Python objects
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise DataTypeError(f"X is not a numeric array: {exc}") from exc
    try:
        tensor = to_torch(X)
    except DataError:
        raise
    except (TypeError, ValueError, RuntimeError) as exc:
        if np.iscomplexobj(X):
            raise DataError("Complex data not supported; pass real numbers") from exc
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"X is not a numeric array: {reason}") from exc
    if tensor.is_complex():
        raise DataError("Complex data not supported; pass real numbers")
    if not (tensor.is_floating_point() or tensor.dtype in INTEGER_DTYPES):
        raise DataError(f"X must be numeric, got dtype {tensor.dtype}")
    if tensor.ndim != 2:
        raise DataError(f"X must be 2-D (samples x features), got shape {tuple(tensor.shape)}. Reshape your data: "
                        "X.reshape(1, -1) for one sample, X.reshape(-1, 1) for one feature")
    return tensor


def require_finite(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` (2-D) unchanged, or a one-line :class:`DataError` naming its rows with NaN or inf."""
    bad = ~torch.isfinite(tensor).all(dim=1)
    if bad.any():
        rows = torch.nonzero(bad).flatten()[:5].tolist()
        raise DataError(f"X has NaN or infinite values in {int(bad.sum())} rows (first: {rows}); "
                        "clean or impute them first")
    return tensor


INTEGER_DTYPES = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
