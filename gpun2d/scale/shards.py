"""Data at scale: Parquet or ``.npy`` shards read lazily as the partitions of a Dask DataFrame.

Nothing is read here but file metadata: the rows stay on disk until a worker
needs its partition. Parquet keeps its column names (features, an id column,
a label column); a ``.npy`` shard is a 2-D numeric array whose columns are
named by their index, and carries no ids or labels (rows are numbered).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..datasets.npyio import load_npy
from ..errors import ConfigError, DataError, listed

PARQUET = (".parquet", ".pq")
NPY = (".npy",)


@dataclass
class Shards:
    """The rows of every shard, lazily, and which columns are what."""

    frame: object  # a dask DataFrame: pandas partitions, or cuDF ones with engine='cudf'
    files: list[Path]
    features: list[str]
    id_column: str | None = None
    label_column: str | None = None
    named: bool = True  # the features have names the model records (Parquet) or only positions (.npy)
    lengths: np.ndarray | None = field(default=None, repr=False)  # rows per partition, when known from headers

    @property
    def columns(self) -> list[str]:
        """Every column the job reads: features, then the id and label columns."""
        return self.features + [c for c in (self.id_column, self.label_column) if c is not None]


def expand(pattern: str | os.PathLike) -> list[Path]:
    """The files a path or glob pattern names, sorted, all of one kind (Parquet or ``.npy``)."""
    text = os.fspath(pattern)
    files = sorted(Path(p) for p in glob.glob(os.path.expanduser(text)) if Path(p).is_file())
    if not files:
        raise DataError(f"input_path={text!r} matches no file")
    kinds = {_kind(path) for path in files}
    if len(kinds) > 1:
        raise DataError(f"input_path={text!r} mixes Parquet and .npy files; give one kind of shard")
    return files


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET):
        return "parquet"
    if name.endswith(NPY):
        return "npy"
    raise DataError(f"{path}: shards must be .parquet or .npy files (other formats: run without a scheduler)")


def read_shards(pattern: str | os.PathLike, *, id_column: str | None = None, label_column: str | None = None,
                engine: str = "pandas") -> Shards:
    """The shards ``pattern`` names as one lazy Dask DataFrame.

    ``engine='cudf'`` reads Parquet with dask-cuDF (partitions in GPU memory);
    ``.npy`` shards are always read by NumPy.
    """
    files = expand(pattern)
    if _kind(files[0]) == "npy":
        if id_column is not None or label_column is not None:
            raise ConfigError(".npy shards have no named columns; id_column and label_column need Parquet shards")
        return _npy_shards(files)
    return _parquet_shards(files, id_column, label_column, engine)


def check_schemas(files: list[Path], id_column: str | None, label_column: str | None) -> None:
    """Every file's footer readable, with the first file's columns, features all numbers (footers only)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    expected = None
    for path in files:
        try:
            schema = pq.read_schema(path)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"{path} is not a readable Parquet file ({' '.join(str(exc).split())[:200]})") from None
        names = [n for n in schema.names if not n.startswith("__index_level_")]
        kinds = {c: _type_kind(schema.field(c).type) for c in (id_column, label_column) if c in names}
        if expected is None:
            expected, first, first_kinds = set(names), path, kinds
            for name, column in (("id_column", id_column), ("label_column", label_column)):
                if column is not None and column not in names:
                    raise ConfigError(f"{name}={column!r} is not a column of the shards ({listed(names)})")
        elif set(names) != expected:
            missing, extra = sorted(expected - set(names)), sorted(set(names) - expected)
            parts = [f"missing {', '.join(missing[:5])}"] if missing else []
            parts += [f"extra {', '.join(extra[:5])}"] if extra else []
            raise DataError(f"{path} has other columns than {first}: {'; '.join(parts)}; every shard must have "
                            "the same columns")
        for column, kind in kinds.items():
            if kind != first_kinds[column]:
                raise DataError(f"column {column!r} holds {kind} in {path} but {first_kinds[column]} in {first}; "
                                "an id or label column must hold one kind of value in every shard")
        bad = [n for n in names if n not in (id_column, label_column)
               and not (pa.types.is_integer(schema.field(n).type) or pa.types.is_floating(schema.field(n).type))]
        if bad:
            raise DataError(f"{path}: feature columns must be numbers; {', '.join(bad[:5])} "
                            f"{'is' if len(bad) == 1 else 'are'} not (give an id or label column as id_column or "
                            "label_column)")


