"""Options shared by several commands, each declared once as a decorator.

Defaults come from :mod:`gpun2d.defaults`; the stages' choices from
:mod:`gpun2d.registry`. ``GPUN2D_DEVICE`` and ``GPUN2D_RESULTS`` set the
default device and results folder of every command (the Docker image sets both).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import click
from click.core import ParameterSource

from .. import defaults, registry


def stack(*options):
    """One decorator applying ``options`` in the order listed (as they appear in ``--help``)."""

    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


class FiniteFloat(click.FloatRange):
    """A float range that also refuses nan and inf (click's own lets them through)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


PathDir = click.Path(file_okay=False, path_type=Path)
PathFile = click.Path(dir_okay=False, path_type=Path)

device = click.option(
    "--device", type=click.Choice(["auto", "cuda", "cpu"]), default=defaults.DEVICE, show_default=True,
    envvar=defaults.DEVICE_ENV, show_envvar=True,
    help="auto: the GPU when torch sees CUDA and cuML imports, else the CPU; cuda: fail if it cannot be used.")
datasets = click.option("--dataset", "-d", "datasets", metavar="NAME", multiple=True,
                        help="A known dataset (see `gpun2d datasets`); repeat for several: -d digits -d usps.")
data_dir = click.option("--data-dir", type=PathDir, help="Folder holding the datasets' files (searched first).")
no_download = click.option("--no-download", is_flag=True, help="Never download; fail if the files are not on disk.")
epochs = click.option("--epochs", type=click.IntRange(min=0), default=defaults.EPOCHS, show_default=True,
                      help="Autoencoder training epochs (paper: 1000).")
batch_size = click.option("--batch-size", type=click.IntRange(min=1), default=defaults.BATCH_SIZE, show_default=True,
                          help="Autoencoder mini-batch size (paper: 256).")
cluster = click.option("--cluster", type=click.Choice(registry.names("cluster")), default=defaults.CLUSTER,
                       show_default=True, help="Clusterer: gmm = full-covariance Gaussian mixture (paper), or kmeans.")
cluster_n_init = click.option(
    "--cluster-n-init", type=click.IntRange(min=1), default=defaults.CLUSTER_N_INIT, show_default=True,
    help="Clustering restarts, each from its own k-means seed; the best likelihood wins (1 = the paper's single init).")
embedder = click.option(
    "--embedder", type=click.Choice(registry.names("autoencoder")), default=defaults.EMBEDDER, show_default=True,
    help="Embedding learner: mlp = the paper's autoencoder d-500-500-2000-c; conv = a convolutional denoising "
         "autoencoder for square images.")
finetune_epochs = click.option(
    "--finetune-epochs", type=click.IntRange(min=0), default=defaults.FINETUNE_EPOCHS, show_default=True,
    help="After the first clustering, fine-tune the autoencoder this many epochs towards harder clusters (IDEC), "
         "then UMAP and cluster again (0 = the paper's pipeline).")
seed = click.option("--seed", "random_state", type=click.IntRange(min=0), default=defaults.SEED, show_default=True,
                    help="Seed of every stage.")
quiet = click.option("--quiet", "-q", is_flag=True, help="No progress display or summary table.")
results_root = click.option(
    "--results-root", type=PathDir, default=defaults.RESULTS_ROOT, show_default=True,
    envvar=defaults.RESULTS_ENV, show_envvar=True,
    help="Folder holding the default output folders (COMMAND-NAME-TIMESTAMP) when --out is not given.")
overwrite = click.option("--overwrite", is_flag=True,
                         help="Replace an earlier result in --out (without it, an existing result is never touched).")
trainer = stack(
    click.option("--compile", "compile", is_flag=True, help="torch.compile the training step."),
    click.option("--cuda-graphs", is_flag=True, help="Capture the training step in a CUDA graph (GPU only)."),
    click.option("--bf16", is_flag=True, help="bfloat16 autocast in training (faster; not the paper's setting)."),
)


def out(what: str):
    """``--out``: where the command writes ``what``."""
    return click.option("--out", "-o", type=PathDir,
                        help=f"Folder for {what} [default: RESULTS_ROOT/COMMAND-NAME-TIMESTAMP].")


def report_file(prefix: str):
    """``--out FILE``: the JSON report of a benchmark script (default under the results folder)."""
    return click.option("--out", "-o", type=PathFile,
                        help=f"JSON file to write [default: gpun2d-results/{prefix}-TIMESTAMP.json].")


def default_out(root: Path, command: str, name: str) -> Path:
    """The one default output folder scheme: ``ROOT/COMMAND-NAME-TIMESTAMP``.

    Fails, naming the results folder as the user gave it, when no folder can be made in ``root``.
    """
    check_results_root(root)
    safe = "".join(c if c.isalnum() or c in "._+-" else "_" for c in name)
    return Path(root) / f"{command}-{safe}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def check_results_root(root: Path) -> None:
    """A one-line error about ``root`` (not about ``--out``, which the user did not give) if it cannot be written."""
    from ..outputs import unwritable

    reason = unwritable(root)
    if reason is not None:
        raise click.ClickException(f"{given_root(root)} cannot be written ({reason}); choose another "
                                   "--results-root FOLDER, or give --out FOLDER")


def given_root(root: Path) -> str:
    """``root`` as the user chose it: ``--results-root DIR``, ``GPUN2D_RESULTS=DIR`` or the default."""
    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source("results_root") if ctx is not None else None
    if source is ParameterSource.ENVIRONMENT:
        return f"{defaults.RESULTS_ENV}={root}"
    if source is ParameterSource.DEFAULT:
        return f"the default results folder {root}"
    return f"--results-root {root}"


data = stack(
    click.option("--dataset", "-d", metavar="NAME", help="A known dataset (see `gpun2d datasets`)."),
    click.option("--input", "input_path", type=PathFile,
                 help="Your own data: .npy, .npz (X, y), .csv/.tsv or .parquet; with --scheduler, a quoted glob of "
                      ".parquet or .npy shards ('data/*.parquet')."),
    click.option("--labels", "labels_path", type=PathFile,
                 help="True labels for --input (one per sample), used only for scoring."),
    click.option("--label-column", help="Column of --input (csv/parquet) holding true labels."),
    click.option("--id-column", help="Column of --input (csv/parquet) identifying each row: kept out of the "
                                      "features and copied to clusters.csv (clusters/*.parquet with --scheduler)."),
    data_dir,
    no_download,
)

scale = stack(
    click.option("--scheduler", metavar="ADDRESS|local",
                 help="Run on Dask: fit on a sample of --input's shards ('data/*.parquet' or '*.npy', quoted), then "
                      "label every row on the workers, written as Parquet in OUT/clusters/. 'local' starts a "
                      "cluster on this machine (dask-cuda's on a GPU); an address joins a running scheduler. "
                      "--dataset, --labels, --visualize, --checkpoint-every and --resume do not go with it."),
    click.option("--fit-sample", type=click.IntRange(min=2), metavar="N",
                 help="Rows the model is fitted on with --scheduler, drawn uniformly from all shards with --seed; "
                      "at least --umap-neighbors + 1 [default: all rows up to 100,000, fewer if free memory is "
                      "short; results.json says which]."),
    click.option("--workers", type=click.IntRange(min=1), metavar="N",
                 help="Single-threaded worker processes of --scheduler local [default: one per core; on a GPU, "
                      "one per GPU]."),
)

model = stack(
    click.option("--n-clusters", "-k", type=click.IntRange(min=2),
                 help="Number of clusters [default: the dataset's class count, or the number of distinct labels "
                      "of --labels/--label-column; required without labels]."),
    embedder,
    click.option("--manifold", type=click.Choice(registry.names("manifold")), default=defaults.MANIFOLD,
                 show_default=True, help="Manifold learner: umap (paper; cuML on the GPU, umap-learn on the CPU)."),
    epochs,
    batch_size,
    click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=defaults.LR, show_default=True,
                 help="Adam learning rate."),
    click.option("--umap-neighbors", type=click.IntRange(min=2), default=defaults.UMAP_NEIGHBORS, show_default=True,
                 help="UMAP neighbourhood size: larger keeps more global structure."),
    click.option("--umap-min-dist", type=FiniteFloat(min=0), default=defaults.UMAP_MIN_DIST, show_default=True,
                 help="UMAP minimum distance: 0 packs each cluster tightly."),
    click.option("--umap-dim", type=click.IntRange(min=1), help="UMAP output dimension [default: n-clusters]."),
    click.option("--umap-init", type=click.Choice(["spectral", "random", "pca"]), default=defaults.UMAP_INIT,
                 show_default=True, help="UMAP starting layout (pca: the embedding's principal components)."),
    click.option("--umap-knn", type=click.Choice(["umap", "exact"]), default=defaults.UMAP_KNN, show_default=True,
                 help="k-NN graph: UMAP's own, or exact from cuML NearestNeighbors (GPU)."),
    cluster,
    cluster_n_init,
    finetune_epochs,
    device,
    click.option("--memory-pool", type=click.Choice(["torch", "rmm"]), default=defaults.MEMORY_POOL,
                 show_default=True,
                 help="GPU memory: torch's caching allocator beside an RMM pool for CuPy and cuML, or one RMM "
                      "pool shared by all three (needs the [gpu] extra)."),
    seed,
    click.option("--ae-weights", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                 help="Reuse a trained autoencoder (autoencoder.pt of an earlier run) instead of training."),
    trainer,
    click.option("--checkpoint-every", type=click.IntRange(min=0), default=0, show_default=True,
                 help="Save a training checkpoint every N epochs (in OUT.partial/)."),
    click.option("--resume", is_flag=True, help="Continue training from OUT.partial/checkpoint.pt."),
)
