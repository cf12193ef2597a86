import pytest
import torch

from gpun2d.autoencoder import AutoEncoder
from gpun2d.errors import ConfigError, DataError
from gpun2d.training import TrainOptions, train_autoencoder


def make(seed=0, d=16):
    torch.manual_seed(seed)
    return AutoEncoder(d, 3, hidden=(32, 32, 64))


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(1)
    return torch.rand(300, 16, generator=g)


def params(model):
    return [p.detach().clone() for p in model.parameters()]


def test_loss_decreases(data):
    history = train_autoencoder(make(), data, TrainOptions(epochs=15, batch_size=32), seed=0)
    assert len(history.losses) == 15
    assert history.losses[-1] < 0.5 * history.losses[0]


def test_same_seed_same_weights_other_seed_differs(data):
    a, b, c = make(), make(), make()
    for model, seed in ((a, 0), (b, 0), (c, 1)):
        train_autoencoder(model, data, TrainOptions(epochs=3, batch_size=64), seed=seed)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(), strict=True))


def test_epoch_callback_sees_every_epoch(data):
    seen = []
    train_autoencoder(make(), data, TrainOptions(epochs=4, batch_size=100), on_epoch=lambda e, _: seen.append(e))
    assert seen == [1, 2, 3, 4]


def test_resume_equals_uninterrupted_run(data, tmp_path):
    straight = make()
    full = train_autoencoder(straight, data, TrainOptions(epochs=6, batch_size=64), seed=3)

    ckpt = tmp_path / "ckpt.pt"
    first = make()
    options = TrainOptions(epochs=4, batch_size=64, checkpoint_path=ckpt, checkpoint_every=2)
    train_autoencoder(first, data, options, seed=3)
    resumed = make(seed=99)  # different initial weights: everything must come from the checkpoint
    options = TrainOptions(epochs=6, batch_size=64, checkpoint_path=ckpt, resume=True)
    history = train_autoencoder(resumed, data, options, seed=3)

    assert history.start_epoch == 4
    assert history.losses == pytest.approx(full.losses, rel=0, abs=0)
    assert all(torch.equal(p, q) for p, q in zip(straight.parameters(), resumed.parameters(), strict=True))


def test_resume_without_checkpoint_starts_fresh(data, tmp_path):
    history = train_autoencoder(make(), data, TrainOptions(epochs=2, checkpoint_path=tmp_path / "none.pt", resume=True))
    assert history.start_epoch == 0 and len(history.losses) == 2


def test_resume_from_other_architecture_is_refused(data, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    train_autoencoder(make(), data, TrainOptions(epochs=1, checkpoint_path=ckpt, checkpoint_every=1))
    other = AutoEncoder(16, 4, hidden=(32, 32, 64))
    with pytest.raises(DataError, match="checkpoint .* is for a"):
        train_autoencoder(other, data, TrainOptions(epochs=2, checkpoint_path=ckpt, resume=True))


def test_bf16_autocast_trains(data):
    history = train_autoencoder(make(), data, TrainOptions(epochs=5, batch_size=32, bf16=True))
    assert history.losses[-1] < history.losses[0]


@pytest.mark.slow
def test_compiled_step_follows_the_eager_trajectory(data):
    # 256 rows in batches of 64: one batch shape, so one compilation (about a minute on 2 CPU cores)
    X = data[:256]
    eager, compiled = make(), make()
    eager_history = train_autoencoder(eager, X, TrainOptions(epochs=3, batch_size=64), seed=0)
    compiled_history = train_autoencoder(compiled, X, TrainOptions(epochs=3, batch_size=64, compile=True), seed=0)
    assert compiled_history.losses == pytest.approx(eager_history.losses, rel=1e-4)
    for a, b in zip(params(eager), params(compiled), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize(
    "options, message",
    [
        (TrainOptions(epochs=-1), "epochs must be"),
        (TrainOptions(batch_size=0), "batch_size must be"),
        (TrainOptions(lr=0), "learning rate"),
        (TrainOptions(resume=True), "need a checkpoint_path"),
    ],
)
def test_bad_options(data, options, message):
    with pytest.raises(ConfigError, match=message):
        train_autoencoder(make(), data, options)


@pytest.mark.gpu
def test_cuda_graph_training_matches_eager():
    X = torch.rand(1000, 16, device="cuda", generator=torch.Generator(device="cuda").manual_seed(0))
    eager, graphed = make().cuda(), make().cuda()
    a = train_autoencoder(eager, X, TrainOptions(epochs=3, batch_size=256, tf32=False), seed=0)
    b = train_autoencoder(graphed, X, TrainOptions(epochs=3, batch_size=256, tf32=False, cuda_graphs=True), seed=0)
    assert b.losses == pytest.approx(a.losses, rel=1e-4)


@pytest.mark.gpu
def test_cuda_graph_training_resumes_like_eager(tmp_path):
    X = torch.rand(1000, 16, device="cuda", generator=torch.Generator(device="cuda").manual_seed(0))
    ckpt = tmp_path / "ckpt.pt"
    options = dict(batch_size=256, tf32=False, cuda_graphs=True, checkpoint_path=ckpt)
    straight = train_autoencoder(make().cuda(), X, TrainOptions(epochs=4, batch_size=256, tf32=False), seed=0)
    train_autoencoder(make().cuda(), X, TrainOptions(epochs=2, checkpoint_every=2, **options), seed=0)
    resumed = train_autoencoder(make(seed=5).cuda(), X, TrainOptions(epochs=4, resume=True, **options), seed=0)
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-4)
