"""Datasets of the N2D paper, and users' own files.

>>> X, y = load("digits")          # float32 (1797, 64), int64 labels 0..9
>>> X, y = load_file("data.csv", label_column="label")
>>> X, y, ids = load_file_with_ids("data.csv", label_column="label", id_column="id")

Named datasets are looked for in ``data_dir``, ``$GPUN2D_DATA``, the cache
``$GPUN2D_CACHE/NAME`` (default ``~/.cache/gpun2d/NAME``) and known system
folders, and downloaded into the cache when missing (``download=True``).

Files in, host NumPy arrays out: nothing here knows a device.  The caller may
ask for delimited text tables to be parsed by cuDF (``engine="cudf"``).
"""

from .api import fetch, load, status
from .paths import cache_dir, search_dirs
from .registry import DATASETS, DatasetSpec, get_spec, n_classes
from .tables import feature_columns, load_file, load_file_with_ids

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "cache_dir",
    "fetch",
    "get_spec",
    "load",
    "load_file",
    "feature_columns",
    "load_file_with_ids",
    "n_classes",
    "search_dirs",
    "status",
]
