"""A convolutional denoising autoencoder for square images (stage ``autoencoder``, ``embedder='conv'``).

In the spirit of ACMEC's asymmetric design: three strided convolutions and a
linear bottleneck encode, a lighter MLP decodes, and Gaussian noise corrupts
the input while training (the loss compares with the clean input). The rows
stay flat (``d = side * side``, as the image datasets are stored); the encoder
reshapes them. The MLP (``embedder='mlp'``) stays the default, for tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from . import defaults
from .errors import ConfigError
from .layers import mlp


def image_side(n_features: int) -> int:
    """The side of the square image a row of ``n_features`` pixels holds, or a ConfigError."""
    side = math.isqrt(n_features)
    if side * side != n_features or side < 4:
        raise ConfigError(f"embedder='conv' needs square images of at least 4 x 4 pixels, one per row; "
                          f"{n_features} features are not a square (use embedder='mlp' for tables)")
    return side


def _strided(size: int, kernel: int) -> int:
    """Output size of a stride-2 convolution with 'same'-style padding ``kernel // 2``."""
    return (size + 2 * (kernel // 2) - kernel) // 2 + 1


class ConvDenoisingAutoEncoder(nn.Module):
    """Conv encoder ``1 -> channels`` (stride 2 each) -> linear ``c``; MLP decoder ``c -> hidden -> d``.

    Parameters
    ----------
    n_features : int
        Pixels per row, a perfect square.
    n_latent : int
        Bottleneck width (the number of clusters in N2D).
    channels : sequence of int
        Output channels of the three convolutions (kernels 5, 5, 3).
    decoder_hidden : sequence of int
        Hidden widths of the decoder.
    noise : float
        Standard deviation of the Gaussian noise added to the input while training.
    seed : int
        Seeds the noise, so a fit is repeatable whatever else draws random numbers.
    """

    KERNELS = (5, 5, 3)

    def __init__(self, n_features: int, n_latent: int, channels: Sequence[int] = defaults.CONV_CHANNELS,
                 decoder_hidden: Sequence[int] = defaults.CONV_DECODER_HIDDEN, noise: float = defaults.CONV_NOISE,
                 seed: int = 0):
        super().__init__()
        self.n_features, self.n_latent = int(n_features), int(n_latent)
        self.channels, self.decoder_hidden = tuple(channels), tuple(decoder_hidden)
        self.noise, self.seed = float(noise), int(seed)
        if len(self.channels) != len(self.KERNELS):
            raise ConfigError(f"channels must list {len(self.KERNELS)} widths, got {self.channels}")
        side = image_side(self.n_features)
        layers: list[nn.Module] = [nn.Unflatten(1, (1, side, side))]
        previous = 1
        for width, kernel in zip(self.channels, self.KERNELS, strict=True):
            layers += [nn.Conv2d(previous, width, kernel, stride=2, padding=kernel // 2), nn.ReLU()]
            previous, side = width, _strided(side, kernel)
        layers += [nn.Flatten(), nn.Linear(previous * side * side, self.n_latent)]
        self.encoder = nn.Sequential(*layers)
        self.decoder = mlp([self.n_latent, *self.decoder_hidden, self.n_features])
        self._noise_generator: torch.Generator | None = None

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` plus seeded Gaussian noise (training only)."""
        if self._noise_generator is None or self._noise_generator.device != x.device:
            self._noise_generator = torch.Generator(device=x.device).manual_seed(self.seed)
        noise = torch.randn(x.shape, generator=self._noise_generator, device=x.device, dtype=x.dtype)
        return x + self.noise * noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.noise > 0:
            x = self.corrupt(x)
        return self.decoder(self.encoder(x))

    def config(self) -> dict:
        return {"kind": "conv", "n_features": self.n_features, "n_latent": self.n_latent,
                "channels": list(self.channels), "decoder_hidden": list(self.decoder_hidden), "noise": self.noise,
                "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict) -> ConvDenoisingAutoEncoder:
        return cls(config["n_features"], config["n_latent"], config["channels"], config["decoder_hidden"],
                   config["noise"], config["seed"])
