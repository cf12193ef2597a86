"""Format readers (IDX, USPS, UCI) on good and damaged fixture files."""

from __future__ import annotations

import bz2
import gzip
import io
import zipfile

import numpy as np
import pytest

from gpun2d.datasets import archives, idx, uci, usps
from gpun2d.errors import DataError

try:
    import data_fixtures as fx
except ImportError:  # tests/ imported as a package
    from tests import data_fixtures as fx


# --- IDX -----------------------------------------------------------------------------------

def images(n=4):
    return np.arange(n * 28 * 28, dtype=np.int64).reshape(n, 28, 28) % 256


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_read_idx_round_trip(tmp_path, name):
    path = fx.write_bytes(tmp_path / name, fx.idx_bytes(images(), 2051))
    out = idx.read_idx(path, idx.IMAGES_MAGIC)
    assert out.shape == (4, 28, 28) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, images())


def test_bad_magic_says_which(tmp_path):
    path = fx.write_bytes(tmp_path / "labels.gz", fx.idx_bytes(np.arange(4), 2049))
    with pytest.raises(DataError, match=r"bad IDX magic number 2049 \(expected 2051 for images\)"):
        idx.read_idx(path, idx.IMAGES_MAGIC)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_idx(tmp_path, gz):
    data = fx.idx_bytes(images(), 2051)[:-100]
    path = fx.write_bytes(tmp_path / ("x.gz" if gz else "x"), data)
    with pytest.raises(DataError, match=r"truncated .* header \(4, 28, 28\) needs 3152.*download it again"):
        idx.read_idx(path, idx.IMAGES_MAGIC)


def test_idx_longer_than_header(tmp_path):
    path = fx.write_bytes(tmp_path / "x", fx.idx_bytes(images(), 2051) + b"\0" * 7)
    with pytest.raises(DataError, match="longer than its header says"):
        idx.read_idx(path, idx.IMAGES_MAGIC)


def test_cut_gzip_stream(tmp_path):
    blob = gzip.compress(fx.idx_bytes(images(), 2051))
    (tmp_path / "x.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="not a readable gzip file.*truncated or corrupt"):
        idx.read_idx(tmp_path / "x.gz", idx.IMAGES_MAGIC)
    (tmp_path / "y.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="not a readable gzip"):
        idx.read_idx(tmp_path / "y.gz", idx.IMAGES_MAGIC)


def idx_header(magic: int, *dims: int) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)


FORGED = "delete it and download it again"

# (case, file content, expected message; {p}: the file). Sizes whose product overflows int64
# (2**31 * 2**31 * 4 = 2**64 wraps to 0) must still be compared with the file's true length.
IDX_FORGED = [
    ("product wraps to zero", idx_header(2051, 2**31, 2**31, 4),
     "{p}: file is truncated (16 bytes, header (2147483648, 2147483648, 4) needs 18446744073709551632); " + FORGED),
    ("product wraps to the payload", idx_header(2051, 2**31, 2**31, 4) + b"\0" * 12,
     "{p}: file is truncated (28 bytes, header (2147483648, 2147483648, 4) needs 18446744073709551632); " + FORGED),
    ("largest dims", idx_header(2051, 2**32 - 1, 2**32 - 1, 2**32 - 1),
     "{p}: file is truncated (16 bytes, header (4294967295, 4294967295, 4294967295) needs "
     f"{16 + (2**32 - 1) ** 3}); " + FORGED),
    ("labels wrap", idx_header(2049, 2**32 - 1) + b"\0" * 3,
     "{p}: file is truncated (11 bytes, header (4294967295,) needs 4294967303); " + FORGED),
]


@pytest.mark.parametrize("content, expected", [c[1:] for c in IDX_FORGED], ids=[c[0] for c in IDX_FORGED])
def test_idx_header_sizes_cannot_overflow(tmp_path, content, expected):
    path = fx.write_bytes(tmp_path / "x", content)
    magic = int.from_bytes(content[:4], "big")
    with pytest.raises(DataError) as info:
        idx.read_idx(path, magic)
    assert type(info.value) is DataError
    assert str(info.value) == expected.format(p=path)


def test_image_and_label_counts_differ(tmp_path):
    xi = fx.write_bytes(tmp_path / "i", fx.idx_bytes(images(4), 2051))
    yi = fx.write_bytes(tmp_path / "l", fx.idx_bytes(np.arange(3), 2049))
    with pytest.raises(DataError, match="holds 4 images but .* holds 3 labels"):
        idx.read_idx_pair(xi, yi)


def test_idx_dataset_scales_and_concatenates(tmp_path):
    X0, y0 = fx.write_mnist(tmp_path, 5, 3, gz=False)
    files = {f"{s}_{k}": tmp_path / f"{p}-{k}-idx{3 if k == 'images' else 1}-ubyte"
             for s, p in (("train", "train"), ("test", "t10k")) for k in ("images", "labels")}
    X, y = idx.read_idx_dataset(files)
    assert X.dtype == np.float32 and X.shape == (8, 784)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


# --- USPS ----------------------------------------------------------------------------------

def test_libsvm_absent_entries_are_zero(tmp_path):
    (tmp_path / "usps.bz2").write_bytes(bz2.compress(b"3 1:-1 2:1 256:0.5\n10 3:-0.5\n"))
    X, y = usps.read_libsvm(tmp_path / "usps.bz2")
    assert X.shape == (2, 256)
    np.testing.assert_allclose(X[0, :3], [0.0, 1.0, 0.5])  # entry 3 absent: 0 -> 0.5
    assert X[0, 255] == 0.75 and X[1, 2] == 0.25
    np.testing.assert_array_equal(y, [2, 9])


@pytest.mark.parametrize("content, match", [
    (b"0 1:0.5\n", "labels must be integers 1-10"),
    (b"3 257:0.5\n", "not a valid LIBSVM"),
    (b"3 1:abc\n", "not a valid LIBSVM"),
    (b"3 1:7\n", "outside"),
])
def test_libsvm_bad(tmp_path, content, match):
    (tmp_path / "usps.bz2").write_bytes(bz2.compress(content))
    with pytest.raises(DataError, match=match):
        usps.read_libsvm(tmp_path / "usps.bz2")


def test_libsvm_truncated_bz2(tmp_path):
    blob = bz2.compress(b"3 1:0.5\n" * 1000)
    (tmp_path / "usps.bz2").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="not a valid LIBSVM"):
        usps.read_libsvm(tmp_path / "usps.bz2")


