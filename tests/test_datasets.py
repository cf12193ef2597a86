"""Named datasets through the public API, on tiny fixtures in each real format."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import gpun2d.datasets as ds
from gpun2d.datasets import DATASETS, load, n_classes, search_dirs, status
from gpun2d.errors import ConfigError, DataError

try:
    import data_fixtures as fx
except ImportError:  # tests/ imported as a package
    from tests import data_fixtures as fx

isolated = fx.isolated


def check_arrays(X, y, n, d, k):
    assert X.shape == (n, d) and X.dtype == np.float32 and X.flags.c_contiguous
    assert y.shape == (n,) and y.dtype == np.int64
    assert y.min() == 0 and y.max() == k - 1


# --- registry ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, n, d, k", [
    ("mnist", 70_000, 784, 10), ("mnist-test", 10_000, 784, 10), ("fashion", 70_000, 784, 10),
    ("usps", 9_298, 256, 10), ("pendigits", 10_992, 16, 10), ("har", 10_299, 561, 6),
    ("digits", 1_797, 64, 10),
])
def test_registry_sizes_match_the_paper(name, n, d, k):
    spec = DATASETS[name]
    assert (spec.name, spec.n_samples, spec.n_features, spec.n_classes) == (name, n, d, k)
    assert spec.description and n_classes(name) == k


def test_unknown_dataset_suggests_a_name():
    with pytest.raises(DataError, match=r"unknown dataset 'mnsit' \(did you mean 'mnist'\?\).*known: mnist"):
        load("mnsit")
    with pytest.raises(DataError, match="unknown dataset"):
        n_classes("nope")


def test_unknown_engine_is_a_config_error(isolated):
    with pytest.raises(ConfigError, match=r"unknown engine 'cuda'.*use 'pandas' or 'cudf'"):
        load("digits", engine="cuda")


def test_public_api_names():
    for name in ("load", "load_file", "DATASETS", "search_dirs", "status", "fetch", "n_classes"):
        assert hasattr(ds, name)


# --- search order and status ---------------------------------------------------------------

def test_search_dirs_order(isolated, monkeypatch, tmp_path):
    monkeypatch.setenv("GPUN2D_DATA", str(tmp_path / "env"))
    dirs = search_dirs("fashion", tmp_path / "given")
    assert dirs[:2] == [tmp_path / "given", tmp_path / "given" / "fashion"]
    assert dirs.index(tmp_path / "given" / "fashion") < dirs.index(tmp_path / "env")
    assert dirs.index(tmp_path / "env" / "fashion-mnist") < dirs.index(tmp_path / "cache" / "fashion")
    assert dirs[-1].as_posix() == "/usr/share/datasets/fashion-mnist"
    assert len(dirs) == len(set(dirs))
    monkeypatch.delenv("GPUN2D_DATA")
    assert search_dirs("usps") == search_dirs(DATASETS["usps"]) == [tmp_path / "cache" / "usps"]


def test_cache_defaults_to_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GPUN2D_CACHE", raising=False)
    monkeypatch.delenv("GPUN2D_DATA", raising=False)
    assert search_dirs("har") == [tmp_path / ".cache" / "gpun2d" / "har"]


def test_status_rows(isolated, monkeypatch, tmp_path):
    fx.shrink(monkeypatch, "fashion", 30)
    fx.write_pendigits(tmp_path / "data" / "pendigits")
    rows = {r["name"]: r for r in status(tmp_path / "data")}
    assert set(rows) == set(DATASETS)
    row = rows["pendigits"]
    assert row["found"] and row["path"] == tmp_path / "data" / "pendigits" and row["format"] == "uci"
    assert (row["n_samples"], row["n_features"], row["n_classes"]) == (10_992, 16, 10)
    assert "classes" not in row  # reported once, as n_classes
    assert rows["fashion"]["found"] is False and rows["fashion"]["path"] is None
    assert tmp_path / "cache" / "fashion" in rows["fashion"]["searched"]
    assert rows["digits"]["found"]


# --- loading each format -------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_from_data_dir(isolated, monkeypatch, tmp_path, gz):
    fx.shrink(monkeypatch, "mnist", 30)
    X0, y0 = fx.write_mnist(tmp_path / "d", 20, 10, gz=gz)
    X, y = load("mnist", data_dir=tmp_path / "d", download=False)
    check_arrays(X, y, 30, 784, 10)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert 0.0 <= X.min() and X.max() <= 1.0


def test_mnist_test_uses_only_t10k_in_the_shared_folder(isolated, monkeypatch, tmp_path):
    fx.shrink(monkeypatch, "mnist-test", 10)
    X0, y0 = fx.write_mnist(tmp_path / "d" / "mnist", 0, 10, train=False)
    X, y = load("mnist-test", data_dir=tmp_path / "d", download=False)  # finds the mnist subfolder
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_gpun2d_data_env_and_subfolder(isolated, monkeypatch, tmp_path):
    fx.shrink(monkeypatch, "fashion", 30)
    fx.write_mnist(tmp_path / "shared" / "fashion-mnist", 20, 10)
    monkeypatch.setenv("GPUN2D_DATA", str(tmp_path / "shared"))
    X, y = load("fashion", download=False)
    check_arrays(X, y, 30, 784, 10)


def test_real_sizes_are_enforced(isolated, monkeypatch, tmp_path):
    monkeypatch.setitem(DATASETS, "mnist", replace(DATASETS["mnist"], system_dirs=()))
    fx.write_mnist(tmp_path / "d", 20, 10)
    with pytest.raises(DataError, match=r"loaded 30x784 but expected 70000x784.*replace them"):
        load("mnist", data_dir=tmp_path / "d", download=False)


def test_missing_class_is_an_error(isolated, monkeypatch, tmp_path):
    fx.shrink(monkeypatch, "mnist-test", 8)  # labels 0..7 only from 8 samples
    fx.write_mnist(tmp_path / "d", 0, 8, train=False)
    with pytest.raises(DataError, match="not the 10 classes"):
        load("mnist-test", data_dir=tmp_path / "d", download=False)


def test_usps_formats_agree(isolated, monkeypatch, tmp_path):
    fx.shrink(monkeypatch, "usps", 30)
    X0, y0 = fx.usps_data(30)
    writers = {
        "libsvm": lambda f: fx.write_usps_libsvm(f, X0, y0, 20),
        "jf-gz": lambda f: fx.write_usps_jf(f, X0, y0, 20, gz=True),
        "jf": lambda f: fx.write_usps_jf(f, X0, y0, 20, gz=False),
        "h5": lambda f: fx.write_usps_h5(f, X0, y0, 20),
    }
    for label, write in writers.items():
        write(tmp_path / label)
        X, y = load("usps", data_dir=tmp_path / label, download=False)
        check_arrays(X, y, 30, 256, 10)
        np.testing.assert_allclose(X, X0, atol=1e-6, err_msg=label)
        np.testing.assert_array_equal(y, y0, err_msg=label)
    assert {r["format"] for r in [next(r for r in status(tmp_path / "h5") if r["name"] == "usps")]} == {"h5"}


def test_pendigits(isolated, monkeypatch, tmp_path):
    fx.shrink(monkeypatch, "pendigits", 32)
    X0, y0 = fx.write_pendigits(tmp_path / "p", 20, 12)
    X, y = load("pendigits", data_dir=tmp_path / "p", download=False)
    check_arrays(X, y, 32, 16, 10)
    np.testing.assert_allclose(X, X0, atol=1e-7)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize("layout", ["folder", "folder-itself", "zip", "nested-zip"])
def test_har_layouts(isolated, monkeypatch, tmp_path, layout):
    fx.shrink(monkeypatch, "har", 22)
    files = fx.har_tables(14, 8)
    X0, y0 = fx.har_expected(files)
    data_dir = tmp_path / "h"
    if layout.startswith("folder"):
        root = fx.write_har_folder(data_dir, files)
        data_dir = root if layout == "folder-itself" else data_dir
    else:
        fx.write_har_zip(data_dir, files, nested=layout == "nested-zip")
    X, y = load("har", data_dir=data_dir, download=False)
    check_arrays(X, y, 22, 561, 6)
    np.testing.assert_allclose(X, X0, rtol=1e-6)
    np.testing.assert_array_equal(y, y0)
    assert not list(data_dir.rglob("X_train.txt")) or layout.startswith("folder")  # zip not extracted


def test_digits_needs_no_files(isolated):
    X, y = load("digits", download=False)
    check_arrays(X, y, 1797, 64, 10)
    assert X.max() == 1.0 and X.min() == 0.0


# --- missing files -------------------------------------------------------------------------

def test_missing_without_download_says_what_to_do(isolated, tmp_path):
    with pytest.raises(DataError) as info:
        load("usps", data_dir=tmp_path / "nowhere", download=False)
    msg = str(info.value)
    assert "\n" not in msg
    for part in ("'usps' not found", str(tmp_path / "nowhere"), str(tmp_path / "cache" / "usps"),
                 "download=False", "usps.bz2 + usps.t.bz2", "usps_train.jf.gz", "usps.h5", "GPUN2D_DATA"):
        assert part in msg, part


def test_wrong_files_name_the_folder(isolated, monkeypatch, tmp_path):
    fx.shrink(monkeypatch, "pendigits", 32)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pendigits.tra").write_text("1,2,3\n")
    (tmp_path / "p" / "pendigits.tes").write_text("1,2,3\n")
    with pytest.raises(DataError, match=r"pendigits.tra: 3 comma-separated columns"):
        load("pendigits", data_dir=tmp_path / "p", download=False)


# --- what the package imports --------------------------------------------------------------

PACKAGE_DIR = Path(ds.__file__).parent


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """Every module an ``import`` anywhere in ``path`` may load, as absolute names with line numbers.

    ``from X import y`` counts as importing both ``X`` and ``X.y`` (y may be a submodule).
    """
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            package = ["gpun2d", "datasets"]
            base = ".".join(package[: len(package) - node.level + 1] if node.level else [])
            base = ".".join(filter(None, (base, node.module)))
            names.append((base, node.lineno))
            names += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return names


def test_datasets_import_no_device_code():
    """Files in, host arrays out: nothing under datasets/ imports torch or gpun2d.devices."""
    offenders = [
        f"{path.name}:{line} imports {name}"
        for path in sorted(PACKAGE_DIR.glob("*.py"))
        for name, line in imported_modules(path)
        if any(name == bad or name.startswith(bad + ".") for bad in ("torch", "gpun2d.devices"))
    ]
    assert offenders == []


def test_datasets_modules_form_no_import_cycle():
    prefix = "gpun2d.datasets."
    graph = {
        path.stem: {name[len(prefix):].split(".")[0] for name, _ in imported_modules(path)
                    if name.startswith(prefix)} - {path.stem}
        for path in PACKAGE_DIR.glob("*.py")
    }
    done, active = set(), []

    def visit(module):
        if module in active:
            raise AssertionError("import cycle: " + " -> ".join(active[active.index(module):] + [module]))
        if module not in done:
            active.append(module)
            for target in sorted(graph.get(module, ())):
                visit(target)
            active.pop()
            done.add(module)

    for module in sorted(graph):
        visit(module)
    assert "paths" not in graph["registry"] and "registry" in graph["paths"]


def test_importing_datasets_loads_no_torch():
    """Once ``import gpun2d`` is light, ``import gpun2d.datasets`` must stay so too."""
    probe = ("import sys, gpun2d; heavy = 'torch' in sys.modules; import gpun2d.datasets; "
             "print(heavy, 'torch' in sys.modules, 'gpun2d.devices' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    if out[0] == "True":
        pytest.skip("import gpun2d itself still loads torch")
    assert out[1:] == ["False", "False"]
