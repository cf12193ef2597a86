"""load_file: users' npy / npz / csv / tsv / parquet files, labels, validation, cuDF branch."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pytest

from gpun2d.datasets import load, load_file, load_file_with_ids, textio
from gpun2d.errors import ConfigError, DataError, DeviceError, GPUN2DError

try:
    import data_fixtures as fx
except ImportError:  # tests/ imported as a package
    from tests import data_fixtures as fx

isolated = fx.isolated

X0 = np.arange(24, dtype=np.float64).reshape(6, 4) / 7.0
Y0 = np.array([2, 0, 1, 2, 1, 0])


def write_csv(path, X=X0, y=Y0, header=True, sep=","):
    lines = []
    if header:
        lines.append(sep.join([f"f{j}" for j in range(X.shape[1])] + ["label"]))
    lines += [sep.join([repr(float(v)) for v in row] + [str(t)]) for row, t in zip(X, y, strict=True)]
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def check(X, y=None):
    assert X.dtype == np.float32 and X.flags.c_contiguous and X.ndim == 2
    np.testing.assert_allclose(X, X0, rtol=1e-6)
    if y is not None:
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, Y0)


# --- formats -------------------------------------------------------------------------------

def test_npy(tmp_path):
    np.save(tmp_path / "x.npy", X0)
    X, y = load_file(tmp_path / "x.npy")
    check(X)
    assert y is None
    np.save(tmp_path / "i.npy", np.arange(6).reshape(3, 2))
    assert load_file(tmp_path / "i.npy")[0].dtype == np.float32


@pytest.mark.parametrize("xkey, ykey", [("X", "y"), ("x", "labels"), ("data", "target")])
def test_npz_keys(tmp_path, xkey, ykey):
    np.savez(tmp_path / "d.npz", **{xkey: X0, ykey: Y0})
    check(*load_file(tmp_path / "d.npz"))


def test_npz_single_array_and_named_labels(tmp_path):
    np.savez(tmp_path / "a.npz", X0)
    X, y = load_file(tmp_path / "a.npz")
    check(X)
    assert y is None
    np.savez(tmp_path / "b.npz", X=X0, klass=Y0)
    check(*load_file(tmp_path / "b.npz", label_column="klass"))
    np.savez(tmp_path / "c.npz", a=X0, b=X0)
    with pytest.raises(DataError, match=r"no data array; name it one of X, x, data \(arrays are \['a', 'b'\]\)"):
        load_file(tmp_path / "c.npz")


@pytest.mark.parametrize("name, sep", [("d.csv", ","), ("d.tsv", "\t"), ("d.csv.gz", ",")])
def test_delimited_with_header(tmp_path, name, sep):
    path = write_csv(tmp_path / name, sep=sep)
    check(*load_file(path, label_column="label"))


def test_csv_without_header_keeps_first_row(tmp_path):
    path = write_csv(tmp_path / "d.csv", header=False)
    X, y = load_file(path, label_column=4)
    check(X, y)
    X, y = load_file(path, label_column="-1")
    check(X, y)
    X, y = load_file(path)  # no label column: the labels stay a feature
    assert X.shape == (6, 5) and y is None


def test_parquet_with_class_names(tmp_path):
    frame = pd.DataFrame(X0, columns=[f"f{j}" for j in range(4)])
    frame["kind"] = np.array(["bee", "cat", "ant"])[Y0]
    frame.to_parquet(tmp_path / "d.parquet")
    X, y = load_file(tmp_path / "d.parquet", label_column="kind")
    check(X)
    np.testing.assert_array_equal(y, [0, 1, 2, 0, 2, 1])  # codes of the sorted names ant, bee, cat


# --- labels --------------------------------------------------------------------------------

def test_separate_label_files(tmp_path):
    np.save(tmp_path / "x.npy", X0)
    np.save(tmp_path / "y.npy", Y0 + 1)  # 1-based labels are recoded
    check(*load_file(tmp_path / "x.npy", labels=tmp_path / "y.npy"))
    (tmp_path / "y.txt").write_text("".join(f"{v}\n" for v in Y0) + "\n")
    check(*load_file(tmp_path / "x.npy", labels=tmp_path / "y.txt"))
    (tmp_path / "h.txt").write_text("label\n" + "".join(f"{v}\n" for v in Y0))
    check(*load_file(tmp_path / "x.npy", labels=tmp_path / "h.txt"))
    (tmp_path / "y.csv").write_text("class\n" + "".join(f"{v}\n" for v in Y0))
    check(*load_file(tmp_path / "x.npy", labels=tmp_path / "y.csv"))
    (tmp_path / "n.txt").write_text("".join(f"{n}\n" for n in np.array(["a", "b", "c"])[Y0]))
    check(*load_file(tmp_path / "x.npy", labels=tmp_path / "n.txt"))
    check(*load_file(tmp_path / "x.npy", labels=Y0))  # an array works too


def test_labels_wrong_length(tmp_path):
    np.save(tmp_path / "x.npy", X0)
    np.save(tmp_path / "y.npy", Y0[:5])
    with pytest.raises(DataError, match="5 labels for 6 samples"):
        load_file(tmp_path / "x.npy", labels=tmp_path / "y.npy")


@pytest.mark.parametrize("values, match", [
    (np.array([0.5, 1, 2, 0, 1, 2]), "fractional"),
    (np.array([np.nan, 1, 2, 0, 1, 2]), "1 labels are missing"),
    (np.zeros((6, 2)), "one value per sample"),
])
def test_bad_labels(tmp_path, values, match):
    np.save(tmp_path / "x.npy", X0)
    with pytest.raises(DataError, match=match):
        load_file(tmp_path / "x.npy", labels=values)


def test_label_arguments_misused(tmp_path):
    path = write_csv(tmp_path / "d.csv")
    with pytest.raises(ConfigError, match="not both"):
        load_file(path, labels=Y0, label_column="label")
    with pytest.raises(DataError, match=r"no label column 'klass'; columns are f0, f1"):
        load_file(path, label_column="klass")
    np.save(tmp_path / "x.npy", X0)
    with pytest.raises(ConfigError, match="holds X only"):
        load_file(tmp_path / "x.npy", label_column="y")


# --- validation ----------------------------------------------------------------------------


def test_missing_column_lists_a_wide_table_with_the_count_left_out(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"f{i}" for i in range(40)) + "\n" + ",".join("1" for _ in range(40)) + "\n")
    with pytest.raises(DataError, match=r"columns are f0, f1, f2, f3, f4, f5, … \(31 more\), f37, f38, f39$"):
        load_file(path, label_column="klass")


def test_nan_and_inf_rows_are_named(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n,4\n5,inf\n7,8\nnan,1\n")
    with pytest.raises(DataError, match=r"3 of 5 rows hold NaN, inf .*data rows 1, 2, 4\); drop or impute"):
        load_file(path)


def test_non_numeric_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,c\n1,2,x\n3,4,y\n")
    with pytest.raises(DataError, match=r"column 'c' is not numeric \(data row 0: 'x'\).*label_column"):
        load_file(path)
    check_ok = load_file(path, label_column="c")
    assert check_ok[0].shape == (2, 2) and check_ok[1].tolist() == [0, 1]


@pytest.mark.parametrize("array, match", [
    (np.arange(5.0), r"2-D .*shape \(5,\).*reshape\(-1, 1\)"),
    (np.zeros((3, 4, 4)), r"flatten images"),
    (np.array(["a", "b"]).reshape(2, 1), "numeric"),
])
def test_bad_arrays(tmp_path, array, match):
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(DataError, match=match):
        load_file(tmp_path / "x.npy")


def test_bad_paths(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_file(tmp_path / "missing.csv")
    with pytest.raises(DataError, match=r"a pattern of shards is read only by `gpun2d run --scheduler`"):
        load_file(tmp_path / "*.parquet")
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"unsupported file type; use one of .*\.csv.*\.parquet.*\.npz"):
        load_file(tmp_path / "x.xlsx")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_file(tmp_path / "e.csv")
    (tmp_path / "p.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable .npy"):
        load_file(tmp_path / "p.npy")


# --- damaged files: one clear error each ----------------------------------------------------

class Unpickled:
    """Unpickling this creates the folder ``marker``: proof that a loader ran pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def npz_bytes(**arrays) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def write(path, data):
    path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    return path


