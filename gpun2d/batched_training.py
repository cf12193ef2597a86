"""Several autoencoders trained together as one batched model: one seed each, one pass over the data.

The seeds' networks are stacked (``torch.func.stack_module_state``) and run
through ``vmap`` as one model, so each step is a few large kernels instead of
S small ones. Each seed keeps its own initial weights (built exactly as the
one-seed path builds them) and its own batch order (the one-seed trainer's
generator), and Adam works element by element, so each network follows the
trajectory it follows alone, up to the rounding of batched kernels
(:func:`gpun2d.training.train_autoencoder` stays the reference the tests
compare with).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state

from .errors import ConfigError
from .training import TrainHistory, TrainOptions, _non_finite_loss, _tf32

SeedEpochCallback = Callable[[int, list[float]], None]


def train_seeds(models: Sequence[torch.nn.Module], X: torch.Tensor, options: TrainOptions, seeds: Sequence[int],
                on_epoch: SeedEpochCallback | None = None) -> list[TrainHistory]:
    """Train ``models[i]`` with ``seeds[i]``'s batch order, all at once; the trained weights go back into them.

    The trainer's engineering options (``compile``, ``cuda_graphs``, ``bf16``,
    checkpoints) are those of the one-seed path and are refused here.
    """
    options.validate()
    if len(models) != len(seeds) or not models:
        raise ConfigError(f"give one seed per network: {len(models)} networks, {len(seeds)} seeds")
    refused = [name for name in ("compile", "cuda_graphs", "bf16", "resume") if getattr(options, name)]
    if refused or options.checkpoint_every:
        raise ConfigError(f"seeds trained together support none of {', '.join(refused or ['checkpoint_every'])}")
    with _tf32(X.device.type == "cuda" and options.tf32):
        return _train_seeds(models, X, options, seeds, on_epoch)


def _train_seeds(models: Sequence[torch.nn.Module], X: torch.Tensor, options: TrainOptions, seeds: Sequence[int],
                 on_epoch: SeedEpochCallback | None) -> list[TrainHistory]:
    device = X.device
    params, buffers = stack_module_state(list(models))
    skeleton = copy.deepcopy(models[0]).to("meta")

    def loss_of(p: dict, b: dict, xb: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(functional_call(skeleton, (p, b), (xb,)), xb)

    batched_loss = torch.func.vmap(loss_of)
    optimizer = torch.optim.Adam(list(params.values()), lr=options.lr, fused=device.type == "cuda" or None)
    generators = [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]
    histories = [TrainHistory() for _ in seeds]
    n, batch = X.shape[0], options.batch_size
    for epoch in range(options.epochs):
        orders = torch.stack([torch.randperm(n, device=device, generator=g) for g in generators])
        total = torch.zeros(len(seeds), device=device)
        for start in range(0, n, batch):
            xb = X[orders[:, start : start + batch]]  # (seeds, rows, features)
            optimizer.zero_grad(set_to_none=False)
            losses = batched_loss(params, buffers, xb)
            losses.sum().backward()  # each seed's gradient depends on its own loss alone
            optimizer.step()
            total += losses.detach() * xb.shape[1]
        epoch_losses = (total / n).tolist()  # one host sync per epoch for all seeds
        for history, loss in zip(histories, epoch_losses, strict=True):
            if not math.isfinite(loss):
                raise _non_finite_loss(X, epoch + 1, options.lr)
            history.losses.append(loss)
        if on_epoch is not None:
            on_epoch(epoch + 1, epoch_losses)
    with torch.no_grad():
        for index, model in enumerate(models):
            for name, stacked in params.items():
                model.get_parameter(name).copy_(stacked[index])
            model.eval()
    return histories
