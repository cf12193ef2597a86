"""Downloads from a loopback HTTP server: good, wrong checksum, truncated, down, mirrors, too slow, too big."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import time
from dataclasses import replace
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from gpun2d.atomic import TEMP_PREFIX
from gpun2d.datasets import DATASETS, download, fetch, load, paths, uci
from gpun2d.datasets.registry import Resource
from gpun2d.errors import ConfigError, DataError, GPUN2DError

try:
    import data_fixtures as fx
except ImportError:  # tests/ imported as a package
    from tests import data_fixtures as fx

isolated = fx.isolated


class Server:
    """Serves ``routes[path] = (body, declared_length)`` on 127.0.0.1 and counts requests.

    ``declared_length`` None sends the true length, NO_LENGTH sends no Content-Length;
    ``trickle[path] = seconds`` sends the body one byte at a time, that many seconds apart.
    """

    NO_LENGTH = -1

    def __init__(self):
        self.routes: dict[str, tuple[bytes, int | None]] = {}
        self.trickle: dict[str, float] = {}
        self.requests: list[str] = []
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.requests.append(self.path)
                if self.path not in server.routes:
                    self.send_error(404, "Not Found")
                    return
                body, declared = server.routes[self.path]
                self.send_response(200)
                if declared != Server.NO_LENGTH:
                    self.send_header("Content-Length", str(declared if declared is not None else len(body)))
                self.end_headers()
                delay = server.trickle.get(self.path)
                if delay is None:
                    self.wfile.write(body)  # HTTP/1.0: the connection closes after this
                    return
                for i in range(len(body)):
                    if server.stop.wait(delay):
                        return
                    try:
                        self.wfile.write(body[i:i + 1])
                    except OSError:  # the client gave up
                        return

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there now


def mnist_test_files(tmp_path):
    """The two t10k gz files of a 10-sample fixture, as bytes, and the expected arrays."""
    X0, y0 = fx.write_mnist(tmp_path / "src", 0, 10, train=False)
    names = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return {n: (tmp_path / "src" / n).read_bytes() for n in names}, X0, y0


def serve_mnist_test(monkeypatch, tmp_path, server, md5=True, **route_kw):
    blobs, X0, y0 = mnist_test_files(tmp_path)
    spec = fx.shrink(monkeypatch, "mnist-test", 10)
    if md5:
        resources = tuple(Resource(n, hashlib.md5(b).hexdigest()) for n, b in blobs.items())
        spec = fx.shrink(monkeypatch, "mnist-test", 10, resources=resources)
    for name, body in blobs.items():
        server.routes[f"/mnist/{name}"] = (body, None)
    monkeypatch.setenv("GPUN2D_MIRROR", server.base)
    return spec, blobs, X0, y0


def leftovers(folder):
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_download_then_load_from_cache(isolated, monkeypatch, tmp_path, server):
    _, blobs, X0, y0 = serve_mnist_test(monkeypatch, tmp_path, server)
    X, y = load("mnist-test")
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    cache = tmp_path / "cache" / "mnist"
    assert leftovers(cache) == sorted(blobs)  # no .part files
    assert len(server.requests) == 2
    load("mnist-test")  # now from the cache
    assert len(server.requests) == 2


def test_download_false_never_touches_the_network(isolated, monkeypatch, tmp_path, server):
    serve_mnist_test(monkeypatch, tmp_path, server)
    with pytest.raises(DataError, match="downloads are off"):
        load("mnist-test", download=False)
    assert server.requests == []


def test_checksum_mismatch(isolated, monkeypatch, tmp_path, server):
    serve_mnist_test(monkeypatch, tmp_path, server, md5=False)  # the spec keeps torchvision's md5
    with pytest.raises(DataError) as info:
        load("mnist-test")
    msg = str(info.value)
    assert "checksum mismatch: expected md5 9fb629c4189551a2d022fa330f9573f3, got " in msg
    assert f"{server.base}/mnist/t10k-images-idx3-ubyte.gz" in msg
    assert leftovers(tmp_path / "cache") == ["mnist"]  # the folder, nothing in it


def test_truncated_download(isolated, monkeypatch, tmp_path, server):
    _, blobs, _, _ = serve_mnist_test(monkeypatch, tmp_path, server)
    name = "t10k-images-idx3-ubyte.gz"
    body = blobs[name]
    server.routes[f"/mnist/{name}"] = (body[:100], len(body))
    with pytest.raises(DataError, match=f"truncated: received 100 of {len(body)} bytes"):
        load("mnist-test")
    assert name not in leftovers(tmp_path / "cache" / "mnist")
    assert not [n for n in leftovers(tmp_path / "cache") if n.startswith(TEMP_PREFIX)]


def test_server_down_message(isolated, monkeypatch, tmp_path):
    fx.shrink(monkeypatch, "mnist-test", 10)
    url = dead_url()
    monkeypatch.setenv("GPUN2D_MIRROR", url)
    with pytest.raises(DataError) as info:
        load("mnist-test", data_dir=tmp_path / "mine")
    msg = str(info.value)
    assert "\n" not in msg
    for part in ("'mnist-test' not found", str(tmp_path / "mine"), str(tmp_path / "cache" / "mnist"),
                 f"{url}/mnist/t10k-images-idx3-ubyte.gz", "refused", "download failed",
                 "t10k-images-idx3-ubyte.gz + t10k-labels-idx1-ubyte.gz", "put "):
        assert part in msg, part
    assert leftovers(tmp_path / "cache" / "mnist") == []


def test_http_error_and_mirror_fallback(isolated, monkeypatch, tmp_path, server):
    serve_mnist_test(monkeypatch, tmp_path, server)
    monkeypatch.delenv("GPUN2D_MIRROR")
    monkeypatch.setitem(download.MIRRORS, "mnist", [dead_url() + "/", f"{server.base}/missing/",
                                                    f"{server.base}/mnist/"])
    X, _ = load("mnist-test", progress=True)
    assert X.shape == (10, 784)
    assert "/missing/t10k-images-idx3-ubyte.gz" in server.requests


def test_all_mirrors_fail_lists_each(isolated, monkeypatch, tmp_path, server):
    fx.shrink(monkeypatch, "mnist-test", 10)
    monkeypatch.setitem(download.MIRRORS, "mnist", [f"{server.base}/a/", f"{server.base}/b/"])
    with pytest.raises(DataError, match=r"/a/t10k-images-idx3-ubyte.gz: HTTP 404.*; .*/b/t10k-images"):
        load("mnist-test")


def test_fetch_downloads_without_loading(isolated, monkeypatch, tmp_path, server):
    serve_mnist_test(monkeypatch, tmp_path, server)
    folder = fetch("mnist-test", progress=False)
    assert folder == tmp_path / "cache" / "mnist"
    assert (folder / "t10k-images-idx3-ubyte.gz").is_file()
    assert fetch("mnist-test") == folder and len(server.requests) == 2
    assert fetch("digits").name == "digits.csv.gz"


def test_fetch_into_data_dir(isolated, monkeypatch, tmp_path, server):
    serve_mnist_test(monkeypatch, tmp_path, server)
    folder = fetch("mnist-test", data_dir=tmp_path / "mine", progress=False)
    assert folder == tmp_path / "mine" / "mnist"
    assert not (tmp_path / "cache" / "mnist").exists()
    X, _ = load("mnist-test", data_dir=tmp_path / "mine", download=False)
    assert X.shape == (10, 784)


def test_structure_checked_sources(isolated, monkeypatch, tmp_path, server):
    """UCI publishes no md5: pendigits rows and the HAR zip contents are checked instead."""
    fx.write_pendigits(tmp_path / "src", 20, 12)
    resources = (Resource("pendigits.tra", verify=partial(uci.verify_pendigits, n_rows=20)),
                 Resource("pendigits.tes", verify=partial(uci.verify_pendigits, n_rows=99)))
    fx.shrink(monkeypatch, "pendigits", 32, resources=resources)
    for name in ("pendigits.tra", "pendigits.tes"):
        server.routes[f"/pendigits/{name}"] = ((tmp_path / "src" / name).read_bytes(), None)
    monkeypatch.setenv("GPUN2D_MIRROR", server.base)
    with pytest.raises(DataError, match="12 rows, expected 99"):
        load("pendigits")
    assert leftovers(tmp_path / "cache" / "pendigits") == ["pendigits.tra"]

    fx.shrink(monkeypatch, "har", 22)
    files = fx.har_tables(14, 8)
    outer = fx.write_har_zip(tmp_path / "src", files, nested=True)
    server.routes[f"/har/{fx.HAR_OUTER}"] = (b"PK\x03\x04 not really a zip", None)
    with pytest.raises(DataError, match="not a readable zip"):
        load("har")
    assert leftovers(tmp_path / "cache" / "har") == []
    server.routes[f"/har/{fx.HAR_OUTER}"] = (outer.read_bytes(), None)
    with pytest.raises(DataError, match=r"the HAR train split has 14 rows, expected 7352; this is not the UCI HAR"):
        load("har")  # the right member names are not enough: the registered check counts the rows
    assert leftovers(tmp_path / "cache" / "har") == []
    verify = partial(uci.verify_har_zip, n_train=14, n_test=8, n_features=561)
    fx.shrink(monkeypatch, "har", 22, resources=(Resource(fx.HAR_OUTER, verify=verify),))
    X, y = load("har")
    assert X.shape == (22, 561) and y.max() == 5


def test_real_sources_are_registered():
    assert download.MIRRORS["mnist"][0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert DATASETS["usps"].resources[0] == Resource("usps.bz2", "ec16c51db3855ca6c91edd34d0e9b197",
                                                     max_bytes=64 << 20)
    assert all(r.max_bytes for spec in DATASETS.values() for r in spec.resources)  # every file is capped
    urls = download.urls_for(replace(DATASETS["har"]), fx.HAR_OUTER)
    assert urls == ["https://archive.ics.uci.edu/static/public/240/" + fx.HAR_OUTER]


def test_cli_datasets_fetch(isolated, monkeypatch, tmp_path, server):
    from click.testing import CliRunner

    from gpun2d.cli import cli

    serve_mnist_test(monkeypatch, tmp_path, server)
    result = CliRunner().invoke(cli, ["datasets", "fetch", "mnist-test"])
    assert result.exit_code == 0, result.output
    assert f"mnist-test: ready in {tmp_path / 'cache' / 'mnist'}" in result.output
    result = CliRunner().invoke(cli, ["datasets", "fetch", "nope"])
    assert result.exit_code == 1 and "Error: unknown dataset" in result.output


# --- limits: time, size, and where the files go ----------------------------------------------

BODY = bytes(range(200))


def serve_file(monkeypatch, server, *, declared=None, trickle=None):
    """``/pendigits/f.bin`` serves BODY; returns its URL."""
    monkeypatch.setenv("GPUN2D_MIRROR", server.base)
    server.routes["/pendigits/f.bin"] = (BODY, declared)
    if trickle is not None:
        server.trickle["/pendigits/f.bin"] = trickle
    return f"{server.base}/pendigits/f.bin"


SLOW = "the server is too slow: try again later or another mirror"

# (case, route settings, Resource keyword arguments, module constants patched, deadline,
#  expected DownloadError message as a regex; {url}: the file's URL)
LIMITS = [
    ("trickle past the deadline", {"trickle": 0.2}, {}, {}, 1.0,
     r"could not download f\.bin: {url}: gave up after 1 s with \d+ of 200 bytes received \(DEADLINE_S\); " + SLOW),
    ("trickle, no length", {"trickle": 0.2, "declared": Server.NO_LENGTH}, {}, {}, 1.0,
     r"could not download f\.bin: {url}: gave up after 1 s with \d+ bytes received \(DEADLINE_S\); " + SLOW),
    ("module deadline", {"trickle": 0.2}, {}, {"DEADLINE_S": 1.0}, None,
     r"could not download f\.bin: {url}: gave up after 1 s with \d+ of 200 bytes received \(DEADLINE_S\); " + SLOW),
    ("stalled after the headers", {"trickle": 30.0}, {}, {}, 1.0, r"could not download f\.bin: {url}: timed out"),
    ("announced size over max_bytes", {}, {"max_bytes": 100}, {}, None,
     r"could not download f\.bin: {url}: the server offers 200 bytes, more than the 100 expected at most; refused"),
    ("received size over max_bytes", {"declared": Server.NO_LENGTH}, {"max_bytes": 100}, {}, None,
     r"could not download f\.bin: {url}: received more than the 100 bytes expected at most; refused"),
    ("global cap", {}, {}, {"MAX_BYTES": 150}, None,
     r"could not download f\.bin: {url}: the server offers 200 bytes, more than the 150 expected at most; refused"),
    ("global cap, no length", {"declared": Server.NO_LENGTH}, {}, {"MAX_BYTES": 150}, None,
     r"could not download f\.bin: {url}: received more than the 150 bytes expected at most; refused"),
]


@pytest.mark.parametrize("route, resource_kw, constants, deadline, expected", [c[1:] for c in LIMITS],
                         ids=[c[0] for c in LIMITS])
def test_download_limits(isolated, monkeypatch, tmp_path, server, route, resource_kw, constants, deadline,
                         expected):
    url = serve_file(monkeypatch, server, **route)
    for name, value in constants.items():
        monkeypatch.setattr(download, name, value)
    folder = tmp_path / "cache" / "pendigits"
    start = time.monotonic()
    with pytest.raises(download.DownloadError) as info:
        download.download_resource(DATASETS["pendigits"], Resource("f.bin", **resource_kw), folder,
                                   deadline=deadline)
    assert time.monotonic() - start < 10  # bounded, however slowly the bytes come
    assert re.fullmatch(expected.format(url=re.escape(url)), str(info.value)), str(info.value)
    assert leftovers(folder) == []


def test_limits_within_bounds_pass(isolated, monkeypatch, tmp_path, server):
    serve_file(monkeypatch, server, trickle=0.01)
    path = download.download_resource(DATASETS["pendigits"], Resource("f.bin", max_bytes=200),
                                      tmp_path / "d", deadline=30.0)
    assert path.read_bytes() == BODY


def test_deadline_surfaces_through_load(isolated, monkeypatch, tmp_path, server):
    fx.shrink(monkeypatch, "pendigits", 32)
    fx.write_pendigits(tmp_path / "src", 20, 12)
    for name in ("pendigits.tra", "pendigits.tes"):
        server.routes[f"/pendigits/{name}"] = ((tmp_path / "src" / name).read_bytes(), None)
        server.trickle[f"/pendigits/{name}"] = 0.2
    monkeypatch.setenv("GPUN2D_MIRROR", server.base)
    monkeypatch.setattr(download, "DEADLINE_S", 1.0)
    with pytest.raises(DataError) as info:
        load("pendigits")
    message = str(info.value)
    assert "\n" not in message
    assert re.search(r"download failed \(.*/pendigits/pendigits\.tra: gave up after 1 s with \d+ of \d+ bytes", message)
    assert leftovers(tmp_path / "cache" / "pendigits") == []


def read_only_folder(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    return folder


def refuse_temp_files(monkeypatch):
    def mkstemp(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(paths.tempfile, "mkstemp", mkstemp)


CACHE_FIX = "set $GPUN2D_CACHE to a writable folder (or put the files into data_dir and pass download=False)"

def a_file(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    return path


# (case, setup(tmp_path, monkeypatch) -> (GPUN2D_CACHE or None, fetch's data_dir or None), expected message;
#  {t}: tmp_path). Each is a ConfigError raised before any request.
CACHE_PROBLEMS = [
    ("cache is a file", lambda t, mp: (a_file(t / "f"), None),
     "cannot download 'mnist-test' into {t}/f/mnist: {t}/f is a file, not a folder; " + CACHE_FIX),
    ("cache under a file", lambda t, mp: (a_file(t / "f") / "sub", None),
     "cannot download 'mnist-test' into {t}/f/sub/mnist: {t}/f is a file, not a folder; " + CACHE_FIX),
    ("dataset folder is a file", lambda t, mp: (a_file(t / "c" / "mnist").parent, None),
     "cannot download 'mnist-test' into {t}/c/mnist: {t}/c/mnist is a file, not a folder; " + CACHE_FIX),
    ("cache not writable", lambda t, mp: (refuse_temp_files(mp) or t / "c", None),
     "cannot download 'mnist-test' into {t}/c/mnist: Permission denied; " + CACHE_FIX),
    ("cache read-only", lambda t, mp: (read_only_folder(t), None),
     "cannot download 'mnist-test' into {t}/ro/mnist: Permission denied; " + CACHE_FIX),
    ("fetch into a file", lambda t, mp: (None, a_file(t / "f")),
     "cannot download 'mnist-test' into {t}/f/mnist: {t}/f is a file, not a folder; pass a writable data_dir"),
]


@pytest.mark.parametrize("setup, expected", [c[1:] for c in CACHE_PROBLEMS], ids=[c[0] for c in CACHE_PROBLEMS])
def test_unusable_download_folder(isolated, monkeypatch, tmp_path, server, setup, expected):
    serve_mnist_test(monkeypatch, tmp_path, server)
    cache, data_dir = setup(tmp_path, monkeypatch)
    if cache is not None:
        monkeypatch.setenv("GPUN2D_CACHE", str(cache))
    with pytest.raises(GPUN2DError) as info:
        fetch("mnist-test", data_dir=data_dir, progress=False) if data_dir else load("mnist-test")
    assert type(info.value) is ConfigError
    assert str(info.value) == expected.format(t=tmp_path)
    assert server.requests == []


def test_cli_fetch_refuses_a_wrong_har_archive(isolated, monkeypatch, tmp_path, server):
    from click.testing import CliRunner

    from gpun2d.cli import cli

    outer = fx.write_har_zip(tmp_path / "src", fx.har_tables(14, 8), nested=True)
    server.routes[f"/har/{fx.HAR_OUTER}"] = (outer.read_bytes(), None)
    monkeypatch.setenv("GPUN2D_MIRROR", server.base)
    result = CliRunner().invoke(cli, ["datasets", "fetch", "har"])
    assert result.exit_code == 1, result.output
    assert "Error: dataset 'har' not found" in result.output
    assert "the HAR train split has 14 rows, expected 7352" in result.output
    assert leftovers(tmp_path / "cache" / "har") == []
