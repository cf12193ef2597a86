"""Seeds trained together (vmap over stacked networks) follow the one-by-one trainer's trajectories."""

from __future__ import annotations

import pytest
import torch

from gpun2d.autoencoder import AutoEncoder
from gpun2d.batched_training import train_seeds
from gpun2d.errors import ConfigError
from gpun2d.training import TrainOptions, train_autoencoder

SEEDS = (0, 1, 2)
OPTIONS = TrainOptions(epochs=3, batch_size=64, lr=1e-3)


def network(seed: int, n_features: int) -> AutoEncoder:
    """Built as the embedder builds it: weights from the seed, the caller's generator untouched."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return AutoEncoder(n_features, 10, (64, 64, 128))


def test_batched_seeds_equal_training_one_by_one(digits):
    X = torch.from_numpy(digits[0][:500])  # 500 rows: seven full batches and a short one per epoch
    alone = [network(seed, X.shape[1]) for seed in SEEDS]
    reference = [train_autoencoder(model, X, OPTIONS, seed=seed).losses for model, seed in zip(alone, SEEDS,
                                                                                                 strict=True)]
    together = [network(seed, X.shape[1]) for seed in SEEDS]
    seen = []
    histories = train_seeds(together, X, OPTIONS, SEEDS, on_epoch=lambda epoch, losses: seen.append(epoch))
    assert seen == [1, 2, 3]
    for history, losses in zip(histories, reference, strict=True):
        assert history.losses == pytest.approx(losses, rel=1e-5)
    for one, batched in zip(alone, together, strict=True):
        for (name, a), b in zip(one.state_dict().items(), batched.state_dict().values(), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)
    assert len({float(h.losses[-1]) for h in histories}) == len(SEEDS)  # the seeds did differ


def test_options_of_the_one_seed_trainer_are_refused(digits):
    X = torch.from_numpy(digits[0][:100])
    with pytest.raises(ConfigError, match="one seed per network"):
        train_seeds([network(0, 64)], X, OPTIONS, (0, 1))
    with pytest.raises(ConfigError, match="compile"):
        train_seeds([network(0, 64)], X, TrainOptions(epochs=1, compile=True), (0,))
