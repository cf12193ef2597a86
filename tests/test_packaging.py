"""environment.yml and pyproject's extras name every third-party package gpun2d imports."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]

#: import name -> conda package names that provide it (first is the one to add)
CONDA_NAMES = {
    "sklearn": ("scikit-learn",), "umap": ("umap-learn",), "torch": ("pytorch",), "yaml": ("pyyaml",),
    "matplotlib": ("matplotlib", "matplotlib-base"), "PIL": ("pillow",), "cv2": ("opencv",),
    "distributed": ("distributed", "dask"), "dask_cuda": ("dask-cuda",), "dask_cudf": ("dask-cudf",),
}
#: import name -> pip distribution names that provide it
PIP_NAMES = {
    "sklearn": ("scikit-learn",), "umap": ("umap-learn",), "yaml": ("pyyaml",), "PIL": ("pillow",),
    "cuml": ("cuml-cu13",), "cudf": ("cudf-cu13",), "cupy": ("cupy-cuda13x",), "rmm": ("rmm-cu13",),
    "distributed": ("dask",), "dask_cuda": ("dask-cuda",), "dask_cudf": ("dask-cudf-cu13",),
}
GPU_IMPORTS = {"cuml", "cudf", "cupy", "rmm", "dask_cuda", "dask_cudf"}


def third_party_imports() -> dict[str, set[str]]:
    """Top-level modules imported anywhere in gpun2d/ (also inside functions) -> files importing them."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "gpun2d").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("gpun2d", "__future__"):
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def conda_names() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            spec = dep.split("::")[-1]  # channel::package
            names.add(normalise(re.split(r"[=<>!~ ]", spec, maxsplit=1)[0]))
    return names


def pip_requirements() -> tuple[set[str], dict[str, set[str]]]:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(reqs):
        return {normalise(re.match(r"[A-Za-z0-9._-]+", req).group(0)) for req in reqs}

    extras = {extra: names(reqs) for extra, reqs in project.get("optional-dependencies", {}).items()}
    return names(project["dependencies"]), extras


def test_scan_finds_the_known_imports():
    imports = third_party_imports()
    assert {"torch", "numpy", "sklearn", "umap", "click", "cuml"} <= set(imports)


def test_environment_yml_channels_and_cuda_pin():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["rapidsai", "conda-forge", "nvidia"]
    deps = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "cuda-version=13" in deps
    assert any(re.fullmatch(r"python=3\.12(\.\*)?", d) for d in deps)
    assert "conda-forge::pytorch=*=*cuda*" in deps, "PyTorch must be conda-forge's CUDA build"
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section, "gpun2d comes from the checkout"


def test_environment_yml_names_every_import():
    have = conda_names()
    missing = {
        name: sorted(files) for name, files in third_party_imports().items()
        if not any(normalise(c) in have for c in CONDA_NAMES.get(name, (name,)))
    }
    assert not missing, (
        f"environment.yml lacks packages that gpun2d imports: {missing}; add them "
        "(conda names differ for some imports: see CONDA_NAMES in this test)"
    )


def test_pyproject_covers_every_import_and_gpu_extra_covers_rapids():
    core, extras = pip_requirements()
    everything = core.union(*extras.values())
    imports = third_party_imports()
    missing = {
        name: sorted(files) for name, files in imports.items()
        if not any(normalise(d) in everything for d in PIP_NAMES.get(name, (name,)))
    }
    assert not missing, f"pyproject.toml names no distribution for these imports: {missing}"
    gpu = extras.get("gpu", set())
    for name in GPU_IMPORTS & set(imports):
        assert set(map(normalise, PIP_NAMES[name])) <= gpu, f"the [gpu] extra must provide {name}"
        assert not set(map(normalise, PIP_NAMES[name])) & core, f"{name} must stay optional (a GPU extra)"
