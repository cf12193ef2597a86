"""``gpun2d bench``: the paper's Table III timed on this machine (a thin skin over gpun2d.benchmarking)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from . import defaults
from .benchmarking.table3 import PAPER_DATASETS
from .errors import GPUN2DError


def _dataset_list(ctx, param, value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise click.BadParameter("name at least one dataset, e.g. --datasets mnist-test")
    return names


@click.command()
@click.option("--datasets", "datasets_", metavar="A,B,...", default=",".join(PAPER_DATASETS), show_default=True,
              callback=_dataset_list, help="Comma-separated datasets (see `gpun2d datasets`).")
@click.option("--epochs", type=click.IntRange(min=0), default=defaults.EPOCHS, show_default=True,
              help="Autoencoder epochs; anything but 1000 is not comparable to the paper.")
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs per dataset (seeds SEED, SEED+1, ...); the report gives the median and range.")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True,
              help="auto: the GPU when torch sees CUDA and cuML imports.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding the datasets' files (searched first).")
@click.option("--no-download", is_flag=True, help="Never download; fail if files are missing.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the first run.")
@click.option("--cluster-n-init", type=click.IntRange(min=1), default=defaults.CLUSTER_N_INIT, show_default=True,
              help="Clustering restarts (the paper: 1).")
@click.option("--max-samples", type=click.IntRange(min=2),
              help="Cluster a seeded random subset of at most N samples per dataset (quick checks only).")
@click.option("--warmup/--no-warmup", default=True, show_default=True,
              help="Fit a small slice once, untimed, so one-time start-up costs stay out of the timings.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the training step.")
@click.option("--cuda-graphs", is_flag=True, help="Capture the training step in a CUDA graph (GPU only).")
@click.option("--bf16", is_flag=True, help="bfloat16 autocast in training (not the paper's setting).")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for bench.json and bench.md [default: gpun2d-bench/bench-TIMESTAMP].")
@click.option("--quiet", "-q", is_flag=True, help="No per-run progress lines.")
def bench(datasets_: tuple[str, ...], out: Path | None, quiet: bool, data_dir: Path | None, no_download: bool,
          compile_: bool, **options) -> None:
    """Time N2D per stage on the paper's datasets and compare with its Table III.

    Writes bench.json (every run, the machine, versions) and bench.md (the
    table: minutes per stage, the paper's RTX 2080 Ti minutes, speed-up,
    ACC/NMI of the same runs). Examples:

    \b
      gpun2d bench --datasets mnist-test --repeats 3
      gpun2d bench --datasets digits,mnist-test --epochs 2 --device cpu --out /tmp/bench
    """
    from .benchmarking import BenchSettings, render_markdown, run_table3, write_report
    from .report import BENCH_FILES, check_out_dir

    if out is None:
        out = Path("gpun2d-bench") / f"bench-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    settings = BenchSettings(datasets=datasets_, data_dir=data_dir, download=not no_download, compile=compile_,
                             **options)

    def progress(name: str, repeat: int, run: dict) -> None:
        if quiet:
            return
        seconds = run["seconds"]
        click.echo(f"{name} run {repeat + 1}/{settings.repeats}: AE {seconds['autoencoder']:.1f} s, "
                   f"manifold {seconds['manifold']:.1f} s, cluster {seconds['cluster']:.1f} s, "
                   f"ACC {run['acc']:.3f}, NMI {run['nmi']:.3f}", err=True)

    try:
        check_out_dir(out, BENCH_FILES)  # before hours of work, not after
        result = run_table3(settings, on_run=progress)
        write_report(result, out)
    except GPUN2DError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(render_markdown(result))
    click.echo(f"report in {out}/ (bench.json, bench.md)")
