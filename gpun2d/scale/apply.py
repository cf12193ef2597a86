"""Applying a fitted model on every worker: the model travels as its saved files, each partition is labelled.

The model's files (:mod:`gpun2d.persistence`) are scattered to the workers
once; each worker process writes them to a private folder, checks them and
loads the model once, then labels its partitions. A row's label
depends on that row alone, so it equals what ``N2D.predict`` gives in one
process, whichever worker labels it and however the rows are partitioned.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..handoff import is_cudf, to_numpy
from ..persistence import MANIFEST, write_model
from .shards import Shards

log = logging.getLogger(__name__)

ROW_NUMBER = "index"
"""Output column numbering the rows (from 0, in partition order) when the data has no id column."""

MODELS_KEPT = 2
"""Models a worker process keeps loaded; an older one is dropped when another arrives."""

_MODELS: OrderedDict[tuple[str, str], object] = OrderedDict()
_LOCK = threading.Lock()


def model_files(model) -> dict[str, bytes]:
    """The saved form of the fitted ``model``: ``{file name: bytes}``, manifest and checksums included."""
    with tempfile.TemporaryDirectory(prefix="gpun2d-model-") as tmp:
        names = write_model(model, tmp)
        return {name: (Path(tmp) / name).read_bytes() for name in names}


def worker_model(files: dict[str, bytes], device: str, estimator: type):
    """The ``estimator`` (N2D) model in ``files`` on ``device``, loaded (and checked) once per process."""
    key = (hashlib.sha256(files[MANIFEST]).hexdigest(), device)
    with _LOCK:
        if key not in _MODELS:
            _use_worker_threads()
            with tempfile.TemporaryDirectory(prefix="gpun2d-model-") as tmp:
                for name, content in files.items():
                    (Path(tmp) / name).write_bytes(content)
                _MODELS[key] = estimator.load(tmp, device=device)
        _MODELS.move_to_end(key)
        while len(_MODELS) > MODELS_KEPT:
            _MODELS.popitem(last=False)
        return _MODELS[key]


def _use_worker_threads() -> None:
    """Give torch as many threads as this Dask worker has, so worker processes do not fight for cores."""
    try:
        from distributed import get_worker

        threads = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):  # not inside a Dask worker
        return
    import torch

    torch.set_num_threads(max(1, int(threads)))


def output_meta(shards: Shards, with_probability: bool) -> pd.DataFrame:
    """The (empty) frame each partition's labels come as: id, cluster, probability, label."""
    meta = shards.frame._meta
    columns = {}
    if shards.id_column is not None:
        columns[shards.id_column] = meta[shards.id_column]
    else:
        columns[ROW_NUMBER] = pd.Series([], dtype=np.int64)
    columns["cluster"] = pd.Series([], dtype=np.int64)
    if with_probability:
        columns["probability"] = pd.Series([], dtype=np.float64)
    if shards.label_column is not None:
        columns["label"] = meta[shards.label_column]
    if is_cudf(meta):
        import cudf

        return cudf.DataFrame({k: (cudf.Series(v) if isinstance(v, pd.Series) else v) for k, v in columns.items()})
    return pd.DataFrame(columns)


def label_partition(frame, files: dict[str, bytes], device: str, estimator: type, columns: tuple,
                    starts: np.ndarray, partition_info: dict | None = None):
    """Cluster (and probability, id, true label) of every row of one partition.

    ``columns`` is ``(features, id_column, label_column)``; ``starts`` the first
    row number of each partition, for data without ids.
    """
    feature_columns, id_column, label_column = columns
    model = worker_model(files, device, estimator)
    number = partition_info["number"] if partition_info is not None else 0
    cluster_model = model.cluster_model_
    out = {}
    if id_column is not None:
        out[id_column] = _column(frame, id_column)
    else:
        out[ROW_NUMBER] = starts[number] + np.arange(len(frame), dtype=np.int64)
    if len(frame) == 0:  # an empty shard is no error: it has no rows to label
        out["cluster"] = np.empty(0, dtype=np.int64)
        if hasattr(cluster_model, "predict_proba"):
            out["probability"] = np.empty(0, dtype=np.float64)
    else:
        features = frame[feature_columns]
        if is_cudf(frame):
            X = features.to_cupy().astype("float32")
        else:
            X = features.to_numpy(dtype=np.float32)
        try:
            with warnings.catch_warnings():
                # the columns were picked by name above; the array form skips re-checking names per partition
                warnings.filterwarnings("ignore", message="X does not have valid feature names")
                coordinates = model.transform(X)
        except DataError as exc:  # rows are counted within the partition: say which partition
            first = int(starts[number]) if number < len(starts) else 0
            raise DataError(f"partition {number} (rows {first} to {first + len(frame) - 1} in file order): "
                            f"{exc}") from None
        out["cluster"] = to_numpy(cluster_model.predict(coordinates)).astype(np.int64)
        if hasattr(cluster_model, "predict_proba"):
            out["probability"] = to_numpy(cluster_model.predict_proba(coordinates)).max(axis=1).astype(np.float64)
    if label_column is not None:
        out["label"] = _column(frame, label_column)
    out = pd.DataFrame(out)
    if is_cudf(frame):
        import cudf

        return cudf.from_pandas(out)
    return out


def _column(frame, name: str) -> pd.Series:
    """A column as a pandas Series numbered from 0, its type and values kept exactly (a nullable integer
    column with a missing value is not turned into floats)."""
    column = frame[name]
    if is_cudf(frame):
        column = column.to_pandas(nullable=bool(column.has_nulls))
    return column.reset_index(drop=True)


def ship(files: dict[str, bytes], client=None):
    """The model's files as a Dask argument: scattered once to every worker of ``client`` (or of the
    current distributed client), or else, on Dask's local schedulers, one shared key of the graph."""
    if client is None:
        try:
            from distributed import default_client

            client = default_client()
        except (ImportError, ValueError):  # no distributed client in this process
            client = None
    if client is not None:
        [files] = client.scatter([files], broadcast=True, hash=True)
        return files
    from dask import delayed

    return delayed(files, pure=True)


def label_frame(shards: Shards, model, lengths: np.ndarray, client=None):
    """Every row's labels as a lazy Dask DataFrame, partition for partition with ``shards.frame``.

    The model travels as its files (:func:`ship`).
    """
    files = ship(model_files(model), client)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    meta = output_meta(shards, hasattr(model.cluster_model_, "predict_proba"))
    device = "cuda" if model.device_.is_cuda else "cpu"
    columns = (shards.features, shards.id_column, shards.label_column)
    return shards.frame.map_partitions(label_partition, files, device, type(model), columns, starts, meta=meta,
                                       enforce_metadata=False)
