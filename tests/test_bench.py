"""`gpun2d bench` and the benchmark scripts run and write their documented keys; timings are never asserted."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from gpun2d.benchmarking import render_markdown
from gpun2d.benchmarking.markdown import COLUMNS
from gpun2d.benchmarking.table3 import PAPER, summarise
from gpun2d.cli import cli

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--epochs", "2", "--device", "cpu", "--repeats", "1", "--max-samples", "100", "--cluster-n-init", "1"]
TOP_KEYS = {"gpun2d", "created", "command", "settings", "device", "machine", "paper", "comparable_to_paper",
            "warmup_seconds", "datasets"}
ROW_KEYS = {"dataset", "n_samples", "n_features", "n_clusters", "minutes", "scores", "paper", "speedup", "runs"}
MACHINE_KEYS = {"platform", "python", "cpu", "cpu_count", "cpus_usable", "torch", "torch_cuda", "cuml", "cudf",
                "cupy", "gpus", "versions"}


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_script_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits_bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "digits"
    result = invoke("bench", "-d", "digits", *TINY, "--no-warmup", "--out", out)
    return result, out


def test_bench_writes_json_and_markdown(digits_bench):
    result, out = digits_bench
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["bench.json", "bench.md"]
    report = json.loads((out / "bench.json").read_text())
    assert set(report) >= TOP_KEYS and set(report["machine"]) >= MACHINE_KEYS
    assert report["comparable_to_paper"] is False and report["settings"]["epochs"] == 2
    assert report["warmup_seconds"] is None and "no warm-up" in (out / "bench.md").read_text()
    assert report["device"]["resolved"] == "cpu" and report["machine"]["gpus"] == []
    (row,) = report["datasets"]
    assert set(row) == ROW_KEYS and row["dataset"] == "digits" and row["n_samples"] == 100
    assert set(row["minutes"]) == {"autoencoder", "manifold", "cluster", "total"}
    assert set(row["minutes"]["total"]) == {"median", "min", "max"}
    assert set(row["scores"]) == {"acc", "nmi", "ari"} and row["paper"] is None and row["speedup"] is None
    assert len(row["runs"]) == 1
    assert set(row["runs"][0]) >= {"seed", "seconds", "acc", "nmi", "ari", "torch_peak_memory_gib"}
    markdown = (out / "bench.md").read_text()
    assert "| " + " | ".join(COLUMNS) + " |" in markdown
    assert "Not comparable to the paper" in markdown and "2 epochs, not the paper's 1000" in markdown
    assert "| digits | 100 × 64 |" in markdown
    assert "| digits | 100 × 64 |" in result.stdout  # the table is printed too


def fake_run(seed, seconds, acc=0.9):
    stages = ("autoencoder", "manifold", "cluster", "total")
    return {"seed": seed, "seconds": dict(zip(stages, seconds, strict=True)),
            "acc": acc, "nmi": acc - 0.1, "ari": acc - 0.2, "final_loss": 0.01}


def test_summary_speedup_and_spread():
    runs = [fake_run(0, (60, 6, 6, 72)), fake_run(1, (120, 12, 6, 138), 0.8), fake_run(2, (90, 9, 6, 105), 0.85)]
    row = summarise("mnist-test", (10_000, 784), 10, runs)
    assert row["minutes"]["autoencoder"] == {"median": 1.5, "min": 1.0, "max": 2.0}
    assert row["speedup"]["autoencoder"] == pytest.approx(2.6 / 1.5)
    assert row["speedup"]["manifold"] == pytest.approx(0.4 / 0.15)
    assert row["speedup"]["total"] == pytest.approx(3.0 / 1.75)  # ours includes the clustering
    assert row["paper"]["total_min"] == pytest.approx(3.0) and row["scores"]["acc"]["median"] == 0.85
    result = {
        "settings": {"epochs": 1000, "batch_size": 256, "repeats": 3, "cluster_n_init": 10, "random_state": 0,
                     "max_samples": None, "warmup": True},
        "machine": {"torch": "2.13.0", "torch_cuda": "13.0", "cpu": "CPU", "cpu_count": 16, "versions": {},
                    "gpus": [{"name": "NVIDIA H100", "driver": "580.65", "cuda_driver": "13.0"}]},
        "device": {"name": "cuda:0 (NVIDIA H100)", "backends": {"manifold": "cuml.manifold.UMAP"}},
        "paper": {"epochs": 1000, "gpu": "NVIDIA GeForce RTX 2080 Ti", "datasets": PAPER},
        "comparable_to_paper": True, "datasets": [row],
    }
    markdown = render_markdown(result)
    assert "Not comparable" not in markdown and "NVIDIA H100 (driver 580.65, CUDA 13.0)" in markdown
    assert "| mnist-test | 10,000 × 784 | 1.50 (1.00–2.00) |" in markdown
    assert "2.6 + 0.4 = 3 | 1.7× / 2.7× / 1.7× | 0.850 (0.800–0.900) |" in markdown


def test_unknown_dataset_fails_before_work(tmp_path):
    result = CliRunner().invoke(cli, ["bench", "-d", "mnist-tset", "--device", "cpu", "--out",
                                      str(tmp_path / "x")])
    assert result.exit_code == 1 and "Error: unknown dataset 'mnist-tset'" in result.output
    assert "did you mean 'mnist-test'" in result.output and not (tmp_path / "x").exists()


def test_foreign_out_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["bench", "-d", "digits", "--device", "cpu", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "already holds other files" in result.output


def test_stages_script_runs_on_cpu_and_notes_skipped_gpu(digits_bench, tmp_path, capsys):
    stages = load_script("stages")
    out = tmp_path / "stages.json"
    assert stages.main(["--dataset", "digits", "--sizes", "40", "--epochs", "1", "--cluster-n-init", "1",
                        "--device", "cpu", "--no-warmup", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report) >= {"created", "command", "device", "machine", "settings", "notes", "comparisons", "scaling"}
    assert [(r["n"], r["stage"]) for r in report["comparisons"]] == [
        (40, stage) for stage in ("trainer", "manifold", "mixture")]
    for row in report["comparisons"]:
        assert set(row) >= {"n", "stage", "gpun2d", "alternative", "speedup", "skipped"}
        assert row["alternative"]["seconds"] > 0
    manifold = next(r for r in report["comparisons"] if r["stage"] == "manifold")
    assert manifold["gpun2d"]["seconds"] is None and "cuML UMAP skipped" in manifold["skipped"]
    assert any("cuML UMAP skipped" in note for note in report["notes"])
    assert report["scaling"] == {stage: {"40": pytest.approx(report["scaling"][stage]["40"])}
                                 for stage in ("trainer", "manifold", "mixture")}
    assert "speed-up" in capsys.readouterr().out


def test_umap_variants_script_scores_the_reference_and_notes_skipped_cuml(tmp_path, capsys):
    variants = load_script("umap_variants")
    out = tmp_path / "variants.json"
    assert variants.main(["--dataset", "digits", "--max-samples", "200", "--epochs", "1", "--seeds", "0",
                          "--variants", "brute_force_knn,nn_descent", "--cluster-n-init", "1",
                          "--device", "cpu", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report) >= {"created", "command", "device", "machine", "settings", "autoencoder", "notes", "variants"}
    assert report["settings"]["n_samples"] == 200 and report["autoencoder"]["epochs"] == 1
    reference, *cuml_rows = report["variants"]
    assert reference["variant"] == "umap-learn" and reference["skipped"] is None
    run = reference["runs"][0]
    assert run["seed"] == 0 and run["umap_seconds"] > 0 and 0 < run["acc"] <= 1 and 0 <= run["nmi"] <= 1
    assert reference["summary"]["acc"]["min"] == reference["summary"]["acc"]["max"] == run["acc"]
    assert [r["variant"] for r in cuml_rows] == ["brute_force_knn", "nn_descent"]
    assert all("cuML variants skipped" in r["skipped"] for r in cuml_rows)
    assert cuml_rows[1]["params"] == {"build_algo": "nn_descent"}
    assert "umap-learn" in capsys.readouterr().out


def test_umap_variants_rejects_unknown_variant(capsys):
    variants = load_script("umap_variants")
    assert variants.main(["--variants", "brute_force_knn,ivfpq", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "Error: Invalid value for '--variants': unknown variant(s) ivfpq; choose from brute_force_knn" in err


def test_targets_script_measures_every_target_and_judges_none_on_cpu(tmp_path, capsys):
    targets = load_script("targets")
    out = tmp_path / "targets.json"
    assert targets.main(["--dataset", "digits", "--rows", "200", "--epochs", "1", "--cluster-n-init", "1",
                         "--device", "cpu", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report) >= {"created", "command", "device", "machine", "settings", "data", "seconds",
                           "reference_seconds", "scores", "targets"}
    assert report["data"] == {"dataset": "digits", "n_original": 1797, "repeated": False,
                              "n_samples": 200, "n_features": 64}
    assert set(report["targets"]) == {"autoencoder_seconds", "umap_gmm_seconds", "umap_speedup", "gmm_speedup"}
    seconds, reference = report["seconds"], report["reference_seconds"]
    assert report["targets"]["umap_gmm_seconds"]["value"] == pytest.approx(seconds["umap"] + seconds["gmm"])
    assert report["targets"]["gmm_speedup"]["value"] == pytest.approx(reference["sklearn_gmm"] / seconds["gmm"])
    assert all(row["met"] is None for row in report["targets"].values())  # a CPU run is never judged
    assert 0 <= report["scores"]["acc"] <= 1
    assert "not judged" in capsys.readouterr().out


def test_targets_verdicts_and_repeated_rows(tmp_path):
    targets = load_script("targets")
    assert targets.verdict("autoencoder_seconds", 59.0, True)["met"] is True
    assert targets.verdict("umap_speedup", 29.0, True)["met"] is False
    assert targets.verdict("gmm_speedup", 50.0, False)["met"] is None
    assert targets.verdict("gmm_speedup", None, True)["met"] is None
    from gpun2d.devices import resolve_device

    args = SimpleNamespace(dataset="digits", rows=4000, data_dir=None, no_download=True)
    X, y, info = targets.load(args, resolve_device("cpu"))
    assert X.shape == (4000, 64) and info["repeated"] is True and info["n_original"] == 1797
    assert (X[1797] == X[0]).all() and y[3999] == y[3999 - 2 * 1797]


def test_gpu_check_script_parses_and_refuses_unknown_steps(tmp_path):
    script = ROOT / "benchmarks" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    done = subprocess.run(["bash", str(script), "pytest", "bogus"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OUT": str(tmp_path / "out")})
    assert done.returncode == 2 and "unknown step 'bogus'" in done.stderr
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


@pytest.mark.parametrize("name", ["stages", "targets", "umap_variants"])
def test_scripts_print_gpun2d_errors_as_one_line(name, capsys):
    script = load_script(name)
    assert script.main(["--dataset", "mnist-tset", "--device", "cpu", "--no-download"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: unknown dataset 'mnist-tset'") and "Traceback" not in err


def test_scripts_name_flags_in_device_errors(capsys):
    from gpun2d.devices import cuda_problem

    if cuda_problem() is None:
        pytest.skip("CUDA is usable here: --device cuda does not fail")
    assert load_script("stages").main(["--device", "cuda", "--sizes", "40"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: --device cuda is unavailable") and "--device cpu" in err


def test_scripts_share_the_cli_options():
    """Options the scripts share with `gpun2d` are the CLI's own declarations, defaults included."""
    from gpun2d import defaults
    from gpun2d.cli import cli

    run_options = {p.name: p for p in cli.commands["run"].params}
    for name in ("stages", "targets", "umap_variants"):
        params = {p.name: p for p in load_script(name).command.params}
        for shared in ("device", "data_dir", "no_download", "cluster_n_init", "epochs"):
            assert params[shared].opts == run_options[shared].opts and params[shared].help == run_options[shared].help
        assert params["device"].envvar == defaults.DEVICE_ENV
    stages, targets, variants = (load_script(n).command for n in ("stages", "targets", "umap_variants"))
    ctx = stages.make_context("stages.py", [])
    assert (ctx.params["epochs"], ctx.params["cluster_n_init"], ctx.params["random_state"]) == (5, 10, 0)
    ctx = targets.make_context("targets.py", [])
    assert (ctx.params["epochs"], ctx.params["cluster_n_init"]) == (defaults.EPOCHS, defaults.CLUSTER_N_INIT)
    ctx = variants.make_context("umap_variants.py", [])
    assert (ctx.params["epochs"], ctx.params["cluster_n_init"]) == (100, 10)


