"""``gpun2d run --scheduler``: fit on a sample on one device, label every row on the Dask workers.

The result folder is reserved before any work and published whole, as for a
single-process run: ``results.json``, the fitted model and ``clusters/``,
partitioned Parquet written by the workers (one file per input partition:
the id or row number, the cluster, its probability and the true label when
known). The rows written are counted from the files and must equal the rows
read, or nothing is published.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets.tables import encode_labels
from ..devices import resolve_device
from ..errors import ConfigError, DataError
from ..estimator import N2D
from ..memory import apply_memory_pool
from ..metrics import evaluate, evaluate_table
from ..outputs import ResultFolder
from ..persistence import MODEL_FILES, write_model
from ..report import command_line, now_iso, package_versions, write_json
from ..version import __version__
from . import client as clients
from .apply import label_frame
from .sample import choose_rows, fit_sample_size, gather_rows, partition_lengths
from .shards import PARQUET, Shards, expand, first_unreadable, read_shards

log = logging.getLogger(__name__)

CLUSTERS = "clusters"
SCALE_FILES = ("results.json", CLUSTERS, *MODEL_FILES)


@dataclass
class ScaleConfig:
    """A scaled run: the shards, the cluster to run on, the fit sample, and N2D's parameters (``model``)."""

    input_path: str
    out: Path
    scheduler: str = clients.LOCAL
    workers: int | None = None
    fit_sample: int | None = None
    id_column: str | None = None
    label_column: str | None = None
    n_clusters: int | None = None
    model: dict = field(default_factory=dict)
    memory_pool: str = "torch"
    overwrite: bool = False

    @property
    def device(self) -> str:
        return self.model.get("device", "auto")


def run_scaled(config: ScaleConfig, on_epoch: Callable | None = None, on_stage: Callable[[str], None] | None = None,
               on_step: Callable | None = None) -> dict:
    """Run ``config`` and write its result folder; returns ``results.json``'s content."""
    timings: dict[str, float] = {}

    def stage(name: str) -> None:
        timings[name] = time.perf_counter()
        if on_stage:
            on_stage(name)

    files = expand(config.input_path)  # a pattern matching nothing fails before a cluster is started
    _check_fit_sample(config)
    with ResultFolder(config.out, SCALE_FILES, overwrite=config.overwrite) as target, _unreadable_file_named(files):
        apply_memory_pool(config.memory_pool, config.device, bool(config.model.get("cuda_graphs")))
        device = resolve_device(config.device)
        stage("connect")
        with clients.connect(config.scheduler, device, config.workers) as client:
            stage("read")
            shards = read_shards(config.input_path, id_column=config.id_column, label_column=config.label_column,
                                 engine="cudf" if device.is_cuda else "pandas")
            lengths = shards.lengths if shards.lengths is not None else partition_lengths(shards.frame, client)
            n_rows = int(lengths.sum())
            if n_rows == 0:
                raise DataError(f"the {len(shards.files)} shard(s) of input_path={config.input_path!r} hold no rows")
            stage("sample")
            size, reason = _fit_sample_size(config, n_rows, len(shards.features), device)
            seed = int(config.model.get("random_state") or 0)
            sample = gather_rows(shards.frame, choose_rows(lengths, size, seed), client)
            X = sample[shards.features] if shards.named else sample[shards.features].to_numpy(np.float32)
            # rows without a label are fitted on, and left out of the sample's scores (as of the data's)
            labelled = y = None
            if shards.label_column:
                labels = sample[shards.label_column]
                labelled = labels.notna().to_numpy()
                y = encode_labels(labels[labelled].to_numpy(), f"label_column={shards.label_column!r}")
            n_clusters = config.n_clusters or _count_classes(shards, client)
            fit_start = time.perf_counter()
            model = N2D.from_config(config.model, n_clusters=n_clusters, on_epoch=on_epoch, on_stage=on_stage,
                                    on_step=on_step)
            try:
                model.fit(X)
            except DataError as exc:  # its rows are counted within the sample
                raise DataError(f"the fit sample of {size} rows (fit_sample): {exc}") from None
            timings["fit"] = fit_start
            with target.staging() as folder:
                write_model(model, folder)
                stage("apply")
                labels = label_frame(shards, model, lengths, client)
                clients.compute(client, labels.to_parquet(str(folder / CLUSTERS), write_index=False, compute=False))
                stage("verify")
                written = count_rows(folder / CLUSTERS)
                if written != n_rows:
                    raise DataError(f"{written} rows were written for the {n_rows} rows read; nothing is published")
                if shards.id_column is not None:
                    _warn_repeated_ids(folder / CLUSTERS, shards.id_column, n_rows, client)
                scores = _score(folder / CLUSTERS, client) if shards.label_column else None
                if scores and scores["scored_rows"] < n_rows:
                    log.warning("%d of the %d rows have no label in label_column=%r: the scores are over the %d "
                                "that do", n_rows - scores["scored_rows"], n_rows, shards.label_column,
                                scores["scored_rows"])
                stage("write")
                results = _results(config, shards, lengths, model, scores, y, labelled, size, reason,
                                   clients.describe(client), _durations(timings))
                results["rows"] = {"read": n_rows, "written": written}
                write_json(results, folder / "results.json")
    return results


