"""House habits: ruff is clean, and N2D is built in one place only."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the [test] extra)")
    done = subprocess.run([ruff, "check", "gpun2d", "tests", "benchmarks"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_n2d_is_constructed_in_one_place():
    """Jobs build N2D through ``N2D.from_config`` only, so their settings cannot drift apart."""
    calls = []
    for path in sorted((ROOT / "gpun2d").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name == "N2D":
                    calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert calls == [], f"N2D(...) called directly at {calls}; use N2D.from_config"
