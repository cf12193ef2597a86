#!/usr/bin/env python3
"""How fast gpun2d starts: `gpun2d --help`, `gpun2d --version` and `import gpun2d`, each in a fresh process.

Target: `gpun2d --help` in under 1 s (median). It is met only while the CLI's start-up loads none of
the heavy libraries (torch, scikit-learn, umap-learn, cuML, numba): the script also reports which
of them each command loads, who imported them first, and the slowest third-party imports
(`python -X importtime`). `python -c pass` is timed as the interpreter's own floor.

Every command runs --repeats times, the commands taking turns, after one untimed warm-up run each
(bytecode compilation, file cache). Figures are printed and written to --out (JSON).

  python benchmarks/cli_startup.py
  python benchmarks/cli_startup.py --repeats 20 --out cli-startup.json
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path
from types import SimpleNamespace

import click

from gpun2d.benchmarking import machine_info
from gpun2d.benchmarking.timing import print_context, save_report
from gpun2d.cli import options
from gpun2d.cli.errors import Command, run_script
from gpun2d.report import command_line, now_iso

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 1.0
#: Libraries whose import alone takes a good part of a second or more.
HEAVY = ("torch", "sklearn", "umap", "cuml", "numba")
#: Printed on the probe's last line, before the JSON list of heavy modules loaded.
MARK = "@@heavy@@"


def console_script() -> tuple[list[str], str, str]:
    """How to run `gpun2d`: (argv prefix, entry module, entry function).

    The installed console script next to this interpreter when there is one (what a user runs),
    else this interpreter calling the entry point named in the package's metadata.
    """
    scripts = entry_points(group="console_scripts", name="gpun2d")
    module, attr = next(((s.module, s.attr) for s in scripts), ("gpun2d.cli", "main"))
    beside = Path(sys.executable).with_name("gpun2d")
    script = str(beside) if beside.exists() else shutil.which("gpun2d")
    if script:
        return [script], module, attr
    return [sys.executable, "-c", f"import sys; sys.argv[0] = 'gpun2d'; from {module} import {attr}; {attr}()"], \
        module, attr


def environment() -> dict[str, str]:
    """This checkout first on the path, so every command runs the same gpun2d."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def commands(script: list[str]) -> dict[str, list[str]]:
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import gpun2d": [sys.executable, "-c", "import gpun2d"],
        "gpun2d --version": [*script, "--version"],
        "gpun2d --help": [*script, "--help"],
    }


def run_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
                          timeout=300, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise click.ClickException(f"`{' '.join(argv)}` exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return seconds


def time_commands(named: dict[str, list[str]], repeats: int, warmup: bool, env: dict[str, str]) -> dict:
    """Seconds of each command; the commands take turns so that drift hits them all alike."""
    if warmup:
        for argv in named.values():
            run_once(argv, env)
    runs: dict[str, list[float]] = {name: [] for name in named}
    for _ in range(repeats):
        for name, argv in named.items():
            runs[name].append(run_once(argv, env))
    return {name: {"argv": named[name], "median": statistics.median(s), "min": min(s), "max": max(s), "runs": s}
            for name, s in runs.items()}


def probe_code(module: str, attr: str, cli_args: list[str] | None) -> str:
    """Python that imports gpun2d (or runs its CLI in-process), then prints the heavy modules loaded."""
    report = f"import json, sys; print({MARK!r} + json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    if cli_args is None:
        return f"import gpun2d\n{report}"
    return (f"import sys; sys.argv = ['gpun2d', *{cli_args!r}]\nfrom {module} import {attr} as main\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n" + report)


def importtime_rows(stderr: str) -> list[tuple[int, str, float]]:
    """(depth, module, cumulative seconds) per `-X importtime` line, after the interpreter's own start-up."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or line.rstrip().endswith("| imported package"):
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        rows.append(((len(name) - len(name.lstrip()) - 1) // 2, name.strip(), int(cumulative) / 1e6))
    after_site = next((i + 1 for i, (depth, name, _) in enumerate(rows) if depth == 0 and name == "site"), 0)
    return rows[after_site:]


def first_importer_chain(rows: list[tuple[int, str, float]], module: str) -> str | None:
    """`gpun2d -> gpun2d.estimator -> torch`: a parent is printed after its children, less indented."""
    for i, (depth, name, _) in enumerate(rows):
        if name == module:
            chain = [name]
            for later_depth, later, _ in rows[i + 1:]:
                if later_depth < depth:
                    chain.append(later)
                    depth = later_depth
            return " -> ".join(reversed(chain))
    return None


def probe_imports(module: str, attr: str, cli_args: list[str] | None, env: dict[str, str], top: int) -> dict:
    """Which heavy modules one command loads, who imported each first, and its slowest imports."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", probe_code(module, attr, cli_args)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False)
    marked = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not marked:
        errors = "\n".join(line for line in done.stderr.splitlines() if not line.startswith("import time:"))
        raise click.ClickException(f"the import probe failed (exit {done.returncode}):\n{errors[-2000:]}")
    heavy = json.loads(marked[-1][len(MARK):])
    rows = importtime_rows(done.stderr)
    third_party = {}
    for _, name, cumulative in rows:
        if "." not in name and name not in sys.stdlib_module_names and name != "gpun2d" and cumulative >= 1e-3:
            third_party[name] = max(cumulative, third_party.get(name, 0.0))
    slowest = sorted(third_party.items(), key=lambda item: -item[1])[:top]
    return {
        "heavy": heavy,
        "first_imported_by": {m: first_importer_chain(rows, m) for m in heavy},
        "import_seconds": sum(cumulative for depth, _, cumulative in rows if depth == 0),
        "slowest_third_party": [{"module": name, "cumulative_seconds": s} for name, s in slowest],
    }


