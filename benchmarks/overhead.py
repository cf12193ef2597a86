#!/usr/bin/env python3
"""Torch operations and host synchronisations per step, counted on the CPU, and restart timings.

A ``TorchDispatchMode`` counts every aten operation and every one that makes
the host wait for the device (``_local_scalar_dense``, ``item``,
``is_nonzero``, ``equal``, copies to the CPU) for:

* one EM iteration of scikit-learn's Array-API Gaussian mixture on torch
  tensors (one restart), and of :func:`gpun2d.batched_em.batched_em` over
  R = 1, 10, 30 restarts -- each as the difference of two fits with ``tol=0``
  (so every restart runs exactly ``max_iter`` iterations), divided by the
  extra iterations;
* one training step of :mod:`gpun2d.training` (one batch, after a warm-up step).

Counts are of the host's calls, the same on any device (the CPU stands in for
the GPU's launches and waits). Then the wall seconds of ``GaussianMixture``
with ``n_init`` restarts one by one and batched, on ``--device``.

  python benchmarks/overhead.py
  python benchmarks/overhead.py --n-samples 70000 --device cuda
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import click
import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import gpun2d  # noqa: F401  (switches SciPy's array API on before SciPy loads: scikit-learn is imported after)
from gpun2d.autoencoder import AutoEncoder
from gpun2d.batched_em import batched_em, hard_parameters
from gpun2d.batched_kmeans import batched_kmeans
from gpun2d.benchmarking import machine_info
from gpun2d.benchmarking.timing import print_context, save_report, timed
from gpun2d.cli import options
from gpun2d.cli.errors import Command, run_script
from gpun2d.devices import resolve_device
from gpun2d.mixture import GaussianMixture
from gpun2d.report import command_line, now_iso
from gpun2d.training import TrainOptions, _make_step, make_optimizer
from gpun2d.version import __version__

SYNC_OPS = {"_local_scalar_dense", "item", "is_nonzero", "equal", "_linalg_check_errors"}
"""Ops that make the host wait for a CUDA device (``_linalg_check_errors`` reads a LAPACK info tensor)."""
HOST_COPY_OPS = {"lift_fresh", "lift_fresh_copy", "scalar_tensor"}
"""Tensors made from host values: a small synchronous host-to-device copy on CUDA."""


class OpCounter(TorchDispatchMode):
    """Counts aten operations by name, and those that synchronise with the host."""

    def __init__(self):
        super().__init__()
        self.ops: Counter = Counter()
        self.syncs: Counter = Counter()
        self.host_copies = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        self.ops[name] += 1
        to_host = name in ("_to_copy", "to") and str(kwargs.get("device", "")) == "cpu"
        if name in SYNC_OPS or to_host:
            self.syncs[name] += 1
        self.host_copies += name in HOST_COPY_OPS
        return func(*args, **kwargs)


def counted(fn) -> tuple[int, int, Counter, int]:
    """Operations, synchronisations, the synchronising ops' names and host-value copies while ``fn()`` runs."""
    with OpCounter() as counter:
        fn()
    return sum(counter.ops.values()), sum(counter.syncs.values()), counter.syncs, counter.host_copies


def per_iteration(fit, low: int = 2, high: int = 7) -> dict:
    """Counts of ``fit(max_iter)`` at ``high`` less those at ``low``, per extra iteration."""
    ops_low, syncs_low, _, copies_low = counted(lambda: fit(low))
    ops_high, syncs_high, names, copies_high = counted(lambda: fit(high))
    extra = high - low
    return {"ops": (ops_high - ops_low) / extra, "syncs": (syncs_high - syncs_low) / extra,
            "host_value_copies": (copies_high - copies_low) / extra, "sync_ops_in_longer_fit": dict(names)}


def em_counts(X: torch.Tensor, n_components: int, restarts: list[int]) -> dict:
    """Per-iteration counts of scikit-learn's Array-API EM (one restart) and of batched EM over R restarts."""
    import sklearn
    from sklearn.mixture import GaussianMixture as SKGaussianMixture

    km = batched_kmeans(X, n_components, list(range(max(restarts))))
    weights, means, precisions = hard_parameters(X, km.labels, n_components, 1e-6)

    def sklearn_fit(max_iter: int) -> None:
        model = SKGaussianMixture(n_components, covariance_type="full", tol=0.0, max_iter=max_iter,
                                  init_params="random_from_data",  # overridden by the three *_init
                                  weights_init=weights[0], means_init=means[0], precisions_init=precisions[0])
        with sklearn.config_context(array_api_dispatch=True):
            model.fit(X)

    result = {"sklearn_array_api_1_restart": per_iteration(sklearn_fit)}
    for R in restarts:
        result[f"batched_{R}_restarts"] = per_iteration(
            lambda max_iter, R=R: batched_em(X, weights[:R], means[:R], precisions[:R], tol=0.0, max_iter=max_iter))
    return result


