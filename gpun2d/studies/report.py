"""A study's report, computed from its run records alone: ``study.json``, ``study.md``, ``study.png``.

Spread is the sample standard deviation over seeds (ddof=1). Pairwise ARI
compares the seeds' labelings with one another, so it needs no ground truth:
1.0 means every seed found the same partition.
"""

from __future__ import annotations

import contextlib
from itertools import combinations
from pathlib import Path

import numpy as np

from .. import registry
from ..atomic import atomic_path
from ..report import command_line, now_iso, package_versions, write_json
from ..version import __version__
from . import storage
from .plan import PAPER, StudyConfig
from .storage import REPORT_FILES

METRICS = ("acc", "nmi", "ari")
STAGES = (*registry.STAGE_KEYS, "total")
VARIED = {
    "ae": "the whole pipeline (autoencoder, UMAP and mixture all seeded per run)",
    "manifold": "UMAP and the mixture; one autoencoder, trained with seed {seed}",
    "cluster": "only the clustering, on one autoencoder and UMAP embedding made with seed {seed} (seed s with "
               "r restarts uses clustering seeds s·r to s·r+r−1, so no two seeds share a restart)",
}


def describe(values) -> dict:
    """Mean, sample std (0 for one value), min and max."""
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "min": float(a.min()), "max": float(a.max()), "n": int(a.size)}


def pairwise_ari(labelings: list) -> dict | None:
    """Agreement of every pair of labelings (adjusted Rand index): mean and min; None for one run."""
    from sklearn.metrics import adjusted_rand_score

    scores = [adjusted_rand_score(a, b) for a, b in combinations(labelings, 2)]
    if not scores:
        return None
    return {"mean": float(np.mean(scores)), "min": float(np.min(scores)), "n_pairs": len(scores)}


def build_group(records: list[dict], consensus: dict | None = None) -> dict:
    first = records[0]
    stages = [s for s in STAGES if all(s in r["timings"] for r in records)]
    return {
        "dataset": first["dataset"], "vary": first["vary"], "n_init": first["n_init"],
        "seeds": [r["seed"] for r in records], "n_runs": len(records),
        "paper": PAPER.get(first["dataset"]),
        "metrics": {m: {**describe([r["metrics"][m] for r in records]), "values": [r["metrics"][m] for r in records]}
                    for m in METRICS},
        "pairwise_ari": pairwise_ari([r["labels"] for r in records]),
        "timings": {s: describe([r["timings"][s] for r in records]) for s in stages},
        "runs": [f"runs/{r['run']}.json" for r in records],
        "consensus": consensus,
    }


