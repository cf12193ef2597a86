import json

import click
import numpy as np
import pytest
from click.testing import CliRunner

from gpun2d.cli import cli

FAST = ["--epochs", "2", "--device", "cpu", "--cluster-n-init", "2", "--quiet"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    result = invoke("run", "--dataset", "digits", *FAST, "--out", out, "--visualize")
    return result, out


def test_run_writes_every_output(digits_run):
    result, out = digits_run
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "autoencoder.pt", "cluster.npz", "clusters.csv", "confusion.png", "embedding.npy", "embedding.png",
        "loss.png", "manifold.npz", "model.json", "results.json"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["digits"]  # no lock or temporary folder left
    results = json.loads((out / "results.json").read_text())
    for key in ("acc", "nmi", "ari"):
        assert 0.0 <= results["metrics"][key] <= 1.0 and results[key] == results["metrics"][key]
    assert set(results["timings"]) >= {"autoencoder", "manifold", "cluster", "total"}
    assert results["config"]["n_clusters"] == 10 and results["config"]["epochs"] == 2
    assert results["device"]["resolved"] == "cpu" and results["device"]["backends"]["manifold"] == "umap-learn"
    assert {"torch", "scikit-learn", "umap-learn", "numpy"} <= set(results["versions"])
    assert len(results["cluster"]["restarts"]) == 2 and sum(results["cluster"]["sizes"]) == 1797
    assert len(results["training"]["loss_history"]) == 2
    assert np.load(out / "embedding.npy").shape == (1797, 10)
    rows = np.loadtxt(out / "clusters.csv", delimiter=",", skiprows=1, dtype=int)
    assert rows.shape == (1797, 3) and (out / "clusters.csv").read_text().startswith("index,cluster,label")
    assert not any(p.name.startswith(".") for p in out.parent.iterdir())  # no staging folder left


def test_ae_weights_skip_training(digits_run, tmp_path):
    _, first = digits_run
    out = tmp_path / "again"
    result = invoke("run", "--dataset", "digits", *FAST, "--out", out, "--ae-weights", first / "autoencoder.pt")
    assert result.exit_code == 0, result.output
    again = json.loads((out / "results.json").read_text())
    before = json.loads((first / "results.json").read_text())
    assert again["training"]["epochs_run"] == 0
    assert again["acc"] == pytest.approx(before["acc"])  # same encoder, same seed, same clusters


def test_run_on_user_files(tmp_path, blobs):
    X, y = blobs
    np.save(tmp_path / "X.npy", X)
    np.savetxt(tmp_path / "y.txt", y, fmt="%d")
    out = tmp_path / "out"
    result = invoke("run", "--input", tmp_path / "X.npy", "--labels", tmp_path / "y.txt", *FAST,
                    "--umap-neighbors", "10", "--out", out)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["n_clusters"] == 3  # from the labels
    assert results["data"]["source"] == "file" and results["metrics"]["acc"] > 0.6


def test_unlabelled_csv_needs_n_clusters(tmp_path, blobs):
    np.savetxt(tmp_path / "X.csv", blobs[0], delimiter=",")
    result = invoke("run", "--input", tmp_path / "X.csv", *FAST, "--out", tmp_path / "o")
    assert result.exit_code == 1 and "Error: data without labels needs --n-clusters K" in result.output
    result = invoke("run", "--input", tmp_path / "X.csv", *FAST, "--umap-neighbors", "10", "-k", "3",
                    "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "o" / "results.json").read_text())["metrics"] is None


def write_bad_inputs(tmp_path):
    X = np.random.default_rng(0).random((40, 4))
    nan = X.copy()
    nan[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "flat.npy", X[:, 0])
    np.save(tmp_path / "few.npy", X[:5])
    np.save(tmp_path / "ok.npy", X)
    np.savetxt(tmp_path / "short_labels.txt", np.zeros(10), fmt="%d")


@pytest.mark.parametrize(
    "args, message, code",
    [
        (["--dataset", "nope"], "unknown dataset", 1),
        (["--dataset", "mnist-test", "--data-dir", "{tmp}/empty", "--no-download"], "mnist-test", 1),
        (["--input", "{tmp}/nan.npy", "-k", "3"], "NaN", 1),
        (["--input", "{tmp}/flat.npy", "-k", "3"], "2-D", 1),
        (["--input", "{tmp}/few.npy", "-k", "10"], "5 samples", 1),
        (["--input", "{tmp}/ok.npy", "--labels", "{tmp}/short_labels.txt"], "10", 1),
        (["--input", "{tmp}/ok.npy", "-k", "3", "--device", "cuda"], "cuda", 1),
        (["--input", "{tmp}/ok.npy", "--dataset", "digits"], "exactly one of --dataset", 2),  # a usage error
    ],
)
def test_errors_are_one_line_and_leave_nothing(tmp_path, monkeypatch, args, message, code):
    monkeypatch.setenv("GPUN2D_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GPUN2D_DATA", raising=False)
    write_bad_inputs(tmp_path)
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    argv = [a.format(tmp=tmp_path) for a in args] + ["--epochs", "1", "--quiet", "--out", str(out)]
    result = CliRunner().invoke(cli, ["run", *argv])
    assert result.exit_code == code, result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and message in error_lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert not out.exists() and not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_n_clusters_below_two_is_a_usage_error():
    result = CliRunner().invoke(cli, ["run", "--dataset", "digits", "-k", "1"])
    assert result.exit_code == 2 and "Invalid value for '--n-clusters'" in result.output


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["run", "--dataset", "digits", *FAST, "--out", str(tmp_path)])
    assert result.exit_code == 1 and "already holds other files" in result.output
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_help_explains_the_options():
    result = invoke("run", "--help")
    for text in ("--dataset", "--input", "--umap-neighbors", "--cluster-n-init", "--device", "--visualize",
                 "--ae-weights", "paper"):
        assert text in result.output


def test_datasets_lists_every_dataset(monkeypatch, tmp_path):
    monkeypatch.setenv("GPUN2D_CACHE", str(tmp_path))
    result = CliRunner().invoke(cli, ["datasets"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("mnist", "mnist-test", "fashion", "usps", "pendigits", "har", "digits"):
        assert name in result.output
    assert str(tmp_path) in result.output  # where it looked


def test_version():
    assert invoke("--version").output.startswith("gpun2d, version")


def test_progress_and_summary_table(tmp_path, blobs):
    X, y = blobs
    np.savez(tmp_path / "blobs.npz", X=X, y=y)
    result = CliRunner().invoke(cli, ["run", "--input", str(tmp_path / "blobs.npz"), "--epochs", "3", "--device", "cpu",
                                      "--umap-neighbors", "10", "--cluster-n-init", "2", "--out", str(tmp_path / "o")],
                                env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "autoencoder epochs" in result.output and "3/3" in result.output  # the epoch bar, with the loss
    assert "clustering restarts" in result.output and "2/2" in result.output
    assert "UMAP epochs" in result.output
    assert "training the autoencoder" in result.output and "learning the manifold" in result.output
    for row in ("ACC", "NMI", "ARI", "time: autoencoder", "clusters (sizes)", "restarts"):
        assert row in result.output
    assert f"results in {tmp_path / 'o'}/" in result.output


def test_default_out_folder_follows_gpun2d_results(tmp_path, monkeypatch, blobs):
    X, y = blobs
    np.savez(tmp_path / "blobs.npz", X=X, y=y)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["run", "--input", "blobs.npz", *FAST, "--quiet"],
                                env={"GPUN2D_RESULTS": str(tmp_path / "all-results")})
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "all-results").iterdir()
    assert folder.name.startswith("run-blobs-") and (folder / "results.json").is_file()


def test_device_default_comes_from_gpun2d_device(tmp_path, blobs):
    X, y = blobs
    np.savez(tmp_path / "blobs.npz", X=X, y=y)
    result = CliRunner().invoke(cli, ["run", "--input", str(tmp_path / "blobs.npz"), "--quiet", "--out",
                                      str(tmp_path / "o")], env={"GPUN2D_DEVICE": "bogus"})
    assert result.exit_code == 2 and "Invalid value for '--device'" in result.output
    assert "[env var: GPUN2D_DEVICE" in CliRunner().invoke(cli, ["study", "--help"]).output


def test_library_errors_are_worded_as_flags():
    from gpun2d.cli.errors import as_flags

    ctx = click.Context(cli.commands["run"])
    message = "device='cuda' is unavailable; use device='cpu', or memory_pool='torch' with resume=True"
    expected = "--device cuda is unavailable; use --device cpu, or --memory-pool torch with --resume"
    assert as_flags(message, ctx) == expected
    assert as_flags("unknown=3 stays", ctx) == "unknown=3 stays"
    assert as_flags("downloads are off (download=False); put it in data_dir=FOLDER or give input_path=FILE",
                    ctx) == "downloads are off (--no-download); put it in --data-dir FOLDER or give --input FILE"


def test_ctrl_c_exits_130_with_one_line(tmp_path, monkeypatch, blobs):
    import gpun2d.runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gpun2d.runner, "run_pipeline", interrupted)
    X, y = blobs
    np.savez(tmp_path / "blobs.npz", X=X, y=y)
    result = CliRunner().invoke(cli, ["run", "--input", str(tmp_path / "blobs.npz"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 130 and result.output.strip().splitlines()[-1] == "Interrupted."
    assert not (tmp_path / "o").exists()


def test_usage_errors_exit_2():
    result = CliRunner().invoke(cli, ["run", "--epochs", "-1", "--dataset", "digits"])
    assert result.exit_code == 2 and "Invalid value for '--epochs'" in result.output
    result = CliRunner().invoke(cli, ["study", "--dataset", "digits", "--resume"])
    assert result.exit_code == 2 and "--resume and --report-only need --out" in result.output


def test_labels_of_one_class_cannot_set_n_clusters(tmp_path, blobs):
    X, _ = blobs
    np.savetxt(tmp_path / "onelabel.csv", np.column_stack([X, np.zeros(len(X))]), delimiter=",",
               header=",".join([f"x{i}" for i in range(X.shape[1])] + ["y"]), comments="")
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["run", "--input", str(tmp_path / "onelabel.csv"), "--label-column", "y",
                                      *FAST, "--out", str(out)])
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: the labels hold only 1 class") and "give --n-clusters K" in line
    assert not out.exists()


def test_resume_needs_out(tmp_path, blobs):
    X, y = blobs
    np.savez(tmp_path / "blobs.npz", X=X, y=y)
    result = CliRunner().invoke(cli, ["run", "--input", str(tmp_path / "blobs.npz"), "--resume", *FAST],
                                env={"GPUN2D_RESULTS": str(tmp_path / "all-results")})
    assert result.exit_code == 2 and "--resume needs --out: the folder of the run to continue" in result.output
    assert not (tmp_path / "all-results").exists()


def test_a_seed_without_room_for_the_restarts_is_refused_in_flags(tmp_path, blobs):
    X, y = blobs
    np.savez(tmp_path / "blobs.npz", X=X, y=y)
    result = CliRunner().invoke(cli, ["run", "--input", str(tmp_path / "blobs.npz"), *FAST, "--seed", "4294967295",
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert line == ("Error: --seed 4294967295 leaves no room for --cluster-n-init 2 restarts, which take the seeds "
                    "after it: give a seed from 0 to 4294967294")
    assert not (tmp_path / "o").exists()
