"""``gpun2d`` command line: a thin skin over :class:`gpun2d.N2D` and the datasets."""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from pathlib import Path

import click

from . import __version__, defaults
from .errors import GPUN2DError

log = logging.getLogger("gpun2d")


def fail_cleanly(func):
    """Turn gpun2d's own errors into ``Error: ...`` and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except GPUN2DError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


def data_options(func):
    """Where data comes from: a named dataset or the user's own file."""
    options = [
        click.option("--dataset", "-d", metavar="NAME", help="A known dataset (see `gpun2d datasets`)."),
        click.option("--input", "input_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="Your own data: .npy, .npz (X, y), .csv/.tsv or .parquet."),
        click.option("--labels", "labels_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="True labels for --input (one per sample), used only for scoring."),
        click.option("--label-column", help="Column of --input (csv/parquet) holding true labels."),
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Folder holding the dataset's files (searched first)."),
        click.option("--no-download", is_flag=True, help="Never download; fail if the files are not on disk."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def model_options(func):
    """Every N2D parameter, with the paper's defaults."""
    options = [
        click.option("--n-clusters", "-k", type=click.IntRange(min=2),
                     help="Number of clusters [default: the dataset's class count]."),
        click.option("--epochs", type=click.IntRange(min=0), default=defaults.EPOCHS, show_default=True,
                     help="Autoencoder training epochs (paper: 1000)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=defaults.BATCH_SIZE, show_default=True),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True,
                     help="Adam learning rate."),
        click.option("--umap-neighbors", type=click.IntRange(min=2), default=20, show_default=True,
                     help="UMAP neighbourhood size: larger keeps more global structure."),
        click.option("--umap-min-dist", type=click.FloatRange(min=0), default=0.0, show_default=True,
                     help="UMAP minimum distance: 0 packs each cluster tightly."),
        click.option("--umap-dim", type=click.IntRange(min=1), help="UMAP output dimension [default: n-clusters]."),
        click.option("--umap-init", type=click.Choice(["spectral", "random", "pca"]), default="spectral",
                     show_default=True, help="UMAP starting layout (pca: the embedding's principal components)."),
        click.option("--umap-knn", type=click.Choice(["umap", "exact"]), default="umap", show_default=True,
                     help="k-NN graph: UMAP's own, or exact from cuML NearestNeighbors (GPU)."),
        click.option("--cluster", type=click.Choice(["gmm", "kmeans"]), default="gmm", show_default=True,
                     help="Gaussian mixture (full covariance, paper) or k-means."),
        click.option("--cluster-n-init", type=click.IntRange(min=1), default=defaults.CLUSTER_N_INIT, show_default=True,
                     help="Clustering restarts; the best likelihood wins (1 = the paper's single init)."),
        click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True,
                     help="auto: the GPU when torch sees CUDA and cuML imports."),
        click.option("--memory-pool", type=click.Choice(["torch", "rmm"]), default="torch", show_default=True,
                     help="GPU memory: each library's own allocator, or one RMM pool shared by torch, CuPy and "
                          "cuML (needs the [gpu] extra)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed for every stage."),
        click.option("--ae-weights", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                     help="Reuse a trained autoencoder (autoencoder.pt of an earlier run) instead of training."),
        click.option("--compile", "compile_", is_flag=True, help="torch.compile the training step."),
        click.option("--cuda-graphs", is_flag=True, help="Capture the training step in a CUDA graph (GPU only)."),
        click.option("--bf16", is_flag=True, help="bfloat16 autocast in training (faster; not the paper's setting)."),
        click.option("--checkpoint-every", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Save a training checkpoint every N epochs (in OUT.partial/)."),
        click.option("--resume", is_flag=True, help="Continue training from OUT.partial/checkpoint.pt."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="gpun2d")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """gpun2d: N2D clustering (autoencoder -> UMAP -> Gaussian mixture), GPU-native.

    Start with `gpun2d run --dataset digits --epochs 20 --device cpu`, or
    `gpun2d run --input data.csv` for your own table.
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@data_options
@model_options
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for results.json, clusters.csv, embedding.npy, autoencoder.pt "
                   "[default: gpun2d-runs/NAME-TIMESTAMP].")
@click.option("--visualize", is_flag=True, help="Also write embedding.png (2-D UMAP, coloured by cluster and label).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary table.")
@fail_cleanly
def run(**kwargs) -> None:
    """Cluster a dataset or your own file with N2D and save the results.

    Scores (ACC, NMI, ARI) are reported when true labels are known. Examples:

    \b
      gpun2d run --dataset mnist-test --epochs 100 --device cpu
      gpun2d run --input features.csv --label-column class --out runs/mine
      gpun2d run --dataset fashion --ae-weights runs/fashion/autoencoder.pt
    """
    from .progress import RunProgress
    from .runner import RunConfig, run_pipeline

    config = RunConfig.from_cli(kwargs)
    if config.out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        config.out = Path("gpun2d-runs") / f"{config.source_name}-{stamp}"
    with RunProgress(config.epochs, quiet=config.quiet) as progress:
        results = run_pipeline(config, on_epoch=progress.on_epoch, on_stage=progress.on_stage)
    if not config.quiet:
        print_summary(results, config.out)


def print_summary(results: dict, out: Path) -> None:
    """A table of scores and stage timings, then where the files are."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"N2D on {results['data']['name']} ({results['device']['name']})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("acc", "nmi", "ari"):
        if results["metrics"]:
            table.add_row(key.upper(), f"{results['metrics'][key]:.4f}")
    for stage, seconds in results["timings"].items():
        table.add_row(f"time: {stage}", f"{seconds:.1f} s")
    cluster = results["cluster"]
    table.add_row("clusters (sizes)", ", ".join(map(str, cluster["sizes"])))
    table.add_row("restarts", f"{cluster['n_init']} (best: #{cluster['best_restart']})")
    console = Console()
    console.print(table)
    console.print(f"results in {out}/")


@cli.group(invoke_without_command=True)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Extra folder to search first.")
@click.pass_context
@fail_cleanly
def datasets(ctx: click.Context, data_dir: Path | None) -> None:
    """List the known datasets, whether their files were found, and where gpun2d looked."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from . import datasets as ds

    table = Table(title="gpun2d datasets", show_lines=True)
    for column in ("name", "samples x features", "classes", "found"):
        table.add_column(column, no_wrap=True)
    table.add_column("where (found) / folders searched", overflow="fold")
    for row in ds.status(data_dir):
        where = str(row["path"]) if row["found"] else "\n".join(map(str, row["searched"]))
        table.add_row(row["name"], f"{row['n_samples']:,} x {row['n_features']}", str(row["n_classes"]),
                      "yes" if row["found"] else "no", where)
    Console().print(table)
    click.echo("Missing files are downloaded on first use, or now with `gpun2d datasets fetch NAME`.")


@datasets.command("fetch")
@click.argument("names", nargs=-1, required=True)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Download into this folder instead of the cache.")
@fail_cleanly
def datasets_fetch(names: tuple[str, ...], data_dir: Path | None) -> None:
    """Download and verify datasets into the cache (~/.cache/gpun2d, or $GPUN2D_CACHE)."""
    from . import datasets as ds

    for name in names:
        path = ds.fetch(name, data_dir=data_dir, progress=True)
        click.echo(f"{name}: ready in {path}")


from .study import study  # noqa: E402

cli.add_command(study)


from .bench import bench  # noqa: E402

cli.add_command(bench)


def main() -> None:
    cli(prog_name="gpun2d")


if __name__ == "__main__":
    main()
