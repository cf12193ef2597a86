"""The benchmark datasets of the N2D paper: sizes, file layouts and sources.

Each :class:`DatasetSpec` says what a dataset must look like once loaded
(``n_samples`` x ``n_features``, ``n_classes``), which files in which layouts
hold it, and what can be downloaded.  The sizes are enforced by
:func:`gpun2d.datasets.load`; tests shrink them with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError
from . import idx, uci, usps

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

Reader = Callable[..., "tuple[np.ndarray, np.ndarray]"]


@dataclass(frozen=True)
class Layout:
    """One way a dataset's files can lie in a folder.

    Parameters
    ----------
    name : str
        Short label shown by ``status`` (e.g. ``"idx"``, ``"libsvm"``).
    files : mapping of str to tuple of str
        Role (``"train_images"``) -> relative paths to try, first existing wins.
    reader : callable
        ``reader(files) -> (X, y)`` with X scaled as the paper does.
    hint : str
        How to name the files to a user, when listing them reads badly.
    delimited : bool
        The reader parses delimited text tables and takes ``engine=`` (the
        parser, ``"pandas"`` or ``"cudf"``); other formats ignore the engine.
    """

    name: str
    files: Mapping[str, tuple[str, ...]]
    reader: Reader
    hint: str = ""
    delimited: bool = False

    def resolve(self, folder: Path) -> dict[str, Path] | None:
        """Paths for every role under ``folder``, or None if one is missing."""
        found: dict[str, Path] = {}
        for role, candidates in self.files.items():
            hit = next((folder / c for c in candidates if (folder / c).is_file()), None)
            if hit is None:
                return None
            found[role] = hit
        return found

    def describe(self) -> str:
        """The files this layout needs, e.g. ``usps.bz2 + usps.t.bz2``."""
        if self.hint:
            return self.hint
        return " + ".join(c[0] for c in self.files.values())

    def read(self, files: Mapping[str, Path], engine: str = "pandas") -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` from the ``files`` :meth:`resolve` found, parsing text with ``engine``."""
        return self.reader(files, engine=engine) if self.delimited else self.reader(files)


@dataclass(frozen=True)
class Resource:
    """One downloadable file: its name, md5 (when published) or a structure check.

    ``max_bytes`` caps the download (a few times the file's published size);
    None leaves the global cap of :mod:`gpun2d.datasets.download`.
    """

    filename: str
    md5: str | None = None
    verify: Callable[[Path], None] | None = None
    max_bytes: int | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """What a named dataset is and where its files may be.

    ``folders[0]`` is the cache folder; every name in ``folders`` (and the
    dataset's own name) is tried as a subfolder of ``data_dir`` and
    ``$GPUN2D_DATA``.
    """

    name: str
    n_samples: int
    n_features: int
    n_classes: int
    description: str
    folders: tuple[str, ...] = ()
    layouts: tuple[Layout, ...] = ()
    resources: tuple[Resource, ...] = ()
    mirror_key: str | None = None
    system_dirs: tuple[str, ...] = ()
    homepage: str = ""
    builtin: Callable[[], tuple[np.ndarray, np.ndarray]] | None = field(default=None, repr=False)

    @property
    def cache_folder(self) -> str:
        return self.folders[0] if self.folders else self.name

    def describe_files(self) -> str:
        """Human hint of the files to place by hand, all layouts."""
        return " or ".join(layout.describe() for layout in self.layouts)


def _mnist_files(prefix: str, kind: str) -> tuple[str, ...]:
    base = f"{prefix}-{kind}"
    # The ".gz" originals, the gunzipped files, and the "idx3-ubyte" dot variant.
    dotted = base.replace("-idx", ".idx")
    return (f"{base}.gz", base, dotted, f"{dotted}.gz")


_TRAIN_TEST_IDX = {
    "train_images": _mnist_files("train", "images-idx3-ubyte"),
    "train_labels": _mnist_files("train", "labels-idx1-ubyte"),
    "test_images": _mnist_files("t10k", "images-idx3-ubyte"),
    "test_labels": _mnist_files("t10k", "labels-idx1-ubyte"),
}
_TEST_IDX = {k: v for k, v in _TRAIN_TEST_IDX.items() if k.startswith("test")}

# md5 of each .gz as torchvision.datasets.MNIST / FashionMNIST list them.
_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_FASHION_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}


_MIB = 1 << 20
# Download caps, a few times each published size (MNIST's train images are 9.9 MB, Fashion's 26.4 MB).
_IDX_MAX_BYTES = {
    "mnist": {"train-images": 32 * _MIB, "t10k-images": 8 * _MIB},
    "fashion": {"train-images": 96 * _MIB, "t10k-images": 16 * _MIB},
}


def _md5_resources(table: Mapping[str, str], caps: Mapping[str, int],
                   only_test: bool = False) -> tuple[Resource, ...]:
    return tuple(
        Resource(name, md5, max_bytes=caps.get(name.split("-idx")[0], _MIB))  # label files: a few kB
        for name, md5 in table.items() if not only_test or name.startswith("t10k")
    )


_HAR_DIR = uci.HAR_DIR
HAR_ZIP = "human+activity+recognition+using+smartphones.zip"

