import numpy as np
import pytest
import torch
from sklearn.base import clone

from gpun2d import N2D, defaults
from gpun2d.errors import ConfigError, DataError, DeviceError
from gpun2d.metrics import evaluate


@pytest.fixture(scope="module")
def fitted(digits):
    X, _ = digits
    return N2D(10, epochs=20, random_state=0, device="cpu").fit(X)


def test_digits_quality(fitted, digits):
    # measured on this CPU path: ACC 0.908, NMI 0.844 (20 epochs, seed 0)
    scores = evaluate(digits[1], fitted.labels_)
    assert scores["acc"] >= 0.85
    assert scores["nmi"] >= 0.80


def test_fitted_attributes(fitted, digits):
    X, _ = digits
    assert isinstance(fitted.labels_, np.ndarray) and fitted.labels_.shape == (len(X),)
    assert set(np.unique(fitted.labels_)) <= set(range(10))
    assert fitted.embedding_.shape == (len(X), 10)
    assert set(fitted.timings_) == {"autoencoder", "manifold", "cluster", "total"}
    assert fitted.timings_["total"] >= fitted.timings_["autoencoder"] + fitted.timings_["manifold"]
    assert len(fitted.history_) == 20 and fitted.history_[-1] < fitted.history_[0]
    assert len(fitted.cluster_model_.restarts_) == defaults.CLUSTER_N_INIT == 30


def test_predict_and_transform_new_samples(fitted, digits):
    X, _ = digits
    assert fitted.transform(X[:50]).shape == (50, 10)
    predicted = fitted.predict(X[:300])
    # a training row lands exactly on its own layout position (gpun2d.placement)
    np.testing.assert_array_equal(predicted, fitted.labels_[:300])
    labels_t = fitted.predict(torch.from_numpy(X[:10]))
    assert isinstance(labels_t, torch.Tensor)
    with pytest.raises(DataError, match=r"X has 10 features, but N2D is expecting 64"):
        fitted.predict(X[:, :10])


def test_params_follow_scikit_learn():
    model = N2D(7, epochs=3)
    params = model.get_params()
    assert params["n_clusters"] == 7 and params["epochs"] == 3 and params["umap_neighbors"] == 20
    assert params["umap_min_dist"] == 0.0 and params["batch_size"] == 256 and params["cluster"] == "gmm"
    assert clone(model).get_params()["n_clusters"] == 7
    assert N2D().get_params()["epochs"] == 1000


def test_same_seed_same_labels(digits):
    X = digits[0][:500]
    a = N2D(10, epochs=3, cluster_n_init=2, random_state=1, device="cpu").fit_predict(X)
    b = N2D(10, epochs=3, cluster_n_init=2, random_state=1, device="cpu").fit_predict(X)
    np.testing.assert_array_equal(a, b)


def test_saved_autoencoder_reproduces_the_run(fitted, digits, tmp_path):
    X, _ = digits
    fitted.save_autoencoder(tmp_path / "ae.pt")
    again = N2D(10, epochs=20, random_state=0, device="cpu", ae_weights=tmp_path / "ae.pt").fit(X)
    assert again.history_ == []  # no training
    np.testing.assert_array_equal(again.labels_, fitted.labels_)


def test_kmeans_option(blobs):
    X, y = blobs
    model = N2D(3, epochs=5, cluster="kmeans", cluster_n_init=3, umap_neighbors=10, random_state=0, device="cpu")
    labels = model.fit_predict(X)
    assert evaluate(y, labels)["acc"] >= 0.9
    assert "inertia" in model.cluster_model_.restarts_[0]


@pytest.mark.parametrize(
    "X, kwargs, error, message",
    [
        (np.full((50, 3), np.nan), {}, DataError, "NaN or infinite values in 50 rows"),
        (np.zeros(50), {}, DataError, "must be 2-D"),
        (np.zeros((5, 3)), {"n_clusters": 10}, DataError, "X has 5 samples, too few for n_clusters=10"),
        (np.random.rand(15, 3), {"n_clusters": 3}, DataError, "15 samples; UMAP needs more than umap_neighbors=20"),
        (np.zeros((50, 3)), {"n_clusters": 0}, ValueError, "'n_clusters' parameter of N2D must be an int"),
        (np.zeros((50, 3)), {"cluster": "dbscan"}, ConfigError, "cluster='dbscan' is unknown; choose one of gmm"),
        (np.array([["a", "b"]] * 50), {}, DataError, "numeric"),
    ],
)
def test_bad_input(X, kwargs, error, message):
    with pytest.raises(error, match=message):
        N2D(**{"n_clusters": 3, "epochs": 1, "device": "cpu", **kwargs}).fit(X)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU case")
def test_cuda_request_without_gpu(blobs):
    with pytest.raises(DeviceError, match="device='cuda' is unavailable"):
        N2D(3, epochs=1, device="cuda").fit(blobs[0])


def test_stages_and_inference_run_with_the_fitted_device_current(monkeypatch, fitted, blobs, digits):
    """Every stage, and every inference method, runs inside ``on_device`` (a no-op here, on the CPU)."""
    from gpun2d import estimator

    entered = []
    on_device = estimator.on_device
    monkeypatch.setattr(estimator, "on_device", lambda device: entered.append(device) or on_device(device))
    model = N2D(3, epochs=1, umap_neighbors=10, cluster_n_init=1, random_state=0, device="cpu").fit(blobs[0])
    assert entered == [model.device_] * 3  # autoencoder, manifold, cluster
    entered.clear()
    for method in ("transform", "predict", "predict_proba", "score_samples"):
        getattr(fitted, method)(digits[0][:20])
    assert entered == [fitted.device_] * 7  # the embedding each time, then the clusterer for three of them


def test_a_seed_without_room_for_the_restarts_fails_before_training(blobs):
    started = []
    model = N2D(3, epochs=1, cluster_n_init=2, random_state=2**32 - 1, device="cpu", on_stage=started.append)
    with pytest.raises(ConfigError, match=r"random_state=4294967295 leaves no room for cluster_n_init=2 restarts"):
        model.fit(blobs[0])
    assert started == []  # nothing trained
    with pytest.raises(ConfigError, match="cluster_n_init=2"):
        model.check_params()
    assert N2D(3, cluster_n_init=2, random_state=2**32 - 2).check_params().random_state == 2**32 - 2
