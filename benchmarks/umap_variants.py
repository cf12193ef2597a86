#!/usr/bin/env python3
"""cuML UMAP's k-NN and initialisation choices, by time and by clustering quality, on one embedding.

The autoencoder is trained once (or loaded with --ae-weights); every variant then maps the same
embedding with UMAP for each seed, and the same mixture (gpun2d's GaussianMixture, --cluster-n-init
restarts) clusters the result. Per variant it reports UMAP seconds and ACC/NMI against the labels,
beside umap-learn on the same embedding as the reference. This is the evidence behind gpun2d's
cuML defaults (build_algo brute_force_knn, spectral init): rerun it when cuML changes.

Variants (name = build_algo / init / knn source):
  brute_force_knn   cuML's exact k-NN inside UMAP (gpun2d's default)
  nn_descent        cuML's approximate NN-descent graph (does not honour random_state)
  exact-graph       an exact graph from cuml.neighbors.NearestNeighbors passed as knn_graph
  pca-init          brute_force_knn with a PCA starting layout instead of the spectral one
  random-init       brute_force_knn with a random starting layout

On a machine without a usable GPU only the umap-learn reference runs and the cuML variants are
listed as skipped. Figures are printed and written to --out (JSON); nothing is asserted.

  python benchmarks/umap_variants.py --dataset mnist-test --epochs 100 --seeds 0,1,2
  python benchmarks/umap_variants.py --dataset digits --epochs 1 --seeds 0 --device cpu --out v.json
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from types import SimpleNamespace

import click
import numpy as np
import torch

import gpun2d  # noqa: F401  (switches SciPy's array API on before SciPy loads: GMM on CUDA tensors)
from gpun2d import datasets, registry
from gpun2d.autoencoder import AutoEncoder, encode, load_autoencoder
from gpun2d.benchmarking import machine_info
from gpun2d.benchmarking.timing import print_context, save_report, timed
from gpun2d.cli import options
from gpun2d.cli.errors import Command, run_script
from gpun2d.devices import Device, DeviceType, cuda_problem, resolve_device
from gpun2d.handoff import to_numpy
from gpun2d.manifold import UMAPParams, make_manifold
from gpun2d.metrics import evaluate
from gpun2d.mixture import GaussianMixture
from gpun2d.report import command_line, now_iso
from gpun2d.training import TrainOptions, train_autoencoder

#: variant name -> UMAPParams fields that differ from gpun2d's defaults
VARIANTS = {
    "brute_force_knn": {},
    "nn_descent": {"build_algo": "nn_descent"},
    "exact-graph": {"knn": "exact"},
    "pca-init": {"init": "pca"},
    "random-init": {"init": "random"},
}
REFERENCE = "umap-learn"


def _seeds(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        seeds = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"comma-separated integers, e.g. 0,1,2; got {value!r}") from None
    if not seeds:
        raise click.BadParameter("name at least one seed, e.g. --seeds 0")
    return seeds


def _variants(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise click.BadParameter(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    return names


def embed(X, n_clusters: int, args, device: Device) -> tuple[torch.Tensor, dict]:
    """The autoencoder embedding of X on the device, training once unless --ae-weights is given."""
    X_t = torch.from_numpy(X).to(device.torch)
    if args.ae_weights:
        model = load_autoencoder(args.ae_weights, device=device.torch)
        return encode(model, X_t), {"ae_weights": str(args.ae_weights)}
    torch.manual_seed(args.seeds[0])
    model = AutoEncoder(X.shape[1], n_clusters).to(device.torch)
    history, seconds = timed(lambda: train_autoencoder(model, X_t, TrainOptions(epochs=args.epochs),
                                                       seed=args.seeds[0]), device.torch)
    return encode(model, X_t), {"epochs": args.epochs, "seconds": seconds,
                                "final_loss": history.losses[-1] if history.losses else None}


def run_variant(Z: torch.Tensor, y, n_clusters: int, params: UMAPParams, device: Device, seed: int,
                n_init: int) -> dict:
    """UMAP with ``params`` on ``device`` then the mixture; seconds of each and the scores."""
    manifold = make_manifold(params, device, random_state=seed)
    E, umap_s = timed(lambda: manifold.fit_transform(Z), device.torch)
    mixture = GaussianMixture(n_clusters, n_init=n_init, random_state=seed)
    labels, gmm_s = timed(lambda: mixture.fit_predict(E), device.torch)
    scores = evaluate(y, to_numpy(labels))
    return {"seed": seed, "umap_seconds": umap_s, "mixture_seconds": gmm_s,
            "lower_bound": mixture.lower_bound_, **scores}


def summary(runs: list[dict]) -> dict:
    """Mean, min and max of each figure over the seeds."""
    keys = ("umap_seconds", "mixture_seconds", "acc", "nmi", "ari")
    return {k: {"mean": statistics.fmean(r[k] for r in runs), "min": min(r[k] for r in runs),
                "max": max(r[k] for r in runs)} for k in keys}


def run(args) -> dict:
    device = resolve_device(args.device)
    cuml_skip = None
    if not device.is_cuda:
        reason = "--device cpu was given" if args.device == "cpu" else cuda_problem()
        cuml_skip = f"cuML variants skipped: they need a CUDA GPU and RAPIDS cuML ({reason})"
    X, y = datasets.load(args.dataset, data_dir=args.data_dir, download=not args.no_download,
                         engine="cudf" if device.is_cuda else "pandas")
    if y is None:
        raise click.BadParameter(f"{args.dataset} has no labels to score the variants against; pick a dataset "
                                 "with labels", param_hint="--dataset")
    if args.max_samples is not None and args.max_samples < X.shape[0]:
        keep = np.sort(np.random.default_rng(args.seeds[0]).permutation(X.shape[0])[: args.max_samples])
        X, y = np.ascontiguousarray(X[keep]), y[keep]
    n_clusters = datasets.n_classes(args.dataset)
    Z, autoencoder = embed(X, n_clusters, args, device)

    rows = []
    plan = [] if args.no_reference else [(REFERENCE, {}, Device(DeviceType.CPU))]
    plan += [(name, VARIANTS[name], device) for name in args.variants]
    for name, changes, where in plan:
        if name != REFERENCE and cuml_skip:
            rows.append({"variant": name, "params": changes, "skipped": cuml_skip})
            continue
        params = UMAPParams(n_components=n_clusters, **changes)
        runs = [run_variant(Z.to(where.torch), y, n_clusters, params, where, seed, args.cluster_n_init)
                for seed in args.seeds]
        rows.append({"variant": name, "params": changes, "backend": registry.backends(where.type.value)["manifold"],
                     "runs": runs, "summary": summary(runs), "skipped": None})
        print_row(rows[-1])
    return {
        "created": now_iso(),
        "command": command_line(),
        "device": {"requested": args.device, "resolved": str(device), "name": device.describe()},
        "machine": machine_info(device),
        "settings": {"dataset": args.dataset, "n_samples": int(X.shape[0]), "n_clusters": n_clusters,
                     "seeds": args.seeds, "max_samples": args.max_samples, "cluster_n_init": args.cluster_n_init,
                     "variants": args.variants, "reference": not args.no_reference},
        "autoencoder": autoencoder,
        "notes": [cuml_skip] if cuml_skip else [],
        "variants": rows,
    }


def print_row(row: dict) -> None:
    s = row["summary"]
    print(f"{row['variant']:<16} UMAP {s['umap_seconds']['mean']:8.2f} s   "
          f"ACC {s['acc']['mean']:.3f} ({s['acc']['min']:.3f}-{s['acc']['max']:.3f})   "
          f"NMI {s['nmi']['mean']:.3f} ({s['nmi']['min']:.3f}-{s['nmi']['max']:.3f})", flush=True)


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100,
                                             "default_map": {"epochs": 100, "cluster_n_init": 10}})
@click.option("--dataset", "-d", metavar="NAME", default="mnist-test", show_default=True,
              help="A dataset with labels (see `gpun2d datasets`).")
@options.epochs
@click.option("--ae-weights", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Reuse a trained autoencoder (autoencoder.pt of an earlier run) instead of training.")
@click.option("--seeds", metavar="S,S,...", default="0,1,2", show_default=True, callback=_seeds,
              help="UMAP and mixture seeds; each variant runs once per seed (the first also seeds the autoencoder).")
@click.option("--variants", metavar="NAME,...", default=",".join(VARIANTS), show_default=True, callback=_variants,
              help="cuML variants to run.")
@click.option("--no-reference", is_flag=True, help=f"Skip {REFERENCE} (slow on large data).")
@click.option("--max-samples", type=click.IntRange(min=30),
              help="Use a seeded random subset of this many samples (>= 30: UMAP uses 20 neighbours).")
@options.cluster_n_init
@options.device
@options.data_dir
@options.no_download
@options.report_file("umap-variants")
def command(out: Path | None, **settings) -> int:
    """cuML UMAP's k-NN and initialisation choices, by time and by clustering quality, on one embedding.

    The autoencoder is trained once (--epochs) or loaded (--ae-weights);
    every variant then maps that embedding with UMAP for each seed, and
    gpun2d's GaussianMixture (--cluster-n-init restarts) clusters the result.
    Per variant: UMAP seconds and ACC/NMI, beside umap-learn on the same
    embedding. Without a usable GPU only umap-learn runs and the cuML
    variants are listed as skipped. Variants:

    \b
      brute_force_knn   cuML's exact k-NN inside UMAP (gpun2d's default)
      nn_descent        cuML's approximate NN-descent graph (ignores the seed)
      exact-graph       an exact cuml.neighbors.NearestNeighbors graph as knn_graph
      pca-init          brute_force_knn with a PCA starting layout
      random-init       brute_force_knn with a random starting layout

    Examples:

    \b
      python benchmarks/umap_variants.py --dataset mnist-test --epochs 100 --seeds 0,1,2
      python benchmarks/umap_variants.py --dataset digits --epochs 1 --seeds 0 --device cpu --out v.json
    """
    result = run(SimpleNamespace(**settings))
    print_context(result)
    save_report(result, out, "umap-variants")  # a reader never sees half a file
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the script on ``argv`` (default: the command line); returns the exit status."""
    return run_script(command, argv, Path(__file__).name)


if __name__ == "__main__":
    sys.exit(main())