_SPECS = (
    DatasetSpec(
        "mnist", 70_000, 784, 10, "MNIST handwritten digits, train + test, 28x28 /255",
        folders=("mnist", "MNIST"),
        layouts=(Layout("idx", _TRAIN_TEST_IDX, idx.read_idx_dataset),),
        resources=_md5_resources(_MNIST_MD5, _IDX_MAX_BYTES["mnist"]), mirror_key="mnist",
        homepage="http://yann.lecun.com/exdb/mnist/",
    ),
    DatasetSpec(
        "mnist-test", 10_000, 784, 10, "MNIST test set only (t10k), 28x28 /255",
        folders=("mnist", "MNIST"),
        layouts=(Layout("idx", _TEST_IDX, idx.read_idx_dataset),),
        resources=_md5_resources(_MNIST_MD5, _IDX_MAX_BYTES["mnist"], only_test=True),
        mirror_key="mnist",
        homepage="http://yann.lecun.com/exdb/mnist/",
    ),
    DatasetSpec(
        "fashion", 70_000, 784, 10, "Fashion-MNIST, train + test, 28x28 /255",
        folders=("fashion", "fashion-mnist", "FashionMNIST"),
        layouts=(Layout("idx", _TRAIN_TEST_IDX, idx.read_idx_dataset),),
        resources=_md5_resources(_FASHION_MD5, _IDX_MAX_BYTES["fashion"]), mirror_key="fashion",
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
    ),
    DatasetSpec(
        "usps", 9_298, 256, 10, "USPS digits 16x16, train 7,291 + test 2,007, in [0,1]",
        folders=("usps", "USPS"),
        layouts=(
            Layout("libsvm", {"train": ("usps.bz2", "usps"), "test": ("usps.t.bz2", "usps.t")},
                   usps.read_libsvm_pair),
            Layout("jf", {"train": ("usps_train.jf.gz", "usps_train.jf"),
                          "test": ("usps_test.jf.gz", "usps_test.jf")}, usps.read_jf_pair),
            Layout("h5", {"file": ("usps.h5",)}, usps.read_h5),
        ),
        resources=(
            Resource("usps.bz2", "ec16c51db3855ca6c91edd34d0e9b197", max_bytes=64 * _MIB),
            Resource("usps.t.bz2", "8ea070ee2aca1ac39742fdd1ef5ed118", max_bytes=16 * _MIB),
        ),
        mirror_key="usps",
        homepage="https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass.html#usps",
    ),
    DatasetSpec(
        "pendigits", 10_992, 16, 10, "UCI pen-based digits, 8 (x,y) points, /100",
        folders=("pendigits",),
        layouts=(Layout("uci", {"train": ("pendigits.tra",), "test": ("pendigits.tes",)},
                        uci.read_pendigits_pair, delimited=True),),
        resources=(
            Resource("pendigits.tra", verify=partial(uci.verify_pendigits, n_rows=7_494), max_bytes=8 * _MIB),
            Resource("pendigits.tes", verify=partial(uci.verify_pendigits, n_rows=3_498), max_bytes=4 * _MIB),
        ),
        mirror_key="pendigits",
        homepage="https://archive.ics.uci.edu/dataset/81/pen+based+recognition+of+handwritten+digits",
    ),
    DatasetSpec(
        "har", 10_299, 561, 6, "UCI Human Activity Recognition (smartphones), 561 features",
        folders=("har", _HAR_DIR),
        layouts=(
            Layout("folder", {role: (f"{_HAR_DIR}/{rel}", rel) for role, rel in uci.HAR_ROLES.items()},
                   uci.read_har_folder, hint=f"the extracted '{_HAR_DIR}' folder"),
            Layout("zip", {"zip": (f"{_HAR_DIR}.zip", HAR_ZIP)}, uci.read_har_zip,
                   hint=f"'{_HAR_DIR}.zip' or UCI's '{HAR_ZIP}'"),
        ),
        resources=(Resource(HAR_ZIP, max_bytes=256 * _MIB,
                            verify=partial(uci.verify_har_zip, n_train=7_352, n_test=2_947, n_features=561)),),
        mirror_key="har",
        homepage="https://archive.ics.uci.edu/dataset/240/human+activity+recognition+using+smartphones",
    ),
    DatasetSpec(
        "digits", 1_797, 64, 10, "scikit-learn 8x8 digits (bundled), /16",
        builtin=uci.read_sklearn_digits,
    ),
)

#: Registry of the named datasets: name -> :class:`DatasetSpec`.
DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in _SPECS}


def get_spec(name: str) -> DatasetSpec:
    """The spec of dataset ``name``; DataError listing the known names otherwise."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        pass
    close = difflib.get_close_matches(str(name), list(DATASETS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise DataError(
        f"unknown dataset {name!r}{hint}; known: {', '.join(DATASETS)}; "
        "to cluster your own data (.npy, .npz, .csv, .tsv, .parquet) use `gpun2d run --input FILE` "
        "(in Python: gpun2d.datasets.load_file)"
    )


def n_classes(name: str) -> int:
    """Number of classes of dataset ``name``."""
    return get_spec(name).n_classes
