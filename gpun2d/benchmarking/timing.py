"""Wall-clock timing and report writing shared by the benchmark scripts."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

from .. import defaults
from ..report import write_json
from .machine import describe_machine


def synchronize(device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device):
    """Run ``fn()``; returns (its result, wall seconds) with the device's queue drained before and after."""
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return result, time.perf_counter() - start


def print_context(result: dict) -> None:
    """The machine a report was measured on and its notes, one line each."""
    print(f"machine: {describe_machine(result['machine'])}")
    for note in result.get("notes", ()):
        print(f"note: {note}")


def save_report(result: dict, out: str | Path | None, prefix: str) -> Path:
    """Write ``result`` as JSON to ``out``, whole or not at all.

    The default is ``$GPUN2D_RESULTS/PREFIX-TIMESTAMP.json`` (``gpun2d-results/`` without it), beside
    the commands' own results and out of the way of a source checkout.
    """
    root = Path(os.environ.get(defaults.RESULTS_ENV) or defaults.RESULTS_ROOT)
    out = Path(out) if out else root / f"{prefix}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    write_json(result, out)
    print(f"wrote {out}")
    return out
