"""Parse delimited text tables with pandas on the CPU or cuDF on the GPU.

The GPU branch only speeds up parsing: the table comes back as pandas/NumPy
either way and the caller moves arrays to the device.  cuDF is imported
inside :func:`read_table`, never at module import.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import zlib
from pathlib import Path
from typing import IO, TYPE_CHECKING, Union

from ..errors import ConfigError, DataError, DeviceError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

Source = Union[str, Path, IO[bytes]]

# Exceptions a parser raises on a corrupt or malformed file.
_PARSE_ERRORS = (ValueError, EOFError, OSError, UnicodeDecodeError, zlib.error, gzip.BadGzipFile)


def wants_gpu(device: object) -> bool:
    """True when ``device`` asks for GPU parsing.

    Accepts ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"`` (cuDF if it
    imports), ``None`` (CPU), or an object with an ``is_cuda`` attribute
    such as :class:`gpun2d.devices.Device`.
    """
    if device is None:
        return False
    if hasattr(device, "is_cuda"):
        return bool(device.is_cuda)
    text = str(getattr(device, "value", device)).lower()
    if text == "cpu":
        return False
    if text == "cuda" or text.startswith("cuda:"):
        return True
    if text == "auto":  # the GPU path only where the whole pipeline would run there
        from ..devices import resolve_device

        return resolve_device("auto").is_cuda
    raise ConfigError(f"unknown device {device!r} for parsing; use 'cpu' or 'cuda'")


def _import_cudf():
    try:
        import cudf
    except ImportError as exc:
        raise DeviceError(
            f"GPU parsing needs cuDF, which is not installed ({exc}); "
            "install gpun2d[gpu] (cudf-cu13) or parse on the CPU with device='cpu'"
        ) from exc
    return cudf


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
    device: object = "cpu",
) -> "pd.DataFrame":
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
    device : str
        ``"cuda"`` parses delimited tables with ``cudf.read_csv``; ``"cpu"``
        (and any whitespace-separated table) with pandas.

    Returns
    -------
    pandas.DataFrame
        Short rows are padded with NaN; callers check what they need.
    """
    # cuDF's read_csv takes one-character separators only (no whitespace runs), so
    # whitespace-separated tables are always parsed by pandas.
    if wants_gpu(device) and sep is not None:
        cudf = _import_cudf()
        try:
            frame = cudf.read_csv(
                source, sep=sep, header=header, skiprows=skiprows, skipinitialspace=skipinitialspace,
            )
        except _PARSE_ERRORS + (RuntimeError,) as exc:
            raise DataError(f"{name_of(source)}: cannot parse ({exc}); check the file or re-download it") from exc
        return frame.to_pandas()

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
        msg = " ".join(str(exc).split())
        raise DataError(f"{name_of(source)}: cannot parse ({msg}); check the file or re-download it") from exc


def to_float(frame: "pd.DataFrame", source: object, hint: str = "fix or replace the file") -> "np.ndarray":
    """The table as float64, or DataError naming the first non-numeric column, row and value."""
    import numpy as np
    import pandas as pd

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