def training_step_counts(n_features: int, batch_size: int, seed: int) -> dict:
    """Counts of one training step (forward, backward, Adam) of the paper's autoencoder on the CPU."""
    torch.manual_seed(seed)
    model = AutoEncoder(n_features, 10)
    step = _make_step(model, make_optimizer(model, 1e-3), TrainOptions())
    batch = torch.rand(batch_size, n_features)
    step(batch)  # Adam's state is created on the first step
    ops, syncs, names, copies = counted(lambda: step(batch))
    return {"ops": ops, "syncs": syncs, "sync_ops": dict(names), "host_value_copies": copies,
            "n_features": n_features, "batch_size": batch_size}


def timings(X: torch.Tensor, n_components: int, n_init: int, seed: int, device: torch.device) -> dict:
    """Wall seconds of ``GaussianMixture`` fits with ``n_init`` restarts, one by one and batched."""
    X = X.to(device)
    out = {}
    for name, batched in (("one_by_one", False), ("batched", True)):
        if batched is False and X.is_cuda:
            name = "one_by_one_array_api"
        model, seconds = timed(lambda b=batched: GaussianMixture(n_components, n_init=n_init, random_state=seed,
                                                                 batched=b).fit(X), device)
        out[name] = {"seconds": seconds, "lower_bound": model.lower_bound_,
                     "mean_n_iter": float(np.mean([r["n_iter"] for r in model.restarts_]))}
    return out


def run(settings: dict) -> dict:
    from sklearn.datasets import make_blobs

    device = resolve_device(settings["device"]).torch
    X, _ = make_blobs(settings["n_samples"], settings["n_features"], centers=settings["n_components"],
                      cluster_std=2.0, random_state=settings["random_state"])
    X = torch.from_numpy(X.astype(np.float64))
    restarts = [1, 10, settings["cluster_n_init"]]
    counts = em_counts(X, settings["n_components"], sorted(set(restarts)))
    one = counts["sklearn_array_api_1_restart"]
    return {
        "gpun2d": __version__, "created": now_iso(), "command": command_line(), "machine": machine_info(device),
        "settings": dict(settings),
        "data": {"kind": "gaussian blobs", "n_samples": int(X.shape[0]), "n_features": int(X.shape[1])},
        "em_per_iteration": counts,
        "targets": {f"batched_{R}": {"syncs_at_most_2": counts[f"batched_{R}_restarts"]["syncs"] <= 2,
                                     "ops_within_2x_of_one_restart":
                                         counts[f"batched_{R}_restarts"]["ops"] <= 2 * one["ops"]}
                    for R in sorted(set(restarts))},
        "training_step": training_step_counts(784, settings["batch_size"], settings["random_state"]),
        "fit_seconds": timings(X, settings["n_components"], settings["cluster_n_init"], settings["random_state"],
                               device),
        "notes": ["ops and syncs are aten calls seen by a TorchDispatchMode on the CPU; a sync is an op "
                  "that returns a host value (item, _local_scalar_dense, is_nonzero, equal), checks a LAPACK info "
                  "(_linalg_check_errors) or copies to the CPU; host-value copies are tensors made from Python "
                  "values (lift_fresh, scalar_tensor), synchronous one-element copies on CUDA.",
                  "training_step is measured with the CPU's Adam (not fused): its per-parameter step reads "
                  "are CPU-only; CUDA uses fused Adam."],
    }


def print_report(result: dict) -> None:
    print_context(result)
    data = result["data"]
    print(f"data: {data['kind']} {data['n_samples']:,} x {data['n_features']}")
    print("per EM iteration:")
    for name, row in result["em_per_iteration"].items():
        print(f"  {name:<30} {row['ops']:8.1f} ops  {row['syncs']:6.1f} host syncs  "
              f"{row['host_value_copies']:6.1f} host-value copies")
    step = result["training_step"]
    print(f"training step ({step['batch_size']} x {step['n_features']}): {step['ops']} ops, {step['syncs']} host syncs "
          f"{step['sync_ops']}, {step['host_value_copies']} host-value copies")
    for name, row in result["fit_seconds"].items():
        print(f"fit {name:<22} {row['seconds']:8.2f} s  lower bound {row['lower_bound']:.6f}  "
              f"mean iterations {row['mean_n_iter']:.1f}")


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--n-samples", type=click.IntRange(min=10), default=10_000, show_default=True,
              help="Rows of the synthetic embedding.")
@click.option("--n-features", type=click.IntRange(min=1), default=10, show_default=True,
              help="Columns of the synthetic embedding.")
@click.option("--n-components", type=click.IntRange(min=1), default=10, show_default=True,
              help="Gaussians (and blobs in the data).")
@click.option("--cluster-n-init", type=click.IntRange(min=1), default=30, show_default=True,
              help="Restarts timed, and the largest batch counted.")
@options.batch_size
@options.device
@options.seed
@click.option("--out", "-o", type=options.PathFile,
              help="JSON file to write [default: gpun2d-results/overhead-TIMESTAMP.json].")
def command(out: Path | None, **settings) -> int:
    """Operations and host synchronisations per EM iteration and training step; restart timings."""
    start = time.perf_counter()
    result = run(settings)
    result["seconds"] = time.perf_counter() - start
    print_report(result)
    save_report(result, out, "overhead")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the script on ``argv`` (default: the command line); returns the exit status."""
    return run_script(command, argv, Path(__file__).name)


if __name__ == "__main__":
    sys.exit(main())