def x_npy(tmp_path):
    np.save(tmp_path / "x.npy", X0)
    return tmp_path / "x.npy"


def npy_bytes(array) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def crc_broken(blob: bytes) -> bytes:
    """A compressed .npz whose first member's deflate stream is overwritten halfway."""
    data = bytearray(blob)
    data[60:80] = b"\0" * 20
    return bytes(data)


UNPICKLE = re.escape("which gpun2d refuses to unpickle; save numbers (or strings, for labels) instead")
HEADER_ONLY = "has a header row but no data rows; add the data below the header"

# (case, file name -> content, load_file keyword arguments ({p}: that file, {x}: a good x.npy),
#  error type, expected message as a regex over the whole message, {p} and {x} replaced by the escaped paths)
DAMAGED = [
    ("header-only csv", "h.csv", "a,b,label\n", {}, DataError, "{p} " + HEADER_ONLY),
    ("header-only csv, label column", "h.csv", "a,b,label\n", {"label_column": "label"}, DataError,
     "{p} " + HEADER_ONLY),
    ("header-only tsv", "h.tsv", "a\tb\n", {}, DataError, "{p} " + HEADER_ONLY),
    ("header-only labels csv", "y.csv", "class\n", {"x": True}, DataError, "{p} " + HEADER_ONLY),
    ("corrupt npz", "c.npz", b"PK\x03\x04 not a zip after all", {}, DataError,
     r"{p} is not a readable \.npz file \(truncated or corrupt: File is not a zip file\); save the arrays again"),
    ("npz that is no zip", "c.npz", b"\x00junk", {}, DataError,
     r"{p} is not a readable \.npz file \(not a zip archive\); save the arrays with numpy\.savez"),
    ("truncated npz", "t.npz", npz_bytes(X=X0, y=Y0)[:300], {}, DataError,
     r"{p} is not a readable \.npz file \(truncated or corrupt: File is not a zip file\); save the arrays again"),
    ("npz member damaged", "d.npz", crc_broken(npz_bytes(X=X0, y=Y0)), {}, DataError,
     r"{p} is not a readable \.npz file \(array 'X' is truncated or corrupt: .+\); save the arrays again"),
    ("corrupt labels npz", "y.npz", b"PK\x03\x04 not a zip after all", {"x": True}, DataError,
     r"{p} is not a readable \.npz file \(truncated or corrupt: File is not a zip file\); save the arrays again"),
    ("truncated npy", "t.npy", npy_bytes(X0)[:-10], {}, DataError,
     r"{p} is not a readable \.npy file \(truncated or corrupt: Failed to read all data for array\. "
     r"Expected \(6, 4\) = 24 elements, could only read 22 elements\. \(file seems not fully written\?\)\); "
     "save the array again"),
    ("truncated labels npy", "y.npy", npy_bytes(Y0)[:-3], {"x": True}, DataError,
     r"{p} is not a readable \.npy file \(truncated or corrupt: .+\); save the array again"),
    ("non-utf8 labels txt", "y.txt", b"0\n1\n\xff\xfe\n", {"x": True}, DataError,
     r"labels file {p} is not UTF-8 text \(byte 0xff at offset 4\); save it as UTF-8"),
    ("corrupt labels txt.gz", "y.txt.gz", b"\x1f\x8b junk", {"x": True}, DataError,
     r"labels file {p} cannot be read \(.+\); check the file"),
    ("object labels npz", "y.npz", npz_bytes(y=np.array([0, "a", None, 1, 2, 0], dtype=object)), {"x": True},
     DataError, r"{p}: array 'y' is an object array, " + UNPICKLE),
    ("object X npz", "o.npz", npz_bytes(X=np.array([[1, "a"]] * 6, dtype=object)), {}, DataError,
     r"{p}: array 'X' is an object array, " + UNPICKLE),
    ("object labels npy", "y.npy", npy_bytes(np.array([0, "a", None, 1, 2, 0], dtype=object)), {"x": True},
     DataError, r"{p} holds an object array, " + UNPICKLE),
]


