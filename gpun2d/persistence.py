"""A fitted N2D on disk: one folder, a manifest and each stage's state, loadable on any device.

The folder holds ``model.json`` (format, versions, the estimator's parameters,
the data's shape, each stage's metadata and the SHA-256 of every file) and the
files the stages write (:class:`gpun2d.stages.Persistent`): ``autoencoder.pt``
(read with ``torch.load(weights_only=True)``), ``manifold.npz`` and
``cluster.npz`` (read with ``allow_pickle=False``). Nothing is unpickled, and
:func:`load_model` refuses a folder whose files do not match their checksums;
still, load only model folders you trust, as with any model file.

A model fitted on the GPU loads on a CPU-only machine and the other way round:
the state is plain arrays, and new points are placed by :mod:`gpun2d.placement`
on whichever device the model is loaded to.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import registry
from .devices import resolve_device
from .errors import ConfigError, DataError
from .handoff import to_numpy
from .report import now_iso, package_versions, write_json
from .stages import StageContext
from .version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from .estimator import N2D

log = logging.getLogger(__name__)

FORMAT = "gpun2d-model/1"
MANIFEST = "model.json"
MODEL_FILES = (MANIFEST, "autoencoder.pt", "manifold.npz", "cluster.npz")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _jsonable_params(model: N2D) -> dict:
    params = {}
    for name, value in model.get_params().items():
        if callable(value) or name == "client":  # hooks and a cluster connection are not part of a model
            continue
        params[name] = str(value) if isinstance(value, Path) or name == "device" else value
    params["hidden"] = list(params["hidden"])
    return params


def write_model(model: N2D, folder: str | Path) -> list[str]:
    """Write ``model``'s files and manifest into the existing ``folder``; returns the file names."""
    folder = Path(folder)
    stages, files = {}, {}
    for stage in registry.STAGES:
        part = model.fitted_stage(stage.key)
        meta = part.save_state(folder)
        stages[stage.key] = {"name": getattr(model, stage.param), **meta}
        for name in meta["files"]:
            files[name] = sha256(folder / name)
    names = getattr(model, "feature_names_in_", None)
    manifest = {
        "format": FORMAT,
        "gpun2d": __version__,
        "created": now_iso(),
        "versions": package_versions(),
        "params": _jsonable_params(model),
        "seed": int(model.seed_),
        "n_features_in": int(model.n_features_in_),
        "feature_names_in": None if names is None else [str(n) for n in names],
        "fitted_on": {"device": str(model.device_), "n_samples": int(model.embedding_tensor_.shape[0])},
        "stages": stages,
        "files": files,
    }
    write_json(manifest, folder / MANIFEST)
    return [MANIFEST, *files]


def read_manifest(folder: str | Path) -> dict:
    """The checked manifest of a model folder: right format, every file present and matching its checksum."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        older = (folder / "results.json").is_file()
        hint = " (a run folder from before models were saved; run it again)" if older else ""
        raise DataError(f"{folder} is not a gpun2d model folder: {MANIFEST} is missing{hint}")
    try:
        manifest = json.loads(path.read_text())
        fmt = manifest["format"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not a gpun2d model manifest ({type(exc).__name__}: {exc})") from None
    if fmt != FORMAT:
        raise DataError(f"{path} has format {fmt!r}; this gpun2d {__version__} reads {FORMAT!r}")
    check_structure(manifest, path)
    for name, digest in manifest["files"].items():
        file = folder / name
        if Path(name).name != name or not file.is_file():
            raise DataError(f"{folder} lacks {name}, which {MANIFEST} lists; the model folder is incomplete")
        if sha256(file) != digest:
            raise DataError(f"{file} does not match its checksum in {MANIFEST}: the model folder was changed or "
                            "damaged; load only model folders you trust")
    return manifest


def check_structure(manifest: dict, path: Path) -> None:
    """The manifest's fields have the types load_model reads, and every file a stage reads is checksummed."""
    def bad(what: str) -> DataError:
        return DataError(f"{path} is not a valid gpun2d model manifest: {what}")

    expected = {"files": dict, "params": dict, "stages": dict, "fitted_on": dict, "seed": int, "n_features_in": int}
    for key, kind in expected.items():
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise bad(f"'{key}' must be a {kind.__name__}")
    if not all(isinstance(v, str) for v in manifest["files"].values()):
        raise bad("'files' must map file names to SHA-256 digests")
    listed = set(manifest["files"])
    for stage in registry.STAGES:
        meta = manifest["stages"].get(stage.key)
        if not (isinstance(meta, dict) and isinstance(meta.get("name"), str) and isinstance(meta.get("files"), list)):
            raise bad(f"stage '{stage.key}' lacks its name or files")
        unlisted = [name for name in meta["files"] if name not in listed]
        if unlisted or not meta["files"]:
            raise bad(f"stage '{stage.key}' reads {', '.join(map(str, unlisted)) or 'no file'} without a checksum")
    n_features, n_clusters = manifest["n_features_in"], manifest["params"].get("n_clusters")
    if not (1 <= n_features <= 10**7) or not isinstance(n_clusters, int) or not 1 <= n_clusters <= 10**5:
        raise bad("n_features_in or params.n_clusters is out of range")
    names = manifest.get("feature_names_in")
    if names is not None and (not isinstance(names, list) or len(names) != n_features):
        raise bad("feature_names_in must list one name per feature")


