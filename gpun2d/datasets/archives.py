"""Zip members read into memory under a size cap.

Datasets shipped as zips (HAR) are read straight from memory; a wrong or
forged archive whose member unpacks to gigabytes must be refused before it
is inflated, not after it has filled the memory.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from ..errors import DataError

#: Largest zip member read into memory (HAR's biggest table, X_train.txt, is 66 MB).
MAX_MEMBER_BYTES = 512 << 20


def _refuse(where: str, size: int, limit: int) -> DataError:
    return DataError(
        f"{where} unpacks to {size} bytes, more than the {limit} allowed (archives.MAX_MEMBER_BYTES); "
        "this is not the expected archive or it is damaged: delete it and download it again"
    )


def read_member(zf: zipfile.ZipFile, name: str, path: Path | str) -> bytes:
    """Bytes of member ``name`` of ``zf`` (opened from ``path``), refused above :data:`MAX_MEMBER_BYTES`.

    The size the archive declares is checked before anything is inflated, and
    the read stops one byte past the cap whatever the archive declares.
    """
    limit = MAX_MEMBER_BYTES
    where = f"{path}!{name}"
    try:
        info = zf.getinfo(name)
        if info.file_size > limit:
            raise _refuse(where, info.file_size, limit)
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError) as exc:
        raise DataError(f"{where} cannot be read ({exc}); the zip is damaged: delete it and download it again") from exc
    if len(data) > limit:
        raise _refuse(where, len(data), limit)
    return data
