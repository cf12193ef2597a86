"""Autoencoder training: the whole dataset resident on the device, no DataLoader.

Each epoch shuffles by a permutation drawn on the device from a dedicated
generator, so a run is repeatable from its seed and a resumed run continues
the exact same sequence of batches. A checkpoint records what the run depends
on (the data's fingerprint, ``lr``, ``batch_size``, ``seed``, ``bf16``, the
architecture), and resuming from one made otherwise is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
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
    identity = None
    if options.resume or options.checkpoint_every:
        identity = {"data": data_fingerprint(X), "settings": _settings(model, options, seed)}
    if options.resume:
        history = _load_checkpoint(options.checkpoint_path, model, optimizer, generator, identity, options.epochs)

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
        if not math.isfinite(epoch_loss):
            raise _non_finite_loss(X, epoch + 1, options.lr)
        history.losses.append(epoch_loss)
        log.debug("epoch %d loss %.6f", epoch + 1, epoch_loss)
        if on_epoch is not None:
            on_epoch(epoch + 1, epoch_loss)
        if options.checkpoint_every and (epoch + 1) % options.checkpoint_every == 0:
            _save_checkpoint(options.checkpoint_path, model, optimizer, generator, history, epoch + 1, identity)
    model.eval()
    return history


def _non_finite_loss(X: torch.Tensor, epoch: int, lr: float) -> DataError:
    """The error for a loss that overflowed, with the likeliest cause: the data's scale."""
    low, high = torch.aminmax(X)  # one reduction, no copy of X; only on this failure path
    reach = max(-float(low), float(high))
    if not math.isfinite(reach):
        hint = "the data holds inf/NaN values — drop or impute them and try again"
    elif reach > 1e3:
        hint = f"the data's values reach {reach:.3g} — scale them (e.g. standardise each feature) and try again"
    else:
        hint = f"the data's values only reach {reach:.3g}, so lr={lr:g} is likely too large — try a smaller lr"
    return DataError(f"training loss became inf/NaN at epoch {epoch}; {hint}")


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


CHECKPOINT_FORMAT = "gpun2d-checkpoint/2"
"""Format 2 records the data's fingerprint and the settings; format 1 did not."""

FINGERPRINT_ROWS = 1000
"""Rows hashed for a fingerprint: evenly spaced, so 70,000 x 784 costs about 3 MB of copying."""


def data_fingerprint(X: torch.Tensor, rows: int = FINGERPRINT_ROWS) -> dict:
    """Shape, dtype and a SHA-256 of up to ``rows`` evenly spaced rows of ``X`` as float32 bytes.

    Only the sampled rows leave the device, so the cost does not grow with the data.
    """
    n = X.shape[0]
    k = min(n, rows)
    index = torch.arange(k, dtype=torch.int64) * (n - 1) // max(k - 1, 1)
    sample = X.detach().index_select(0, index.to(X.device)).to("cpu", torch.float32).contiguous()
    return {
        "shape": [int(size) for size in X.shape],
        "dtype": str(X.dtype).removeprefix("torch."),
        "sample_sha256": hashlib.sha256(sample.numpy().tobytes()).hexdigest(),
    }


def _settings(model: AutoEncoder, options: TrainOptions, seed: int) -> dict:
    """The training settings a run's result depends on, as the Python parameters that set them."""
    return {"lr": float(options.lr), "batch_size": int(options.batch_size), "seed": int(seed),
            "bf16": bool(options.bf16), "architecture": model.config()}


def _save_checkpoint(path, model, optimizer, generator, history: TrainHistory, epoch: int, identity: dict) -> None:
    atomic_save(
        {
            "format": CHECKPOINT_FORMAT,
            "config": model.config(),
            "data": identity["data"],
            "settings": identity["settings"],
            "epoch": epoch,
            "losses": list(history.losses),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(),
        },
        path,
    )
    log.info("checkpoint at epoch %d written to %s", epoch, path)