@contextmanager
def _unreadable_file_named(files: list[Path]) -> Iterator[None]:
    """A Parquet partition a worker could not read is reported with its file's name, when one is found."""
    try:
        yield
    except clients.PartitionError:
        found = first_unreadable(files) if files[0].suffix.lower() in PARQUET else None
        if found is None:
            raise
        path, reason = found
        raise DataError(f"{path} is not a readable Parquet file: a page cannot be read ({reason})") from None


def _check_fit_sample(config: ScaleConfig) -> None:
    """A fit sample too small for the model fails before the rows are counted or a cluster is started."""
    N2D.from_config(config.model, n_clusters=config.n_clusters or 2).check_fit_sample(config.fit_sample)


def _fit_sample_size(config: ScaleConfig, n_rows: int, n_features: int, device) -> tuple[int, str]:
    return fit_sample_size(config.fit_sample, n_rows, n_features, device)


def _count_classes(shards: Shards, client) -> int:
    if shards.label_column is None:
        raise ConfigError("data without labels needs n_clusters=K, the number of clusters to find")
    # one tree reduction (split_out=1): a shuffle would fill the log with Dask's shuffle warnings
    (count,) = clients.compute(client, shards.frame[shards.label_column].nunique(split_out=1))
    if count < 2:
        raise ConfigError(f"label_column={shards.label_column!r} holds {int(count)} distinct value(s): there is "
                          "nothing to score; give n_clusters=K")
    return int(count)


def count_rows(folder: Path) -> int:
    """Rows in the Parquet files of ``folder``, from their footers."""
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(path).num_rows for path in sorted(folder.glob("*.parquet")))


REPEATED_IDS_SHARE = 0.95
"""Below this share of distinct ids the ids are said to repeat (Dask's HyperLogLog estimate has a standard
error of about 0.4%, so unique ids are never mistaken for repeated ones)."""


def _warn_repeated_ids(folder: Path, id_column: str, n_rows: int, client) -> None:
    """Warn when the id column repeats values, so the labels could not be joined back to single rows."""
    import dask.dataframe as dd

    (distinct,) = clients.compute(client, dd.read_parquet(str(folder), columns=[id_column])[id_column]
                                  .nunique_approx())
    if distinct < REPEATED_IDS_SHARE * n_rows:
        log.warning("id_column=%r holds about %d distinct values for %d rows: its ids repeat, so the labels in "
                    "%s cannot all be joined back to single rows", id_column, distinct, n_rows, folder.name)


def _score(folder: Path, client) -> dict[str, float]:
    """ACC, NMI and ARI of every written row with a label (``scored_rows`` of them), from a contingency
    table counted by the workers; rows whose label is missing are left out and counted."""
    import dask.dataframe as dd

    written = dd.read_parquet(str(folder), columns=["label", "cluster"])
    # missing labels drop out; one tree reduction (split_out=1), as the table is small: a shuffle would
    # fill the log with Dask's shuffle warnings
    (counts,) = clients.compute(client, written.groupby(["label", "cluster"]).size(split_out=1))
    table = counts.unstack(fill_value=0).to_numpy()
    return {**evaluate_table(table), "scored_rows": int(table.sum())}


def _durations(marks: dict[str, float]) -> dict[str, float]:
    """Seconds per stage from the times each began (a stage ends when the next begins)."""
    now = time.perf_counter()
    names = sorted(marks, key=marks.get)
    ends = [marks[n] for n in names[1:]] + [now]
    return {name: end - marks[name] for name, end in zip(names, ends, strict=True)}


def _results(config: ScaleConfig, shards: Shards, lengths: np.ndarray, model: N2D, scores: dict | None,
             y_sample: np.ndarray | None, labelled: np.ndarray | None, size: int, reason: str, scheduler: dict,
             timings: dict) -> dict:
    params = {k: v for k, v in model.get_params().items() if not callable(v) and k not in ("client", "fit_sample")}
    sample_scores = None
    if y_sample is not None and y_sample.size:
        sample_scores = evaluate(y_sample, np.asarray(model.labels_)[labelled]) | {"scored_rows": int(y_sample.size)}
    return {
        "gpun2d": __version__,
        "created": now_iso(),
        "command": command_line(),
        "data": {"source": "shards", "input": str(config.input_path), "files": len(shards.files),
                 "partitions": int(lengths.size), "n_samples": int(lengths.sum()),
                 "n_features": len(shards.features), "has_labels": shards.label_column is not None},
        "config": {**params, "scheduler": config.scheduler, "workers": config.workers,
                   "fit_sample": config.fit_sample, "id_column": config.id_column,
                   "label_column": config.label_column, "out": str(config.out)},
        "fit_sample": {"rows": size, "chosen_by": reason, "metrics": sample_scores},
        "scheduler": scheduler,
        "metrics": scores,
        **(scores or {}),
        "timings": {**timings, **{f"fit: {k}": v for k, v in model.timings_.items()}},
        "device": {"requested": config.device, "resolved": str(model.device_), "name": model.device_.describe()},
        "versions": package_versions(),
        "files": ["results.json", CLUSTERS, *MODEL_FILES],
    }
