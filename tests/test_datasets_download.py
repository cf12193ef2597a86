"""Downloads from a loopback HTTP server: good, wrong checksum, truncated, down, mirrors."""

from __future__ import annotations

import hashlib
import socket
import threading
from dataclasses import replace
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from gpun2d.atomic import TEMP_PREFIX
from gpun2d.datasets import DATASETS, download, fetch, load, uci
from gpun2d.datasets.registry import Resource
from gpun2d.errors import DataError

try:
    import data_fixtures as fx
except ImportError:  # tests/ imported as a package
    from tests import data_fixtures as fx

isolated = fx.isolated


class Server:
    """Serves ``routes[path] = (body, declared_length)`` on 127.0.0.1 and counts requests."""

    def __init__(self):
        self.routes: dict[str, tuple[bytes, int | None]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.requests.append(self.path)
                if self.path not in server.routes:
                    self.send_error(404, "Not Found")
                    return
                body, declared = server.routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(declared if declared is not None else len(body)))
                self.end_headers()
                self.wfile.write(body)  # HTTP/1.0: the connection closes after this

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
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
    X, y = load("har")
    assert X.shape == (22, 561) and y.max() == 5


def test_real_sources_are_registered():
    assert download.MIRRORS["mnist"][0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert DATASETS["usps"].resources[0] == Resource("usps.bz2", "ec16c51db3855ca6c91edd34d0e9b197")
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