def jf_text(rows, end="-1\n", header="10 256\n"):
    return header + "".join(" ".join(map(str, r)) + "\n" for r in rows) + end


@pytest.mark.parametrize("text, match", [
    (jf_text([[1] + [0] * 256], end=""), "no '-1' end-marker"),
    (jf_text([[1] + [0] * 256, [2] + [0] * 200]), "short of 1 \\+ 256"),
    (jf_text([[1] + [0] * 256], header="hello\n"), "not a jf header"),
    (jf_text([[1] + [0] * 256], header="10 16\n"), "16 features"),
    (jf_text([[12] + [0] * 256]), "labels must be integers 0-9"),
    (jf_text([[1] + [3] * 256]), "outside \\[0, 1\\]"),
])
def test_jf_bad(tmp_path, text, match):
    (tmp_path / "usps_train.jf").write_text(text)
    with pytest.raises(DataError, match=match):
        usps.read_jf(tmp_path / "usps_train.jf")


def test_h5_missing_group(tmp_path):
    import h5py

    with h5py.File(tmp_path / "usps.h5", "w") as fh:
        fh.create_group("train")
    with pytest.raises(DataError, match="needs groups 'train' and 'test'"):
        usps.read_h5(tmp_path / "usps.h5")
    (tmp_path / "bad.h5").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable HDF5"):
        usps.read_h5(tmp_path / "bad.h5")


# --- UCI -----------------------------------------------------------------------------------

def test_pendigits_real_layout(tmp_path):
    (tmp_path / "pendigits.tra").write_text(" 47,100, 27, 81, 57, 37, 26,  0,  0, 23, 56, 53,100, 90, 40, 98,  8\n")
    X, y = uci.read_pendigits(tmp_path / "pendigits.tra")
    np.testing.assert_allclose(X[0, :3], [0.47, 1.0, 0.27])
    assert y.tolist() == [8]


@pytest.mark.parametrize("line, match", [
    (" 47,100, 27, 81, 57, 37, 26,  0,  0, 23, 56, 53,100, 90, 40, 98, 10", "labels must be integers 0-9"),
    (" 47,101, 27, 81, 57, 37, 26,  0,  0, 23, 56, 53,100, 90, 40, 98,  8", "coordinates must be integers 0-100"),
    (" 47,  x, 27, 81, 57, 37, 26,  0,  0, 23, 56, 53,100, 90, 40, 98,  8",
     r"p.tra: column 1 is not numeric \(data row 0: 'x'\)"),
])
def test_pendigits_bad(tmp_path, line, match):
    (tmp_path / "p.tra").write_text(line + "\n")
    with pytest.raises(DataError, match=match):
        uci.read_pendigits(tmp_path / "p.tra")


