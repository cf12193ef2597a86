import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gpun2d.cli import cli
from gpun2d.studies import execute, parse_restarts, parse_seeds
from gpun2d.studies.report import pairwise_ari, score_columns

FAST = ["--dataset", "digits", "--seeds", "3", "--epochs", "2", "--cluster-n-init", "2", "--device", "cpu",
        "--quiet"]


def invoke(*args, catch=False):
    return CliRunner().invoke(cli, ["study", *(str(a) for a in args)], catch_exceptions=catch)


@pytest.fixture(autouse=True, scope="module")
def fast_stages():
    """Keep the real pipeline, made cheap: one torch thread and a short UMAP layout.

    On a couple of shared cores torch's default thread pool contends with other
    processes (about 10x slower); UMAP's 500 layout epochs on digits are most of
    a run. What is under test here is the study around the pipeline.
    """
    from gpun2d.manifold import UMAPLearnManifold

    real_build = UMAPLearnManifold.build

    def short_umap(self, init):
        model = real_build(self, init)
        model.n_epochs = 30
        return model

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(UMAPLearnManifold, "build", short_umap)
        yield
    torch.set_num_threads(before)


class FakeN2D:
    """What :func:`gpun2d.studies.execute.fit_pipeline` returns, without the work: labels differ by seed."""

    def __init__(self, X, seed, n_init, ae_weights):
        rng = np.random.default_rng(seed)
        labels = X[:, 20:30].argmax(1)
        flip = rng.choice(labels.size, labels.size // 5, replace=False)
        labels[flip] = rng.integers(0, 10, flip.size)
        self.labels_tensor_ = torch.from_numpy(labels)
        self.embedding_tensor_ = torch.zeros(labels.size, 10)
        self.history_ = [] if ae_weights else [0.2, 0.1]
        self.timings_ = {"autoencoder": 0.1 if ae_weights else 1.0, "manifold": 2.0, "cluster": 0.5}
        self.timings_["total"] = sum(self.timings_.values())
        restarts = [{"seed": seed + i, "lower_bound": -1.0 - i} for i in range(n_init)]
        self.cluster_model_ = SimpleNamespace(
            record=lambda: {"method": "gmm", "n_init": n_init, "best_restart": 0, "restarts": restarts})

    def save_autoencoder(self, path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(b"weights")


def fake_pipeline(calls, fail_at=None):
    """A stand-in for the pipeline that records its calls and raises on call ``fail_at`` (a killed study)."""

    def fit_pipeline(X, n_clusters, seed, n_init, config, device, ae_weights=None, hooks=None):
        calls.append((seed, n_init, ae_weights and Path(ae_weights).name))
        if len(calls) == fail_at:
            raise RuntimeError("killed")
        return FakeN2D(X, seed, n_init, ae_weights)

    return fit_pipeline


@pytest.fixture(scope="module")
def ae_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "digits-ae"
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(execute, "fit_pipeline", fake_pipeline(calls))
        result = invoke(*FAST, "--out", out)
    assert calls == [(0, 2, None), (1, 2, None), (2, 2, None)]
    return result, out


def test_seeds_and_restarts_parse():
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,3,7") == [0, 3, 7]
    assert parse_seeds("7,") == [7]
    assert parse_restarts("1,10,10,30") == [1, 10, 30]
    for bad in ("0", "a,b", "1,1", "-1,2"):
        with pytest.raises(ValueError):
            parse_seeds(bad)
    with pytest.raises(ValueError):
        parse_restarts("0,10")


def test_usage_errors(tmp_path):
    result = invoke("--dataset", "digits", "--seeds", "0,0", "--out", tmp_path / "x", catch=True)
    assert result.exit_code == 2 and "repeats a seed" in result.output
    result = invoke("--dataset", "digits", "--restarts", "1,10", "--out", tmp_path / "x", catch=True)
    assert result.exit_code == 2 and "--restarts goes with --vary cluster" in result.output
    assert not (tmp_path / "x").exists()


def test_pairwise_ari_ignores_label_names():
    a = np.array([0, 0, 1, 1, 2, 2])
    assert pairwise_ari([a, (a + 1) % 3, a])["mean"] == pytest.approx(1.0)
    assert pairwise_ari([a]) is None


def test_study_writes_every_report(ae_study):
    result, out = ae_study
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["runs", "study.json", "study.md", "study.png"]
    assert sorted(p.name for p in (out / "runs").iterdir()) == [f"digits-ae-seed{s}.json" for s in range(3)]
    assert (out / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    study = json.loads((out / "study.json").read_text())
    assert study["config"]["vary"] == "ae" and study["config"]["seeds"] == [0, 1, 2]
    (group,) = study["groups"]
    assert group["dataset"] == "digits" and group["n_runs"] == 3 and group["n_init"] == 2 and group["paper"] is None
    for metric in ("acc", "nmi", "ari"):
        stats = group["metrics"][metric]
        assert set(stats) >= {"mean", "std", "min", "max", "values"} and len(stats["values"]) == 3
        assert stats["min"] <= stats["mean"] <= stats["max"]
    assert set(group["timings"]) == {"autoencoder", "manifold", "cluster", "total"}
    assert set(group["timings"]["total"]) >= {"mean", "std", "min", "max"}
    pair = group["pairwise_ari"]
    assert pair["n_pairs"] == 3 and -1 <= pair["min"] <= pair["mean"] <= 1

    run = json.loads((out / "runs" / "digits-ae-seed1.json").read_text())
    assert run["seeds"] == {"autoencoder": 1, "manifold": 1, "cluster": 1}
    assert len(run["labels"]) == 1797 and len(run["cluster"]["restarts"]) == 2
    assert run["metrics"]["acc"] == group["metrics"]["acc"]["values"][1]

    md = (out / "study.md").read_text()
    assert "| " + " | ".join(score_columns()) + " |" in md
    assert "| dataset | restarts | autoencoder | manifold | cluster | total |" in md
    assert md.count("\n| digits | 2 | 3 |") == 1 and "pairwise ARI" in md


def test_existing_study_needs_resume(ae_study, tmp_path):
    result = invoke(*FAST, "--out", tmp_path / "none", "--report-only", catch=True)
    assert result.exit_code == 1 and "holds no finished run" in result.output
    _, out = ae_study
    result = invoke(*FAST, "--out", out, catch=True)
    assert result.exit_code == 1
    assert "already holds a study; continue it with --resume, or choose another --out FOLDER" in result.output
    result = invoke(*FAST, "--epochs", "3", "--out", out, "--resume", catch=True)
    assert result.exit_code == 1 and "made with --epochs 2" in result.output and "not --epochs 3" in result.output


def test_killed_study_resumes_without_redoing_runs(tmp_path, monkeypatch):
    out = tmp_path / "killed"
    calls = []
    monkeypatch.setattr(execute, "fit_pipeline", fake_pipeline(calls, fail_at=2))
    result = invoke(*FAST, "--out", out, catch=True)
    assert isinstance(result.exception, RuntimeError) and [c[0] for c in calls] == [0, 1]
    first = out / "runs" / "digits-ae-seed0.json"
    assert sorted(p.name for p in (out / "runs").iterdir()) == [first.name]  # no half-written run
    assert not (out / "study.json").exists()
    before = (first.stat().st_mtime_ns, first.read_bytes())

    result = invoke(*FAST, "--out", out, "--report-only")  # a partial report, running nothing
    assert result.exit_code == 0, result.output
    assert json.loads((out / "study.json").read_text())["groups"][0]["n_runs"] == 1 and len(calls) == 2

    calls.clear()
    monkeypatch.setattr(execute, "fit_pipeline", fake_pipeline(calls))
    result = invoke(*FAST, "--out", out, "--resume")
    assert result.exit_code == 0, result.output
    assert [c[0] for c in calls] == [1, 2]
    assert (first.stat().st_mtime_ns, first.read_bytes()) == before
    study = json.loads((out / "study.json").read_text())
    assert study["groups"][0]["n_runs"] == 3
    assert study["groups"][0]["timings"]["manifold"]["mean"] == pytest.approx(2.0)

    calls.clear()  # resuming a finished study only rewrites the report
    assert invoke(*FAST, "--out", out, "--resume").exit_code == 0 and calls == []


def test_progress_without_a_terminal_logs_each_run(tmp_path, monkeypatch):
    """In a log file (no terminal) the bar shows only at the end, so runs, stages and epochs come as lines."""
    calls = []
    fake = fake_pipeline(calls)

    def fit_pipeline(X, n_clusters, seed, n_init, config, device, ae_weights=None, hooks=None):
        hooks.on_stage("autoencoder")
        for epoch in (1, 2):
            hooks.on_epoch(epoch, 0.5 / epoch)
        hooks.on_stage("manifold")
        return fake(X, n_clusters, seed, n_init, config, device, ae_weights, hooks)

    monkeypatch.setattr(execute, "fit_pipeline", fit_pipeline)
    result = invoke(*FAST[:-1], "--seeds", "2", "--out", tmp_path / "o")  # not --quiet; CliRunner is no terminal
    assert result.exit_code == 0, result.output
    for seed in (0, 1):
        for line in ("started", "training the autoencoder", "autoencoder epoch 2/2, loss 0.25000",
                     "learning the manifold", "done"):
            assert f"digits-ae-seed{seed}: {line}" in result.output, line
    assert result.output.index("digits-ae-seed0: done") < result.output.index("digits-ae-seed1: started")


def test_vary_manifold_trains_one_autoencoder(tmp_path, monkeypatch):
    out = tmp_path / "manifold"
    calls = []
    monkeypatch.setattr(execute, "fit_pipeline", fake_pipeline(calls))
    result = invoke(*FAST[:-1], "--seeds", "4,7", "--vary", "manifold", "--out", out)  # not --quiet
    assert result.exit_code == 0, result.output
    assert "runs" in result.output and "2/2" in result.output  # the progress bar
    assert "pairwise ARI (mean / min)" in result.output and "study.md" in result.output  # the summary
    # one full fit with the first seed makes the shared autoencoder; every run loads it
    assert calls == [(4, 1, None), (4, 2, "digits-seed4-ae.pt"), (7, 2, "digits-seed4-ae.pt")]
    run = json.loads((out / "runs" / "digits-manifold-seed7.json").read_text())
    assert run["seeds"] == {"autoencoder": 4, "manifold": 7, "cluster": 7}
    study = json.loads((out / "study.json").read_text())
    assert study["shared"]["digits"]["training"]["epochs_run"] == 2
    assert "one autoencoder, trained with seed 4" in (out / "study.md").read_text()


def counting(monkeypatch, owner, name, counter):
    real = getattr(owner, name)

    def wrapper(*args, **kwargs):
        counter[name] = counter.get(name, 0) + 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


def test_vary_cluster_reuses_one_embedding(tmp_path, monkeypatch):
    import gpun2d.embedder
    from gpun2d.manifold import UMAPLearnManifold

    out = tmp_path / "cluster"
    counts: dict[str, int] = {}
    counting(monkeypatch, gpun2d.embedder, "train_autoencoder", counts)
    counting(monkeypatch, UMAPLearnManifold, "fit_transform", counts)
    # k-means restarts take milliseconds where the mixture's take seconds on a busy CPU; the
    # mixture's restarts have their own tests (test_mixture.py), this one is about reuse
    args = [*FAST, "--vary", "cluster", "--restarts", "1,2", "--cluster", "kmeans", "--out", out]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert counts == {"train_autoencoder": 1, "fit_transform": 1}
    assert sorted(p.name for p in (out / "cache").iterdir()) == [
        "digits-seed0-ae.pt", "digits-seed0-embedding.npy", "digits-seed0.json"]

    names = sorted(p.name for p in (out / "runs").iterdir())
    assert names == sorted(f"digits-cluster-seed{s}-restarts{r}.json" for s in range(3) for r in (1, 2))
    run = json.loads((out / "runs" / "digits-cluster-seed2-restarts2.json").read_text())
    assert run["seeds"] == {"autoencoder": 0, "manifold": 0, "cluster": 4}
    assert [r["seed"] for r in run["cluster"]["restarts"]] == [4, 5]  # seeds never share a restart
    assert set(run["timings"]) == {"cluster", "total"} and run["cluster"]["method"] == "kmeans"

    study = json.loads((out / "study.json").read_text())
    assert [(g["n_init"], g["n_runs"]) for g in study["groups"]] == [(1, 3), (2, 3)]
    assert all(g["pairwise_ari"]["n_pairs"] == 3 for g in study["groups"])
    assert study["shared"]["digits"]["seed"] == 0 and "autoencoder" in study["shared"]["digits"]["timings"]
    md = (out / "study.md").read_text()
    assert "\n| digits | 1 | 3 |" in md and "\n| digits | 2 | 3 |" in md and "Shared by every run on digits" in md

    # resuming after a lost run redoes only that run, on the cached embedding
    (out / "runs" / "digits-cluster-seed1-restarts1.json").unlink()
    counts.clear()
    calls = []
    real_run_one = execute.run_one
    monkeypatch.setattr(execute, "run_one", lambda spec, *a: calls.append(spec.name) or real_run_one(spec, *a))
    result = invoke(*args, "--resume")
    assert result.exit_code == 0, result.output
    assert counts == {} and calls == ["digits-cluster-seed1-restarts1"]


def test_two_studies_cannot_share_a_folder(tmp_path):
    from gpun2d.outputs import FolderLock

    out = tmp_path / "busy"
    with FolderLock(out):
        result = invoke(*FAST, "--out", out, catch=True)
    assert result.exit_code == 1 and "is being written by another gpun2d process" in result.output
    assert not (out / "runs").exists()


def test_ensemble_scores_the_consensus_of_the_seeds(tmp_path, monkeypatch):
    from gpun2d.consensus import consensus
    from gpun2d.datasets import load
    from gpun2d.metrics import evaluate

    out = tmp_path / "ensemble"
    monkeypatch.setattr(execute, "fit_pipeline", fake_pipeline([]))
    result = invoke(*FAST, "--ensemble", "--out", out)
    assert result.exit_code == 0, result.output
    group = json.loads((out / "study.json").read_text())["groups"][0]
    runs = [json.loads((out / run).read_text()) for run in group["runs"]]
    labels, agreement, _ = consensus([run["labels"] for run in runs], 10)
    assert group["consensus"]["metrics"] == pytest.approx(evaluate(load("digits")[1], labels))
    assert group["consensus"]["agreement"]["mean"] == pytest.approx(agreement.mean())
    assert "(consensus of the seeds)" in (out / "study.md").read_text()


def test_batched_trains_the_seeds_autoencoders_together(tmp_path):
    from gpun2d.autoencoder import load_autoencoder
    from gpun2d.datasets import load
    from gpun2d.embedder import AutoencoderEmbedder
    from gpun2d.training import TrainOptions, train_autoencoder

    out = tmp_path / "batched"
    result = invoke(*FAST, "--batched", "--out", out)
    assert result.exit_code == 0, result.output
    run = json.loads((out / "runs" / "digits-ae-seed1.json").read_text())
    meta = json.loads((out / "cache" / "digits-seed1-batched.json").read_text())
    assert run["training"]["batched_with_seeds"] == [0, 1, 2] == meta["seeds_together"]
    assert run["timings"]["autoencoder"] == pytest.approx(meta["seconds_together"] / 3)
    assert run["settings"]["batched"] is True
    # seed 1's network does what the one-seed trainer's does, to the rounding of batched kernels (Adam
    # magnifies that rounding in weights whose gradients are nearly zero, so the embedding is compared)
    X = torch.from_numpy(load("digits")[0])
    options = TrainOptions(epochs=2, batch_size=256)
    alone = AutoencoderEmbedder(10, (500, 500, 2000), options, torch.device("cpu"), 1).initial_network(64)
    losses = train_autoencoder(alone, X, options, seed=1).losses
    assert meta["losses"] == pytest.approx(losses, rel=1e-6)
    together = load_autoencoder(out / "cache" / "digits-seed1-batched-ae.pt")
    with torch.no_grad():
        torch.testing.assert_close(together.encoder(X), alone.encoder(X), rtol=0, atol=1e-4)
    refused = invoke(*FAST, "--batched", "--vary", "manifold", "--out", tmp_path / "refused")
    assert refused.exit_code != 0 and "goes with --vary ae" in refused.output


def test_embedding_options_reach_every_run(tmp_path, monkeypatch):
    seen = []

    def fit_pipeline(X, n_clusters, seed, n_init, config, device, ae_weights=None, hooks=None):
        seen.append({key: config.model_params()[key] for key in ("embedder", "finetune_epochs")})
        return FakeN2D(X, seed, n_init, ae_weights)

    monkeypatch.setattr(execute, "fit_pipeline", fit_pipeline)
    out = tmp_path / "conv"
    result = invoke(*FAST, "--embedder", "conv", "--finetune-epochs", "3", "--out", out)
    assert result.exit_code == 0, result.output
    assert seen == [{"embedder": "conv", "finetune_epochs": 3}] * 3
    run = json.loads((out / "runs" / "digits-ae-seed0.json").read_text())
    assert run["settings"]["embedder"] == "conv" and run["settings"]["finetune_epochs"] == 3
    refused = invoke(*FAST, "--embedder", "conv", "--batched", "--out", tmp_path / "refused")
    assert refused.exit_code != 0 and "batched" in refused.output


@pytest.mark.parametrize("args, message", [
    (["-d", "digits", "-d", "digits"], "--dataset digits is named twice"),
    (["-d", "digits", "--batched", "--vary", "manifold"], "goes with --vary ae"),
    (["-d", "digits", "--batched", "--embedder", "conv"], "drop it for --embedder conv"),
    (["-d", "digits", "--seeds", "4294967295,"], "choose smaller seeds"),
    (["-d", "digits", "--vary", "cluster", "--seeds", "0,429496730", "--restarts", "10"], "choose smaller seeds"),
    (["-d", "digits", "--seeds", "99999999999999999999"], "give a count from 1 to 1000"),
])
def test_wrong_settings_are_usage_errors_before_any_work(tmp_path, args, message):
    result = invoke(*args, "--device", "cpu", "--out", tmp_path / "new" / "study", catch=True)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "new").exists()


def test_a_failed_start_leaves_no_folder(tmp_path):
    result = invoke("-d", "no-such-dataset", "--device", "cpu", "--out", tmp_path / "new" / "study", catch=True)
    assert result.exit_code == 1 and "no-such-dataset" in result.output
    assert not (tmp_path / "new").exists()


def test_resume_continues_only_a_study_of_the_same_runs(ae_study, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "study.md").write_text("my notes")
    result = invoke(*FAST, "--out", notes, "--resume", catch=True)
    assert result.exit_code == 1 and "holds study.md but no study's runs" in result.output
    (notes / "todo.txt").write_text("keep")
    result = invoke(*FAST, "--out", notes, "--resume", catch=True)
    assert result.exit_code == 1 and "already holds other files than a study's (todo.txt)" in result.output
    assert (notes / "study.md").read_text() == "my notes" and sorted(p.name for p in notes.iterdir()) == [
        "study.md", "todo.txt"]

    _, out = ae_study
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    for other in (["--vary", "manifold"], ["--seeds", "2"], ["--dataset", "pendigits"]):
        args = [*FAST, *other] if other[0] != "--dataset" else [*other, *FAST[2:]]
        result = invoke(*args, "--out", out, "--resume", "--no-download", catch=True)
        assert result.exit_code == 1 and "holds runs this study would not make" in result.output, result.output
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_a_report_stopped_while_written_keeps_the_earlier_one(ae_study, tmp_path, monkeypatch):
    import shutil

    from gpun2d.studies import report

    out = tmp_path / "copy"
    shutil.copytree(ae_study[1], out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def stopped(study, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "figure", stopped)  # the last of the three, after study.json and study.md
    result = invoke(*FAST, "--out", out, "--resume", "--ensemble", catch=True)
    assert result.exit_code == 130
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # no temporary file either


def test_batched_with_no_epochs_runs_untrained_networks(tmp_path, monkeypatch):
    monkeypatch.setattr(execute, "fit_pipeline", fake_pipeline([]))
    out = tmp_path / "untrained"
    result = invoke(*FAST, "--batched", "--epochs", "0", "--out", out, catch=True)
    assert result.exit_code == 0, result.output
    run = json.loads((out / "runs" / "digits-ae-seed2.json").read_text())
    assert run["training"]["epochs_run"] == 0 and run["training"]["final_loss"] is None