def first_unreadable(files: list[Path]) -> tuple[Path, str] | None:
    """The first Parquet file one of whose pages cannot be read, with pyarrow's reason; None if all read.

    Footers are checked before any work (:func:`check_schemas`); a corrupt page shows only when a worker
    reads it, without the file's name. This reads each file's row groups in turn to find it.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in files:
        try:
            reader = pq.ParquetFile(path)
            for group in range(reader.num_row_groups):
                reader.read_row_group(group)
        except (OSError, pa.ArrowException) as exc:
            return path, " ".join(str(exc).split())[:200]
    return None


def _type_kind(arrow_type) -> str:
    """What an id or label column holds, as far as comparing values across shards goes: numbers (integers,
    or floats where missing values made pandas write floats), text, or another Arrow type."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):  # a categorical column: its values decide
        arrow_type = arrow_type.value_type
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "numbers"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or str(arrow_type) == "string_view":
        return "text"
    return str(arrow_type)


def _parquet_shards(files: list[Path], id_column: str | None, label_column: str | None, engine: str) -> Shards:
    if id_column is not None and id_column == label_column:
        raise ConfigError(f"id_column and label_column are both {id_column!r}; they must be different columns")
    check_schemas(files, id_column, label_column)
    if engine == "cudf":
        import dask_cudf

        frame = dask_cudf.read_parquet([str(f) for f in files])
    else:
        import dask.dataframe as dd

        try:
            frame = dd.read_parquet([str(f) for f in files])
        except Exception as exc:  # pyarrow's errors for corrupt or truncated files
            raise DataError(f"cannot read the Parquet shards: {' '.join(str(exc).split())}") from None
    columns = [str(c) for c in frame.columns]  # names and types were checked in every footer above
    features = [c for c in columns if c not in (id_column, label_column)]
    if not features:
        raise DataError("the shards have no feature columns besides the id and label columns")
    # every later step works on exactly these columns: a narrower projection lets Dask merge partitions,
    # and the row numbers and the fit sample count on one fixed partitioning
    kept = features + [c for c in (id_column, label_column) if c is not None]
    return Shards(frame[kept] if kept != columns else frame, files, features, id_column, label_column, named=True)


def npy_shape(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype in a ``.npy`` header, read without loading the array."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)  # maps the file: reads the header only
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npy file ({' '.join(str(exc).split())})") from None
    return array.shape, array.dtype


def _npy_shards(files: list[Path]) -> Shards:
    import dask.dataframe as dd

    shapes = [npy_shape(path) for path in files]
    for path, (shape, dtype) in zip(files, shapes, strict=True):
        if len(shape) != 2 or not (np.issubdtype(dtype, np.number) and not np.issubdtype(dtype, np.complexfloating)):
            raise DataError(f"{path} holds a {dtype} array of shape {shape}; a shard must be a 2-D array of numbers")
    widths = {shape[1] for shape, _ in shapes}
    if len(widths) > 1:
        raise DataError(f"the .npy shards have different numbers of columns ({sorted(widths)}); they must agree")
    features = [str(i) for i in range(widths.pop())]
    meta = pd.DataFrame({name: pd.Series([], dtype=np.float32) for name in features})
    frame = dd.from_map(_NpyShard(features), [str(f) for f in files], meta=meta, enforce_metadata=False)
    lengths = np.array([shape[0] for shape, _ in shapes], dtype=np.int64)
    return Shards(frame, files, features, named=False, lengths=lengths)


class _NpyShard:
    """Reads one ``.npy`` shard as a float32 DataFrame (a class, so Dask can name and ship it)."""

    def __init__(self, features: list[str]):
        self.features = features

    def __call__(self, path: str) -> pd.DataFrame:
        array = load_npy(Path(path))
        if array.ndim != 2 or array.shape[1] != len(self.features):
            raise DataError(f"{path} changed while it was read: shape {array.shape}")
        return pd.DataFrame(array.astype(np.float32, copy=False), columns=self.features, copy=False)