def test_verify_pendigits_counts_rows(tmp_path):
    lines, _, _ = fx.pendigits_lines(5, 0)
    (tmp_path / "p.tra").write_text("\n".join(lines) + "\n")
    uci.verify_pendigits(tmp_path / "p.tra", n_rows=5)
    with pytest.raises(DataError, match="5 rows, expected 7494"):
        uci.verify_pendigits(tmp_path / "p.tra", n_rows=7494)


def test_har_zip_without_tables(tmp_path):
    with zipfile.ZipFile(tmp_path / "h.zip", "w") as zf:
        zf.writestr("something/else.txt", "x")
    with pytest.raises(DataError, match="no 'UCI HAR Dataset/train/X_train.txt'"):
        uci.read_har_zip({"zip": tmp_path / "h.zip"})
    (tmp_path / "bad.zip").write_bytes(b"PK junk")
    with pytest.raises(DataError, match="not a readable zip"):
        uci.verify_har_zip(tmp_path / "bad.zip")


def test_har_label_count_mismatch(tmp_path):
    files = fx.har_tables(6, 4, d=5)
    files["train/y_train.txt"] = b"1\n2\n"
    root = fx.write_har_folder(tmp_path, files)
    paths = {role: root / rel for role, rel in uci.HAR_ROLES.items()}
    with pytest.raises(DataError, match="has 6 rows but .*y_train.txt has 2 labels"):
        uci.read_har_folder(paths)


def test_har_zip_member_named_in_errors(tmp_path):
    files = fx.har_tables(6, 4, d=5)
    files["test/y_test.txt"] = b"1\n9\n1\n1\n"
    path = fx.write_har_zip(tmp_path, files, nested=True)
    with pytest.raises(DataError, match=r"UCI HAR Dataset/test/y_test.txt: activity labels must be integers 1-6"):
        uci.read_har_zip({"zip": path})


def test_gzip_detected_by_content(tmp_path):
    """A '.gz' that a browser already unpacked, and gzip data without the suffix, both load."""
    plain = fx.idx_bytes(images(), 2051)
    (tmp_path / "a.gz").write_bytes(plain)
    (tmp_path / "b").write_bytes(gzip.compress(plain))
    for name in ("a.gz", "b"):
        np.testing.assert_array_equal(idx.read_idx(tmp_path / name, idx.IMAGES_MAGIC), images())


# First record of the real usps_test.jf (keysers' format: "10 256" header, label 0-9,
# values in [0, 2] with three decimals, "-1" end marker).
REAL_JF_ROW = (
    "9 0 0 0 0 0 0.052 0.439 1.148 1.384 1.904 1.29 0.218 0 0 0 0 0 0 0 0 0.252 1.588 2 2 1.991 "
    "1.915 2 1.931 0.524 0 0 0 0 0 0 0.213 1.794 2 1.727 0.822 0.307 0.214 0.376 1.834 1.756 0.178 "
    "0 0 0 0 0.078 1.81 2 1.01 0.072 0 0 0 0 0.61 2 1.271 0 0 0 0 1.012 2 1.248 0 0 0 0 0 0.598 "
    "1.326 2 1.801 0.002 0 0 0.019 1.645 2 0.313 0 0 0 0 0.208 1.976 2 2 1.413 0.024 0 0 0.007 "
    "1.834 1.897 0.049 0 0 0 0.169 1.14 2 2 1.302 0.111 0 0 0 0 1.356 1.794 0.164 0 0.555 1.074 "
    "1.833 2 2 1.696 0.119 0 0 0 0 0 0.632 1.955 2 2 2 2 1.905 2 2 0.738 0 0 0 0 0 0 0 0.493 1.451 "
    "1.692 1.692 0.993 0.763 2 1.882 0.205 0 0 0 0 0 0 0 0 0 0 0 0 1.155 2 1.436 0 0 0 0 0 0 0 0 0 "
    "0 0 0 0.009 1.703 2 0.975 0 0 0 0 0 0 0 0 0 0 0 0 0.167 1.959 2 0.371 0 0 0 0 0 0 0 0 0 0 0 0 "
    "0.4 1.998 1.841 0.068 0 0 0 0 0 0 0 0 0 0 0 0 0.576 2 1.732 0 0 0 0 0 0 0 0 0 0 0 0 0 0.092 "
    "1.43 1.622 0.027 0 0 0 0 0"
)


def test_jf_real_record(tmp_path):
    assert len(REAL_JF_ROW.split()) == 257
    (tmp_path / "usps_test.jf").write_text("10 256\n" + REAL_JF_ROW + "\n-1\n")
    X, y = usps.read_jf(tmp_path / "usps_test.jf")
    assert X.shape == (1, 256) and y.tolist() == [9]
    assert X[0, 6] == pytest.approx(0.439 / 2) and X.max() == 1.0


