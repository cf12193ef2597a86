import pytest
import torch
from torch import nn

from gpun2d.autoencoder import AutoEncoder, encode, load_autoencoder, save_autoencoder
from gpun2d.errors import DataError


def linear_widths(seq: nn.Sequential) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in seq if isinstance(m, nn.Linear)]


def test_architecture_is_the_papers():
    model = AutoEncoder(784, 10)
    assert linear_widths(model.encoder) == [(784, 500), (500, 500), (500, 2000), (2000, 10)]
    assert linear_widths(model.decoder) == [(10, 2000), (2000, 500), (500, 500), (500, 784)]
    # ReLU after every hidden layer, none after the bottleneck or the output
    for seq in (model.encoder, model.decoder):
        kinds = [type(m).__name__ for m in seq]
        assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear", "ReLU", "Linear"]


def test_bottleneck_is_linear_and_can_be_negative():
    torch.manual_seed(0)
    z = encode(AutoEncoder(20, 3, hidden=(16,)), torch.randn(64, 20))
    assert z.shape == (64, 3) and (z < 0).any()


def test_biases_start_at_zero():
    model = AutoEncoder(8, 2, hidden=(4,))
    assert all(torch.count_nonzero(m.bias) == 0 for m in model.modules() if isinstance(m, nn.Linear))


def test_encode_in_batches_equals_one_pass():
    torch.manual_seed(0)
    model, X = AutoEncoder(12, 3, hidden=(8,)), torch.randn(50, 12)
    torch.testing.assert_close(encode(model, X, batch_size=7), model.encoder(X).detach())


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = AutoEncoder(12, 3, hidden=(8, 6))
    path = save_autoencoder(model, tmp_path / "ae.pt", epochs=5)
    loaded = load_autoencoder(path)
    assert loaded.config() == model.config()
    X = torch.randn(4, 12)
    torch.testing.assert_close(loaded(X), model(X))
    assert [p.name for p in tmp_path.iterdir()] == ["ae.pt"]  # no temp file left


def test_loading_garbage_is_a_data_error(tmp_path):
    bad = tmp_path / "ae.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="is not a gpun2d autoencoder file"):
        load_autoencoder(bad)
    with pytest.raises(DataError, match="not found"):
        load_autoencoder(tmp_path / "missing.pt")
