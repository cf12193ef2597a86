"""Dask collections given to :class:`gpun2d.N2D` itself: fit on a sample of them, predict lazily over them.

``N2D(client=..., fit_sample=...).fit(ddf)`` fits on a seeded sample of a
Dask DataFrame's (or Array's) rows, brought to this process; ``predict``,
``predict_proba`` and ``transform`` of a Dask collection return a lazy one,
partition for partition, computed by the workers from the model's saved files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .apply import model_files, ship, worker_model
from .client import compute
from .sample import choose_rows, fit_sample_size, gather_rows, partition_lengths


def _is_frame(X) -> bool:
    return hasattr(X, "columns")


def _two_d(X) -> None:
    if not _is_frame(X) and X.ndim != 2:
        raise DataError(f"X must be 2-D (rows x features); this Dask array has shape {X.shape}")


def fit_rows(X, fit_sample: int | None, seed: int, device, client=None) -> tuple[object, dict]:
    """The rows N2D fits on from the Dask collection ``X``, and how many were drawn of how many."""
    _two_d(X)
    if _is_frame(X):
        lengths = partition_lengths(X, client)
    else:
        X = X.rechunk({1: -1})
        if np.isnan(np.asarray(X.chunks[0], dtype=float)).any():  # row counts unknown (after a filter)
            X = X.compute_chunk_sizes()
        lengths = np.asarray(X.chunks[0], dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        raise DataError("X is empty: its partitions hold 0 rows")
    size, reason = fit_sample_size(fit_sample, total, int(X.shape[1]), device)
    picks = choose_rows(lengths, size, seed)
    if _is_frame(X):
        rows = gather_rows(X, picks, client)
    else:
        blocks = [X.blocks[p][picks[p]] for p in sorted(picks)]
        rows = np.concatenate(compute(client, *blocks))
    return rows, {"rows": size, "total": total, "chosen_by": reason}


def apply_lazily(model, method: str, X, client=None):
    """``model.<method>`` of every row of the Dask collection ``X``, as a lazy collection like ``X``."""
    _two_d(X)
    width = X.shape[1] if not _is_frame(X) else len(X.columns)
    if not (isinstance(width, float) and np.isnan(width)) and int(width) != model.n_features_in_:
        raise DataError(f"X has {int(width)} features, but N2D is expecting {model.n_features_in_} features as input")
    files = ship(model_files(model), client)
    device = "cuda" if model.device_.is_cuda else "cpu"
    width = _output_width(model, method)
    if _is_frame(X):
        if width is None:
            meta = pd.Series([], dtype=np.int64 if method == "predict" else np.float64, index=X._meta.index)
        else:
            meta = pd.DataFrame({i: pd.Series([], dtype=np.float64) for i in range(width)}, index=X._meta.index)
        return X.map_partitions(_apply_frame, files, device, type(model), method, meta=meta,
                                enforce_metadata=False)
    X = X.rechunk({1: -1})
    dtype = np.int64 if method == "predict" else np.float64
    if width is None:
        return X.map_blocks(_apply_block, files, device, type(model), method, drop_axis=1, dtype=dtype)
    return X.map_blocks(_apply_block, files, device, type(model), method, chunks=(X.chunks[0], (width,)),
                        dtype=dtype)


def _output_width(model, method: str) -> int | None:
    """Columns of ``method``'s output: clusters, layout dimensions, or None for one value per row."""
    return {"predict_proba": model.n_clusters, "transform": model.umap_dim or model.n_clusters}.get(method)


def _outputs(model, method: str, X) -> np.ndarray:
    dtype = np.int64 if method == "predict" else np.float64
    if len(X) == 0:  # an empty partition has nothing to predict (N2D itself refuses 0 rows)
        width = _output_width(model, method)
        return np.empty((0,) if width is None else (0, width), dtype=dtype)
    return np.asarray(getattr(model, method)(X)).astype(dtype, copy=False)


def _apply_frame(frame: pd.DataFrame, files, device: str, estimator: type, method: str):
    values = _outputs(worker_model(files, device, estimator), method, frame)
    if values.ndim == 1:
        return pd.Series(values, index=frame.index)
    return pd.DataFrame(values, index=frame.index)


def _apply_block(block: np.ndarray, files, device: str, estimator: type, method: str) -> np.ndarray:
    return _outputs(worker_model(files, device, estimator), method, np.asarray(block))
