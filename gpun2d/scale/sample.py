"""The fit sample: how many rows, which ones, and bringing them to the fitting process.

Rows are drawn uniformly without replacement from all partitions, from a
seed, so the same data and seed always give the same sample; only the
partitions that hold a drawn row are read for it.
"""

from __future__ import annotations

import logging

import numpy as np

from .. import defaults
from ..devices import Device, free_memory
from ..errors import DataError
from .client import compute

log = logging.getLogger(__name__)

# bytes a sampled row costs the fit beyond its features: UMAP's neighbour graph and layout, the
# mixture's responsibilities, the encoder's outputs (a few kB per row at the paper's sizes)
ROW_OVERHEAD_BYTES = 4096
# the share of free memory the fit sample may take: the fit also holds the network, its optimiser
# and the batches' activations, and the host runs the Dask client beside it
MEMORY_SHARE = 0.25


def partition_lengths(frame, client=None) -> np.ndarray:
    """Rows in each partition of the Dask DataFrame ``frame``.

    Counted on the whole frame: counting one column would let Dask read fewer
    columns and merge partitions, and the lengths must match ``frame``'s own.
    """
    (lengths,) = compute(client, frame.map_partitions(len))
    return np.asarray(lengths, dtype=np.int64)


def default_fit_sample(n_rows: int, n_features: int, device: Device) -> tuple[int, str]:
    """The fit sample's size when none is given, and why: all rows, the memory budget, or the cap.

    The cap (:data:`gpun2d.defaults.FIT_SAMPLE_MAX`) is above every dataset of
    the paper, so up to that size the fit sees what the paper's did.
    """
    budget = int(MEMORY_SHARE * free_memory(device) // (4 * n_features + ROW_OVERHEAD_BYTES))
    size, reason = min((n_rows, "all rows"), (defaults.FIT_SAMPLE_MAX, "cap"), (budget, "memory"),
                       key=lambda pair: pair[0])
    return max(size, 1), reason


def fit_sample_size(requested: int | None, n_rows: int, n_features: int, device: Device) -> tuple[int, str]:
    """The fit sample's size and why: as ``requested``, all rows when it asks for as many or more, or
    :func:`default_fit_sample` when it is None."""
    if requested is None:
        return default_fit_sample(n_rows, n_features, device)
    if requested >= n_rows:
        log.warning("a fit sample of %d rows is not less than the %d rows of the data: the model is fitted on all "
                    "of them", requested, n_rows)
        return n_rows, "all rows"
    return requested, "given"


def choose_rows(lengths: np.ndarray, size: int, seed: int) -> dict[int, np.ndarray]:
    """``size`` row positions drawn uniformly from all partitions: ``{partition: sorted positions}``."""
    total = int(lengths.sum())
    if size > total:
        raise DataError(f"fit_sample={size} is more than the {total} rows of the data")
    rows = np.sort(np.random.default_rng(seed).choice(total, size=size, replace=False))
    starts = np.concatenate([[0], np.cumsum(lengths)])
    part = np.searchsorted(starts, rows, side="right") - 1
    return {int(p): rows[part == p] - starts[p] for p in np.unique(part)}


def gather_rows(frame, picks: dict[int, np.ndarray], client=None):
    """The picked rows of ``frame``, as one pandas DataFrame on this process.

    One task per partition, as :func:`partition_lengths` counted them, each
    taking its own rows by its partition number: selecting partitions instead
    would let Dask merge them differently and shift the positions.
    """
    import pandas as pd

    picked = frame.map_partitions(_take, picks, meta=frame._meta, enforce_metadata=False)
    (rows,) = compute(client, picked)
    if not isinstance(rows, pd.DataFrame):  # cuDF
        rows = rows.to_pandas()
    return rows.reset_index(drop=True)


def _take(partition, picks: dict[int, np.ndarray], partition_info: dict | None = None):
    number = partition_info["number"] if partition_info is not None else 0
    return partition.iloc[picks.get(number, np.empty(0, dtype=np.int64))]
