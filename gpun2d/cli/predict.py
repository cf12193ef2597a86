"""``gpun2d predict``: label new rows with a model saved by ``gpun2d run`` (or ``N2D.save``)."""

from __future__ import annotations

from pathlib import Path

import click

from . import options
from .errors import Command


@click.command(cls=Command)
@click.option("--model", "-m", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A run's result folder (or a folder written by N2D.save): it holds model.json.")
@click.option("--input", "input_path", required=True, type=options.PathFile,
              help="The rows to label: .npy, .npz, .csv/.tsv or .parquet, with the model's features.")
@click.option("--id-column", help="Column of --input (csv/parquet) identifying each row; copied to clusters.csv.")
@click.option("--labels", "labels_path", type=options.PathFile, help="True labels of --input, used only for scoring.")
@click.option("--label-column", help="Column of --input holding true labels, used only for scoring.")
@options.device
@options.out("clusters.csv (id, cluster, probability) and predict.json")
@options.results_root
@options.overwrite
@options.quiet
def predict(out: Path | None, results_root: Path, quiet: bool, **settings) -> None:
    """Label new rows with a saved model: encoder, placement on the fitted UMAP layout, clusterer.

    A row's cluster depends on that row alone, so chunking or ordering the input
    changes nothing. A model fitted on a GPU predicts on a CPU-only machine.
    Examples:

    \b
      gpun2d predict --model gpun2d-results/run-digits-20261128-101500 --input new.csv
      gpun2d predict -m runs/fashion --input more.parquet --id-column sku --out runs/fashion-more
    """
    from ..predicting import PredictConfig, predict_file

    out = out or options.default_out(results_root, "predict", Path(settings["input_path"]).stem)
    summary = predict_file(PredictConfig(out=out, **settings))
    if not quiet and summary["metrics"]:
        metrics = summary["metrics"]
        click.echo(f"ACC {metrics['acc']:.4f}  NMI {metrics['nmi']:.4f}  ARI {metrics['ari']:.4f}")
    if not quiet:
        click.echo(f"{summary['n_samples']} rows labelled; cluster sizes {summary['sizes']}")
    click.echo(f"results in {out}/")
