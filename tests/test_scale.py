"""Past one machine: shards read lazily, the fit sample, and labels applied on a real Dask LocalCluster.

The cluster has two worker processes, as in production; the distributed
labels are compared with the single-process model's ``predict`` on the same rows.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from gpun2d import N2D
from gpun2d.cli import cli
from gpun2d.devices import resolve_device
from gpun2d.errors import ConfigError, DataError
from gpun2d.scale import sample
from gpun2d.scale.apply import ROW_NUMBER
from gpun2d.scale.job import CLUSTERS, ScaleConfig, count_rows, run_scaled
from gpun2d.scale.shards import read_shards

distributed = pytest.importorskip("distributed")

SMALL = {"epochs": 3, "cluster_n_init": 2, "random_state": 0, "device": "cpu"}
FEATURES = [f"p{j}" for j in range(64)]


def write_parquet_shards(folder: Path, X: np.ndarray, y: np.ndarray, parts: int = 6) -> Path:
    """``X`` and ``y`` as ``parts`` Parquet files: an id column, the features, a label column."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, rows in enumerate(np.array_split(np.arange(len(X)), parts)):
        frame = pd.DataFrame(X[rows], columns=FEATURES)
        frame.insert(0, "rid", [f"r{k}" for k in rows])
        frame["digit"] = y[rows]
        frame.to_parquet(folder / f"part{i:02d}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def dask_client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def shards(digits, tmp_path_factory):
    X, y = digits
    return write_parquet_shards(tmp_path_factory.mktemp("shards"), X, y)


@pytest.fixture(scope="module")
def scaled(shards, dask_client, tmp_path_factory):
    """One scaled run on the fixture's cluster (joined by its address): its folder and results."""
    out = tmp_path_factory.mktemp("runs") / "scaled"
    config = ScaleConfig(str(shards / "*.parquet"), out, scheduler=dask_client.scheduler.address, fit_sample=700,
                         id_column="rid", label_column="digit", model=dict(SMALL))
    return out, run_scaled(config)


# --------------------------------------------------------------------------- sample
def test_rows_are_drawn_uniformly_and_reproducibly():
    lengths = np.array([5, 0, 7, 3])
    picks = sample.choose_rows(lengths, 10, seed=3)
    assert sum(len(p) for p in picks.values()) == 10
    assert all(0 <= pos.min() and pos.max() < lengths[part] for part, pos in picks.items())
    assert all(np.all(np.diff(pos) > 0) for pos in picks.values())  # sorted, no row twice
    again = sample.choose_rows(lengths, 10, seed=3)
    assert all(np.array_equal(picks[p], again[p]) for p in picks) and picks.keys() == again.keys()
    counts = np.zeros(15)
    for seed in range(2000):
        for part, pos in sample.choose_rows(lengths, 3, seed).items():
            counts[np.concatenate([[0], np.cumsum(lengths)])[part] + pos] += 1
    assert counts.min() > 0.7 * counts.mean()  # every row is drawn about equally often
    with pytest.raises(DataError, match="more than the 15 rows"):
        sample.choose_rows(lengths, 16, seed=0)


@pytest.mark.parametrize(("free", "rows", "reason"), [
    (10**12, 500, "all rows"),
    (10**13, sample.defaults.FIT_SAMPLE_MAX, "cap"),
    (4 * 10**6, 4 * 10**6 // 4 // (4 * 64 + sample.ROW_OVERHEAD_BYTES), "memory"),
])
def test_default_fit_sample_says_what_chose_it(monkeypatch, free, rows, reason):
    monkeypatch.setattr(sample, "free_memory", lambda device: free)
    n_rows = 500 if reason == "all rows" else 10**7
    size, why = sample.default_fit_sample(n_rows, 64, resolve_device("cpu"))
    assert (size, why) == (rows, reason)


# --------------------------------------------------------------------------- shards
def test_shards_name_their_columns(shards):
    read = read_shards(shards / "*.parquet", id_column="rid", label_column="digit")
    assert read.features == FEATURES and read.columns == [*FEATURES, "rid", "digit"] and len(read.files) == 6
    assert sample.partition_lengths(read.frame).tolist() == [300, 300, 300, 299, 299, 299]


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"id_column": "nope"}, ConfigError, "id_column='nope' is not a column"),
    ({"label_column": "nope"}, ConfigError, "label_column='nope' is not a column"),
    ({"id_column": "nope"}, ConfigError, r"\(rid, p0, p1, p2, p3, p4, … \(57 more\), p62, p63, digit\)$"),
    ({}, DataError, "must be numbers; rid"),
])
def test_bad_columns_are_named(shards, kwargs, error, match):
    with pytest.raises(error, match=match):
        read_shards(shards / "*.parquet", **kwargs)


