"""The N2D autoencoder (MLP ``d-500-500-2000-c``) and its saved form.

The training loop lives in :mod:`gpun2d.training`, beside this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .atomic import atomic_path
from .errors import DataError
from .layers import mlp

HIDDEN = (500, 500, 2000)


class AutoEncoder(nn.Module):
    """Symmetric MLP autoencoder; the linear bottleneck is the embedding.

    Parameters
    ----------
    n_features : int
        Input width ``d``.
    n_latent : int
        Bottleneck width (the number of clusters in N2D).
    hidden : sequence of int
        Encoder hidden widths; the decoder mirrors them. ``(500, 500, 2000)``
        as in the paper.
    """

    def __init__(self, n_features: int, n_latent: int, hidden: Sequence[int] = HIDDEN):
        super().__init__()
        self.n_features, self.n_latent, self.hidden = int(n_features), int(n_latent), tuple(hidden)
        widths = [self.n_features, *self.hidden, self.n_latent]
        self.encoder = mlp(widths)
        self.decoder = mlp(widths[::-1])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform weights and zero biases, the initialisation of the paper's Keras code."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def config(self) -> dict:
        return {"n_features": self.n_features, "n_latent": self.n_latent, "hidden": list(self.hidden)}


@torch.no_grad()
def encode(model: AutoEncoder, X: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
    """Embed ``X`` with the encoder, in batches, on the model's device."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    parts = [model.encoder(X[i : i + batch_size].to(device)) for i in range(0, X.shape[0], batch_size)]
    model.train(was_training)
    return torch.cat(parts)


def atomic_save(obj: object, path: str | Path) -> Path:
    """``torch.save`` that leaves either the complete file or none."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def save_autoencoder(model: AutoEncoder, path: str | Path, **extra: object) -> Path:
    """Save the weights with the architecture needed to rebuild them."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return atomic_save({"format": "gpun2d-autoencoder/1", "config": model.config(), "state_dict": state, **extra}, path)


def load_autoencoder(path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild the autoencoder (MLP, or convolutional with ``kind: conv``) written by :func:`save_autoencoder`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"autoencoder weights not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling, truncated zip, text: torch's message advises the unsafe weights_only=False
        raise _not_weights(path, f"it cannot be read as one: {type(exc).__name__}") from None
    if not isinstance(blob, dict) or not isinstance(blob.get("config"), dict) or "state_dict" not in blob:
        raise _not_weights(path, "it holds no config and state_dict")
    try:
        model = _rebuilt(blob["config"])
        model.load_state_dict(blob["state_dict"])
    except Exception as exc:  # missing keys, shape mismatch: weights that do not fit the recorded network
        raise _not_weights(path, f"its weights do not fit the network it records: {type(exc).__name__}") from None
    return model.to(device)


def _rebuilt(config: dict) -> nn.Module:
    """The untrained network described by a saved ``config``."""
    if config.get("kind", "mlp") == "conv":
        from .conv_autoencoder import ConvDenoisingAutoEncoder

        return ConvDenoisingAutoEncoder.from_config(config)
    return AutoEncoder(config["n_features"], config["n_latent"], config["hidden"])


def _not_weights(path: Path, why: str) -> DataError:
    return DataError(f"{path} is not a gpun2d autoencoder file ({why}); give the autoencoder.pt of an earlier run")
