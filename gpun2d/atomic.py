"""Write-then-rename: files appear complete or not at all, with the user's usual permissions."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_PREFIX = ".gpun2d-"


def umask_mode(mode: int) -> int:
    """``mode`` less the process umask: what open()/mkdir() would have given."""
    current = os.umask(0)
    os.umask(current)
    return mode & ~current


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it becomes ``path`` only if the block succeeds.

    The temporary file is made private by ``mkstemp``; it gets the umask's
    usual permissions before the rename, like any file the user writes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, umask_mode(0o666))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
