"""``gpun2d bench``: the paper's Table III timed on this machine (a thin skin over gpun2d.benchmarking)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import paper
from . import options
from .errors import Command


@click.command(cls=Command)
@options.datasets
@options.epochs
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs per dataset (seeds SEED, SEED+1, ...); the report gives the median and range.")
@options.device
@options.data_dir
@options.no_download
@options.seed
@options.cluster_n_init
@click.option("--max-samples", type=click.IntRange(min=2),
              help="Cluster a seeded random subset of at most N samples per dataset (quick checks only).")
@click.option("--warmup/--no-warmup", default=True, show_default=True,
              help="Fit a small slice once, untimed, so one-time start-up costs stay out of the timings.")
@options.trainer
@options.out("bench.json and bench.md")
@options.results_root
@options.overwrite
@options.quiet
def bench(datasets: tuple[str, ...], out: Path | None, results_root: Path, overwrite: bool, quiet: bool,
          no_download: bool, **settings) -> None:
    """Time N2D per stage on the paper's datasets and compare with its Table III.

    Writes bench.json (every run, the machine, versions) and bench.md (the
    table: minutes per stage, the paper's RTX 2080 Ti minutes, speed-up,
    ACC/NMI of the same runs).

    Without -d, the paper's six datasets. Examples:

    \b
      gpun2d bench -d mnist-test --repeats 3
      gpun2d bench -d digits -d mnist-test --epochs 2 --device cpu --out /tmp/bench
    """
    from ..benchmarking import BenchSettings, render_markdown, run_table3, write_report
    from ..outputs import ResultFolder
    from ..report import BENCH_FILES

    datasets = datasets or tuple(paper.MINUTES)  # the paper's Table III
    out = out or options.default_out(results_root, "bench", "+".join(datasets) if len(datasets) < 4 else "paper")
    bench_settings = BenchSettings(datasets=datasets, download=not no_download, **settings)

    def progress(name: str, repeat: int, run: dict) -> None:
        if quiet:
            return
        seconds = run["seconds"]
        click.echo(f"{name} run {repeat + 1}/{bench_settings.repeats}: AE {seconds['autoencoder']:.1f} s, "
                   f"manifold {seconds['manifold']:.1f} s, cluster {seconds['cluster']:.1f} s, "
                   f"ACC {run['acc']:.3f}, NMI {run['nmi']:.3f}", err=True)

    with ResultFolder(out, BENCH_FILES, overwrite=overwrite) as target:  # checked before hours of work
        result = run_table3(bench_settings, on_run=progress)
        write_report(result, target)
    if not quiet:
        click.echo(render_markdown(result))
    click.echo(f"report in {out}/ (bench.json, bench.md)")
