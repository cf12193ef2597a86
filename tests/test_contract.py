"""The users' contract: bad input and misuse give one clear line and the right exit code, and no
earlier result is ever changed; interrupted jobs leave nothing behind."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from gpun2d import N2D
from gpun2d.cli import cli
from gpun2d.errors import ConfigError, DataError

TINY = ["--epochs", "1", "--cluster-n-init", "1", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def files(tmp_path_factory, blobs_module):
    """Inputs good and bad, and one finished result whose files must never change."""
    root = tmp_path_factory.mktemp("contract")
    X, y = blobs_module
    np.save(root / "ok.npy", X)
    np.save(root / "same.npy", np.repeat(X[:1], 60, axis=0))
    np.save(root / "huge.npy", X * 1e30)
    (root / "header.csv").write_text("a,b,c\n")
    (root / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (root / "latin1.txt").write_bytes("1\n2\n\xe9\n".encode("latin-1"))
    (root / "afile").write_text("x")
    np.save(root / "three.npy", X[:3])
    (root / "garbage.pt").write_bytes(b"not torch at all")
    result = CliRunner().invoke(cli, ["run", "--input", str(root / "ok.npy"), "-k", "3", *TINY,
                                      "--umap-neighbors", "10", "--out", str(root / "done")])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def blobs_module():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0, 0, 0, 0], [8, 8, 0, 0, 0], [0, 8, 8, 0, 0]], dtype=np.float32)
    y = np.repeat(np.arange(3), 40)
    return (centers[y] + rng.normal(size=(y.size, 5))).astype(np.float32), y


CASES = [
    # (name, arguments after `gpun2d`, exit code, words of the one error line)
    ("header-only csv", ["run", "--input", "{d}/header.csv", "-k", "3"], 1, "has a header row but no data rows"),
    ("corrupt npz", ["run", "--input", "{d}/bad.npz", "-k", "3"], 1, "is not a readable .npz file"),
    ("latin-1 labels", ["run", "--input", "{d}/ok.npy", "--labels", "{d}/latin1.txt"], 1, "is not UTF-8 text"),
    ("1e30 data", ["run", "--input", "{d}/huge.npy", "-k", "3"], 1, "training loss became inf/NaN at epoch 1"),
    ("umap-dim >= rows", ["run", "--input", "{d}/ok.npy", "-k", "3", "--umap-dim", "1000"], 1,
     "--umap-dim 1000 needs fewer dimensions than the 120 samples"),
    ("identical rows", ["run", "--input", "{d}/same.npy", "-k", "3", "--umap-neighbors", "5"], 1,
     "X has only 1 distinct rows, too few for --n-clusters 3"),
    ("exact knn on cpu", ["run", "--input", "{d}/ok.npy", "-k", "3", "--umap-knn", "exact"], 1,
     "--umap-knn exact needs the GPU"),
    ("cuda graphs on cpu", ["run", "--input", "{d}/ok.npy", "-k", "3", "--cuda-graphs"], 1,
     "--cuda-graphs needs the GPU"),
    ("existing result", ["run", "--input", "{d}/ok.npy", "-k", "3", "--out", "{d}/done"], 1,
     "already holds a result; replace it with --overwrite"),
    ("out is a file", ["run", "--input", "{d}/ok.npy", "-k", "3", "--out", "{d}/afile"], 2, "is a file"),
    ("out under a file", ["run", "--input", "{d}/ok.npy", "-k", "3", "--out", "{d}/afile/x"], 1,
     "cannot be written"),
    ("unknown dataset", ["run", "--dataset", "mnsit"], 1, "unknown dataset 'mnsit' (did you mean"),
    ("both sources", ["run", "--dataset", "digits", "--input", "{d}/ok.npy"], 2, "exactly one of --dataset"),
    ("no source", ["run"], 2, "exactly one of --dataset"),
    ("cuda without gpu", ["run", "--input", "{d}/ok.npy", "-k", "3", "--device", "cuda"], 1,
     "--device cuda is unavailable"),
    ("bad epochs", ["run", "--input", "{d}/ok.npy", "--epochs", "-3"], 2, "Invalid value for '--epochs'"),
    ("predict without model", ["predict", "--model", "{d}", "--input", "{d}/ok.npy"], 1,
     "is not a gpun2d model folder"),
    ("predict wrong width", ["predict", "--model", "{d}/done", "--input", "{d}/header.csv"], 1,
     "has a header row but no data rows"),
    ("study resume without out", ["study", "-d", "digits", "--resume"], 2, "need --out"),
    ("study without dataset", ["study"], 2, "name at least one dataset"),
    ("bench unknown dataset", ["bench", "-d", "mnsit", "--out", "{d}/b"], 1, "unknown dataset 'mnsit'"),
    ("fetch unknown dataset", ["datasets", "fetch", "nope"], 1, "unknown dataset 'nope'"),
    ("nan learning rate", ["run", "--input", "{d}/ok.npy", "-k", "3", "--lr", "nan"], 2, "is not a finite number"),
    ("inf min-dist", ["run", "--input", "{d}/ok.npy", "-k", "3", "--umap-min-dist", "inf"], 2,
     "is not a finite number"),
    ("three rows", ["run", "--input", "{d}/three.npy", "-k", "3", "--umap-neighbors", "2"], 1,
     "a UMAP layout in 3 dimensions needs at least 5"),
    ("out is the current folder", ["run", "--input", "{d}/ok.npy", "-k", "3", "--out", "."], 1,
     "already holds other files"),
    ("garbage weights", ["run", "--input", "{d}/ok.npy", "-k", "3", "--ae-weights", "{d}/garbage.pt"], 1,
     "is not a gpun2d autoencoder file"),
    ("weights of another width", ["run", "--input", "{d}/ok.npy", "-k", "4", "--ae-weights",
                                  "{d}/done/autoencoder.pt"], 1, "has a 3-wide bottleneck, but --n-clusters 4"),
    ("labels with a dataset", ["run", "--dataset", "digits", "--labels", "{d}/latin1.txt"], 1,
     "--labels, --label-column and --id-column go with --input"),
    ("bench too few samples", ["bench", "-d", "digits", "--max-samples", "5", "--out", "{d}/b2"], 1,
     "--max-samples 5 is too few for digits"),
]


@pytest.mark.parametrize("name, args, code, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(files, name, args, code, words, monkeypatch):
    if name == "cuda without gpu":
        import torch

        if torch.cuda.is_available():
            pytest.skip("checks the no-GPU case")
    monkeypatch.setenv("GPUN2D_CACHE", str(files / "cache"))
    monkeypatch.chdir(files)
    before = {p.name: p.read_bytes() for p in (files / "done").iterdir()}
    argv = [a.format(d=files) for a in args]
    if argv[0] in ("run", "predict") and "--out" not in argv and len(argv) > 1:
        argv += ["--out", str(files / f"out-{name.replace(' ', '-')}")]
    if argv[0] == "run" and "--epochs" not in argv:
        argv = argv[:1] + TINY + argv[1:]  # the case's own options come later, so they win
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == code, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and words in errors[0], result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert {p.name: p.read_bytes() for p in (files / "done").iterdir()} == before
    if "--out" in argv and name not in ("existing result", "out is a file", "out is the current folder"):
        assert not os.path.exists(argv[argv.index("--out") + 1])


def test_duplicate_dominated_data_warns(blobs_module):
    X = np.concatenate([np.repeat(blobs_module[0][:1], 100, axis=0), blobs_module[0][:40]])
    with pytest.warns(UserWarning, match="only 40 distinct rows out of 140"):
        N2D(3, epochs=1, cluster_n_init=1, umap_neighbors=10, device="cpu", random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # ordinary data: no warning
        N2D(3, epochs=1, cluster_n_init=1, umap_neighbors=10, device="cpu", random_state=0).fit(blobs_module[0])


def test_library_names_parameters(blobs_module):
    X = blobs_module[0]
    with pytest.raises(DataError, match="umap_dim=500 needs fewer dimensions than the 120 samples"):
        N2D(3, umap_dim=500, epochs=1, device="cpu").fit(X)
    with pytest.raises(ConfigError, match="cuda_graphs=True needs the GPU"):
        N2D(3, cuda_graphs=True, epochs=1, device="cpu").fit(X)


@pytest.mark.parametrize("sig, code, line, presses",
                         [(signal.SIGINT, 130, "Interrupted.", 1), (signal.SIGTERM, 143, "Terminated.", 1),
                          (signal.SIGINT, 130, "Interrupted.", 3)],  # an impatient user: the cleanup still finishes
                         ids=["SIGINT", "SIGTERM", "SIGINT-thrice"])
def test_interrupted_run_leaves_nothing(tmp_path, blobs_module, sig, code, line, presses):
    np.save(tmp_path / "ok.npy", blobs_module[0])
    out = tmp_path / "results" / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "gpun2d.cli", "run", "--input", str(tmp_path / "ok.npy"), "-k", "3", "--epochs",
         "100000", "--device", "cpu", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 120
    while not (out.parent / ".run.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # training
    for _ in range(presses):
        process.send_signal(sig)
        time.sleep(0.05)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == code, output
    assert output.strip().splitlines()[-1] == line
    # no result, lock, temporary or checkpoint folder, nor the parent folder the run made for its result
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.npy"]


def test_the_first_interrupt_stops_listening(monkeypatch):
    """Once unwinding, further signals are ignored and asyncio's reports of abandoned Dask tasks are silenced."""
    from gpun2d.cli import errors

    installed = []
    monkeypatch.setattr(errors.signal, "signal", lambda sig, handler: installed.append((sig, handler)))
    asyncio_log = logging.getLogger("asyncio")
    level = asyncio_log.level
    try:
        with pytest.raises(KeyboardInterrupt):
            errors.raise_interrupted(signal.SIGINT, None)
        assert asyncio_log.level == logging.CRITICAL
    finally:
        asyncio_log.setLevel(level)  # setLevel, not an attribute: it also clears the loggers' caches
    assert installed == [(signal.SIGINT, signal.SIG_IGN), (signal.SIGTERM, signal.SIG_IGN)]
    installed.clear()
    with pytest.raises(errors.Terminated):
        errors.raise_terminated(signal.SIGTERM, None)
    assert installed == [(signal.SIGINT, signal.SIG_IGN), (signal.SIGTERM, signal.SIG_IGN)]


def test_a_study_passes_no_job_setting_to_n2d(monkeypatch):
    """``gpun2d study --resume`` resumes the study; it must not ask N2D to resume training."""
    from gpun2d.devices import resolve_device
    from gpun2d.studies import StudyConfig, execute

    seen = {}
    monkeypatch.setattr(N2D, "fit", lambda self, X: seen.update(self.get_params()) or self)
    config = StudyConfig(datasets=["digits"], resume=True, epochs=3, out="unused").validate()
    execute.fit_pipeline(np.zeros((30, 4)), 3, 0, 2, config, resolve_device("cpu"))
    assert seen["resume"] is False and seen["epochs"] == 3 and seen["cluster_n_init"] == 2
