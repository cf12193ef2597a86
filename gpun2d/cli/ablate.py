"""``gpun2d ablate``: the paper's Table I (which manifold learner, on raw data or the embedding) on this machine."""

from __future__ import annotations

from pathlib import Path

import click

from . import options
from .errors import Command

METHOD_KEYS = ("gmm", "ae-gmm", "isomap-gmm", "n2d-isomap", "tsne-gmm", "n2d-tsne", "umap-gmm", "n2d")
"""gpun2d.benchmarking.ablation.METHOD_KEYS, repeated so that --help loads no torch (a test keeps them equal)."""


@click.command(cls=Command)
@click.option("--dataset", "-d", metavar="NAME", required=True, help="A known dataset (see `gpun2d datasets`).")
@options.epochs
@options.cluster_n_init
@click.option("--methods", "-m", type=click.Choice(METHOD_KEYS), multiple=True,
              help="Run only these rows (repeat the option) [default: all eight].")
@click.option("--max-samples", type=click.IntRange(min=2),
              help="A seeded random subset of at most N samples (Isomap needs memory growing as N squared).")
@options.device
@options.data_dir
@options.no_download
@options.seed
@options.out("ablation.json and ablation.md")
@options.results_root
@options.overwrite
@options.quiet
def ablate(dataset: str, methods: tuple[str, ...], out: Path | None, results_root: Path, overwrite: bool,
           quiet: bool, no_download: bool, **settings) -> None:
    """Reproduce the paper's Table I: manifold learners on the raw data and on the autoencoded embedding.

    Eight rows share one trained autoencoder and the same mixture restarts: GMM
    on the raw data, AE + GMM, then Isomap, t-SNE and UMAP on the raw data
    (+ GMM) and on the embedding (N2D). A row whose estimated memory is more
    than the machine has free is skipped, saying so. Writes ablation.json and
    ablation.md (ACC, NMI, ARI, milliseconds per row). Examples:

    \b
      gpun2d ablate -d mnist-test --epochs 100
      gpun2d ablate -d digits --epochs 5 -m n2d -m umap-gmm --device cpu
    """
    from ..benchmarking.ablation import ABLATION_FILES, AblationSettings, render_markdown, run_ablation
    from ..outputs import ResultFolder
    from ..report import write_json

    out = out or options.default_out(results_root, "ablate", dataset)
    config = AblationSettings(dataset=dataset, methods=methods or METHOD_KEYS, download=not no_download,
                              **settings)

    def progress(row) -> None:
        if quiet:
            return
        if row.status != "ran":
            click.echo(f"{row.label}: skipped ({row.reason})", err=True)
        else:
            click.echo(f"{row.label}: ACC {row.scores['acc']:.3f}, NMI {row.scores['nmi']:.3f} "
                       f"({row.seconds['manifold'] + row.seconds['cluster']:.1f} s after the autoencoder)", err=True)

    def starting(what: str) -> None:
        if not quiet:
            click.echo(f"{what} ...", err=True)

    with ResultFolder(out, ABLATION_FILES, overwrite=overwrite) as target:  # checked before the work
        config.validate()
        result = run_ablation(config, on_method=progress, on_start=starting)
        with target.staging() as folder:
            write_json(result, folder / "ablation.json")
            (folder / "ablation.md").write_text(render_markdown(result), encoding="utf-8")
    if not quiet:
        click.echo(render_markdown(result))
    click.echo(f"report in {out}/ (ablation.json, ablation.md)")