@pytest.mark.parametrize("name, content, kwargs, error, expected", [c[1:] for c in DAMAGED],
                         ids=[c[0] for c in DAMAGED])
def test_damaged_files(tmp_path, name, content, kwargs, error, expected):
    path = write(tmp_path / name, content)
    kwargs = dict(kwargs)
    if kwargs.pop("x", False):  # the damaged file is the labels of a good X
        args = (x_npy(tmp_path), path)
    else:
        args = (path,)
    with pytest.raises(GPUN2DError) as info:
        load_file(*args, **kwargs)
    assert type(info.value) is error
    message = str(info.value)
    assert "\n" not in message
    assert re.fullmatch(expected.format(p=re.escape(str(path))), message), message


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_object_arrays_are_never_unpickled(tmp_path, suffix):
    marker = tmp_path / "unpickled"
    bomb = np.array([Unpickled(marker)] * 6, dtype=object)
    path = tmp_path / f"y{suffix}"
    path.write_bytes(npy_bytes(bomb) if suffix == ".npy" else npz_bytes(X=X0, y=bomb))
    with pytest.raises(DataError, match="refuses to unpickle"):
        load_file(x_npy(tmp_path), labels=path)
    with pytest.raises(DataError, match="refuses to unpickle"):
        load_file(path) if suffix == ".npy" else load_file(path, label_column="y")
    assert not marker.exists()
    loaded = np.load(path, allow_pickle=True)
    if suffix == ".npz":
        loaded["y"]  # noqa: B018  (reading the member unpickles it)
    assert marker.is_dir()  # the fixture is armed: unpickling it would have left the mark


