"""Result folders that are never lost: reserved before the work, published whole at the end.

:class:`ResultFolder` checks, before any compute, that the folder can be
written and is not an earlier result (replaced only with ``overwrite=True``),
and takes a lock beside it, so two processes cannot both write it. The result
is written into a hidden temporary folder beside it and renamed into place at
the end; an interrupted job removes its temporary folder, and one left by a
killed process is removed by the next job that reserves the same folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .atomic import umask_mode
from .errors import ConfigError

log = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def unwritable(folder: str | Path) -> str | None:
    """Why no folder could be made at or inside ``folder`` (nothing is created to find out), or None."""
    path = Path(os.path.abspath(folder))
    existing = next(p for p in (path, *path.parents) if os.path.lexists(p))
    if existing.is_symlink() and not existing.exists():
        return f"{existing} is a symbolic link to nothing"
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def check_writable(out: Path, where: Path) -> None:
    """Create ``where`` if needed and prove a folder can be made in it, or a ConfigError about ``out``."""
    try:
        where.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".probe", dir=where))
    except OSError as exc:
        reason = unwritable(where) or exc.strerror or exc
        raise ConfigError(f"out={out} cannot be written ({reason}); choose another out=FOLDER") from None


class FolderLock:
    """``.NAME.lock`` beside the folder ``out``, holding the owner's pid; one gpun2d job per folder.

    A lock whose process no longer runs is stale: it is removed with a warning.
    """

    def __init__(self, out: str | Path):
        self.out = Path(os.path.abspath(out))
        self.lock = self.out.with_name(f".{self.out.name}.lock")
        self.held = False

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        for _ in range(2):
            # the lock appears with its pid already in it (link is atomic), so no reader sees it empty
            fd, tmp = tempfile.mkstemp(prefix=f".{self.out.name}.", suffix=".lock-new", dir=self.out.parent)
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
            try:
                os.link(tmp, self.lock)
            except FileExistsError:
                pid = self.owner()
                if pid is not None and _pid_alive(pid):
                    raise ConfigError(f"out={self.out} is being written by another gpun2d process (pid {pid}); "
                                      "wait for it, or choose another out=FOLDER") from None
                log.warning("removing the stale lock %s of a process that no longer runs", self.lock)
                try:
                    self.lock.unlink(missing_ok=True)
                except OSError:
                    raise ConfigError(f"out={self.out}: {self.lock} is in the way and is not a lock file; "
                                      "remove it") from None
                continue
            finally:
                os.unlink(tmp)
            self.held = True
            return
        raise ConfigError(f"out={self.out}: cannot take the lock {self.lock}; remove it if no gpun2d job runs")

    def owner(self) -> int | None:
        try:
            pid = int(self.lock.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid > 0 else None  # 0 and -1 name process groups, never a gpun2d job

    def release(self) -> None:
        if self.held:
            self.lock.unlink(missing_ok=True)
            self.held = False


def missing_parents(path: Path) -> list[Path]:
    """The folders above ``path`` that do not exist yet, deepest first."""
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing


class ResultFolder:
    """The folder ``out`` a job will publish; use as a context manager around the whole job.

    Parameters
    ----------
    out : path
        Where the result appears, complete, when the job succeeds.
    owned : tuple of str
        File names a result of this kind holds (anything else in an existing
        ``out`` is someone else's, never replaced).
    overwrite : bool
        Replace an earlier result in ``out``; without it an existing,
        non-empty ``out`` is refused before any work.
    """

    def __init__(self, out: str | Path, owned: tuple[str, ...], overwrite: bool = False):
        self.out = Path(os.path.abspath(out))  # "." and "" name the current folder, whose name is known
        if self.out.is_symlink() and self.out.is_dir():  # a link to a folder: the result goes where it points
            self.out = Path(os.path.realpath(self.out))
        self.owned, self.overwrite = tuple(owned), overwrite
        self.lock = FolderLock(self.out)
        self._made: list[Path] = []
        self.published = False

    # ------------------------------------------------------------- reserve
    def __enter__(self) -> ResultFolder:
        try:
            self._made = missing_parents(self.out)  # deepest first; check() makes them
            self.check()
            with contextlib.ExitStack() as stack:
                stack.enter_context(self.lock)
                self._remove_stale_temps()
                stack.pop_all()
        except PermissionError as exc:
            self._remove_made()
            raise ConfigError(f"out={self.out} cannot be used ({exc.strerror}: {exc.filename}); choose another "
                              "out=FOLDER") from None
        except BaseException:
            self._remove_made()
            raise
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.lock.release()
        if not self.out.exists():  # nothing published: leave no folder this job made for it
            self._remove_made()
        elif exc_type is not None and self.published:  # stopped while closing down (a Dask cluster, say)
            log.warning("the result in %s was complete before the job stopped; it is kept", self.out)

    def _remove_made(self) -> None:
        for folder in self._made:
            try:
                folder.rmdir()
            except OSError:  # not empty (someone else's files) or gone: leave it and its parents
                break

    def check(self) -> None:
        """Fail now, before any work, if the result could not be published."""
        out = self.out
        if out.is_symlink() and not out.exists():
            raise ConfigError(f"out={out} is a symbolic link to nothing; choose another out=FOLDER")
        if out.exists() and not out.is_dir():
            raise ConfigError(f"out={out} exists and is not a folder")
        if out.is_dir() and any(out.iterdir()):
            foreign = sorted(p.name for p in out.iterdir() if p.name not in self.owned)
            if foreign:
                raise ConfigError(f"out={out} already holds other files ({', '.join(foreign[:3])}); "
                                  "choose another out=FOLDER")
            if not self.overwrite:
                raise ConfigError(f"out={out} already holds a result; replace it with overwrite=True, "
                                  "or choose another out=FOLDER")
        # an existing empty folder (a mount point, say) receives the files; otherwise the parent does
        check_writable(out, out if out.is_dir() else out.parent)

    def _remove_stale_temps(self) -> None:
        """Temporary folders of ``out`` left by a killed job (we hold the lock, so none is in use)."""
        for stale in self.out.parent.glob(f".{self.out.name}.*.tmp"):
            log.warning("removing %s, left by an interrupted gpun2d job", stale)
            shutil.rmtree(stale, ignore_errors=True)

    # ------------------------------------------------------------- publish
    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A temporary folder beside ``out``; when the block succeeds it becomes ``out``."""
        if not self.lock.held:
            raise RuntimeError("ResultFolder.staging() outside its 'with' block")
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", suffix=".tmp", dir=self.out.parent))
        os.chmod(tmp, umask_mode(0o777))  # mkdtemp makes it private; the result should not be
        try:
            yield tmp
            self._publish(tmp)
            self.published = True
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _publish(self, tmp: Path) -> None:
        out = self.out
        if out.is_dir() and not any(out.iterdir()):  # an empty folder made for the result: fill it
            for item in tmp.iterdir():
                os.rename(item, out / item.name)
            return
        if not out.exists():
            os.rename(tmp, out)
            return
        self.check()  # still ours to replace (overwrite=True and only our kind of files)
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
