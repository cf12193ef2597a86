#!/usr/bin/env python3
"""The GPU path's speed targets, measured in one run and reported as met or not.

  autoencoder      training 70,000 x 784 for 1000 epochs             <= 60 s
  umap+gmm         UMAP then the mixture on the 70,000 x c embedding  <= 10 s
  umap speed-up    umap-learn seconds / cuML UMAP seconds, same input  >= 30
  gmm speed-up     scikit-learn on NumPy / gpun2d on CUDA tensors      >= 5

A target counts as met or missed only on a CUDA run at its own size (70,000 samples; 1000 epochs
for the autoencoder); any other run still prints and saves every figure, with `met` left empty.
`--rows` repeats a smaller dataset's rows up to that many samples (e.g. mnist-test to 70,000)
when the full one is not at hand: timings then hold for that size, scores do not.
`--stages` measures only some stages (autoencoder, umap, mixture; default all) and judges only their
targets; without umap the mixture runs on the autoencoder's code (same shape), and a run without umap
needs no cuML: `--device cuda` then takes any CUDA GPU that torch sees.

  python benchmarks/targets.py --dataset mnist --cuda-graphs
  python benchmarks/targets.py --dataset mnist-test --rows 70000 --data-dir data/mnist
  python benchmarks/targets.py --dataset digits --epochs 2 --device cpu --out targets.json
  python benchmarks/targets.py --dataset mnist-test --rows 70000 --stages autoencoder,mixture --device cuda
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import click
import numpy as np
import torch

import gpun2d  # noqa: F401  (switches SciPy's array API on before SciPy loads: GMM on CUDA tensors)
from gpun2d import datasets
from gpun2d.autoencoder import AutoEncoder, encode
from gpun2d.benchmarking import machine_info
from gpun2d.benchmarking.timing import print_context, save_report, timed
from gpun2d.cli import options
from gpun2d.cli.errors import Command, run_script
from gpun2d.devices import Device, DeviceType, cuml_import_error, resolve_device
from gpun2d.handoff import to_numpy
from gpun2d.manifold import UMAPParams, make_manifold
from gpun2d.metrics import evaluate
from gpun2d.mixture import GaussianMixture
from gpun2d.report import command_line, now_iso
from gpun2d.training import TrainOptions, train_autoencoder

TARGET_ROWS = 70_000
#: the stages --stages may name, in the order they run
STAGES = ("autoencoder", "umap", "mixture")
#: name -> (comparison, bar, what)
TARGETS = {
    "autoencoder_seconds": ("<=", 60.0, "autoencoder, 70,000 x d, 1000 epochs (s)"),
    "umap_gmm_seconds": ("<=", 10.0, "UMAP + GMM on the 70,000 x c embedding (s)"),
    "umap_speedup": (">=", 30.0, "umap-learn / cuML UMAP, same input"),
    "gmm_speedup": (">=", 5.0, "scikit-learn on NumPy / gpun2d on device tensors"),
}
#: target -> the stages it needs
NEEDS = {
    "autoencoder_seconds": {"autoencoder"},
    "umap_gmm_seconds": {"umap", "mixture"},
    "umap_speedup": {"umap"},
    "gmm_speedup": {"mixture"},
}


def parse_stages(text: str | None) -> tuple[str, ...]:
    """``"autoencoder,mixture"`` -> the named stages in run order; ValueError on an unknown or empty list."""
    if text is None:
        return STAGES
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(names - set(STAGES))
    if unknown or not names:
        raise ValueError(f"unknown stage{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"choose a comma list among {', '.join(STAGES)}" if unknown
                         else f"name at least one stage among {', '.join(STAGES)}")
    return tuple(stage for stage in STAGES if stage in names)


def stages_option(ctx, param, value):
    try:
        return parse_stages(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def load(args, device: Device) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """The dataset, its rows repeated up to --rows when asked."""
    # cuDF comes with cuML: a torch-only GPU machine parses text tables with pandas
    cudf = device.is_cuda and cuml_import_error() is None
    X, y = datasets.load(args.dataset, data_dir=args.data_dir, download=not args.no_download,
                         engine="cudf" if cudf else "pandas")
    info = {"dataset": args.dataset, "n_original": int(X.shape[0]), "repeated": False}
    if args.rows is not None and args.rows != X.shape[0]:
        take = np.arange(args.rows) % X.shape[0]
        X, y = np.ascontiguousarray(X[take]), (y[take] if y is not None else None)
        info["repeated"] = args.rows > info["n_original"]
    info.update(n_samples=int(X.shape[0]), n_features=int(X.shape[1]))
    return X, y, info


def warm_up(X_small: torch.Tensor, n_clusters: int, params: UMAPParams, train_options: TrainOptions,
            device: Device, args) -> None:
    """Every chosen step once on a small slice, untimed: JIT compilation and library start-up."""
    model = AutoEncoder(X_small.shape[1], n_clusters).to(device.torch)
    if "autoencoder" in args.stages:
        train_autoencoder(model, X_small, TrainOptions(**{**vars(train_options), "epochs": 1}), seed=args.seed)
    Z = encode(model, X_small)
    E = make_manifold(params, device, random_state=args.seed).fit_transform(Z) if "umap" in args.stages else Z
    if "mixture" in args.stages:
        GaussianMixture(n_clusters, n_init=1, random_state=args.seed).fit(E)
    if not args.no_reference and device.is_cuda and "umap" in args.stages:
        make_manifold(params, Device(DeviceType.CPU), random_state=args.seed).fit_transform(Z.cpu())


def verdict(name: str, value: float | None, comparable: bool) -> dict:
    comparison, bar, what = TARGETS[name]
    met = None
    if value is not None and comparable:
        met = value <= bar if comparison == "<=" else value >= bar
    return {"what": what, "value": value, "target": f"{comparison} {bar:g}", "met": met}


def run(args) -> dict:
    chosen = args.stages
    # UMAP on CUDA is cuML's; the autoencoder and the (batched) mixture run on torch alone
    device = resolve_device(args.device, need_cuml="umap" in chosen)
    cpu = Device(DeviceType.CPU)
    X, y, data = load(args, device)
    n_clusters = datasets.n_classes(args.dataset)
    X_t = torch.from_numpy(X).to(device.torch)

    train_options = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, compile=args.compile,
                                 cuda_graphs=args.cuda_graphs, bf16=args.bf16)
    params = UMAPParams(n_components=n_clusters)
    if args.warmup:
        warm_up(X_t[: min(300, X.shape[0])], n_clusters, params, train_options, device, args)
    torch.manual_seed(args.seed)
    model = AutoEncoder(X.shape[1], n_clusters).to(device.torch)
    stages: dict[str, float] = {}
    history = None
    if "autoencoder" in chosen:
        history, stages["autoencoder"] = timed(lambda: train_autoencoder(model, X_t, train_options, seed=args.seed),
                                               device.torch)
    Z = encode(model, X_t)  # an untrained (seeded) encoder's code when the autoencoder is not measured

    E = Z
    if "umap" in chosen:
        E, stages["umap"] = timed(lambda: make_manifold(params, device, random_state=args.seed).fit_transform(Z),
                                  device.torch)
    labels = None
    if "mixture" in chosen:
        mixture = GaussianMixture(n_clusters, n_init=args.cluster_n_init, random_state=args.seed)
        labels, stages["gmm"] = timed(lambda: mixture.fit_predict(E), device.torch)

    reference = None
    if not args.no_reference and ({"umap", "mixture"} & set(chosen)):
        reference = {}
        if "umap" in chosen:
            _, reference["umap_learn"] = timed(
                lambda: make_manifold(params, cpu, random_state=args.seed).fit_transform(Z.cpu()), "cpu")
        if "mixture" in chosen:
            from sklearn.mixture import GaussianMixture as SKGaussianMixture

            E_host = to_numpy(E).astype(np.float64)
            _, reference["sklearn_gmm"] = timed(
                lambda: SKGaussianMixture(n_clusters, covariance_type="full", n_init=args.cluster_n_init,
                                          random_state=args.seed).fit(E_host), "cpu")

    full_size = device.is_cuda and data["n_samples"] == TARGET_ROWS
    values = {
        "autoencoder_seconds": (stages.get("autoencoder"), full_size and args.epochs == 1000),
        "umap_gmm_seconds": (stages.get("umap", 0.0) + stages.get("gmm", 0.0), full_size),
        "umap_speedup": (reference and reference.get("umap_learn") and reference["umap_learn"] / stages["umap"],
                         full_size),
        "gmm_speedup": (reference and reference.get("sklearn_gmm") and reference["sklearn_gmm"] / stages["gmm"],
                        full_size),
    }
    targets = {name: verdict(name, value or None, comparable)
               for name, (value, comparable) in values.items() if NEEDS[name] <= set(chosen)}
    return {
        "created": now_iso(),
        "command": command_line(),
        "device": {"requested": args.device, "resolved": str(device), "name": device.describe()},
        "machine": machine_info(device),
        "settings": {"warmup": args.warmup, "epochs": args.epochs, "batch_size": args.batch_size,
                     "cluster_n_init": args.cluster_n_init, "compile": args.compile, "cuda_graphs": args.cuda_graphs,
                     "bf16": args.bf16, "seed": args.seed, "reference": not args.no_reference,
                     "stages": list(chosen),
                     "mixture_input": None if "mixture" not in chosen else "umap" if "umap" in chosen
                     else "autoencoder" if "autoencoder" in chosen else "untrained autoencoder"},
        "data": data,
        "seconds": stages,
        "reference_seconds": reference,
        "final_loss": history.losses[-1] if history is not None else None,
        "scores": (evaluate(y, to_numpy(labels)) if y is not None and labels is not None and not data["repeated"]
                   else None),
        "targets": targets,
    }


def print_report(result: dict) -> None:
    print_context(result)
    data = result["data"]
    print(f"data: {data['dataset']} {data['n_samples']:,} x {data['n_features']}"
          + (f" (rows of {data['n_original']:,} repeated)" if data["repeated"] else ""))
    for row in result["targets"].values():
        value = "-" if row["value"] is None else f"{row['value']:.3g}"
        met = {True: "met", False: "MISSED", None: "not judged (not a CUDA run at 70,000 / 1000 epochs)"}[row["met"]]
        print(f"{row['what']:<52} {value:>9}  target {row['target']:<6}  {met}")


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--dataset", "-d", metavar="NAME", default="mnist", show_default=True,
              help="Dataset (mnist: 70,000 x 784, the targets' size; see `gpun2d datasets`).")
@click.option("--rows", type=click.IntRange(min=30),
              help="Repeat the dataset's rows up to this many samples (>= 30: UMAP uses 20 neighbours).")
@options.epochs
@options.batch_size
@options.cluster_n_init
@options.trainer
@click.option("--stages", metavar="LIST", callback=stages_option, show_default="autoencoder,umap,mixture",
              help="Measure only these stages (comma list among autoencoder, umap, mixture) and judge only their "
                   "targets; without umap the mixture runs on the autoencoder's code and no cuML is needed.")
@click.option("--no-reference", is_flag=True, help="Skip umap-learn and scikit-learn (no speed-ups then).")
@options.device
@options.data_dir
@options.no_download
@options.seed
@click.option("--warmup/--no-warmup", default=True, show_default=True,
              help="Run every timed step once on 300 rows, untimed, so numba JIT, CUDA and cuML start-up "
                   "do not count.")
@options.report_file("targets")
def command(epochs: int, random_state: int, out: Path | None, **settings) -> int:
    """The GPU path's speed targets, measured in one run and reported as met or not.

    \b
      autoencoder      training 70,000 x 784 for 1000 epochs              <= 60 s
      umap+gmm         UMAP then the mixture on the 70,000 x c embedding  <= 10 s
      umap speed-up    umap-learn seconds / cuML UMAP seconds, same input >= 30
      gmm speed-up     scikit-learn on NumPy / gpun2d on CUDA tensors     >= 5

    A target is judged only on a CUDA run at its own size (70,000 samples;
    1000 epochs for the autoencoder); other runs print and save every figure
    with `met` left empty. --rows repeats a smaller dataset's rows (timings
    then hold for that size, scores do not). --stages measures only some
    stages; a run without umap needs no cuML. Examples:

    \b
      python benchmarks/targets.py --dataset mnist --cuda-graphs
      python benchmarks/targets.py --dataset mnist-test --rows 70000 --data-dir data/mnist
      python benchmarks/targets.py --dataset digits --epochs 2 --device cpu --out targets.json
    """
    if epochs < 1:
        raise click.BadParameter("train at least 1 epoch: the autoencoder's time is a target", param_hint="--epochs")
    args = SimpleNamespace(epochs=epochs, seed=random_state, **settings)
    result = run(args)
    print_report(result)
    save_report(result, out, "targets")  # a reader never sees half a file
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the script on ``argv`` (default: the command line); returns the exit status."""
    return run_script(command, argv, Path(__file__).name)


if __name__ == "__main__":
    sys.exit(main())