def check_params(model: N2D, path: Path) -> None:
    """The manifest's parameters follow N2D's own rules: an edited ``umap_neighbors=-5`` fails here, not later."""
    try:
        model.check_params()
    except ConfigError as exc:
        raise DataError(f"{path} is not a valid gpun2d model manifest: its params break N2D's rules ({exc})") from None


def load_model(folder: str | Path, device, estimator: type[N2D]) -> N2D:
    """The fitted ``estimator`` (:class:`~gpun2d.N2D`) saved in ``folder``, on ``device`` (auto, cpu or cuda).

    A folder whose files pass their checksums but do not fit together (shapes,
    values) is refused with a DataError, like any damaged model.
    """
    from .errors import GPUN2DError

    try:
        return _load_model(folder, device, estimator)
    except GPUN2DError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError, OverflowError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DataError(f"{folder} holds a model whose parts do not fit together ({type(exc).__name__}: "
                        f"{reason[:200]}); it was changed or damaged") from None


def _load_model(folder: str | Path, device, estimator: type[N2D]) -> N2D:
    manifest = read_manifest(folder)
    folder = Path(folder)
    params = {k: v for k, v in manifest["params"].items() if k in estimator._get_param_names()}
    params["hidden"] = tuple(params["hidden"])
    model = estimator.from_config(params, device=device)
    check_params(model, folder / MANIFEST)
    model.device_ = resolve_device(device)
    model.seed_ = int(manifest["seed"])
    model.n_features_in_ = int(manifest["n_features_in"])
    if manifest.get("feature_names_in") is not None:
        model.feature_names_in_ = np.asarray(manifest["feature_names_in"], dtype=object)
    ctx = StageContext(model.get_params(), model.n_clusters, model.device_, model.seed_)
    model.backends_ = {}
    for stage in registry.STAGES:
        meta = manifest["stages"][stage.key]
        part = registry.lookup(stage.key, meta["name"], model.device_.type.value)
        setattr(model, stage.attribute, part.build(ctx).load_state(folder, meta, model.device_.torch))
        model.backends_[stage.key] = part.backend
    model.history_, model.timings_ = [], {}
    check_consistent(model, Path(folder))
    embedding = model.manifold_.embedding_
    model.embedding_tensor_ = embedding
    model.labels_tensor_ = model.cluster_model_.predict(embedding)
    model.embedding_, model.labels_ = to_numpy(embedding), to_numpy(model.labels_tensor_)
    log.info("loaded a model fitted on %s from %s onto %s", manifest["fitted_on"]["device"], folder, model.device_)
    return model


def check_consistent(model: N2D, folder: Path) -> None:
    """The restored stages fit each other: widths, row counts, cluster count, finite values."""
    import torch

    manifold, cluster = model.manifold_, model.cluster_model_
    latent = model.embedder_.module_.n_latent
    problems = []
    if model.embedder_.module_.n_features != model.n_features_in_:
        problems.append("the autoencoder's input width differs from n_features_in")
    if manifold.train_input_.shape[1] != latent or manifold.train_input_.shape[0] != manifold.embedding_.shape[0]:
        problems.append("manifold.npz does not match the autoencoder's bottleneck or its own rows")
    tensors = [manifold.train_input_, manifold.embedding_] + [getattr(cluster, n) for n in cluster._state]
    if not all(t.is_floating_point() and bool(torch.isfinite(t).all()) for t in tensors):
        problems.append("a saved array is not finite floating point")
    centres = getattr(cluster, "means_", getattr(cluster, "cluster_centers_", None))
    if centres is None or centres.ndim != 2 or centres.shape != (model.n_clusters, manifold.embedding_.shape[1]):
        problems.append("cluster.npz does not match n_clusters and the layout's dimension")
    if problems:
        raise DataError(f"{folder} holds a model whose parts do not fit together: {'; '.join(problems)}")
