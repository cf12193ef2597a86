import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture as SKGaussianMixture

from gpun2d import mixture
from gpun2d.devices import Device, DeviceType
from gpun2d.errors import ConfigError, DataError
from gpun2d.metrics import ari
from gpun2d.mixture import GaussianMixture, scipy_array_api_enabled


def test_scipy_array_api_is_on_when_gpun2d_is_imported_first():
    # conftest imports gpun2d before anything loads SciPy
    assert scipy_array_api_enabled()


def test_single_init_matches_scikit_learn_kmeans_init(digits_umap):
    """The paper's GMM: scikit-learn's default k-means init, same seed -> same fit."""
    Z, _ = digits_umap
    reference = SKGaussianMixture(10, covariance_type="full", random_state=0).fit(Z)
    for array_api in (True, None):  # the Array API on torch tensors (the GPU code path), and NumPy views
        ours = GaussianMixture(10, n_init=1, random_state=0, array_api=array_api).fit(torch.from_numpy(Z))
        assert ari(reference.predict(Z), ours.predict(Z)) >= 0.99
        assert ours.lower_bound_ == pytest.approx(reference.lower_bound_, rel=0.005)
        assert ours._array_api is bool(array_api)


@pytest.fixture(scope="module")
def three_restarts(digits_umap):
    """Three restarts (seeds 2, 3, 4) on a real embedding, on the Array API (the GPU's code path)."""
    return GaussianMixture(10, n_init=3, random_state=2, array_api=True).fit(torch.from_numpy(digits_umap[0]))


def test_restarts_keep_the_highest_lower_bound(three_restarts):
    model = three_restarts
    bounds = [r["lower_bound"] for r in model.restarts_]
    assert [r["seed"] for r in model.restarts_] == [2, 3, 4]
    assert model.best_restart_ == bounds.index(max(bounds))
    assert model.lower_bound_ == max(bounds) == model.restarts_[model.best_restart_]["lower_bound"]
    assert [r["best"] for r in model.restarts_] == [i == model.best_restart_ for i in range(3)]


def test_every_restart_is_the_single_init_with_its_seed(three_restarts, digits_umap):
    Z = torch.from_numpy(digits_umap[0])
    for restart in three_restarts.restarts_:
        single = GaussianMixture(10, n_init=1, random_state=restart["seed"], array_api=True).fit(Z)
        assert single.lower_bound_ == restart["lower_bound"] and single.n_iter_ == restart["n_iter"]
        if restart["best"]:  # the winner is that single init, parameters and all
            assert torch.equal(single.predict(Z), three_restarts.predict(Z))
            assert torch.equal(single.means_, three_restarts.means_)


def test_the_first_of_the_highest_lower_bounds_wins(blobs, monkeypatch):
    """The rule itself, on made-up lower bounds: which seed lands where does not matter."""
    fake = {10: -3.0, 11: 2.0, 12: 2.0, 13: 0.5}
    real = GaussianMixture._fit_restart

    def fit_restart(self, X, seed, *args):
        model = real(self, X, seed, *args)
        model.lower_bound_ = fake[seed]
        return model

    monkeypatch.setattr(GaussianMixture, "_fit_restart", fit_restart)
    model = GaussianMixture(3, n_init=4, random_state=10).fit(blobs[0])
    assert model.best_restart_ == 1 and model.lower_bound_ == 2.0
    assert [r["best"] for r in model.restarts_] == [False, True, False, False]


def test_n_init_one_is_the_plain_single_init(digits_umap):
    Z = torch.from_numpy(digits_umap[0])
    a = GaussianMixture(10, n_init=1, random_state=5).fit(Z)
    b = GaussianMixture(10, n_init=2, random_state=5).fit(Z)
    assert a.restarts_[0]["lower_bound"] == b.restarts_[0]["lower_bound"]
    assert len(a.restarts_) == 1 and a.restarts_[0]["seed"] == 5
    assert GaussianMixture(10, n_init=2, random_state=5).fit(Z).record() == b.record()  # deterministic


def test_outputs_follow_the_input_type(blobs):
    X, y = blobs
    model = GaussianMixture(3, n_init=2, random_state=0).fit(X)
    assert isinstance(model.predict(X), np.ndarray)
    labels = model.predict(torch.from_numpy(X))
    assert isinstance(labels, torch.Tensor) and labels.dtype == torch.int64
    assert ari(y, labels) == 1.0
    proba = model.predict_proba(X)
    assert isinstance(proba, np.ndarray) and proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert isinstance(model.predict_proba(torch.from_numpy(X)), torch.Tensor)
    log_likelihood = model.score_samples(torch.from_numpy(X))
    assert isinstance(log_likelihood, torch.Tensor) and log_likelihood.dtype == torch.float64
    assert model.score(X) == pytest.approx(float(np.mean(model.score_samples(X))))
    assert isinstance(model.means_, torch.Tensor) and model.means_.shape == (3, 5)
    assert model.converged_ and model.n_iter_ >= 1


