import logging
import re

import pytest
import torch

from gpun2d.autoencoder import AutoEncoder, save_autoencoder
from gpun2d.errors import ConfigError, DataError
from gpun2d.training import CHECKPOINT_FORMAT, TrainOptions, data_fingerprint, train_autoencoder


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


def checkpoint(data, path, epochs=2, seed=3, model=None, **options):
    """Train ``epochs`` epochs writing a checkpoint at the end; the defaults are those ``resume`` uses below."""
    options = {"batch_size": 64, **options}
    train_autoencoder(model or make(), data, TrainOptions(epochs=epochs, checkpoint_path=path,
                                                          checkpoint_every=epochs, **options), seed=seed)
    return path


def resume(data, path, epochs=4, seed=3, model=None, **options):
    options = {"batch_size": 64, **options}
    return train_autoencoder(model or make(seed=7), data,
                             TrainOptions(epochs=epochs, checkpoint_path=path, resume=True, **options), seed=seed)


def test_checkpoint_records_the_data_and_the_settings(data, tmp_path):
    blob = torch.load(checkpoint(data, tmp_path / "ckpt.pt"), weights_only=True)  # the loader's own setting
    assert blob["format"] == CHECKPOINT_FORMAT and blob["epoch"] == 2
    assert blob["data"] == data_fingerprint(data)
    assert blob["data"]["shape"] == [300, 16] and blob["data"]["dtype"] == "float32"
    assert blob["settings"] == {"lr": 1e-3, "batch_size": 64, "seed": 3, "bf16": False,
                                "architecture": {"n_features": 16, "n_latent": 3, "hidden": [32, 32, 64]}}


def test_fingerprint_samples_evenly_spaced_rows():
    X = torch.rand(5000, 4, generator=torch.Generator().manual_seed(0))
    same = data_fingerprint(X.clone())
    assert data_fingerprint(X) == same
    for row in (0, 5, 4999):  # first, a sampled row in between (every ~5th of 5000), last
        changed = X.clone()
        changed[row, 0] += 1
        assert data_fingerprint(changed)["sample_sha256"] != same["sample_sha256"]
    tiny = torch.rand(1, 4)
    assert data_fingerprint(tiny)["shape"] == [1, 4]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"lr": 0.01}, "was made with lr=0.001, not lr=0.01;"),
        ({"batch_size": 32}, "was made with batch_size=64, not batch_size=32;"),
        ({"seed": 4}, "was made with seed=3, not seed=4;"),
        ({"bf16": True}, "was made with bf16=False, not bf16=True;"),
        ({"n_latent": 4},
         "was made with a 16-32-32-64-3 autoencoder, not a 16-32-32-64-4 autoencoder;"),
        ({"data": "more rows"}, "was made with other data (shape (300, 16) vs (320, 16));"),
        ({"data": "other values"},
         "was made with other data (same shape (300, 16) and dtype float32, different values);"),
        ({"data": "float64"}, "was made with other data (dtype float32 vs float64);"),
    ],
)
def test_resume_refuses_a_checkpoint_made_otherwise(data, tmp_path, change, message):
    ckpt = checkpoint(data, tmp_path / "ckpt.pt")
    before = ckpt.read_bytes()
    change = dict(change)
    other = {"more rows": torch.cat([data, data[:20]]), "other values": data + 0.5,
             "float64": data.double()}.get(change.pop("data", None), data)
    if "n_latent" in change:
        change["model"] = AutoEncoder(16, change.pop("n_latent"), hidden=(32, 32, 64))
    if other.dtype == torch.float64:
        change["model"] = make(seed=7).double()
    with pytest.raises(ConfigError) as info:
        resume(other, ckpt, **change)
    assert str(info.value) == (f"the checkpoint at {ckpt} {message} "
                               "resume with the same data and settings, or delete it to start fresh")
    assert ckpt.read_bytes() == before  # refused before anything was trained or written


def test_every_difference_is_named_at_once(tmp_path):
    X = torch.rand(100, 8, generator=torch.Generator().manual_seed(0))
    ckpt = tmp_path / "ckpt.pt"
    model = AutoEncoder(8, 2, hidden=(16,))
    train_autoencoder(model, X, TrainOptions(epochs=1, lr=0.001, checkpoint_path=ckpt, checkpoint_every=1))
    Y = torch.rand(120, 8, generator=torch.Generator().manual_seed(1))
    options = TrainOptions(epochs=2, lr=0.01, batch_size=32, checkpoint_path=ckpt, resume=True)
    message = (f"the checkpoint at {ckpt} was made with lr=0.001 and batch_size=256, not lr=0.01 and batch_size=32, "
               "and other data (shape (100, 8) vs (120, 8)); resume with the same data and settings, "
               "or delete it to start fresh")
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        train_autoencoder(AutoEncoder(8, 2, hidden=(16,)), Y, options)