def test_header_only_parquet(tmp_path):
    pd.DataFrame({"a": pd.Series([], dtype=float)}).to_parquet(tmp_path / "e.parquet")
    with pytest.raises(DataError) as info:
        load_file(tmp_path / "e.parquet")
    assert type(info.value) is DataError
    assert str(info.value) == f"{tmp_path / 'e.parquet'} holds no rows; write the data into it"


# --- id_column -----------------------------------------------------------------------------

def write_ids_csv(path, ids, header=True):
    lines = (["id," + ",".join(f"f{j}" for j in range(4)) + ",label"] if header else [])
    lines += [",".join([str(i)] + [repr(float(v)) for v in row] + [str(t)])
              for i, row, t in zip(ids, X0, Y0, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_id_column_string_ids(tmp_path):
    path = write_ids_csv(tmp_path / "d.csv", [f"s{i}" for i in range(6)])
    X, y, ids = load_file_with_ids(path, label_column="label", id_column="id")
    check(X, y)
    assert ids.dtype.kind == "U" and ids.tolist() == [f"s{i}" for i in range(6)]
    X2, y2 = load_file(path, label_column="label", id_column="id")  # the column still leaves X
    check(X2, y2)


def test_id_column_integer_ids_without_header(tmp_path):
    path = write_ids_csv(tmp_path / "d.csv", [10, 11, 12, 13, 14, 15], header=False)
    X, y, ids = load_file_with_ids(path, label_column=5, id_column=0)
    check(X, y)
    assert ids.dtype == np.int64 and ids.tolist() == [10, 11, 12, 13, 14, 15]


def test_id_column_parquet_and_defaults(tmp_path):
    frame = pd.DataFrame(X0, columns=[f"f{j}" for j in range(4)])
    frame.insert(2, "sample", [f"r{i}" for i in range(6)])
    frame.to_parquet(tmp_path / "d.parquet")
    X, y, ids = load_file_with_ids(tmp_path / "d.parquet", id_column="sample")
    check(X)
    assert y is None and ids.tolist() == ["r0", "r1", "r2", "r3", "r4", "r5"]
    frame["sample"] = [f"r{i}" for i in range(5)] + [None]
    frame.to_parquet(tmp_path / "d.parquet")
    with pytest.raises(DataError, match=r"id column 'sample' has 1 missing id \(first at 0-based data row 5\)"):
        load_file_with_ids(tmp_path / "d.parquet", id_column="sample")
    np.save(tmp_path / "x.npy", X0)
    X, y, ids = load_file_with_ids(tmp_path / "x.npy", labels=Y0)
    check(X, y)
    assert ids is None


def test_id_column_exported():
    import gpun2d.datasets as ds

    assert "load_file_with_ids" in ds.__all__ and ds.load_file_with_ids is load_file_with_ids


# (case, file, load_file_with_ids keyword arguments, error type, expected message; {p}: the data file)
ID_ERRORS = [
    ("npy has no columns", "x.npy", {"id_column": "id"}, ConfigError,
     "id_column='id' needs a table with columns (.csv, .tsv, .parquet), but {p} is a .npy file; "
     "drop id_column and keep the ids apart"),
    ("npz has no columns", "d.npz", {"id_column": "id"}, ConfigError,
     "id_column='id' needs a table with columns (.csv, .tsv, .parquet), but {p} is a .npz file; "
     "drop id_column and keep the ids apart"),
    ("id is the label", "d.csv", {"id_column": "label", "label_column": "label"}, ConfigError,
     "id_column='label' and label_column='label' name the same column; "
     "the ids and the labels must be different columns"),
    ("same column by number and name", "n.csv", {"id_column": "5", "label_column": 5}, ConfigError,
     "id_column='5' and label_column=5 name the same column of {p}; the ids and the labels must be different columns"),
    ("missing id column", "d.csv", {"id_column": "key"}, DataError,
     "{p}: no id column 'key'; columns are id, f0, f1, f2, f3, label"),
    ("missing id column without header", "n.csv", {"id_column": 9}, DataError,
     "{p}: no id column 9; columns are 0, 1, 2, 3, 4, 5 (the file has no header row: give the 0-based column number)"),
    ("nothing left", "two.csv", {"id_column": "id", "label_column": "label"}, DataError,
     "{p}: no feature columns left besides the ids and labels"),
]


@pytest.mark.parametrize("name, kwargs, error, expected", [c[1:] for c in ID_ERRORS],
                         ids=[c[0] for c in ID_ERRORS])
def test_id_column_errors(tmp_path, name, kwargs, error, expected):
    np.save(tmp_path / "x.npy", X0)
    np.savez(tmp_path / "d.npz", X=X0, y=Y0)
    write_ids_csv(tmp_path / "d.csv", range(6))
    write_ids_csv(tmp_path / "n.csv", range(6), header=False)
    (tmp_path / "two.csv").write_text("id,label\na,0\nb,1\n")
    path = tmp_path / name
    with pytest.raises(GPUN2DError) as info:
        load_file_with_ids(path, **kwargs)
    assert type(info.value) is error
    assert str(info.value) == expected.format(p=path)


# --- cuDF parsing (engine="cudf") ---------------------------------------------------------

def test_cudf_engine_without_cudf_is_a_device_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cudf", None)  # import cudf -> ImportError
    path = write_csv(tmp_path / "d.csv")
    expected = r"^engine='cudf' needs cuDF, which is not installed.*engine='pandas'"
    with pytest.raises(DeviceError, match=expected) as info:
        load_file(path, engine="cudf")
    assert "\n" not in str(info.value)
    np.save(tmp_path / "x.npy", X0)
    assert load_file(tmp_path / "x.npy", engine="cudf")[0].shape == X0.shape  # no table: cuDF is not needed
    with pytest.raises(ConfigError, match=r"unknown engine 'cuda'.*use 'pandas' or 'cudf'"):
        load_file(tmp_path / "x.npy", engine="cuda")  # the old device names are refused, whatever the file


def test_cudf_that_fails_to_import_is_a_device_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def broken_import(name, *args, **kwargs):
        if name == "cudf":
            raise RuntimeError("CUDA driver version is insufficient\nfor CUDA runtime version")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "cudf", raising=False)
    monkeypatch.setattr(builtins, "__import__", broken_import)
    with pytest.raises(DeviceError, match=r"^engine='cudf': cuDF failed to import \(CUDA driver .* insufficient for"):
        load_file(write_csv(tmp_path / "d.csv"), engine="cudf")


@pytest.fixture
def fake_cudf(monkeypatch):
    """A stand-in cudf whose read_csv takes only cuDF 26.10's keywords (no delim_whitespace) and uses pandas."""
    calls = []

    def read_csv(source, sep=",", header="infer", skiprows=0, skipinitialspace=False, compression="infer"):
        calls.append({"sep": sep, "header": header})
        frame = pd.read_csv(source, sep=sep, header=header,
                            skiprows=skiprows, skipinitialspace=skipinitialspace, compression=compression)
        return types.SimpleNamespace(to_pandas=lambda: frame)

    monkeypatch.setitem(sys.modules, "cudf", types.SimpleNamespace(read_csv=read_csv))
    return calls


def test_cudf_engine_parses_with_cudf(tmp_path, fake_cudf):
    check(*load_file(write_csv(tmp_path / "d.csv"), label_column="label", engine="cudf"))
    assert fake_cudf == [{"sep": ",", "header": 0}]
    (tmp_path / "x.csv").write_text("".join(",".join(map(repr, row)) + "\n" for row in X0.tolist()))
    (tmp_path / "y.csv").write_text("label\n" + "".join(f"{v}\n" for v in Y0))
    check(*load_file(tmp_path / "x.csv", labels=tmp_path / "y.csv", engine="cudf"))
    assert fake_cudf[1:] == [{"sep": ",", "header": None}, {"sep": ",", "header": 0}]  # the labels file too


def test_pandas_engine_never_imports_cudf(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cudf", None)
    check(*load_file(write_csv(tmp_path / "d.csv"), label_column="label"))


def test_cudf_engine_for_dataset_text_readers(isolated, monkeypatch, tmp_path, fake_cudf):
    fx.shrink(monkeypatch, "pendigits", 32)
    X0p, y0p = fx.write_pendigits(tmp_path / "p", 20, 12)
    X, y = load("pendigits", data_dir=tmp_path / "p", download=False, engine="cudf")
    assert X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X, X0p, atol=1e-7)
    np.testing.assert_array_equal(y, y0p)
    assert fake_cudf == [{"sep": ",", "header": None}] * 2
    fake_cudf.clear()
    fx.shrink(monkeypatch, "har", 22)
    files = fx.har_tables(14, 8)
    fx.write_har_zip(tmp_path / "h", files, nested=True)
    X, y = load("har", data_dir=tmp_path / "h", download=False, engine="cudf")
    X0h, _ = fx.har_expected(files)
    np.testing.assert_allclose(X, X0h, rtol=1e-6)
    # cuDF cannot split on whitespace runs: HAR's whitespace tables go through pandas
    assert fake_cudf == []


def failing_cudf(monkeypatch, problem):
    """A cudf that imports but whose read_csv fails, on a machine where the GPU probe says ``problem``."""
    def read_csv(source, **kwargs):
        raise RuntimeError('"cuda" is an NVIDIA driver library and can only be found via system search.')

    monkeypatch.setitem(sys.modules, "cudf", types.SimpleNamespace(read_csv=read_csv))
    monkeypatch.setattr(textio, "_gpu_problem", lambda: problem)


def test_cudf_without_a_gpu_is_a_device_error(tmp_path, monkeypatch):
    failing_cudf(monkeypatch, "cudaErrorInsufficientDriver: CUDA driver version is insufficient")
    with pytest.raises(DeviceError, match=r"^engine='cudf' needs a CUDA GPU.*insufficient.*engine='pandas'"):
        load_file(write_csv(tmp_path / "d.csv"), engine="cudf")


def test_cudf_parse_failure_on_a_gpu_is_a_data_error(tmp_path, monkeypatch):
    failing_cudf(monkeypatch, None)
    with pytest.raises(DataError, match=r"d.csv: cannot parse \(\"cuda\" is an NVIDIA .*re-download it"):
        load_file(write_csv(tmp_path / "d.csv"), engine="cudf")


def test_cudf_engine_on_this_machine(tmp_path):
    """The real cuDF here: the table where a GPU answers, else one clear gpun2d error line."""
    path = write_csv(tmp_path / "d.csv")
    probe = (
        "import sys\n"
        "from gpun2d.datasets import load_file\n"
        "from gpun2d.errors import GPUN2DError\n"
        "try:\n"
        f"    X, y = load_file({str(path)!r}, label_column='label', engine='cudf')\n"
        "except GPUN2DError as exc:\n"
        "    print(type(exc).__name__, exc, sep='\\n')\n"
        "else:\n"
        "    print('ok', X.dtype, y.dtype, X.shape, sep='\\n')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    kind, *rest = done.stdout.rstrip("\n").split("\n")
    if kind == "ok":
        assert rest == ["float32", "int64", "(6, 4)"]
    else:
        assert kind == "DeviceError" and len(rest) == 1, done.stdout
        assert rest[0].startswith("engine='cudf'") and "engine='pandas'" in rest[0]
