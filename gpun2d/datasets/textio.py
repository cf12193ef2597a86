"""Parse delimited text tables with pandas, or with cuDF when the caller asks.

``engine="cudf"`` only speeds up parsing: the table comes back as pandas and
the readers return host NumPy arrays either way.  cuDF is imported inside
:func:`read_table`, and only when a delimited table is parsed with it.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import zlib
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..errors import ConfigError, DataError, DeviceError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

Source = str | Path | IO[bytes]

#: Parsers of delimited text tables a caller may choose.
ENGINES = ("pandas", "cudf")

# Exceptions a parser raises on a corrupt or malformed file.
_PARSE_ERRORS = (ValueError, EOFError, OSError, UnicodeDecodeError, zlib.error, gzip.BadGzipFile)
_PANDAS = "parse with pandas (engine='pandas')"


def check_engine(engine: object) -> str:
    """``engine`` if it names a known parser, else ConfigError listing them."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r} for parsing text tables; use 'pandas' or 'cudf'")
    return engine


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _import_cudf():
    try:
        import cudf
    except ImportError as exc:
        raise DeviceError(
            f"engine='cudf' needs cuDF, which is not installed ({_one_line(exc)}); "
            f"install gpun2d[gpu] (cudf-cu13) or {_PANDAS}"
        ) from exc
    except Exception as exc:  # installed but broken: a CUDA library or driver it loads at import is missing
        raise DeviceError(
            f"engine='cudf': cuDF failed to import ({_one_line(exc)}); fix its CUDA setup or {_PANDAS}"
        ) from exc
    return cudf


def _gpu_problem() -> str | None:
    """Why cuDF cannot reach a GPU here, or None when one answers.

    cuDF imports without a GPU and fails only when it parses, with errors that
    look like any other; asking CuPy (a cuDF dependency) tells the two apart.
    """
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except (ImportError, RuntimeError, OSError) as exc:  # CUDARuntimeError is a RuntimeError
        return _one_line(exc)
    return None if count else "no CUDA GPU is visible"


def _read_with_cudf(source: Source, **kwargs) -> pd.DataFrame:
    cudf = _import_cudf()
    try:
        return cudf.read_csv(source, **kwargs).to_pandas()
    except Exception as exc:
        problem = _gpu_problem()
        if problem is not None:
            raise DeviceError(
                f"engine='cudf' needs a CUDA GPU, and cuDF could not reach one ({problem}); "
                f"run where a GPU is visible or {_PANDAS}"
            ) from exc
        if isinstance(exc, _PARSE_ERRORS + (RuntimeError,)):
            raise DataError(
                f"{name_of(source)}: cannot parse ({_one_line(exc)}); check the file or re-download it"
            ) from exc
        raise


def name_of(source: Source) -> str:
    """A printable name for a path or an open (zip member) file."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", source))


def read_table(
    source: Source,
    *,
    sep: str | None = ",",
    header: int | None = None,
    skiprows: int = 0,
    skipinitialspace: bool = False,
    engine: str = "pandas",
) -> pd.DataFrame:
    """Read a delimited text table into a pandas DataFrame.

    Parameters
    ----------
    source : path or binary file
        ``.gz`` paths are decompressed on the fly.
    sep : str or None
        Field separator; None splits on runs of whitespace (leading blanks ignored).
    header : int or None
        Row holding column names, or None for none.
    skiprows : int
        Lines skipped before the header/data.
    skipinitialspace : bool
        Ignore blanks after a separator (UCI files pad numbers with spaces).
    engine : {"pandas", "cudf"}
        ``"cudf"`` parses delimited tables with ``cudf.read_csv`` (on the GPU);
        ``"pandas"``, and any whitespace-separated table, with pandas.

    Returns
    -------
    pandas.DataFrame
        Short rows are padded with NaN; callers check what they need.
    """
    # cuDF's read_csv takes one-character separators only (no whitespace runs), so
    # whitespace-separated tables are always parsed by pandas.
    if check_engine(engine) == "cudf" and sep is not None:
        return _read_with_cudf(source, sep=sep, header=header, skiprows=skiprows,
                               skipinitialspace=skipinitialspace)

    import pandas as pd

    kwargs = {"sep": r"\s+"} if sep is None else {"sep": sep}
    try:
        return pd.read_csv(
            source, header=header, skiprows=skiprows, skipinitialspace=skipinitialspace,
            engine="c", **kwargs,
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{name_of(source)} is empty; replace it with the complete file") from exc
    except (pd.errors.ParserError,) + _PARSE_ERRORS as exc:
        raise DataError(
            f"{name_of(source)}: cannot parse ({_one_line(exc)}); check the file or re-download it"
        ) from exc


def to_float(frame: pd.DataFrame, source: object, hint: str = "fix or replace the file") -> np.ndarray:
    """The table as float64, or DataError naming the first non-numeric column, row and value."""
    import numpy as np
    import pandas as pd

    if frame.shape[0] == 0:  # a header alone: no row to point at
        raise DataError(f"{name_of(source)} has no data rows; {hint}")
    for col in frame.columns:
        series = frame[col]
        if series.dtype.kind in "biuf":
            continue
        bad = (series.notna() & pd.to_numeric(series, errors="coerce").isna()).to_numpy()
        row = int(np.flatnonzero(bad)[0]) if bad.any() else 0
        raise DataError(
            f"{name_of(source)}: column {col!r} is not numeric "
            f"(data row {row}: {series.iloc[row]!r}); {hint}"
        )
    return frame.to_numpy(np.float64)


def first_line(path: Path) -> str:
    """First line of a (possibly gzipped) text file, '' when empty."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.readline(1 << 20)
    except _PARSE_ERRORS as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    return raw.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")


def as_buffer(data: bytes, name: str) -> IO[bytes]:
    """Wrap zip-member bytes in a named BytesIO so messages can say where they came from."""
    buf = io.BytesIO(data)
    buf.name = name  # type: ignore[attr-defined]
    return buf
