"""Progress of a study: one bar over its runs, with the current run and stage beside it; can be silenced."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from ..progress import RunProgress, step_name
from .execute import Hooks


class StudyProgress(RunProgress):
    """Context manager whose :attr:`hooks` drive the bar; ``quiet`` shows nothing."""

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

    def on_run(self, name: str) -> None:
        self._run = name
        self._update("")

    def on_stage(self, stage: str) -> None:
        self._update(stage=step_name(stage))

    def on_epoch(self, epoch: int, loss: float) -> None:
        self._update(stage=f"autoencoder epoch {epoch}/{self.epochs}, loss {loss:.5f}")

    def on_run_done(self, name: str) -> None:
        self._update("done", advance=1)
        self._run = ""
