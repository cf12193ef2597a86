#!/usr/bin/env python3
"""Each N2D stage of gpun2d against its usual alternative: same input, same run, same machine.

  trainer   gpun2d.training.train_autoencoder (data resident on the device, fused Adam,
            one host sync per epoch, TF32 on CUDA) vs the plain eager PyTorch loop most code
            uses (DataLoader over host tensors, a copy and a .item() per batch; written below)
  manifold  cuML UMAP vs umap-learn on the same autoencoder embedding
  mixture   gpun2d's GaussianMixture on the device's tensors vs scikit-learn on NumPy
  scaling   every stage at each of --sizes (nested seeded subsets of one dataset)

On a machine without a usable GPU everything runs on the CPU and the cuML comparison is
skipped with a note. Figures are printed and written to --out (JSON); nothing is asserted.

  python benchmarks/stages.py --dataset fashion --sizes 10000,35000,70000 --epochs 5
  python benchmarks/stages.py --dataset digits --sizes 300,1797 --epochs 1 --device cpu --out stages.json
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from types import SimpleNamespace

import click
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import gpun2d  # noqa: F401  (switches SciPy's array API on before SciPy loads: GMM on CUDA tensors)
from gpun2d import datasets, defaults
from gpun2d.autoencoder import AutoEncoder, encode
from gpun2d.benchmarking import machine_info
from gpun2d.benchmarking.timing import print_context, save_report, timed
from gpun2d.cli import options
from gpun2d.cli.errors import Command, run_script
from gpun2d.devices import Device, DeviceType, cuda_problem, resolve_device
from gpun2d.handoff import to_numpy
from gpun2d.manifold import UMAPParams, make_manifold
from gpun2d.mixture import GaussianMixture
from gpun2d.report import command_line, now_iso
from gpun2d.training import TrainOptions, train_autoencoder

STAGES = ("trainer", "manifold", "mixture")


def _sizes(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        sizes = sorted({int(s) for s in value.split(",") if s.strip()})
    except ValueError:
        raise click.BadParameter(f"comma-separated integers, e.g. 300,1797; got {value!r}") from None
    if not sizes or min(sizes) < 30:
        raise click.BadParameter("name at least one size, each >= 30 (UMAP uses 20 neighbours)")
    return sizes


def eager_dataloader_loop(model: AutoEncoder, X_host: torch.Tensor, epochs: int, batch_size: int, lr: float,
                          seed: int) -> list[float]:
    """The baseline: the training loop of most PyTorch code, eager and unfused.

    A shuffling DataLoader over host memory, each batch copied to the model's
    device, Adam's default kernels, and ``loss.item()`` (a host sync) per step.
    """
    device = next(model.parameters()).device
    loader = DataLoader(TensorDataset(X_host), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(epochs):
        total = 0.0
        for (xb,) in loader:
            xb = xb.to(device)
            optimizer.zero_grad()
            loss = F.mse_loss(model(xb), xb)
            loss.backward()
            optimizer.step()
            total += loss.item() * xb.shape[0]
        losses.append(total / len(X_host))
    return losses


def compare_trainers(X: np.ndarray, n_clusters: int, args, device: Device) -> tuple[dict, AutoEncoder]:
    """Both loops from the same initial weights for ``args.epochs`` epochs; returns the row and gpun2d's model."""
    torch.manual_seed(args.seed)
    model = AutoEncoder(X.shape[1], n_clusters).to(device.torch)
    baseline = copy.deepcopy(model)
    X_host = torch.from_numpy(X)
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    losses_base, base_s = timed(lambda: eager_dataloader_loop(baseline, X_host, args.epochs, args.batch_size,
                                                              args.lr, args.seed), device.torch)
    train_options = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, compile=args.compile,
                                 cuda_graphs=args.cuda_graphs, bf16=args.bf16)
    try:  # the host-to-device copy of X counts: the baseline pays its copies batch by batch
        history, ours_s = timed(lambda: train_autoencoder(model, X_host.to(device.torch), train_options,
                                                          seed=args.seed), device.torch)
    finally:  # gpun2d turns TF32 on for CUDA; later baselines run with PyTorch's defaults again
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    epochs = max(args.epochs, 1)
    row = {
        "stage": "trainer",
        "gpun2d": {"what": "gpun2d train_autoencoder", "seconds": ours_s, "seconds_per_epoch": ours_s / epochs,
                   "final_loss": history.losses[-1] if history.losses else None},
        "alternative": {"what": "eager DataLoader loop", "seconds": base_s, "seconds_per_epoch": base_s / epochs,
                        "final_loss": losses_base[-1] if losses_base else None},
    }
    return row, model


