"""Users' own data: ``.npy``, ``.npz``, ``.csv``/``.tsv`` (optionally ``.gz``), ``.parquet``.

X comes back float32, C-contiguous, 2-D and finite; labels (from a label
column, the npz, or a separate file) come back int64 coded 0..k-1 in sorted
order of the distinct values (so ``1..6`` becomes ``0..5`` and class names
become their sorted index).
"""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, listed
from .npyio import load_npy, npz_array, open_npz
from .textio import check_engine, first_line, read_table, to_float

log = logging.getLogger(__name__)

X_KEYS = ("X", "x", "data")
Y_KEYS = ("y", "labels", "target")
_SEPARATORS = {"csv": ",", "tsv": "\t"}
_KINDS = {".csv.gz": "csv", ".tsv.gz": "tsv", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet",
          ".pq": "parquet", ".npy": "npy", ".npz": "npz", ".txt": "txt", ".txt.gz": "txt"}
_X_KINDS = ("npy", "npz", "csv", "tsv", "parquet")


def _kind(path: Path, allowed: tuple[str, ...]) -> str:
    name = path.name.lower()
    kind = next((k for ext, k in _KINDS.items() if name.endswith(ext)), None)
    if kind not in allowed:
        exts = ", ".join(e for e, k in _KINDS.items() if k in allowed)
        raise DataError(f"{path}: unsupported file type; use one of {exts}")
    return kind


def _is_number(field: str) -> bool:
    field = field.strip().strip('"').strip("'")
    if not field:
        return True  # an empty cell is a missing number, not a name
    try:
        float(field)
    except ValueError:
        return False
    return True


def has_header(path: Path, sep: str) -> bool:
    """A first row with any non-numeric field is a header."""
    line = first_line(path)
    if not line.strip():
        raise DataError(f"{path} is empty or starts with a blank line; remove blank lines at the top")
    return not all(_is_number(f) for f in line.split(sep))


def _read_frame(path: Path, kind: str, engine: str):
    if kind == "parquet":
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except ImportError as exc:
            raise DataError(f"reading {path} needs pyarrow; install gpun2d[formats]") from exc
        except (ValueError, OSError) as exc:
            raise DataError(f"{path} is not a readable parquet file ({exc})") from exc
        if frame.shape[0] == 0:
            raise DataError(f"{path} holds no rows; write the data into it")
        return frame
    sep = _SEPARATORS[kind]
    frame = read_table(path, sep=sep, header=0 if has_header(path, sep) else None, engine=engine)
    if frame.shape[0] == 0:  # has_header refuses an empty file: this one is a header alone
        raise DataError(f"{path} has a header row but no data rows; add the data below the header")
    return frame


def _column(frame, column: object, path: Path, what: str = "label"):
    if column in frame.columns:
        return column
    text = str(column)
    if text.lstrip("-").isdigit() and all(isinstance(c, (int, np.integer)) for c in frame.columns):
        index = int(text)
        if -frame.shape[1] <= index < frame.shape[1]:
            return frame.columns[index]
    raise DataError(
        f"{path}: no {what} column {column!r}; columns are {listed(frame.columns)}"
        + ("" if not isinstance(frame.columns[0], (int, np.integer)) else
           " (the file has no header row: give the 0-based column number)")
    )


def _ids(series, column: object, path: Path) -> np.ndarray:
    """An id column's values, one distinct id per row: integers stay integers, anything else becomes strings.

    DataError naming the column and the first offending row when an id is missing or repeated.
    """
    missing = np.flatnonzero(series.isna().to_numpy())
    if missing.size:
        raise DataError(f"{path}: id column {column!r} has {missing.size} missing id{'s' * (missing.size > 1)} "
                        f"(first at 0-based data row {missing[0]}); give every row an id")
    values = series.to_numpy()
    if values.dtype.kind in "iu":
        ids = values.copy()
    elif values.dtype.kind == "f" and np.isfinite(values).all() and np.array_equal(values, np.round(values)):
        ids = values.astype(np.int64)  # integer ids written as 1.0, 2.0 ...
    else:
        ids = np.array([str(v) for v in values], dtype=str)
    _check_unique(ids, column, path)
    return ids


