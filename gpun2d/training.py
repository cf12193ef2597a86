"""Autoencoder training: the whole dataset resident on the device, no DataLoader.

Each epoch shuffles by a permutation drawn on the device from a dedicated
generator, so a run is repeatable from its seed and a resumed run continues
the exact same sequence of batches.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from . import defaults
from .autoencoder import AutoEncoder, atomic_save
from .errors import ConfigError, DataError

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, float], None]


@dataclass
class TrainOptions:
    """How to train; the defaults are the paper's (Adam 1e-3, batch 256, 1000 epochs).

    ``compile`` wraps the step in ``torch.compile``; ``cuda_graphs`` captures
    the whole step (forward, backward, Adam) in one CUDA graph; ``bf16``
    autocasts the forward pass (off by default so results match the paper);
    ``tf32`` lets CUDA matmuls use TF32 tensor cores.
    """

    epochs: int = defaults.EPOCHS
    batch_size: int = defaults.BATCH_SIZE
    lr: float = defaults.LR
    compile: bool = False
    cuda_graphs: bool = False
    bf16: bool = False
    tf32: bool = True
    checkpoint_path: str | Path | None = None
    checkpoint_every: int = 0
    resume: bool = False

    def validate(self) -> None:
        if self.epochs < 0:
            raise ConfigError(f"epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"learning rate must be > 0, got {self.lr}")
        if self.checkpoint_every < 0:
            raise ConfigError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        if (self.checkpoint_every or self.resume) and self.checkpoint_path is None:
            raise ConfigError("checkpoint_every and resume=True need a checkpoint_path")


@dataclass
class TrainHistory:
    """Mean reconstruction loss of every epoch, and the epoch training started from."""

    losses: list[float] = field(default_factory=list)
    start_epoch: int = 0


def make_optimizer(model: AutoEncoder, lr: float, capturable: bool = False) -> torch.optim.Adam:
    """Adam; fused kernels on CUDA (one launch for all parameters)."""
    on_cuda = next(model.parameters()).is_cuda
    return torch.optim.Adam(model.parameters(), lr=lr, fused=on_cuda or None, capturable=capturable)


def train_autoencoder(
    model: AutoEncoder,
    X: torch.Tensor,
    options: TrainOptions | None = None,
    *,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
) -> TrainHistory:
    """Train ``model`` in place to reconstruct ``X`` under MSE.

    ``X`` must already be on the model's device. Returns the loss history;
    writes a checkpoint every ``checkpoint_every`` epochs and, with
    ``resume``, continues from the checkpoint found at ``checkpoint_path``.
    """
    options = options or TrainOptions()
    options.validate()
    device = X.device
    if next(model.parameters()).device != device:
        raise ConfigError(f"model is on {next(model.parameters()).device} but X is on {device}")
    with _tf32(device.type == "cuda" and options.tf32):
        return _train(model, X, options, seed, on_epoch)


@contextlib.contextmanager
def _tf32(enabled: bool):
    """TF32 matmuls for the duration of one training run only; the caller's setting comes back after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _train(model: AutoEncoder, X: torch.Tensor, options: TrainOptions, seed: int,
           on_epoch: EpochCallback | None) -> TrainHistory:
    device = X.device
    use_graphs = options.cuda_graphs and device.type == "cuda"
    optimizer = make_optimizer(model, options.lr, capturable=use_graphs)
    generator = torch.Generator(device=device).manual_seed(seed)
    history = TrainHistory()
    if options.resume:
        history = _load_checkpoint(options.checkpoint_path, model, optimizer, generator)

    step = _make_step(model, optimizer, options)
    graph_step = _GraphStep(model, optimizer, X, options) if use_graphs else None
    n, batch = X.shape[0], options.batch_size
    model.train()
    for epoch in range(history.start_epoch, options.epochs):
        order = torch.randperm(n, device=device, generator=generator)
        total = torch.zeros((), device=device)
        for start in range(0, n, batch):
            xb = X[order[start : start + batch]]
            if graph_step is not None and xb.shape[0] == batch:
                loss = graph_step(xb)
            else:
                loss = step(xb)
            total += loss * xb.shape[0]
        epoch_loss = float(total) / n  # one host sync per epoch
        history.losses.append(epoch_loss)
        log.debug("epoch %d loss %.6f", epoch + 1, epoch_loss)
        if on_epoch is not None:
            on_epoch(epoch + 1, epoch_loss)
        if options.checkpoint_every and (epoch + 1) % options.checkpoint_every == 0:
            _save_checkpoint(options.checkpoint_path, model, optimizer, generator, history, epoch + 1)
    model.eval()
    return history


