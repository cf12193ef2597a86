"""k-means, and the front it shares with the Gaussian mixture (any array in, the caller's type out)."""

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from gpun2d import kmeans
from gpun2d.devices import Device, DeviceType
from gpun2d.errors import ConfigError, DataError
from gpun2d.kmeans import KMeans, restart_seeds
from gpun2d.metrics import ari
from gpun2d.mixture import GaussianMixture
from gpun2d.stages import StageContext

CLUSTERERS = [KMeans, GaussianMixture]


def make(cls, **params):
    return cls(3, **{"n_init": 2, "random_state": 0, **params})


def test_restart_seeds_start_at_the_given_seed():
    assert restart_seeds(7, 3) == [7, 8, 9]
    assert len(set(restart_seeds(None, 5))) == 5
    with pytest.raises(ConfigError, match="n_init=0"):
        restart_seeds(0, 0)


def test_lowest_inertia_wins_and_every_restart_is_recorded(blobs):
    X = torch.from_numpy(blobs[0])
    model = KMeans(3, n_init=4, random_state=0, device="cpu").fit(X)
    inertias = [r["inertia"] for r in model.restarts_]
    assert [r["seed"] for r in model.restarts_] == [0, 1, 2, 3]
    assert model.best_restart_ == inertias.index(min(inertias)) and model.inertia_ == min(inertias)
    assert [r["best"] for r in model.restarts_] == [i == model.best_restart_ for i in range(4)]
    assert ari(blobs[1], model.labels_) == 1.0
    assert torch.equal(model.predict(X), model.labels_)


def test_the_first_of_the_lowest_inertias_wins(blobs, monkeypatch):
    """The rule itself, on made-up inertias: which seed lands where does not matter."""
    fake = {10: 5.0, 11: 1.0, 12: 1.0, 13: 3.0}
    real = kmeans.fit_kmeans_once
    monkeypatch.setattr(kmeans, "fit_kmeans_once",
                        lambda X, k, seed, *a: dataclasses.replace(real(X, k, seed, *a), inertia=fake[seed]))
    model = KMeans(3, n_init=4, random_state=10).fit(blobs[0])
    assert model.best_restart_ == 1 and model.inertia_ == 1.0
    assert [r["best"] for r in model.restarts_] == [False, True, False, False]


def test_n_init_one_is_the_first_restart(blobs):
    X = blobs[0]
    single = KMeans(3, n_init=1, random_state=4).fit(X)
    several = KMeans(3, n_init=3, random_state=4).fit(X)
    assert single.restarts_[0] | {"best": None} == several.restarts_[0] | {"best": None}


def test_score_is_minus_the_inertia(blobs):
    X = blobs[0]
    model = KMeans(3, n_init=2, random_state=0).fit(X)
    assert model.score(X) == pytest.approx(-model.inertia_, rel=1e-4)
    assert model.score(torch.from_numpy(X)) == pytest.approx(model.score(X))


def test_centres_are_tensors_on_the_input_device(blobs):
    model = KMeans(3, n_init=1, random_state=0).fit(torch.from_numpy(blobs[0]))
    assert isinstance(model.cluster_centers_, torch.Tensor) and model.cluster_centers_.shape == (3, 5)
    assert model.cluster_centers_.device == torch.device("cpu")


# ------------------------------------------------ the front both clusterers share
@pytest.mark.parametrize("cls", CLUSTERERS)
def test_numpy_in_numpy_out(cls, blobs):
    X, y = blobs
    model = make(cls)
    labels = model.fit_predict(X)
    assert isinstance(labels, np.ndarray) and labels.dtype == np.int64 and labels.shape == (len(X),)
    assert ari(y, labels) == 1.0
    np.testing.assert_array_equal(model.predict(X), labels)
    assert isinstance(model.predict(X.tolist()), np.ndarray)  # anything NumPy can read


@pytest.mark.parametrize("cls", CLUSTERERS)
def test_tensor_in_tensor_out(cls, blobs):
    X = torch.from_numpy(blobs[0])
    model = make(cls)
    labels = model.fit_predict(X)
    assert isinstance(labels, torch.Tensor) and labels.dtype == torch.int64 and labels.device == X.device
    assert torch.equal(model.predict(X), labels)
    np.testing.assert_array_equal(model.predict(blobs[0]), labels.numpy())  # fitted on tensors, asked with NumPy
    assert isinstance(model.score(X), float)


@pytest.mark.parametrize("cls", CLUSTERERS)
def test_integer_input_is_read_as_float(cls, blobs):
    X = np.rint(blobs[0] * 10).astype(np.int64)
    labels = make(cls).fit_predict(X)
    assert ari(blobs[1], labels) == 1.0


@pytest.mark.parametrize("cls", CLUSTERERS)
def test_use_before_fit_raises_not_fitted(cls, blobs):
    model = make(cls)
    for method in ("predict", "score"):
        with pytest.raises(NotFittedError, match="fit"):
            getattr(model, method)(blobs[0])
    with pytest.raises(NotFittedError, match="not fitted"):
        model.record()