def _check_unique(ids: np.ndarray, column: object, path: Path) -> None:
    import pandas as pd

    repeated = np.flatnonzero(pd.Series(ids).duplicated().to_numpy())
    if repeated.size:
        row = repeated[0]
        first = np.flatnonzero(ids == ids[row])[0]
        raise DataError(f"{path}: id column {column!r} holds {repeated.size} repeated id{'s' * (repeated.size > 1)}, "
                        f"first {ids[row].item()!r} at 0-based data rows {first} and {row}; give every row its own id")


def _split_frame(frame, label_column: object, id_column: object,
                 path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    y = ids = None
    taken = []
    if label_column is not None:
        col = _column(frame, label_column, path)
        y = frame[col].to_numpy()
        taken.append(col)
    if id_column is not None:
        col = _column(frame, id_column, path, "id")
        if col in taken:  # e.g. label_column=0 and id_column="0" in a file without a header
            raise ConfigError(
                f"id_column={id_column!r} and label_column={label_column!r} name the same column of {path}; "
                "the ids and the labels must be different columns"
            )
        ids = _ids(frame[col], col, path)
        taken.append(col)
    frame = frame.drop(columns=taken)
    if frame.shape[1] == 0:
        left = "the labels" if id_column is None else "the ids" if label_column is None else "the ids and labels"
        raise DataError(f"{path}: no feature columns left besides {left}")
    hint = "fix or drop it, or pass it as label_column if it holds the labels"
    if id_column is None:
        hint += " (or as id_column if it holds sample ids)"
    return to_float(frame, path, hint), y, ids


def _load_npz(path: Path, label_column: object) -> tuple[np.ndarray, np.ndarray | None]:
    with open_npz(path) as arrays:
        keys = list(arrays.keys())
        y_key = label_column if label_column is not None else next((k for k in Y_KEYS if k in keys), None)
        if y_key is not None and y_key not in keys:
            raise DataError(f"{path}: no array {y_key!r} for labels; arrays are {keys}")
        rest = [k for k in keys if k != y_key]
        x_key = next((k for k in X_KEYS if k in keys), rest[0] if len(rest) == 1 else None)
        if x_key is None:
            raise DataError(f"{path}: no data array; name it one of {', '.join(X_KEYS)} (arrays are {keys})")
        return npz_array(arrays, x_key, path), (npz_array(arrays, y_key, path) if y_key is not None else None)


def check_features(X: object, source: object = "X") -> np.ndarray:
    """2-D, numeric, finite X as float32 C-contiguous, else DataError naming rows."""
    X = np.asarray(X)
    if X.ndim != 2:
        hint = (" (flatten images with X.reshape(len(X), -1))" if X.ndim > 2
                else " (use X.reshape(-1, 1) for one feature)")
        raise DataError(f"{source}: X must be 2-D (samples x features), got shape {X.shape}{hint}")
    if X.dtype.kind not in "biuf":
        raise DataError(f"{source}: X must be numeric, got dtype {X.dtype}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{source}: X is empty (shape {X.shape})")
    with np.errstate(over="ignore"):
        X32 = np.ascontiguousarray(X, dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(X32).all(axis=1))
    if bad.size:
        rows = ", ".join(map(str, bad[:10])) + (", ..." if bad.size > 10 else "")
        raise DataError(
            f"{source}: {bad.size} of {len(X32)} rows hold NaN, inf or values beyond float32 "
            f"(0-based data rows {rows}); drop or impute them first"
        )
    return X32


def encode_labels(values: object, source: object = "labels") -> np.ndarray:
    """Labels as int64 codes 0..k-1 (sorted distinct values); DataError on gaps or fractions."""
    import pandas as pd

    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(f"{source}: labels must be one value per sample, got shape {arr.shape}")
    missing = np.flatnonzero(pd.isna(arr)) if arr.dtype.kind in "fOUS" else np.array([], int)
    if missing.size:
        raise DataError(f"{source}: {missing.size} labels are missing (first at row {missing[0]}); fill or drop them")
    if arr.dtype.kind == "f":
        if not np.array_equal(arr, np.round(arr)):
            raise DataError(f"{source}: labels must be integers or class names, got fractional values")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "biu":
        arr = arr.astype(str)
    classes, codes = np.unique(arr, return_inverse=True)
    if arr.dtype.kind in "iu" and not np.array_equal(classes, np.arange(classes.size)):
        log.info("%s: labels %s recoded to 0..%d", source, classes[:10].tolist(), classes.size - 1)
    return codes.astype(np.int64).reshape(-1)


def _read_text_labels(path: Path) -> np.ndarray:
    """One label per line of a UTF-8 text file (``.gz`` too); a header line above numbers is skipped."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as fh:
            lines = [line.strip() for line in fh]
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start:exc.start + 1].hex()
        raise DataError(
            f"labels file {path} is not UTF-8 text (byte 0x{bad} at offset {exc.start}); save it as UTF-8"
        ) from exc
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DataError(f"labels file {path} cannot be read ({exc}); check the file") from exc
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) > 1 and not _is_number(lines[0]) and all(_is_number(v) for v in lines[1:]):
        lines = lines[1:]  # a header line above numeric labels
    if all(_is_number(v) for v in lines):
        return np.array([float(v) if v else np.nan for v in lines])
    return np.array(lines, dtype=object)


def read_labels(labels: object, engine: str = "pandas") -> np.ndarray:
    """Raw label values from a path (.npy, .npz, .csv, .tsv, .txt, .parquet) or an array.

    ``engine`` parses a .csv/.tsv labels file (see :func:`load_file`).
    """
    if not isinstance(labels, (str, os.PathLike)):
        return np.asarray(labels)
    path = Path(labels).expanduser()
    if not path.is_file():
        raise DataError(f"labels file {path} not found; check the path")
    kind = _kind(path, ("npy", "npz", "csv", "tsv", "txt", "parquet"))
    if kind == "npy":
        return load_npy(path)
    if kind == "npz":
        with open_npz(path) as arrays:
            keys = list(arrays.keys())
            key = next((k for k in Y_KEYS if k in keys), keys[0] if len(keys) == 1 else None)
            if key is None:
                raise DataError(f"{path}: no labels array; name it one of {', '.join(Y_KEYS)} (arrays are {keys})")
            return npz_array(arrays, key, path)
    if kind == "txt":
        return _read_text_labels(path)
    frame = _read_frame(path, kind, engine)
    if frame.shape[1] != 1:
        raise DataError(f"labels file {path} has {frame.shape[1]} columns; give a single column of labels")
    return frame.iloc[:, 0].to_numpy()


def load_file_with_ids(path: str | os.PathLike, labels: object = None, label_column: object = None, *,
                       engine: str = "pandas",
                       id_column: object = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Load a user's data file, keeping an id column apart from the features.

    Parameters
    ----------
    path : path
        ``.npy`` (X only), ``.npz`` (arrays ``X``/``x``/``data`` and optional
        ``y``/``labels``/``target``), ``.csv``/``.tsv`` (``.gz`` too; a first row
        that is not all numbers is a header) or ``.parquet``.
    labels : path or array, optional
        Separate labels, one per sample (``.npy``, ``.csv``, ``.txt`` ...).
    label_column : str or int, optional
        Column (name, or 0-based number without a header; npz: array name)
        holding the labels; it is removed from X.
    engine : {"pandas", "cudf"}
        Parser of CSV/TSV tables: ``"cudf"`` parses them with ``cudf.read_csv``
        on the GPU (cuDF is imported only then); X and y are NumPy either way.
    id_column : str or int, optional
        Column of a ``.csv``/``.tsv``/``.parquet`` table holding sample ids
        (name, or 0-based number without a header); it is removed from X and
        returned as ``ids``. Must differ from ``label_column``.

    Returns
    -------
    X : ndarray of float32 (n, d), C-contiguous, finite
    y : ndarray of int64 (n,) coded 0..k-1, or None
    ids : ndarray (n,) of the id column's values, or None
        Integers when the column holds integers, else strings; DataError when
        an id is missing or repeated.
    """
    path = Path(path).expanduser()
    check_engine(engine)
    if labels is not None and label_column is not None:
        raise ConfigError("pass either labels=FILE (a separate labels file) or label_column=NAME, not both")
    if id_column is not None and id_column == label_column:
        raise ConfigError(
            f"id_column={id_column!r} and label_column={label_column!r} name the same column; "
            "the ids and the labels must be different columns"
        )
    if not path.is_file():
        if any(c in str(path) for c in "*?["):
            raise DataError(f"data file {path} not found: a pattern of shards is read only by "
                            "`gpun2d run --scheduler` (which fits a model and labels every shard); here give one file")
        raise DataError(f"data file {path} not found; check the path")
    kind = _kind(path, _X_KINDS)
    if id_column is not None and kind in ("npy", "npz"):
        raise ConfigError(
            f"id_column={id_column!r} needs a table with columns (.csv, .tsv, .parquet), "
            f"but {path} is a .{kind} file; drop id_column and keep the ids apart"
        )
    ids = None
    if kind == "npy":
        if label_column is not None:
            raise ConfigError(f"{path}: a .npy file holds X only; pass labels=PATH instead of label_column")
        X, y = load_npy(path), None
    elif kind == "npz":
        X, y = _load_npz(path, label_column)
    else:
        X, y, ids = _split_frame(_read_frame(path, kind, engine), label_column, id_column, path)
    X = check_features(X, path)
    if labels is not None:
        if y is not None:
            log.info("%s: using the labels in %s, not those inside the data file", path, labels)
        y = read_labels(labels, engine)
    if y is None:
        return X, None, ids
    source = labels if isinstance(labels, (str, os.PathLike)) else path
    y = encode_labels(y, source)
    if len(y) != len(X):
        raise DataError(f"{source}: {len(y)} labels for {len(X)} samples in {path}; give exactly one label per row")
    return X, y, ids


def load_file(path: str | os.PathLike, labels: object = None, label_column: object = None, *,
              engine: str = "pandas", id_column: object = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Load a user's data file: :func:`load_file_with_ids` without the ids.

    Parameters are those of :func:`load_file_with_ids`; an ``id_column`` is
    still removed from X.

    Returns
    -------
    X : ndarray of float32 (n, d), C-contiguous, finite
    y : ndarray of int64 (n,) coded 0..k-1, or None
    """
    X, y, _ = load_file_with_ids(path, labels, label_column, engine=engine, id_column=id_column)
    return X, y


def feature_columns(path: str | os.PathLike, label_column: object = None, id_column: object = None) -> list[str] | None:
    """The names of a table's feature columns (its header, less the label and id columns), or None.

    None for ``.npy``/``.npz`` files and tables without a header row. Only the
    header is read.
    """
    import pandas as pd

    path = Path(path).expanduser()
    kind = _kind(path, _X_KINDS)
    if kind in ("npy", "npz"):
        return None
    if kind == "parquet":
        try:
            import pyarrow.parquet as pq

            names = list(pq.read_schema(path).names)
        except Exception:  # unreadable files are reported by the loader itself
            return None
        names = [n for n in names if not n.startswith("__index_level_")]
    else:
        sep = _SEPARATORS[kind]
        if not has_header(path, sep):
            return None
        names = list(pd.read_csv(path, sep=sep, nrows=0).columns)
    dropped = {str(c) for c in (label_column, id_column) if c is not None}
    return [str(n) for n in names if str(n) not in dropped]
