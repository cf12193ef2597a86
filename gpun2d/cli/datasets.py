"""``gpun2d datasets``: what is known, what is on disk, and downloads."""

from __future__ import annotations

from pathlib import Path

import click

from . import options
from .errors import Group


@click.group(cls=Group, invoke_without_command=True)
@options.data_dir
@click.pass_context
def datasets(ctx: click.Context, data_dir: Path | None) -> None:
    """List the known datasets, whether their files were found, and where gpun2d looked."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from .. import datasets as ds

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
@click.option("--data-dir", type=options.PathDir, help="Download into this folder instead of the cache.")
@click.pass_context
def fetch(ctx: click.Context, names: tuple[str, ...], data_dir: Path | None) -> None:
    """Download and verify datasets into the cache (~/.cache/gpun2d, or $GPUN2D_CACHE)."""
    from .. import datasets as ds

    data_dir = data_dir or ctx.parent.params.get("data_dir")  # `gpun2d datasets --data-dir D fetch` too

    for name in names:
        path = ds.fetch(name, data_dir=data_dir, progress=True)
        click.echo(f"{name}: ready in {path}")
