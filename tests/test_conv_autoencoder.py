"""``embedder='conv'``: the convolutional denoising autoencoder as a registry entry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpun2d import N2D, registry
from gpun2d.conv_autoencoder import ConvDenoisingAutoEncoder, image_side
from gpun2d.devices import resolve_device
from gpun2d.embedder import ConvEmbedder
from gpun2d.errors import ConfigError
from gpun2d.stages import StageContext

SMALL = dict(embedder="conv", epochs=4, cluster_n_init=1, random_state=0, device="cpu")


@pytest.mark.parametrize(("n_features", "side"), [(64, 8), (256, 16), (784, 28)])
def test_shapes_for_the_image_datasets(n_features, side):
    assert image_side(n_features) == side
    net = ConvDenoisingAutoEncoder(n_features, 10).eval()
    x = torch.rand(5, n_features)
    assert net.encoder(x).shape == (5, 10) and net(x).shape == (5, n_features)


def test_rows_that_are_not_square_images_are_refused():
    with pytest.raises(ConfigError, match="not a square"):
        N2D(3, **SMALL).fit(np.random.default_rng(0).random((60, 10), dtype=np.float32))


def test_noise_only_while_training_and_seeded():
    x = torch.rand(4, 64)
    net = ConvDenoisingAutoEncoder(64, 10, seed=3)
    net.eval()
    assert torch.equal(net(x), net(x))  # no noise at inference: the embedding is a function of the row
    net.train()
    first, second = net.corrupt(x), net.corrupt(x)
    assert not torch.equal(first, second) and (first - x).std() == pytest.approx(net.noise, rel=0.3)
    again = ConvDenoisingAutoEncoder(64, 10, seed=3)
    assert torch.equal(again.corrupt(x), first)  # the same seed draws the same noise


def test_training_lowers_the_loss_and_is_repeatable(digits):
    X, _ = digits
    first = N2D(10, **SMALL).fit(X[:400])
    assert first.history_[-1] < first.history_[0]
    np.testing.assert_array_equal(N2D(10, **SMALL).fit(X[:400]).labels_, first.labels_)
    assert first.backends_["autoencoder"] == "torch (cpu)" and first.embedder == "conv"


def test_saved_and_loaded_with_the_model(digits, tmp_path):
    X, _ = digits
    model = N2D(10, **SMALL).fit(X[:400])
    loaded = N2D.load(model.save(tmp_path / "conv"), device="cpu")
    assert isinstance(loaded.embedder_.module_, ConvDenoisingAutoEncoder)
    np.testing.assert_array_equal(loaded.predict(X[400:600]), model.predict(X[400:600]))
    model.save_autoencoder(tmp_path / "conv.pt")
    with pytest.raises(ConfigError, match="holds a conv autoencoder, but embedder='mlp'"):
        N2D(10, epochs=1, ae_weights=tmp_path / "conv.pt", device="cpu").fit(X[:400])


def test_registered_for_both_devices_and_refuses_cuda_graphs():
    assert "conv" in registry.names("autoencoder")
    targets = {registry.lookup("autoencoder", "conv", device).target for device in ("cpu", "cuda")}
    assert targets == {"gpun2d.embedder:ConvEmbedder"}
    params = N2D(10, embedder="conv", cuda_graphs=True).get_params()
    with pytest.raises(ConfigError, match="cuda_graphs"):
        ConvEmbedder.from_context(StageContext(params, 10, resolve_device("cpu"), 0))