def test_bad_shard_sets_are_refused(tmp_path, digits):
    X, _ = digits
    with pytest.raises(DataError, match="matches no file"):
        read_shards(tmp_path / "*.parquet")
    np.save(tmp_path / "a.npy", X[:10])
    pd.DataFrame(X[:10], columns=FEATURES).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(DataError, match="mixes Parquet and .npy"):
        read_shards(tmp_path / "*")
    (tmp_path / "c.csv").write_text("1,2\n")
    with pytest.raises(DataError, match="must be .parquet or .npy"):
        read_shards(tmp_path / "c.csv")
    np.save(tmp_path / "d.npy", X[:10, :5])
    with pytest.raises(DataError, match="different numbers of columns"):
        read_shards(tmp_path / "*.npy")
    with pytest.raises(ConfigError, match="need Parquet shards"):
        read_shards(tmp_path / "a.npy", id_column="rid")
    (tmp_path / "e.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:200])
    with pytest.raises(DataError, match="e.npy is not a readable .npy file"):
        read_shards(tmp_path / "e.npy")
    np.save(tmp_path / "f.npy", X[:10].ravel())
    with pytest.raises(DataError, match="a shard must be a 2-D array of numbers"):
        read_shards(tmp_path / "f.npy")


# ------------------------------------------------------------------- the scaled run
def test_distributed_labels_equal_single_process_predict(scaled, digits):
    out, results = scaled
    X, y = digits
    written = pd.read_parquet(out / CLUSTERS)
    assert len(written) == len(X) and written["rid"].is_unique
    written = written.set_index("rid").loc[[f"r{k}" for k in range(len(X))]]
    model = N2D.load(out, device="cpu")
    expected = model.predict(pd.DataFrame(X, columns=FEATURES))
    np.testing.assert_array_equal(written["cluster"].to_numpy(), expected)
    np.testing.assert_array_equal(written["label"].to_numpy(), y)
    np.testing.assert_allclose(written["probability"].to_numpy(),
                               model.predict_proba(pd.DataFrame(X, columns=FEATURES)).max(axis=1))
    assert results["rows"] == {"read": len(X), "written": len(X)}
    assert results["fit_sample"]["rows"] == 700 and results["fit_sample"]["chosen_by"] == "given"
    assert model.embedding_.shape[0] == 700  # fitted on the sample, not the whole data


def test_scores_come_from_the_written_labels(scaled, digits):
    from gpun2d.metrics import evaluate

    out, results = scaled
    written = pd.read_parquet(out / CLUSTERS)
    expected = evaluate(written["label"].to_numpy(), written["cluster"].to_numpy())
    assert results["metrics"] == pytest.approx({**expected, "scored_rows": len(written)}, abs=1e-12)
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["rows"]["written"] == count_rows(out / CLUSTERS) == len(digits[0])
    assert on_disk["scheduler"]["workers"] == 2 and on_disk["data"]["partitions"] == 6
    assert on_disk["config"]["fit_sample"] == 700 and "client" not in on_disk["config"]  # the job's, not N2D's None
    assert {"dask", "distributed", "pyarrow"} <= set(on_disk["versions"])


def test_npy_shards_are_numbered_in_order(tmp_path, digits, dask_client):
    X, _ = digits
    for i, rows in enumerate(np.array_split(np.arange(600), 4)):
        np.save(tmp_path / f"s{i}.npy", X[rows])
    out = tmp_path / "run"
    run_scaled(ScaleConfig(str(tmp_path / "s*.npy"), out, scheduler=dask_client.scheduler.address, fit_sample=300,
                           n_clusters=10, model=dict(SMALL)))
    written = pd.read_parquet(out / CLUSTERS).sort_values(ROW_NUMBER)
    np.testing.assert_array_equal(written[ROW_NUMBER].to_numpy(), np.arange(600))
    np.testing.assert_array_equal(written["cluster"].to_numpy(), N2D.load(out, device="cpu").predict(X[:600]))


class KillOnce(distributed.WorkerPlugin):
    """Kills the worker it runs in when that worker has written its second partition, once per test."""

    def __init__(self, marker: str):
        self.marker, self.written = marker, 0

    def transition(self, key, start, finish, **kwargs):
        name = key[0] if isinstance(key, tuple) else str(key)
        if finish != "memory" or not str(name).startswith("toparquetdata"):
            return
        self.written += 1
        if self.written == 2:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))  # only the first worker to get here
            except FileExistsError:
                return
            os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_worker_loses_and_duplicates_no_row(tmp_path, digits):
    X, y = digits
    shards = write_parquet_shards(tmp_path / "shards", X, y, parts=12)
    marker = tmp_path / "killed"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        client.register_plugin(KillOnce(str(marker)))
        out = tmp_path / "run"
        results = run_scaled(ScaleConfig(str(shards / "*.parquet"), out, scheduler=cluster.scheduler_address,
                                         fit_sample=500, id_column="rid", label_column="digit", model=dict(SMALL)))
    assert marker.exists()  # a worker did die mid-apply
    written = pd.read_parquet(out / CLUSTERS)
    assert len(written) == len(X) and written["rid"].is_unique
    assert results["rows"] == {"read": len(X), "written": len(X)}
    model = N2D.load(out, device="cpu")
    written = written.set_index("rid").loc[[f"r{k}" for k in range(len(X))]]
    np.testing.assert_array_equal(written["cluster"].to_numpy(), model.predict(pd.DataFrame(X, columns=FEATURES)))


