"""The IDEC fine-tune after the first clustering (``finetune_epochs``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpun2d import N2D
from gpun2d.finetune import cluster_centers, finetune, soft_assignment, target_distribution

SMALL = dict(epochs=5, cluster_n_init=1, random_state=0, device="cpu")


def test_assignments_and_targets_are_distributions():
    generator = torch.Generator().manual_seed(0)
    Z, centers = torch.randn(50, 4, generator=generator), torch.randn(3, 4, generator=generator)
    q = soft_assignment(Z, centers)
    p = target_distribution(q)
    torch.testing.assert_close(q.sum(1), torch.ones(50))
    torch.testing.assert_close(p.sum(1), torch.ones(50))
    # with equal cluster frequencies the target is q squared, renormalised: sharper than q
    balanced = torch.tensor([[0.6, 0.4], [0.4, 0.6]])
    torch.testing.assert_close(target_distribution(balanced), torch.tensor([[9 / 13, 4 / 13], [4 / 13, 9 / 13]]))
    labels = torch.tensor([0] * 20 + [2] * 30)  # cluster 1 is empty: it takes the overall mean
    centres = cluster_centers(Z, labels, 3)
    torch.testing.assert_close(centres[0], Z[:20].mean(0))
    torch.testing.assert_close(centres[1], Z.mean(0))


def test_the_fine_tune_hardens_the_clusters(digits):
    X = torch.from_numpy(digits[0][:600])
    model = N2D(10, **SMALL).fit(X.numpy())
    before = model.embedder_.module_
    tuned, history = finetune(before, X, torch.from_numpy(model.labels_), 10, epochs=4, batch_size=128, lr=1e-3,
                              seed=0)
    assert tuned is not before and history[-1]["clustering"] < history[0]["clustering"]
    with torch.no_grad():
        centres = cluster_centers(before.encoder(X), torch.from_numpy(model.labels_), 10)
        hardness = [soft_assignment(net.encoder(X), centres).max(1).values.mean() for net in (before, tuned)]
    assert hardness[1] > hardness[0]


def test_n2d_with_a_fine_tune_fits_saves_and_predicts(digits, tmp_path):
    X = digits[0][:600]
    model = N2D(10, **SMALL, finetune_epochs=2).fit(X)
    assert len(model.finetune_history_) == 2 and model.timings_["finetune"] > 0
    assert not np.array_equal(model.embedder_.transform(torch.from_numpy(X)).numpy(),
                              N2D(10, **SMALL).fit(X).embedder_.transform(torch.from_numpy(X)).numpy())
    loaded = N2D.load(model.save(tmp_path / "tuned"), device="cpu")
    assert loaded.finetune_epochs == 2
    np.testing.assert_array_equal(loaded.predict(X[:100]), model.predict(X[:100]))
    np.testing.assert_array_equal(model.predict(X), model.labels_)  # training rows keep their clusters


def test_fine_tune_epochs_are_checked():
    from gpun2d.estimator import ParameterError

    with pytest.raises(ParameterError, match="finetune_epochs"):
        N2D(3, finetune_epochs=-1).fit(np.random.default_rng(0).normal(size=(50, 4)))
