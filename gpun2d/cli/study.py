"""``gpun2d study``: N2D over several seeds, and how far its results move."""

from __future__ import annotations

from pathlib import Path

import click

from .. import defaults, registry
from . import options
from .errors import Command, as_flags


def _parsed(parse):
    """A click callback turning a study parser's ConfigError into a usage error on that option."""

    def callback(ctx, param, value):
        if value is None:
            return None
        from ..errors import ConfigError
        from ..studies import plan

        try:
            return getattr(plan, parse)(value)
        except ConfigError as exc:
            raise click.BadParameter(str(exc)) from None

    return callback


@click.command(cls=Command)
@options.datasets
@click.option("--seeds", metavar="N|S1,S2,...", default=str(defaults.SEEDS), show_default=True,
              callback=_parsed("parse_seeds"),
              help="A count N (seeds 0..N-1) or a comma list (0,3,7; `7,` is seed 7 alone).")
@click.option("--vary", type=click.Choice([s.short for s in registry.STAGES]), default=registry.STAGES[0].short,
              show_default=True,
              help="What the seed changes: ae = the whole pipeline; manifold = UMAP and mixture on one "
                   "autoencoder; cluster = only the clustering on one embedding (first seed's).")
@click.option("--restarts", metavar="R1,R2,...", callback=_parsed("parse_restarts"),
              help="With --vary cluster: restart counts to compare, one set of runs each [default: 1,10,30,100].")
@options.embedder
@options.epochs
@options.batch_size
@options.cluster
@options.cluster_n_init
@options.finetune_epochs
@options.device
@options.data_dir
@options.no_download
@options.out("runs/, cache/ and the report")
@options.results_root
@click.option("--resume", is_flag=True,
              help="Continue the study in --out: runs already saved are kept, not redone (on a finished "
                   "study this just rewrites the report).")
@click.option("--report-only", is_flag=True,
              help="Run nothing: rewrite the report from the runs already saved in --out (partial if unfinished).")
@click.option("--batched", is_flag=True,
              help="Train the seeds' autoencoders together, as one batched model (vmap over the stacked "
                   "networks; each keeps its own initial weights and batch order). --vary ae only.")
@click.option("--ensemble", is_flag=True,
              help="Also combine the seeds' labelings into one consensus labeling (clusters matched one to one, "
                   "then a vote per row; no labels used) and score it beside the seeds.")
@options.quiet
def study(datasets: tuple[str, ...], quiet: bool, out: Path | None, results_root: Path, **settings) -> None:
    """Run N2D over several seeds and report the spread of ACC, NMI, ARI and stage times.

    Writes study.json, study.md (mean ± std, min, max beside the paper's figures, and
    the pairwise ARI between seeds' labelings, a stability figure that needs no labels)
    and study.png (one point per seed). Every finished run is saved as runs/*.json, so
    an interrupted study continues with --resume --out FOLDER. Examples:

    \b
      gpun2d study --dataset mnist-test --seeds 5 --epochs 100
      gpun2d study --dataset fashion --vary cluster --restarts 1,10,30 --epochs 50
      gpun2d study -d digits -d pendigits --seeds 0,3,7 --vary manifold
    """
    from ..errors import ConfigError
    from ..studies import StudyConfig, run_study
    from ..studies.progress import StudyProgress

    if not datasets:
        raise click.UsageError("name at least one dataset: -d NAME (repeat for several)")
    if settings["restarts"] and settings["vary"] != "cluster":
        raise click.UsageError("--restarts goes with --vary cluster; use --cluster-n-init for the other studies")
    if out is None:
        if settings["resume"] or settings["report_only"]:
            raise click.UsageError("--resume and --report-only need --out: the folder of the study to continue")
        out = options.default_out(results_root, "study", f"{'+'.join(datasets)}-{settings['vary']}")
    try:  # the settings alone are wrong: a usage error, in the command's flags
        config = StudyConfig(datasets=list(datasets), out=out, quiet=quiet, **settings).validate()
    except ConfigError as exc:
        raise click.UsageError(as_flags(str(exc), click.get_current_context())) from None
    with StudyProgress(config.epochs, quiet=quiet) as progress:
        result = run_study(config, progress.hooks)
    if not quiet:
        print_study(result, out)
    else:
        click.echo(f"report in {out}/")


def print_study(result: dict, out: Path) -> None:
    """The study's scores, one column per dataset (and restart count), then where its files are."""
    from rich.console import Console
    from rich.table import Table

    config, groups = result["config"], result["groups"]
    table = Table(title=f"gpun2d study: --vary {config['vary']}, {len(config['seeds'])} seeds, "
                        f"{config['epochs']} epochs, {result['device']}")
    table.add_column("mean ± std")
    for g in groups:
        restarts = f"{g['n_init']} restart{'s' * (g['n_init'] != 1)}"
        table.add_column(f"{g['dataset']}\n{restarts}", justify="right", no_wrap=True)

    def row(name, cell):
        table.add_row(name, *(cell(g) for g in groups))

    for key in ("acc", "nmi", "ari"):
        row(key.upper(), lambda g, key=key: f"{g['metrics'][key]['mean']:.3f} ± {g['metrics'][key]['std']:.3f}")
    row("pairwise ARI (mean / min)",
        lambda g: f"{g['pairwise_ari']['mean']:.3f} / {g['pairwise_ari']['min']:.3f}" if g["pairwise_ari"] else "-")
    row("paper ACC / NMI", lambda g: f"{g['paper']['acc']:.3f} / {g['paper']['nmi']:.3f}" if g["paper"] else "-")
    if any(g.get("consensus") for g in groups):
        row("consensus ACC / NMI", lambda g: f"{g['consensus']['metrics']['acc']:.3f} / "
                                             f"{g['consensus']['metrics']['nmi']:.3f}" if g.get("consensus") else "-")
    row("seconds per run", lambda g: f"{g['timings']['total']['mean']:.1f} ± {g['timings']['total']['std']:.1f}")
    console = Console()
    console.print(table)
    console.print(f"report in {out}/study.md, study.json, study.png; runs in {out}/runs/")
