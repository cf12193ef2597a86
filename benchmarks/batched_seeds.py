#!/usr/bin/env python3
"""S autoencoders trained one by one against the same S trained together (gpun2d.batched_training).

Both paths train the paper's MLP on the same rows with the same seeds; the
report gives the wall seconds of each, their ratio (the target on a GPU: S
seeds together in at most twice the time of one), and the largest gap between
the two paths' final losses (they follow the same trajectories up to the
rounding of batched kernels).

  python benchmarks/batched_seeds.py --dataset mnist-test --seeds 5 --epochs 3
  python benchmarks/batched_seeds.py --dataset fashion --seeds 5 --epochs 5 --device cuda
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import torch

from gpun2d import datasets
from gpun2d.autoencoder import AutoEncoder
from gpun2d.batched_training import train_seeds
from gpun2d.benchmarking import machine_info
from gpun2d.benchmarking.timing import save_report
from gpun2d.cli import options
from gpun2d.cli.errors import Command, run_script
from gpun2d.devices import resolve_device
from gpun2d.report import command_line, now_iso
from gpun2d.training import TrainOptions, train_autoencoder
from gpun2d.version import __version__


def networks(seeds: list[int], n_features: int, n_latent: int, device: torch.device) -> list[AutoEncoder]:
    """One network per seed, initialised as the embedder initialises it."""
    built = []
    for seed in seeds:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            built.append(AutoEncoder(n_features, n_latent).to(device))
    return built


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--dataset", "-d", default="mnist-test", show_default=True, help="A known dataset.")
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True, help="Autoencoders (seeds 0..S-1).")
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True, help="Epochs of each.")
@click.option("--max-samples", type=click.IntRange(min=100), help="Train on the first N rows only.")
@options.batch_size
@options.device
@options.data_dir
@click.option("--out", "-o", type=options.PathFile,
              help="JSON file to write [default: gpun2d-results/batched-seeds-TIMESTAMP.json].")
def command(dataset: str, seeds: int, epochs: int, max_samples: int | None, batch_size: int, device: str,
            data_dir: Path | None, out: Path | None) -> int:
    """Wall time of S autoencoders trained one by one and trained together."""
    resolved = resolve_device(device, need_cuml=False)
    X, _ = datasets.load(dataset, data_dir=data_dir)
    X = torch.from_numpy(X[:max_samples] if max_samples else X).to(resolved.torch)
    n_latent = datasets.n_classes(dataset)
    seed_list = list(range(seeds))
    options_ = TrainOptions(epochs=epochs, batch_size=batch_size)

    alone = networks(seed_list, X.shape[1], n_latent, resolved.torch)
    synchronise(resolved.torch)
    start = time.perf_counter()
    losses_alone = [train_autoencoder(m, X, options_, seed=s).losses[-1] for m, s in zip(alone, seed_list, strict=True)]
    synchronise(resolved.torch)
    one_by_one = time.perf_counter() - start

    together = networks(seed_list, X.shape[1], n_latent, resolved.torch)
    synchronise(resolved.torch)
    start = time.perf_counter()
    losses_together = [h.losses[-1] for h in train_seeds(together, X, options_, seed_list)]
    synchronise(resolved.torch)
    batched = time.perf_counter() - start

    result = {
        "gpun2d": __version__, "created": now_iso(), "command": command_line(), "machine": machine_info(resolved),
        "device": resolved.describe(), "dataset": dataset, "n_samples": int(X.shape[0]), "seeds": seeds,
        "epochs": epochs, "batch_size": batch_size,
        "seconds": {"one_by_one": one_by_one, "together": batched, "one_seed": one_by_one / seeds},
        "together_over_one_seed": batched / (one_by_one / seeds), "speed_up": one_by_one / batched,
        "largest_final_loss_gap": max(abs(a - b) / max(abs(a), 1e-12)
                                      for a, b in zip(losses_alone, losses_together, strict=True)),
        "target": "on a GPU, S seeds together in at most 2x the time of one",
    }
    print(f"{seeds} seeds x {epochs} epochs on {dataset} ({X.shape[0]} rows), {resolved.describe()}: "
          f"one by one {one_by_one:.1f} s, together {batched:.1f} s "
          f"(= {result['together_over_one_seed']:.2f}x one seed, speed-up {result['speed_up']:.2f}x); "
          f"largest relative gap in final loss {result['largest_final_loss_gap']:.1e}")
    save_report(result, out, "batched-seeds")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the script on ``argv`` (default: the command line); returns the exit status."""
    return run_script(command, argv, Path(__file__).name)


if __name__ == "__main__":
    sys.exit(main())
