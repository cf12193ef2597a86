import pytest
import torch

from gpun2d.errors import ConfigError
from gpun2d.kmeans import KMeans, restart_seeds
from gpun2d.metrics import ari


def test_restart_seeds_start_at_the_given_seed():
    assert restart_seeds(7, 3) == [7, 8, 9]
    assert len(set(restart_seeds(None, 5))) == 5
    with pytest.raises(ConfigError):
        restart_seeds(0, 0)


def test_lowest_inertia_wins_and_every_restart_is_recorded(blobs):
    X = torch.from_numpy(blobs[0])
    model = KMeans(3, n_init=4, random_state=0, device="cpu").fit(X)
    inertias = [r["inertia"] for r in model.restarts_]
    assert model.inertia_ == min(inertias) and model.restarts_[model.best_restart_]["best"]
    assert ari(blobs[1], model.labels_) == 1.0
    assert torch.equal(model.predict(X), model.labels_)


def test_centres_are_tensors_on_the_input_device(blobs):
    model = KMeans(3, n_init=1, random_state=0).fit(torch.from_numpy(blobs[0]))
    assert isinstance(model.cluster_centers_, torch.Tensor) and model.cluster_centers_.shape == (3, 5)