def run(args) -> dict:
    env = environment()
    script, module, attr = console_script()
    named = commands(script)
    timings = time_commands(named, args.repeats, args.warmup, env)
    probes = {"import gpun2d": None, "gpun2d --version": ["--version"], "gpun2d --help": ["--help"]}
    imports = {name: probe_imports(module, attr, cli_args, env, args.top) for name, cli_args in probes.items()}
    help_median = timings["gpun2d --help"]["median"]
    notes = [f"`gpun2d` ran as `{' '.join(script)}`" if len(script) == 1
             else "`gpun2d` ran through this interpreter (no console script installed)"]
    if imports["gpun2d --help"]["heavy"]:
        notes.append("`gpun2d --help` loads " + ", ".join(imports["gpun2d --help"]["heavy"])
                     + ": the CLI imports library code at start-up")
    return {
        "created": now_iso(),
        "command": command_line(),
        "machine": machine_info(),
        "notes": notes,
        "settings": {"repeats": args.repeats, "warmup": args.warmup, "python": sys.executable,
                     "gpun2d": script, "entry_point": f"{module}:{attr}", "heavy": list(HEAVY)},
        "seconds": timings,
        "imports": imports,
        "target": {"what": "gpun2d --help, median seconds", "value": help_median,
                   "target": f"< {TARGET_SECONDS:g}", "met": help_median < TARGET_SECONDS},
    }


def print_report(result: dict) -> None:
    print_context(result)
    print(f"{'command':<18} {'median s':>9} {'min s':>7} {'max s':>7}  heavy modules loaded")
    for name, row in result["seconds"].items():
        probe = result["imports"].get(name)
        heavy = "-" if probe is None else (", ".join(probe["heavy"]) or "none")
        print(f"{name:<18} {row['median']:>9.3f} {row['min']:>7.3f} {row['max']:>7.3f}  {heavy}")
    for name, probe in result["imports"].items():
        for module, chain in probe["first_imported_by"].items():
            print(f"{name}: {module} imported by {chain}")
        slowest = ", ".join(f"{row['module']} {row['cumulative_seconds']:.3f}" for row in probe["slowest_third_party"])
        print(f"{name}: imports take {probe['import_seconds']:.3f} s; slowest third-party (s): {slowest or '-'}")
    target = result["target"]
    print(f"target: {target['what']} {target['target']}: {target['value']:.3f} "
          + ("met" if target["met"] else "MISSED"))


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--repeats", type=click.IntRange(min=1), default=10, show_default=True,
              help="Timed runs of each command (the commands take turns).")
@click.option("--warmup/--no-warmup", default=True, show_default=True,
              help="Run each command once, untimed, first (bytecode compilation, file cache).")
@click.option("--top", type=click.IntRange(min=0), default=8, show_default=True,
              help="Slowest third-party imports to list per command.")
@options.report_file("cli-startup")
def command(out: Path | None, **settings) -> int:
    """How fast gpun2d starts: `gpun2d --help`, `gpun2d --version` and `import gpun2d`, each in a fresh process.

    Target: `gpun2d --help` in under 1 s (median), met only while the CLI's
    start-up loads none of torch, scikit-learn, umap-learn, cuML or numba.
    Also reports which of them each command loads, who imported them first,
    and the slowest third-party imports (`python -X importtime`); `python -c
    pass` is timed as the interpreter's own floor. Examples:

    \b
      python benchmarks/cli_startup.py
      python benchmarks/cli_startup.py --repeats 20 --out cli-startup.json
    """
    result = run(SimpleNamespace(**settings))
    print_report(result)
    save_report(result, out, "cli-startup")  # a reader never sees half a file
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the script on ``argv`` (default: the command line); returns the exit status."""
    return run_script(command, argv, Path(__file__).name)


if __name__ == "__main__":
    sys.exit(main())
