"""``gpun2d run``: cluster one dataset or file and write its result folder."""

from __future__ import annotations

from pathlib import Path

import click

from . import options
from .errors import Command


@click.command(cls=Command, context_settings={"allow_extra_args": True})
@options.data
@options.scale
@options.model
@options.out("results.json, clusters.csv and embedding.npy (with --scheduler: clusters/*.parquet) and the "
             "fitted model (model.json, autoencoder.pt, ...)")
@options.results_root
@options.overwrite
@click.option("--visualize", is_flag=True,
              help="Also write embedding.png (2-D UMAP: clusters in their matched classes' colours beside the "
                   "true labels), loss.png and, with labels, confusion.png.")
@options.quiet
def run(out: Path | None, results_root: Path, quiet: bool, visualize: bool, **settings) -> None:
    """Cluster a dataset or your own file with N2D and save the results.

    Scores (ACC, NMI, ARI) are reported when true labels are known. Examples:

    \b
      gpun2d run --dataset mnist-test --epochs 100 --device cpu
      gpun2d run --input features.csv --label-column class --out runs/mine
      gpun2d run --dataset fashion --ae-weights runs/fashion/autoencoder.pt
      gpun2d run --input 'shards/*.parquet' --id-column id --label-column label --scheduler local
    """
    from ..progress import RunProgress

    extra = click.get_current_context().args
    if extra:
        hint = (" (--input takes one path: quote a pattern of shards, --input 'shards/*.parquet', so that the "
                "shell does not expand it)" if settings["input_path"] is not None else "")
        raise click.UsageError(f"Got unexpected extra argument{'s' * (len(extra) > 1)} "
                               f"({' '.join(extra[:3])}{' …' * (len(extra) > 3)}){hint}")
    if (settings["dataset"] is None) == (settings["input_path"] is None):
        raise click.UsageError("give exactly one of --dataset NAME or --input FILE")
    if out is None and settings["resume"] and settings["scheduler"] is None:  # a new default folder holds nothing
        raise click.UsageError("--resume needs --out: the folder of the run to continue")
    name = settings["dataset"] or Path(settings["input_path"]).stem
    out = out or options.default_out(results_root, "run", name.replace("*", "all"))
    scale = {key: settings.pop(key) for key in ("scheduler", "fit_sample", "workers")}
    if scale["scheduler"] is not None:
        config = scaled_config(settings, scale, out, visualize)
        from ..scale.job import run_scaled

        with RunProgress(config.model["epochs"], quiet=quiet) as progress:
            results = run_scaled(config, on_epoch=progress.on_epoch, on_stage=progress.on_stage,
                                 on_step=progress.on_step)
        scores = results["metrics"]
        if scores and not quiet:
            over = ("every row" if scores["scored_rows"] == results["rows"]["written"]
                    else f"the {scores['scored_rows']} labelled rows")
            click.echo(f"ACC {scores['acc']:.4f}  NMI {scores['nmi']:.4f}  ARI {scores['ari']:.4f} over {over} "
                       f"(model fitted on {results['fit_sample']['rows']} rows, {results['fit_sample']['chosen_by']})")
        click.echo(f"{results['rows']['written']} rows labelled; results in {out}/")
        return
    given = [f"--{key.replace('_', '-')}" for key, value in scale.items() if value is not None]
    if given:
        raise click.UsageError(f"{' and '.join(given)} {'goes' if len(given) == 1 else 'go'} with --scheduler")
    if any(c in str(settings["input_path"] or "") for c in "*?["):
        raise click.UsageError("a pattern of shards needs --scheduler local (or a scheduler's address); "
                               "without it --input names one file")
    from ..runner import RunConfig, run_pipeline

    config = RunConfig.from_options({**settings, "out": out, "quiet": quiet, "visualize": visualize})
    with RunProgress(config.model["epochs"], quiet=quiet) as progress:
        results = run_pipeline(config, on_epoch=progress.on_epoch, on_stage=progress.on_stage,
                               on_step=progress.on_step)
    if not quiet:
        print_summary(results, out)
    else:
        click.echo(f"results in {out}/")


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


def scaled_config(settings: dict, scale: dict, out: Path, visualize: bool):
    """The settings of a ``--scheduler`` run, refusing what only a single-process run does."""
    from ..scale.job import ScaleConfig

    refused = {"--dataset": settings.pop("dataset"), "--labels": settings.pop("labels_path"),
               "--visualize": visualize, "--checkpoint-every": settings.get("checkpoint_every"),
               "--resume": settings.get("resume")}
    refused = [flag for flag, value in refused.items() if value]
    if scale["workers"] is not None and scale["scheduler"] != "local":
        raise click.UsageError("--workers sizes a cluster started here; it goes with --scheduler local")
    if refused:
        raise click.UsageError(f"{', '.join(refused)} cannot be used with --scheduler, which runs on --input "
                               "shards (Parquet, with --label-column for scoring)")
    for key in ("data_dir", "no_download", "checkpoint_every", "resume"):
        settings.pop(key)
    job = {key: settings.pop(key) for key in ("input_path", "id_column", "label_column", "n_clusters",
                                              "memory_pool", "overwrite")}
    return ScaleConfig(input_path=str(job.pop("input_path")), out=out, model=settings, **scale, **job)