# -------------------------------------------------------------------------------- CLI
def test_cli_runs_shards_on_a_local_cluster(shards, tmp_path):
    out = tmp_path / "cli"
    args = ["run", "--input", str(shards / "*.parquet"), "--id-column", "rid", "--label-column", "digit",
            "--scheduler", "local", "--workers", "2", "--fit-sample", "600", "--epochs", "2",
            "--cluster-n-init", "2", "--device", "cpu", "--quiet", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "1797 rows labelled" in result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["results.json", "clusters", "model.json", "autoencoder.pt", "manifold.npz", "cluster.npz"])
    again = CliRunner().invoke(cli, args)  # an earlier result is never replaced unasked
    assert again.exit_code == 1 and "already holds a result" in again.output


@pytest.mark.parametrize(("extra", "match"), [
    (["--fit-sample", "10"], "--fit-sample goes with --scheduler"),
    (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--workers sizes a cluster started here"),
    (["--scheduler", "local", "--visualize"], "--visualize cannot be used with --scheduler"),
])
def test_cli_refuses_what_a_scaled_run_cannot_do(shards, tmp_path, extra, match):
    result = CliRunner().invoke(cli, ["run", "--input", str(shards / "part00.parquet"), "--device", "cpu",
                                      "--out", str(tmp_path / "x"), *extra])
    assert result.exit_code == 2 and match in result.output
    assert not (tmp_path / "x").exists()


def test_cli_says_to_quote_a_pattern_the_shell_expanded(shards, tmp_path):
    files = sorted(str(p) for p in shards.glob("*.parquet"))
    result = CliRunner().invoke(cli, ["run", "--input", *files, "--scheduler", "local", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--input takes one path: quote a pattern of shards" in result.output
    assert not (tmp_path / "o").exists()


def test_cli_needs_a_scheduler_for_a_pattern(shards, tmp_path):
    result = CliRunner().invoke(cli, ["run", "--input", str(shards / "*.parquet"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "needs --scheduler" in result.output


def test_non_finite_rows_leave_nothing_behind(tmp_path, digits, dask_client):
    X, y = digits
    X = X.copy()
    X[1500, 3] = np.nan  # in a shard the fit sample may not touch: the workers must find it
    shards = write_parquet_shards(tmp_path / "shards", X, y)
    out = tmp_path / "run"
    with pytest.raises(DataError, match="NaN or infinite"):
        run_scaled(ScaleConfig(str(shards / "*.parquet"), out, scheduler=dask_client.scheduler.address,
                               fit_sample=300, id_column="rid", label_column="digit", model=dict(SMALL)))
    assert not out.exists() and not list(tmp_path.glob(".run.*"))


# ------------------------------------------------------------------ N2D(client=...)
def test_n2d_fits_a_sample_of_a_dask_frame_and_predicts_lazily(shards, dask_client, digits):
    import dask.dataframe as dd
    from sklearn.base import clone

    X, _ = digits
    frame = dd.read_parquet(str(shards / "*.parquet"))[FEATURES]
    model = N2D(10, **SMALL, client=dask_client, fit_sample=500)
    assert clone(model).client is dask_client  # a connection is shared, never copied
    model.fit(frame)
    assert model.fit_sample_ == {"rows": 500, "total": len(X), "chosen_by": "given"}
    assert list(model.feature_names_in_) == FEATURES and model.embedding_.shape[0] == 500
    again = N2D(10, **SMALL, client=dask_client, fit_sample=500).fit(frame)
    np.testing.assert_array_equal(again.labels_, model.labels_)  # the same seed draws the same sample
    lazy = model.predict(frame)
    assert type(lazy).__module__.startswith("dask")
    whole = pd.DataFrame(X, columns=FEATURES)
    np.testing.assert_array_equal(lazy.compute().to_numpy(), model.predict(whole))
    np.testing.assert_allclose(model.predict_proba(frame).compute().to_numpy(), model.predict_proba(whole))


def test_n2d_takes_a_dask_array(dask_client, digits):
    import dask.array as da

    X, _ = digits
    array = da.from_array(X[:900], chunks=(200, 32))
    model = N2D(10, **SMALL, fit_sample=400).fit(array)  # Dask's current client draws the sample
    assert model.fit_sample_["rows"] == 400 and model.fit_sample_["total"] == 900
    np.testing.assert_array_equal(model.predict(array).compute(), model.predict(X[:900]))
    np.testing.assert_allclose(model.transform(array).compute(), model.transform(X[:900]))
    assert model.transform(array).shape == (900, 10)
    labels = N2D(10, **SMALL, fit_sample=400).fit_predict(array)  # every row's cluster, not the sample's
    np.testing.assert_array_equal(labels.compute(), model.predict(X[:900]))


def test_fit_sample_is_checked():
    from gpun2d.estimator import ParameterError

    with pytest.raises(ParameterError, match="fit_sample"):
        N2D(3, fit_sample=1).fit(np.random.default_rng(0).normal(size=(50, 4)))
    dask_array = pytest.importorskip("dask.array")
    rows = dask_array.from_array(np.random.default_rng(0).normal(size=(50, 4)), chunks=10)
    with pytest.raises(ConfigError, match="fit_sample=10 is too few: the model needs at least 21 rows"):
        N2D(3, fit_sample=10, device="cpu").fit(rows)  # before any row is read


def test_a_fit_sample_too_small_fails_before_any_row_is_read(tmp_path, monkeypatch):
    (tmp_path / "a.parquet").write_bytes(b"not read")
    monkeypatch.setattr("gpun2d.scale.job.read_shards", lambda *a, **k: pytest.fail("rows were read"))
    config = ScaleConfig(input_path=str(tmp_path / "*.parquet"), out=tmp_path / "out", scheduler="local",
                         fit_sample=15, n_clusters=10, model={"device": "cpu"})
    with pytest.raises(ConfigError, match="fit_sample=15 is too few: the model needs at least 21 rows"):
        run_scaled(config)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("answer", [b"", b"HTTP/1.0 400 Bad Request\r\n\r\n" + bytes(range(256)) * 64])
def test_a_port_that_is_no_dask_scheduler_fails_in_seconds(monkeypatch, answer):
    import socket
    import threading

    from gpun2d.scale import client as clients

    monkeypatch.setattr(clients, "HANDSHAKE_TIMEOUT", 0.5)
    server = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve():  # accepts, answers ``answer`` (or nothing), keeps the connection open until the test ends
        connection, _ = server.accept()
        connection.sendall(answer)
        done.wait(10)
        connection.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        with pytest.raises(ConfigError, match="something listens there but does not answer as a Dask scheduler"):
            with clients.connect(f"tcp://127.0.0.1:{server.getsockname()[1]}", resolve_device("cpu")):
                pass
    finally:
        done.set()
        server.close()


def test_a_scheduler_address_whose_host_does_not_resolve_fails_at_once(monkeypatch):
    import socket

    from gpun2d.scale import client as clients

    def unresolved(address, timeout):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", unresolved)
    with pytest.raises(ConfigError, match="the host name 'nosuchhost' does not resolve"):
        with clients.connect("tcp://nosuchhost:8786", resolve_device("cpu")):
            pass


def test_a_refused_scheduler_address_fails_at_once():
    import socket
    import time

    from gpun2d.scale import client as clients

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(ConfigError, match="connection refused: nothing listens there"):
        with clients.connect(f"tcp://127.0.0.1:{port}", resolve_device("cpu")):
            pass
    assert time.monotonic() - start < clients.PROBE_TIMEOUT  # not the client's 20 s connect timeout


def test_a_worker_keeps_only_its_latest_models(monkeypatch):
    from gpun2d.persistence import MANIFEST
    from gpun2d.scale import apply

    loads = []

    class Loaded:
        @staticmethod
        def load(folder, device):
            loads.append(Path(folder, MANIFEST).read_bytes())
            return loads[-1]

    monkeypatch.setattr(apply, "_MODELS", type(apply._MODELS)())
    monkeypatch.setattr(apply, "_use_worker_threads", lambda: None)
    models = [{MANIFEST: b"model %d" % i} for i in range(apply.MODELS_KEPT + 2)]
    for files in models:
        assert apply.worker_model(files, "cpu", Loaded) == files[MANIFEST]
    assert len(apply._MODELS) == apply.MODELS_KEPT
    assert apply.worker_model(models[-1], "cpu", Loaded) == models[-1][MANIFEST]  # the newest stays loaded
    assert apply.worker_model(models[0], "cpu", Loaded) == models[0][MANIFEST]  # the oldest is loaded again
    assert loads == [files[MANIFEST] for files in models] + [models[0][MANIFEST]]


# ------------------------------------------------------------------------------ GPU
def test_dask_cuda_and_dask_cudf_calls_match_their_signatures():
    """The calls gpun2d.scale makes on a GPU box, bound against the installed signatures (on any machine)."""
    import inspect

    dask_cuda = pytest.importorskip("dask_cuda", reason="dask-cuda comes with the [gpu] extra")
    inspect.signature(dask_cuda.LocalCUDACluster).bind(n_workers=None, threads_per_worker=1, dashboard_address=":0")
    try:
        import dask_cudf
    except Exception as exc:  # dask_cudf imports cuDF, which needs a CUDA driver
        pytest.skip(f"dask_cudf does not import here: {type(exc).__name__}")
    inspect.signature(dask_cudf.read_parquet).bind(["a.parquet", "b.parquet"])


@pytest.mark.gpu
@pytest.mark.cuml
def test_scaled_run_on_a_local_cuda_cluster(shards, tmp_path, digits):
    """dask-cuda's LocalCUDACluster, dask-cuDF partitions and a model on each worker's GPU."""
    X, _ = digits
    out = tmp_path / "gpu"
    results = run_scaled(ScaleConfig(str(shards / "*.parquet"), out, scheduler="local", fit_sample=700,
                                     id_column="rid", label_column="digit", model={**SMALL, "device": "cuda"}))
    assert results["rows"] == {"read": len(X), "written": len(X)} and results["device"]["resolved"].startswith("cuda")
    written = pd.read_parquet(out / CLUSTERS).set_index("rid").loc[[f"r{k}" for k in range(len(X))]]
    model = N2D.load(out, device="cuda")
    np.testing.assert_array_equal(written["cluster"].to_numpy(), model.predict(pd.DataFrame(X, columns=FEATURES)))


def test_a_fit_sample_as_large_as_the_data_fits_all_rows(caplog):
    from gpun2d.scale.job import _fit_sample_size

    config = ScaleConfig("x/*.parquet", Path("out"), fit_sample=20000)
    assert _fit_sample_size(config, 1797, 64, resolve_device("cpu")) == (1797, "all rows")
    assert "fitted on all of them" in caplog.text
    config.fit_sample = 1000
    assert _fit_sample_size(config, 1797, 64, resolve_device("cpu")) == (1000, "given")


def test_a_pattern_matching_nothing_fails_before_a_cluster_starts(tmp_path, monkeypatch):
    from gpun2d.scale import client as clients

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(clients, "connect", no_cluster)
    with pytest.raises(DataError, match="matches no file"):
        run_scaled(ScaleConfig(str(tmp_path / "none" / "*.parquet"), tmp_path / "out", model=dict(SMALL)))
    assert not (tmp_path / "out").exists()


def test_the_python_api_keeps_a_named_index(shards, dask_client, digits):
    import dask.dataframe as dd

    frame = dd.read_parquet(str(shards / "*.parquet"), index="rid")
    model = N2D(10, **SMALL, client=dask_client, fit_sample=400).fit(frame[FEATURES])
    labels = model.predict(frame[FEATURES])
    assert labels._meta.index.name == "rid"
    computed = labels.compute()
    assert computed.index.name == "rid" and len(computed) == len(digits[0])


# --------------------------------------------------------------------- hostile shards
def test_shards_with_other_columns_are_named_before_any_work(tmp_path, digits):
    X, y = digits
    shards = write_parquet_shards(tmp_path / "cols", X, y, parts=3)
    pd.read_parquet(shards / "part00.parquet").drop(columns=["p5"]).to_parquet(shards / "part00.parquet")
    with pytest.raises(DataError, match=r"part01.parquet has other columns than .*part00.parquet: extra p5"):
        read_shards(shards / "*.parquet", id_column="rid", label_column="digit")
    (shards / "part00.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="part00.parquet is not a readable Parquet file"):
        read_shards(shards / "*.parquet", id_column="rid", label_column="digit")
    with pytest.raises(ConfigError, match="must be different columns"):
        read_shards(shards / "part01.parquet", id_column="rid", label_column="rid")


def test_a_corrupt_page_is_traced_to_its_file(tmp_path, digits, dask_client):
    """A file whose footer reads but one of whose pages does not fails naming that file, leaving nothing."""
    X, y = digits
    shards = write_parquet_shards(tmp_path / "shards", X, y)
    broken = shards / "part03.parquet"
    data = bytearray(broken.read_bytes())
    pages_end = len(data) - 8 - int.from_bytes(data[-8:-4], "little")  # the footer's length precedes "PAR1"
    data[8:pages_end // 2] = b"\x07" * (pages_end // 2 - 8)  # pages overwritten, footer intact
    broken.write_bytes(bytes(data))
    out = tmp_path / "run"
    with pytest.raises(DataError, match=r"part03\.parquet is not a readable Parquet file: a page cannot be read"):
        run_scaled(ScaleConfig(str(shards / "*.parquet"), out, scheduler=dask_client.scheduler.address,
                               fit_sample=300, id_column="rid", label_column="digit", model=dict(SMALL)))
    assert not out.exists() and not list(tmp_path.glob(".run.*"))


def test_empty_shards_and_missing_labels_are_no_errors(tmp_path, digits, dask_client):
    X, y = digits
    shards = write_parquet_shards(tmp_path / "shards", X, y.astype(float), parts=4)
    frame = pd.read_parquet(shards / "part03.parquet")
    frame.loc[frame.index[:5], "digit"] = np.nan  # five rows without a label, outside most samples
    frame.to_parquet(shards / "part03.parquet", index=False)
    frame.iloc[:0].to_parquet(shards / "part04.parquet", index=False)  # a shard with no rows
    out = tmp_path / "run"
    results = run_scaled(ScaleConfig(str(shards / "*.parquet"), out, scheduler=dask_client.scheduler.address,
                                     fit_sample=300, id_column="rid", label_column="digit", n_clusters=10,
                                     model=dict(SMALL)))
    assert results["rows"] == {"read": len(X), "written": len(X)}
    assert results["metrics"]["scored_rows"] == len(X) - 5


def test_missing_ids_and_labels_are_kept_exactly_and_scored_apart(tmp_path, digits, dask_client):
    X, y = digits
    shards = write_parquet_shards(tmp_path / "shards", X, y.astype(float), parts=3)
    for i in range(3):  # large integer ids, one missing, and missing labels in every shard (so in the sample)
        frame = pd.read_parquet(shards / f"part{i:02d}.parquet")
        ids = pd.array(2**62 + frame.index.to_numpy() + 1000 * i, dtype="Int64")
        ids[3] = pd.NA if i == 0 else ids[3]
        frame["rid"] = ids
        frame.loc[frame.index[:4], "digit"] = np.nan
        frame.to_parquet(shards / f"part{i:02d}.parquet", index=False)
    expected = pd.concat([pd.read_parquet(shards / f"part{i:02d}.parquet") for i in range(3)], ignore_index=True)
    out = tmp_path / "run"
    results = run_scaled(ScaleConfig(str(shards / "*.parquet"), out, scheduler=dask_client.scheduler.address,
                                     fit_sample=len(X) - 1, id_column="rid", label_column="digit", n_clusters=10,
                                     model=dict(SMALL)))
    written = pd.read_parquet(out / CLUSTERS)
    assert written["rid"].dtype == "Int64"
    pd.testing.assert_series_equal(written["rid"], expected["rid"], check_names=False)
    assert results["fit_sample"]["metrics"]["scored_rows"] < len(X) - 1  # the sample's unlabelled rows left out
    assert results["metrics"]["scored_rows"] == len(X) - 12


def test_label_columns_of_different_kinds_are_refused(tmp_path, digits):
    X, y = digits
    shards = write_parquet_shards(tmp_path / "shards", X, y, parts=2)
    frame = pd.read_parquet(shards / "part01.parquet")
    frame.assign(digit=frame["digit"].astype(str)).to_parquet(shards / "part01.parquet", index=False)
    with pytest.raises(DataError, match=r"column 'digit' holds text in .*part01.parquet but numbers in "
                                        r".*part00.parquet"):
        read_shards(shards / "*.parquet", id_column="rid", label_column="digit")
    frame.assign(digit=frame["digit"].astype(float)).to_parquet(shards / "part01.parquet", index=False)
    read_shards(shards / "*.parquet", id_column="rid", label_column="digit")  # integers and floats: numbers


def test_shards_without_rows_say_so(tmp_path, digits, dask_client):
    X, y = digits
    shards = write_parquet_shards(tmp_path / "shards", X[:0], y[:0], parts=2)
    with pytest.raises(DataError, match=r"the 2 shard\(s\) of input_path=.* hold no rows"):
        run_scaled(ScaleConfig(str(shards / "*.parquet"), tmp_path / "run", scheduler=dask_client.scheduler.address,
                               id_column="rid", label_column="digit", model=dict(SMALL)))
    assert not (tmp_path / "run").exists()


def test_a_cluster_without_workers_is_named(monkeypatch):
    from gpun2d.scale import client as clients

    monkeypatch.setattr(clients, "WORKER_WAIT", 1)
    with distributed.LocalCluster(n_workers=0, dashboard_address=":0") as cluster:
        with pytest.raises(ConfigError, match="has no workers"):
            with clients.connect(cluster.scheduler_address, resolve_device("cpu")):
                pass


def test_workers_that_cannot_import_gpun2d_are_named():
    from gpun2d.scale import client as clients

    class Cluster:  # a client whose workers lack gpun2d, as client.run reports it
        def wait_for_workers(self, n, timeout):
            pass

        def run(self, function):
            raise ModuleNotFoundError("No module named 'gpun2d'")

    with pytest.raises(ConfigError, match="cannot import gpun2d .*install gpun2d, the same version, on every worker"):
        clients._check_workers(Cluster(), "tcp://cluster:8786")


def test_rows_a_worker_refuses_are_placed_in_the_data(tmp_path, digits, dask_client):
    X, y = digits
    X = X.copy()
    X[1500, 3] = np.inf
    shards = write_parquet_shards(tmp_path / "shards", X, y)
    sample_rows = sample.choose_rows(np.array([300, 300, 300, 299, 299, 299]), 300, seed=0)
    assert 1500 - 1200 - 299 not in sample_rows.get(5, [])  # the bad row is outside the fit sample
    with pytest.raises(DataError, match=r"partition 5 \(rows 1498 to 1796 in file order\): X has NaN or infinite"):
        run_scaled(ScaleConfig(str(shards / "*.parquet"), tmp_path / "run", scheduler=dask_client.scheduler.address,
                               fit_sample=300, id_column="rid", label_column="digit", model=dict(SMALL)))


def test_a_single_label_value_needs_n_clusters(tmp_path, digits, dask_client):
    X, _ = digits
    shards = write_parquet_shards(tmp_path / "shards", X[:300], np.zeros(300, dtype=int), parts=2)
    with pytest.raises(ConfigError, match="1 distinct value"):
        run_scaled(ScaleConfig(str(shards / "*.parquet"), tmp_path / "run", scheduler=dask_client.scheduler.address,
                               fit_sample=100, id_column="rid", label_column="digit", model=dict(SMALL)))


def test_dask_arrays_of_unknown_size_or_wrong_shape(dask_client, digits):
    import dask.array as da

    X, _ = digits
    array = da.from_array(X, chunks=(300, 64))
    filtered = array[array[:, 10] >= 0]  # row counts unknown until computed
    model = N2D(10, **SMALL, fit_sample=400).fit(filtered)
    assert model.fit_sample_["total"] == len(X)
    with pytest.raises(DataError, match="must be 2-D"):
        model.predict(array[:, 0])
    with pytest.raises(DataError, match="X has 10 features, but N2D is expecting 64"):
        model.predict(array[:, :10])
    empty_block = da.concatenate([array[:0], array[:100]])
    assert model.predict(empty_block).compute().shape == (100,)


def test_scoring_many_partitions_logs_no_shuffle(tmp_path, digits, dask_client, caplog):
    """The contingency table is one tree reduction: a shuffle would log Dask's warnings in every run."""
    X, y = digits
    shards = write_parquet_shards(tmp_path / "shards", X, y, parts=40)
    results = run_scaled(ScaleConfig(str(shards / "*.parquet"), tmp_path / "run",
                                     scheduler=dask_client.scheduler.address, fit_sample=300, id_column="rid",
                                     label_column="digit", model=dict(SMALL)))
    assert results["rows"]["written"] == len(X) and "acc" in results["metrics"]
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("distributed.shuffle")]


def test_repeated_ids_are_reported(tmp_path, digits, dask_client, caplog):
    X, y = digits
    shards = write_parquet_shards(tmp_path / "shards", X[:600], y[:600], parts=2)
    for path in shards.glob("*.parquet"):
        frame = pd.read_parquet(path)
        frame["rid"] = "same"
        frame.to_parquet(path, index=False)
    run_scaled(ScaleConfig(str(shards / "*.parquet"), tmp_path / "run", scheduler=dask_client.scheduler.address,
                           fit_sample=300, id_column="rid", label_column="digit", model=dict(SMALL)))
    assert "its ids repeat" in caplog.text
