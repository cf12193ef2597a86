"""The Dask cluster a job runs on: an existing scheduler, or one started on this machine.

``local`` starts a ``LocalCUDACluster`` (dask-cuda: one worker per GPU) for a
GPU run and a ``dask.distributed.LocalCluster`` of single-threaded worker
processes for a CPU run; anything else is a scheduler's address.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..devices import Device
from ..errors import ConfigError, DataError, DeviceError, GPUN2DError

log = logging.getLogger(__name__)

LOCAL = "local"
CONNECT_TIMEOUT = "20s"
PROBE_TIMEOUT = 5.0
"""Seconds a TCP scheduler address has to accept a connection before the client connects (a refusal fails at
once; an address that does not answer is left to the client's own timeout)."""
HANDSHAKE_TIMEOUT = 20.0
"""Seconds an accepting address has to send a Dask scheduler's handshake (a busy scheduler is slow, not wrong)."""
WORKER_WAIT = 30
"""Seconds an existing cluster has to show at least one worker."""
HANDSHAKE_KEY = b"pickle-protocol"
"""A key of the handshake a Dask scheduler sends first on every connection (``Comm.handshake_info``)."""
DASHBOARD = ":0"
"""A local cluster's dashboard listens on a free port (its address is logged and reported)."""


def _require_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(f"scheduler=... needs Dask: pip install 'gpun2d[dask]' ({exc})") from None
    return distributed


def local_cluster(device: Device, workers: int | None = None):
    """A cluster on this machine for ``device``: one worker per GPU, or ``workers`` CPU processes."""
    distributed = _require_distributed()
    if device.is_cuda:
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError as exc:
            raise DeviceError(f"scheduler='local' on the GPU needs dask-cuda, installed with the [gpu] extra "
                              f"({exc})") from None
        return LocalCUDACluster(n_workers=workers, threads_per_worker=1, dashboard_address=DASHBOARD)
    n_workers = workers or max(1, os.cpu_count() or 1)
    # one thread each: a worker's torch and NumPy then use one core, and the workers share the machine;
    # a worker's failure reaches the client as an error of its own, so the workers' logs stay quiet
    with _workers_ignore_ctrl_c():
        return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                        dashboard_address=DASHBOARD, silence_logs=logging.CRITICAL)


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start worker processes with SIGINT ignored: Ctrl-C reaches this process, which closes the cluster,
    instead of every worker printing its own KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def connect(scheduler: str, device: Device, workers: int | None = None) -> Iterator[object]:
    """A ``distributed.Client`` for ``scheduler`` (``'local'`` or an address), closed on exit.

    A local cluster is shut down with the client; an existing one is left running.
    """
    distributed = _require_distributed()
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("distributed").setLevel(logging.WARNING)  # its own INFO lines would drown the progress
    if workers is not None and scheduler != LOCAL:
        raise ConfigError("workers=N sizes a local cluster; it goes with scheduler='local'")
    if scheduler == LOCAL:
        cluster = local_cluster(device, workers)
        try:
            with distributed.Client(cluster) as client:
                log.info("Dask dashboard: %s", client.dashboard_link)
                yield client
        finally:
            cluster.close()
        return
    reason = _unreachable(scheduler)
    if reason:
        raise ConfigError(f"cannot reach the Dask scheduler at scheduler={scheduler!r} ({reason}); give its "
                          "address, or scheduler='local'")
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
    except Exception as exc:  # OSError, TimeoutError, ValueError; anything else a strange peer provokes
        raise ConfigError(f"cannot reach the Dask scheduler at scheduler={scheduler!r} "
                          f"({' '.join(str(exc).split())[:300]}); give its address, or scheduler='local'") from None
    with client:
        _check_workers(client, scheduler)
        yield client


def _check_workers(client, scheduler: str) -> None:
    """An existing cluster has workers, and each can import gpun2d (else tasks would wait, or fail, forever)."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT)
    except TimeoutError:
        raise ConfigError(f"the Dask scheduler at scheduler={scheduler!r} has no workers (waited {WORKER_WAIT} s); "
                          "start some (dask worker ADDRESS), or use scheduler='local'") from None

    def gpun2d_version() -> str:  # nested, so sent by value: the worker needs only its own gpun2d to answer
        from gpun2d.version import __version__ as version

        return version

    try:
        versions = client.run(gpun2d_version)
    except ImportError as exc:
        raise ConfigError(f"a worker of the Dask scheduler at scheduler={scheduler!r} cannot import gpun2d ({exc}); "
                          "install gpun2d, the same version, on every worker") from None
    from ..version import __version__

    other = sorted({v for v in versions.values() if v != __version__})
    if other:
        log.warning("workers run gpun2d %s, this process %s: install the same version everywhere if labelling "
                    "fails", ", ".join(other), __version__)


def _unreachable(scheduler: str) -> str | None:
    """Why a TCP scheduler address cannot be a Dask scheduler, found in seconds; None when it may be one.

    A scheduler speaks first: it sends its handshake as soon as a connection is
    accepted. A refused port, a name that does not resolve, and a port where
    something else listens (the dashboard's, say) would otherwise make the
    client wait, or read another protocol's bytes as Dask messages.
    """
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(scheduler, strict=False)
        host, port = parse_host_port(location)
    except (ValueError, TypeError):
        return None  # not host:port; the client's own error says why
    if scheme != "tcp":
        return None
    try:
        connection = socket.create_connection((host, port), timeout=PROBE_TIMEOUT)
    except ConnectionRefusedError:
        return "connection refused: nothing listens there"
    except socket.gaierror:
        return f"the host name {host!r} does not resolve"
    except OSError:  # unreachable or slow: the client's own timeout and error apply
        return None
    received = b""
    connection.settimeout(HANDSHAKE_TIMEOUT)
    with connection:
        try:
            while HANDSHAKE_KEY not in received and len(received) < 65536:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                received += chunk
        except OSError:  # a timeout: nothing, or not all of a handshake, came
            pass
    if HANDSHAKE_KEY in received:
        return None
    return ("something listens there but does not answer as a Dask scheduler (a dashboard's port? a scheduler "
            "listens on 8786 unless told otherwise)")


def describe(client) -> dict:
    """The scheduler's address and its workers, for the report."""
    info = client.scheduler_info()
    workers = info.get("workers", {})
    return {"address": client.scheduler.address, "dashboard": client.dashboard_link, "workers": len(workers),
            "threads": sum(w.get("nthreads", 0) for w in workers.values())}


class PartitionError(DataError):
    """A worker could not read or label a partition (a corrupt page, a failing task)."""


def compute(client, *collections):
    """Compute Dask ``collections`` on ``client`` (or Dask's current scheduler when it is None).

    A file a worker cannot read (corrupt or truncated Parquet) becomes a DataError.
    """
    try:
        if client is not None:
            return tuple(client.compute(list(collections), sync=True))
        import dask

        return dask.compute(*collections)
    except GPUN2DError:
        raise
    except Exception as exc:  # a worker's failure (pyarrow's ArrowInvalid, a KeyError...) arrives as itself
        raise PartitionError(f"a partition could not be read or labelled ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())[:300]})") from None
