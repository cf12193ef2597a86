"""Stage ``autoencoder``: the paper's MLP autoencoder as an embedding learner.

Builds the network (seeded without touching the caller's random state), trains
it with :func:`gpun2d.training.train_autoencoder`, or loads trained weights
(``ae_weights``); the encoder's output is the embedding.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import torch

from .autoencoder import AutoEncoder, load_autoencoder, save_autoencoder
from .errors import ConfigError, DataError
from .stages import StageContext
from .statefile import state_path
from .training import TrainOptions, train_autoencoder

log = logging.getLogger(__name__)

STATE_FILE = "autoencoder.pt"
ENCODE_BATCH = 8192

TRAIN_PARAMS = ("epochs", "batch_size", "lr", "compile", "cuda_graphs", "bf16", "checkpoint_path",
                "checkpoint_every", "resume")
"""N2D parameters that become :class:`~gpun2d.training.TrainOptions`."""


class AutoencoderEmbedder:
    """MLP autoencoder ``d-hidden-c``; ``transform`` is the encoder.

    Parameters
    ----------
    n_latent : int
        Bottleneck width (the number of clusters in N2D).
    hidden : tuple of int
        Encoder widths before the bottleneck.
    options : TrainOptions
        Epochs, batch size, learning rate and the trainer's engineering knobs.
    device : torch.device
    seed : int
        Seeds the initial weights and the batch order.
    weights : path or None
        Load a trained autoencoder instead of training one.
    on_epoch : callable(epoch, loss) or None
    """

    def __init__(self, n_latent: int, hidden: tuple, options: TrainOptions, device: torch.device, seed: int,
                 weights: str | Path | None = None, on_epoch=None):
        self.n_latent, self.hidden, self.options, self.device = n_latent, tuple(hidden), options, device
        self.seed, self.weights, self.on_epoch = seed, weights, on_epoch

    @classmethod
    def from_context(cls, ctx: StageContext) -> AutoencoderEmbedder:
        options = TrainOptions(**{name: ctx.params[name] for name in TRAIN_PARAMS})
        return cls(ctx.n_clusters, ctx.params["hidden"], options, ctx.device.torch, ctx.seed,
                   weights=ctx.params.get("ae_weights"), on_epoch=ctx.on_epoch)

    KIND = "mlp"
    """The kind of network recorded in its saved config (``ae_weights`` must hold the same kind)."""

    def build_network(self, n_features: int) -> torch.nn.Module:
        """The untrained network for rows of ``n_features`` (seeded by the caller)."""
        return AutoEncoder(n_features, self.n_latent, self.hidden)

    def initial_network(self, n_features: int) -> torch.nn.Module:
        """The untrained network on the device, its weights drawn from ``seed`` alone."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # the caller's CPU and CUDA generators stay untouched
            torch.manual_seed(self.seed)
            return self.build_network(n_features).to(self.device)

    def fit(self, X: torch.Tensor) -> AutoencoderEmbedder:
        if self.weights is not None:
            self.module_ = load_autoencoder(self.weights, self.device)
            if self.module_.n_features != X.shape[1]:
                raise DataError(f"{self.weights} expects {self.module_.n_features} features but X has {X.shape[1]}")
            kind = self.module_.config().get("kind", "mlp")
            if kind != self.KIND:
                raise ConfigError(f"ae_weights={self.weights} holds a {kind} autoencoder, but embedder={self.KIND!r}; "
                                  f"give embedder={kind!r} to reuse it")
            if self.module_.n_latent != self.n_latent:
                raise ConfigError(f"ae_weights={self.weights} has a {self.module_.n_latent}-wide bottleneck, but "
                                  f"n_clusters={self.n_latent}; N2D's bottleneck is one unit per cluster")
            log.info("loaded autoencoder from %s; skipping training", self.weights)
            self.history_ = []
            return self
        self.module_ = self.initial_network(X.shape[1])
        self.history_ = train_autoencoder(self.module_, X, self.options, seed=self.seed,
                                          on_epoch=self.on_epoch).losses
        return self

    def transform(self, X: torch.Tensor) -> torch.Tensor:
        """The encoder's output (float32), computed in float64.

        Float32 matrix kernels change with the number of rows, so a row's
        float32 embedding could move by an ulp with its batch; in float64 those
        differences vanish in the final rounding, and a training row encodes to
        exactly its training embedding (``gpun2d.placement`` relies on it).
        """
        encoder = getattr(self, "_encoder64", None)
        if encoder is None or encoder[0] is not self.module_:
            encoder = (self.module_, copy.deepcopy(self.module_.encoder).double().eval())
            self._encoder64 = encoder
        with torch.no_grad():
            parts = [encoder[1](X[i : i + ENCODE_BATCH].to(self.device, torch.float64)).float()
                     for i in range(0, X.shape[0], ENCODE_BATCH)]
        return torch.cat(parts) if parts else torch.empty(0, self.n_latent, device=self.device)

    def save(self, path: str | Path) -> Path:
        """Write the trained network; ``ae_weights=path`` reuses it."""
        return save_autoencoder(self.module_, path, epochs=len(self.history_), seed=self.seed)

    def save_state(self, folder: Path) -> dict:
        """Write the network to ``folder/autoencoder.pt``; returns what the model manifest keeps."""
        self.save(Path(folder) / STATE_FILE)
        return {"files": [STATE_FILE], "epochs_run": len(self.history_)}

    def load_state(self, folder: Path, meta: dict, device: torch.device) -> AutoencoderEmbedder:
        """Restore the network written by :meth:`save_state` onto ``device`` (``torch.load(weights_only=True)``)."""
        self.module_ = load_autoencoder(state_path(folder, meta, STATE_FILE), device)
        self.device, self.history_ = device, []
        return self


class ConvEmbedder(AutoencoderEmbedder):
    """The convolutional denoising autoencoder (:mod:`gpun2d.conv_autoencoder`) for square images.

    Trained by the same loop as the MLP (Adam, MSE against the clean input);
    ``hidden`` does not apply, the network's widths are in :mod:`gpun2d.defaults`.
    """

    KIND = "conv"

    @classmethod
    def from_context(cls, ctx: StageContext) -> ConvEmbedder:
        if ctx.params.get("cuda_graphs"):
            raise ConfigError("embedder='conv' cannot be combined with cuda_graphs=True (its input noise is drawn "
                              "afresh at every step); drop cuda_graphs")
        return super().from_context(ctx)

    def build_network(self, n_features: int) -> torch.nn.Module:
        from .conv_autoencoder import ConvDenoisingAutoEncoder

        return ConvDenoisingAutoEncoder(n_features, self.n_latent, seed=self.seed)