def test_gpu_check_passes_only_options_the_scripts_have():
    text = (ROOT / "benchmarks" / "gpu_check.sh").read_text()
    shared = re.findall(r"--[a-z][a-z0-9-]*", re.search(r"^data=\((.*)\)$", text, re.M).group(1))
    calls = re.findall(r"cmd=\(python3 benchmarks/(\w+)\.py(.*?)\) ;;", text, re.S)
    assert sorted(name for name, _ in calls) == ["stages", "targets", "umap_variants"]
    for name, args in calls:
        opts = {opt for p in load_script(name).command.params for opt in p.opts + p.secondary_opts}
        used = set(re.findall(r"--[a-z][a-z0-9-]*", args)) | set(shared)
        assert used <= opts, (name, used - opts)


def test_cli_startup_script_times_the_cli_and_finds_no_torch(tmp_path):
    out = tmp_path / "startup.json"
    done = subprocess.run([sys.executable, "benchmarks/cli_startup.py", "--repeats", "1", "--no-warmup", "--top", "3",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert set(report) == {"created", "command", "machine", "notes", "settings", "seconds", "imports", "target"}
    assert set(report["seconds"]) == {"python -c pass", "import gpun2d", "gpun2d --version", "gpun2d --help"}
    assert all(set(row) == {"argv", "median", "min", "max", "runs"} and len(row["runs"]) == 1
               for row in report["seconds"].values())
    assert set(report["imports"]) == {"import gpun2d", "gpun2d --version", "gpun2d --help"}
    probe = report["imports"]["gpun2d --help"]
    assert set(probe) == {"heavy", "first_imported_by", "import_seconds", "slowest_third_party"}
    assert "torch" not in probe["heavy"], probe["first_imported_by"]
    assert set(report["target"]) == {"what", "value", "target", "met"} and report["settings"]["repeats"] == 1
    assert "gpun2d --help" in done.stdout and f"wrote {out}" in done.stdout


def test_predict_holdout_script_reports_agreement(tmp_path):
    script = load_script("predict_holdout")
    out = tmp_path / "p.json"
    assert script.main(["--dataset", "digits", "--epochs", "1", "--cluster-n-init", "1", "--device", "cpu",
                        "--holdout", "0.1", "--one-by-one", "20", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["one_by_one"] == {"rows": 20, "agreement": 1.0}
    assert result["data"]["n_held_back"] == 180
    for key in ("fit_predict_all", "fit_predict_kept", "predict_held_back"):
        assert 0 <= result[key]["acc"] <= 1
    assert 0 <= result["held_back_vs_fit_predict"]["matched_accuracy"] <= 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_overhead_script_counts_syncs_per_em_iteration(tmp_path):
    script = load_script("overhead")
    out = tmp_path / "o.json"
    assert script.main(["--n-samples", "300", "--n-features", "3", "--n-components", "3", "--cluster-n-init", "3",
                        "--batch-size", "32", "--device", "cpu", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    batched = {k: v for k, v in result["em_per_iteration"].items() if k.startswith("batched")}
    assert len(batched) >= 2 and all(row["syncs"] <= 2 for row in batched.values())  # independent of restarts
    assert len({row["syncs"] for row in batched.values()}) == 1


def test_targets_stages_parse_in_run_order_and_refuse_unknown_names(capsys):
    targets = load_script("targets")
    assert targets.parse_stages(None) == ("autoencoder", "umap", "mixture")
    assert targets.parse_stages("mixture, autoencoder") == ("autoencoder", "mixture")
    assert targets.parse_stages("umap,umap") == ("umap",)
    for bad, message in (("autoencoder,gmm", "unknown stage 'gmm'"), (",", "name at least one stage")):
        assert targets.main(["--stages", bad, "--device", "cpu"]) == 2
        err = capsys.readouterr().err
        assert "Invalid value for '--stages'" in err and message in err


def test_targets_script_measures_only_the_chosen_stages(tmp_path, capsys):
    targets = load_script("targets")
    out = tmp_path / "targets.json"
    assert targets.main(["--dataset", "digits", "--rows", "300", "--epochs", "1", "--cluster-n-init", "1",
                         "--device", "cpu", "--stages", "autoencoder,mixture", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["targets"]) == {"autoencoder_seconds", "gmm_speedup"}
    assert set(report["seconds"]) == {"autoencoder", "gmm"}
    assert set(report["reference_seconds"]) == {"sklearn_gmm"}
    assert report["settings"]["stages"] == ["autoencoder", "mixture"]
    assert report["settings"]["mixture_input"] == "autoencoder"
    assert report["targets"]["gmm_speedup"]["value"] == pytest.approx(
        report["reference_seconds"]["sklearn_gmm"] / report["seconds"]["gmm"])
    assert all(row["met"] is None for row in report["targets"].values())
    assert "cuML UMAP" not in capsys.readouterr().out  # its rows are not printed


def test_targets_without_umap_needs_no_cuml(monkeypatch):
    """--stages autoencoder,mixture asks resolve_device for a torch GPU only; umap asks for cuML."""
    targets = load_script("targets")
    asked = []

    def fake_resolve(request, *, need_cuml=True):
        asked.append(need_cuml)
        raise RuntimeError("stop here")

    monkeypatch.setattr(targets, "resolve_device", fake_resolve)
    for stages, need in (("autoencoder,mixture", False), ("autoencoder,umap,mixture", True)):
        with pytest.raises(RuntimeError, match="stop here"):
            targets.run(SimpleNamespace(stages=targets.parse_stages(stages), device="cuda"))
        assert asked.pop() is need


def test_gpu_check_torch_tier_stops_at_once_without_a_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("checks the no-GPU case")
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "torch"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "OUT": str(tmp_path / "out")})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]  # one line
    assert done.stderr.startswith("gpu_check.sh: no CUDA GPU visible to torch")
    assert "pytest" not in done.stdout and "targets" not in done.stdout  # nothing after the gate ran
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cuda.log"]


def test_gpu_check_tiers_pass_only_options_targets_has():
    text = (ROOT / "benchmarks" / "gpu_check.sh").read_text()
    opts = {opt for p in load_script("targets").command.params for opt in p.opts + p.secondary_opts}
    targets = load_script("targets")
    for tier in ("torch", "cuml"):
        args = re.search(rf"^targets_{tier}=\((.*)\)$", text, re.M).group(1).split()
        assert set(a for a in args if a.startswith("--")) <= opts
        assert targets.command.make_context("targets.py", args).params["cluster_n_init"] == 10
    stages = re.search(r"^targets_torch=\(.*--stages (\S+)", text, re.M).group(1)
    assert targets.parse_stages(stages) == ("autoencoder", "mixture")
    torch_steps = re.search(r"^\s*torch\) steps\+=\((.*?)\) ;;$", text, re.M).group(1).split()
    assert torch_steps == ["cuda", "pytest-torch", "targets-torch"]  # nothing that needs cuML