def _load_checkpoint(path, model, optimizer, generator, identity: dict, epochs: int) -> TrainHistory:
    """Restore model, Adam and batch order from ``path``, after checking it belongs to this run."""
    path = Path(path)
    if not path.is_file():
        log.warning("no checkpoint at %s; starting from epoch 0", path)
        return TrainHistory()
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling, truncated zip, a foreign object: all mean a file we cannot use
        raise _unreadable(path, exc) from exc
    if not isinstance(blob, dict) or not str(blob.get("format", "")).startswith("gpun2d-checkpoint/"):
        raise DataError(f"{path} is not a gpun2d training checkpoint; delete it to start fresh")
    if blob["format"] == "gpun2d-checkpoint/1":
        raise ConfigError(
            f"the checkpoint at {path} is in the older format gpun2d-checkpoint/1, which does not record the data "
            "and settings it was made with, so resuming from it cannot be checked; delete it to start fresh"
        )
    if blob["format"] != CHECKPOINT_FORMAT:
        raise ConfigError(f"the checkpoint at {path} is in format {blob['format']}, which this version of gpun2d "
                          f"cannot read (it reads {CHECKPOINT_FORMAT}); delete it to start fresh")
    try:
        saved = {"data": blob["data"], "settings": blob["settings"]}
        done = int(blob["epoch"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    differences = describe_mismatch(saved, identity)
    if differences:
        raise ConfigError(f"the checkpoint at {path} was made with {differences}; "
                          "resume with the same data and settings, or delete it to start fresh")
    if epochs < done:
        raise ConfigError(f"the checkpoint at {path} has already run {done} epochs, more than epochs={epochs}; "
                          f"resume with epochs={done} or more, or delete it to start fresh")
    try:
        model.load_state_dict(blob["model"])
        optimizer.load_state_dict(blob["optimizer"])
        generator.set_state(blob["generator"])
        losses = [float(loss) for loss in blob["losses"]]
    except Exception as exc:  # a format-2 file whose states do not fit what it says it holds
        raise _unreadable(path, exc) from exc
    log.info("resuming from epoch %d (%s)", done, path)
    return TrainHistory(losses=losses, start_epoch=done)


def _unreadable(path: Path, exc: Exception) -> DataError:
    # torch's own messages run to several lines and advise weights_only=False; the type is enough here
    return DataError(f"{path} is not a readable training checkpoint (corrupt or truncated: {type(exc).__name__}); "
                     "delete it to start fresh")


def describe_mismatch(saved: dict, current: dict) -> str:
    """What differs between a checkpoint's record and this run's, in words; ``""`` when nothing does.

    ``"lr=0.001, not lr=0.01, and other data (shape (100, 8) vs (120, 8))"``.
    """
    old_settings, new_settings = saved["settings"], current["settings"]
    names = [name for name in new_settings if old_settings.get(name) != new_settings[name]]
    parts = []
    if names:
        was = " and ".join(_setting(name, old_settings.get(name)) for name in names)
        now = " and ".join(_setting(name, new_settings[name]) for name in names)
        parts.append(f"{was}, not {now}")
    data = _data_difference(saved["data"], current["data"])
    if data:
        parts.append(f"other data ({data})")
    return ", and ".join(parts)


def _setting(name: str, value: object) -> str:
    if name == "architecture":
        if not isinstance(value, dict):
            return "an unknown architecture"
        widths = [value.get("n_features"), *value.get("hidden", []), value.get("n_latent")]
        return f"a {'-'.join(str(w) for w in widths)} autoencoder"
    return f"{name}={value!r}"


def _data_difference(old: dict, new: dict) -> str:
    said = []
    if list(old.get("shape", [])) != new["shape"]:
        said.append(f"shape {tuple(old.get('shape', []))} vs {tuple(new['shape'])}")
    if old.get("dtype") != new["dtype"]:
        said.append(f"dtype {old.get('dtype')} vs {new['dtype']}")
    if not said and old.get("sample_sha256") != new["sample_sha256"]:
        said.append(f"same shape {tuple(new['shape'])} and dtype {new['dtype']}, different values")
    return ", ".join(said)