def compare_manifolds(Z: torch.Tensor, n_clusters: int, args, device: Device, cuml_skip: str | None):
    """cuML UMAP (when usable) vs umap-learn on the same embedding; returns the row and an embedding."""
    params = UMAPParams(n_components=n_clusters)
    cpu = Device(DeviceType.CPU)
    learn_out, learn_s = timed(lambda: make_manifold(params, cpu, random_state=args.seed).fit_transform(Z.cpu()),
                               torch.device("cpu"))
    row = {"stage": "manifold", "alternative": {"what": "umap-learn", "seconds": learn_s}}
    if cuml_skip is None:
        cuml_out, cuml_s = timed(lambda: make_manifold(params, device, random_state=args.seed).fit_transform(Z),
                                 device.torch)
        row["gpun2d"] = {"what": "cuML UMAP", "seconds": cuml_s}
        return row, cuml_out
    row["gpun2d"] = {"what": "cuML UMAP", "seconds": None}
    row["skipped"] = cuml_skip
    return row, learn_out.to(device.torch)


def compare_mixtures(E: torch.Tensor, n_clusters: int, args, device: Device) -> dict:
    """gpun2d's mixture on the device's tensor vs scikit-learn on a NumPy copy, same restarts."""
    from sklearn.mixture import GaussianMixture as SKGaussianMixture

    ours, ours_s = timed(lambda: GaussianMixture(n_clusters, n_init=args.cluster_n_init,
                                                 random_state=args.seed).fit(E), device.torch)
    E_host = to_numpy(E).astype(np.float64)
    theirs, theirs_s = timed(lambda: SKGaussianMixture(n_clusters, covariance_type="full", n_init=args.cluster_n_init,
                                                       random_state=args.seed).fit(E_host), torch.device("cpu"))
    return {
        "stage": "mixture",
        "gpun2d": {"what": f"gpun2d GaussianMixture ({device.torch.type} tensors)", "seconds": ours_s,
                   "lower_bound": ours.lower_bound_},
        "alternative": {"what": "scikit-learn GaussianMixture (NumPy)", "seconds": theirs_s,
                        "lower_bound": float(theirs.lower_bound_)},
    }


def run(args) -> dict:
    """Every comparison at every size; returns the JSON report."""
    device = resolve_device(args.device)
    cuml_skip = None
    if not device.is_cuda:
        reason = "--device cpu was given" if args.device == "cpu" else cuda_problem()
        cuml_skip = (f"cuML UMAP skipped: it needs a CUDA GPU and RAPIDS cuML, and this run is on the CPU "
                     f"({reason}); only umap-learn was timed")
    X_all, _ = datasets.load(args.dataset, data_dir=args.data_dir, download=not args.no_download,
                             engine="cudf" if device.is_cuda else "pandas")
    n_clusters = datasets.n_classes(args.dataset)
    order = np.random.default_rng(args.seed).permutation(X_all.shape[0])
    notes = [
        "speed-up = alternative seconds / gpun2d seconds (above 1: gpun2d is faster).",
        ("trainer: gpun2d includes copying X to the device; its TF32 (CUDA) is part of what is compared, "
         "the baseline runs with PyTorch's defaults."),
        "manifold: both UMAPs are seeded as gpun2d seeds them (umap-learn then runs single-threaded).",
    ]
    if cuml_skip:
        notes.append(cuml_skip + ".")
    if max(args.sizes) > X_all.shape[0]:
        notes.append(f"{args.dataset} has {X_all.shape[0]:,} samples; larger sizes were cut to that.")
    sizes = sorted({min(n, X_all.shape[0]) for n in args.sizes})

    if args.warmup:  # untimed: numba JIT, CUDA and cuML start-up
        warm = np.ascontiguousarray(X_all[order[: min(300, X_all.shape[0])]])
        warm_args = SimpleNamespace(**{**vars(args), "epochs": 1, "cluster_n_init": 1})
        _, model = compare_trainers(warm, n_clusters, warm_args, device)
        _, E = compare_manifolds(encode(model, torch.from_numpy(warm).to(device.torch)), n_clusters, warm_args,
                                 device, cuml_skip)
        compare_mixtures(E, n_clusters, warm_args, device)

    comparisons = []
    for n in sizes:
        X = np.ascontiguousarray(X_all[np.sort(order[:n])])
        row, model = compare_trainers(X, n_clusters, args, device)
        Z = encode(model, torch.from_numpy(X).to(device.torch))
        manifold_row, E = compare_manifolds(Z, n_clusters, args, device, cuml_skip)
        rows = [row, manifold_row, compare_mixtures(E, n_clusters, args, device)]
        for r in rows:
            ours, theirs = r["gpun2d"]["seconds"], r["alternative"]["seconds"]
            r.update(n=n, speedup=theirs / ours if ours and theirs else None, skipped=r.get("skipped"))
            print_row(r)
        comparisons += rows
    return {
        "created": now_iso(),
        "command": command_line(),
        "device": {"requested": args.device, "resolved": str(device), "name": device.describe()},
        "machine": machine_info(device),
        "settings": {"dataset": args.dataset, "sizes": sizes, "epochs": args.epochs, "batch_size": args.batch_size,
                     "lr": args.lr, "cluster_n_init": args.cluster_n_init, "seed": args.seed,
                     "n_clusters": n_clusters, "compile": args.compile, "cuda_graphs": args.cuda_graphs,
                     "bf16": args.bf16, "warmup": args.warmup},
        "notes": notes,
        "comparisons": comparisons,
        "scaling": scaling(comparisons),
    }