def test_resume_without_checkpoint_warns_and_starts_fresh(data, tmp_path, caplog):
    missing = tmp_path / "none.pt"
    with caplog.at_level(logging.WARNING, logger="gpun2d.training"):
        history = resume(data, missing, epochs=2)
    assert history.start_epoch == 0 and len(history.losses) == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [f"no checkpoint at {missing}; starting from epoch 0"]


def test_resume_with_fewer_epochs_than_the_checkpoint_is_refused(data, tmp_path):
    ckpt = checkpoint(data, tmp_path / "ckpt.pt", epochs=4)
    message = (f"the checkpoint at {ckpt} has already run 4 epochs, more than epochs=2; "
               "resume with epochs=4 or more, or delete it to start fresh")
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        resume(data, ckpt, epochs=2)


def test_resume_with_as_many_epochs_as_the_checkpoint_trains_nothing(data, tmp_path):
    ckpt = checkpoint(data, tmp_path / "ckpt.pt", epochs=4)
    model = make(seed=7)
    history = resume(data, ckpt, epochs=4, model=model)
    assert history.start_epoch == 4 and len(history.losses) == 4
    saved = torch.load(ckpt, weights_only=True)["model"]
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


def test_old_format_checkpoint_is_refused(data, tmp_path):
    ckpt = checkpoint(data, tmp_path / "ckpt.pt")
    blob = torch.load(ckpt, weights_only=True)
    del blob["data"], blob["settings"]
    blob["format"] = "gpun2d-checkpoint/1"  # what gpun2d wrote before checkpoints recorded data and settings
    torch.save(blob, ckpt)
    with pytest.raises(ConfigError, match=r"is in the older format gpun2d-checkpoint/1, which does not record "
                                          r"the data and settings .* delete it to start fresh$"):
        resume(data, ckpt)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_checkpoint_is_a_one_line_data_error(data, tmp_path, damage):
    ckpt = checkpoint(data, tmp_path / "ckpt.pt")
    content = ckpt.read_bytes()
    ckpt.write_bytes(b"not a checkpoint" if damage == "garbage" else content[: len(content) // 2])
    with pytest.raises(DataError) as info:
        resume(data, ckpt)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{ckpt} is not a readable training checkpoint (corrupt or truncated: ")
    assert message.endswith("); delete it to start fresh")


def test_a_file_that_is_no_checkpoint_is_refused(data, tmp_path):
    weights = save_autoencoder(make(), tmp_path / "autoencoder.pt")  # readable, but the wrong kind of file
    with pytest.raises(DataError, match=f"^{re.escape(str(weights))} is not a gpun2d training checkpoint"):
        resume(data, weights)


def test_resume_from_other_architecture_is_refused(data, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    train_autoencoder(make(), data, TrainOptions(epochs=1, checkpoint_path=ckpt, checkpoint_every=1))
    other = AutoEncoder(16, 4, hidden=(32, 32, 64))
    with pytest.raises(ConfigError, match="was made with a 16-32-32-64-3 autoencoder, not a 16-32-32-64-4 autoencoder"):
        train_autoencoder(other, data, TrainOptions(epochs=2, checkpoint_path=ckpt, resume=True))


def test_overflowing_loss_stops_training_with_the_data_scale(data, tmp_path):
    seen = []
    ckpt = tmp_path / "ckpt.pt"
    options = TrainOptions(epochs=3, batch_size=64, checkpoint_path=ckpt, checkpoint_every=1)
    message = ("training loss became inf/NaN at epoch 1; the data's values reach 1e+30 — "
               "scale them (e.g. standardise each feature) and try again")
    with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
        train_autoencoder(make(), data * 1e30, options, on_epoch=lambda e, loss: seen.append(e))
    assert seen == [] and not ckpt.exists()  # no inf loss reported, no NaN weights saved


def test_diverging_loss_on_scaled_data_blames_the_learning_rate(data):
    message = ("training loss became inf/NaN at epoch 1; the data's values only reach 1, "
               "so lr=1e+06 is likely too large — try a smaller lr")
    with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
        train_autoencoder(make(), data, TrainOptions(epochs=2, batch_size=32, lr=1e6))


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
