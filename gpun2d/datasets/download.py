"""Download dataset files into the cache, verified, never leaving partial files.

Each file streams into a temporary file beside its destination
(:func:`gpun2d.atomic.atomic_path`), is checked (md5 where the source
publishes one, a structure check otherwise) and only then renamed into
place.  Mirrors are tried in order.  ``$GPUN2D_MIRROR`` (a base URL) replaces every
mirror with ``$GPUN2D_MIRROR/<cache folder>/<file>``; tests may instead
patch :data:`MIRRORS`.

Each transfer is bounded in time (:data:`DEADLINE_S` in all, however slowly
the server trickles bytes) and in size (the resource's ``max_bytes``, else
:data:`MAX_BYTES`), so a broken or hostile server cannot hold a download
forever or fill the disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from ..atomic import atomic_path
from ..errors import DataError
from .registry import DatasetSpec, Resource

log = logging.getLogger(__name__)

ENV_MIRROR = "GPUN2D_MIRROR"
#: Longest wait for the connection or for any single read.
TIMEOUT_S = 60.0
#: Longest one file's transfer may take in all, connection to last byte.
DEADLINE_S = 30 * 60.0
#: Largest download accepted for a resource that declares no ``max_bytes``.
MAX_BYTES = 1 << 30
CHUNK = 1 << 20
USER_AGENT = "gpun2d-datasets (+https://pypi.org/project/gpun2d)"

#: Base URLs per mirror key, tried in order (torchvision's MNIST order).
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    "usps": ["https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"],
    "pendigits": ["https://archive.ics.uci.edu/ml/machine-learning-databases/pendigits/"],
    "har": ["https://archive.ics.uci.edu/static/public/240/"],
}


class DownloadError(DataError):
    """Every mirror failed for one file; ``attempts`` lists ``"url: reason"``."""

    def __init__(self, filename: str, attempts: list[str]):
        self.filename = filename
        self.attempts = attempts
        super().__init__(f"could not download {filename}: " + "; ".join(attempts))


def urls_for(spec: DatasetSpec, filename: str) -> list[str]:
    """Every URL to try for ``filename`` of ``spec``."""
    env = os.environ.get(ENV_MIRROR)
    if env:
        return [f"{env.rstrip('/')}/{spec.cache_folder}/{filename}"]
    bases = MIRRORS.get(spec.mirror_key or "", [])
    return [base.rstrip("/") + "/" + filename for base in bases]


@contextlib.contextmanager
def _progress_bar(enabled: bool, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _fetch_once(url: str, dest: Path, resource: Resource, progress: bool, timeout: float,
                deadline: float) -> None:
    """Download ``url`` to ``dest`` or raise with the reason; no partial file survives."""
    limit = resource.max_bytes if resource.max_bytes is not None else MAX_BYTES
    start = time.monotonic()
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with atomic_path(dest) as tmp:
        # The socket timeout bounds each wait; the deadline bounds the sum of them.
        with open(tmp, "wb") as out, urllib.request.urlopen(request, timeout=min(timeout, deadline)) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > limit:
                raise DataError(f"the server offers {total} bytes, more than the {limit} expected at most; refused")
            digest, got = hashlib.md5(usedforsecurity=False), 0
            with _progress_bar(progress, dest.name, total) as advance:
                # read1 returns what one read brings, so a trickle cannot hide in a long read.
                while chunk := resp.read1(CHUNK):
                    got += len(chunk)
                    if got > limit:
                        raise DataError(f"received more than the {limit} bytes expected at most; refused")
                    if time.monotonic() - start > deadline:
                        of = f" of {total}" if total is not None else ""
                        raise DataError(
                            f"gave up after {deadline:g} s with {got}{of} bytes received (DEADLINE_S); "
                            "the server is too slow: try again later or another mirror"
                        )
                    out.write(chunk)
                    digest.update(chunk)
                    advance(len(chunk))
        if total is not None and got != total:
            raise DataError(f"truncated: received {got} of {total} bytes")
        if resource.md5 is not None and digest.hexdigest() != resource.md5:
            raise DataError(f"checksum mismatch: expected md5 {resource.md5}, got {digest.hexdigest()}")
        if resource.verify is not None:
            try:
                resource.verify(tmp)
            except DataError as exc:  # name the file as the user knows it, not the temp name
                raise DataError(str(exc).replace(str(tmp), dest.name)) from exc


def download_resource(spec: DatasetSpec, resource: Resource, folder: Path, *,
                      progress: bool = False, timeout: float = TIMEOUT_S, deadline: float | None = None) -> Path:
    """Download one file of ``spec`` into ``folder``, trying each mirror.

    Parameters
    ----------
    timeout : float
        Seconds to wait for the connection or any single read.
    deadline : float, optional
        Seconds one mirror's whole transfer may take; :data:`DEADLINE_S` when None.

    Returns
    -------
    Path
        The verified file. Raises :class:`DownloadError` listing every URL and
        why it failed (offline, HTTP error, truncated, checksum mismatch,
        too slow, too large).
    """
    deadline = DEADLINE_S if deadline is None else deadline
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / resource.filename
    urls = urls_for(spec, resource.filename)
    if not urls:
        raise DownloadError(resource.filename, [f"no download source is known for {spec.name}"])
    attempts = []
    for url in urls:
        log.info("downloading %s", url)
        try:
            _fetch_once(url, dest, resource, progress, timeout, deadline)
        except urllib.error.HTTPError as exc:
            attempts.append(f"{url}: HTTP {exc.code} {exc.reason}")
        except urllib.error.URLError as exc:
            attempts.append(f"{url}: {exc.reason}")
        except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: DataError, bad URL
            attempts.append(f"{url}: {exc}")
        else:
            log.info("saved %s", dest)
            return dest
        log.info("download failed: %s", attempts[-1])
    raise DownloadError(resource.filename, attempts)


def download_dataset(spec: DatasetSpec, folder: Path, *, progress: bool = False,
                     deadline: float | None = None) -> Path:
    """Download every missing resource of ``spec`` into ``folder``; return ``folder``.

    ``deadline`` bounds each file's transfer (see :func:`download_resource`).
    """
    for resource in spec.resources:
        if (folder / resource.filename).is_file():
            log.info("%s already in %s", resource.filename, folder)
            continue
        download_resource(spec, resource, folder, progress=progress, deadline=deadline)
    return folder
