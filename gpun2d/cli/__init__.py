"""``gpun2d`` command line: click lives here and nowhere else in gpun2d.

One module per command, each a thin skin over a job (:mod:`gpun2d.runner`,
:mod:`gpun2d.studies`, :mod:`gpun2d.benchmarking`, :mod:`gpun2d.datasets`);
shared options are declared once in :mod:`.options`; :mod:`.errors` turns
gpun2d's errors into one-line messages and exit codes (usage 2, failures 1,
Ctrl-C 130). Importing it loads neither torch nor scikit-learn.
"""

from __future__ import annotations

import logging
import signal
import warnings

import click

from ..version import __version__
from .ablate import ablate
from .bench import bench
from .datasets import datasets
from .errors import Group, raise_interrupted, raise_terminated
from .predict import predict
from .run import run
from .study import study


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="gpun2d")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """gpun2d: N2D clustering (autoencoder -> UMAP -> Gaussian mixture), GPU-native.

    Start with `gpun2d run --dataset digits --epochs 20 --device cpu`, or
    `gpun2d run --input data.csv` for your own table. GPUN2D_DEVICE and
    GPUN2D_RESULTS set the default --device and results folder of every command.
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")


for command in (run, predict, study, bench, ablate, datasets):
    cli.add_command(command)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one ``Warning: ...`` line on stderr, not Python's two (the second a line of gpun2d's source).

    Shown with ``-q`` too: a warning says something about the result.
    """
    text = " ".join(str(message).split())
    kind = "" if category is UserWarning else f" ({category.__name__})"
    click.echo(f"Warning: {text}{kind}", file=file, err=True)


def main() -> None:
    warnings.showwarning = show_warning  # the command line only: the library's warnings stay ordinary warnings
    signal.signal(signal.SIGTERM, raise_terminated)  # clean up as on Ctrl-C, then exit 143
    signal.signal(signal.SIGINT, raise_interrupted)  # unwind once: further signals are ignored while cleaning up
    cli(prog_name="gpun2d")


__all__ = ["cli", "main"]
