#!/usr/bin/env python3
"""How well a saved model labels rows it never saw, and whether a row's label depends on its batch.

One model is fitted on all rows (``fit_predict``), another on the rows less a
held-back share; the second then predicts the held-back rows, together and one
by one. Reported: ACC/NMI of each labelling against the truth, the agreement
between the held-back rows' predicted labels and their ``fit_predict`` labels
(Hungarian-matched accuracy and ARI, no truth needed), the one-by-one
agreement, and predict's speed.

  python benchmarks/predict_holdout.py --dataset mnist-test --epochs 100 --data-dir ../shared/data/mnist
  python benchmarks/predict_holdout.py --dataset digits --epochs 20 --device cpu
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np
from sklearn.metrics import adjusted_rand_score

import gpun2d  # noqa: F401  (switches SciPy's array API on before SciPy loads)
from gpun2d import N2D, datasets
from gpun2d.benchmarking import machine_info
from gpun2d.benchmarking.timing import print_context, save_report
from gpun2d.cli import options
from gpun2d.cli.errors import Command, run_script
from gpun2d.devices import resolve_device
from gpun2d.metrics import cluster_acc, evaluate
from gpun2d.report import command_line, now_iso
from gpun2d.version import __version__


def run(settings: dict) -> dict:
    device = resolve_device(settings["device"])
    X, y = datasets.load(settings["dataset"], data_dir=settings["data_dir"], download=not settings["no_download"])
    rng = np.random.default_rng(settings["random_state"])
    order = rng.permutation(X.shape[0])
    n_held = int(round(settings["holdout"] * X.shape[0]))
    held, kept = np.sort(order[:n_held]), np.sort(order[n_held:])
    model_params = {k: settings[k] for k in ("epochs", "batch_size", "cluster_n_init", "random_state")}
    n_clusters = datasets.n_classes(settings["dataset"])

    start = time.perf_counter()
    full = N2D.from_config(model_params, n_clusters=n_clusters, device=device).fit(X)
    full_seconds = time.perf_counter() - start
    start = time.perf_counter()
    part = N2D.from_config(model_params, n_clusters=n_clusters, device=device).fit(X[kept])
    part_seconds = time.perf_counter() - start

    start = time.perf_counter()
    predicted = part.predict(X[held])
    predict_seconds = time.perf_counter() - start
    one_rows = min(settings["one_by_one"], n_held)
    one = np.concatenate([part.predict(X[held[i : i + 1]]) for i in range(one_rows)])
    reference = full.labels_[held]
    return {
        "gpun2d": __version__, "created": now_iso(), "command": command_line(), "machine": machine_info(device),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in settings.items()},
        "data": {"dataset": settings["dataset"], "n_samples": int(X.shape[0]), "n_features": int(X.shape[1]),
                 "n_held_back": int(n_held)},
        "fit_predict_all": {**evaluate(y, full.labels_), "seconds": full_seconds},
        "fit_predict_kept": {**evaluate(y[kept], part.labels_), "seconds": part_seconds},
        "predict_held_back": {**evaluate(y[held], predicted), "seconds": predict_seconds,
                              "rows_per_second": n_held / predict_seconds if predict_seconds > 0 else None},
        "held_back_vs_fit_predict": {"matched_accuracy": cluster_acc(reference, predicted),
                                     "ari": float(adjusted_rand_score(reference, predicted))},
        "one_by_one": {"rows": int(one_rows), "agreement": float(np.mean(one == predicted[:one_rows]))},
        "notes": ["matched_accuracy: the held-back rows' predicted clusters against their fit_predict clusters "
                  "(the model fitted on all rows), clusters matched by the Hungarian method; no labels used."],
    }


def print_report(result: dict) -> None:
    print_context(result)
    data = result["data"]
    print(f"data: {data['dataset']} {data['n_samples']:,} x {data['n_features']}, "
          f"{data['n_held_back']:,} rows held back")
    for key in ("fit_predict_all", "fit_predict_kept", "predict_held_back"):
        row = result[key]
        print(f"{key:<20} ACC {row['acc']:.4f}  NMI {row['nmi']:.4f}  ARI {row['ari']:.4f}  {row['seconds']:.1f} s")
    agreement = result["held_back_vs_fit_predict"]
    print(f"held back vs fit_predict: matched accuracy {agreement['matched_accuracy']:.4f}, "
          f"ARI {agreement['ari']:.4f}")
    print(f"one by one vs together: {result['one_by_one']['agreement']:.4f} on {result['one_by_one']['rows']} rows")


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--dataset", "-d", metavar="NAME", default="mnist-test", show_default=True,
              help="A dataset with labels (see `gpun2d datasets`).")
@click.option("--holdout", type=click.FloatRange(0.01, 0.5), default=0.2, show_default=True,
              help="Share of the rows held back from the second model and predicted.")
@click.option("--one-by-one", type=click.IntRange(min=1), default=500, show_default=True,
              help="Held-back rows also predicted one at a time, to compare with the batch.")
@options.epochs
@options.batch_size
@options.cluster_n_init
@options.device
@options.data_dir
@options.no_download
@options.seed
@options.report_file("predict")
def command(out: Path | None, **settings) -> int:
    """How well a model labels rows it never saw, and whether a row's label depends on its batch."""
    result = run(settings)
    print_report(result)
    save_report(result, out, "predict")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the script on ``argv`` (default: the command line); returns the exit status."""
    return run_script(command, argv, Path(__file__).name)


if __name__ == "__main__":
    sys.exit(main())