@pytest.mark.parametrize("cls, method", [(KMeans, "kmeans"), (GaussianMixture, "gmm")])
def test_record_keeps_what_the_results_file_needs(cls, method, blobs):
    model = make(cls, n_init=3, random_state=5).fit(blobs[0])
    record = model.record()
    assert record == {"method": method, "n_init": 3, "best_restart": model.best_restart_, "restarts": model.restarts_}
    assert [r["seed"] for r in record["restarts"]] == [5, 6, 7]
    assert make(cls, n_init=3, random_state=5).fit(blobs[0]).record() == record  # same seed, same record
    record["restarts"][0]["seed"] = -1
    assert model.restarts_[0]["seed"] == 5  # a copy: callers cannot edit the model through it


@pytest.mark.parametrize("cls", CLUSTERERS)
def test_fit_leaves_the_global_random_state_alone(cls, blobs):
    def numpy_state():
        name, keys, *rest = np.random.get_state()
        return name, keys.tolist(), rest

    torch_before, numpy_before = torch.random.get_rng_state(), numpy_state()
    make(cls).fit(blobs[0])
    assert torch.equal(torch.random.get_rng_state(), torch_before) and numpy_state() == numpy_before


@pytest.mark.parametrize("cls", CLUSTERERS)
def test_parameters_follow_scikit_learn(cls):
    model = clone(make(cls, n_init=4))
    assert model.get_params()["n_init"] == 4 and model.get_params()["random_state"] == 0


@pytest.mark.parametrize("cls", CLUSTERERS)
def test_the_pipeline_builds_it_from_its_context(cls, blobs):
    ctx = StageContext({"cluster_n_init": 2, "epochs": 5}, 3, Device(DeviceType.CPU), seed=7)
    model = cls.from_context(ctx)
    assert model.get_params() == make(cls, random_state=7, device=ctx.device).get_params()
    assert model.fit(torch.from_numpy(blobs[0])).record()["restarts"][1]["seed"] == 8


@pytest.mark.parametrize("cls", CLUSTERERS)
@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_init": 0}, "n_init must be an integer >= 1, got n_init=0"),
        ({"n_init": 1.5}, "got n_init=1.5"),
        ({"max_iter": -1}, "got max_iter=-1"),
        ({"random_state": -1}, "got random_state=-1"),
        ({"random_state": "seed"}, "got random_state='seed'"),
    ],
)
def test_bad_parameters_are_named_in_fit(cls, params, message, blobs):
    model = make(cls, **params)  # __init__ only stores
    with pytest.raises(ConfigError, match=message):
        model.fit(blobs[0])


@pytest.mark.parametrize("cls", CLUSTERERS)
def test_bad_cluster_count_names_the_parameter(cls, blobs):
    name = "n_clusters" if cls is KMeans else "n_components"
    with pytest.raises(ConfigError, match=f"{name} must be an integer >= 1, got {name}=0"):
        cls(0).fit(blobs[0])


@pytest.mark.parametrize("cls", CLUSTERERS)
@pytest.mark.parametrize(
    "X, message",
    [
        (np.array([[0.0, np.nan], [1.0, 1.0], [2.0, 2.0], [np.inf, 0.0]]),
         r"NaN or infinite values in 2 rows \(first: \[0, 3\]\)"),
        (np.zeros(5), r"must be 2-D \(samples x features\), got shape \(5,\)"),
        (np.zeros((2, 2)), r"X has 2 samples, fewer than n_(clusters|components)=3"),
        (np.zeros((5, 0)), "X has no features"),
        (np.array([["a", "b"]] * 5), "X is not a numeric array"),
    ],
)
def test_bad_data_raises_one_line(cls, X, message):
    with pytest.raises(DataError, match=message) as error:
        make(cls).fit(X)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("cls", CLUSTERERS)
def test_predict_checks_the_data_against_the_fit(cls, blobs):
    model = make(cls).fit(blobs[0])
    with pytest.raises(DataError, match=f"X has 4 features, but this {cls.__name__} was fitted on 5"):
        model.predict(blobs[0][:, :4])
    with pytest.raises(DataError, match="NaN or infinite"):
        model.predict(np.full((3, 5), np.nan))


@pytest.mark.gpu
@pytest.mark.parametrize("cls", CLUSTERERS)
def test_cuda_tensors_and_cupy_arrays_stay_on_the_gpu(cls, blobs):
    cupy = pytest.importorskip("cupy")
    X = torch.from_numpy(blobs[0]).cuda()
    model = make(cls)
    labels = model.fit_predict(X)
    assert labels.is_cuda and labels.dtype == torch.int64
    assert ari(blobs[1], labels.cpu()) == 1.0
    from_cupy = model.predict(cupy.asarray(blobs[0]))
    assert isinstance(from_cupy, cupy.ndarray)
    np.testing.assert_array_equal(from_cupy.get(), labels.cpu().numpy())
    assert torch.equal(torch.from_numpy(model.predict(blobs[0])), labels.cpu())
