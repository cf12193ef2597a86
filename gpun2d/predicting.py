"""One ``gpun2d predict``: a saved model labels new rows, and the result folder is written.

Each row's cluster depends on that row alone (:mod:`gpun2d.placement`), so
predicting in chunks, one by one or all together gives the same labels.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import datasets
from .errors import ConfigError
from .estimator import N2D
from .handoff import to_numpy
from .metrics import evaluate
from .outputs import ResultFolder
from .report import command_line, now_iso, package_versions, write_clusters_csv, write_json
from .version import __version__

log = logging.getLogger(__name__)

PREDICT_FILES = ("predict.json", "clusters.csv")


@dataclass
class PredictConfig:
    """What ``gpun2d predict`` was asked: the model folder, the rows, where the result goes."""

    model: Path
    input_path: Path
    out: Path
    labels_path: Path | None = None
    label_column: str | None = None
    id_column: str | None = None
    device: str = "auto"
    overwrite: bool = False


def match_columns(X: np.ndarray, config: PredictConfig, model: N2D):
    """``X`` with the columns the model was fitted on, in its order (named tables are reordered by name)."""
    fitted = getattr(model, "feature_names_in_", None)
    names = datasets.feature_columns(config.input_path, config.label_column, config.id_column)
    if fitted is not None and names is not None and len(names) == X.shape[1]:
        fitted = [str(n) for n in fitted]
        missing, extra = [n for n in fitted if n not in names], [n for n in names if n not in fitted]
        if missing or extra:
            parts = [f"missing {', '.join(missing[:5])}"] if missing else []
            parts += [f"not in the model {', '.join(extra[:5])}"] if extra else []
            raise ConfigError(f"{config.input_path} has other columns than the model was fitted on: "
                              f"{'; '.join(parts)} (give the label and id columns as label_column and id_column)")
        X = X[:, [names.index(n) for n in fitted]]  # same names, perhaps another order
        return pd.DataFrame(X, columns=fitted, copy=False)
    if X.shape[1] != model.n_features_in_:
        raise ConfigError(f"{config.input_path} has {X.shape[1]} features but the model was fitted on "
                          f"{model.n_features_in_}; give the same columns it was fitted on")
    if fitted is not None:
        log.warning("%s has no column names to check against the model's; its columns are taken in the "
                    "model's order", config.input_path)
        return pd.DataFrame(X, columns=list(fitted), copy=False)
    return X


def predict_file(config: PredictConfig, on_stage=None) -> dict:
    """Label every row of ``config.input_path`` with the saved model; returns ``predict.json``'s content."""
    if on_stage:
        on_stage("load")
    start = time.perf_counter()
    model = N2D.load(config.model, device=config.device)  # a bad model folder fails before anything else
    with ResultFolder(config.out, PREDICT_FILES, overwrite=config.overwrite) as target:
        engine = "cudf" if model.device_.torch.type == "cuda" else "pandas"
        X, y, ids = datasets.load_file_with_ids(config.input_path, labels=config.labels_path,
                                                label_column=config.label_column, engine=engine,
                                                id_column=config.id_column)
        X = match_columns(X, config, model)
        load_seconds = time.perf_counter() - start
        if on_stage:
            on_stage("predict")
        start = time.perf_counter()
        coordinates = model.transform(X)
        labels = to_numpy(model.cluster_model_.predict(coordinates))
        probability = None
        if hasattr(model.cluster_model_, "predict_proba"):
            probability = to_numpy(model.cluster_model_.predict_proba(coordinates)).max(axis=1)
        predict_seconds = time.perf_counter() - start
        summary = {
            "gpun2d": __version__,
            "created": now_iso(),
            "command": command_line(),
            "model": str(config.model),
            "input": str(config.input_path),
            "n_samples": int(X.shape[0]),
            "device": {"requested": config.device, "resolved": str(model.device_), "name": model.device_.describe()},
            "sizes": np.bincount(labels, minlength=model.n_clusters).tolist(),
            "metrics": evaluate(y, labels) if y is not None else None,
            "timings": {"load": load_seconds, "predict": predict_seconds},
            "versions": package_versions(),
            "files": list(PREDICT_FILES),
        }
        if on_stage:
            on_stage("write")
        with target.staging() as folder:
            write_clusters_csv(labels, folder / "clusters.csv", y, ids=ids, probability=probability,
                               id_name=config.id_column or "id")
            write_json(summary, folder / "predict.json")
    return summary