def test_numpy_fallback_when_scipy_lacks_array_api(blobs, monkeypatch):
    X = torch.from_numpy(blobs[0])
    expected = GaussianMixture(3, n_init=1, random_state=0, array_api=True).fit(X)
    assert expected._array_api
    monkeypatch.setattr(mixture, "scipy_array_api_enabled", lambda: False)
    fallback = GaussianMixture(3, n_init=1, random_state=0, array_api=True).fit(X)
    assert not fallback._array_api
    assert fallback.lower_bound_ == pytest.approx(expected.lower_bound_, rel=1e-9)
    assert torch.equal(fallback.predict(X), expected.predict(X))


def test_cuda_tensors_without_scipy_array_api_say_what_to_do(monkeypatch):
    monkeypatch.setattr(mixture, "scipy_array_api_enabled", lambda: False)
    fake_cuda = torch.zeros(1)
    monkeypatch.setattr(torch.Tensor, "is_cuda", property(lambda self: True))
    with pytest.raises(mixture.DeviceError, match="SCIPY_ARRAY_API=1"):
        GaussianMixture(2)._use_array_api(fake_cuda)


def test_empty_kmeans_cluster_stays_finite():
    X = torch.randn(50, 2, dtype=torch.float64)
    labels = torch.zeros(50, dtype=torch.long)  # every point in cluster 0; cluster 1 empty
    weights, means, precisions = mixture.kmeans_parameters(X, labels, 2, 1e-6)
    assert torch.isfinite(weights).all() and torch.isfinite(means).all() and torch.isfinite(precisions).all()


def test_one_sample_is_too_few_even_for_one_component():
    with pytest.raises(DataError, match="X has 1 samples; GaussianMixture needs at least 2"):
        GaussianMixture(1).fit(np.zeros((1, 3)))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"tol": -1e-3}, "tol must be a number >= 0, got tol=-0.001"),
        ({"reg_covar": float("nan")}, "got reg_covar=nan"),
        ({"array_api": "yes"}, "array_api must be None, True or False, got array_api='yes'"),
    ],
)
def test_bad_em_parameters_are_named_in_fit(params, message, blobs):
    with pytest.raises(ConfigError, match=message):
        GaussianMixture(3, **params).fit(blobs[0])


def test_use_before_fit_raises_not_fitted(blobs):
    for method in ("predict_proba", "score_samples"):
        with pytest.raises(NotFittedError, match="not fitted"):
            getattr(GaussianMixture(2), method)(blobs[0])


@pytest.mark.gpu
def test_em_on_cuda_tensors_matches_the_cpu(digits_umap, monkeypatch):
    """Same k-means initialisations on both sides, so only EM's device differs."""
    monkeypatch.setattr(mixture, "kmeans_device", lambda X: Device(DeviceType.CPU))
    Z = torch.from_numpy(digits_umap[0])
    cpu = GaussianMixture(10, n_init=3, random_state=0).fit(Z)
    gpu = GaussianMixture(10, n_init=3, random_state=0, batched=False).fit(Z.cuda())  # restart by restart
    assert gpu.means_.is_cuda and gpu._array_api
    for on_cpu, on_gpu in zip(cpu.restarts_, gpu.restarts_, strict=True):
        assert on_gpu["lower_bound"] == pytest.approx(on_cpu["lower_bound"], rel=1e-3)
    assert ari(cpu.predict(Z), gpu.predict(Z.cuda()).cpu()) >= 0.99


@pytest.mark.gpu
@pytest.mark.cuml
def test_cuda_restarts_follow_the_same_rule(digits_umap):
    """cuML's k-means seeds differ from scikit-learn's, so only the rule is compared."""
    Z = torch.from_numpy(digits_umap[0]).cuda()
    model = GaussianMixture(10, n_init=3, random_state=0).fit(Z)
    bounds = [r["lower_bound"] for r in model.restarts_]
    assert model.best_restart_ == bounds.index(max(bounds)) and model.lower_bound_ == max(bounds)
    labels = model.predict(Z)
    assert labels.is_cuda and labels.dtype == torch.int64
    assert isinstance(model.predict(digits_umap[0]), np.ndarray)