def group_runs(records: list[dict]) -> dict[tuple[str, int], list[dict]]:
    """The runs of each ``(dataset, restarts)``, in the order they come."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for record in records:
        groups.setdefault((record["dataset"], record["n_init"]), []).append(record)
    return groups


def build_study(records: list[dict], config: StudyConfig, shared: dict | None = None,
                consensus: dict[tuple[str, int], dict] | None = None) -> dict:
    """``study.json``: one group of runs per dataset (and per restart count under --vary cluster).

    ``consensus`` (``--ensemble``) maps each group's ``(dataset, restarts)`` to its consensus labeling's scores.
    """
    groups = group_runs(records)
    devices = sorted({r["device"]["name"] for r in records})
    return {
        "gpun2d": __version__,
        "created": now_iso(),
        "command": command_line(),
        "config": config.as_dict(),
        "device": devices[0] if len(devices) == 1 else devices,
        "versions": package_versions(),
        "std": "sample standard deviation over seeds (ddof=1)",
        "data": {r["dataset"]: r["data"] for r in records},
        "groups": [build_group(group, (consensus or {}).get(key)) for key, group in groups.items()],
        "shared": shared or {},
        "files": list(REPORT_FILES),
    }


# ----------------------------------------------------------------- Markdown
def _pm(stats: dict, digits: int = 3) -> str:
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def _span(stats: dict, digits: int = 3) -> str:
    return f"{stats['min']:.{digits}f}–{stats['max']:.{digits}f}"


def _paper(paper: dict, metric: str) -> str:
    return f"{paper[metric]:.3f}" if metric in paper else "—"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def score_columns() -> list[str]:
    return ["dataset", "restarts", "seeds", "ACC mean ± std", "ACC min–max", "paper ACC", "NMI mean ± std",
            "NMI min–max", "paper NMI", "ARI mean ± std", "ARI min–max", "pairwise ARI mean", "pairwise ARI min"]


def markdown(study: dict) -> str:
    config, groups = study["config"], study["groups"]
    seed = config["seeds"][0]
    lines = [
        f"# gpun2d study: {', '.join(config['datasets'])} (--vary {config['vary']})", "",
        f"{len(config['seeds'])} seeds ({', '.join(map(str, config['seeds']))}) · {config['epochs']} epochs · "
        f"{config['cluster']} · device {study['device']} · gpun2d {study['gpun2d']} · {study['created']}", "",
        f"Varied between seeds: {VARIED[config['vary']].format(seed=seed)}. "
        f"± is the sample standard deviation over seeds; pairwise ARI compares the seeds' labelings with each "
        f"other (no labels needed; 1 = identical clusters).", "",
        f"Command: `{study['command']}`", "",
        "## Scores", "", _row(score_columns()), _row(["---"] * len(score_columns())),
    ]
    for g in groups:
        m, paper, pair = g["metrics"], g["paper"] or {}, g["pairwise_ari"]
        lines.append(_row([
            g["dataset"], g["n_init"], g["n_runs"], _pm(m["acc"]), _span(m["acc"]), _paper(paper, "acc"),
            _pm(m["nmi"]), _span(m["nmi"]), _paper(paper, "nmi"), _pm(m["ari"]), _span(m["ari"]),
            f"{pair['mean']:.3f}" if pair else "—", f"{pair['min']:.3f}" if pair else "—",
        ]))
        if g.get("consensus"):
            c = g["consensus"]["metrics"]
            lines.append(_row([f"{g['dataset']} (consensus of the seeds)", g["n_init"], g["n_runs"], f"{c['acc']:.3f}",
                               "—", _paper(paper, "acc"), f"{c['nmi']:.3f}", "—", _paper(paper, "nmi"),
                               f"{c['ari']:.3f}", "—", "—", "—"]))
    if any(g.get("consensus") for g in groups):
        lines += ["", "Consensus: each seed's clusters matched one to one (Hungarian) to a reference labeling, "
                      "then each row's most frequent cluster; no labels are used. Agreement (share of seeds "
                      "that give a row its consensus cluster): "
                  + "; ".join(f"{g['dataset']} mean {g['consensus']['agreement']['mean']:.3f}, unanimous on "
                              f"{g['consensus']['agreement']['unanimous']:.1%} of rows"
                              for g in groups if g.get("consensus")) + "."]
    stages = [s for s in STAGES if any(s in g["timings"] for g in groups)]
    lines += ["", "## Stage times per run (seconds: mean ± std, min–max)", "",
              _row(["dataset", "restarts", *stages]), _row(["---"] * (2 + len(stages)))]
    for g in groups:
        cells = [f"{_pm(t, 2)} ({_span(t, 2)})" if (t := g["timings"].get(s)) else "—" for s in stages]
        lines.append(_row([g["dataset"], g["n_init"], *cells]))
    for name, meta in (study.get("shared") or {}).items():
        if meta:
            times = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in meta["timings"].items())
            lines.append(f"\nShared by every run on {name} (seed {meta['seed']}, made once): {times}.")
    lines += ["", "Paper: McConville et al. (2019), N2D, Table 2 (single runs). Runs: `runs/*.json`.", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------- figure
def figure(study: dict, path: Path) -> Path:
    """One panel per metric; one point per seed for every group, the paper's figure as a red line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = study["groups"]
    several = len({g["dataset"] for g in groups}) < len(groups)
    names = [f"{g['dataset']}\n{g['n_init']} restart{'s' * (g['n_init'] != 1)}" if several else g["dataset"]
             for g in groups]
    seeds = sorted({s for g in groups for s in g["seeds"]})
    colours = {s: plt.cm.tab10(i % 10) for i, s in enumerate(seeds)}
    width = min(24, max(9, 1.1 * len(groups) * len(METRICS)))
    fig, axes = plt.subplots(1, len(METRICS), figsize=(width, 4), squeeze=False)
    for ax, metric in zip(axes[0], METRICS, strict=True):
        legend = paper_label = metric == "acc"  # labels once, in the first panel
        for x, g in enumerate(groups):
            values = g["metrics"][metric]["values"]
            offsets = np.linspace(-0.2, 0.2, len(values)) if len(values) > 1 else [0.0]
            for dx, seed, value in zip(offsets, g["seeds"], values, strict=True):
                label = f"seed {seed}" if legend and x == 0 and len(seeds) <= 10 else None
                ax.scatter(x + dx, value, color=colours[seed], s=28, zorder=3, label=label)
            ax.hlines(g["metrics"][metric]["mean"], x - 0.3, x + 0.3, colors="black", linewidth=1,
                      label="mean" if legend and x == 0 else None)
            if g["paper"] and metric in g["paper"]:
                ax.hlines(g["paper"][metric], x - 0.4, x + 0.4, colors="tab:red", linestyles="--",
                          label="paper" if paper_label else None)
                paper_label = False
        ax.set_xticks(range(len(groups)), names)
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_title(metric.upper())
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize="small", loc="best")
    config = study["config"]
    fig.suptitle(f"gpun2d study (--vary {config['vary']}, {config['epochs']} epochs, {len(config['seeds'])} seeds)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def write_reports(study: dict, out: Path) -> None:
    """Rewrite study.json, study.md and study.png in ``out`` as a set.

    All three are written to temporary files first and renamed into place only
    when the last is complete, so a job stopped while writing keeps the earlier
    report whole (or leaves none), never a mix.
    """
    out = Path(out)
    with contextlib.ExitStack() as stack:
        staged = {name: stack.enter_context(atomic_path(out / name)) for name in REPORT_FILES}
        write_json(study, staged["study.json"])
        storage.save_text(markdown(study), staged["study.md"])
        figure(study, staged["study.png"])
