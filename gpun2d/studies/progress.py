"""Progress of a study: one bar over its runs, with the current run and stage beside it; can be silenced."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from ..progress import RunProgress, step_name
from .execute import Hooks


class StudyProgress(RunProgress):
    """Context manager whose :attr:`hooks` drive the bar; ``quiet`` shows nothing.

    Without a terminal (a log file, nohup) the bar is drawn only at the end, so each run's start, stages,
    epochs now and then and end are logged as lines instead.
    """

    def __init__(self, epochs: int, quiet: bool = False, console: Console | None = None):
        super().__init__(epochs, quiet, console)
        self._run = ""
        self.hooks = Hooks(on_stage=self.on_stage, on_epoch=self.on_epoch, on_run=self.on_run,
                           on_run_done=self.on_run_done, on_start=self.on_start)

    def columns(self) -> tuple:
        return (TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("{task.fields[stage]}"))

    def _update(self, stage: str, advance: int = 0) -> None:
        if self._progress is not None and self._task is not None:
            text = f"{self._run}: {stage}" if self._run else stage
            self._progress.update(self._task, advance=advance, stage=text)

    def on_start(self, total: int, done: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task("runs", total=total, completed=done, stage="starting")
            if done == total:
                self._progress.console.log(f"all {total} runs are done; rewriting the report")
            elif done:
                self._progress.console.log(f"resuming: {done} of {total} runs already done")

    def _plain(self) -> bool:
        return self._progress is not None and not self.console.is_terminal

    def _log(self, text: str) -> None:
        if self._plain():
            self._progress.console.log(f"{self._run}: {text}" if self._run else text)

    def on_run(self, name: str) -> None:
        self._run = name
        self._update("")
        self._log("started")

    def on_stage(self, stage: str) -> None:
        self._update(stage=step_name(stage))
        self._log(step_name(stage))
        if stage == "autoencoder":
            self._started = self._last_line = time.monotonic()

    def on_epoch(self, epoch: int, loss: float) -> None:
        self._update(stage=f"autoencoder epoch {epoch}/{self.epochs}, loss {loss:.5f}")
        if self._progress is not None and epoch > 0 and self._started is not None:
            self._epoch_line(epoch, loss, prefix=f"{self._run}: " if self._run else "")

    def on_run_done(self, name: str) -> None:
        self._update("done", advance=1)
        self._log("done")
        self._run = ""
