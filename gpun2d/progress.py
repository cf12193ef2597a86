"""Progress display for the CLI: a bar over autoencoder epochs and stage lines; can be silenced."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import registry

STEPS = {"load": "loading data", "predict": "placing and labelling the rows", "write": "writing results",
         "connect": "connecting to the Dask cluster", "read": "counting the rows of every partition",
         "sample": "drawing the fit sample", "apply": "labelling every partition on the workers",
         "verify": "counting the rows written and scoring them",
         "finetune": "fine-tuning the autoencoder towards harder clusters (IDEC), then UMAP and clustering again"}
STEP_BARS = {"manifold": "UMAP epochs", "cluster": "clustering restarts"}
PLAIN_EVERY_S = 30.0
"""Without a terminal, a plain progress line at most this often (and at the end of training)."""
"""What the progress display says for the steps around the pipeline's stages."""


def step_name(step: str) -> str:
    """Progress text of a job step or pipeline stage (from the stage registry)."""
    return STEPS.get(step) or registry.doing(step)


class RunProgress:
    """Context manager exposing ``on_epoch`` and ``on_stage`` callbacks for :class:`gpun2d.N2D`."""

    def __init__(self, epochs: int, quiet: bool = False, console: Console | None = None):
        self.epochs, self.quiet = epochs, quiet
        self.console = console or Console(stderr=True, log_path=False)
        self._progress: Progress | None = None
        self._task = None
        self._steps: dict = {}  # a bar per stage with its own steps
        self._started: float | None = None  # when the autoencoder's first epoch began
        self._last_line = 0.0

    def columns(self) -> tuple:
        """What the bar shows; subclasses showing other things override this."""
        return (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn())

    def __enter__(self):
        if not self.quiet:
            self._progress = Progress(*self.columns(), console=self.console, transient=False)
            self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def on_stage(self, stage: str) -> None:
        if self._progress is None:
            return
        self._progress.console.log(step_name(stage))
        if stage == "autoencoder" and self.epochs > 0:
            self._task = self._progress.add_task("autoencoder epochs", total=self.epochs, loss="-")
            self._started = self._last_line = time.monotonic()

    def on_step(self, stage: str, done: int, total: int) -> None:
        """A bar for a stage's own steps (UMAP's epochs, the clustering restarts), added at the first."""
        if self._progress is None:
            return
        if stage not in self._steps:
            self._steps[stage] = self._progress.add_task(STEP_BARS.get(stage, stage), total=total, loss="-")
        self._progress.update(self._steps[stage], completed=done, total=total)

    def on_epoch(self, epoch: int, loss: float) -> None:
        if self._progress is None or self._task is None:
            return
        self._progress.update(self._task, completed=epoch, loss=f"{loss:.5f}")
        self._epoch_line(epoch, loss)

    def _epoch_line(self, epoch: int, loss: float, prefix: str = "") -> None:
        """A logged line now and then on where training is: early once, and every PLAIN_EVERY_S without a terminal."""
        now = time.monotonic()
        per_epoch = (now - self._started) / epoch
        left = per_epoch * (self.epochs - epoch)
        if epoch == min(2, self.epochs) and epoch < self.epochs:  # one estimate, early, in every mode
            self._progress.console.log(f"{prefix}autoencoder: {per_epoch:.2f} s per epoch, about {clock(left)} "
                                       f"for the remaining {self.epochs - epoch} epochs")
        elif not self.console.is_terminal and (now - self._last_line >= PLAIN_EVERY_S or epoch == self.epochs):
            # without a terminal the bar is drawn only at the end: say where training is now and then
            self._progress.console.log(f"{prefix}autoencoder epoch {epoch}/{self.epochs}, loss {loss:.5f}, "
                                       f"{clock(now - self._started)} elapsed, about {clock(left)} left")
            self._last_line = now


def clock(seconds: float) -> str:
    """``3725`` -> ``1:02:05``."""
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
