"""Multi-seed studies of N2D (``gpun2d study``): how much results move between runs, and why.

:func:`run_study` runs a :class:`StudyConfig` -- one JSON per finished run, so
an interrupted study resumes -- and writes ``study.json``/``.md``/``.png``.
"""

from .execute import Hooks, run_study
from .plan import PAPER, StudyConfig, parse_restarts, parse_seeds, plan_runs
from .report import build_study, markdown, write_reports

__all__ = ["PAPER", "Hooks", "StudyConfig", "build_study", "markdown", "parse_restarts", "parse_seeds",
           "plan_runs", "run_study", "write_reports"]
