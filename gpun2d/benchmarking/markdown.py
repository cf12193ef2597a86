"""The benchmark report: ``bench.md`` (Table III layout) beside ``bench.json``."""

from __future__ import annotations

from pathlib import Path

from ..outputs import ResultFolder
from ..report import BENCH_FILES, write_json
from .machine import describe_machine

COLUMNS = (
    "dataset", "n × d", "AE (min)", "manifold (min)", "cluster (min)", "total (min)",
    "paper AE + manifold (min)", "speed-up AE / manifold / total", "ACC", "NMI", "paper ACC / NMI",
)


def write_report(result: dict, out: str | Path | ResultFolder, overwrite: bool = False) -> Path:
    """Write ``bench.json`` and ``bench.md`` into ``out``; the folder appears only when both are complete.

    ``out`` may be a :class:`~gpun2d.outputs.ResultFolder` reserved before the benchmark ran.
    """
    if not isinstance(out, ResultFolder):
        with ResultFolder(out, BENCH_FILES, overwrite=overwrite) as target:
            return write_report(result, target)
    with out.staging() as folder:
        write_json(result, folder / "bench.json")
        (folder / "bench.md").write_text(render_markdown(result), encoding="utf-8")
    return out.out


def plural(count: int, noun: str) -> str:
    """``1 epoch``, ``2 epochs``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def render_markdown(result: dict) -> str:
    """Table III as Markdown: our minutes per stage, the paper's, the speed-up, ACC/NMI."""
    settings = result["settings"]
    repeats = settings["repeats"]
    lines = [
        "# gpun2d benchmark: N2D minutes per stage (the paper's Table III)",
        "",
        f"Machine: {describe_machine(result['machine'])}.  ",
        f"Device: {result['device']['name']}; backends: "
        + ", ".join(f"{k} {v}" for k, v in result["device"]["backends"].items()) + ".  ",
        f"Settings: {plural(settings['epochs'], 'epoch')} (paper: {result['paper']['epochs']}), "
        f"batch {settings['batch_size']}, UMAP 20 neighbours / min_dist 0 / dimension = clusters, "
        f"Gaussian mixture with {plural(settings['cluster_n_init'], 'restart')}, seed {settings['random_state']}, "
        + (f"median (min–max) of {repeats} runs" if repeats > 1 else "1 run")
        + (", after an untimed warm-up fit" if settings.get("warmup") else ", no warm-up")
        + (f", subsets of at most {settings['max_samples']:,} samples" if settings.get("max_samples") else "")
        + (", bf16" if settings.get("bf16") else "") + (", CUDA graphs" if settings.get("cuda_graphs") else "")
        + (", torch.compile" if settings.get("compile") else "") + ".",
        "",
    ]
    if not result["comparable_to_paper"]:
        lines += [(f"> **Not comparable to the paper:** {_why_not(settings, result['paper']['epochs'])}, so "
                   "these timings and speed-ups only show the report's format; use `--epochs 1000` on whole "
                   "datasets to compare with Table III."), ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += [_row(row, repeats) for row in result["datasets"]]
    lines += [
        "",
        (f"Minutes are wall-clock time of each stage of `N2D.fit` (data loading excluded). Our total is "
         f"AE + manifold + cluster; the paper's (McConville et al. 2019, Table III, {result['paper']['gpu']}) "
         "is AE + manifold only, so the total speed-up is conservative. Speed-up = paper minutes / our minutes."),
        "",
    ]
    return "\n".join(lines)


def _why_not(settings: dict, paper_epochs: int) -> str:
    reasons = []
    if settings["epochs"] != paper_epochs:
        reasons.append(f"the autoencoder trained {settings['epochs']} epochs, not the paper's {paper_epochs}")
    if settings["batch_size"] != 256:
        reasons.append(f"batch {settings['batch_size']}, not 256")
    if settings.get("max_samples"):
        reasons.append(f"datasets cut to at most {settings['max_samples']:,} samples")
    if settings.get("bf16"):
        reasons.append("bf16 training")
    return "; ".join(reasons)


def _row(row: dict, repeats: int) -> str:
    minutes, scores, paper, speedup = row["minutes"], row["scores"], row["paper"], row["speedup"]
    cells = [row["dataset"], f"{row['n_samples']:,} × {row['n_features']}"]
    cells += [_spread(minutes[stage], repeats, _minutes) for stage in ("autoencoder", "manifold", "cluster", "total")]
    if paper is not None:
        cells.append(f"{paper['autoencoder_min']:g} + {paper['manifold_min']:g} = {paper['total_min']:g}")
        cells.append(" / ".join(_times(speedup[stage]) for stage in ("autoencoder", "manifold", "total")))
    else:
        cells += ["—", "—"]
    cells += [_spread(scores[key], repeats, lambda v: f"{v:.3f}") for key in ("acc", "nmi")]
    cells.append(f"{paper['acc']:.3f} / {paper['nmi']:.3f}" if paper is not None else "—")
    return "| " + " | ".join(cells) + " |"


def _spread(stats: dict, repeats: int, fmt) -> str:
    if repeats > 1:
        return f"{fmt(stats['median'])} ({fmt(stats['min'])}–{fmt(stats['max'])})"
    return fmt(stats["median"])


def _minutes(value: float) -> str:
    return f"{value:.2f}" if value >= 0.995 else f"{value:.3f}"


def _times(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}×" if value >= 1 else f"{value:.2f}×"
