"""Download dataset files into the cache, verified, never leaving partial files.

Each file streams into a temporary file beside its destination
(:func:`gpun2d.atomic.atomic_path`), is checked (md5 where the source
publishes one, a structure check otherwise) and only then renamed into
place.  Mirrors are tried in order.  ``$GPUN2D_MIRROR`` (a base URL) replaces every
mirror with ``$GPUN2D_MIRROR/<cache folder>/<file>``; tests may instead
patch :data:`MIRRORS`.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from ..atomic import atomic_path
from ..errors import DataError
from .registry import DatasetSpec, Resource

log = logging.getLogger(__name__)

ENV_MIRROR = "GPUN2D_MIRROR"
TIMEOUT_S = 60.0
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


def _fetch_once(url: str, dest: Path, md5: str | None, verify: Callable[[Path], None] | None,
                progress: bool, timeout: float) -> None:
    """Download ``url`` to ``dest`` or raise with the reason; no partial file survives."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            digest, got = hashlib.md5(usedforsecurity=False), 0
            with _progress_bar(progress, dest.name, total) as advance:
                while chunk := resp.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    got += len(chunk)
                    advance(len(chunk))
        if total is not None and got != total:
            raise DataError(f"truncated: received {got} of {total} bytes")
        if md5 is not None and digest.hexdigest() != md5:
            raise DataError(f"checksum mismatch: expected md5 {md5}, got {digest.hexdigest()}")
        if verify is not None:
            try:
                verify(tmp)
            except DataError as exc:  # name the file as the user knows it, not the temp name
                raise DataError(str(exc).replace(str(tmp), dest.name)) from exc


def download_resource(spec: DatasetSpec, resource: Resource, folder: Path, *,
                      progress: bool = False, timeout: float = TIMEOUT_S) -> Path:
    """Download one file of ``spec`` into ``folder``, trying each mirror.

    Returns
    -------
    Path
        The verified file. Raises :class:`DownloadError` listing every URL and
        why it failed (offline, HTTP error, truncated, checksum mismatch).
    """
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / resource.filename
    urls = urls_for(spec, resource.filename)
    if not urls:
        raise DownloadError(resource.filename, [f"no download source is known for {spec.name}"])
    attempts = []
    for url in urls:
        log.info("downloading %s", url)
        try:
            _fetch_once(url, dest, resource.md5, resource.verify, progress, timeout)
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


def download_dataset(spec: DatasetSpec, folder: Path, *, progress: bool = False) -> Path:
    """Download every missing resource of ``spec`` into ``folder``; return ``folder``."""
    for resource in spec.resources:
        if (folder / resource.filename).is_file():
            log.info("%s already in %s", resource.filename, folder)
            continue
        download_resource(spec, resource, folder, progress=progress)
    return folder
