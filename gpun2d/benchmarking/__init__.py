"""Benchmarks of the N2D pipeline: the paper's Table III, timed on this machine.

>>> from gpun2d.benchmarking import BenchSettings, run_table3, write_report
>>> result = run_table3(BenchSettings(datasets=("mnist-test",), epochs=1000))
>>> write_report(result, "bench-out")      # bench.json + bench.md, atomically

``gpun2d bench`` is a thin front over these
functions; ``benchmarks/stages.py`` times each stage against its usual
alternative. Heavy libraries (torch, UMAP, cuML) load only when a benchmark runs.
"""

from .machine import describe_machine, machine_info
from .markdown import render_markdown, write_report
from .table3 import PAPER, PAPER_DATASETS, BenchSettings, run_table3

__all__ = [
    "PAPER",
    "PAPER_DATASETS",
    "BenchSettings",
    "describe_machine",
    "machine_info",
    "render_markdown",
    "run_table3",
    "write_report",
]