# --- archives: sizes capped, structure checked before caching ----------------------------------

X_TRAIN = f"{fx.HAR_DIR}/train/X_train.txt"
NOT_HAR = "this is not the UCI HAR archive or it is damaged"
TOO_BIG = ("unpacks to {n} bytes, more than the {cap} allowed (archives.MAX_MEMBER_BYTES); "
           "this is not the expected archive or it is damaged: delete it and download it again")


def forged_outer(inner: bytes) -> bytes:
    """UCI's outer zip around ``inner``, whose own header claims 1.5 GiB."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{fx.HAR_DIR}.zip", inner)
    return fx.claim_member_size(buf.getvalue(), f"{fx.HAR_DIR}.zip", 3 << 29)


def har_zip(**changes) -> bytes:
    files = fx.har_tables(6, 4, d=5)
    files.update(changes)
    return fx.har_zip_bytes(files)


# (case, zip content, verify_har_zip keyword arguments, expected message; {p}: the zip)
ARCHIVES = [
    ("member claims 1.5 GiB", fx.claim_member_size(har_zip(), X_TRAIN, 3 << 29), {},
     "{p}!" + X_TRAIN + " " + TOO_BIG.format(n=3 << 29, cap=archives.MAX_MEMBER_BYTES)),
    ("nested zip claims 1.5 GiB", forged_outer(har_zip()), {},
     "{p}!" + fx.HAR_DIR + ".zip " + TOO_BIG.format(n=3 << 29, cap=archives.MAX_MEMBER_BYTES)),
    ("right names, wrong rows", har_zip(), {"n_train": 7_352, "n_test": 2_947},
     "{p}: the HAR train split has 6 rows, expected 7352; " + NOT_HAR),
    ("right names, wrong test rows", har_zip(), {"n_train": 6, "n_test": 2_947},
     "{p}: the HAR test split has 4 rows, expected 2947; " + NOT_HAR),
    ("right names, wrong features", har_zip(), {"n_features": 561},
     "{p}: the HAR train split has 5 features, expected 561; " + NOT_HAR),
    ("empty member", har_zip(**{"test/y_test.txt": b""}), {},
     "{p}!" + fx.HAR_DIR + "/test/y_test.txt is empty; is this the HAR archive?"),
    ("member not a table", har_zip(**{"train/y_train.txt": b"<html>not found</html>\n" * 6}), {},
     "{p}!" + fx.HAR_DIR + "/train/y_train.txt: column 0 is not numeric (data row 0: '<html>not'); "
     "fix or replace the file"),
]


@pytest.mark.parametrize("content, kwargs, expected", [c[1:] for c in ARCHIVES], ids=[c[0] for c in ARCHIVES])
def test_har_archive_checks(tmp_path, content, kwargs, expected):
    path = tmp_path / "h.zip"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        uci.verify_har_zip(path, **kwargs)
    assert type(info.value) is DataError
    assert str(info.value) == expected.format(p=path)
    if not kwargs:  # loading reads the members the same way
        with pytest.raises(DataError) as info:
            uci.read_har_zip({"zip": path})
        assert str(info.value) == expected.format(p=path)


def test_member_cap_refuses_a_compressible_member(tmp_path, monkeypatch):
    """A member that really inflates past the cap (here lowered to 64 kB) is refused, nested or not."""
    monkeypatch.setattr(archives, "MAX_MEMBER_BYTES", 1 << 16)
    big = b" 1.0000000e+00" * 40 * 200  # 112 kB of one repeated row: a few hundred bytes deflated
    path = tmp_path / "h.zip"
    path.write_bytes(har_zip(**{"train/X_train.txt": big}))
    assert path.stat().st_size < 1 << 14
    expected = f"{path}!{X_TRAIN} " + TOO_BIG.format(n=len(big), cap=1 << 16)
    with pytest.raises(DataError) as info:
        uci.read_har_zip({"zip": path})
    assert str(info.value) == expected
    outer = fx.write_har_zip(tmp_path / "o", fx.har_tables(6, 4, d=5), nested=True)
    monkeypatch.setattr(archives, "MAX_MEMBER_BYTES", 1 << 10)  # the inner zip itself is over it now
    with pytest.raises(DataError, match=r"UCI HAR Dataset.zip unpacks to \d+ bytes, more than the 1024 allowed"):
        uci.verify_har_zip(outer)


def test_har_zip_with_counts_passes(tmp_path):
    path = fx.write_har_zip(tmp_path, fx.har_tables(6, 4, d=5), nested=True)
    uci.verify_har_zip(path, n_train=6, n_test=4, n_features=5)