def _autocast(options: TrainOptions, device: torch.device):
    if options.bf16:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _make_step(model: AutoEncoder, optimizer: torch.optim.Optimizer, options: TrainOptions):
    """One eager (optionally compiled) optimisation step returning the detached loss."""
    device = next(model.parameters()).device

    def loss_of(xb: torch.Tensor) -> torch.Tensor:
        with _autocast(options, device):
            recon = model(xb)
        return F.mse_loss(recon.float(), xb)

    if options.compile:
        loss_of = torch.compile(loss_of, dynamic=False)

    def step(xb: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=False)
        loss = loss_of(xb)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


class _GraphStep:
    """The full-batch step captured once as a CUDA graph and replayed.

    Capture needs warm-up iterations; they run on real data and are then
    undone (weights and Adam state restored in place), so training with
    graphs follows the same trajectory as without.
    """

    def __init__(self, model: AutoEncoder, optimizer: torch.optim.Adam, X: torch.Tensor, options: TrainOptions):
        self.static_x = X[: options.batch_size].clone()
        params = [p for p in model.parameters()]
        saved = [p.detach().clone() for p in params]
        saved_state = {  # Adam's moments exist already when training resumed from a checkpoint
            p: {k: v.detach().clone() for k, v in state.items() if torch.is_tensor(v)}
            for p, state in optimizer.state.items()
        }
        step = _make_step(model, optimizer, TrainOptions(bf16=options.bf16))
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                step(self.static_x)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_loss = step(self.static_x)
        with torch.no_grad():  # undo warm-up and capture: the graph only recorded kernels
            for p, s in zip(params, saved, strict=True):
                p.copy_(s)
            for p, state in optimizer.state.items():
                for key, value in state.items():
                    if torch.is_tensor(value):
                        before = saved_state.get(p, {}).get(key)
                        if before is None:
                            value.zero_()
                        else:
                            value.copy_(before)

    def __call__(self, xb: torch.Tensor) -> torch.Tensor:
        self.static_x.copy_(xb)
        self.graph.replay()
        return self.static_loss.clone()


def _save_checkpoint(path, model, optimizer, generator, history: TrainHistory, epoch: int) -> None:
    atomic_save(
        {
            "format": "gpun2d-checkpoint/1",
            "config": model.config(),
            "epoch": epoch,
            "losses": list(history.losses),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(),
        },
        path,
    )
    log.info("checkpoint at epoch %d written to %s", epoch, path)


def _load_checkpoint(path, model, optimizer, generator) -> TrainHistory:
    path = Path(path)
    if not path.is_file():
        log.info("no checkpoint at %s; training from scratch", path)
        return TrainHistory()
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("config") != model.config():
            raise DataError(f"checkpoint {path} is for a {blob.get('config')} autoencoder, not {model.config()}")
        model.load_state_dict(blob["model"])
        optimizer.load_state_dict(blob["optimizer"])
        generator.set_state(blob["generator"])
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot resume from {path}: {type(exc).__name__}: {exc}") from exc
    log.info("resuming from epoch %d (%s)", blob["epoch"], path)
    return TrainHistory(losses=list(blob["losses"]), start_epoch=int(blob["epoch"]))