def scaling(comparisons: list[dict]) -> dict:
    """Seconds of each stage as it runs on this device, by n (trainer: per epoch)."""
    table: dict = {stage: {} for stage in STAGES}
    for row in comparisons:
        side = row["gpun2d"] if row["gpun2d"]["seconds"] is not None else row["alternative"]
        table[row["stage"]][str(row["n"])] = side.get("seconds_per_epoch", side["seconds"])
    return table


def _seconds(side: dict) -> str:
    if side["seconds"] is None:
        return "skipped"
    if "seconds_per_epoch" in side:
        return f"{side['seconds_per_epoch']:.3f} s/epoch"
    return f"{side['seconds']:.3f} s"


def print_row(row: dict) -> None:
    speedup = f"{row['speedup']:.1f}x" if row["speedup"] is not None else "-"
    print(f"n={row['n']:>7,}  {row['stage']:<8}  {row['gpun2d']['what']}: {_seconds(row['gpun2d'])}"
          f"  |  {row['alternative']['what']}: {_seconds(row['alternative'])}  |  speed-up {speedup}", flush=True)


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100,
                                             "default_map": {"epochs": 5, "cluster_n_init": 10}})
@click.option("--dataset", "-d", metavar="NAME", default="fashion", show_default=True,
              help="Dataset to subsample (see `gpun2d datasets`).")
@click.option("--sizes", metavar="N,N,...", default="10000,35000,70000", show_default=True, callback=_sizes,
              help="Sample counts: nested seeded subsets of the dataset, each >= 30.")
@options.epochs
@options.batch_size
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=defaults.LR, show_default=True,
              help="Adam learning rate, both trainers.")
@options.cluster_n_init
@options.device
@options.data_dir
@options.no_download
@options.seed
@options.trainer
@click.option("--warmup/--no-warmup", default=True, show_default=True,
              help="Run every comparison once on 300 rows, untimed, so JIT, CUDA and cuML start-up stay out of "
                   "the first size.")
@options.report_file("stages")
def command(random_state: int, out: Path | None, **settings) -> int:
    """Each N2D stage of gpun2d against its usual alternative: same input, same run, same machine.

    trainer: gpun2d's train_autoencoder (--compile, --cuda-graphs and --bf16
    apply to it) vs an eager DataLoader loop; manifold: cuML UMAP vs
    umap-learn; mixture: gpun2d's GaussianMixture on the device's tensors vs
    scikit-learn on NumPy (--cluster-n-init restarts, both sides). Without a
    usable GPU the cuML comparison is skipped with a note. Prints the figures
    and writes them to --out; nothing is asserted. Examples:

    \b
      python benchmarks/stages.py --dataset fashion --sizes 10000,35000,70000 --epochs 5
      python benchmarks/stages.py --dataset digits --sizes 300,1797 --epochs 1 --device cpu --out stages.json
    """
    args = SimpleNamespace(seed=random_state, **settings)
    result = run(args)
    print_context(result)
    print("scaling (seconds on this device; trainer per epoch): "
          + "; ".join(f"{stage} " + ", ".join(f"{n}: {s:.3g}" for n, s in by_n.items())
                      for stage, by_n in result["scaling"].items()))
    save_report(result, out, "stages")  # a reader never sees half a file
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the script on ``argv`` (default: the command line); returns the exit status."""
    return run_script(command, argv, Path(__file__).name)


if __name__ == "__main__":
    sys.exit(main())
